//! The one place the handler builds its conditional writes.
//!
//! # Guarantees
//! - Every write expects the record exactly as it was read (`ItemStatus` and `Version`), so of
//!   two invocations acting on one reading only the first write lands; the other conflicts and
//!   reloads.
//! - A chain write is refused once its event is processed, and it either ends the chain (the
//!   event is marked processed and the unfinished chain cleared) or records what the chain still
//!   owes ([`InFlight`]), never neither.
//! - A record leaves the active index only with an expiry time, and stays in it under its group.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::LifecycleHandler;
use super::run::Names;
use crate::record::{
    HistoryEntry, InFlight, InstanceRecord, LifecycleAction, PendingCommand, SharedName,
};
use crate::store::{Activity, Change, Commit, StoreError};
use crate::tasks::RecordChanges;

/// Transitions fired but not written yet: transitions without tasks are written with the next
/// write of the chain (the one that must happen before a task acts on the world, or that ends
/// the chain), so a chain of them costs one write. Nothing outside the run saw them: a crash
/// before that write loses nothing, the redelivered event steps the same way again.
#[derive(Clone, Debug, Default)]
pub(super) struct Deferred {
    /// `ItemStatus` as read (what the write expects).
    pub(super) read_status: Option<String>,
    /// The transitions, oldest first.
    pub(super) history: Vec<HistoryEntry>,
    /// The same, for the outcome once written.
    pub(super) taken: Vec<super::TransitionTaken>,
    /// When the first of them was fired (the record's `entered_at` in memory until the write,
    /// which stamps them with its own time).
    pub(super) now: DateTime<Utc>,
}

/// A conditional write of one record, being built.
#[must_use = "a write does nothing until it is committed"]
pub(super) struct Write<'a> {
    handler: &'a LifecycleHandler,
    record: &'a InstanceRecord,
    /// Boxed: a `Write` is passed by value through its builder methods and held across the
    /// store's await, and a `Commit` inline (over 800 bytes) was copied at each of those moves.
    commit: Box<Commit>,
}

impl LifecycleHandler {
    /// A write that expects `record` as it was read, at the clock's current time.
    pub(super) fn write<'a>(&'a self, record: &'a InstanceRecord) -> Write<'a> {
        self.write_at(record, self.clock.now())
    }

    /// A write that expects `record` as it was read, at `now` (a reading of the clock taken
    /// since the writer last awaited anything).
    pub(super) fn write_at<'a>(
        &'a self,
        record: &'a InstanceRecord,
        now: DateTime<Utc>,
    ) -> Write<'a> {
        let mut commit = Box::<Commit>::default();
        commit.expect(record, now);
        Write {
            handler: self,
            record,
            commit,
        }
    }
}

