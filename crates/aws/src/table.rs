//! The table definition, in one place: used by the tests, by `asg-lifecycle table create` and
//! mirrored by `template.yaml` ([`cloudformation_resource`]).
//!
//! | what | value |
//! |---|---|
//! | partition key | `Ident` (S): the EC2 instance id |
//! | index `active-index` | partition `ActiveGroup` (S), sort `Ident` (S), projection ALL; sparse: only active records carry `ActiveGroup` |
//! | billing | `PAY_PER_REQUEST` |
//! | stream | `NEW_AND_OLD_IMAGES` (for `watch`) |
//! | TTL | `ExpiresAt` (epoch seconds, set at a terminal state) |

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, IndexStatus, KeySchemaElement, KeyType,
    Projection, ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use serde_json::{Value, json};

use asg_lifecycle::record::attr;
use asg_lifecycle::wait::Backoff;

/// The sparse global secondary index over active records.
pub const ACTIVE_INDEX: &str = "active-index";
/// How long [`create_table`] waits for the table and its index to become `ACTIVE`.
pub const ACTIVE_TIMEOUT: Duration = Duration::from_secs(300);

/// Creating the table failed.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A request was refused or could not be sent.
    #[error("failed to {step} table `{table}`: {message}")]
    Request {
        /// What was being done (`create`, `describe`, `enable TTL on`).
        step: &'static str,
        /// The table.
        table: String,
        /// The error, with its context.
        message: String,
    },
    /// The table did not become `ACTIVE` in time.
    #[error("failed to create table `{table}`: not ACTIVE after {waited:?} (last status {status})")]
    NotActive {
        /// The table.
        table: String,
        /// How long it was waited for.
        waited: Duration,
        /// The last status seen.
        status: String,
    },
    /// A part of the definition could not be built (a bug).
    #[error("failed to build the table definition")]
    Definition(#[from] BuildError),
}

fn request_error(step: &'static str, table: &str, error: &dyn std::error::Error) -> TableError {
    TableError::Request {
        step,
        table: table.to_string(),
        message: DisplayErrorContext(error).to_string(),
    }
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, BuildError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, BuildError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
}

/// Creates the table (idempotent: an existing table is kept), waits until it and its index are
/// `ACTIVE`, and enables TTL on `ExpiresAt` if it is not enabled yet.
///
/// # Errors
/// When a request fails, or the table is not `ACTIVE` within [`ACTIVE_TIMEOUT`].
pub async fn create_table(client: &Client, name: &str) -> Result<(), TableError> {
    let index = GlobalSecondaryIndex::builder()
        .index_name(ACTIVE_INDEX)
        .key_schema(key(attr::ACTIVE_GROUP, KeyType::Hash)?)
        .key_schema(key(attr::IDENT, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()?;
    let created = client
        .create_table()
        .table_name(name)
        .attribute_definitions(string_attribute(attr::IDENT)?)
        .attribute_definitions(string_attribute(attr::ACTIVE_GROUP)?)
        .key_schema(key(attr::IDENT, KeyType::Hash)?)
        .global_secondary_indexes(index)
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()?,
        )
        .send()
        .await;
    match created {
        Ok(_) => tracing::info!(table = name, "table created"),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            tracing::info!(table = name, "table exists already");
        }
        Err(e) => return Err(request_error("create", name, &e)),
    }
    wait_until_active(client, name).await?;
    let ttl = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| request_error("describe TTL of", name, &e))?;
    let enabled = ttl.time_to_live_description().is_some_and(|d| {
        d.attribute_name() == Some(attr::EXPIRES_AT)
            && matches!(
                d.time_to_live_status(),
                Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
            )
    });
    if !enabled {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(attr::EXPIRES_AT)
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| request_error("enable TTL on", name, &e))?;
    }
    Ok(())
}

async fn wait_until_active(client: &Client, name: &str) -> Result<(), TableError> {
    let started = tokio::time::Instant::now();
    // 100 ms doubling to 5 s, no jitter: one caller polls its own table.
    let mut backoff =
        Backoff::new(Duration::from_millis(100), 2.0, u32::MAX).cap(Duration::from_secs(5));
    loop {
        let described = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| request_error("describe", name, &e))?;
        let table = described.table();
        let status = table.and_then(|t| t.table_status()).cloned();
        let indexes_active = table.is_some_and(|t| {
            t.global_secondary_indexes()
                .iter()
                .all(|i| i.index_status().is_none_or(|s| *s == IndexStatus::Active))
        });
        if status == Some(TableStatus::Active) && indexes_active {
            return Ok(());
        }
        let waited = started.elapsed();
        if waited >= ACTIVE_TIMEOUT {
            return Err(TableError::NotActive {
                table: name.to_string(),
                waited,
                status: status.map_or_else(|| "unknown".into(), |s| s.as_str().to_string()),
            });
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// The table as a CloudFormation `AWS::DynamoDB::Table` resource (JSON; YAML is a superset), for
/// `template.yaml` to mirror. `TableName` is left to CloudFormation.
#[must_use]
pub fn cloudformation_resource() -> Value {
    json!({
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [
                {"AttributeName": attr::IDENT, "AttributeType": "S"},
                {"AttributeName": attr::ACTIVE_GROUP, "AttributeType": "S"}
            ],
            "KeySchema": [{"AttributeName": attr::IDENT, "KeyType": "HASH"}],
            "GlobalSecondaryIndexes": [{
                "IndexName": ACTIVE_INDEX,
                "KeySchema": [
                    {"AttributeName": attr::ACTIVE_GROUP, "KeyType": "HASH"},
                    {"AttributeName": attr::IDENT, "KeyType": "RANGE"}
                ],
                "Projection": {"ProjectionType": "ALL"}
            }],
            "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
            "TimeToLiveSpecification": {"AttributeName": attr::EXPIRES_AT, "Enabled": true},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": true}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cloudformation_resource_names_the_index_and_ttl_attribute() {
        let resource = cloudformation_resource();
        let props = &resource["Properties"];
        assert_eq!(
            props["GlobalSecondaryIndexes"][0]["IndexName"],
            ACTIVE_INDEX
        );
        assert_eq!(
            props["TimeToLiveSpecification"]["AttributeName"],
            "ExpiresAt"
        );
        assert_eq!(
            props["StreamSpecification"]["StreamViewType"],
            "NEW_AND_OLD_IMAGES"
        );
    }
}
