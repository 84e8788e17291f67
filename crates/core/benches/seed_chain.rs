//! The seed-equivalent chain (issue 14): what the Python baseline
//! (`/work/shared/bench/pybaseline.py`: the original library's engine) does per launch event,
//! done by the handler. The model (`seed_chain.yaml`) has the baseline's states and
//! `is_launching` conditions and no tasks; the records are in the in-memory store; one launch
//! event (JSON text, as the Runtime API delivers it: `Invoker::invoke_text`) is decoded, its record
//! loaded, driven through the 6-step launch chain to `ready` and persisted. As in the baseline,
//! every record exists in `finished_cloud_init` before the timed loop and each event is for a
//! different instance.
//!
//! The events run in batches of [`BATCH`] on a store of [`BATCH`] records, as the baseline runs
//! (`pybaseline.py 2000`: 2,000 events on 2,000 records in one process) and as the issue measured
//! `asg-lifecycle invoke`; criterion's larger samples (up to 7,000 events) otherwise time a larger
//! store than the baseline's (about 10% more per event at 7,000, 2026-12-01).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use asg_lifecycle::aws::{AwsClients, LocalAws};
use asg_lifecycle::handler::{InvocationContext, LifecycleHandler};
use asg_lifecycle::invocation::Invoker;
use asg_lifecycle::machine::{FileModel, Machine};
use asg_lifecycle::record::InstanceRecord;
use asg_lifecycle::store::{MemoryStore, StateStore};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

/// mimalloc, as in the binaries (`crates/cli`, `crates/lambda`): the handler's small, short-lived
/// allocations cost about half of glibc's.
#[global_allocator]
static GLOBAL: asg_lifecycle_alloc::Allocator = asg_lifecycle_alloc::Allocator;

/// The baseline's event, with the fields an EventBridge lifecycle action always has; fresh, as
/// delivered (an action announced long ago would be heartbeated first).
fn launch(instance: &str) -> String {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({
        "version": "0", "id": format!("launch-{instance}"), "source": "aws.autoscaling",
        "detail-type": "EC2 Instance-launch Lifecycle Action", "time": now,
        "region": "us-east-1", "resources": [],
        "detail": {
            "LifecycleActionToken": "t", "AutoScalingGroupName": "web-asg",
            "LifecycleHookName": "launch-hook", "EC2InstanceId": instance,
            "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING"
        }
    })
    .to_string()
}

fn machine() -> Machine {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/seed_chain.yaml");
    let model = FileModel::load(&path).expect("the seed chain model loads");
    Machine::from_model(&model).expect("the seed chain model is valid")
}

/// The events per store, and the records in it: the baseline's 2,000.
const BATCH: u64 = 2_000;

/// Times `iters` launch events, each for its own record, in batches of [`BATCH`] on a new store
/// of [`BATCH`] records made by `new_store` (only the events are timed).
fn run(
    runtime: &tokio::runtime::Runtime,
    machine: &Arc<Machine>,
    new_store: fn() -> MemoryStore,
    iters: u64,
) -> Duration {
    let mut elapsed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let events = left.min(BATCH);
        elapsed += run_batch(runtime, machine, new_store, events);
        left -= events;
    }
    elapsed
}

/// The `k`th instance's id.
fn ident_of(k: u64) -> String {
    format!("i-{k:012x}")
}

/// Times `events` launch events on a new store of [`BATCH`] records.
fn run_batch(
    runtime: &tokio::runtime::Runtime,
    machine: &Arc<Machine>,
    new_store: fn() -> MemoryStore,
    events: u64,
) -> Duration {
    let store = Arc::new(new_store());
    let idents: Vec<String> = (0..BATCH).map(ident_of).collect();
    for ident in &idents {
        let mut record = InstanceRecord::new(ident.as_str());
        record.status = Some("finished_cloud_init".into());
        store.put(record);
    }
    let events = usize::try_from(events).expect("a batch fits in memory");
    // Functions, not closures: a profile of the timed loop (`run_batch::{{closure}}`) leaves
    // the setup out.
    let texts: Vec<String> = idents[..events]
        .iter()
        .map(String::as_str)
        .map(launch)
        .collect();
    let invoker = Invoker::new(LifecycleHandler::new(
        machine.clone(),
        store.clone() as Arc<dyn StateStore>,
        AwsClients::local(&Arc::new(LocalAws::new())),
    ));
    let ctx = InvocationContext::with_budget(Duration::from_secs(3600));
    runtime.block_on(async {
        let start = Instant::now();
        for text in &texts {
            let report = invoker.invoke_text(black_box(text), &ctx).await;
            debug_assert!(report.envelope.is_ok(), "{report:?}");
            black_box(report);
        }
        let elapsed = start.elapsed();
        assert_eq!(
            store.get("i-000000000000").await.unwrap().unwrap().state(),
            "ready",
            "the chain ran to the end"
        );
        elapsed
    })
}

fn seed_chain(c: &mut Criterion) {
    let machine = Arc::new(machine());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    c.bench_function(
        "seed chain: launch event to ready (memory store, change log)",
        |b| {
            b.iter_custom(|iters| run(&runtime, &machine, MemoryStore::new, iters));
        },
    );
    c.bench_function(
        "seed chain: launch event to ready (memory store, no change log)",
        |b| {
            b.iter_custom(|iters| run(&runtime, &machine, MemoryStore::without_change_log, iters));
        },
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = seed_chain
}
criterion_main!(benches);
