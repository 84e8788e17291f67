//! The Rust model of `crates/core/examples/rust_model.rs` as an AWS Lambda: the whole `main` is
//! one call to [`asg_lifecycle_lambda::run`]. Configuration comes from the environment
//! (`TABLE_NAME`, `GROUP_NAMES`, `SWEEP_RULE`; see `docs/deploy.md`).
//!
//! A binary target (`rust-model-handler`), so SAM builds it: set the template's
//! `BuildProperties.Binary: rust-model-handler` (it becomes `cargo lambda build --bin`). Your own
//! model goes in a binary of your own crate with this `main`.

#[path = "../../../core/examples/rust_model.rs"]
#[allow(dead_code)]
mod rust_model;

use rust_model::DatabaseReplica;

/// mimalloc: the handler's small, short-lived allocations cost about half of glibc's.
#[global_allocator]
static GLOBAL: asg_lifecycle_alloc::Allocator = asg_lifecycle_alloc::Allocator;

#[tokio::main]
async fn main() -> Result<(), asg_lifecycle_lambda::Error> {
    let model = DatabaseReplica {
        inventory: std::sync::Arc::default(),
    };
    asg_lifecycle_lambda::run(&model).await
}
