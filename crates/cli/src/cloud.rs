//! Everything the CLI reaches AWS through, in one place: with the `aws` feature (the default) the
//! SDK adapters of `asg-lifecycle-aws`; without it, a clear error naming the feature, so that a
//! build for the simulator and the file-based commands links no AWS SDK.

use std::path::Path;
use std::sync::Arc;

use asg_lifecycle::aws::AwsClients;
use asg_lifecycle::machine::ValidationReport;
use asg_lifecycle::status::GroupMembership;
use asg_lifecycle::store::StateStore;
use asg_lifecycle::waiter::{CallError, Operations, Registry};
use asg_lifecycle::watch::ChangeFeed;
use serde_json::Value;

/// Where AWS is reached: an endpoint (moto, DynamoDB Local), a region and a named profile, all
/// optional.
#[derive(Clone, Copy, Debug, Default)]
#[cfg_attr(
    not(feature = "aws"),
    allow(dead_code, reason = "read by the AWS adapters only")
)]
pub struct Endpoint<'a> {
    /// An endpoint URL instead of AWS.
    pub url: Option<&'a str>,
    /// The region (default: from the environment or profile).
    pub region: Option<&'a str>,
    /// The named profile (default: `AWS_PROFILE`, else `default`).
    pub profile: Option<&'a str>,
}

#[cfg(feature = "aws")]
mod real {
    use super::{
        Arc, AwsClients, CallError, ChangeFeed, Endpoint, GroupMembership, Operations, Path,
        Registry, StateStore, ValidationReport, Value,
    };
    use asg_lifecycle_aws::api::{self, ApiClient, ModelOperation, ServiceModel};
    use asg_lifecycle_aws::{AutoScalingMembership, DynamoStore, StreamsFeed, table};
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use aws_config::{BehaviorVersion, Region, SdkConfig};

