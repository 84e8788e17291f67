//! The integration tests of this crate, in one binary so that its dependencies link once.

mod cli_api;
mod cli_groups;
mod cli_interrupt;
mod cli_invoke;
mod cli_invoke_real;
mod cli_output;
mod cli_wait;
mod cli_waiter;
mod sim;
mod validation;

/// The workspace root: models, fixtures and the template are read from there.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
