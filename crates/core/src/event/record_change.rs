//! Stream records of instances' registration items, as the event source mapping delivers them.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::payload::{ACCOUNT, REGION, default_time};
use crate::event::Event;

/// A change of an instance's registration item (keyed by its ARN) in the table's DynamoDB stream
/// (`NEW_AND_OLD_IMAGES`), as the function's event source mapping delivers it: the status going
/// from `old` (`None`: an insert) to `new`, with the instance's own string attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordChange {
    sequence: String,
    instance: String,
    old: Option<String>,
    new: String,
    at: DateTime<Utc>,
    attributes: Vec<(String, String)>,
}

impl RecordChange {
    /// The change with sequence number `sequence` of `instance`'s status to `new`.
    #[must_use]
    pub fn new(sequence: &str, instance: &str, new: &str) -> Self {
        Self {
            sequence: sequence.to_string(),
            instance: instance.to_string(),
            old: None,
            new: new.to_string(),
            at: default_time(),
            attributes: Vec::new(),
        }
    }

    /// With a string attribute the instance registered (in both images).
    #[must_use]
    pub fn with_attribute(mut self, name: &str, value: &str) -> Self {
        self.attributes.push((name.to_string(), value.to_string()));
        self
    }

    /// The registration key of the instance: its ARN.
    #[must_use]
    pub fn key(&self) -> String {
        crate::registration::key_of(
            &crate::registration::key_prefix(REGION, ACCOUNT),
            &self.instance,
        )
    }

    /// The status before (the change is a modification).
    #[must_use]
    pub fn from(mut self, old: &str) -> Self {
        self.old = Some(old.to_string());
        self
    }

    /// When the change happened.
    #[must_use]
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = at;
        self
    }

    /// The stream record.
    #[must_use]
    pub fn record(&self) -> Value {
        let key = self.key();
        let image = |status: &str| {
            let mut image = json!({"Ident": {"S": key}, "ItemStatus": {"S": status}});
            for (name, value) in &self.attributes {
                image[name] = json!({ "S": value });
            }
            image
        };
        #[allow(clippy::cast_precision_loss)]
        let created = self.at.timestamp_millis() as f64 / 1000.0;
        // The images are moved into place, not given to `json!`, which would serialize them
        // into new trees; the keys keep `json!`'s order.
        let mut dynamodb = json!({
            "ApproximateCreationDateTime": created,
            "Keys": {"Ident": {"S": key}},
        });
        dynamodb["NewImage"] = image(&self.new);
        dynamodb["SequenceNumber"] = self.sequence.as_str().into();
        dynamodb["SizeBytes"] = 120.into();
        dynamodb["StreamViewType"] = "NEW_AND_OLD_IMAGES".into();
        if let Some(old) = &self.old {
            dynamodb["OldImage"] = image(old);
        }
        let mut record = json!({
            "eventID": format!("ev-{}", self.sequence),
            "eventName": if self.old.is_some() { "MODIFY" } else { "INSERT" },
            "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": REGION,
        });
        record["dynamodb"] = dynamodb;
        record["eventSourceARN"] = format!(
            "arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/asg-lifecycle/stream/2026-01-01T00:00:00.000"
        )
        .into();
        record
    }

    /// The invocation payload: a stream batch of this one record.
    #[must_use]
    pub fn json(&self) -> Value {
        let mut batch = serde_json::Map::with_capacity(1);
        batch.insert("Records".into(), Value::Array(vec![self.record()]));
        Value::Object(batch)
    }

    /// The decoded event.
    ///
    /// # Panics
    /// Never for a built payload: each kind is decoded by this module's tests.
    #[must_use]
    pub fn event(&self) -> Event {
        let invocation = crate::event::decode_invocation(&self.json())
            .unwrap_or_else(|e| panic!("a built stream record decodes: {e}"));
        invocation
            .messages
            .into_iter()
            .next()
            .and_then(|m| m.event.ok())
            .unwrap_or_else(|| panic!("a built stream record decodes"))
    }
}
