//! Request shapes of the Auto Scaling reads the sweep makes: the instances the hooks hold
//! (`DescribeAutoScalingGroups`, `DescribeWarmPool`), the hooks (`DescribeLifecycleHooks`) and an
//! instance's lifecycle state (`DescribeAutoScalingInstances`), at the SDK boundary.

use asg_lifecycle::aws::AutoScalingApi;
use asg_lifecycle::event::LifecycleTransition;
use asg_lifecycle_aws::testing::sdk_mocks::{Seen, autoscaling};
use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::{
    DescribeAutoScalingGroupsInput, DescribeAutoScalingGroupsOutput,
};
use aws_sdk_autoscaling::types::{
    AutoScalingGroup, Instance, InstanceReusePolicy, LifecycleState, WarmPoolConfiguration,
};
use aws_smithy_mocks::mock;

fn instance(id: &str, state: LifecycleState) -> Instance {
    Instance::builder()
        .instance_id(id)
        .lifecycle_state(state)
        .availability_zone("us-east-1a")
        .health_status("Healthy")
        .protected_from_scale_in(false)
        .build()
}

/// Group `web-asg` with `instances`, and a warm pool returning scaled-in instances when `reuse`.
fn group(instances: Vec<Instance>, reuse: Option<bool>) -> DescribeAutoScalingGroupsOutput {
    let mut group = AutoScalingGroup::builder()
        .auto_scaling_group_name("web-asg")
        .min_size(0)
        .max_size(10)
        .desired_capacity(3)
        .default_cooldown(300)
        .availability_zones("us-east-1a")
        .health_check_type("EC2")
        .created_time(aws_sdk_autoscaling::primitives::DateTime::from_secs(0))
        .set_instances(Some(instances));
    if let Some(reuse) = reuse {
        group = group.warm_pool_configuration(
            WarmPoolConfiguration::builder()
                .instance_reuse_policy(
                    InstanceReusePolicy::builder()
                        .reuse_on_scale_in(reuse)
                        .build(),
                )
                .build(),
        );
    }
    DescribeAutoScalingGroupsOutput::builder()
        .auto_scaling_groups(group.build())
        .build()
}

#[tokio::test]
async fn waiting_instances_lists_the_groups_instances_held_by_a_hook() {
    let seen = Seen::<DescribeAutoScalingGroupsInput>::default();
    let s = seen.clone();
    let rule = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups)
        .then_compute_output(move |req| {
            s.push(req);
            group(
                vec![
                    instance("i-launching", LifecycleState::PendingWait),
                    instance("i-serving", LifecycleState::InService),
                    instance("i-leaving", LifecycleState::TerminatingWait),
                ],
                None,
            )
        });
    let api = autoscaling(&[&rule]);
    let waiting = api.waiting_instances("web-asg").await.unwrap();
    assert_eq!(
        seen.all()[0].auto_scaling_group_names(),
        ["web-asg".to_string()]
    );
    let found: Vec<(&str, LifecycleTransition)> = waiting
        .iter()
        .map(|w| (w.instance_id.as_str(), w.transition))
        .collect();
    assert_eq!(
        found,
        [
            ("i-launching", LifecycleTransition::Launching),
            ("i-leaving", LifecycleTransition::Terminating)
        ]
    );
}

#[tokio::test]
async fn waiting_instances_of_a_group_with_a_warm_pool_include_those_entering_it() {
    use aws_sdk_autoscaling::operation::describe_warm_pool::DescribeWarmPoolOutput;
    let groups =
        mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups).then_output(|| {
            group(
                vec![instance("i-leaving", LifecycleState::TerminatingWait)],
                Some(true),
            )
        });
    let pool = mock!(aws_sdk_autoscaling::Client::describe_warm_pool).then_output(|| {
        DescribeWarmPoolOutput::builder()
            .instances(instance("i-warming", LifecycleState::WarmedPendingWait))
            .instances(instance("i-warm", LifecycleState::WarmedStopped))
            .build()
    });
    let api = autoscaling(&[&groups, &pool]);
    let waiting = api.waiting_instances("web-asg").await.unwrap();
    let found: Vec<(&str, LifecycleTransition, Option<&str>)> = waiting
        .iter()
        .map(|w| {
            (
                w.instance_id.as_str(),
                w.transition,
                w.destination.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "i-leaving",
                LifecycleTransition::Terminating,
                Some("WarmPool")
            ),
            (
                "i-warming",
                LifecycleTransition::Launching,
                Some("WarmPool")
            ),
        ],
        "a scale-in goes back to the pool (ReuseOnScaleIn); a stopped pool instance is held by no hook"
    );
}

#[tokio::test]
async fn lifecycle_hooks_reads_names_transitions_and_timeouts() {
    use aws_sdk_autoscaling::operation::describe_lifecycle_hooks::DescribeLifecycleHooksOutput;
    use aws_sdk_autoscaling::types::LifecycleHook as SdkHook;
    let rule = mock!(aws_sdk_autoscaling::Client::describe_lifecycle_hooks).then_output(|| {
        DescribeLifecycleHooksOutput::builder()
            .lifecycle_hooks(
                SdkHook::builder()
                    .lifecycle_hook_name("launch-hook")
                    .lifecycle_transition("autoscaling:EC2_INSTANCE_LAUNCHING")
                    .heartbeat_timeout(900)
                    .build(),
            )
            .lifecycle_hooks(
                SdkHook::builder()
                    .lifecycle_hook_name("odd-hook")
                    .lifecycle_transition("autoscaling:SOMETHING_ELSE")
                    .build(),
            )
            .build()
    });
    let api = autoscaling(&[&rule]);
    let hooks = api.lifecycle_hooks("web-asg").await.unwrap();
    assert_eq!(
        hooks.len(),
        1,
        "a hook of an unknown transition is left out: {hooks:?}"
    );
    assert_eq!(hooks[0].name, "launch-hook");
    assert_eq!(hooks[0].transition, LifecycleTransition::Launching);
    assert_eq!(
        hooks[0].heartbeat_timeout,
        Some(std::time::Duration::from_secs(900))
    );
}

#[tokio::test]
async fn lifecycle_state_asks_for_the_one_instance() {
    use aws_sdk_autoscaling::operation::describe_auto_scaling_instances::{
        DescribeAutoScalingInstancesInput, DescribeAutoScalingInstancesOutput,
    };
    use aws_sdk_autoscaling::types::AutoScalingInstanceDetails;
    let seen = Seen::<DescribeAutoScalingInstancesInput>::default();
    let s = seen.clone();
    let rule = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_instances)
        .then_compute_output(move |req| {
            s.push(req);
            DescribeAutoScalingInstancesOutput::builder()
                .auto_scaling_instances(
                    AutoScalingInstanceDetails::builder()
                        .instance_id("i-0abc")
                        .auto_scaling_group_name("web-asg")
                        .availability_zone("us-east-1a")
                        .lifecycle_state("Warmed:Pending:Wait")
                        .health_status("HEALTHY")
                        .protected_from_scale_in(false)
                        .build(),
                )
                .build()
        });
    let api = autoscaling(&[&rule]);
    let state = api.lifecycle_state("i-0abc").await.unwrap();
    assert_eq!(state.as_deref(), Some("Warmed:Pending:Wait"));
    assert_eq!(seen.all()[0].instance_ids(), ["i-0abc".to_string()]);
}
