//! The group's instances by id: iterated in id order, as a `BTreeMap` keyed by id would be,
//! and looked up by hash (instance ids share a long prefix, which makes every comparison of an
//! ordered map's search a long one; a run looks instances up on every simulated AWS call).

use std::ops::Index;

use super::group::SimInstance;

/// Instances in id order, with a hash index.
#[derive(Clone, Debug, Default)]
pub struct Instances {
    /// The ids, sorted.
    ids: Vec<String>,
    /// The instances, in the order of `ids`.
    items: Vec<SimInstance>,
    /// Where each id is in `ids`.
    index: foldhash::HashMap<String, usize>,
}

impl Instances {
    /// Adds an instance, or replaces the one of that id.
    pub fn insert(&mut self, ident: String, instance: SimInstance) {
        if let Some(&at) = self.index.get(&ident) {
            self.items[at] = instance;
            return;
        }
        // Launches come in id order: appending is the usual case.
        let at = if self.ids.last().is_none_or(|last| *last < ident) {
            self.ids.len()
        } else {
            self.ids.partition_point(|id| *id < ident)
        };
        self.ids.insert(at, ident.clone());
        self.items.insert(at, instance);
        if at + 1 < self.ids.len() {
            for (i, id) in self.ids.iter().enumerate().skip(at + 1) {
                self.index.insert(id.clone(), i);
            }
        }
        self.index.insert(ident, at);
    }

    /// The instance of an id.
    #[must_use]
    pub fn get(&self, ident: &str) -> Option<&SimInstance> {
        self.index.get(ident).map(|&at| &self.items[at])
    }

    /// The instance of an id, to change.
    pub fn get_mut(&mut self, ident: &str) -> Option<&mut SimInstance> {
        self.index.get(ident).map(|&at| &mut self.items[at])
    }

    /// True when the id is an instance of the group.
    #[must_use]
    pub fn contains_key(&self, ident: &str) -> bool {
        self.index.contains_key(ident)
    }

    /// The instances with their ids, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &SimInstance)> {
        self.ids.iter().zip(&self.items)
    }

    /// The ids, in order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.ids.iter()
    }

    /// The instances, in id order.
    pub fn values(&self) -> impl Iterator<Item = &SimInstance> {
        self.items.iter()
    }

    /// How many instances the group has launched.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True before the first launch.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

impl<'a> IntoIterator for &'a Instances {
    type Item = (&'a String, &'a SimInstance);
    type IntoIter = std::iter::Zip<std::slice::Iter<'a, String>, std::slice::Iter<'a, SimInstance>>;

    fn into_iter(self) -> Self::IntoIter {
        self.ids.iter().zip(&self.items)
    }
}

impl<Q: AsRef<str> + ?Sized> Index<&Q> for Instances {
    type Output = SimInstance;

    fn index(&self, ident: &Q) -> &SimInstance {
        let ident = ident.as_ref();
        self.get(ident)
            .unwrap_or_else(|| panic!("no instance `{ident}` in the group"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::Lifecycle;

    fn instance(launched_at: i64) -> SimInstance {
        SimInstance {
            lifecycle: Lifecycle::PendingWait,
            actions: Vec::new(),
            launched_at,
            cloud_init_never: false,
        }
    }

    #[test]
    fn iterates_in_id_order_whatever_the_insertion_order() {
        let mut instances = Instances::default();
        for (ident, at) in [("i-2", 2), ("i-4", 4), ("i-1", 1), ("i-3", 3)] {
            instances.insert(ident.to_string(), instance(at));
        }
        instances.insert("i-3".to_string(), instance(33));
        let order: Vec<(&str, i64)> = instances
            .iter()
            .map(|(id, i)| (id.as_str(), i.launched_at))
            .collect();
        assert_eq!(order, [("i-1", 1), ("i-2", 2), ("i-3", 33), ("i-4", 4)]);
        for (id, at) in [("i-1", 1), ("i-2", 2), ("i-3", 33), ("i-4", 4)] {
            assert_eq!(instances[id].launched_at, at);
        }
        assert!(instances.get("i-5").is_none());
        assert_eq!(instances.len(), 4);
    }
}
