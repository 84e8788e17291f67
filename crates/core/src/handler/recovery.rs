//! The sweep's recovery of a lost SSM status event: `GetCommandInvocation` for the command a
//! record waits on.
//!
//! A status event can be lost, or arrive before the handler recorded the command's id (a crash
//! between `SendCommand` and the write, a very short command): either way the record waits for an
//! event that will never come. The sweep asks SSM instead, and when the command has ended it
//! steps the record with a synthetic status event whose id is stable (`recovered:ID:STATUS`), so
//! that two sweeps recovering the same status are deduplicated like any redelivery.

use chrono::Duration;

use super::LifecycleHandler;
use crate::event::{CommandEvent, CommandEventKind, CommandStatus, Stimulus};
use crate::record::InstanceRecord;

impl LifecycleHandler {
    /// For a scheduled stimulus and a record waiting on a sent command older than the intent
    /// lease (its status event is presumed lost): the command's final status as a synthetic
    /// event `(id, stimulus)`, or `None` when it is still running or SSM could not be asked (the
    /// next sweep asks again).
    pub(super) async fn recover_command_status(
        &self,
        record: &InstanceRecord,
        stimulus: &Stimulus,
    ) -> Option<(String, Stimulus)> {
        if !matches!(stimulus, Stimulus::Scheduled(_)) || record.in_flight.is_some() {
            return None;
        }
        let pending = record.pending_command.as_ref()?;
        let command_id = pending.command_id.as_deref()?;
        if !self.waits_on_command(record) {
            return None;
        }
        let grace = Duration::from_std(self.config.status_grace).unwrap_or_default();
        if self.clock.now() - pending.intent_at < grace {
            return None;
        }
        let invocation = match self
            .aws
            .ssm
            .get_command_invocation(command_id, &record.ident)
            .await
        {
            Ok(invocation) => invocation,
            Err(e) => {
                tracing::warn!(instance = %record.ident, command = command_id, error = %e, "failed to ask SSM for a command's status; the next sweep asks again");
                return None;
            }
        };
        let status = CommandStatus::parse(&invocation.status)
            .ok()
            .filter(|s| s.is_terminal())?;
        tracing::info!(instance = %record.ident, command = command_id, %status, "recovered a command status the events did not bring");
        Some((
            format!("recovered:{command_id}:{status}"),
            status_of(record, command_id, status),
        ))
    }

    /// True when `record` waits on the status of its sent command: the machine would move on one.
    /// A stable record still naming its last command does not.
    pub(super) fn waits_on_command(&self, record: &InstanceRecord) -> bool {
        let Some(command_id) = record
            .pending_command
            .as_ref()
            .and_then(|p| p.command_id.as_deref())
        else {
            return false;
        };
        // One synthetic event, its status changed for each question.
        let mut stimulus = status_of(record, command_id, CommandStatus::Success);
        [
            CommandStatus::Success,
            CommandStatus::Failed,
            CommandStatus::TimedOut,
        ]
        .into_iter()
        .any(|status| {
            if let Stimulus::Command(event) = &mut stimulus {
                event.status = status;
            }
            !self.machine.is_quiescent(record, &stimulus)
        })
    }
}

/// A synthetic invocation status event of `command_id` on `record`'s instance.
fn status_of(record: &InstanceRecord, command_id: &str, status: CommandStatus) -> Stimulus {
    Stimulus::Command(CommandEvent {
        kind: CommandEventKind::Invocation,
        command_id: command_id.to_string(),
        instance_ids: vec![record.ident.clone()],
        status,
        document_name: None,
    })
}
