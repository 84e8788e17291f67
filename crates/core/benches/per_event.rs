//! The per-event path on the example model: decode, step, and the whole handler (decode + load +
//! step + tasks + conditional writes) on the in-memory store.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use asg_lifecycle::aws::{AwsClients, LocalAws};
use asg_lifecycle::event::payload::{CommandStatusChange, LifecycleAction, sqs_batch_text};
use asg_lifecycle::event::{CommandStatus, decode_invocation, decode_text};
use asg_lifecycle::handler::{InvocationContext, LifecycleHandler};
use asg_lifecycle::invocation::Invoker;
use asg_lifecycle::machine::Machine;
use asg_lifecycle::record::InstanceRecord;
use asg_lifecycle::store::MemoryStore;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

/// mimalloc, as in the binaries (`crates/cli`, `crates/lambda`): the handler's small, short-lived
/// allocations cost about half of glibc's.
#[global_allocator]
static GLOBAL: asg_lifecycle_alloc::Allocator = asg_lifecycle_alloc::Allocator;

fn launch(instance: &str) -> Value {
    json!({
        "version": "0", "id": format!("launch-{instance}"), "source": "aws.autoscaling",
        "detail-type": "EC2 Instance-launch Lifecycle Action", "time": "2026-11-20T12:00:00Z",
        "region": "us-east-1", "resources": [],
        "detail": {
            "LifecycleActionToken": "87654321-4321-4321-4321-210987654321",
            "AutoScalingGroupName": "web-asg", "LifecycleHookName": "launch-hook",
            "EC2InstanceId": instance, "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
            "NotificationMetadata": "{\"cluster\": \"blue\"}"
        }
    })
}

fn per_event(c: &mut Criterion) {
    let machine = Arc::new(Machine::example());
    let payload = launch("i-0abc");
    let text = serde_json::to_string(&payload).unwrap();

    c.bench_function("decode launch event", |b| {
        b.iter(|| {
            let value: Value = serde_json::from_str(black_box(&text)).unwrap();
            decode_invocation(&value).unwrap()
        });
    });
    // What the Lambda does with the Runtime API's text (`Invoker::invoke_text`).
    c.bench_function("decode launch event from its text (typed)", |b| {
        b.iter(|| decode_text(black_box(&text)).unwrap());
    });

    // The other payloads the function gets: an SSM notification, and an SQS batch of ten
    // lifecycle actions (the general way parses the batch and then each body).
    let command = CommandStatusChange::new("e-2", "i-0abc", "c-1", CommandStatus::Success).text();
    let messages: Vec<(String, String)> = (0..10)
        .map(|k| {
            let event = LifecycleAction::launching(&format!("e-{k}"), &format!("i-{k}")).text();
            (format!("m-{k}"), event)
        })
        .collect();
    let messages: Vec<(&str, &str)> = messages
        .iter()
        .map(|(id, body)| (id.as_str(), body.as_str()))
        .collect();
    let batch = sqs_batch_text(&messages);
    for (what, text) in [
        ("an SSM notification", &command),
        ("an SQS batch of 10", &batch),
    ] {
        c.bench_function(&format!("decode {what} through a JSON tree"), |b| {
            b.iter(|| {
                let value: Value = serde_json::from_str(black_box(text)).unwrap();
                decode_invocation(&value).unwrap()
            });
        });
        c.bench_function(&format!("decode {what} from its text (typed)"), |b| {
            b.iter(|| decode_text(black_box(text)).unwrap());
        });
    }

    let invocation = decode_invocation(&payload).unwrap();
    let stimulus = invocation.messages[0]
        .event
        .as_ref()
        .unwrap()
        .stimulus
        .clone();
    let mut record = InstanceRecord::new("i-0abc");
    record.status = Some("finished_cloud_init".into());
    c.bench_function("step at finished_cloud_init", |b| {
        b.iter(|| {
            machine
                .step(black_box(&record), black_box(&stimulus))
                .clone()
        });
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = Arc::new(MemoryStore::new());
    let aws = Arc::new(LocalAws::new());
    let invoker = Invoker::new(LifecycleHandler::new(
        machine.clone(),
        store.clone(),
        AwsClients::local(&aws),
    ));
    let ctx = InvocationContext::with_budget(Duration::from_secs(3600));
    let mut n = 0u64;
    c.bench_function("handle launch event (decode + step + persist)", |b| {
        b.iter(|| {
            n += 1;
            let instance = format!("i-{n:012x}");
            let text = serde_json::to_string(&launch(&instance)).unwrap();
            runtime.block_on(async {
                // The registration taken in already (its stream event fired nothing).
                let mut registered = InstanceRecord::new(instance.as_str());
                registered.status = Some("finished_cloud_init".into());
                registered.version = 1;
                store.put(registered);
                let report = invoker.invoke_text(&text, &ctx).await;
                assert!(report.envelope.is_ok(), "{report:?}");
                report
            })
        });
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = per_event
}
criterion_main!(benches);
