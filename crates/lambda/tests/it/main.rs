//! The integration tests of this crate, in one binary so that its dependencies link once.

mod lambda_e2e;
#[path = "../../../aws/tests/it/moto.rs"]
mod moto;
mod runtime_api;
mod template;

/// The workspace root: models, fixtures and the template are read from there.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
