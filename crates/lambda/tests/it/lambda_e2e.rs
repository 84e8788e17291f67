//! End-to-end: the real `lifecycle-handler` binary as a process, against a Lambda Runtime API
//! on loopback (`runtime_api_and_fake_aws`), DynamoDB on moto_server, and a fake Auto Scaling and SSM
//! endpoint in the test (moto lacks `CompleteLifecycleAction` and answers every SSM command
//! `Success` at once). The binary uses the real SDK clients: the endpoints reach it through
//! `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_AUTO_SCALING` and `AWS_ENDPOINT_URL_SSM`;
//! poison payloads go to a dead-letter queue on moto_server (`AWS_ENDPOINT_URL_SQS`).

use crate::runtime_api_and_fake_aws::{Reply, Server};

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asg_lifecycle::event::CommandStatus;
use asg_lifecycle::event::payload::{
    CommandStatusChange, LifecycleAction, RecordChange, Scheduled, Wrap, sqs_batch, wrap,
};
use asg_lifecycle::store::StateStore;
use asg_lifecycle_aws::DynamoStore;
use asg_lifecycle_aws::testing::moto::{attrs, moto_endpoint, moto_store};
use serde_json::{Value, json};

const GROUP: &str = "web-asg";
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// The binary as a running process; killed when dropped.
struct Function {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Function {
    /// Starts the binary with JSON logs (the template's `LoggingConfig.LogFormat`);
    /// `dead_letters` is `(SQS endpoint, queue URL)`.
    fn start(
        server: &Server,
        table: &str,
        model: &Path,
        dead_letters: Option<(&str, &str)>,
    ) -> Self {
        Self::start_logging(server, table, model, dead_letters, "JSON")
    }