impl Write<'_> {
    /// The time of the write.
    pub(super) fn now(&self) -> DateTime<Utc> {
        self.commit.now
    }

    /// Refuses the write (as a conflict) when `event_id` was processed already.
    pub(super) fn for_event(mut self, event_id: &str) -> Self {
        self.commit.unprocessed_event = Some(event_id.to_string());
        self
    }

    /// Records a transition by `trigger` from `from` to `to` in the history, and enters `to`
    /// unless the transition is internal (`enters` false: the state stays).
    pub(super) fn transition(
        mut self,
        names: &Names<'_>,
        event_id: SharedName,
        enters: bool,
    ) -> Self {
        if enters {
            self.commit.status = Some(names.to.to_string());
        }
        self.commit.history.push(HistoryEntry {
            from: names.from.clone(),
            to: names.to.clone(),
            trigger: names.trigger.clone(),
            event_id,
            // An overflow fails the commit (`Commit::check`, `Commit::new_version`).
            version: self.record.version.saturating_add(1),
            at: self.commit.now,
        });
        self
    }

    /// Also writes the transitions deferred since the record was read (`ItemStatus` as read and
    /// their history entries, oldest first: [`Deferred`]): the write expects the state as read,
    /// enters the state the run has reached (unless a transition of this write enters another)
    /// and records the deferred transitions first.
    pub(super) fn deferred(
        mut self,
        deferred: Option<(Option<String>, Vec<HistoryEntry>)>,
    ) -> Self {
        let Some((read_status, mut history)) = deferred else {
            return self;
        };
        self.commit.expected_status = read_status;
        if self.commit.status.is_none() {
            self.commit.status.clone_from(&self.record.status);
        }
        for entry in &mut history {
            entry.at = self.commit.now;
        }
        history.append(&mut self.commit.history);
        self.commit.history = history;
        self
    }

    /// Persists the lifecycle action and pending command changes of tasks or of the stimulus.
    pub(super) fn changes(mut self, changes: RecordChanges) -> Self {
        self.commit.lifecycle_action = Change::from_option(changes.lifecycle_action);
        self.commit.pending_command = Change::from_option(changes.pending_command);
        self
    }

    /// Sets or clears the held lifecycle action.
    pub(super) fn lifecycle_action(mut self, change: Change<Arc<LifecycleAction>>) -> Self {
        self.commit.lifecycle_action = change;
        self
    }

    /// Sets the pending command (an SSM command intent).
    pub(super) fn pending_command(mut self, command: PendingCommand) -> Self {
        self.commit.pending_command = Change::Set(command);
        self
    }

    /// Records the last error.
    pub(super) fn last_error(mut self, message: impl Into<String>) -> Self {
        self.commit.last_error = Change::Set(message.into());
        self
    }

    /// Records the Auto Scaling group, when newly known.
    pub(super) fn group(mut self, group: Option<String>) -> Self {
        self.commit.group = group;
        self
    }

    /// Keeps the record indexed as it should be in `state`: out of the active index (expiring)
    /// at a terminal state, else under `group` or, when `None`, the group this write records
    /// ([`Self::group`], called first) or the one the record was read with.
    pub(super) fn indexed_for(self, state: &str, group: Option<&str>) -> Self {
        if self.handler.machine.is_terminal(state) {
            return self.leaves_index();
        }
        let group = group
            .or(self.commit.group.as_deref())
            .or(self.record.group.as_deref())
            .unwrap_or("-");
        if self.record.active_group.as_deref() == Some(group) {
            self
        } else {
            let group = group.to_string();
            self.active_in(group)
        }
    }

    /// Puts the record in the active index under `group`.
    pub(super) fn active_in(mut self, group: String) -> Self {
        self.commit.activity = Activity::Active(group);
        self
    }

    /// Takes the record out of the active index; it expires after the terminal TTL.
    pub(super) fn leaves_index(mut self) -> Self {
        let ttl = chrono::Duration::from_std(self.handler.config.terminal_ttl).unwrap_or_default();
        self.commit.activity = Activity::Inactive {
            expires_at: (self.commit.now + ttl).timestamp(),
        };
        self
    }

    /// Marks the instance gone from its group.
    pub(super) fn gone(mut self) -> Self {
        self.commit.gone = true;
        self
    }

    /// Ends `event_id`'s chain with this write (`owed: None`: the event is marked processed and
    /// the unfinished chain cleared), or records what it still owes.
    pub(super) fn ends_chain_or_owes(mut self, event_id: &str, owed: Option<InFlight>) -> Self {
        match owed {
            Some(in_flight) => self.commit.in_flight = Change::Set(in_flight),
            None => {
                if self.record.in_flight.is_some() {
                    self.commit.in_flight = Change::Clear;
                }
                self.commit.mark_processed = Some(event_id.to_string());
            }
        }
        self
    }

    /// Commits the write; the record as written.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the record changed since it was read, or the store's error.
    pub(super) async fn commit(mut self) -> Result<InstanceRecord, StoreError> {
        self.handler.store.commit_taking(&mut self.commit).await
    }

    /// Commits the write when the writer needs no record back (the write ends its chain).
    ///
    /// # Errors
    /// As [`Self::commit`].
    pub(super) async fn commit_without_answer(mut self) -> Result<(), StoreError> {
        self.handler
            .store
            .commit_without_answer(&mut self.commit)
            .await
    }
}
