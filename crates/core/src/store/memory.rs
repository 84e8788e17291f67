//! The in-memory store, loadable from and savable to a JSON file.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::Serializer as _;
use serde::ser::SerializeMap;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::io::Write as _;

use super::records::Records;
use super::{Commit, Page, Result, StateStore, StoreError};
use crate::record::{InstanceRecord, Membership, StoredItem, attr};
use crate::registration::Registration;

/// Records in memory, behind one lock; the same semantics as the DynamoDB store.
///
/// The JSON file form is a map from `Ident` to the record's attributes:
/// `{"i-0abc": {"ItemStatus": "finished_cloud_init", "InstanceIp": "10.0.0.5"}}`.
///
/// Every write is also appended to a bounded change log (the in-memory counterpart of a DynamoDB
/// stream), read with [`MemoryStore::changes_after`]. The log shares the records it names with
/// the store (a record is copied only when it is written again while the log still holds its
/// previous image), and keeps of the record before a write only its group membership: what a
/// watcher reads.
#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<Records>,
    reads: AtomicU64,
    writes: AtomicU64,
    log: Mutex<ChangeLog>,
    sweep_cursor: Mutex<Option<String>>,
    /// Instances' own registration items, by instance id (in memory only: not in the file).
    registrations: Mutex<BTreeMap<String, Map<String, Value>>>,
}

/// One write in the change log: what a watcher needs of it.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedChange {
    /// Position in the log, from 1, increasing by one per write.
    pub sequence: u64,
    /// The record after the write (shared with the store while it is not written again).
    pub new: Arc<InstanceRecord>,
    /// True when the write created the record.
    pub created: bool,
    /// The record's group membership before the write, when the write changed it (a watcher of
    /// a group still reports the write that took a record out of it); `None` when the write
    /// created the record or left its membership as it was.
    pub left: Option<Membership>,
}

impl LoggedChange {
    /// The record's `Ident`.
    #[must_use]
    pub fn ident(&self) -> &str {
        &self.new.ident
    }

    /// The group membership before the write (`None`: the record did not exist).
    #[must_use]
    pub fn old_membership(&self) -> Option<Membership> {
        if self.created {
            None
        } else {
            Some(
                self.left
                    .clone()
                    .unwrap_or_else(|| Membership::of(&self.new)),
            )
        }
    }
}

/// The bounded change log: the newest `capacity` writes.
struct ChangeLog {
    capacity: usize,
    last: u64,
    entries: VecDeque<LoggedChange>,
}

impl Default for ChangeLog {
    fn default() -> Self {
        // 1024 writes: minutes of a busy simulated group, small enough to keep in memory.
        Self {
            capacity: 1024,
            last: 0,
            entries: VecDeque::new(),
        }
    }
}

impl ChangeLog {
    /// Logs a write of `new`; `old` is the record's membership before it (`None`: created, or
    /// no log kept).
    fn append(&mut self, old: Option<Membership>, new: &Arc<InstanceRecord>) {
        self.last += 1;
        if self.capacity == 0 {
            return;
        }
        let change = LoggedChange {
            sequence: self.last,
            new: new.clone(),
            created: old.is_none(),
            left: old.filter(|m| *m != Membership::of(new)),
        };
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(change);
    }
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose change log keeps the newest `capacity` writes (at least one).
    #[must_use]
    pub fn with_change_log_capacity(capacity: usize) -> Self {
        let store = Self::new();
        store.log_lock().capacity = capacity.max(1);
        store
    }

    /// An empty store without a change log: the fastest, for the simulator and benchmarks
    /// (nothing can watch it).
    #[must_use]
    pub fn without_change_log() -> Self {
        let store = Self::new();
        store.log_lock().capacity = 0;
        store
    }

    /// The sequence number of the newest write (0 before the first).
    #[must_use]
    pub fn last_sequence(&self) -> u64 {
        self.log_lock().last
    }

