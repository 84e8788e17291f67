//! [`SsmApi`] over `aws_sdk_ssm`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_ssm::config::retry::RetryConfig;
use aws_sdk_ssm::types::{Command, InstanceInformationStringFilter};

use super::errors::from_sdk_error;
use asg_lifecycle::aws::{AwsError, AwsErrorKind, CommandInvocation, SendCommand, SsmApi};

/// The longest comment `SendCommand` accepts.
pub const MAX_COMMENT_CHARS: usize = 100;

/// Commands asked for per `ListCommands` page (the API's maximum).
const LIST_PAGE_SIZE: i32 = 50;

/// SSM through the AWS SDK.
///
/// `SendCommand` targets one instance by id; its comment carries the transition attempt tag and is
/// cut to [`MAX_COMMENT_CHARS`] from the front, so a tag at the end survives. No output location
/// (S3, CloudWatch) is configured: the handler reads only statuses.
///
/// `SendCommand` is sent **without SDK retries**: it has no idempotency token, so a retry after a
/// timeout or a 5xx whose request did reach SSM would start a second command. A failed send
/// fails the task retryably instead; the next delivery lists the instance's commands for the
/// attempt tag first ([`SsmApi::find_command`]) and sends only when none is found, which keeps
/// "at most once per transition attempt". Every other call keeps the client's retries.
///
/// `find_command` pages through `ListCommands` for the instance (the service lists the newest
/// first) and answers the first page's newest command whose comment contains the tag.
///
/// `instance_private_ip` asks `DescribeInstanceInformation` with the one filter
/// `InstanceIds = [instance]` and answers the listed instance's `IPAddress` (`None` when SSM
/// lists no such instance: its agent has not registered yet).
///
/// # Errors
/// Every call maps SDK errors with the crate's classification (throttling and server faults are
/// retryable, the rest permanent), keeping the service's code and message.
#[derive(Clone, Debug)]
pub struct SdkSsm {
    client: aws_sdk_ssm::Client,
}

impl SdkSsm {
    /// Wraps a client, built once (e.g. by
    /// [`aws_clients`](crate::aws_clients)).
    #[must_use]
    pub fn new(client: aws_sdk_ssm::Client) -> Self {
        Self { client }
    }

    /// The wrapped client.
    #[must_use]
    pub fn client(&self) -> &aws_sdk_ssm::Client {
        &self.client
    }
}

fn missing(operation: &str, what: &str) -> AwsError {
    AwsError {
        operation: operation.to_string(),
        kind: AwsErrorKind::Permanent,
        code: "MissingField".into(),
        message: format!("the response carried no {what}"),
    }
}

/// Keeps the last `limit` characters: the attempt tag is at the end of the comment.
fn comment_tail(comment: &str, limit: usize) -> &str {
    let count = comment.chars().count();
    if count <= limit {
        return comment;
    }
    let start = comment
        .char_indices()
        .nth(count - limit)
        .map_or(0, |(index, _)| index);
    &comment[start..]
}

/// The newest command of a page whose comment contains `tag`.
fn newest_tagged<'a>(commands: &'a [Command], tag: &str) -> Option<&'a Command> {
    commands
        .iter()
        .filter(|c| {
            c.comment()
                .is_some_and(|comment| comment.ends_with(&format!("[{tag}]")))
        })
        .max_by_key(|c| {
            c.requested_date_time()
                .map(|t| (t.secs(), t.subsec_nanos()))
        })
}

