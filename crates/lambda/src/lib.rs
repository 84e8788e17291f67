//! The AWS Lambda entry point: a model becomes a deployed function in a few lines of `main`.
//!
//! ```no_run
//! # struct MyModel;
//! # impl asg_lifecycle::Model for MyModel {
//! #     fn transitions(&self) -> asg_lifecycle::machine::ModelSpec {
//! #         let text = asg_lifecycle::machine::EXAMPLE_MODEL;
//! #         asg_lifecycle::machine::parse_model("model.yaml", text).expect("a valid model")
//! #     }
//! # }
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_runtime::Error> {
//!     asg_lifecycle_lambda::run(&MyModel).await
//! }
//! ```
//!
//! At init, once per execution environment: JSON tracing, the configuration from the
//! environment ([`LambdaConfig`]), the model validated (an invalid model fails the init with
//! every problem in the log and in `/init/error`) and the handler. The SDK configuration, the
//! `DynamoStore`, the Auto Scaling, SSM and SQS clients are built once, by the first call that
//! needs them ([`LazyAws`]): an event that needs no AWS call is answered without them. Then `lambda_runtime::run` serves the
//! invocations ([`LambdaHandler`]).
//!
//! # Environment
//! | variable | meaning |
//! |---|---|
//! | `TABLE_NAME` | the DynamoDB table (required) |
//! | `GROUP_NAMES` | comma-separated Auto Scaling groups the sweep lists (required) |
//! | `TRANSITIONS_FILE` | the model file ([`run_from_env`] only); default `transitions/cluster-node.yaml` under `LAMBDA_TASK_ROOT` or next to the binary, else the model compiled in |
//! | `SWEEP_RULE` | the rule name the sweep's scheduled events carry (default `reconcile`) |
//! | `SWEEP_SCHEDULE` | the sweep's `rate(...)` expression: heartbeats are scheduled against it (default `rate(5 minutes)`) |
//! | `FUNCTION_TIMEOUT` | the function timeout in seconds: the SSM intent lease outlives it by 30 s (default 900) |
//! | `DEAD_LETTER_QUEUE_URL` | the queue poison payloads are kept in with their reason (`SendMessage`); unset: a poison payload fails the invocation (type `AsgLifecycle.PoisonEvent`) and Lambda's bounded retries end in the on-failure destination |
//! | `METRICS_NAMESPACE` | CloudWatch namespace of the EMF metrics (default `AsgLifecycle`) |
//! | `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>` | endpoints, read by the SDK itself (local servers) |
//! | `AWS_LAMBDA_LOG_FORMAT` | `JSON` (set by Lambda from `LoggingConfig.LogFormat`): JSON log lines; otherwise text |
//! | `AWS_LAMBDA_LOG_LEVEL` / `RUST_LOG` | log filter (default `info`) |

mod config;
mod invocation;
mod lazy;
mod metrics;

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::value::RawValue;

pub use config::{
    DEFAULT_METRICS_NAMESPACE, ENV_DEAD_LETTER_QUEUE_URL, ENV_GROUP_NAMES, ENV_LAMBDA_TASK_ROOT,
    ENV_METRICS_NAMESPACE, ENV_REGISTRATION_KEY_PREFIX, ENV_SWEEP_RULE, ENV_TABLE_NAME,
    ENV_TRANSITIONS_FILE, InitError, LambdaConfig, ModelSource,
};
pub use invocation::{LambdaHandler, RETRYABLE_ERROR_TYPE, deadline_instant};
pub use lazy::LazyAws;
pub use metrics::InvocationMetrics;

use asg_lifecycle::handler::LifecycleHandler;
use asg_lifecycle::machine::{Machine, Model};

/// The error `run*` return; the runtime's own.
pub type Error = lambda_runtime::Error;

/// Runs the function with the file-defined model ([`LambdaConfig::load_model`]): what the
/// `lifecycle-handler` binary does.
///
/// # Errors
/// An init error (reported to `/init/error` first) or a runtime failure.
pub async fn run_from_env() -> Result<(), Error> {
    init_tracing();
    let loaded = LambdaConfig::from_env().and_then(|config| {
        let machine = config.load_model()?;
        Ok((config, machine))
    });
    match loaded {
        Ok((config, machine)) => serve(config, machine).await,
        Err(e) => Err(fail_init(e).await),
    }
}

/// Runs the function with a model written in Rust, validated first.
///
/// # Errors
/// An init error (reported to `/init/error` first) or a runtime failure.
pub async fn run(model: &dyn Model) -> Result<(), Error> {
    init_tracing();
    match Machine::from_model(model).map_err(InitError::InvalidModel) {
        Ok(machine) => run_with(machine).await,
        Err(e) => Err(fail_init(e).await),
    }
}

/// Runs the function for a Rust model whose conditions or tasks ask AWS services beyond Auto
/// Scaling and SSM: `extensions` builds the model's own clients (an ELBv2 client, say) from the
/// shared SDK configuration, once, at init; they reach the model as
/// [`asg_lifecycle::aws::AwsClients::extensions`]. Loading the SDK configuration at init costs a
/// few milliseconds of cold start that a model without extensions does not pay.
///
/// # Errors
/// An init error (reported to `/init/error` first) or a runtime failure.
pub async fn run_with_extensions<F>(model: &dyn Model, extensions: F) -> Result<(), Error>
where
    F: FnOnce(&asg_lifecycle_aws::SdkConfig) -> asg_lifecycle::aws::Extensions,
{
    init_tracing();
    let machine = match Machine::from_model(model).map_err(InitError::InvalidModel) {
        Ok(machine) => machine,
        Err(e) => return Err(fail_init(e).await),
    };
    let config = match LambdaConfig::from_env() {
        Ok(config) => config,
        Err(e) => return Err(fail_init(e).await),
    };
    let sdk = asg_lifecycle_aws::load_sdk_config(None, None).await;
    serve_with(config, machine, extensions(&sdk)).await
}

/// Runs the function with an already validated machine.
///
/// # Errors
/// An init error (reported to `/init/error` first) or a runtime failure.
pub async fn run_with(machine: Machine) -> Result<(), Error> {
    init_tracing();
    match LambdaConfig::from_env() {
        Ok(config) => serve(config, machine).await,
        Err(e) => Err(fail_init(e).await),
    }
}

/// Builds the handler from the configuration: the store, the AWS clients and the dead-letter
/// queue over one SDK configuration (default credential chain and region; endpoints from
/// `AWS_ENDPOINT_URL*`), built once, by the first call that needs them ([`LazyAws`]).
pub async fn build_handler(config: &LambdaConfig, machine: Machine) -> LambdaHandler {
    build_handler_with(config, machine, asg_lifecycle::aws::Extensions::default())
}

/// [`build_handler`] with the model's own AWS clients.
#[must_use]
pub fn build_handler_with(
    config: &LambdaConfig,
    machine: Machine,
    extensions: asg_lifecycle::aws::Extensions,
) -> LambdaHandler {
    let aws = LazyAws::with_extensions(
        &config.table,
        &config.groups,
        config.dead_letter_queue_url.as_deref(),
        config.registration_prefix.as_deref(),
        extensions,
    );
    let handler = LifecycleHandler::new(Arc::new(machine), aws.store(), aws.clients())
        .with_config(config.handler.clone());
    let lambda = LambdaHandler::new(handler)
        .with_metrics(&config.metrics_namespace, &config.service)
        .with_hard_margin(config.hard_margin);
    match aws.dead_letters() {
        Some(queue) => lambda.with_dead_letters(queue),
        None => lambda,
    }
}

async fn serve(config: LambdaConfig, machine: Machine) -> Result<(), Error> {
    serve_with(config, machine, asg_lifecycle::aws::Extensions::default()).await
}

async fn serve_with(
    config: LambdaConfig,
    machine: Machine,
    extensions: asg_lifecycle::aws::Extensions,
) -> Result<(), Error> {
    tracing::info!(
        table = %config.table,
        groups = ?config.groups,
        model = ?config.model,
        sweep_rule = %config.handler.sweep_rule,
        dead_letter_queue = ?config.dead_letter_queue_url,
        initial = %machine.graph().initial,
        "initialized"
    );
    let handler = build_handler_with(&config, machine, extensions);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let handler = handler.clone();
        async move { handler.call(event).await }
    }))
    .await
}