    /// Up to `limit` logged writes after `sequence`, oldest first; `None` when `sequence` is no
    /// longer in the log's window (writes after it were dropped) or was never written.
    #[must_use]
    pub fn changes_after(&self, sequence: u64, limit: usize) -> Option<Vec<LoggedChange>> {
        let log = self.log_lock();
        let first = log.entries.front().map_or(log.last + 1, |c| c.sequence);
        if sequence > log.last || sequence + 1 < first {
            return None;
        }
        // Sequences are consecutive: the entries after `sequence` start at a known index.
        let skip = usize::try_from((sequence + 1).saturating_sub(first)).unwrap_or(usize::MAX);
        Some(log.entries.range(skip..).take(limit).cloned().collect())
    }

    fn log_lock(&self) -> std::sync::MutexGuard<'_, ChangeLog> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Records> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Builds a store from the JSON file form.
    ///
    /// # Errors
    /// When the value is not a map of records or a record is malformed.
    pub fn from_json(value: &Value) -> Result<Self> {
        let map = value.as_object().ok_or_else(|| StoreError::Other {
            message: "the store file must be a JSON object mapping Ident to attributes".into(),
        })?;
        let store = Self::new();
        {
            let mut records = store.lock();
            for (ident, item) in map {
                let item = item.as_object().ok_or_else(|| StoreError::Other {
                    message: format!("record `{ident}` must be a JSON object"),
                })?;
                records.insert(Arc::new(InstanceRecord::from_item(ident, item)?));
            }
        }
        Ok(store)
    }

