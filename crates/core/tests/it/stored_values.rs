//! Issue #13, item 4: nothing resolved is stored. A model passes a secret record attribute to
//! its commands through `env`; SSM's command-level notifications carry the resolved lines back;
//! a send fails with a message quoting them; a chain is left in flight; the instance ends on the
//! failure path. No stored item and no change-log image holds the secret anywhere but in the
//! attribute cloud-init wrote itself.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use asg_lifecycle::aws::{
    AwsClients, AwsError, AwsErrorKind, CommandInvocation, LocalAws, SendCommand, SsmApi,
};
use asg_lifecycle::event::{Event, decode_event};
use asg_lifecycle::handler::HandlerConfig;
use asg_lifecycle::store::MemoryStore;
use asg_lifecycle::testing::{Harness, launch};

const I: &str = "i-0secret";
const SECRET: &str = "hunter2-correct-horse";

const MODEL: &str = r#"
initial: finished_cloud_init
failure: failure
terminal: [ready, abandoned]
states: [finished_cloud_init, joining, joined, configuring, ready, failure, abandoned]
transitions:
  - source: finished_cloud_init
    dest: joining
    triggers:
      - name: join
        conditions: [is_launching]
        after:
          - send_command: {env: {DB_PASSWORD: "${attr:DbPassword}"}, commands: ["/opt/join.sh"]}
  - source: joining
    dest: joined
    triggers: [{name: joined, conditions: [command_succeeded]}]
  - source: joined
    dest: configuring
    triggers:
      - name: configure
        after:
          - send_command: {env: {DB_PASSWORD: "${attr:DbPassword}"}, commands: ["/opt/configure.sh"]}
  - source: configuring
    dest: ready
    triggers: [{name: configured, conditions: [command_succeeded]}]
  - source: [joining, configuring]
    dest: failure
    triggers: [{name: command_failed, conditions: [command_failed]}]
  - source: failure
    dest: abandoned
    triggers:
      - name: abandon
        before: [{complete_lifecycle_action: {result: ABANDON}}]
"#;

/// SSM whose next sends answer as scripted (`Some`: an error whose message quotes the command
/// lines, as a `ValidationException` about parameters does; `None`: as the local recorder),
/// then as the local recorder.
struct EchoingSsm {
    local: Arc<LocalAws>,
    failures: Mutex<VecDeque<Option<AwsErrorKind>>>,
}

#[async_trait]
impl SsmApi for EchoingSsm {
    async fn send_command(&self, input: &SendCommand) -> Result<String, AwsError> {
        if let Some(Some(kind)) = self.failures.lock().unwrap().pop_front() {
            return Err(AwsError {
                operation: "SendCommand".into(),
                kind,
                code: "ValidationException".into(),
                message: format!(
                    "Value '{:?}' at 'parameters' failed to satisfy constraint",
                    input.parameters["commands"]
                ),
            });
        }
        self.local.send_command(input).await
    }

    async fn find_command(&self, instance_id: &str, tag: &str) -> Result<Option<String>, AwsError> {
        self.local.find_command(instance_id, tag).await
    }

    async fn get_command_invocation(
        &self,
        command_id: &str,
        instance_id: &str,
    ) -> Result<CommandInvocation, AwsError> {
        self.local
            .get_command_invocation(command_id, instance_id)
            .await
    }
}

fn harness(failures: &[Option<AwsErrorKind>]) -> Harness {
    let local = Arc::new(LocalAws::new());
    let clients = AwsClients {
        autoscaling: local.clone(),
        ssm: Arc::new(EchoingSsm {
            local: local.clone(),
            failures: Mutex::new(failures.iter().copied().collect()),
        }),
        extensions: Default::default(),
    };
    Harness::builder()
        .manual_clock()
        .model_yaml(MODEL)
        .aws(local)
        .clients(clients)
        .build()
}

