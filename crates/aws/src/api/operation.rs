//! [`ModelOperation`]: any operation of a model as a waiter [`Operation`].

use std::sync::Arc;
use std::time::Duration;

use asg_lifecycle::aws::AwsErrorKind;
use asg_lifecycle::wait::Backoff;

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
    attempts: u32,
    first_delay: Duration,
}

/// The delay before the first retry, doubling (with jitter) up to [`MAX_RETRY_DELAY`]: the SDK
/// standard mode's schedule.
pub const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);

/// The longest delay between two attempts.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(20);

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
            attempts: crate::sdk::MAX_ATTEMPTS,
            first_delay: FIRST_RETRY_DELAY,
        })
    }

    /// Sets the attempts per call (at least 1) and the delay before the first retry.
    #[must_use]
    pub fn retries(mut self, attempts: u32, first_delay: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.first_delay = first_delay;
        self
    }

    /// Calls the operation, retrying throttling, 5xx and transport failures as the SDK clients
    /// of the adapters do (standard mode: [`crate::sdk::MAX_ATTEMPTS`] attempts, exponential
    /// delays with jitter from [`FIRST_RETRY_DELAY`] to [`MAX_RETRY_DELAY`]; see
    /// [`ModelOperation::retries`]), the request signed anew each time.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] before any request; [`Error::Service`] for an error response;
    /// the other variants when there was no readable response.
    pub async fn invoke(&self, input: &Value) -> Result<Value> {
        validate(&self.model, &self.operation, input)?;
        let input = with_idempotency_tokens(&self.model, &self.operation, input)?;
        let request = serialize(&self.model, &self.operation, &input)?;
        let mut backoff = Backoff::equal_jitter(self.first_delay, MAX_RETRY_DELAY);
        let mut attempt = 1;
        loop {
            let result = self.attempt(&request).await;
            if attempt >= self.attempts || !retryable(&result) {
                return result;
            }
            attempt += 1;
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    async fn attempt(&self, request: &super::serialize::Request) -> Result<Value> {
        let response = self.client.send(&self.model, request).await?;
        if response.is_error() {
            return Err(Error::Service(parse_error(&self.model, &response)));
        }
        parse_output(&self.model, &self.operation, &response)
    }
}

/// Whether a later attempt may succeed: throttling and transient error responses (the
/// adapters' one classification) and requests that got no response.
fn retryable(result: &Result<Value>) -> bool {
    match result {
        Err(Error::Service(e)) => matches!(
            crate::sdk::classify(Some(&e.code), Some(&e.message), e.http_status),
            AwsErrorKind::Throttled | AwsErrorKind::Transient
        ),
        Err(Error::Send { .. }) => true,
        _ => false,
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
            attempts: crate::sdk::MAX_ATTEMPTS,
            first_delay: FIRST_RETRY_DELAY,
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

    /// A loopback HTTP server answering the scripted `(status, body)` responses in order, one
    /// per connection; returns its URL and the number of requests it served.
    async fn scripted(
        responses: Vec<(u16, &'static str)>,
    ) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let served = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&served);
        tokio::spawn(async move {
            for (status, body) in responses {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Headers, then the body of Content-Length.
                loop {
                    let n = socket.read(&mut buf).await.unwrap();
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                count.fetch_add(1, Ordering::SeqCst);
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/x-amz-json-1.0\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(answer.as_bytes()).await.unwrap();
                socket.shutdown().await.unwrap();
            }
        });
        (url, served)
    }

    fn describe_table(url: &str) -> ModelOperation {
        let config = aws_config::SdkConfig::builder()
            .endpoint_url(url)
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new("AKID", "SECRET", None, None, "test"),
                ),
            )
            .build();
        let model = ServiceModel::builtin("dynamodb").unwrap();
        ModelOperation::new(model, "DescribeTable", Arc::new(ApiClient::new(&config)))
            .unwrap()
            .retries(3, Duration::ZERO)
    }

    #[tokio::test]
    async fn throttling_and_5xx_are_retried_and_a_client_error_is_not() {
        use std::sync::atomic::Ordering;
        let throttled = r#"{"__type": "ThrottlingException", "message": "slow down"}"#;
        let (url, served) = scripted(vec![
            (400, throttled),
            (503, ""),
            (200, r#"{"Table": {"TableName": "t"}}"#),
        ])
        .await;
        let output = describe_table(&url)
            .invoke(&serde_json::json!({"TableName": "t"}))
            .await
            .unwrap();
        assert_eq!(output, serde_json::json!({"Table": {"TableName": "t"}}));
        assert_eq!(served.load(Ordering::SeqCst), 3);

        let missing = r#"{"__type": "ResourceNotFoundException", "message": "no"}"#;
        let (url, served) = scripted(vec![(400, missing), (200, "{}")]).await;
        let error = describe_table(&url)
            .invoke(&serde_json::json!({"TableName": "t"}))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, Error::Service(e) if e.code == "ResourceNotFoundException"),
            "{error}"
        );
        assert_eq!(served.load(Ordering::SeqCst), 1);
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