    /// Reads a store file (typed: no `serde_json::Value` tree for items in the form the
    /// handler writes).
    ///
    /// # Errors
    /// When the file cannot be read or is malformed.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| StoreError::Other {
            message: format!("failed to read {}: {e}", path.display()),
        })?;
        let items: BTreeMap<String, &RawValue> =
            serde_json::from_str(&text).map_err(|e| StoreError::Other {
                message: format!(
                    "failed to parse {}: the store file must be a JSON object mapping Ident to \
                     attributes: {e}",
                    path.display()
                ),
            })?;
        let store = Self::new();
        {
            let mut records = store.lock();
            for (ident, item) in items {
                if !item.get().starts_with('{') {
                    return Err(StoreError::Other {
                        message: format!("record `{ident}` must be a JSON object"),
                    });
                }
                let record = InstanceRecord::from_item_json(&ident, item.get())?;
                records.insert(Arc::new(record));
            }
        }
        Ok(store)
    }

    /// The JSON file form.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let records = self.lock();
        let mut map = Map::new();
        for record in records.in_order() {
            let mut item = record.to_item();
            item.remove(attr::IDENT);
            map.insert(record.ident.clone(), Value::Object(item));
        }
        Value::Object(map)
    }

    /// Writes the store file (atomically: a temporary file renamed over it), each record
    /// serialized field by field ([`StoredItem`]).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        let failed = |e: &dyn std::fmt::Display| StoreError::Other {
            message: format!("failed to write {}: {e}", path.display()),
        };
        let tmp = path.with_extension("json.tmp");
        let file = std::fs::File::create(&tmp).map_err(|e| failed(&e))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
        {
            let records = self.lock();
            let mut serializer = serde_json::Serializer::pretty(&mut out);
            let mut map = serializer
                .serialize_map(Some(records.len()))
                .map_err(|e| failed(&e))?;
            for record in records.in_order() {
                map.serialize_entry(&record.ident, &StoredItem(record))
                    .map_err(|e| failed(&e))?;
            }
            SerializeMap::end(map).map_err(|e| failed(&e))?;
        }
        out.write_all(b"\n").map_err(|e| failed(&e))?;
        out.flush().map_err(|e| failed(&e))?;
        drop(out);
        std::fs::rename(&tmp, path).map_err(|e| failed(&e))
    }

    /// Every record, in key order.
    #[must_use]
    pub fn all(&self) -> Vec<InstanceRecord> {
        self.lock()
            .in_order()
            .into_iter()
            .map(|r| InstanceRecord::clone(r))
            .collect()
    }

    /// Inserts or replaces a record whole (test and simulator setup).
    pub fn put(&self, record: InstanceRecord) {
        let mut records = self.lock();
        let record = Arc::new(record);
        let old = records.insert(record.clone());
        self.log_lock()
            .append(old.as_deref().map(Membership::of), &record);
    }

    /// The conditional write `commit`: checked against the stored record, then made by `apply`
    /// in place (unless the change log still holds the record's previous image); the record as
    /// written.
    fn write<T>(
        &self,
        commit: &Commit,
        apply: impl FnOnce(&mut InstanceRecord),
        answer: impl FnOnce(&InstanceRecord) -> T,
    ) -> Result<T> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        let mut records = self.lock();
        let current = records.get(commit.ident.as_str()).map(|r| &**r);
        commit.check(current)?;
        let mut log = self.log_lock();
        // The membership before the write, for the log (nothing to keep without one).
        let old = current.filter(|_| log.capacity > 0).map(Membership::of);
        records.update(&commit.ident, |record| {
            apply(Arc::make_mut(record));
            log.append(old, record);
            Ok(answer(record))
        })
    }

    /// [`StateStore::commit_taking`]'s write, answered by `answer` from the record as written.
    fn write_taking<T>(
        &self,
        commit: &mut Commit,
        answer: impl FnOnce(&InstanceRecord) -> T,
    ) -> Result<T> {
        let mut moved = Some(commit.take_moved());
        let written = self.write(
            commit,
            |record| {
                commit.apply(record);
                if let Some(moved) = moved.take() {
                    moved.apply(record);
                }
            },
            answer,
        );
        if let Some(moved) = moved {
            commit.put_back(moved);
        }
        written
    }

    /// Reads and writes served so far: `(reads, writes)`.
    #[must_use]
    pub fn request_counts(&self) -> (u64, u64) {
        (
            self.reads.load(Ordering::Relaxed),
            self.writes.load(Ordering::Relaxed),
        )
    }
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn get(&self, ident: &str) -> Result<Option<InstanceRecord>> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let shared = self.lock().get(ident).cloned();
        Ok(shared.map(|r| InstanceRecord::clone(&r)))
    }

    async fn commit(&self, commit: &Commit) -> Result<InstanceRecord> {
        self.write(commit, |record| commit.apply(record), InstanceRecord::clone)
    }

    async fn commit_taking(&self, commit: &mut Commit) -> Result<InstanceRecord> {
        self.write_taking(commit, InstanceRecord::clone)
    }

    async fn commit_without_answer(&self, commit: &mut Commit) -> Result<()> {
        self.write_taking(commit, |_| ())
    }

    async fn query_active(
        &self,
        group: Option<&str>,
        start: Option<&str>,
        limit: usize,
    ) -> Result<Page> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let records = self.lock();
        let mut page = Page::default();
        page.records
            .reserve_exact(limit.max(1).min(records.active_len()));
        for record in records.active_after(start) {
            let Some(active) = &record.active_group else {
                continue;
            };
            if group.is_some_and(|g| g != active) {
                continue;
            }
            if page.records.len() == limit.max(1) {
                page.next = page
                    .records
                    .last()
                    .map(|r: &InstanceRecord| r.ident.clone());
                break;
            }
            page.records.push(InstanceRecord::clone(record));
        }
        Ok(page)
    }

    async fn sweep_cursor(&self) -> Result<Option<String>> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        Ok(self
            .sweep_cursor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone())
    }

    async fn save_sweep_cursor(&self, cursor: Option<&str>) -> Result<()> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        *self
            .sweep_cursor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = cursor.map(str::to_string);
        Ok(())
    }

    async fn cloud_init_update(&self, ident: &str, attributes: &Map<String, Value>) -> Result<()> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        let mut registrations = self
            .registrations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let item = registrations.entry(ident.to_string()).or_default();
        for (name, value) in attributes {
            item.insert(name.clone(), value.clone());
        }
        Ok(())
    }

    async fn registration(&self, ident: &str) -> Result<Option<Registration>> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        Ok(self
            .registrations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(ident)
            .map(Registration::from_item))
    }
}

#[cfg(test)]
#[path = "memory_tests.rs"]
mod tests;
