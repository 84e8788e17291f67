//! What `template.yaml`'s EventBridge rules deliver to the function, read from the template: the
//! simulated world invokes the function as the deployed rules would.

use asg_lifecycle::event::CommandEventKind;

use super::iam::template_json;

/// The SSM notifications `template.yaml`'s `CommandStatusRule` delivers to the function.
///
/// # Panics
/// When the rule names no SSM status-change notification (a template the simulator cannot run).
#[must_use]
pub fn delivered_notifications() -> Vec<CommandEventKind> {
    let template = template_json();
    let pattern = &template["Resources"]["CommandStatusRule"]["Properties"]["EventPattern"];
    let kinds: Vec<CommandEventKind> = pattern["detail-type"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| match t.as_str() {
            Some("EC2 Command Status-change Notification") => Some(CommandEventKind::Command),
            Some("EC2 Command Invocation Status-change Notification") => {
                Some(CommandEventKind::Invocation)
            }
            _ => None,
        })
        .collect();
    assert!(
        !kinds.is_empty(),
        "template.yaml's CommandStatusRule delivers no SSM status-change notification"
    );
    kinds
}

/// True when `template.yaml`'s `SweepRule` has the keepalive target (a second invocation per
/// tick that only heartbeats).
#[must_use]
pub fn keepalive_target() -> bool {
    let template = template_json();
    template["Resources"]["SweepRule"]["Properties"]["Targets"]
        .as_array()
        .is_some_and(|targets| {
            targets
                .iter()
                .any(|t| t["Id"].as_str() == Some("lifecycle-keepalive"))
        })
}

/// The function's reserved concurrency: the default of the template's `ReservedConcurrency`
/// parameter, which `ReservedConcurrentExecutions` references.
///
/// # Panics
/// When the template does not set it (the simulator cannot run an unlimited function).
#[must_use]
pub fn reserved_concurrency() -> usize {
    let template = template_json();
    let function = &template["Resources"]["LifecycleFunction"]["Properties"];
    let reference = function["ReservedConcurrentExecutions"]["Ref"]
        .as_str()
        .expect("template.yaml's function sets ReservedConcurrentExecutions from a parameter");
    template["Parameters"][reference]["Default"]
        .as_str()
        .and_then(|n| n.parse().ok())
        .expect("the reserved concurrency parameter has a numeric default")
}
