//! The store the simulated handler uses: the real [`MemoryStore`] behind fault points (throttling,
//! a crash right after a write, yield points for overlapped invocations) and an observer that
//! checks every transition written.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::exec::{Target, authorize, gate, maybe_crash, stop_if_crashed};
use super::faults::chance;
use super::world::Shared;
use asg_lifecycle::record::InstanceRecord;
use asg_lifecycle::registration::Registration;
use asg_lifecycle::store::{Commit, Page, Result, StateStore, StoreError};

/// A deliberately broken store, to prove that the invariants catch a broken handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Broken {
    /// Writes ignore the conditional check (expected state, version and processed event): the
    /// handler loses its arbiter of concurrent invocations.
    UnconditionalWrites,
    /// The instance profile allows `dynamodb:UpdateItem` on the whole table, without
    /// conditions (what the cloud-init guide once asked for): hostile instances' writes on
    /// their neighbours' items land.
    LaxInstancePolicy,
}

/// The fault-injecting, observing store.
pub struct SimStore {
    shared: Arc<Shared>,
    broken: Option<Broken>,
}

impl SimStore {
    /// Over the shared world's memory store.
    #[must_use]
    pub fn new(shared: Arc<Shared>, broken: Option<Broken>) -> Self {
        Self { shared, broken }
    }

    async fn enter(&self, ident: &str, operation: &str) -> Result<()> {
        let (action, target) = match operation {
            "get" | "cursor get" | "registration get" => ("dynamodb:GetItem", Target::Table),
            "query" => ("dynamodb:Query", Target::ActiveIndex),
            _ => ("dynamodb:UpdateItem", Target::Table),
        };
        authorize(&self.shared, ident, action, &target)
            .map_err(|e| StoreError::Other { message: e.message })?;
        stop_if_crashed(&self.shared).await;
        gate(&self.shared).await;
        let mut s = self.shared.lock();
        let source = if s.sweeping { "sweep" } else { "event" };
        super::exec::count(&mut s.store_requests, &[source, " ", operation]);
        let model = s.latencies.store;
        let latency = model.draw(&mut s.rng);
        self.shared.clock.pass(latency);
        let now = self.shared.now();
        let p = s.faults.store_unavailable;
        if chance(&mut s.rng, p) {
            s.injected_errors += 1;
            s.checker
                .trail(ident, now, format!("store {operation} throttled"));
            return Err(StoreError::Unavailable {
                message: "simulated ProvisionedThroughputExceededException".into(),
            });
        }
        Ok(())
    }
}

impl SimStore {
    /// [`Broken::UnconditionalWrites`]: `commit` with its expectations replaced by the stored
    /// record's, so that it always lands.
    async fn commit_unconditionally(&self, commit: &Commit) -> Result<InstanceRecord> {
        let current = self.shared.memory.get(&commit.ident).await?;
        let mut forced = commit.clone();
        forced.expected_status = current.as_ref().and_then(|r| r.status.clone());
        forced.expected_version = current.as_ref().map_or(0, |r| r.version);
        forced.unprocessed_event = None;
        self.shared.memory.commit(&forced).await
    }

    /// A conditional write through the world: its latency, throttling and crashes, the
    /// checker's view of it.
    async fn write(&self, commit: &Commit) -> Result<InstanceRecord> {
        self.enter(&commit.ident, "commit").await?;
        let written = match self.broken {
            None | Some(Broken::LaxInstancePolicy) => self.shared.memory.commit(commit).await?,
            // Boxed: its commit copy inline would make every write's future larger.
            Some(Broken::UnconditionalWrites) => {
                Box::pin(self.commit_unconditionally(commit)).await?
            }
        };
        {
            let now = self.shared.now();
            let mut s = self.shared.lock();
            s.checker.on_commit(commit, &written, now);
        }
        maybe_crash(&self.shared, &commit.ident, "a store write").await;
        Ok(written)
    }
}

#[async_trait]
impl StateStore for SimStore {
    async fn get(&self, ident: &str) -> Result<Option<InstanceRecord>> {
        self.enter(ident, "get").await?;
        self.shared.memory.get(ident).await
    }

    async fn commit(&self, commit: &Commit) -> Result<InstanceRecord> {
        self.write(commit).await
    }

    /// The checker reads the write after it lands: nothing is taken from it, and it is not
    /// passed on to [`Self::commit`] (a second boxed future per write).
    async fn commit_taking(&self, commit: &mut Commit) -> Result<InstanceRecord> {
        self.write(commit).await
    }

    /// As [`Self::commit_taking`]: the checker reads the record as written.
    async fn commit_without_answer(&self, commit: &mut Commit) -> Result<()> {
        self.write(commit).await.map(drop)
    }

    async fn query_active(
        &self,
        group: Option<&str>,
        start: Option<&str>,
        limit: usize,
    ) -> Result<Page> {
        self.enter("-", "query").await?;
        self.shared.memory.query_active(group, start, limit).await
    }

    async fn sweep_cursor(&self) -> Result<Option<String>> {
        self.enter("-", "cursor get").await?;
        self.shared.memory.sweep_cursor().await
    }

    async fn save_sweep_cursor(&self, cursor: Option<&str>) -> Result<()> {
        self.enter("-", "cursor save").await?;
        self.shared.memory.save_sweep_cursor(cursor).await
    }

    async fn cloud_init_update(&self, ident: &str, attributes: &Map<String, Value>) -> Result<()> {
        self.shared
            .memory
            .cloud_init_update(ident, attributes)
            .await
    }

    async fn registration(&self, ident: &str) -> Result<Option<Registration>> {
        self.enter(ident, "registration get").await?;
        self.shared.memory.registration(ident).await
    }
}