#[async_trait]
impl SsmApi for SdkSsm {
    async fn send_command(&self, input: &SendCommand) -> Result<String, AwsError> {
        let operation = "SendCommand";
        let parameters: HashMap<String, Vec<String>> = input
            .parameters
            .iter()
            .map(|(name, values)| (name.clone(), values.clone()))
            .collect();
        let output = self
            .client
            .send_command()
            .instance_ids(&input.instance_id)
            .document_name(&input.document)
            .set_parameters((!parameters.is_empty()).then_some(parameters))
            .set_timeout_seconds(input.timeout_seconds)
            .comment(comment_tail(&input.comment, MAX_COMMENT_CHARS))
            .customize()
            // Not idempotent: a retry after a timeout or 5xx may send a second command. The
            // task's list-before-send recovery is the retry instead (see the type's docs).
            .config_override(
                aws_sdk_ssm::config::Builder::default().retry_config(RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| from_sdk_error(operation, &e))?;
        output
            .command()
            .and_then(Command::command_id)
            .map(str::to_string)
            .ok_or_else(|| missing(operation, "command id"))
    }

    async fn find_command(&self, instance_id: &str, tag: &str) -> Result<Option<String>, AwsError> {
        let operation = "ListCommands";
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_commands()
                .instance_id(instance_id)
                .max_results(LIST_PAGE_SIZE)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| from_sdk_error(operation, &e))?;
            if let Some(command) = newest_tagged(page.commands(), tag) {
                return command
                    .command_id()
                    .map(|id| Some(id.to_string()))
                    .ok_or_else(|| missing(operation, "command id"));
            }
            match page.next_token() {
                // A token equal to the one sent would loop forever (the SDK paginators stop too).
                Some(next) if !next.is_empty() && token.as_deref() != Some(next) => {
                    token = Some(next.to_string());
                }
                _ => return Ok(None),
            }
        }
    }

    async fn get_command_invocation(
        &self,
        command_id: &str,
        instance_id: &str,
    ) -> Result<CommandInvocation, AwsError> {
        let operation = "GetCommandInvocation";
        let output = self
            .client
            .get_command_invocation()
            .command_id(command_id)
            .instance_id(instance_id)
            .send()
            .await
            .map_err(|e| from_sdk_error(operation, &e))?;
        let status = output
            .status()
            .map(|s| s.as_str().to_string())
            .ok_or_else(|| missing(operation, "status"))?;
        Ok(CommandInvocation {
            command_id: output.command_id().unwrap_or(command_id).to_string(),
            instance_id: output.instance_id().unwrap_or(instance_id).to_string(),
            status,
        })
    }

    async fn instance_private_ip(&self, instance_id: &str) -> Result<Option<String>, AwsError> {
        let operation = "DescribeInstanceInformation";
        let filter = InstanceInformationStringFilter::builder()
            .key("InstanceIds")
            .values(instance_id)
            .build()
            .map_err(|e| AwsError {
                operation: operation.into(),
                kind: AwsErrorKind::Permanent,
                code: "InvalidRequest".into(),
                message: e.to_string(),
            })?;
        let output = self
            .client
            .describe_instance_information()
            .filters(filter)
            .send()
            .await
            .map_err(|e| from_sdk_error(operation, &e))?;
        // Filtered by id, so at most this instance is listed; another one would be SSM's error.
        let listed = output
            .instance_information_list()
            .iter()
            .find(|i| i.instance_id() == Some(instance_id));
        match listed {
            None => Ok(None),
            Some(info) => info
                .ip_address()
                .map(|ip| Some(ip.to_string()))
                .ok_or_else(|| missing(operation, "IP address")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_comment_keeps_its_tail() {
        let comment = format!("{} [attempt-1]", "x".repeat(120));
        let kept = comment_tail(&comment, MAX_COMMENT_CHARS);
        assert_eq!(kept.chars().count(), MAX_COMMENT_CHARS);
        assert!(kept.ends_with("[attempt-1]"));
        assert_eq!(comment_tail("short", MAX_COMMENT_CHARS), "short");
    }

    #[test]
    fn a_multibyte_comment_is_cut_on_a_character_boundary() {
        let comment = "é".repeat(150);
        assert_eq!(
            comment_tail(&comment, MAX_COMMENT_CHARS).chars().count(),
            MAX_COMMENT_CHARS
        );
    }
}
