//! A chain run reads the wall clock once until it awaits something: what it writes after an
//! await (here a condition that asks AWS, which takes time) is stamped with the time after it.

use std::sync::Arc;
use std::time::Duration;

use asg_lifecycle::machine::{FileModel, Machine, Model, ModelSpec};
use asg_lifecycle::tasks::{AsyncCondition, AsyncConditionContext};
use asg_lifecycle::testing::{Harness, ManualClock, launch};
use async_trait::async_trait;
use serde_json::Value;

/// `slow_check`: holds, after ten minutes of the test's clock.
struct SlowCheck(Arc<ManualClock>);

#[async_trait]
impl AsyncCondition for SlowCheck {
    async fn evaluate(&self, _: AsyncConditionContext<'_>, _: &Value) -> Result<bool, String> {
        self.0.advance(Duration::from_secs(600));
        Ok(true)
    }
}

struct Slow(FileModel, Arc<ManualClock>);

impl Model for Slow {
    fn transitions(&self) -> ModelSpec {
        self.0.transitions()
    }

    fn async_conditions(&self) -> Vec<(String, Arc<dyn AsyncCondition>)> {
        vec![("slow_check".into(), Arc::new(SlowCheck(self.1.clone())))]
    }
}

const MODEL: &str = "initial: booted\nfailure: failure\nterminal: [done, abandoned]\nstable: [ready]\nstates: [booted, ready, done, failure, abandoned]\ntransitions:\n  - source: booted\n    dest: ready\n    triggers: [{name: join, conditions: [is_launching, slow_check]}]\n  - source: ready\n    dest: done\n    triggers: [{name: leave, conditions: [is_terminating]}]\n  - source: failure\n    dest: abandoned\n    triggers: [{name: abandon}]\n";

#[tokio::test]
async fn a_write_after_an_await_is_stamped_with_the_time_after_it() {
    let clock = Arc::new(ManualClock::new());
    let model = Slow(FileModel::parse("slow.yaml", MODEL).unwrap(), clock.clone());
    let machine = Machine::from_model(&model).unwrap_or_else(|r| panic!("{r}"));
    let h = Harness::builder()
        .machine(machine)
        .clock(clock.clone())
        .build();
    h.seed_registered("i-1", "booted").await;
    let started = asg_lifecycle::handler::Clock::now(&*clock);
    h.deliver_ok(&launch("e-1", "i-1")).await;
    let record = h.record("i-1").await;
    assert_eq!(record.state(), "ready");
    // The run read the clock when the event came (for the action it announces); the condition
    // then took ten minutes, and the transition it let fire is written after them.
    let written = asg_lifecycle::handler::Clock::now(&*clock);
    assert!(written > started, "the condition took time");
    let last = record.history.last().expect("the transition is recorded");
    assert_eq!(last.at, written, "the entry is stamped after the awaits");
    assert_eq!(record.entered_at, Some(written));
    let action = record
        .lifecycle_action
        .as_ref()
        .expect("the action is held");
    assert!(
        action.started_at <= started,
        "announced when the event came"
    );
}
