//! [`ModelOperation`]: any operation of a model as a waiter [`Operation`].

use std::sync::Arc;

use asg_lifecycle::waiter::{CallError, Operation, Operations, Origin, Registry, WaiterModel};
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
        let input = with_idempotency_tokens(&self.model, &self.operation, input)?;
        let request = serialize(&self.model, &self.operation, &input)?;
        let response = self.client.send(&self.model, &request).await?;
        if response.is_error() {
            return Err(Error::Service(parse_error(&self.model, &response)));
        }
        parse_output(&self.model, &self.operation, &response)
    }
}

/// `input` with a fresh UUID in every idempotency-token member not given, as botocore fills
/// them (so that a retried create is not applied twice, and a first one is accepted at all).
///
/// # Errors
/// [`Error::UnknownOperation`] or [`Error::MissingShape`].
pub fn with_idempotency_tokens(
    model: &ServiceModel,
    operation: &str,
    input: &Value,
) -> Result<Value> {
    let mut input = input.clone();
    let Some(input_ref) = &model.operation(operation)?.input else {
        return Ok(input);
    };
    let shape = model.shape(&input_ref.shape)?;
    if let Value::Object(map) = &mut input {
        for (name, member) in &shape.members {
            if member.idempotency_token && !map.contains_key(name) {
                map.insert(
                    name.clone(),
                    Value::String(uuid::Uuid::new_v4().to_string()),
                );
            }
        }
    }
    Ok(input)
}

#[async_trait]
impl Operation for ModelOperation {
    async fn call(&self, input: &Value) -> std::result::Result<Value, CallError> {
        self.invoke(input).await.map_err(CallError::from)
    }
}

/// The official waiters of the shipped services, added to `registry` under `SERVICE.Name`
/// (see [`super::shipped_waiters`]).
///
/// # Errors
/// A shipped waiter model that does not load (checked by a test).
pub fn add_shipped_waiters(
    registry: &mut Registry,
) -> std::result::Result<(), asg_lifecycle::machine::ValidationReport> {
    for (service, text) in super::shipped_waiters() {
        let model = WaiterModel::parse(&format!("<shipped>/{service}/waiters-2.json"), text)?;
        registry.add_service_model(service, model, &Origin::Service);
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_idempotency_token_is_filled_and_a_given_one_kept() {
        let model = ServiceModel::builtin("eks").unwrap();
        let input = serde_json::json!({"clusterName": "c", "nodegroupName": "n",
            "subnets": ["s"], "nodeRole": "r"});
        let filled = with_idempotency_tokens(&model, "CreateNodegroup", &input).unwrap();
        let token = filled["clientRequestToken"].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(token).is_ok(), "{token}");
        let mut given = input.clone();
        given["clientRequestToken"] = "mine".into();
        let kept = with_idempotency_tokens(&model, "CreateNodegroup", &given).unwrap();
        assert_eq!(kept["clientRequestToken"], "mine");
    }

    #[test]
    fn every_shipped_official_waiter_is_registered_by_service() {
        let mut registry = Registry::default();
        add_shipped_waiters(&mut registry).unwrap();
        let entry = registry.resolve("ec2.InstanceRunning").unwrap();
        assert_eq!(entry.service.as_deref(), Some("ec2"));
        assert_eq!(entry.origin, Origin::Service);
        assert_eq!(
            registry.resolve("CommandExecuted").unwrap().name,
            "ssm.CommandExecuted"
        );
        assert!(registry.entries().count() > 60);
    }
}
