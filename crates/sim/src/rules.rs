//! What `template.yaml`'s EventBridge rules deliver to the function, read from the template: the
//! simulated world invokes the function as the deployed rules would.

use asg_lifecycle::event::CommandEventKind;
use serde_json::Value;

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

/// The filters of the template's registration event source mapping (the table's stream), with
/// the template's parameters substituted by their defaults; empty when there is none.
#[must_use]
pub fn registration_filters() -> Vec<Value> {
    let template = template_json();
    let mapping = &template["Resources"]["RegistrationEvents"]["Properties"];
    let parameters = &template["Parameters"];
    mapping["FilterCriteria"]["Filters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|filter| {
            let pattern = &filter["Pattern"];
            let text = pattern["Fn::Sub"].as_str().or_else(|| pattern.as_str())?;
            let mut text = text.to_string();
            if let Some(names) = parameters.as_object() {
                for (name, parameter) in names {
                    if let Some(default) = parameter["Default"].as_str() {
                        text = text.replace(&format!("${{{name}}}"), default);
                    }
                }
            }
            serde_json::from_str(&text).ok()
        })
        .collect()
}

/// True when the registration mapping lets `record` (a stream record) through to the function.
#[must_use]
pub fn registration_delivered(filters: &[Value], record: &Value) -> bool {
    filters.iter().any(|f| crate::filter::matches(f, record))
}

/// `MaximumRetryAttempts` of the template's registration event source mapping.
///
/// # Panics
/// When the mapping sets none (a template the simulator cannot run).
#[must_use]
pub fn registration_retry_attempts() -> u32 {
    template_json()["Resources"]["RegistrationEvents"]["Properties"]["MaximumRetryAttempts"]
        .as_str()
        .and_then(|n| n.parse().ok())
        .expect("template.yaml's registration mapping sets MaximumRetryAttempts")
}

#[cfg(test)]
mod tests {
    use asg_lifecycle::event::payload::RecordChange;

    use super::{registration_delivered, registration_filters};

    #[test]
    fn the_template_lets_only_the_change_to_the_initial_state_invoke_the_function() {
        let filters = registration_filters();
        assert_eq!(filters.len(), 3, "{filters:?}");
        let delivered = |change: RecordChange| registration_delivered(&filters, &change.record());
        let initial = "finished_cloud_init";
        assert!(
            delivered(RecordChange::new("1", "i-1", initial)),
            "inserted at the initial state"
        );
        assert!(
            delivered(RecordChange::new("2", "i-1", initial).from("new")),
            "from pending"
        );
        assert!(
            !delivered(RecordChange::new("3", "i-1", initial).from(initial)),
            "a re-run of cloud-init"
        );
        assert!(
            !delivered(RecordChange::new("4", "i-1", "join_cluster").from(initial)),
            "the handler's move on"
        );
        assert!(!delivered(
            RecordChange::new("5", "i-1", "ready").from("completing_lifecycle")
        ));
        assert!(
            !delivered(RecordChange::new("6", "i-1", "new")),
            "registered, not done"
        );
        let mut without_status = RecordChange::new("7", "i-1", initial).from("new").record();
        without_status["dynamodb"]["OldImage"]
            .as_object_mut()
            .unwrap()
            .remove("ItemStatus");
        assert!(
            registration_delivered(&filters, &without_status),
            "a record the handler created first (the launch event came before cloud-init)"
        );
        let mut removed = RecordChange::new("8", "i-1", initial).record();
        removed["eventName"] = "REMOVE".into();
        assert!(!registration_delivered(&filters, &removed));
        // The handler's own record (keyed by the bare instance id) taking a registration in
        // reaches the initial state too: never delivered, only registrations (keyed by ARN) are.
        let mut handler_record = RecordChange::new("9", "i-1", initial).from("new").record();
        handler_record["dynamodb"]["Keys"]["Ident"]["S"] = "i-1".into();
        assert!(!registration_delivered(&filters, &handler_record));
    }
}