    /// The shared configuration: the default credential chain of the profile, the adapters'
    /// retry policy and attempt timeout (as `asg_lifecycle_aws::load_sdk_config`), the endpoint
    /// and region when given.
    async fn sdk_config(at: Endpoint<'_>) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(asg_lifecycle_aws::sdk::default_retry_config())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(asg_lifecycle_aws::sdk::ATTEMPT_TIMEOUT)
                    .build(),
            );
        if let Some(url) = at.url {
            loader = loader.endpoint_url(url);
        }
        if let Some(region) = at.region {
            loader = loader.region(Region::new(region.to_string()));
        }
        if let Some(profile) = at.profile {
            loader = loader.profile_name(profile);
        }
        loader.load().await
    }

    /// A DynamoDB client without the SDK's retries: the store retries itself.
    fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(config)
                .retry_config(RetryConfig::disabled())
                .build(),
        )
    }

    /// A DynamoDB table and the AWS configuration of every client that reads it.
    pub struct Table {
        name: String,
        groups: Vec<String>,
        config: SdkConfig,
    }

    impl Table {
        /// Loads the AWS configuration for `name`; `groups` are the groups listed when no group
        /// is named (the active index is partitioned by group: no Scan). Without them, the
        /// groups the table knows (the handler registers the groups it sweeps).
        pub async fn open(name: &str, groups: &[String], at: Endpoint<'_>) -> Result<Self, String> {
            let config = sdk_config(at).await;
            let groups = if groups.is_empty() {
                known_groups(&config, name).await?
            } else {
                groups.to_vec()
            };
            Ok(Self {
                name: name.to_string(),
                groups,
                config,
            })
        }

        /// The groups listed: those named, else those the table knows.
        pub fn groups(&self) -> &[String] {
            &self.groups
        }

        /// The records, queried per group on the active index; it writes nothing.
        pub fn store(&self) -> Arc<dyn StateStore> {
            Arc::new(
                DynamoStore::new(dynamodb(&self.config), self.name.clone())
                    .with_groups(self.groups.iter().cloned())
                    .without_group_registry(),
            )
        }

        /// The table's stream.
        pub fn feed(&self) -> Arc<dyn ChangeFeed> {
            Arc::new(StreamsFeed::new(
                aws_sdk_dynamodbstreams::Client::new(&self.config),
                self.name.clone(),
            ))
        }

        /// Auto Scaling group membership.
        pub fn membership(&self) -> Arc<dyn GroupMembership> {
            Arc::new(AutoScalingMembership::new(
                aws_sdk_autoscaling::Client::new(&self.config),
            ))
        }
    }

    /// The groups the table knows (registered by the handler's sweep).
    async fn known_groups(config: &SdkConfig, table: &str) -> Result<Vec<String>, String> {
        DynamoStore::new(dynamodb(config), table)
            .known_groups()
            .await
            .map_err(|e| format!("failed to read the groups table {table} knows: {e}"))
    }

    /// The DynamoDB store on `table`, sweeping `groups` (none: those the table knows, returned
    /// with the store); instances' registrations are read under
    /// `ASG_LIFECYCLE_REGISTRATION_PREFIX` (`arn:aws:ec2:REGION:ACCOUNT:instance/`) when set.
    pub async fn dynamo_store(
        table: &str,
        at: Endpoint<'_>,
        groups: &[String],
    ) -> Result<(Arc<dyn StateStore>, Vec<String>), String> {
        let config = sdk_config(at).await;
        let groups = if groups.is_empty() {
            known_groups(&config, table).await?
        } else {
            groups.to_vec()
        };
        let mut store =
            DynamoStore::new(dynamodb(&config), table).with_groups(groups.iter().cloned());
        if let Some(prefix) = std::env::var("ASG_LIFECYCLE_REGISTRATION_PREFIX")
            .ok()
            .filter(|p| !p.is_empty())
        {
            store = store.with_registration_prefix(prefix);
        }
        Ok((Arc::new(store), groups))
    }

    /// Auto Scaling and SSM through the SDK.
    pub async fn aws_clients(at: Endpoint<'_>) -> Result<AwsClients, String> {
        Ok(asg_lifecycle_aws::aws_clients(&sdk_config(at).await))
    }

    /// Creates `name` and waits until it is active.
    pub async fn create_table(name: &str, at: Endpoint<'_>) -> Result<(), String> {
        let client = dynamodb(&sdk_config(at).await);
        table::create_table(&client, name)
            .await
            .map_err(|e| e.to_string())
    }

    /// The AWS operations waiters call.
    pub async fn sdk_operations(at: Endpoint<'_>) -> Result<Operations, String> {
        Ok(asg_lifecycle_aws::sdk_operations(&sdk_config(at).await))
    }

    /// The model of `service`: read from `file` when given, else the shipped one.
    fn service_model(service: &str, file: Option<&Path>) -> Result<Arc<ServiceModel>, CallError> {
        let model = match file {
            Some(file) => ServiceModel::from_file(service, file),
            None => ServiceModel::builtin(service),
        };
        model.map_err(|e| match e {
            api::Error::UnknownService { .. } => CallError::InvalidInput(e.to_string()),
            other => CallError::Dispatch(other.to_string()),
        })
    }

    /// Every operation of the service's model (shipped, or from `file`), under
    /// `SERVICE.Operation` and its bare name, called through the model.
    pub async fn model_operations(
        at: Endpoint<'_>,
        service: &str,
        file: Option<&Path>,
    ) -> Result<Operations, String> {
        let model = service_model(service, file).map_err(|e| e.to_string())?;
        let client = Arc::new(ApiClient::new(&sdk_config(at).await));
        Ok(api::service_operations(&model, &client))
    }

    /// Calls `operation` of the service's model (shipped, or from `file`) once.
    pub async fn call(
        at: Endpoint<'_>,
        service: &str,
        file: Option<&Path>,
        operation: &str,
        input: &Value,
    ) -> Result<Value, CallError> {
        let model = service_model(service, file)?;
        let client = Arc::new(ApiClient::new(&sdk_config(at).await));
        let operation = ModelOperation::new(model, operation, client)
            .map_err(|e| CallError::InvalidInput(e.to_string()))?;
        operation.invoke(input).await.map_err(CallError::from)
    }

    /// The operations of the service's model (shipped, or from `file`), sorted.
    pub fn operation_names(service: &str, file: Option<&Path>) -> Result<Vec<String>, String> {
        let model = service_model(service, file).map_err(|e| e.to_string())?;
        Ok(model.operation_names().map(String::from).collect())
    }

    /// The name a model file is addressed by: its endpoint prefix (`ec2`, `eks`).
    pub fn file_service_name(file: &Path) -> Result<String, String> {
        ServiceModel::from_file("file", file)
            .map(|m| m.metadata().endpoint_prefix.clone())
            .map_err(|e| e.to_string())
    }

    /// The shipped services whose model has `operation`.
    pub fn services_with_operation(operation: &str) -> Vec<String> {
        api::shipped_services()
            .into_iter()
            .filter(|s| ServiceModel::builtin(s).is_ok_and(|m| m.operation(operation).is_ok()))
            .map(String::from)
            .collect()
    }

    /// The shipped services, sorted.
    pub fn shipped_services() -> Vec<&'static str> {
        api::shipped_services()
    }

    /// Adds the official waiters of the shipped services to `registry`.
    pub fn add_service_waiters(registry: &mut Registry) -> Result<(), ValidationReport> {
        api::add_shipped_waiters(registry)
    }

    /// The botocore version the shipped models come from.
    pub fn models_version() -> &'static str {
        api::SHIPPED_MODELS_VERSION.trim()
    }
}

