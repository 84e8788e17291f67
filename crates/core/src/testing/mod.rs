//! The test harness of the workspace (feature `test-support`): one builder for a handler with
//! its store, AWS fake, clock and configuration, and the event shortcuts that tests deliver.
//!
//! Every crate's tests use it through their dev-dependencies
//! (`asg-lifecycle = { workspace = true, features = ["test-support"] }`); no production build
//! enables the feature.
//!
//! - [`Harness`] and [`HarnessBuilder`]: a [`LifecycleHandler`](crate::LifecycleHandler) over the
//!   in-memory store (or any [`StateStore`](crate::StateStore)), the recording
//!   [`LocalAws`](crate::aws::LocalAws) (or any [`AwsClients`](crate::aws::AwsClients)), an
//!   optional [`ManualClock`], and a [`HandlerConfig`](crate::HandlerConfig) that waits for no
//!   initial state unless told to;
//! - [`launch`], [`terminate`], [`command`], [`scheduled`]: decoded events, built by the
//!   production payload builders of [`event::payload`](crate::event::payload), in their argument
//!   order (event id, then instance, then what is specific);
//! - [`FaultyStore`]: a store whose chosen commits crash before or after their write.
//!
//! ```
//! # tokio_test_block_on(async {
//! use asg_lifecycle::testing::{Harness, launch};
//!
//! let h = Harness::builder().build();
//! h.register("i-1", "finished_cloud_init").await;
//! h.deliver_ok(&launch("launch-1", "i-1")).await;
//! assert_eq!(h.state("i-1").await, "join_cluster");
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

mod clock;
mod events;
mod faulty_store;
mod harness;

pub use clock::ManualClock;
pub use events::{command, launch, scheduled, terminate};
pub use faulty_store::{Crash, FaultyStore};
pub use harness::{Harness, HarnessBuilder, INSTANCE_IP, invocation_context};
