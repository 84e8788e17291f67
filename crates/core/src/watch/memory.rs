//! [`ChangeFeed`] over the in-memory store's bounded change log.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Change, ChangeFeed, ChangeKind, Cursor, FeedError, ResumeToken};
use crate::record::InstanceRecord;
use crate::store::{LoggedChange, MemoryStore};

/// The one shard of the in-memory feed; tokens are `memory/SEQUENCE`.
pub const MEMORY_SHARD: &str = "memory";

/// Follows a [`MemoryStore`]'s change log. A token older than the log's window, from another
/// shard or ahead of the log (from another process's store) is gone.
#[derive(Clone)]
pub struct MemoryFeed {
    store: Arc<MemoryStore>,
    batch: usize,
}

impl MemoryFeed {
    /// Follows `store`.
    #[must_use]
    pub fn new(store: Arc<MemoryStore>) -> Self {
        // 1000 changes per read: the most a DynamoDB Streams GetRecords returns.
        Self { store, batch: 1000 }
    }

    fn token(sequence: u64) -> ResumeToken {
        ResumeToken::at(MEMORY_SHARD, Some(&sequence.to_string()))
    }

    fn sequence_of(token: &ResumeToken) -> Result<u64, FeedError> {
        if let Some(other) = token.positions.keys().find(|s| *s != MEMORY_SHARD) {
            return Err(FeedError::Gone {
                message: format!("shard `{other}` is not in this store's log"),
            });
        }
        match token.positions.get(MEMORY_SHARD).and_then(Option::as_ref) {
            None => Ok(0),
            Some(s) => s.parse().map_err(|_| FeedError::Other {
                message: format!("malformed sequence number `{s}` in resume token"),
            }),
        }
    }

    /// The change a watcher reads. The store never removes records, and its log keeps of the
    /// record before a write only its group membership: the old image is the record's `Ident`,
    /// `GroupName` and `ActiveGroup` (what a watcher filters on), everything else left empty.
    fn change(logged: &LoggedChange) -> Change {
        let ident = logged.ident().to_string();
        let old = logged.old_membership().map(|m| InstanceRecord {
            group: m.group,
            active_group: m.active_group,
            ..InstanceRecord::new(ident.as_str())
        });
        Change {
            token: Self::token(logged.sequence),
            kind: if logged.created {
                ChangeKind::Insert
            } else {
                ChangeKind::Modify
            },
            ident,
            old,
            new: Some(InstanceRecord::clone(&logged.new)),
            problem: None,
        }
    }
}

#[async_trait]
impl ChangeFeed for MemoryFeed {
    async fn open_latest(&self) -> Result<Cursor, FeedError> {
        Ok(Cursor {
            token: Self::token(self.store.last_sequence()),
            iterators: std::collections::BTreeMap::new(),
        })
    }

    async fn open_at(&self, token: &ResumeToken) -> Result<Cursor, FeedError> {
        let sequence = Self::sequence_of(token)?;
        if self.store.changes_after(sequence, 0).is_none() {
            return Err(FeedError::Gone {
                message: format!("sequence {sequence} is outside the change log's window"),
            });
        }
        Ok(Cursor {
            token: Self::token(sequence),
            iterators: std::collections::BTreeMap::new(),
        })
    }

