//! List, then follow every change of the records from a resume token: a Kubernetes-style watcher
//! over DynamoDB Streams (`StreamsFeed` in the `asg-lifecycle-aws` crate) or the in-memory store's change log ([`MemoryFeed`]).
//!
//! ```text
//!  no token ──► open the feed at its end ──► list (Init, InitApply…, InitDone) ──► follow ──► Apply / Delete …
//!  token ─────► open the feed after it ───────────────────────────────────────────┘   │
//!       ▲            │ gone (trimmed, expired, unknown shard)                          │ gone
//!       └────────────┴──────────────────────── relist ◄────────────────────────────────┘
//! ```
//!
//! # Guarantees
//! - The feed is opened *before* the listing, so no change between the two is lost; a change
//!   made during the listing may be reported again after `InitDone` (events carry whole records,
//!   so applying one twice is harmless).
//! - Changes are reported in the feed's order, each with the [`ResumeToken`] that resumes right
//!   after it: a watcher started from a token reports no change at or before it.
//! - A token the feed can no longer resume from is "gone": the watcher relists (`Init`…
//!   `InitDone`) and goes on, as kube-runtime's watcher does on HTTP 410.
//! - Transient feed or store errors are reported as [`WatchError::Retrying`] and retried with
//!   exponential backoff and jitter; other errors end the stream with [`WatchError::Failed`].
//! - The stream ends with [`WatchEvent::Closed`] (carrying the token to resume from) when the
//!   timeout passes or the cancellation token fires.
//!
//! # Assumptions
//! One shard lineage is followed: the shard of the token (or the newest open shard), then its
//! child when it closes. A table with several open shards at once is not fully covered.

mod memory;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::Stream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use memory::{MEMORY_SHARD, MemoryFeed};

use crate::record::InstanceRecord;
use crate::store::StateStore;
use crate::wait::Backoff;

/// Where a watch resumes: a shard and the sequence number of the last change seen in it.
///
/// Written `SHARD/SEQUENCE`; a bare `SHARD` resumes from the oldest change the shard retains.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResumeToken {
    /// The shard id.
    pub shard: String,
    /// The sequence number of the last change seen; `None`: none seen in this shard.
    pub sequence: Option<String>,
}

impl std::fmt::Display for ResumeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.sequence {
            Some(sequence) => write!(f, "{}/{sequence}", self.shard),
            None => f.write_str(&self.shard),
        }
    }
}

impl std::str::FromStr for ResumeToken {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (shard, sequence) = match text.rsplit_once('/') {
            Some((shard, sequence)) => (shard, Some(sequence.to_string())),
            None => (text, None),
        };
        if shard.is_empty() || sequence.as_deref().is_some_and(str::is_empty) {
            return Err(format!(
                "malformed resume token `{text}`: expected SHARD/SEQUENCE"
            ));
        }
        Ok(Self {
            shard: shard.to_string(),
            sequence,
        })
    }
}

/// What kind of write a change was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// The record was created.
    Insert,
    /// The record was updated.
    Modify,
    /// The record was deleted (by TTL expiry, usually).
    Remove,
}

/// One change read from a feed.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// Resumes right after this change.
    pub token: ResumeToken,
    /// The kind of write.
    pub kind: ChangeKind,
    /// The record's `Ident`.
    pub ident: String,
    /// The record before the write.
    pub old: Option<InstanceRecord>,
    /// The record after the write.
    pub new: Option<InstanceRecord>,
    /// Why an image could not be read (it is then `None`).
    pub problem: Option<String>,
}

/// A feed operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// The position is too old to resume from (trimmed, expired or unknown shard).
    #[error("failed to resume: the position is gone ({message})")]
    Gone {
        /// What the feed said.
        message: String,
    },
    /// Throttling, a 5xx or a network error: retrying may succeed.
    #[error("failed to read the change feed: {message}")]
    Transient {
        /// What happened.
        message: String,
    },
    /// Anything else (no stream on the table, a malformed token, access denied).
    #[error("failed to read the change feed: {message}")]
    Other {
        /// What happened.
        message: String,
    },
}

/// A position in a feed: the token of the last change read and the feed's own opaque state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// Resumes after the last change read through this cursor.
    pub token: ResumeToken,
    /// The feed's opaque position (a shard iterator); `None` when it must be opened again.
    pub iterator: Option<String>,
}

/// An ordered feed of changes to the records.
#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// A cursor at the end of the feed: reads return changes made from now on.
    ///
    /// # Errors
    /// [`FeedError::Transient`] or [`FeedError::Other`].
    async fn open_latest(&self) -> Result<Cursor, FeedError>;

    /// A cursor right after `token`.
    ///
    /// # Errors
    /// [`FeedError::Gone`] when the feed no longer holds the position.
    async fn open_at(&self, token: &ResumeToken) -> Result<Cursor, FeedError>;

    /// The next changes after the cursor, oldest first, advancing it; empty when there are none
    /// yet.
    ///
    /// # Errors
    /// [`FeedError::Gone`] when changes after the cursor were dropped before they were read.
    async fn read(&self, cursor: &mut Cursor) -> Result<Vec<Change>, FeedError>;
}

