//! [`ModelOperation`]: any operation of a model as a waiter [`Operation`].

use std::sync::Arc;

use asg_lifecycle::waiter::{CallError, Operation, Operations};
use async_trait::async_trait;
use serde_json::Value;

use super::client::ApiClient;
use super::model::ServiceModel;
use super::parse::{parse_error, parse_output};
use super::serialize::serialize;
use super::validate::validate;
use super::{Error, Result};

/// One operation of a service model, called through an [`ApiClient`]: input validated against
/// the model, serialized in the service's protocol, signed, sent, and the output rendered in
/// the API's JSON shape.
#[derive(Clone, Debug)]
pub struct ModelOperation {
    model: Arc<ServiceModel>,
    operation: String,
    client: Arc<ApiClient>,
}

impl ModelOperation {
    /// The operation `operation` of `model`.
    ///
    /// # Errors
    /// [`Error::UnknownOperation`].
    pub fn new(model: Arc<ServiceModel>, operation: &str, client: Arc<ApiClient>) -> Result<Self> {
        model.operation(operation)?;
        Ok(Self {
            model,
            operation: operation.to_string(),
            client,
        })
    }

    /// Calls the operation once.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] before any request; [`Error::Service`] for an error response;
    /// the other variants when there was no readable response.
    pub async fn invoke(&self, input: &Value) -> Result<Value> {
        validate(&self.model, &self.operation, input)?;
        let request = serialize(&self.model, &self.operation, input)?;
        let response = self.client.send(&self.model, &request).await?;
        if response.is_error() {
            return Err(Error::Service(parse_error(&self.model, &response)));
        }
        parse_output(&self.model, &self.operation, &response)
    }
}

#[async_trait]
impl Operation for ModelOperation {
    async fn call(&self, input: &Value) -> std::result::Result<Value, CallError> {
        self.invoke(input).await.map_err(CallError::from)
    }
}

/// Every operation of `model`, under `SERVICE.Operation` and under its bare name (what a
/// service's waiters and a custom waiter file name).
#[must_use]
pub fn service_operations(model: &Arc<ServiceModel>, client: &Arc<ApiClient>) -> Operations {
    let mut operations = Operations::new();
    for name in model.operation_names() {
        let operation = Arc::new(ModelOperation {
            model: Arc::clone(model),
            operation: name.to_string(),
            client: Arc::clone(client),
        });
        operations = operations
            .with(format!("{}.{name}", model.name()), operation.clone())
            .with(name, operation);
    }
    operations
}
