//! The waiters a program knows: built-in ones and custom ones from files (custom names win).

use std::collections::BTreeMap;
use std::path::Path;

use crate::machine::ValidationReport;

use super::model::{WaiterConfig, WaiterModel};
use super::operation::Operations;
use super::runner::Waiter;
use super::{Error, Result};

/// The built-in waiter model, shipped in the crate.
pub const BUILTIN_WAITERS: &str = include_str!("builtin.yaml");

/// Where a waiter comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Shipped in the crate ([`BUILTIN_WAITERS`]).
    Builtin,
    /// Loaded from this file.
    File(String),
}

/// Waiters by name, with the operations they can call.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    waiters: BTreeMap<String, (WaiterConfig, Origin)>,
    operations: Operations,
}

impl Registry {
    /// The built-in waiters, with no operations yet.
    ///
    /// # Panics
    /// Never: the built-in model is checked by a test.
    #[must_use]
    pub fn builtin() -> Self {
        let model = WaiterModel::parse("<builtin>/waiters.yaml", BUILTIN_WAITERS)
            .expect("the built-in waiter model is valid");
        let mut registry = Self::default();
        registry.add_model(model, &Origin::Builtin);
        registry
    }

    /// Sets the operations waiters call.
    #[must_use]
    pub fn with_operations(mut self, operations: Operations) -> Self {
        self.operations = operations;
        self
    }

    /// Adds every waiter of `model`; a waiter with a name already known replaces it.
    pub fn add_model(&mut self, model: WaiterModel, origin: &Origin) {
        for (name, config) in model.waiters {
            self.waiters.insert(name, (config, origin.clone()));
        }
    }

    /// Loads a custom waiter file (JSON or YAML) and adds its waiters.
    ///
    /// # Errors
    /// Every problem found in the file, located; nothing is added then.
    pub fn load_file(&mut self, path: &Path) -> Result<(), ValidationReport> {
        let model = WaiterModel::load(path)?;
        self.add_model(model, &Origin::File(path.display().to_string()));
        Ok(())
    }

    /// The waiters, sorted by name, with their origin.
    pub fn iter(&self) -> impl Iterator<Item = (&WaiterConfig, &Origin)> {
        self.waiters.values().map(|(c, o)| (c, o))
    }

    /// The configuration of the waiter called `name`.
    #[must_use]
    pub fn config(&self, name: &str) -> Option<&WaiterConfig> {
        self.waiters.get(name).map(|(c, _)| c)
    }

    /// The waiter called `name`, ready to run.
    ///
    /// # Errors
    /// [`Error::UnknownWaiter`], or [`Error::UnknownOperation`] when no operation of that name
    /// was registered.
    pub fn get_waiter(&self, name: &str) -> Result<Waiter> {
        let Some((config, _)) = self.waiters.get(name) else {
            return Err(Error::UnknownWaiter {
                name: name.to_string(),
                known: self.waiters.keys().cloned().collect(),
            });
        };
        let operation =
            self.operations
                .get(&config.operation)
                .ok_or_else(|| Error::UnknownOperation {
                    waiter: name.to_string(),
                    operation: config.operation.clone(),
                    known: self.operations.names().map(String::from).collect(),
                })?;
        Ok(Waiter::new(config.clone(), operation))
    }
}