/// What a watcher reports.
#[derive(Clone, Debug, PartialEq)]
pub enum WatchEvent {
    /// A listing starts (at the start, or after a token was gone).
    Init,
    /// A record of the listing.
    InitApply(InstanceRecord),
    /// The listing is complete; changes follow from `token`.
    InitDone {
        /// The position the watch follows from.
        token: ResumeToken,
    },
    /// A record was created or updated.
    Apply {
        /// The record after the write.
        record: InstanceRecord,
        /// Resumes right after this change.
        token: ResumeToken,
    },
    /// A record was deleted.
    Delete {
        /// The record's `Ident`.
        ident: String,
        /// The record before the deletion, when the feed has it.
        last: Option<InstanceRecord>,
        /// Resumes right after this change.
        token: ResumeToken,
    },
    /// The watch ended; the stream ends after this event.
    Closed {
        /// The position to resume from (`None` when the feed was never opened).
        token: Option<ResumeToken>,
        /// Why it ended.
        reason: CloseReason,
    },
}

/// Why a watch ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The configured timeout passed.
    Timeout,
    /// The cancellation token fired.
    Stopped,
}

/// A watch problem; only [`WatchError::Failed`] ends the stream.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    /// A transient error; the watcher tries again after `after`.
    #[error("{message}; retrying in {after:?}")]
    Retrying {
        /// What happened.
        message: String,
        /// The backoff before the next attempt.
        after: Duration,
    },
    /// A change whose record could not be read was skipped.
    #[error("failed to read a change of `{ident}`: {message}")]
    Unreadable {
        /// The record.
        ident: String,
        /// What was wrong.
        message: String,
    },
    /// A permanent error; the stream ends.
    #[error("{message}")]
    Failed {
        /// What happened.
        message: String,
    },
}

/// How a watcher runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Only records of this Auto Scaling group (by `GroupName` or `ActiveGroup`).
    pub group: Option<String>,
    /// Time between two reads when the feed had nothing new.
    pub poll_interval: Duration,
    /// Page size of the listing.
    pub page_size: usize,
    /// End the watch after this long.
    pub timeout: Option<Duration>,
    /// End the watch when this fires.
    pub cancel: Option<CancellationToken>,
    /// First backoff after a transient error.
    pub backoff_initial: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            // Every record of the table: the caller narrows when it wants to.
            group: None,
            // One read per second per shard: well inside the streams limit (5 per second per
            // shard) and quick enough for a human watching.
            poll_interval: Duration::from_secs(1),
            // 100 records: one DynamoDB page of small items.
            page_size: 100,
            // No timeout: a watch runs until stopped; callers state their own.
            timeout: None,
            cancel: None,
            // 200 ms doubling to 30 s: recovers quickly from a blip, backs off from an outage.
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
        }
    }
}

impl Config {
    /// Only records of `group`.
    #[must_use]
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Ends the watch after `timeout`.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Ends the watch when `token` fires.
    #[must_use]
    pub fn cancel_on(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Sets the time between reads when the feed had nothing new.
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The backoff after transient errors: each delay drawn from the upper half of
    /// `backoff_initial`, doubling up to `backoff_max`.
    #[must_use]
    pub fn backoff(&self) -> Backoff {
        Backoff::equal_jitter(self.backoff_initial, self.backoff_max)
    }
}

fn in_group(record: Option<&InstanceRecord>, group: Option<&str>) -> bool {
    match (record, group) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(r), Some(g)) => r.group.as_deref() == Some(g) || r.active_group.as_deref() == Some(g),
    }
}

/// Sleeps `delay` or until the deadline or cancellation, whichever comes first.
async fn pause(delay: Duration, deadline: Option<Instant>, cancel: Option<&CancellationToken>) {
    let wake = deadline.map_or(Instant::now() + delay, |d| d.min(Instant::now() + delay));
    match cancel {
        Some(token) => tokio::select! {
            () = token.cancelled() => {}
            () = tokio::time::sleep_until(wake) => {}
        },
        None => tokio::time::sleep_until(wake).await,
    }
}

async fn list_all(
    store: &dyn StateStore,
    config: &Config,
) -> crate::store::Result<Vec<InstanceRecord>> {
    let mut records = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let page = store
            .query_active(config.group.as_deref(), start.as_deref(), config.page_size)
            .await?;
        records.extend(page.records);
        match page.next {
            Some(next) => start = Some(next),
            None => return Ok(records),
        }
    }
}

