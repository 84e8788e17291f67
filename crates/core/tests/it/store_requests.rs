//! What a lifecycle costs the store: transitions without tasks are written together with the
//! next write, so the happy path stays within two requests (one read, one write) per
//! transition, and every transition is still in the history.

use asg_lifecycle::event::CommandStatus;
use asg_lifecycle::handler::OutcomeKind;
use asg_lifecycle::testing::{Harness, command, launch};

const I: &str = "i-0abc";

#[tokio::test]
async fn the_launch_chain_costs_at_most_two_store_requests_per_transition() {
    let h = Harness::builder().build();
    h.register(I, "finished_cloud_init").await;
    let (reads_0, writes_0) = h.store.request_counts();
    h.deliver_ok(&launch("launch-1", I)).await;
    let join = h.last_command_id();
    h.deliver_ok(&command("ssm-1", I, &join, CommandStatus::Success))
        .await;
    let dns = h.last_command_id();
    let outcome = h
        .deliver_ok(&command("ssm-2", I, &dns, CommandStatus::Success))
        .await;
    assert_eq!(outcome.outcome, OutcomeKind::Advanced);
    assert_eq!(
        outcome.transitions.len(),
        3,
        "every transition of the chain is reported: {outcome:#?}"
    );
    let (reads, writes) = h.store.request_counts();
    let path = h.path(I).await;
    assert_eq!(path.len(), 6, "{path:?}");
    let requests = (reads - reads_0) + (writes - writes_0);
    assert!(
        requests <= 2 * path.len() as u64,
        "{requests} store requests for {} transitions",
        path.len()
    );
    // The last event: dns_updated and completing_lifecycle are written together, before the
    // hook is completed; ready after it.
    let record = h.record(I).await;
    let last_three: Vec<u64> = record
        .history
        .iter()
        .rev()
        .take(3)
        .map(|e| e.version)
        .collect();
    assert_eq!(
        last_three[1], last_three[2],
        "written together: {last_three:?}"
    );
    assert_eq!(last_three[0], last_three[1] + 1, "{last_three:?}");
    assert_eq!(record.state(), "ready");
}
