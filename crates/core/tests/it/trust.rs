//! Instances write only their own registration, and the handler takes from it only a pending or
//! the initial state and the instance's own attributes; the shipped model's commands take the
//! instance's address from SSM, never from what an instance wrote (see `docs/cloud-init.md`).

use std::time::Duration;

use asg_lifecycle::Machine;
use asg_lifecycle::aws::{AutoScalingApi, CompleteLifecycleAction};
use asg_lifecycle::handler::HandlerError;
use asg_lifecycle::store::StateStore;
use asg_lifecycle::testing::{Harness, launch};
use serde_json::{Map, json};

const VICTIM: &str = "i-0victim";
const ATTACKER: &str = "i-0attacker";

/// The `commands` of every `SendCommand` so far.
fn sent_commands(h: &Harness) -> Vec<String> {
    h.aws
        .calls()
        .into_iter()
        .filter(|c| c.operation == "SendCommand")
        .map(|c| c.input["parameters"]["commands"].to_string())
        .collect()
}

#[tokio::test]
async fn a_forged_instance_ip_never_reaches_the_dns_command() {
    // The shipped model: NODE_IP is `${instance:private_ip}`.
    let h = Harness::builder().build();
    h.aws.set_private_ip(VICTIM, Some("10.1.2.3"));
    h.register(VICTIM, "finished_cloud_init").await;
    h.deliver_ok(&launch("launch-v", VICTIM)).await;
    // A registration item claiming the state whose next trigger registers the address in DNS,
    // with another address (only the victim's own profile may write it; even so): a state that
    // is neither pending nor initial is never taken from a registration.
    let mut forged = Map::new();
    forged.insert("InstanceIp".into(), json!("203.0.113.66"));
    forged.insert("ItemStatus".into(), json!("joined_cluster"));
    h.store.cloud_init_update(VICTIM, &forged).await.unwrap();
    h.registered(VICTIM, "joined_cluster").await;
    h.sweep().await;
    assert_eq!(h.state(VICTIM).await, "join_cluster");
    let sent = sent_commands(&h);
    assert_eq!(sent.len(), 1, "join only, no DNS: {sent:?}");
    for commands in &sent {
        assert!(
            commands.contains("export NODE_IP='10.1.2.3'"),
            "SSM's address: {commands}"
        );
        assert!(!commands.contains("203.0.113.66"), "{commands}");
    }
    let asked = h
        .aws
        .calls()
        .into_iter()
        .filter(|c| c.operation == "DescribeInstanceInformation")
        .map(|c| c.input["instance_id"].clone())
        .collect::<Vec<_>>();
    assert_eq!(asked, [json!(VICTIM)]);
}

#[tokio::test]
async fn an_instance_ssm_does_not_list_yet_is_retried_and_sends_nothing() {
    let h = Harness::builder().build();
    h.aws.set_private_ip(VICTIM, None);
    h.register(VICTIM, "finished_cloud_init").await;
    let early = h.deliver(&launch("launch-v", VICTIM)).await;
    assert!(
        early.as_ref().is_err_and(HandlerError::is_retryable),
        "an agent registering: retried, {early:?}"
    );
    assert!(sent_commands(&h).is_empty());
    assert_ne!(h.state(VICTIM).await, "failure");
}

#[tokio::test]
async fn an_address_ssm_reports_that_is_no_ip_address_is_never_sent() {
    let h = Harness::builder().build();
    h.aws.set_private_ip(VICTIM, Some("10.0.0.1; reboot"));
    h.register(VICTIM, "finished_cloud_init").await;
    let _ = h.deliver(&launch("launch-v", VICTIM)).await;
    assert!(sent_commands(&h).is_empty());
    let record = h.record(VICTIM).await;
    assert!(
        record
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("not an IP address")),
        "{:?}",
        record.last_error
    );
    // Taken down the failure path, never retried into a command.
    assert_eq!(record.state(), "abandoned");
}

#[test]
fn an_unknown_instance_fact_is_refused_when_the_model_is_validated() {
    let model = "initial: a\nfailure: failure\nterminal: [b, abandoned]\nstates: [a, b, failure, abandoned]\ntransitions:\n  - source: a\n    dest: b\n    triggers: [{name: go, after: [{send_command: {env: {IP: \"${instance:public_ip}\"}, commands: [x]}}]}]\n  - source: failure\n    dest: abandoned\n    triggers: [{name: abandon}]\n";
    let report = Machine::from_yaml("m.yaml", model).unwrap_err();
    let found: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("m.yaml:8:")
            && found[0].contains("`env.IP`: unknown reference `${instance:public_ip}`")
            && found[0].contains("${instance:private_ip}"),
        "{found:?}"
    );
    let valid = model.replace("public_ip", "private_ip");
    Machine::from_yaml("m.yaml", &valid).unwrap_or_else(|r| panic!("{r}"));
}
