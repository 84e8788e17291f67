//! A Rust model's conditions that ask AWS: awaited by the handler before a decision, with the
//! model's own clients ([`Extensions`]) and the record; a slow one is cut at the deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use asg_lifecycle::aws::{AwsClients, Extensions, LocalAws};
use asg_lifecycle::handler::OutcomeKind;
use asg_lifecycle::machine::{FileModel, Machine, Model, ModelSpec};
use asg_lifecycle::tasks::{AsyncCondition, AsyncConditionContext};
use asg_lifecycle::testing::{Harness, terminate};
use async_trait::async_trait;
use serde_json::Value;

/// A load balancer's view of its targets, as a model would reach ELBv2 (`DescribeTargetHealth`).
struct TargetHealth {
    /// The instances still registered.
    registered: Vec<&'static str>,
    /// How long an answer takes.
    latency: Duration,
    calls: AtomicUsize,
}

/// `target_deregistered: {target_group: ARN}`: the instance is no longer a target.
struct TargetDeregistered;

#[async_trait]
impl AsyncCondition for TargetDeregistered {
    async fn evaluate(&self, ctx: AsyncConditionContext<'_>, args: &Value) -> Result<bool, String> {
        let elb = ctx
            .aws
            .extensions
            .get::<Arc<TargetHealth>>()
            .ok_or("no load balancer client")?;
        if args["target_group"].as_str().is_none() {
            return Err("target_group is missing".into());
        }
        elb.calls.fetch_add(1, Ordering::SeqCst);
        tokio::select! {
            () = tokio::time::sleep(elb.latency) => {}
            () = ctx.cancel.cancelled() => return Err("cancelled".into()),
        }
        Ok(!elb.registered.contains(&ctx.record.ident.as_str()))
    }

    fn check_args(&self, args: &Value) -> Result<(), String> {
        args["target_group"]
            .as_str()
            .map(|_| ())
            .ok_or_else(|| "target_group (a target group ARN) is required".into())
    }
}

struct DrainingModel(FileModel);

impl Model for DrainingModel {
    fn transitions(&self) -> ModelSpec {
        self.0.transitions()
    }

    fn async_conditions(&self) -> Vec<(String, Arc<dyn AsyncCondition>)> {
        vec![("target_deregistered".into(), Arc::new(TargetDeregistered))]
    }
}

const MODEL: &str = "initial: ready\nfailure: failure\nterminal: [gone, abandoned]\nstable: [ready]\nstates: [ready, gone, failure, abandoned]\ntransitions:\n  - source: ready\n    dest: gone\n    triggers: [{name: leave, conditions: [is_terminating, {target_deregistered: {target_group: tg-1}}]}]\n  - source: failure\n    dest: abandoned\n    triggers: [{name: abandon}]\n";

fn harness(registered: Vec<&'static str>, latency: Duration) -> (Harness, Arc<TargetHealth>) {
    let elb = Arc::new(TargetHealth {
        registered,
        latency,
        calls: AtomicUsize::new(0),
    });
    let local = Arc::new(LocalAws::new());
    let mut clients = AwsClients::local(&local);
    clients.extensions = Extensions::default().with(elb.clone());
    let model = DrainingModel(FileModel::parse("draining.yaml", MODEL).unwrap());
    let machine = Machine::from_model(&model).unwrap_or_else(|r| panic!("{r}"));
    let h = Harness::builder()
        .machine(machine)
        .aws(local)
        .clients(clients)
        .build();
    (h, elb)
}

#[tokio::test]
async fn a_condition_that_asks_aws_decides_with_the_models_own_client() {
    let (h, elb) = harness(vec!["i-still"], Duration::ZERO);
    for ident in ["i-still", "i-gone"] {
        h.seed_registered(ident, "ready").await;
    }
    let stays = h.deliver_ok(&terminate("t-1", "i-still")).await;
    assert_eq!(h.state("i-still").await, "ready", "{stays:?}");
    let leaves = h.deliver_ok(&terminate("t-2", "i-gone")).await;
    assert_eq!(leaves.outcome, OutcomeKind::Advanced, "{leaves:?}");
    assert_eq!(h.state("i-gone").await, "gone");
    assert!(elb.calls.load(Ordering::SeqCst) >= 2);
}

#[tokio::test(start_paused = true)]
async fn a_slow_answer_is_cut_at_the_deadline_and_is_a_condition_error() {
    let (h, _) = harness(Vec::new(), Duration::from_secs(3600));
    h.seed_registered("i-slow", "ready").await;
    let outcome = h.deliver_ok(&terminate("t-1", "i-slow")).await;
    assert_eq!(outcome.outcome, OutcomeKind::Failed, "{outcome:?}");
    assert!(
        h.record("i-slow")
            .await
            .last_error
            .unwrap_or_default()
            .contains("did not answer before the invocation's deadline"),
        "{outcome:?}"
    );
}

#[test]
fn its_arguments_are_checked_when_the_model_is_validated() {
    let broken = MODEL.replace("{target_group: tg-1}", "{}");
    let model = DrainingModel(FileModel::parse("draining.yaml", &broken).unwrap());
    let report = Machine::from_model(&model).map(|_| ()).unwrap_err();
    assert!(report.to_string().contains("target_group"), "{report}");
}
