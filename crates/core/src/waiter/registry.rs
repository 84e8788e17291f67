//! The waiters a program knows: built-in ones, the official waiters of service models (under
//! `SERVICE.Name`) and custom ones from files (custom names win).

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
    /// The official waiter model of a service, shipped with the adapters (botocore's
    /// `waiters-2.json`).
    Service,
    /// Loaded from this file.
    File(String),
}

/// One waiter the registry knows.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The name it is asked for by: `SERVICE.Name` for a service's waiter, else its own name.
    pub name: String,
    /// The service whose operation it calls (`ec2`, `ssm`), when it belongs to one.
    pub service: Option<String>,
    /// The waiter.
    pub config: WaiterConfig,
    /// Where it comes from.
    pub origin: Origin,
}

/// Waiters by name, with the operations they can call.
///
/// A service's waiters are registered under `SERVICE.Name` (`ec2.InstanceRunning`); a bare name
/// finds them too when no other waiter has it and only one service does. Their operation is
/// looked up as `SERVICE.Operation`, then as `Operation`.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    waiters: BTreeMap<String, Entry>,
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
            let entry = Entry {
                name: name.clone(),
                service: None,
                config,
                origin: origin.clone(),
            };
            self.waiters.insert(name, entry);
        }
    }

    /// Adds every waiter of a service's model under `SERVICE.Name`; the waiters call the
    /// service's operations.
    pub fn add_service_model(&mut self, service: &str, model: WaiterModel, origin: &Origin) {
        for (name, config) in model.waiters {
            let name = format!("{service}.{name}");
            let entry = Entry {
                name: name.clone(),
                service: Some(service.to_string()),
                config,
                origin: origin.clone(),
            };
            self.waiters.insert(name, entry);
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
        self.waiters.values().map(|e| (&e.config, &e.origin))
    }

    /// The waiters, sorted by the name they are asked for.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.waiters.values()
    }

    /// The configuration of the waiter called `name` (see [`Registry::resolve`]).
    #[must_use]
    pub fn config(&self, name: &str) -> Option<&WaiterConfig> {
        self.resolve(name).ok().map(|e| &e.config)
    }

    /// The waiter asked for as `name`: the waiter of that exact name, else the one service
    /// waiter of that bare name.
    ///
    /// # Errors
    /// [`Error::UnknownWaiter`], or [`Error::AmbiguousWaiter`] when several services have a
    /// waiter of that bare name.
    pub fn resolve(&self, name: &str) -> Result<&Entry> {
        if let Some(entry) = self.waiters.get(name) {
            return Ok(entry);
        }
        let candidates: Vec<&Entry> = self
            .waiters
            .values()
            .filter(|e| e.service.is_some() && e.config.name == name)
            .collect();
        match candidates.as_slice() {
            [one] => Ok(one),
            [] => Err(Error::UnknownWaiter {
                name: name.to_string(),
                known: self.waiters.keys().cloned().collect(),
            }),
            many => Err(Error::AmbiguousWaiter {
                name: name.to_string(),
                candidates: many.iter().map(|e| e.name.clone()).collect(),
            }),
        }
    }

    /// The waiter called `name` (see [`Registry::resolve`]), ready to run.
    ///
    /// # Errors
    /// [`Error::UnknownWaiter`], [`Error::AmbiguousWaiter`], or [`Error::UnknownOperation`]
    /// when no operation of that name was registered.
    pub fn get_waiter(&self, name: &str) -> Result<Waiter> {
        let entry = self.resolve(name)?;
        let config = &entry.config;
        let qualified = entry
            .service
            .as_ref()
            .and_then(|s| self.operations.get(&format!("{s}.{}", config.operation)));
        let operation = qualified
            .or_else(|| self.operations.get(&config.operation))
            .ok_or_else(|| Error::UnknownOperation {
                waiter: entry.name.clone(),
                operation: config.operation.clone(),
                known: self.operations.names().map(String::from).collect(),
            })?;
        Ok(Waiter::new(config.clone(), operation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(text: &str) -> WaiterModel {
        WaiterModel::parse("t.yaml", text).unwrap()
    }

    const RUNNING: &str = "version: 2\nwaiters:\n  Running:\n    operation: Describe\n    delay: 1\n    maxAttempts: 2\n    acceptors:\n      - {state: success, matcher: status, expected: 200}\n";

    #[test]
    fn a_service_waiter_is_found_by_its_qualified_and_its_unique_bare_name() {
        let mut registry = Registry::default();
        registry.add_service_model("ec2", model(RUNNING), &Origin::Service);
        assert_eq!(registry.resolve("ec2.Running").unwrap().name, "ec2.Running");
        assert_eq!(registry.resolve("Running").unwrap().name, "ec2.Running");
        assert_eq!(
            registry.resolve("Running").unwrap().service.as_deref(),
            Some("ec2")
        );
    }

    #[test]
    fn a_bare_name_two_services_share_is_ambiguous_and_names_both() {
        let mut registry = Registry::default();
        registry.add_service_model("ec2", model(RUNNING), &Origin::Service);
        registry.add_service_model("ecs", model(RUNNING), &Origin::Service);
        match registry.resolve("Running") {
            Err(Error::AmbiguousWaiter { candidates, .. }) => {
                assert_eq!(candidates, ["ec2.Running", "ecs.Running"]);
            }
            other => panic!("expected an ambiguity, got {other:?}"),
        }
        assert_eq!(registry.resolve("ecs.Running").unwrap().name, "ecs.Running");
    }

    #[test]
    fn a_custom_waiter_of_a_bare_name_wins_over_a_service_waiter() {
        let mut registry = Registry::default();
        registry.add_service_model("ec2", model(RUNNING), &Origin::Service);
        registry.add_model(model(RUNNING), &Origin::File("mine.yaml".into()));
        let entry = registry.resolve("Running").unwrap();
        assert_eq!(entry.origin, Origin::File("mine.yaml".into()));
        assert_eq!(entry.service, None);
    }

    #[tokio::test]
    async fn a_service_waiter_calls_the_qualified_operation_first() {
        use super::super::operation::{CallError, Operation};
        use super::super::runner::WaitOptions;
        use std::sync::Arc;
        struct Fixed(u16);
        #[async_trait::async_trait]
        impl Operation for Fixed {
            async fn call(&self, _: &serde_json::Value) -> Result<serde_json::Value, CallError> {
                Ok(serde_json::json!({ "Which": self.0 }))
            }
        }
        let which = "version: 2\nwaiters:\n  Running:\n    operation: Describe\n    delay: 0\n    maxAttempts: 1\n    acceptors:\n      - {state: success, matcher: path, argument: Which, expected: 2}\n";
        let mut registry = Registry::default();
        registry.add_service_model("ec2", model(which), &Origin::Service);
        let registry = registry.with_operations(
            Operations::new()
                .with("Describe", Arc::new(Fixed(1)))
                .with("ec2.Describe", Arc::new(Fixed(2))),
        );
        let waiter = registry.get_waiter("ec2.Running").unwrap();
        let options = WaitOptions::default();
        assert!(waiter.wait(&serde_json::Map::new(), &options).await.is_ok());
        let unknown = Registry {
            operations: Operations::new().with("ecs.Describe", Arc::new(Fixed(3))),
            ..registry.clone()
        };
        assert!(matches!(
            unknown.get_waiter("Running"),
            Err(Error::UnknownOperation { .. })
        ));
    }
}
