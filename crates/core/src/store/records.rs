//! The memory store's records: a hash map by `Ident` for the reads and writes of one record, and
//! the sparse active index in key order beside it, as DynamoDB keeps a table and its index.
//!
//! A point read or write is one hash lookup whatever the number of records (an ordered map walks
//! a path of nodes, each a cache miss in a large store); only a change of a record's membership
//! in the active index touches the ordered index.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::record::InstanceRecord;

/// See the module documentation.
#[derive(Default)]
pub(super) struct Records {
    by_ident: foldhash::HashMap<String, Arc<InstanceRecord>>,
    /// The `Ident`s of the records in the active index (`ActiveGroup` set), in order.
    active: BTreeSet<String>,
}

impl Records {
    /// The record with this `Ident`.
    pub(super) fn get(&self, ident: &str) -> Option<&Arc<InstanceRecord>> {
        self.by_ident.get(ident)
    }

    /// The number of records.
    pub(super) fn len(&self) -> usize {
        self.by_ident.len()
    }

    /// The number of records in the active index.
    pub(super) fn active_len(&self) -> usize {
        self.active.len()
    }

    /// Inserts or replaces a record; the one it replaced.
    pub(super) fn insert(&mut self, record: Arc<InstanceRecord>) -> Option<Arc<InstanceRecord>> {
        let active = record.active_group.is_some();
        let ident = record.ident.clone();
        self.index(&ident, active);
        self.by_ident.insert(ident, record)
    }

    /// Changes the record with this `Ident` in place (a new empty record when there is none) and
    /// keeps the active index in step.
    pub(super) fn update<T>(
        &mut self,
        ident: &str,
        change: impl FnOnce(&mut Arc<InstanceRecord>) -> T,
    ) -> T {
        let record = match self.by_ident.get_mut(ident) {
            Some(record) => record,
            None => self
                .by_ident
                .entry(ident.to_string())
                .or_insert_with(|| Arc::new(InstanceRecord::new(ident))),
        };
        let was_active = record.active_group.is_some();
        let answer = change(record);
        let active = record.active_group.is_some();
        if active != was_active {
            self.index(ident, active);
        }
        answer
    }

    fn index(&mut self, ident: &str, active: bool) {
        if active {
            self.active.insert(ident.to_string());
        } else {
            self.active.remove(ident);
        }
    }

    /// The records of the active index after `start` (from the first when `None`), in `Ident`
    /// order.
    pub(super) fn active_after<'a>(
        &'a self,
        start: Option<&str>,
    ) -> impl Iterator<Item = &'a Arc<InstanceRecord>> + 'a {
        let range = match start {
            Some(s) => self
                .active
                .range::<str, _>((std::ops::Bound::Excluded(s), std::ops::Bound::Unbounded)),
            None => self.active.range::<str, _>(..),
        };
        range.filter_map(|ident| self.by_ident.get(ident.as_str()))
    }

    /// Every record, in `Ident` order.
    pub(super) fn in_order(&self) -> Vec<&Arc<InstanceRecord>> {
        let mut all: Vec<&Arc<InstanceRecord>> = self.by_ident.values().collect();
        all.sort_unstable_by(|a, b| a.ident.cmp(&b.ident));
        all
    }
}
