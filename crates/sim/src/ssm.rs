//! Simulated SSM: commands that run for a random time and end `Success`, `Failed` or `TimedOut`;
//! their end is announced by the runner with the status-change notifications that
//! `template.yaml`'s `CommandStatusRule` routes to the function.

use std::sync::Arc;

use async_trait::async_trait;
use rand::Rng;

use super::exec::{Target, after_call, authorize, before_call};
use super::faults::chance;
use super::trail::TrailLine;
use super::world::{Job, Millis, Shared, secs};
use asg_lifecycle::aws::{AwsError, AwsErrorKind, CommandInvocation, SendCommand, SsmApi};
use asg_lifecycle::event::CommandStatus;

/// One command on one instance.
#[derive(Clone, Debug)]
pub struct SimCommand {
    /// The instance.
    pub instance: String,
    /// The document.
    pub document: String,
    /// The transition attempt tag from the comment.
    pub tag: String,
    /// When it was sent.
    pub sent: Millis,
    /// When it ends.
    pub ends: Millis,
    /// How it ends.
    pub outcome: CommandStatus,
}

/// Every command sent.
#[derive(Clone, Debug, Default)]
pub struct Commands {
    /// Commands by id (a hash map: what iterates it must not depend on its order).
    pub by_id: foldhash::HashMap<String, SimCommand>,
    /// Command ids by attempt tag.
    by_tag: foldhash::HashMap<String, Vec<String>>,
    seq: u64,
}

impl Commands {
    /// The status `GetCommandInvocation` reports at `now`.
    #[must_use]
    pub fn status(&self, id: &str, now: Millis) -> Option<CommandStatus> {
        self.by_id.get(id).map(|c| {
            if now >= c.ends {
                c.outcome
            } else {
                CommandStatus::InProgress
            }
        })
    }
}

/// The attempt tag a command's comment carries: the text in its last `[...]`.
#[must_use]
pub fn attempt_tag(comment: &str) -> &str {
    let start = comment.rfind('[').map_or(0, |i| i + 1);
    let rest = &comment[start..];
    rest.strip_suffix(']').unwrap_or(rest)
}

/// The simulated SSM API.
pub struct SimSsm {
    shared: Arc<Shared>,
}

impl SimSsm {
    /// Over the shared world.
    #[must_use]
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

#[async_trait]
impl SsmApi for SimSsm {
    async fn send_command(&self, input: &SendCommand) -> Result<String, AwsError> {
        const OP: &str = "SendCommand";
        let ident = input.instance_id.as_str();
        let target = Target::Command {
            document: &input.document,
        };
        authorize(&self.shared, ident, "ssm:SendCommand", &target)?;
        before_call(&self.shared, ident, OP).await?;
        {
            let now = self.shared.now();
            let mut guard = self.shared.lock();
            let s = &mut *guard;
            let young = s
                .group
                .instances
                .get(ident)
                .is_some_and(|i| now - i.launched_at < 300_000);
            let p = s.faults.agent_unregistered;
            if young && chance(&mut s.rng, p) {
                s.injected_errors += 1;
                s.checker.trail(
                    ident,
                    now,
                    format!("{OP}: InvalidInstanceId (the SSM agent has not registered yet)"),
                );
                return Err(AwsError {
                    operation: OP.into(),
                    kind: AwsErrorKind::InstanceNotReady,
                    code: "InvalidInstanceId".into(),
                    message: "Instances not in a valid state for account".into(),
                });
            }
        }
        let now = self.shared.now();
        let id = {
            let mut guard = self.shared.lock();
            let s = &mut *guard;
            s.commands.seq += 1;
            let id = format!(
                "c0de{:04x}-0000-4000-8000-{:012x}",
                s.commands.seq >> 48,
                s.commands.seq
            );
            let tag = attempt_tag(&input.comment).to_string();
            let (failed, timed_out) = (s.faults.command_failed, s.faults.command_timed_out);
            let timeout = i64::from(input.timeout_seconds.unwrap_or(3600)) * 1000;
            let run = s.rng.random_range(3_000..=90_000_i64).min(timeout);
            let (ends, outcome) = if chance(&mut s.rng, timed_out) {
                (now + timeout, CommandStatus::TimedOut)
            } else if chance(&mut s.rng, failed) {
                (now + run, CommandStatus::Failed)
            } else {
                (now + run, CommandStatus::Success)
            };
            let parameters = serde_json::to_string(&input.parameters).unwrap_or_default();
            let own_address = super::cloud_init::address_of(ident);
            if let Some(foreign) = super::adversary::foreign_data(&parameters, ident, &own_address)
            {
                let message = format!("a command for {ident} carries {foreign}");
                s.checker.violation(ident, now, message);
            }
            let sent = s.commands.by_tag.entry(tag.clone()).or_default();
            sent.push(id.clone());
            if sent.len() > 1 {
                let message = format!(
                    "{} SSM commands sent for transition attempt `{tag}`",
                    sent.len()
                );
                s.checker.violation(ident, now, message);
            }
            let line = (id.clone(), tag.clone(), outcome);
            s.checker.trail(
                ident,
                now,
                TrailLine::lazy(move |f| {
                    let (id, tag, outcome) = &line;
                    write!(f, "{OP} {id} [{tag}] → {outcome} at {}", secs(ends))
                }),
            );
            s.commands.by_id.insert(
                id.clone(),
                SimCommand {
                    instance: ident.to_string(),
                    document: input.document.clone(),
                    tag,
                    sent: now,
                    ends,
                    outcome,
                },
            );
            s.outbox.push((
                ends,
                Job::CommandDone {
                    command_id: id.clone(),
                },
            ));
            id
        };
        after_call(&self.shared, ident, OP).await?;
        Ok(id)
    }