/// The command-level notification of `command_id`, carrying the parameters as sent: the
/// resolved `export` line included.
fn command_notification(id: &str, command_id: &str, status: &str) -> Event {
    decode_event(&json!({
        "version": "0", "id": id, "source": "aws.ssm",
        "detail-type": "EC2 Command Status-change Notification",
        "account": "123456789012", "time": "2026-01-01T00:00:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:ec2:us-east-1:123456789012:instance/{I}")],
        "detail": {
            "command-id": command_id, "document-name": "AWS-RunShellScript",
            "expire-after": "2026-01-01T02:00:00.000Z",
            "parameters": {"commands": [format!("export DB_PASSWORD='{SECRET}'"), "/opt/join.sh"]},
            "requested-date-time": "2026-01-01T00:00:00.000Z", "status": status
        }
    }))
    .expect("a valid notification")
}

async fn register(h: &Harness) {
    h.register_with(I, "finished_cloud_init", &[("DbPassword", SECRET)])
        .await;
}

/// An item's JSON without the attribute cloud-init wrote the secret into.
fn without_own_attribute(record: &asg_lifecycle::record::InstanceRecord) -> String {
    let mut item = record.to_item();
    assert_eq!(item.remove("DbPassword"), Some(json!(SECRET)));
    Value::Object(item).to_string()
}

/// Every stored item and every change-log image: none holds the secret elsewhere.
fn assert_nowhere_stored(store: &MemoryStore) {
    for record in store.all() {
        let item = without_own_attribute(&record);
        assert!(!item.contains(SECRET), "stored item: {item}");
    }
    let changes = store.changes_after(0, usize::MAX).expect("the whole log");
    assert!(!changes.is_empty());
    for change in changes {
        // The log keeps the record after each write (and only the group membership before it).
        let item = without_own_attribute(&change.new);
        assert!(!item.contains(SECRET), "change {}: {item}", change.sequence);
    }
}

#[tokio::test]
async fn resolved_values_reach_the_command_but_no_stored_item_or_stream_image() {
    let h = harness(&[]);
    register(&h).await;
    h.deliver_ok(&launch("launch-1", I)).await;
    let sent = h.aws.calls().pop().unwrap();
    assert!(
        sent.input.to_string().contains(SECRET),
        "the value does reach the command: {sent:?}"
    );
    h.deliver_ok(&command_notification(
        "ssm-1",
        &h.last_command_id(),
        "Success",
    ))
    .await;
    assert_eq!(h.state(I).await, "configuring");
    h.deliver_ok(&command_notification(
        "ssm-2",
        &h.last_command_id(),
        "Failed",
    ))
    .await;
    assert_eq!(h.state(I).await, "abandoned");
    assert_nowhere_stored(&h.store);
}

#[tokio::test]
async fn a_chain_left_in_flight_and_a_send_error_quoting_the_lines_store_no_resolved_value() {
    let h = harness(&[
        Some(AwsErrorKind::Transient),
        None,
        Some(AwsErrorKind::Permanent),
    ]);
    register(&h).await;
    // The join's send fails retryably: the chain is left in flight, the error recorded.
    let first = h.deliver(&launch("launch-1", I)).await;
    assert!(first.is_err(), "{first:?}");
    let record = h.record(I).await;
    assert!(record.in_flight.is_some(), "{record:#?}");
    // The redelivery, once the intent's lease is over, takes it over.
    h.advance(HandlerConfig::default().intent_lease + Duration::from_secs(1));
    h.deliver_ok(&launch("launch-1", I)).await;
    let join = h.last_command_id();
    // The join succeeded: the command-level notification (with the resolved lines) is the
    // stimulus of the chain that sends `configure`, whose send fails permanently.
    let _ = h
        .deliver(&command_notification("ssm-1", &join, "Success"))
        .await;
    let record = h.record(I).await;
    assert!(
        record
            .history
            .iter()
            .any(|e| e.from == "joined".into() && e.to == "configuring".into()),
        "{:#?}",
        record.history
    );
    let error = record.last_error.clone().unwrap_or_default();
    assert!(error.contains("<resolved value>"), "scrubbed: {error}");
    assert_eq!(record.state(), "abandoned", "the failure path ran");
    let stored_in_flight = h
        .store
        .changes_after(0, usize::MAX)
        .unwrap()
        .into_iter()
        .filter_map(|c| c.new.in_flight.clone())
        .filter(|f| f.event_id == "ssm-1")
        .count();
    assert!(
        stored_in_flight > 0,
        "the notification was stored in flight"
    );
    assert_nowhere_stored(&h.store);
}
