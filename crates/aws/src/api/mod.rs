//! Any operation of any JSON, query (and EC2) or REST-JSON AWS service, driven by its model
//! (botocore's `service-2.json`): input validated against the model, serialized in the
//! service's protocol, signed with SigV4, and the output rendered in the API's JSON shape, the
//! shape botocore's waiters are written against.
//!
//! ```no_run
//! # async fn run(config: aws_config::SdkConfig) -> Result<(), asg_lifecycle_aws::api::Error> {
//! use std::sync::Arc;
//! use asg_lifecycle_aws::api::{ApiClient, ModelOperation, ServiceModel};
//!
//! let model = ServiceModel::builtin("ec2")?;
//! let client = Arc::new(ApiClient::new(&config));
//! let describe = ModelOperation::new(model, "DescribeInstances", client)?;
//! let output = describe.invoke(&serde_json::json!({"InstanceIds": ["i-0abc"]})).await?;
//! println!("{}", output["Reservations"]);
//! # Ok(()) }
//! ```
//!
//! The models of the services a lifecycle touches ship with the crate ([`shipped_services`]:
//! Auto Scaling, CloudFormation, DynamoDB, EC2, ECS, EKS, ELBv2, SSM; compressed, decompressed
//! only when used), with their official waiters ([`shipped_waiters`]); any other comes from a
//! file ([`ServiceModel::from_file`]).
//!
//! # Assumptions
//! - Blob input members are given as text and sent as its bytes (base64 where the protocol
//!   wants it); blob outputs are rendered base64, as the API's JSON shows them.
//! - Enum values are not checked (botocore does not either: services add values), nor are
//!   length and range constraints (the service checks them).
//! - Idempotency-token members left out are filled with a fresh UUID, as botocore does; other
//!   botocore customisations (EC2 `UserData` base64-encoded for the caller, presigning) are not
//!   applied.
//! - `rest-xml` services (S3, Route 53, CloudFront) are not supported.

mod client;
mod model;
mod operation;
mod parse;
mod serialize;
mod timestamp;
mod validate;

use asg_lifecycle::waiter::{CallError, OperationError};

pub use client::{ApiClient, DEFAULT_TIMEOUT};
pub use model::{
    MemberRef, Metadata, OperationModel, Protocol, SHIPPED_MODELS_VERSION, ServiceModel, Shape,
    ShapeType, shipped_services, shipped_waiters,
};
pub use operation::{
    ModelOperation, add_shipped_waiters, service_operations, with_idempotency_tokens,
};
pub use parse::{Response, parse_error, parse_output};
pub use serialize::{Request, serialize};
pub use validate::{Problem, Problems, validate};

/// `Result` of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a model could not be used or an operation not called.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No shipped model of that name.
    #[error("no model of the service `{service}` ships with asg-lifecycle (shipped: {}); give one with --service-model", known.join(", "))]
    UnknownService {
        /// The name asked for.
        service: String,
        /// The shipped services.
        known: Vec<String>,
    },
    /// A model could not be read.
    #[error("failed to read the service model {file}: {reason}")]
    ReadModel {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// The model's protocol is not supported.
    #[error(
        "the service `{service}` speaks `{protocol}`, which is not supported (json, query, ec2, rest-json are)"
    )]
    UnsupportedProtocol {
        /// The service.
        service: String,
        /// Its protocol.
        protocol: String,
    },
    /// The model has no operation of that name.
    #[error("the service `{service}` has no operation `{operation}`")]
    UnknownOperation {
        /// The service.
        service: String,
        /// The operation asked for.
        operation: String,
    },
    /// The model refers to a shape it does not define.
    #[error("the model of `{service}` refers to the undefined shape `{shape}`")]
    MissingShape {
        /// The service.
        service: String,
        /// The shape.
        shape: String,
    },
    /// The input does not fit the operation; nothing was sent.
    #[error("invalid input for {operation}: {problems}")]
    InvalidInput {
        /// The operation.
        operation: String,
        /// Every problem, by path.
        problems: Problems,
    },
    /// A value could not be written in the protocol.
    #[error("failed to serialize {path}: {reason}")]
    Serialize {
        /// Where.
        path: String,
        /// Why.
        reason: String,
    },
    /// Neither a region nor an endpoint URL is configured.
    #[error("no region is configured (--region, AWS_REGION or the profile's region)")]
    NoRegion,
    /// No credentials.
    #[error("failed to load credentials: {reason}")]
    Credentials {
        /// Why.
        reason: String,
    },
    /// The request could not be signed.
    #[error("failed to sign the request: {reason}")]
    Sign {
        /// Why.
        reason: String,
    },
    /// The request could not be sent or its response read.
    #[error("failed to call {url}: {reason}")]
    Send {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The response could not be read as the protocol says.
    #[error("failed to parse the response: {reason}")]
    ParseResponse {
        /// Why.
        reason: String,
    },
    /// The service answered with an error.
    #[error("the service answered with an error: {0}")]
    Service(OperationError),
}

impl From<Error> for CallError {
    fn from(error: Error) -> Self {
        match error {
            Error::Service(e) => Self::Service(e),
            Error::InvalidInput {
                operation,
                problems,
            } => Self::InvalidInput(format!("{operation}: {problems}")),
            other => Self::Dispatch(other.to_string()),
        }
    }
}