/// Installs the log subscriber once, through `lambda_runtime`'s own tracing support: one JSON
/// object per line when Lambda's `AWS_LAMBDA_LOG_FORMAT` is `JSON` (the template's
/// `LoggingConfig.LogFormat`; the runtime's `Lambda runtime invoke` span carries `requestId`),
/// text otherwise; level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `INFO`. A process
/// that installed its own subscriber first keeps it.
pub fn init_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if !tracing::dispatcher::has_been_set() {
            lambda_runtime::tracing::init_default_subscriber();
        }
    });
}

/// Logs the init error and reports it to the Runtime API's `/init/error`, so Lambda shows it
/// as the reason the environment failed; returns the error for `main` to exit with.
async fn fail_init(error: InitError) -> Error {
    tracing::error!(error = %error, "init failed");
    if let Err(e) = report_init_error(&error).await {
        tracing::error!(error = %e, "failed to report the init error to the Runtime API");
    }
    Box::new(error)
}

async fn report_init_error(error: &InitError) -> Result<(), Error> {
    let error_type = match error {
        InitError::InvalidModel(_) => "AsgLifecycle.InvalidModel",
        InitError::MissingVariable { .. } | InitError::InvalidVariable { .. } => {
            "AsgLifecycle.InvalidConfiguration"
        }
    };
    let body = serde_json::to_vec(&lambda_runtime::Diagnostic {
        error_type: error_type.into(),
        error_message: error.to_string(),
    })?;
    let client = lambda_runtime_api_client::Client::builder().build()?;
    let request = lambda_runtime_api_client::build_request()
        .method("POST")
        .uri("/2018-06-01/runtime/init/error")
        .header("Lambda-Runtime-Function-Error-Type", error_type)
        .body(lambda_runtime_api_client::body::Body::from(body))?;
    let response = client.call(request).await?;
    if !response.status().is_success() {
        return Err(format!("/init/error answered {}", response.status()).into());
    }
    Ok(())
}