/// Lists the active records (of `config.group`), then follows `feed`; with `since`, follows from
/// that token without listing, unless it is gone. See the module doc for the guarantees.
pub fn watcher(
    store: Arc<dyn StateStore>,
    feed: Arc<dyn ChangeFeed>,
    since: Option<ResumeToken>,
    config: Config,
) -> impl Stream<Item = Result<WatchEvent, WatchError>> + Send + 'static {
    async_stream::stream! {
        let deadline = config.timeout.map(|t| Instant::now() + t);
        let cancel = config.cancel.clone();
        let mut backoff = config.backoff();
        let mut token = since;
        let mut need_list = token.is_none();
        let mut cursor: Option<Cursor> = None;
        loop {
            let reason = if cancel.as_ref().is_some_and(CancellationToken::is_cancelled) {
                Some(CloseReason::Stopped)
            } else if deadline.is_some_and(|d| Instant::now() >= d) {
                Some(CloseReason::Timeout)
            } else {
                None
            };
            if let Some(reason) = reason {
                yield Ok(WatchEvent::Closed { token, reason });
                return;
            }
            let Some(open) = cursor.as_mut() else {
                let opened = match (&token, need_list) {
                    (Some(t), false) => feed.open_at(t).await,
                    _ => feed.open_latest().await,
                };
                let opened = match opened {
                    Ok(c) => c,
                    Err(FeedError::Gone { message }) => {
                        tracing::info!(%message, "resume token gone; relisting");
                        need_list = true;
                        continue;
                    }
                    Err(FeedError::Transient { message }) => {
                        let after = backoff.next_delay();
                        yield Err(WatchError::Retrying { message, after });
                        pause(after, deadline, cancel.as_ref()).await;
                        continue;
                    }
                    Err(e @ FeedError::Other { .. }) => {
                        yield Err(WatchError::Failed { message: e.to_string() });
                        return;
                    }
                };
                if need_list {
                    match list_all(store.as_ref(), &config).await {
                        Ok(records) => {
                            yield Ok(WatchEvent::Init);
                            for record in records {
                                yield Ok(WatchEvent::InitApply(record));
                            }
                            need_list = false;
                            yield Ok(WatchEvent::InitDone { token: opened.token.clone() });
                        }
                        Err(e) if e.is_retryable() => {
                            let after = backoff.next_delay();
                            yield Err(WatchError::Retrying { message: format!("failed to list: {e}"), after });
                            pause(after, deadline, cancel.as_ref()).await;
                            continue;
                        }
                        Err(e) => {
                            yield Err(WatchError::Failed { message: format!("failed to list: {e}") });
                            return;
                        }
                    }
                }
                backoff = config.backoff();
                token = Some(opened.token.clone());
                cursor = Some(opened);
                continue;
            };
            match feed.read(open).await {
                Ok(changes) => {
                    backoff = config.backoff();
                    let idle = changes.is_empty();
                    token = Some(open.token.clone());
                    for change in changes {
                        if !in_group(change.new.as_ref(), config.group.as_deref())
                            && !in_group(change.old.as_ref(), config.group.as_deref())
                            && change.problem.is_none()
                        {
                            continue;
                        }
                        if let Some(message) = change.problem {
                            yield Err(WatchError::Unreadable { ident: change.ident, message });
                            continue;
                        }
                        match (change.kind, change.new) {
                            (ChangeKind::Remove, _) | (_, None) => {
                                yield Ok(WatchEvent::Delete { ident: change.ident, last: change.old, token: change.token });
                            }
                            (_, Some(record)) => yield Ok(WatchEvent::Apply { record, token: change.token }),
                        }
                    }
                    if idle {
                        pause(config.poll_interval, deadline, cancel.as_ref()).await;
                    }
                }
                Err(FeedError::Gone { message }) => {
                    tracing::info!(%message, "watch position gone; relisting");
                    cursor = None;
                    need_list = true;
                }
                Err(FeedError::Transient { message }) => {
                    let after = backoff.next_delay();
                    yield Err(WatchError::Retrying { message, after });
                    pause(after, deadline, cancel.as_ref()).await;
                }
                Err(e @ FeedError::Other { .. }) => {
                    yield Err(WatchError::Failed { message: e.to_string() });
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_through_text() {
        let token: ResumeToken = "shardId-0001-abc/1100000000017454423009".parse().unwrap();
        assert_eq!(token.shard, "shardId-0001-abc");
        assert_eq!(token.sequence.as_deref(), Some("1100000000017454423009"));
        assert_eq!(token.to_string(), "shardId-0001-abc/1100000000017454423009");
        let bare: ResumeToken = "shardId-0002".parse().unwrap();
        assert_eq!(bare.sequence, None);
        assert!("/12".parse::<ResumeToken>().is_err());
        assert!("shard/".parse::<ResumeToken>().is_err());
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_with_jitter_below_each_step() {
        let config = Config {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(400),
            ..Config::default()
        };
        let mut backoff = config.backoff();
        let delays: Vec<_> = (0..5).map(|_| backoff.next_delay()).collect();
        for (delay, step) in delays.iter().zip([100, 200, 400, 400, 400]) {
            assert!(
                *delay >= Duration::from_millis(step / 2) && *delay <= Duration::from_millis(step),
                "{delays:?}"
            );
        }
        let mut backoff = config.backoff();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }
}
