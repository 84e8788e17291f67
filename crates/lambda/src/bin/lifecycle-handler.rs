//! The AWS Lambda function: the file-defined model (`TRANSITIONS_FILE`, else the bundled
//! `transitions/cluster-node.yaml`) served by [`asg_lifecycle_lambda::run_from_env`].
//! See `docs/deploy.md` and `template.yaml`.

/// mimalloc: the handler's small, short-lived allocations cost about half of glibc's.
#[global_allocator]
static GLOBAL: asg_lifecycle_alloc::Allocator = asg_lifecycle_alloc::Allocator;

#[tokio::main]
async fn main() -> Result<(), asg_lifecycle_lambda::Error> {
    asg_lifecycle_lambda::run_from_env().await
}