    async fn find_command(&self, instance_id: &str, tag: &str) -> Result<Option<String>, AwsError> {
        authorize(&self.shared, instance_id, "ssm:ListCommands", &Target::Any)?;
        before_call(&self.shared, instance_id, "ListCommands").await?;
        let now = self.shared.now();
        let mut s = self.shared.lock();
        s.checker.on_list_commands(instance_id, tag, now);
        Ok(s.commands.by_tag.get(tag).and_then(|ids| {
            ids.iter()
                .find(|id| {
                    s.commands
                        .by_id
                        .get(*id)
                        .is_some_and(|c| c.instance == instance_id)
                })
                .cloned()
        }))
    }

    async fn get_command_invocation(
        &self,
        command_id: &str,
        instance_id: &str,
    ) -> Result<CommandInvocation, AwsError> {
        const OP: &str = "GetCommandInvocation";
        authorize(
            &self.shared,
            instance_id,
            "ssm:GetCommandInvocation",
            &Target::Any,
        )?;
        before_call(&self.shared, instance_id, OP).await?;
        let now = self.shared.now();
        let s = self.shared.lock();
        match s.commands.status(command_id, now) {
            Some(status) => Ok(CommandInvocation {
                command_id: command_id.to_string(),
                instance_id: instance_id.to_string(),
                status: status.as_str().to_string(),
            }),
            None => Err(AwsError {
                operation: OP.into(),
                kind: AwsErrorKind::Permanent,
                code: "InvocationDoesNotExist".into(),
                message: format!("no invocation of {command_id} on {instance_id}"),
            }),
        }
    }

    /// Lists a launched instance with [`private_ip`], unless its agent has not registered yet
    /// (a young instance, as often as `SendCommand` answers `InvalidInstanceId`).
    async fn instance_private_ip(&self, instance_id: &str) -> Result<Option<String>, AwsError> {
        const OP: &str = "DescribeInstanceInformation";
        authorize(
            &self.shared,
            instance_id,
            "ssm:DescribeInstanceInformation",
            &Target::Any,
        )?;
        before_call(&self.shared, instance_id, OP).await?;
        let listed = {
            let now = self.shared.now();
            let mut guard = self.shared.lock();
            let s = &mut *guard;
            let launched = s.group.instances.get(instance_id).map(|i| i.launched_at);
            let young = launched.is_some_and(|at| now - at < 300_000);
            let p = s.faults.agent_unregistered;
            let unregistered = young && chance(&mut s.rng, p);
            if unregistered {
                s.injected_errors += 1;
                s.checker.trail(
                    instance_id,
                    now,
                    format!("{OP}: not listed (the SSM agent has not registered yet)"),
                );
            }
            launched.is_some() && !unregistered
        };
        after_call(&self.shared, instance_id, OP).await?;
        Ok(listed.then(|| private_ip(instance_id)))
    }
}

/// The private IP SSM reports for a simulated instance: the address cloud-init writes for it
/// ([`cloud_init::address`](super::cloud_init::address) of the number in its id).
#[must_use]
pub fn private_ip(ident: &str) -> String {
    let n = u64::from_str_radix(ident.trim_start_matches("i-"), 16).unwrap_or(0);
    super::cloud_init::address(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attempt_tag_is_the_last_bracketed_part_of_the_comment() {
        assert_eq!(
            attempt_tag("asg-lifecycle join [i-1:a:join:v1]"),
            "i-1:a:join:v1"
        );
        assert_eq!(attempt_tag("x [y] [z]"), "z");
    }

    #[test]
    fn the_reported_ip_is_the_address_cloud_init_writes() {
        assert_eq!(private_ip("i-00000000000102ff"), "10.1.2.255");
        assert_eq!(
            private_ip("i-0000000000000007"),
            crate::cloud_init::address(7)
        );
    }
}
