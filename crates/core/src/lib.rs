//! # asg-lifecycle
//!
//! Drive every EC2 Auto Scaling instance through a declared lifecycle state machine.
//!
//! Events ([`event`]) become stimuli; the instance's record ([`record`]) is loaded from a
//! [`store::StateStore`]; the pure [`machine::Machine::step`] decides which trigger fires; the
//! [`handler::LifecycleHandler`] runs the tasks ([`tasks`], through the [`aws`] traits) and
//! persists every transition with a conditional write. The [`invocation::Invoker`] drives it for a
//! whole payload (direct, SNS or SQS) within the deadline and answers the invoking service: the
//! one invocation path of the Lambda, the CLI and the simulator. See `ARCHITECTURE.md` for the
//! guarantees.
//!
//! This crate is the core: it links no AWS SDK. The DynamoDB store, the Streams feed and the SDK
//! implementations of the AWS traits are in `asg-lifecycle-aws`; the Lambda in
//! `asg-lifecycle-lambda`; the simulator in `asg-lifecycle-sim`.
//!
//! With the `test-support` feature, `testing` holds the test harness (a handler
//! over the in-memory store, the recording AWS fake and a manual clock, built by one builder)
//! that every crate's tests use; production builds do not enable it.
#![warn(missing_docs)]

pub mod aws;
pub mod diag;
pub mod event;
pub mod handler;
pub mod invocation;
pub mod machine;
pub mod record;
pub mod redact;
pub mod registration;
pub mod status;
pub mod store;
pub mod tasks;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod wait;
pub mod waiter;
pub mod watch;
mod yaml;

pub use event::{Event, Stimulus};
pub use handler::{HandlerConfig, LifecycleHandler, Outcome};
pub use invocation::Invoker;
pub use machine::{Decision, Graph, Machine, Model};
pub use record::InstanceRecord;
pub use store::{MemoryStore, StateStore};
