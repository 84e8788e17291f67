//! The integration tests of this crate, in one binary so that its dependencies link once.

mod adoption;
mod async_conditions;
mod busy;
mod callbacks;
mod chain_support;
mod clock_reading;
mod command_data;
mod conflicts;
mod deadline;
mod events;
mod failure_handling;
mod handler_lifecycle;
mod handler_matrix;
mod handler_recovery;
mod malformed_records;
mod properties;
mod register_script;
mod registration;
mod rust_model;
mod step_view;
mod store_requests;
mod stored_values;
mod sweep;
mod waiter;
mod warm_pool;

/// The workspace root: models, fixtures and the template are read from there.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
