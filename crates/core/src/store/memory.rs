//! The in-memory store, loadable from and savable to a JSON file.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::{Commit, Page, Result, StateStore, StoreError};
use crate::record::{InstanceRecord, attr};
use crate::registration::Registration;

/// Records in memory, behind one lock; the same semantics as the DynamoDB store.
///
/// The JSON file form is a map from `Ident` to the record's attributes:
/// `{"i-0abc": {"ItemStatus": "finished_cloud_init", "InstanceIp": "10.0.0.5"}}`.
///
/// Every write is also appended to a bounded change log (the in-memory counterpart of a DynamoDB
/// stream), read with [`MemoryStore::changes_after`].
#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<BTreeMap<String, InstanceRecord>>,
    reads: AtomicU64,
    writes: AtomicU64,
    log: Mutex<ChangeLog>,
    sweep_cursor: Mutex<Option<String>>,
    /// Instances' own registration items, by instance id (in memory only: not in the file).
    registrations: Mutex<BTreeMap<String, Map<String, Value>>>,
}

/// One write in the change log: the record before and after it.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedChange {
    /// Position in the log, from 1, increasing by one per write.
    pub sequence: u64,
    /// The record.
    pub ident: String,
    /// The record before the write (`None`: it did not exist).
    pub old: Option<InstanceRecord>,
    /// The record after the write.
    pub new: Option<InstanceRecord>,
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
    fn append(&mut self, ident: &str, old: Option<InstanceRecord>, new: Option<InstanceRecord>) {
        self.last += 1;
        if self.capacity == 0 {
            return;
        }
        let change = LoggedChange {
            sequence: self.last,
            ident: ident.to_string(),
            old,
            new,
        };
        self.entries.push_back(change);
        while self.entries.len() > self.capacity {
            self.entries.pop_front();
        }
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
        Some(
            log.entries
                .iter()
                .filter(|c| c.sequence > sequence)
                .take(limit)
                .cloned()
                .collect(),
        )
    }

    fn log_lock(&self) -> std::sync::MutexGuard<'_, ChangeLog> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, InstanceRecord>> {
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
                records.insert(ident.clone(), InstanceRecord::from_item(ident, item)?);
            }
        }
        Ok(store)
    }

    /// Reads a store file.
    ///
    /// # Errors
    /// When the file cannot be read or is malformed.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| StoreError::Other {
            message: format!("failed to read {}: {e}", path.display()),
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|e| StoreError::Other {
            message: format!("failed to parse {}: {e}", path.display()),
        })?;
        Self::from_json(&value)
    }

    /// The JSON file form.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let records = self.lock();
        let mut map = Map::new();
        for (ident, record) in records.iter() {
            let mut item = record.to_item();
            item.remove(attr::IDENT);
            map.insert(ident.clone(), Value::Object(item));
        }
        Value::Object(map)
    }

    /// Writes the store file (atomically: a temporary file renamed over it).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text =
            serde_json::to_string_pretty(&self.to_json()).map_err(|e| StoreError::Other {
                message: e.to_string(),
            })?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text + "\n")
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| StoreError::Other {
                message: format!("failed to write {}: {e}", path.display()),
            })
    }

    /// Every record, in key order.
    #[must_use]
    pub fn all(&self) -> Vec<InstanceRecord> {
        self.lock().values().cloned().collect()
    }

    /// Inserts or replaces a record whole (test and simulator setup).
    pub fn put(&self, record: InstanceRecord) {
        let mut records = self.lock();
        let ident = record.ident.clone();
        let old = records.insert(ident.clone(), record.clone());
        self.log_lock().append(&ident, old, Some(record));
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
        Ok(self.lock().get(ident).cloned())
    }

    async fn commit(&self, commit: &Commit) -> Result<InstanceRecord> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        let mut records = self.lock();
        let current = records.get(&commit.ident);
        commit.check(current)?;
        let mut log = self.log_lock();
        if log.capacity == 0 {
            // No change log: applied in place, one clone (the answer) per write.
            let record = records
                .entry(commit.ident.clone())
                .or_insert_with(|| InstanceRecord::new(commit.ident.clone()));
            commit.apply(record);
            log.last += 1;
            return Ok(record.clone());
        }
        let mut record = current
            .cloned()
            .unwrap_or_else(|| InstanceRecord::new(commit.ident.clone()));
        commit.apply(&mut record);
        let old = records.insert(commit.ident.clone(), record.clone());
        log.append(&commit.ident, old, Some(record.clone()));
        Ok(record)
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
        let range = match start {
            Some(s) => {
                records.range::<str, _>((std::ops::Bound::Excluded(s), std::ops::Bound::Unbounded))
            }
            None => records.range::<str, _>(..),
        };
        for (ident, record) in range {
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
            let _ = ident;
            page.records.push(record.clone());
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
