//! Test support for the adapters (feature `test-support`), shared by the tests of this crate and
//! of the Lambda: a DynamoDB on `moto_server` ([`moto`]) and SDK clients answering from
//! `aws-smithy-mocks` rules ([`sdk_mocks`]).
//!
//! Enabled by dev-dependencies only
//! (`asg-lifecycle-aws = { workspace = true, features = ["test-support"] }`); the harness of the
//! handler itself is the core's `asg_lifecycle::testing`.

pub mod moto;
pub mod sdk_mocks;
