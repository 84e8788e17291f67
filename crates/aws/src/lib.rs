//! # asg-lifecycle-aws
//!
//! The adapters of asg-lifecycle over the AWS SDK for Rust: each implements a trait of the core
//! (`asg-lifecycle`), which links no SDK.
//!
//! | core trait | adapter |
//! |---|---|
//! | `store::StateStore` | [`DynamoStore`] (one table, conditional `UpdateItem` per transition) |
//! | `watch::ChangeFeed` | [`StreamsFeed`] (the table's DynamoDB Stream) |
//! | `aws::AutoScalingApi`, `aws::SsmApi` | [`SdkAutoScaling`], [`SdkSsm`] ([`aws_clients`]) |
//! | `invocation::DeadLetters` | [`SqsDeadLetters`] (the dead-letter queue, `SendMessage`) |
//! | `status::GroupMembership` | [`AutoScalingMembership`] |
//! | `waiter::Operation` | [`sdk_operations`] (`GetCommandInvocation`, `DescribeAutoScalingInstances`, `GetItem`) |
//!
//! | `waiter::Operation` | `api::ModelOperation` (feature `api`): any operation of a service model (botocore `service-2.json`), SigV4-signed |
//!
//! [`table`] creates the table the store expects, and [`codec`] is the one DynamoDB
//! attribute-value codec all of them read and write items with. With the `test-support`
//! feature, `testing` holds the helpers of the adapters' tests (`moto_server`,
//! `aws-smithy-mocks`).
#![warn(missing_docs)]

#[cfg(feature = "api")]
pub mod api;
pub mod codec;
pub mod dynamo;
mod membership;
pub mod sdk;
mod streams;
pub mod table;
#[cfg(feature = "test-support")]
pub mod testing;
mod waiter;

pub use aws_config::SdkConfig;
pub use codec::{parse_attribute, render_attribute};
pub use dynamo::{DynamoStore, RetryPolicy};
pub use membership::AutoScalingMembership;
pub use sdk::{
    SdkAutoScaling, SdkSsm, SqsDeadLetters, aws_clients, aws_clients_from, aws_clients_from_env,
    load_sdk_config,
};
pub use streams::StreamsFeed;
pub use waiter::{DescribeAutoScalingInstances, GetCommandInvocation, GetItem, sdk_operations};