    /// Starts the binary with `AWS_LAMBDA_LOG_FORMAT` set to `log_format`.
    fn start_logging(
        server: &Server,
        table: &str,
        model: &Path,
        dead_letters: Option<(&str, &str)>,
        log_format: &str,
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lifecycle-handler"));
        command.env_clear();
        if let Some((endpoint, queue_url)) = dead_letters {
            command
                .env("AWS_ENDPOINT_URL_SQS", endpoint)
                .env("DEAD_LETTER_QUEUE_URL", queue_url);
        }
        let mut child = command
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &server.addr)
            .env("AWS_LAMBDA_FUNCTION_NAME", "lifecycle")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL_DYNAMODB", moto_endpoint_or_unused(table))
            .env("AWS_ENDPOINT_URL_AUTO_SCALING", server.aws_endpoint())
            .env("AWS_ENDPOINT_URL_SSM", server.aws_endpoint())
            .env("TABLE_NAME", table)
            .env("GROUP_NAMES", format!("{GROUP},other-asg"))
            .env("SWEEP_RULE", "reconcile")
            .env("TRANSITIONS_FILE", model)
            .env("RUST_LOG", "info")
            .env("AWS_LAMBDA_LOG_FORMAT", log_format)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start lifecycle-handler");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let lines = stdout.clone();
        let pipe = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                println!("[lifecycle-handler] {line}");
                lines.lock().unwrap().push(line);
            }
        });
        Self { child, stdout }
    }

    /// The EMF documents printed so far.
    fn metrics(&self) -> Vec<Value> {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("_aws").is_some())
            .collect()
    }

    /// Waits up to 10 s for a printed line containing `needle`.
    fn line_containing(&self, needle: &str) -> Option<String> {
        for _ in 0..100 {
            let found = self
                .stdout
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
                .cloned();
            if found.is_some() {
                return found;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// JSON log lines so far.
    fn logs(&self) -> Vec<Value> {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("level").is_some())
            .collect()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A dead-letter queue on moto_server: the client and the queue's URL.
async fn dead_letter_queue() -> (aws_sdk_sqs::Client, String) {
    let sdk = asg_lifecycle_aws::load_sdk_config(Some(&moto_endpoint()), Some("us-east-1")).await;
    let client = aws_sdk_sqs::Client::new(&sdk);
    let name = asg_lifecycle_aws::testing::moto::unique_table("dlq");
    let created = client.create_queue().queue_name(name).send().await.unwrap();
    (client, created.queue_url().unwrap().to_string())
}

/// Every letter in the queue (bodies as JSON, with the `ErrorType` attribute checked).
async fn letters(client: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<Value> {
    let mut letters = Vec::new();
    loop {
        let received = client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        let messages = received.messages();
        if messages.is_empty() {
            return letters;
        }
        for message in messages {
            let error_type = message
                .message_attributes()
                .and_then(|a| a.get("ErrorType"))
                .and_then(|a| a.string_value());
            assert_eq!(
                error_type,
                Some(asg_lifecycle::invocation::POISON_ERROR_TYPE)
            );
            letters.push(serde_json::from_str(message.body().unwrap()).unwrap());
            client
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

#[test]
fn a_poison_event_the_dead_letter_queue_cannot_take_fails_as_a_poison_event() {
    // Nothing listens on port 9: SendMessage fails, so the payload is handed back to Lambda,
    // whose bounded retries end in the on-failure destination with this error.
    let server = Server::start();
    let _function = Function::start(
        &server,
        "unused",
        &model_file(),
        Some(("http://127.0.0.1:9", "http://127.0.0.1:9/123456789012/dlq")),
    );
    let reply = server.invoke(json!({"hello": "world"}), REPLY_TIMEOUT);
    let Reply::Error { body, .. } = reply else {
        panic!("expected an invocation error, got {reply:?}");
    };
    assert_eq!(body["errorType"], "AsgLifecycle.PoisonEvent", "{body:#}");
    assert!(
        body["errorMessage"].as_str().unwrap().contains("Records"),
        "the reason: {body:#}"
    );
}

/// The init-failure test needs no DynamoDB: any URL will do there.
fn moto_endpoint_or_unused(table: &str) -> String {
    if table == "unused" {
        "http://127.0.0.1:9".into()
    } else {
        moto_endpoint()
    }
}

fn model_file() -> std::path::PathBuf {
    crate::repo_root().join("transitions/cluster-node.yaml")
}

fn launch(id: &str, instance: &str, token: &str) -> Value {
    LifecycleAction::launching(id, instance)
        .group(GROUP)
        .token(token)
        .json()
}

fn command_succeeded(id: &str, instance: &str, command_id: &str) -> Value {
    CommandStatusChange::new(id, instance, command_id, CommandStatus::Success).json()
}

fn response_body(reply: Reply) -> Value {
    match reply {
        Reply::Response { body, .. } => body,
        other => panic!("expected a response, got {other:?}"),
    }
}

async fn register(store: &DynamoStore, ident: &str, ip: &str) {
    store
        .cloud_init_update(
            ident,
            &attrs(json!({"ItemStatus": "finished_cloud_init", "InstanceIp": ip})),
        )
        .await
        .unwrap();
}

async fn status_of(store: &DynamoStore, ident: &str) -> String {
    store
        .get(ident)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{ident} has a record"))
        .status
        .unwrap_or_default()
}

async fn pending_command(store: &DynamoStore, ident: &str) -> String {
    let record = store.get(ident).await.unwrap().unwrap();
    record
        .pending_command
        .as_ref()
        .and_then(|c| c.command_id.clone())
        .unwrap_or_else(|| panic!("{ident} has a pending command: {record:#?}"))
}

/// Runs a blocking call (waiting for the function's reply) off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_handles_every_envelope_through_the_runtime_api() {
    let (store, _) = moto_store(&[GROUP]).await;
    let table = store.table().to_string();
    for (ident, ip) in [
        ("i-0a", "10.0.0.1"),
        ("i-0b", "10.0.0.2"),
        ("i-0c", "10.0.0.3"),
    ] {
        register(&store, ident, ip).await;
    }
    let (sqs, queue_url) = dead_letter_queue().await;
    let server = Arc::new(Server::start());
    let function = Function::start(
        &server,
        &table,
        &model_file(),
        Some((&moto_endpoint(), &queue_url)),
    );
    let invoke = |payload: Value| {
        let server = server.clone();
        blocking(move || server.invoke(payload, REPLY_TIMEOUT))
    };

    // 0. The table's stream: the three registrations reach the initial state in one batch; the
    //    function takes each into its record (nothing fires before the launch event).
    let records: Vec<Value> = [
        ("i-0a", "10.0.0.1"),
        ("i-0b", "10.0.0.2"),
        ("i-0c", "10.0.0.3"),
    ]
    .iter()
    .enumerate()
    .map(|(n, (ident, ip))| {
        RecordChange::new(&format!("{}", 100 + n), ident, "finished_cloud_init")
            .from("new")
            .with_attribute("InstanceIp", ip)
            .record()
    })
    .collect();
    let body = response_body(invoke(json!({ "Records": records })).await);
    assert_eq!(body, json!({"batchItemFailures": []}), "{body:#}");
    for ident in ["i-0a", "i-0b", "i-0c"] {
        assert_eq!(status_of(&store, ident).await, "finished_cloud_init");
    }

    // 1. EventBridge direct: the launch moves i-0a into the cluster join (an SSM command).
    let body = response_body(invoke(launch("ev-launch-a", "i-0a", "token-a")).await);
    assert_eq!(body["envelope"], "direct", "{body:#}");
    assert_eq!(body["outcomes"][0]["outcome"], "advanced", "{body:#}");
    assert_eq!(body["outcomes"][0]["to"], "join_cluster", "{body:#}");
    assert_eq!(status_of(&store, "i-0a").await, "join_cluster");
    let join = pending_command(&store, "i-0a").await;
    let sent = server.aws_calls();
    assert!(
        sent.iter()
            .any(|c| c.operation == "SendCommand" && c.body.contains("i-0a")),
        "{sent:#?}"
    );

    // 2. SNS: the join succeeded; the DNS update is sent.
    let event = command_succeeded("ev-join-a", "i-0a", &join);
    let body = response_body(invoke(wrap(Wrap::Sns, &event, "sns-1")).await);
    assert_eq!(body["envelope"], "sns", "{body:#}");
    assert_eq!(status_of(&store, "i-0a").await, "updating_dns");
    let dns = pending_command(&store, "i-0a").await;
    assert_ne!(dns, join);

    // 3. SQS: a good message, a malformed one (poison: kept), a throttled launch (retryable: the
    //    only batch item failure) and an event for an unknown instance (poison: kept).
    server.throttle_send_command("i-0b", 1);
    let batch = sqs_batch(&[
        (
            "m-dns",
            command_succeeded("ev-dns-a", "i-0a", &dns).to_string(),
        ),
        ("m-bad", "{not json".to_string()),
        (
            "m-throttled",
            launch("ev-launch-b", "i-0b", "token-b").to_string(),
        ),
        (
            "m-unknown",
            command_succeeded("ev-unknown", "i-0zzz", "cmd-x").to_string(),
        ),
    ]);
    let body = response_body(invoke(batch).await);
    assert_eq!(
        body,
        json!({"batchItemFailures": [{"itemIdentifier": "m-throttled"}]})
    );
    assert_eq!(status_of(&store, "i-0a").await, "ready");
    let completions: Vec<_> = server
        .aws_calls()
        .into_iter()
        .filter(|c| c.operation == "CompleteLifecycleAction")
        .collect();
    assert_eq!(completions.len(), 1, "{completions:#?}");
    // Addressed by the token its event brought (one action exactly, even when a warm pool
    // holds the instance twice with one hook).
    for expected in [
        "AutoScalingGroupName=web-asg",
        "LifecycleActionToken=token-a",
        "LifecycleActionResult=CONTINUE",
    ] {
        assert!(completions[0].body.contains(expected), "{completions:#?}");
    }

    // 4. A poison event sent directly is kept in the dead-letter queue, then acknowledged
    //    (answered, not failed): never retried.
    let poison = json!({"id": "ev-poison", "source": "aws.autoscaling",
        "detail-type": "EC2 Instance-launch Lifecycle Action", "detail": {}});
    let body = response_body(invoke(poison.clone()).await);
    assert_eq!(
        body["rejected"].as_array().map(Vec::len),
        Some(1),
        "{body:#}"
    );
    assert_eq!(body["rejected"][0]["kept"], true, "{body:#}");
    // Every poison payload is in the queue, as received, with its reason.
    let letters = letters(&sqs, &queue_url).await;
    assert_eq!(letters.len(), 3, "{letters:#?}");
    let letter = |id: &str| {
        letters
            .iter()
            .find(|l| l["messageId"] == id || l["payload"]["id"] == id)
            .unwrap_or_else(|| panic!("no letter for {id}: {letters:#?}"))
    };
    assert_eq!(letter("m-bad")["payload"]["body"], "{not json");
    assert!(
        letter("m-bad")["reason"].as_str().unwrap().contains("JSON"),
        "{letters:#?}"
    );
    assert!(
        letter("m-unknown")["reason"]
            .as_str()
            .unwrap()
            .contains("i-0zzz")
    );
    assert_eq!(letter("ev-poison")["payload"], poison);
    // A direct event that cannot be decoded is the whole payload: no envelope was recognised.
    assert_eq!(letter("ev-poison")["envelope"], Value::Null);
    assert!(
        letter("ev-poison")["reason"]
            .as_str()
            .unwrap()
            .contains("missing field"),
        "{letters:#?}"
    );

    // 5. A retryable failure of a direct event is an invocation error (Lambda retries it).
    server.throttle_send_command("i-0c", 1);
    let reply = invoke(launch("ev-launch-c", "i-0c", "token-c")).await;
    // (The runtime sends the `Lambda-Runtime-Function-Error-Type` header as `unhandled`; the
    // classification is in the body.)
    let Reply::Error { body, .. } = reply else {
        panic!("expected an invocation error, got {reply:?}");
    };
    assert_eq!(body["errorType"], "AsgLifecycle.Retryable", "{body:#}");

    // 6. The sweep (scheduled event of the configured rule) visits every active record.
    let body = response_body(invoke(Scheduled::new("ev-sweep-1", "reconcile").json()).await);
    let visited: Vec<&str> = body["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["instance"].as_str())
        .collect();
    for ident in ["i-0a", "i-0b", "i-0c"] {
        assert!(visited.contains(&ident), "{ident} not visited: {body:#}");
    }
    // The throttled chains stay owed: their SSM intent is younger than the handler's intent
    // lease (60 s), so this sweep leaves the send to its writer; a later sweep sends it.
    for ident in ["i-0b", "i-0c"] {
        let record = store.get(ident).await.unwrap().unwrap();
        assert_eq!(record.status.as_deref(), Some("join_cluster"));
        assert!(record.in_flight.is_some(), "{record:#?}");
    }

    // Metrics: one EMF document per invocation (the stream batch first), with the counts of
    // what happened.
    let metrics = function.metrics();
    assert_eq!(metrics.len(), 7, "{metrics:#?}");
    let total = |name: &str| -> f64 { metrics.iter().filter_map(|m| m[name].as_f64()).sum() };
    assert!(total("Transitions") >= 5.0, "{metrics:#?}");
    assert_eq!(total("RejectedEvents"), 3.0, "{metrics:#?}");
    assert_eq!(total("DeadLetteredEvents"), 3.0, "{metrics:#?}");
    assert_eq!(total("RetriedMessages"), 2.0, "{metrics:#?}");
    assert!(
        metrics[6].get("SweepDuration").is_some(),
        "{:#}",
        metrics[6]
    );
    assert_eq!(
        metrics[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "AsgLifecycle"
    );
    // JSON logs carry the request id of the invocation they belong to.
    let logs = function.logs();
    assert!(
        logs.iter()
            .any(|l| l.to_string().contains("\"requestId\":\"req-4\"")),
        "no log line carries requestId req-4: {logs:#?}"
    );
}

#[test]
fn an_invalid_model_fails_the_init_with_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("broken.yaml");
    std::fs::write(
        &model,
        asg_lifecycle::machine::EXAMPLE_MODEL.replace("dest: joined_cluster", "dest: nowhere"),
    )
    .unwrap();
    // The log line of the failure follows Lambda's log format: JSON as the template sets it,
    // text when the function is configured for text.
    for log_format in ["JSON", "Text"] {
        let server = Server::start();
        let mut function = Function::start_logging(&server, "unused", &model, None, log_format);
        let reply = server
            .next_reply(REPLY_TIMEOUT)
            .expect("the function reports its init error");
        let Reply::InitError { error_type, body } = reply else {
            panic!("expected /init/error, got {reply:?}");
        };
        assert_eq!(error_type, "AsgLifecycle.InvalidModel");
        let message = body["errorMessage"].as_str().unwrap_or_default();
        assert!(message.contains("unknown-state"), "{body:#}");
        assert!(message.contains("broken.yaml:"), "{body:#}");
        let status = function.child.wait().expect("the process exits");
        assert!(!status.success(), "init failure must exit non-zero");
        let line = function
            .line_containing("init failed")
            .expect("the init failure is logged");
        let parsed = serde_json::from_str::<Value>(&line);
        if log_format == "JSON" {
            let log = parsed.unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            assert_eq!(log["level"], "ERROR", "{log:#}");
            assert_eq!(log["fields"]["message"], "init failed", "{log:#}");
            assert!(
                log["fields"]["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("unknown-state")),
                "{log:#}"
            );
        } else {
            assert!(parsed.is_err(), "a text log line, not JSON: {line}");
            assert!(line.contains("ERROR"), "{line}");
            let printed = function.stdout.lock().unwrap().join("\n");
            assert!(printed.contains("unknown-state"), "{printed}");
        }
    }
}