    async fn read(&self, cursor: &mut Cursor) -> Result<Vec<Change>, FeedError> {
        let sequence = Self::sequence_of(&cursor.token)?;
        let logged = self
            .store
            .changes_after(sequence, self.batch)
            .ok_or_else(|| FeedError::Gone {
                message: format!(
                    "changes after sequence {sequence} were dropped from the change log"
                ),
            })?;
        let changes: Vec<Change> = logged.iter().map(Self::change).collect();
        if let Some(last) = changes.last() {
            cursor.token = last.token.clone();
        }
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::InstanceRecord;
    use crate::watch::{CloseReason, Config, WatchEvent, watcher};
    use futures::StreamExt;
    use std::time::Duration;

    fn record(id: &str, state: &str) -> InstanceRecord {
        let mut r = InstanceRecord::new(id);
        r.status = Some(state.into());
        r.group = Some("web".into());
        r.active_group = Some("web".into());
        r
    }

    fn summary(event: &WatchEvent) -> String {
        match event {
            WatchEvent::Init => "init".into(),
            WatchEvent::InitApply(r) => format!("init-apply {} {}", r.ident, r.state()),
            WatchEvent::InitDone { token } => format!("init-done {token}"),
            WatchEvent::Apply { record, token } => {
                format!("apply {} {} @{token}", record.ident, record.state())
            }
            WatchEvent::Delete { ident, token, .. } => format!("delete {ident} @{token}"),
            WatchEvent::Closed { token, reason } => {
                format!(
                    "closed {reason:?} {}",
                    token.as_ref().map(ToString::to_string).unwrap_or_default()
                )
            }
        }
    }

    async fn run(store: &Arc<MemoryStore>, since: Option<&str>, config: Config) -> Vec<String> {
        let feed = Arc::new(MemoryFeed::new(store.clone()));
        let since = since.map(|s| s.parse().unwrap());
        watcher(store.clone(), feed, since, config)
            .map(|item| item.map_or_else(|e| format!("error {e}"), |e| summary(&e)))
            .collect()
            .await
    }

    #[tokio::test(start_paused = true)]
    async fn a_fresh_watch_lists_then_follows_changes_in_order() {
        let store = Arc::new(MemoryStore::new());
        store.put(record("i-1", "ready"));
        let writer = store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            writer.put(record("i-2", "new"));
            writer.put(record("i-2", "finished_cloud_init"));
        });
        let events = run(
            &store,
            None,
            Config::default().timeout(Duration::from_secs(5)),
        )
        .await;
        assert_eq!(
            events,
            [
                "init",
                "init-apply i-1 ready",
                "init-done memory/1",
                "apply i-2 new @memory/2",
                "apply i-2 finished_cloud_init @memory/3",
                "closed Timeout memory/3",
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_watch_from_a_token_reports_only_later_changes() {
        let store = Arc::new(MemoryStore::new());
        for (id, state) in [("i-1", "new"), ("i-1", "ready"), ("i-2", "new")] {
            store.put(record(id, state));
        }
        let events = run(
            &store,
            Some("memory/2"),
            Config::default().timeout(Duration::from_secs(2)),
        )
        .await;
        assert_eq!(
            events,
            ["apply i-2 new @memory/3", "closed Timeout memory/3"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_older_than_the_log_is_gone_and_the_watch_relists() {
        let store = Arc::new(MemoryStore::with_change_log_capacity(2));
        for (id, state) in [
            ("i-1", "new"),
            ("i-1", "ready"),
            ("i-2", "new"),
            ("i-2", "join_cluster"),
        ] {
            store.put(record(id, state));
        }
        let events = run(
            &store,
            Some("memory/1"),
            Config::default().timeout(Duration::from_secs(2)),
        )
        .await;
        assert_eq!(
            events,
            [
                "init",
                "init-apply i-1 ready",
                "init-apply i-2 join_cluster",
                "init-done memory/4",
                "closed Timeout memory/4"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn falling_behind_the_log_while_following_relists() {
        let store = Arc::new(MemoryStore::with_change_log_capacity(2));
        store.put(record("i-1", "new"));
        let writer = store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            for state in ["finished_cloud_init", "join_cluster", "joined_cluster"] {
                writer.put(record("i-1", state));
            }
        });
        let events = run(
            &store,
            None,
            Config::default().timeout(Duration::from_secs(3)),
        )
        .await;
        assert_eq!(
            events,
            [
                "init",
                "init-apply i-1 new",
                "init-done memory/1",
                "init",
                "init-apply i-1 joined_cluster",
                "init-done memory/4",
                "closed Timeout memory/4",
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn changes_of_other_groups_are_filtered_out() {
        let store = Arc::new(MemoryStore::new());
        let mut other = record("i-9", "ready");
        other.group = Some("db".into());
        other.active_group = Some("db".into());
        store.put(other);
        store.put(record("i-1", "ready"));
        let events = run(
            &store,
            Some("memory/0"),
            Config::default()
                .group("web")
                .timeout(Duration::from_secs(1)),
        )
        .await;
        assert_eq!(
            events,
            ["apply i-1 ready @memory/2", "closed Timeout memory/2"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_record_leaving_the_group_is_still_reported_to_its_watcher() {
        let store = Arc::new(MemoryStore::new());
        store.put(record("i-1", "ready"));
        let mut left = record("i-1", "terminated");
        left.group = None;
        left.active_group = None;
        store.put(left);
        store.put(record("i-2", "ready"));
        let mut other = record("i-2", "ready");
        other.group = Some("db".into());
        other.active_group = Some("db".into());
        store.put(other);
        let events = run(
            &store,
            Some("memory/1"),
            Config::default()
                .group("web")
                .timeout(Duration::from_secs(1)),
        )
        .await;
        assert_eq!(
            events,
            [
                "apply i-1 terminated @memory/2",
                "apply i-2 ready @memory/3",
                "apply i-2 ready @memory/4",
                "closed Timeout memory/4"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_closes_the_watch_with_its_token() {
        let store = Arc::new(MemoryStore::new());
        let token = tokio_util::sync::CancellationToken::new();
        token.cancel();
        let events = run(&store, Some("memory/0"), Config::default().cancel_on(token)).await;
        assert_eq!(
            events,
            [format!("closed {:?} memory/0", CloseReason::Stopped)]
        );
    }
}
