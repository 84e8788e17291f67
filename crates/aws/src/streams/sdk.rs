//! The DynamoDB Streams API through the SDK: `ListStreams` finds the table's newest stream,
//! `DescribeStream` its shards, `GetShardIterator` opens a position and `GetRecords` reads it.
//! `TrimmedDataAccessException` and `ResourceNotFoundException` make a position gone; an
//! `ExpiredIteratorException` (an iterator unused for 15 minutes) is answered as expired, and
//! the feed opens the position again.

use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodbstreams::types::{AttributeValue, OperationType, Record, ShardIteratorType};
use serde_json::Value;
use std::collections::HashMap;

use async_trait::async_trait;
use tokio::sync::OnceCell;

use asg_lifecycle::record::{InstanceRecord, attr};
use asg_lifecycle::watch::{Change, ChangeKind, FeedError, ResumeToken};

use super::{Position, RecordsPage, ShardInfo, StreamApi};
use crate::codec;

/// A table's DynamoDB stream through the SDK.
#[derive(Debug)]
pub struct SdkStreams {
    client: Client,
    table: String,
    stream_arn: OnceCell<String>,
}

impl SdkStreams {
    /// The stream of `table`.
    #[must_use]
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            stream_arn: OnceCell::new(),
        }
    }

    async fn stream_arn(&self) -> Result<&str, FeedError> {
        self.stream_arn
            .get_or_try_init(|| async {
                let output = self
                    .client
                    .list_streams()
                    .table_name(&self.table)
                    .send()
                    .await
                    .map_err(|e| classify("ListStreams", &e))?;
                // The newest stream: labels are creation timestamps.
                output
                    .streams()
                    .iter()
                    .max_by(|a, b| a.stream_label().cmp(&b.stream_label()))
                    .and_then(|s| s.stream_arn().map(str::to_string))
                    .ok_or_else(|| FeedError::Other {
                        message: format!("table `{}` has no stream enabled", self.table),
                    })
            })
            .await
            .map(String::as_str)
    }
}

#[async_trait]
impl StreamApi for SdkStreams {
    async fn shards(&self) -> Result<Vec<ShardInfo>, FeedError> {
        let arn = self.stream_arn().await?;
        let mut shards = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let output = self
                .client
                .describe_stream()
                .stream_arn(arn)
                .set_exclusive_start_shard_id(start.take())
                .send()
                .await
                .map_err(|e| classify("DescribeStream", &e))?;
            let Some(description) = output.stream_description() else {
                return Ok(shards);
            };
            shards.extend(description.shards().iter().filter_map(|shard| {
                Some(ShardInfo {
                    id: shard.shard_id()?.to_string(),
                    parent: shard.parent_shard_id().map(str::to_string),
                    open: shard
                        .sequence_number_range()
                        .is_none_or(|r| r.ending_sequence_number().is_none()),
                })
            }));
            match description.last_evaluated_shard_id() {
                Some(last) => start = Some(last.to_string()),
                None => return Ok(shards),
            }
        }
    }

    async fn iterator(&self, shard: &str, position: &Position) -> Result<String, FeedError> {
        let arn = self.stream_arn().await?;
        let (kind, sequence) = match position {
            Position::Latest => (ShardIteratorType::Latest, None),
            Position::TrimHorizon => (ShardIteratorType::TrimHorizon, None),
            Position::After(sequence) => (
                ShardIteratorType::AfterSequenceNumber,
                Some(sequence.clone()),
            ),
        };
        let output = self
            .client
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(shard)
            .shard_iterator_type(kind)
            .set_sequence_number(sequence)
            .send()
            .await
            .map_err(|e| classify("GetShardIterator", &e))?;
        output
            .shard_iterator()
            .map(str::to_string)
            .ok_or_else(|| FeedError::Transient {
                message: "GetShardIterator returned no iterator".into(),
            })
    }

    async fn records(&self, iterator: &str) -> Result<Option<RecordsPage>, FeedError> {
        match self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(1000)
            .send()
            .await
        {
            Ok(output) => Ok(Some(RecordsPage {
                records: output.records().to_vec(),
                next: output.next_shard_iterator().map(str::to_string),
            })),
            Err(e) if e.code() == Some("ExpiredIteratorException") => Ok(None),
            Err(e) => Err(classify("GetRecords", &e)),
        }
    }
}

