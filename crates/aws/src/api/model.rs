//! Service models: botocore's `service-2.json` (the shapes, operations and protocol of one AWS
//! API), the models shipped with the crate and models read from files.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use serde::Deserialize;

use super::{Error, Result};

/// A shipped service: its name, the compressed `service-2.json` and the `waiters-2.json`.
struct Shipped {
    name: &'static str,
    model: &'static [u8],
    waiters: &'static str,
}

macro_rules! shipped {
    ($($name:literal),* $(,)?) => {
        &[$(Shipped {
            name: $name,
            model: include_bytes!(concat!("../../models/", $name, "/service-2.json.gz")),
            waiters: include_str!(concat!("../../models/", $name, "/waiters-2.json")),
        }),*]
    };
}

/// The models shipped with the crate (`crates/aws/models/`, from botocore).
static SHIPPED: &[Shipped] = shipped!(
    "autoscaling",
    "cloudformation",
    "dynamodb",
    "ec2",
    "ecs",
    "eks",
    "elbv2",
    "ssm",
);

/// The botocore version the shipped models come from.
pub const SHIPPED_MODELS_VERSION: &str = include_str!("../../models/VERSION");

/// The names of the services whose models ship with the crate, sorted.
#[must_use]
pub fn shipped_services() -> Vec<&'static str> {
    SHIPPED.iter().map(|s| s.name).collect()
}

/// The official waiter models (`waiters-2.json`) of the shipped services, by service name.
#[must_use]
pub fn shipped_waiters() -> Vec<(&'static str, &'static str)> {
    SHIPPED.iter().map(|s| (s.name, s.waiters)).collect()
}

/// The wire protocol of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `json`: `POST /` with `X-Amz-Target` (DynamoDB, SSM, ECS).
    Json,
    /// `query`: form-encoded `Action`, XML responses (Auto Scaling, ELBv2, CloudFormation).
    Query,
    /// `ec2`: the query variant of EC2.
    Ec2,
    /// `rest-json`: URI templates and JSON bodies (EKS).
    RestJson,
}

impl Protocol {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "json" => Some(Self::Json),
            "query" => Some(Self::Query),
            "ec2" => Some(Self::Ec2),
            "rest-json" => Some(Self::RestJson),
            _ => None,
        }
    }
}

/// The service-wide facts of a model.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// The API version (`2016-11-15`).
    pub api_version: String,
    /// The endpoint's first label (`ec2`, `autoscaling`).
    pub endpoint_prefix: String,
    /// The wire protocol's name.
    pub protocol: String,
    /// The protocols the service speaks, preferred first (newer models).
    #[serde(default)]
    pub protocols: Vec<String>,
    /// The SigV4 service name, when it differs from the endpoint prefix.
    #[serde(default)]
    pub signing_name: Option<String>,
    /// The `X-Amz-Target` prefix of the `json` protocol.
    #[serde(default)]
    pub target_prefix: Option<String>,
    /// The `json` protocol's version (`1.0`, `1.1`).
    #[serde(default)]
    pub json_version: Option<String>,
    /// The service's id (`EC2`, `Auto Scaling`).
    #[serde(default)]
    pub service_id: Option<String>,
}

/// A reference to a shape, with the serialization traits of the reference.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberRef {
    /// The shape's name.
    pub shape: String,
    /// Where a member goes in a REST request (`uri`, `querystring`, `header`, `headers`,
    /// `statusCode`); none: the body.
    #[serde(default)]
    pub location: Option<String>,
    /// The name on the wire.
    #[serde(default)]
    pub location_name: Option<String>,
    /// The name in an EC2 query.
    #[serde(default)]
    pub query_name: Option<String>,
    /// A list or map written without a wrapper element.
    #[serde(default)]
    pub flattened: bool,
    /// The timestamp format of the member.
    #[serde(default)]
    pub timestamp_format: Option<String>,
    /// A member filled with a fresh UUID when not given (`clientRequestToken`, `ClientToken`).
    #[serde(default)]
    pub idempotency_token: bool,
}

/// The type of a shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShapeType {
    /// An object of named members.
    Structure,
    /// A list of one member shape.
    List,
    /// A map from key to value shapes.
    Map,
    /// A string.
    String,
    /// A 32-bit integer.
    Integer,
    /// A 64-bit integer.
    Long,
    /// A boolean.
    Boolean,
    /// A 32-bit float.
    Float,
    /// A 64-bit float.
    Double,
    /// A timestamp.
    Timestamp,
    /// Bytes (base64 in JSON).
    Blob,
}

