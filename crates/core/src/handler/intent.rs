//! The SSM command intent and its lease: a command is sent at most once per transition attempt.
//!
//! # Guarantees
//! - Before a task that sends a command runs, the attempt id is on the record as the pending
//!   command (the intent); the command carries the attempt id, so a retry finds it by listing
//!   instead of sending again.
//! - A fresh intent written by another invocation is left to it for `intent_lease`: this
//!   invocation answers [`HandlerError::Busy`] (retryable) instead of sending.
//! - Past the lease an intent is taken over with a conditional write renewing it, so of two
//!   invocations taking over at once only one sends: the other's write conflicts, and on reload
//!   it finds the intent held elsewhere.
//! - Only a taken-over intent is looked up with `ListCommands` before sending: an intent this
//!   invocation wrote itself, conditionally, over a record that knew no such attempt is
//!   exclusive (attempt ids are new per record version), so no command for it can exist.

use super::HandlerError;
use super::run::ChainRun;
use crate::machine::Call;
use crate::record::{InstanceRecord, PendingCommand};
use crate::store::Change;
use crate::tasks::RecordChanges;

impl ChainRun<'_> {
    /// True when one of `calls` needs an intent before it runs.
    pub(super) fn needs_intent(&self, calls: &[Call]) -> bool {
        calls.iter().any(|c| {
            self.handler
                .machine
                .registry()
                .task(&c.name)
                .is_some_and(|t| t.needs_intent())
        })
    }

    /// Makes sure this run holds the intent of `attempt_id` before a `before` phase that sends a
    /// command: written now (with the carried `changes` and group, and the chain owing the
    /// transition `(trigger, from)`), or the existing one claimed.
    ///
    /// # Errors
    /// [`HandlerError::Busy`] when another invocation holds it; the store's errors.
    pub(super) async fn hold_intent_before(
        &mut self,
        record: &mut InstanceRecord,
        attempt_id: &str,
        (trigger, from): (&str, &str),
        changes: &mut RecordChanges,
    ) -> Result<(), HandlerError> {
        self.check_lease(record, attempt_id)?;
        if record
            .pending_command
            .as_ref()
            .is_some_and(|p| p.attempt_id == attempt_id)
        {
            return self.claim_intent(record, attempt_id).await;
        }
        let handler = self.handler;
        let fresh = !knows_attempt(record, attempt_id);
        let intent = PendingCommand::intent(attempt_id, trigger, handler.clock.now());
        let owed = self.owed(false, attempt_id, Some((trigger, from, Vec::new())));
        let lifecycle_action = Change::from_option(changes.lifecycle_action.take());
        let group = self.group.take();
        *record = self
            .write(record)
            .for_event(self.event_id)
            .lifecycle_action(lifecycle_action)
            .pending_command(intent)
            .ends_chain_or_owes(self.event_id, owed)
            .group(group)
            .indexed_for(record.state(), None)
            .commit()
            .await?;
        self.landed();
        self.own_intent = Some(attempt_id.to_string());
        self.fresh_intent = fresh.then(|| attempt_id.to_string());
        Ok(())
    }

    /// True when this run wrote the intent of `attempt_id` itself over a record that knew no such
    /// attempt: its command is sent without looking for an earlier one.
    pub(super) fn holds_fresh_intent(&self, attempt_id: &str) -> bool {
        self.fresh_intent.as_deref() == Some(attempt_id)
    }

    /// Makes sure this run holds the intent of `attempt_id`, written with the transition, before
    /// its `after` phase sends a command.
    ///
    /// # Errors
    /// [`HandlerError::Busy`] when another invocation holds it; the store's errors.
    pub(super) async fn hold_intent_after(
        &mut self,
        record: &mut InstanceRecord,
        attempt_id: &str,
    ) -> Result<(), HandlerError> {
        self.check_lease(record, attempt_id)?;
        self.claim_intent(record, attempt_id).await
    }

    /// Adds the intent of `attempt_id` to the transition write's `changes` when its `after`
    /// phase sends a command and the record holds no intent for the attempt yet.
    pub(super) fn intend_after(
        &mut self,
        record: &InstanceRecord,
        attempt_id: &str,
        trigger: &str,
        after: &[Call],
        changes: &mut RecordChanges,
    ) {
        let held = record
            .pending_command
            .as_ref()
            .is_some_and(|p| p.attempt_id == attempt_id);
        if self.needs_intent(after) && !held {
            let intent = PendingCommand::intent(attempt_id, trigger, self.handler.clock.now());
            changes.pending_command = Some(Some(intent));
            self.own_intent = Some(attempt_id.to_string());
            if !knows_attempt(record, attempt_id) {
                self.fresh_intent = Some(attempt_id.to_string());
            }
        }
    }

    /// Fails with [`HandlerError::Busy`] when another invocation holds a fresh intent for this
    /// attempt: it sends the command.
    fn check_lease(&self, record: &InstanceRecord, attempt_id: &str) -> Result<(), HandlerError> {
        let Some(pending) = record
            .pending_command
            .as_ref()
            .filter(|p| p.attempt_id == attempt_id)
        else {
            return Ok(());
        };
        let lease =
            chrono::Duration::from_std(self.handler.config.intent_lease).unwrap_or_default();
        let held_elsewhere = pending.command_id.is_none()
            && self.own_intent.as_deref() != Some(attempt_id)
            && self.handler.clock.now() - pending.intent_at < lease;
        if held_elsewhere {
            return Err(HandlerError::Busy {
                ident: self.ident.to_string(),
            });
        }
        Ok(())
    }

    /// Takes over an unsent intent whose lease expired (its writer presumed crashed) by renewing
    /// it with a conditional write.
    async fn claim_intent(
        &mut self,
        record: &mut InstanceRecord,
        attempt_id: &str,
    ) -> Result<(), HandlerError> {
        if self.own_intent.as_deref() == Some(attempt_id) {
            return Ok(());
        }
        let Some(pending) = record
            .pending_command
            .as_ref()
            .filter(|p| p.attempt_id == attempt_id && p.command_id.is_none())
        else {
            return Ok(());
        };
        let write = self.write(record).for_event(self.event_id);
        let renewed = PendingCommand {
            intent_at: write.now(),
            ..pending.clone()
        };
        *record = write.pending_command(renewed).commit().await?;
        self.landed();
        self.own_intent = Some(attempt_id.to_string());
        Ok(())
    }
}

/// True when `record` already names the attempt `attempt_id` (as its pending command or its
/// interrupted chain): a command for it may have been sent by an earlier invocation.
fn knows_attempt(record: &InstanceRecord, attempt_id: &str) -> bool {
    record
        .pending_command
        .as_ref()
        .is_some_and(|p| p.attempt_id == attempt_id)
        || record
            .in_flight
            .as_ref()
            .is_some_and(|f| f.attempt_id == attempt_id)
}
