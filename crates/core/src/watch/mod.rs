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
//! - Every shard is followed: the token holds a position per shard, a closed shard's children
//!   are followed once it is read to its end (parents before children), so a table with several
//!   open shards, or one that splits, loses no change.

mod memory;

use std::collections::BTreeMap;
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

/// Where a watch resumes: for every shard followed, the sequence number of the last change seen
/// in it (`None`: none seen yet, so the shard is read from the oldest change it retains).
///
/// Written `SHARD/SEQUENCE` (or a bare `SHARD`), one per shard, joined by `,`: a single-shard
/// token is the same text as before several shards were followed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResumeToken {
    /// By shard id, in id order.
    pub positions: BTreeMap<String, Option<String>>,
}

impl ResumeToken {
    /// A token of one shard.
    #[must_use]
    pub fn at(shard: impl Into<String>, sequence: Option<&str>) -> Self {
        let mut positions = BTreeMap::new();
        positions.insert(shard.into(), sequence.map(str::to_string));
        Self { positions }
    }

    /// This token with `shard` at `sequence` (added when it was not followed yet).
    #[must_use]
    pub fn with(&self, shard: &str, sequence: Option<&str>) -> Self {
        let mut token = self.clone();
        token
            .positions
            .insert(shard.to_string(), sequence.map(str::to_string));
        token
    }

    /// The last sequence number seen in `shard`; `None` when none was, or the shard is not
    /// followed.
    #[must_use]
    pub fn sequence(&self, shard: &str) -> Option<&str> {
        self.positions.get(shard).and_then(Option::as_deref)
    }
}

impl std::fmt::Display for ResumeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (shard, sequence) in &self.positions {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            match sequence {
                Some(sequence) => write!(f, "{shard}/{sequence}")?,
                None => f.write_str(shard)?,
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for ResumeToken {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut positions = BTreeMap::new();
        for part in text.split(',') {
            let (shard, sequence) = match part.rsplit_once('/') {
                Some((shard, sequence)) => (shard, Some(sequence.to_string())),
                None => (part, None),
            };
            if shard.is_empty()
                || sequence.as_deref().is_some_and(str::is_empty)
                || positions.insert(shard.to_string(), sequence).is_some()
            {
                return Err(format!(
                    "malformed resume token `{text}`: expected SHARD/SEQUENCE, one per shard, \
                     joined by `,`"
                ));
            }
        }
        Ok(Self { positions })
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Resumes after the last change read through this cursor.
    pub token: ResumeToken,
    /// The feed's opaque positions (shard iterators, by shard); empty when they must be opened
    /// again from the token.
    pub iterators: BTreeMap<String, String>,
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
        assert_eq!(
            token,
            ResumeToken::at("shardId-0001-abc", Some("1100000000017454423009"))
        );
        assert_eq!(token.to_string(), "shardId-0001-abc/1100000000017454423009");
        let bare: ResumeToken = "shardId-0002".parse().unwrap();
        assert_eq!(bare.positions["shardId-0002"], None);
        let several: ResumeToken = "shard-b/20,shard-a,shard-c/7".parse().unwrap();
        assert_eq!(several.to_string(), "shard-a,shard-b/20,shard-c/7");
        assert_eq!(several.sequence("shard-b"), Some("20"));
        assert_eq!(several.sequence("shard-a"), None);
        assert_eq!(
            several.with("shard-a", Some("3")).to_string(),
            "shard-a/3,shard-b/20,shard-c/7"
        );
        for bad in ["/12", "shard/", "", "a/1,", "a/1,a/2"] {
            assert!(bad.parse::<ResumeToken>().is_err(), "{bad}");
        }
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
