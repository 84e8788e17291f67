//! The integration tests of this crate, in one binary so that its dependencies link once.

mod lambda_e2e;
mod runtime_api_and_fake_aws;
mod target_health;
mod template;

/// The workspace root: models, fixtures and the template are read from there.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
