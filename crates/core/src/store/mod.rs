//! Where instance records live: the [`StateStore`] trait, shaped for DynamoDB semantics.
//!
//! Every handler write is one [`Commit`]: a conditional update that succeeds only when the record
//! still has the expected `ItemStatus` and `Version` (and has not processed the event already).
//! A failed condition is a [`StoreError::Conflict`] that the handler resolves by reloading.

mod commit;
mod memory;
mod records;

use async_trait::async_trait;

pub use commit::{Activity, BaseLists, Change, Commit};
pub use memory::{LoggedChange, MemoryStore};

use crate::record::InstanceRecord;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The conditional write's expectation did not hold: someone else wrote first.
    #[error(
        "failed to write `{ident}`: the record changed since it was read (conditional check failed)"
    )]
    Conflict {
        /// The record.
        ident: String,
    },
    /// Throttling or a transient server error that outlived the retries.
    #[error("failed to reach the store: {message}")]
    Unavailable {
        /// What happened.
        message: String,
    },
    /// A stored record could not be read.
    #[error(transparent)]
    Format(#[from] crate::record::RecordFormatError),
    /// The record's version has no successor: no write can follow it.
    #[error(transparent)]
    VersionOverflow(#[from] crate::record::VersionOverflow),
    /// Anything else.
    #[error("store request failed: {message}")]
    Other {
        /// What happened.
        message: String,
    },
}

impl StoreError {
    /// True when retrying the invocation may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Conflict { .. })
    }
}

/// `Result` of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One page of active records.
#[derive(Clone, Debug, Default)]
pub struct Page {
    /// The records, in key order.
    pub records: Vec<InstanceRecord>,
    /// Where the next page starts, if there is one.
    pub next: Option<String>,
}

/// The records of all instances.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Reads a record with a consistent read.
    async fn get(&self, ident: &str) -> Result<Option<InstanceRecord>>;

    /// Applies a conditional write and returns the record as written.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the expectation does not hold.
    async fn commit(&self, commit: &Commit) -> Result<InstanceRecord>;

    /// [`Self::commit`], free to take the write's state, history entries and event id rather
    /// than copy them (the handler drops a write once it is committed): a store that keeps
    /// records in memory moves them into the record. The same write, the same answer; on an
    /// error the write is left as it was.
    ///
    /// # Errors
    /// As [`Self::commit`].
    async fn commit_taking(&self, commit: &mut Commit) -> Result<InstanceRecord> {
        self.commit(commit).await
    }

    /// [`Self::commit_taking`] for a writer that needs no record back (the write ends its
    /// chain): only whether the write landed. A store that keeps records in memory copies none
    /// out for it. The same write, the same effect.
    ///
    /// # Errors
    /// As [`Self::commit`].
    async fn commit_without_answer(&self, commit: &mut Commit) -> Result<()> {
        self.commit_taking(commit).await.map(drop)
    }

    /// Lists active (non-terminal) records, optionally of one group, a page at a time, from the
    /// sparse active index (never a scan of the whole table).
    async fn query_active(
        &self,
        group: Option<&str>,
        start: Option<&str>,
        limit: usize,
    ) -> Result<Page>;

    /// Where the last sweep stopped for want of time (a page key of [`Self::query_active`]), so
    /// that the next one goes on from there: `None` to start at the first record. Stores that
    /// keep none start every sweep at the first record.
    async fn sweep_cursor(&self) -> Result<Option<String>> {
        Ok(None)
    }

    /// Remembers where the sweep stopped (`None`: it went round the whole index).
    async fn save_sweep_cursor(&self, _cursor: Option<&str>) -> Result<()> {
        Ok(())
    }

    /// Writes `instance`'s own registration item the way its cloud-init does (`update-item`,
    /// merge), never the handler's record: used by tests, the simulator and local tooling.
    async fn cloud_init_update(
        &self,
        instance: &str,
        attributes: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<()>;

    /// Reads `instance`'s own registration item (consistent read); `None` when it wrote none.
    async fn registration(
        &self,
        instance: &str,
    ) -> Result<Option<crate::registration::Registration>>;
}
