//! Clients of the other AWS services a model needs (ELBv2, ECS, EKS, ...), by type.
//!
//! The core knows Auto Scaling and SSM only; a Rust model that asks another service brings its
//! own client, built by the adapter from the shared SDK configuration
//! (`asg_lifecycle_lambda::run_with`), and reaches it from its conditions and tasks with
//! [`Extensions::get`].

use std::any::{Any, TypeId};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A value per type, shared.
#[derive(Clone, Default)]
pub struct Extensions(Arc<BTreeMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl Extensions {
    /// With `value` (replacing one of the same type).
    #[must_use]
    pub fn with<T: Any + Send + Sync>(self, value: T) -> Self {
        let mut map = Arc::unwrap_or_clone(self.0);
        map.insert(TypeId::of::<T>(), Arc::new(value));
        Self(Arc::new(map))
    }

    /// The value of type `T`, if there is one.
    #[must_use]
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.0
            .get(&TypeId::of::<T>())
            .and_then(|value| value.downcast_ref::<T>())
    }

    /// How many values there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Extensions({} values)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::Extensions;

    #[derive(Debug, PartialEq)]
    struct Elb(&'static str);

    #[test]
    fn a_value_is_found_by_its_type() {
        let extensions = Extensions::default().with(Elb("elbv2")).with(7u32);
        assert_eq!(extensions.get::<Elb>(), Some(&Elb("elbv2")));
        assert_eq!(extensions.get::<u32>(), Some(&7));
        assert_eq!(extensions.get::<String>(), None);
        assert_eq!(
            extensions.with(Elb("other")).get::<Elb>(),
            Some(&Elb("other"))
        );
    }
}