/// One shape of a model.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shape {
    /// The type.
    #[serde(rename = "type")]
    pub kind: ShapeType,
    /// A structure's members, in model order.
    #[serde(default)]
    pub members: IndexMap<String, MemberRef>,
    /// A structure's required members.
    #[serde(default)]
    pub required: Vec<String>,
    /// A list's member.
    #[serde(default)]
    pub member: Option<MemberRef>,
    /// A map's key.
    #[serde(default)]
    pub key: Option<MemberRef>,
    /// A map's value.
    #[serde(default)]
    pub value: Option<MemberRef>,
    /// A list or map written without a wrapper element.
    #[serde(default)]
    pub flattened: bool,
    /// The least length (string, list) or value (number) the service accepts: checked before
    /// sending, as botocore's validator does (`max` is left to the service, as there).
    #[serde(default)]
    pub min: Option<f64>,
    /// A string's allowed values.
    #[serde(default, rename = "enum")]
    pub enum_values: Vec<String>,
    /// The timestamp format of the shape.
    #[serde(default)]
    pub timestamp_format: Option<String>,
    /// The name on the wire of a shape used as a payload or list member.
    #[serde(default)]
    pub location_name: Option<String>,
    /// A structure serialized as a document (any JSON).
    #[serde(default)]
    pub document: bool,
    /// The member of a REST structure that is the whole body.
    #[serde(default)]
    pub payload: Option<String>,
}

/// The HTTP binding of an operation.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Http {
    /// The method (`POST`, `GET`).
    pub method: String,
    /// The URI template (`/clusters/{name}/node-groups`).
    pub request_uri: String,
}

/// The output reference of an operation, with its XML result wrapper.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputRef {
    /// The output shape.
    pub shape: String,
    /// The element that holds the output in a `query` response (`DescribeStacksResult`).
    #[serde(default)]
    pub result_wrapper: Option<String>,
}

/// One operation of a model.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationModel {
    /// The operation's name (`DescribeInstances`).
    pub name: String,
    /// The HTTP binding.
    pub http: Http,
    /// The input shape, when it takes one.
    #[serde(default)]
    pub input: Option<MemberRef>,
    /// The output shape, when it returns one.
    #[serde(default)]
    pub output: Option<OutputRef>,
}

#[derive(Deserialize)]
struct Raw {
    metadata: Metadata,
    operations: BTreeMap<String, OperationModel>,
    shapes: BTreeMap<String, Shape>,
}

/// A service model: the protocol, operations and shapes of one AWS API.
#[derive(Clone, Debug)]
pub struct ServiceModel {
    name: String,
    protocol: Protocol,
    metadata: Metadata,
    operations: BTreeMap<String, OperationModel>,
    shapes: BTreeMap<String, Shape>,
}

impl ServiceModel {
    /// The shipped model of `service` (`ec2`, `autoscaling`, ...; see [`shipped_services`]),
    /// decompressed now.
    ///
    /// # Errors
    /// [`Error::UnknownService`] when no model of that name ships with the crate.
    pub fn builtin(service: &str) -> Result<Arc<Self>> {
        let shipped =
            SHIPPED
                .iter()
                .find(|s| s.name == service)
                .ok_or_else(|| Error::UnknownService {
                    service: service.to_string(),
                    known: shipped_services().iter().map(ToString::to_string).collect(),
                })?;
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(shipped.model)
            .read_to_end(&mut text)
            .map_err(|e| Error::ReadModel {
                file: format!("<shipped>/{service}/service-2.json.gz"),
                reason: e.to_string(),
            })?;
        Self::from_json(service, &text).map(Arc::new)
    }

