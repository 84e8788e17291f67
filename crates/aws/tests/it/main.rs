//! The integration tests of this crate, in one binary so that its dependencies link once.

mod aws_sdk_describe;
mod aws_sdk_handler;
mod aws_sdk_shapes;
mod dead_letters_sqs;
mod dynamo_handler;
mod dynamo_retry;
mod group_registry;
mod store_contract;
mod waiter_sdk;
mod watch_streams;

/// The workspace root: models, fixtures and the template are read from there.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
