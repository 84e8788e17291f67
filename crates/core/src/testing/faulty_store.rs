//! A store that crashes on chosen commits, or refuses its first ones as conflicts: the
//! fault-injecting wrapper of the recovery and contention tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::record::InstanceRecord;
use crate::store::{Commit, Page, StateStore, StoreError};

/// When a simulated crash strikes, relative to a commit's write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crash {
    /// The commit fails without writing.
    BeforeWrite,
    /// The commit writes, then the caller sees an error (its process died after the write).
    AfterWrite,
}

/// A store whose chosen commits (counted from 1) crash before or after their write, and whose
/// first `conflicts` commits are refused as conflicts (another writer won); every other call goes
/// to the inner store.
pub struct FaultyStore<S: StateStore> {
    /// The store that holds the data.
    pub inner: Arc<S>,
    crash: Crash,
    on_commits: Vec<usize>,
    conflicts: usize,
    commits: AtomicUsize,
}

impl<S: StateStore> FaultyStore<S> {
    /// A store over `inner` whose commits numbered `on_commits` (from 1) crash at `crash`.
    #[must_use]
    pub fn new(inner: Arc<S>, crash: Crash, on_commits: &[usize]) -> Arc<Self> {
        Arc::new(Self {
            inner,
            crash,
            on_commits: on_commits.to_vec(),
            conflicts: 0,
            commits: AtomicUsize::new(0),
        })
    }

    /// A store over `inner` whose first `conflicts` commits are refused as conflicts
    /// (`usize::MAX`: every commit).
    #[must_use]
    pub fn conflicting(inner: Arc<S>, conflicts: usize) -> Arc<Self> {
        Arc::new(Self {
            inner,
            crash: Crash::BeforeWrite,
            on_commits: Vec::new(),
            conflicts,
            commits: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl<S: StateStore> StateStore for FaultyStore<S> {
    async fn get(&self, ident: &str) -> Result<Option<InstanceRecord>, StoreError> {
        self.inner.get(ident).await
    }

    async fn commit(&self, commit: &Commit) -> Result<InstanceRecord, StoreError> {
        let n = self.commits.fetch_add(1, Ordering::SeqCst) + 1;
        if n <= self.conflicts {
            return Err(StoreError::Conflict {
                ident: commit.ident.clone(),
            });
        }
        let strikes = self.on_commits.contains(&n);
        if strikes && self.crash == Crash::BeforeWrite {
            return Err(StoreError::Unavailable {
                message: format!("simulated crash before commit {n}"),
            });
        }
        let written = self.inner.commit(commit).await?;
        if strikes {
            return Err(StoreError::Unavailable {
                message: format!("simulated crash after commit {n}"),
            });
        }
        Ok(written)
    }

    async fn query_active(
        &self,
        group: Option<&str>,
        start: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        self.inner.query_active(group, start, limit).await
    }

    async fn cloud_init_update(
        &self,
        ident: &str,
        attributes: &Map<String, Value>,
    ) -> Result<(), StoreError> {
        self.inner.cloud_init_update(ident, attributes).await
    }
    async fn registration(
        &self,
        instance: &str,
    ) -> crate::store::Result<Option<crate::registration::Registration>> {
        self.inner.registration(instance).await
    }
    async fn sweep_cursor(&self) -> Result<Option<String>, StoreError> {
        self.inner.sweep_cursor().await
    }

    async fn save_sweep_cursor(&self, cursor: Option<&str>) -> Result<(), StoreError> {
        self.inner.save_sweep_cursor(cursor).await
    }
}