#[cfg(not(feature = "aws"))]
mod absent {
    use super::{
        Arc, AwsClients, CallError, ChangeFeed, Endpoint, GroupMembership, Operations, Path,
        Registry, StateStore, ValidationReport, Value,
    };

    const NO_AWS: &str = "this asg-lifecycle was built without AWS support; rebuild it with the \
                          `aws` feature (the default) to use tables and AWS calls";

    /// No table can be opened in this build.
    pub enum Table {}

    impl Table {
        pub async fn open(_: &str, _: &[String], _: Endpoint<'_>) -> Result<Self, String> {
            Err(NO_AWS.into())
        }
        pub fn groups(&self) -> &[String] {
            match *self {}
        }
        pub fn store(&self) -> Arc<dyn StateStore> {
            match *self {}
        }
        pub fn feed(&self) -> Arc<dyn ChangeFeed> {
            match *self {}
        }
        pub fn membership(&self) -> Arc<dyn GroupMembership> {
            match *self {}
        }
    }

    pub async fn dynamo_store(
        _: &str,
        _: Endpoint<'_>,
        _: &[String],
    ) -> Result<(Arc<dyn StateStore>, Vec<String>), String> {
        Err(NO_AWS.into())
    }

    pub async fn aws_clients(_: Endpoint<'_>) -> Result<AwsClients, String> {
        Err(NO_AWS.into())
    }

    pub async fn create_table(_: &str, _: Endpoint<'_>) -> Result<(), String> {
        Err(NO_AWS.into())
    }

    pub async fn sdk_operations(_: Endpoint<'_>) -> Result<Operations, String> {
        Err(NO_AWS.into())
    }

    pub async fn model_operations(
        _: Endpoint<'_>,
        _: &str,
        _: Option<&Path>,
    ) -> Result<Operations, String> {
        Err(NO_AWS.into())
    }

    pub async fn call(
        _: Endpoint<'_>,
        _: &str,
        _: Option<&Path>,
        _: &str,
        _: &Value,
    ) -> Result<Value, CallError> {
        Err(CallError::Dispatch(NO_AWS.into()))
    }

    pub fn operation_names(_: &str, _: Option<&Path>) -> Result<Vec<String>, String> {
        Err(NO_AWS.into())
    }

    pub fn file_service_name(_: &Path) -> Result<String, String> {
        Err(NO_AWS.into())
    }

    pub fn services_with_operation(_: &str) -> Vec<String> {
        Vec::new()
    }

    pub fn shipped_services() -> Vec<&'static str> {
        Vec::new()
    }

    /// No service models in this build: no official waiters.
    pub fn add_service_waiters(_: &mut Registry) -> Result<(), ValidationReport> {
        Ok(())
    }

    pub fn models_version() -> &'static str {
        ""
    }
}

#[cfg(not(feature = "aws"))]
pub use absent::*;
#[cfg(feature = "aws")]
pub use real::*;