fn classify<E, R>(operation: &str, error: &SdkError<E, R>) -> FeedError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let code = error.code().unwrap_or_default();
    let message = format!("{operation}: {}", DisplayErrorContext(error));
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            FeedError::Transient { message }
        }
        _ if matches!(
            code,
            "TrimmedDataAccessException" | "ResourceNotFoundException" | "ExpiredIteratorException"
        ) =>
        {
            FeedError::Gone { message }
        }
        _ if matches!(
            code,
            "LimitExceededException" | "InternalServerError" | "ThrottlingException"
        ) || code.contains("Throttl") =>
        {
            FeedError::Transient { message }
        }
        _ => FeedError::Other { message },
    }
}

/// Reads a stream image as a record. Structured handler attributes stored as JSON text are
/// accepted as well as maps and lists.
fn to_record(image: &HashMap<String, AttributeValue>) -> Result<InstanceRecord, String> {
    let mut item = codec::item_to_json(&codec::from_stream_item(image));
    for name in [
        attr::LIFECYCLE_ACTION,
        attr::PENDING_COMMAND,
        attr::IN_FLIGHT,
        attr::RECENT_EVENTS,
        attr::HISTORY,
    ] {
        if let Some(Value::String(text)) = item.get(name)
            && let Ok(parsed @ (Value::Object(_) | Value::Array(_))) =
                serde_json::from_str::<Value>(text)
        {
            item.insert(name.to_string(), parsed);
        }
    }
    let ident = match item.get(attr::IDENT) {
        Some(Value::String(s)) => s.clone(),
        _ => return Err("the image has no string `Ident`".into()),
    };
    InstanceRecord::from_item(&ident, &item).map_err(|e| e.to_string())
}

pub(super) fn change(shard: &str, record: &Record, after: &ResumeToken) -> Option<Change> {
    let data = record.dynamodb()?;
    let sequence = data.sequence_number()?.to_string();
    let kind = match record.event_name() {
        Some(OperationType::Insert) => ChangeKind::Insert,
        Some(OperationType::Remove) => ChangeKind::Remove,
        _ => ChangeKind::Modify,
    };
    let ident = data
        .keys()
        .and_then(|k| k.get(attr::IDENT))
        .map(|v| match v {
            AttributeValue::S(s) => s.clone(),
            other => codec::from_attribute(&codec::from_stream_attribute(other)).to_string(),
        })
        .unwrap_or_default();
    // An instance's own registration is not a record, nor are the table's bookkeeping items
    // (`#sweep-cursor`, `#groups`): watchers follow the handler's records.
    if asg_lifecycle::registration::instance_of_key(&ident).is_some() || ident.starts_with('#') {
        return None;
    }
    let mut problem = None;
    let mut read = |image: Option<&HashMap<String, AttributeValue>>| {
        image.and_then(|i| to_record(i).map_err(|e| problem = Some(e)).ok())
    };
    let old = read(data.old_image());
    let new = read(data.new_image());
    Some(Change {
        token: after.with(shard, Some(&sequence)),
        kind,
        ident,
        old,
        new,
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_with_nested_maps_or_json_text_read_as_records() {
        let mut image = HashMap::new();
        image.insert("Ident".to_string(), AttributeValue::S("i-1".into()));
        image.insert("ItemStatus".to_string(), AttributeValue::S("ready".into()));
        image.insert("Version".to_string(), AttributeValue::N("3".into()));
        image.insert(
            "RecentEvents".to_string(),
            AttributeValue::S("[\"e1\"]".into()),
        );
        image.insert(
            "InstanceIp".to_string(),
            AttributeValue::S("10.0.0.5".into()),
        );
        image.insert("Gone".to_string(), AttributeValue::Bool(false));
        let record = to_record(&image).unwrap();
        assert_eq!((record.state(), record.version), ("ready", 3));
        assert_eq!(*record.recent_events, ["e1"]);
        assert_eq!(record.attribute_str("InstanceIp"), Some("10.0.0.5"));
        // A malformed handler attribute is left out and named, as when the table is read.
        image.insert("Version".to_string(), AttributeValue::S("three".into()));
        let record = to_record(&image).unwrap();
        assert_eq!(record.version, 0);
        assert_eq!(record.malformed[0].attribute, "Version");
        image.remove("Ident");
        assert!(to_record(&image).unwrap_err().contains("Ident"));
    }
}
