//! The memory store's records: a hash map by `Ident` for the reads and writes of one record, and
//! the sparse active index in key order beside it, as DynamoDB keeps a table and its index.
//!
//! A point read or write is one hash lookup whatever the number of records (an ordered map walks
//! a path of nodes, each a cache miss in a large store); only a change of a record's membership
//! in the active index touches the ordered index.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::Arc;

use crate::record::InstanceRecord;

/// An `Ident` of the active index, ordered as the string is but compared first by its leading
/// 16 bytes read as one number: `Ident`s differ early, so finding a place in the index compares
/// numbers, not strings (a call to `memcmp` each).
#[derive(Clone, Debug, PartialEq, Eq)]
struct ActiveKey {
    /// The first 16 bytes, big-endian, zero-padded: ordered as the strings are, up to ties.
    lead: u128,
    ident: Box<str>,
}

impl ActiveKey {
    fn of(ident: &str) -> Self {
        let mut lead = [0_u8; 16];
        let n = ident.len().min(16);
        lead[..n].copy_from_slice(&ident.as_bytes()[..n]);
        Self {
            lead: u128::from_be_bytes(lead),
            ident: ident.into(),
        }
    }
}

impl Ord for ActiveKey {
    /// The strings' order: where the padded leads differ, the first difference is a byte of
    /// both strings, or the end of the shorter one (a zero pad against a byte of the longer,
    /// which sorts after its own prefix); where they tie, the strings decide.
    fn cmp(&self, other: &Self) -> Ordering {
        self.lead
            .cmp(&other.lead)
            .then_with(|| self.ident.cmp(&other.ident))
    }
}

impl PartialOrd for ActiveKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// See the module documentation.
#[derive(Default)]
pub(super) struct Records {
    by_ident: foldhash::HashMap<String, Arc<InstanceRecord>>,
    /// The `Ident`s of the records in the active index (`ActiveGroup` set), in order.
    active: BTreeSet<ActiveKey>,
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
            self.active.insert(ActiveKey::of(ident));
        } else {
            self.active.remove(&ActiveKey::of(ident));
        }
    }

    /// The records of the active index after `start` (from the first when `None`), in `Ident`
    /// order.
    pub(super) fn active_after<'a>(
        &'a self,
        start: Option<&str>,
    ) -> impl Iterator<Item = &'a Arc<InstanceRecord>> + 'a {
        let after = start.map_or(Bound::Unbounded, |s| Bound::Excluded(ActiveKey::of(s)));
        self.active
            .range((after, Bound::Unbounded))
            .filter_map(|key| self.by_ident.get(&*key.ident))
    }

    /// Every record, in `Ident` order.
    pub(super) fn in_order(&self) -> Vec<&Arc<InstanceRecord>> {
        let mut all: Vec<&Arc<InstanceRecord>> = self.by_ident.values().collect();
        all.sort_unstable_by(|a, b| a.ident.cmp(&b.ident));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::ActiveKey;

    #[test]
    fn active_keys_sort_as_their_strings() {
        let mut idents: Vec<String> = [
            "",
            "a",
            "ab",
            "ab\0",
            "ab\0x",
            "abc",
            "b",
            "i-0",
            "i-00",
            "i-0123456789abcdef",
            "i-0123456789abcdef0",
            "i-0123456789abcdef1",
            "i-0123456789abcdee9",
            "i-0123456789abcde",
            "0123456789abcdef",
            "0123456789abcdef\0",
            "0123456789abcdeg",
            "é",
            "e\u{301}",
            "z",
            "\u{10FFFF}",
            "\u{7f}",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        // Every pair compares as its strings do.
        for a in &idents {
            for b in &idents {
                assert_eq!(
                    ActiveKey::of(a).cmp(&ActiveKey::of(b)),
                    a.cmp(b),
                    "{a:?} against {b:?}"
                );
            }
        }
        let mut keys: Vec<ActiveKey> = idents.iter().map(|i| ActiveKey::of(i)).collect();
        keys.sort();
        idents.sort();
        let sorted: Vec<&str> = keys.iter().map(|k| &*k.ident).collect();
        assert_eq!(sorted, idents);
    }
}
