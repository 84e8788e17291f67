//! The Rust model of `examples/rust_model.rs` as an AWS Lambda: the whole `main` is one call to
//! [`asg_lifecycle_lambda::run`]. Configuration comes from the environment (`TABLE_NAME`,
//! `GROUP_NAMES`, `SWEEP_RULE`; see `docs/deploy.md`).
//!
//! Build it for Lambda with `cargo lambda build --release --arm64 --example rust_model_lambda`,
//! or point the template's `BuildProperties.Binary` at a binary of your own crate with this
//! `main`.

#[path = "../../core/examples/rust_model.rs"]
#[allow(dead_code)]
mod rust_model;

use rust_model::DatabaseReplica;

#[tokio::main]
async fn main() -> Result<(), asg_lifecycle_lambda::Error> {
    let model = DatabaseReplica {
        inventory: std::sync::Arc::default(),
    };
    asg_lifecycle_lambda::run(&model).await
}
