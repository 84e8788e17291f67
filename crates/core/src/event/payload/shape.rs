//! The JSON shapes of the payloads built here, declared once: a payload's tree (`json`) and its
//! text (`text`) are both serialized from its shape, so they cannot differ. Keys keep the order
//! declared here, which is the order AWS writes them in.

use std::borrow::Cow;

use serde::Serialize;

/// An EventBridge event of any source.
#[derive(Serialize)]
pub(super) struct Event<'a, D> {
    pub version: &'static str,
    pub id: &'a str,
    #[serde(rename = "detail-type")]
    pub detail_type: &'static str,
    pub source: &'static str,
    pub account: &'static str,
    pub time: String,
    pub region: &'static str,
    pub resources: [String; 1],
    pub detail: D,
}

/// An Auto Scaling lifecycle action's `detail`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct LifecycleDetail<'a> {
    pub lifecycle_action_token: Cow<'a, str>,
    pub auto_scaling_group_name: &'a str,
    pub lifecycle_hook_name: &'a str,
    #[serde(rename = "EC2InstanceId")]
    pub instance_id: &'a str,
    pub lifecycle_transition: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_metadata: Option<&'a str>,
    pub origin: &'a str,
    pub destination: &'a str,
}

/// The `detail` of one of SSM's two notifications.
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum CommandDetails<'a> {
    Command(CommandDetail<'a>),
    Invocation(InvocationDetail<'a>),
}

/// The `detail` of SSM's command notification: the command as a whole.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub(super) struct CommandDetail<'a> {
    pub command_id: &'a str,
    pub document_name: &'a str,
    pub expire_after: String,
    pub parameters: Parameters,
    pub requested_date_time: String,
    pub status: &'static str,
}

/// A command notification's parameters, elided.
#[derive(Serialize)]
pub(super) struct Parameters {
    pub commands: [&'static str; 1],
}

/// The `detail` of SSM's invocation notification: the command on one instance.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub(super) struct InvocationDetail<'a> {
    pub command_id: &'a str,
    pub document_name: &'a str,
    pub instance_id: &'a str,
    pub requested_date_time: String,
    pub status: &'static str,
}

/// An empty object (a scheduled event's `detail`, an SQS message's attributes).
#[derive(Serialize)]
pub(super) struct Empty {}

/// An SNS notification carrying `message`; `T` is the event's time as found in it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct SnsNotification<'a, T> {
    #[serde(rename = "Type")]
    pub kind: &'static str,
    pub message_id: &'a str,
    pub topic_arn: String,
    pub message: &'a str,
    pub timestamp: T,
}

/// The record of an SNS notification in a Lambda invocation.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct SnsRecord<'a, T> {
    pub event_source: &'static str,
    pub event_version: &'static str,
    pub event_subscription_arn: String,
    pub sns: SnsNotification<'a, T>,
}

/// An SQS message in a Lambda invocation.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SqsRecord<'a> {
    pub message_id: &'a str,
    pub receipt_handle: String,
    pub body: &'a str,
    pub attributes: SqsAttributes,
    pub message_attributes: Empty,
    pub event_source: &'static str,
    #[serde(rename = "eventSourceARN")]
    pub event_source_arn: String,
    pub aws_region: &'static str,
}

/// An SQS message's system attributes.
#[derive(Serialize)]
pub(super) struct SqsAttributes {
    #[serde(rename = "ApproximateReceiveCount")]
    pub approximate_receive_count: &'static str,
}

/// `{"Records": records}`.
#[derive(Serialize)]
pub(super) struct Records<T> {
    #[serde(rename = "Records")]
    pub records: T,
}
