//! The example model whose condition asks ELBv2 (`examples/target_health_model.rs`), at the SDK
//! boundary: the `DescribeTargetHealth` request it sends and the decisions its answers lead to.

#[path = "../../examples/target_health_model.rs"]
#[allow(dead_code)]
mod example;

use std::sync::{Arc, Mutex};

use asg_lifecycle::aws::{AwsClients, Extensions, LocalAws};
use asg_lifecycle::machine::Machine;
use asg_lifecycle::testing::{Harness, scheduled, terminate};
use asg_lifecycle_aws::testing::sdk_mocks::{interceptor, sdk_config};
use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput;
use aws_sdk_elasticloadbalancingv2::types::{
    TargetDescription, TargetHealth, TargetHealthDescription, TargetHealthStateEnum,
};
use aws_smithy_mocks::mock;
use example::DrainingNode;

/// The (target group, target id) of each `DescribeTargetHealth` request.
type Requests = Arc<Mutex<Vec<(String, String)>>>;

/// An ELBv2 client that answers `DescribeTargetHealth` with the state `states` gives (in turn)
/// and records each request's (target group, target id).
fn elb(states: Vec<TargetHealthStateEnum>) -> (aws_sdk_elasticloadbalancingv2::Client, Requests) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let states = Arc::new(Mutex::new(states));
    let (seen_in, states_in) = (seen.clone(), states.clone());
    let rule = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_health)
        .then_compute_output(move |req| {
            let id = req.targets()[0].id().unwrap_or_default().to_string();
            seen_in.lock().unwrap().push((
                req.target_group_arn().unwrap_or_default().to_string(),
                id.clone(),
            ));
            let mut states = states_in.lock().unwrap();
            let state = if states.len() > 1 {
                states.remove(0)
            } else {
                states[0].clone()
            };
            DescribeTargetHealthOutput::builder()
                .target_health_descriptions(
                    TargetHealthDescription::builder()
                        .target(TargetDescription::builder().id(id).build())
                        .target_health(TargetHealth::builder().state(state).build())
                        .build(),
                )
                .build()
        });
    let rules = [&rule];
    let conf = aws_sdk_elasticloadbalancingv2::config::Builder::from(&sdk_config())
        .interceptor(interceptor(&rules));
    (
        aws_sdk_elasticloadbalancingv2::Client::from_conf(conf.build()),
        seen,
    )
}

fn harness(client: aws_sdk_elasticloadbalancingv2::Client) -> Harness {
    let local = Arc::new(LocalAws::new());
    let mut clients = AwsClients::local(&local);
    clients.extensions = Extensions::default().with(client);
    Harness::builder()
        .machine(Machine::from_model(&DrainingNode::new()).unwrap_or_else(|r| panic!("{r}")))
        .aws(local)
        .clients(clients)
        .build()
}

#[tokio::test]
async fn a_leaving_node_waits_for_its_load_balancer_then_completes_its_hook() {
    use TargetHealthStateEnum::{Draining, Unused};
    let (client, seen) = elb(vec![Draining, Unused]);
    let h = harness(client);
    h.seed_registered("i-0web", "ready").await;
    h.deliver_ok(&terminate("t-1", "i-0web")).await;
    assert_eq!(h.state("i-0web").await, "deregistering", "still draining");
    assert!(
        h.operations()
            .iter()
            .all(|op| *op != "CompleteLifecycleAction")
    );
    // The next sweep asks again: no longer routed, the hook is completed and the node leaves.
    h.deliver(&scheduled("sweep-1", "reconcile")).await.unwrap();
    assert_eq!(h.state("i-0web").await, "gone");
    assert_eq!(h.count("CompleteLifecycleAction"), 1);
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= 2, "{seen:?}");
    assert!(
        seen.iter().all(
            |(group, id)| group.ends_with("targetgroup/web/0123456789abcdef") && id == "i-0web"
        ),
        "{seen:?}"
    );
}

#[test]
fn the_condition_wants_a_target_group_arn() {
    let broken = example::MODEL.replace(
        "'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef'",
        "web",
    );
    let model = DrainingNode(asg_lifecycle::machine::FileModel::parse("m.yaml", &broken).unwrap());
    let report = Machine::from_model(&model).map(|_| ()).unwrap_err();
    assert!(report.to_string().contains("target group ARN"), "{report}");
}