    /// A model from a `service-2.json` file (`.gz` compressed or not), named `service`.
    ///
    /// # Errors
    /// The file cannot be read or is not a model of a supported protocol.
    pub fn from_file(service: &str, path: &Path) -> Result<Arc<Self>> {
        let read_error = |e: std::io::Error| Error::ReadModel {
            file: path.display().to_string(),
            reason: e.to_string(),
        };
        let bytes = std::fs::read(path).map_err(read_error)?;
        let text = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut text = Vec::new();
            flate2::read::GzDecoder::new(bytes.as_slice())
                .read_to_end(&mut text)
                .map_err(read_error)?;
            text
        } else {
            bytes
        };
        Self::from_json(service, &text)
            .map_err(|e| match e {
                Error::ReadModel { reason, .. } => Error::ReadModel {
                    file: path.display().to_string(),
                    reason,
                },
                other => other,
            })
            .map(Arc::new)
    }

    /// A model from the text of a `service-2.json`, named `service`.
    ///
    /// # Errors
    /// The text is not a model, or its protocol is not supported.
    pub fn from_json(service: &str, text: &[u8]) -> Result<Self> {
        let raw: Raw = serde_json::from_slice(text).map_err(|e| Error::ReadModel {
            file: format!("<{service}>"),
            reason: e.to_string(),
        })?;
        let protocol = std::iter::once(raw.metadata.protocol.as_str())
            .chain(raw.metadata.protocols.iter().map(String::as_str))
            .find_map(Protocol::parse)
            .ok_or_else(|| Error::UnsupportedProtocol {
                service: service.to_string(),
                protocol: raw.metadata.protocol.clone(),
            })?;
        Ok(Self {
            name: service.to_string(),
            protocol,
            metadata: raw.metadata,
            operations: raw.operations,
            shapes: raw.shapes,
        })
    }

    /// The name the service is addressed by (`ec2`).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The wire protocol used.
    #[must_use]
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The service-wide facts.
    #[must_use]
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The SigV4 service name.
    #[must_use]
    pub fn signing_name(&self) -> &str {
        self.metadata
            .signing_name
            .as_deref()
            .unwrap_or(&self.metadata.endpoint_prefix)
    }

    /// The operation called `name`.
    ///
    /// # Errors
    /// [`Error::UnknownOperation`].
    pub fn operation(&self, name: &str) -> Result<&OperationModel> {
        self.operations
            .get(name)
            .ok_or_else(|| Error::UnknownOperation {
                service: self.name.clone(),
                operation: name.to_string(),
            })
    }

    /// The operations' names, sorted.
    pub fn operation_names(&self) -> impl Iterator<Item = &str> {
        self.operations.keys().map(String::as_str)
    }

    /// The name on the wire of a member reference: its `locationName`, else that of its shape.
    #[must_use]
    pub fn location_name<'a>(&'a self, member: &'a MemberRef) -> Option<&'a str> {
        member.location_name.as_deref().or_else(|| {
            self.shapes
                .get(&member.shape)
                .and_then(|s| s.location_name.as_deref())
        })
    }

    /// Whether a member reference is a flattened list or map (on the reference or its shape).
    #[must_use]
    pub fn flattened(&self, member: &MemberRef) -> bool {
        member.flattened || self.shapes.get(&member.shape).is_some_and(|s| s.flattened)
    }

    /// The shape called `name`.
    ///
    /// # Errors
    /// [`Error::MissingShape`] when the model refers to a shape it does not define.
    pub fn shape(&self, name: &str) -> Result<&Shape> {
        self.shapes.get(name).ok_or_else(|| Error::MissingShape {
            service: self.name.clone(),
            shape: name.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_model_loads_with_a_supported_protocol() {
        for service in shipped_services() {
            let model = ServiceModel::builtin(service).unwrap();
            assert!(model.operation_names().count() > 5, "{service}");
        }
        assert_eq!(
            ServiceModel::builtin("ec2").unwrap().protocol(),
            Protocol::Ec2
        );
        assert_eq!(
            ServiceModel::builtin("eks").unwrap().protocol(),
            Protocol::RestJson
        );
    }

    #[test]
    fn every_shipped_waiter_model_loads_and_names_operations_of_its_service() {
        for (service, waiters) in shipped_waiters() {
            let model = ServiceModel::builtin(service).unwrap();
            let parsed = asg_lifecycle::waiter::WaiterModel::parse(
                &format!("{service}/waiters-2.json"),
                waiters,
            )
            .unwrap();
            assert!(!parsed.waiters.is_empty(), "{service}");
            for config in parsed.waiters.values() {
                model.operation(&config.operation).unwrap();
            }
        }
    }

    #[test]
    fn an_unknown_service_names_the_shipped_ones() {
        let err = ServiceModel::builtin("nope").unwrap_err().to_string();
        assert!(err.contains("ec2") && err.contains("nope"), "{err}");
    }
}
