//! Hostile instances: a compromised workload on some instances writes through exactly what its
//! instance profile allows (the template's `InstanceRegistrationPolicy`, evaluated) and tries
//! what it does not.
//!
//! A hostile instance registers with a neighbour's address and marked values, and later tries
//! to rewrite a neighbour's registration and record, to give itself handler-owned attributes
//! (a neighbour's lifecycle token, the active index), to read items back with `ReturnValues`,
//! and to move its own registration to a state of the failure path. Each write is evaluated
//! against the policy: a denied one changes nothing (and is counted); an allowed one is applied
//! to the store as DynamoDB would. Invariants (see also `ssm.rs`, `asg.rs`, `finish.rs`): the
//! policy never lets an instance write another's item or a handler-owned attribute; no command
//! carries another instance's data; no lifecycle action is completed with a token other than
//! its own instance's; no item the handler did not create enters the active index.

use futures::FutureExt;
use rand::Rng;
use serde_json::{Map, Value, json};

use super::iam::instance_update;
use super::world::{Millis, Shared};
use asg_lifecycle::registration::{key_of, key_prefix};
use asg_lifecycle::store::StateStore;

/// The marker hostile instances put in the values they write: a command that carries it for
/// another instance carries data that instance did not write.
pub const FORGED: &str = "forged-by-";

/// What hostile instances tried, for the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AdversaryCounts {
    /// Hostile instances launched.
    pub hostile: u64,
    /// Writes they tried.
    pub attempted: u64,
    /// Writes the instance policy denied.
    pub denied: u64,
    /// Writes it allowed (their own registration, allowed attributes only).
    pub allowed: u64,
}

/// One write a hostile instance tries: the item's key, its attributes, `ReturnValues`, and
/// whether the policy must allow it.
struct Attempt {
    key: String,
    attributes: Map<String, Value>,
    return_values: Option<&'static str>,
    must_allow: bool,
}

/// A neighbour of the attacker: its id, its address and its current lifecycle token.
pub struct Victim {
    /// The instance id.
    pub ident: String,
    /// Its private address.
    pub address: String,
    /// The token of its last lifecycle action.
    pub token: Option<String>,
}

/// The registration a hostile instance writes at boot instead of the honest one: its state, a
/// neighbour's address, and marked values.
#[must_use]
pub fn boot_registration(
    attacker: &str,
    status: &str,
    victim: Option<&Victim>,
) -> Map<String, Value> {
    let mut attributes = Map::new();
    attributes.insert("ItemStatus".into(), json!(status));
    let address = victim.map_or("203.0.113.66", |v| v.address.as_str());
    attributes.insert("InstanceIp".into(), json!(address));
    attributes.insert(
        "Role".into(),
        json!(format!("$(reboot) {FORGED}{attacker}")),
    );
    attributes
}

/// The writes of a later attack on `victim` (or on nobody when the attacker is alone).
fn attempts(
    shared: &Shared,
    attacker: &str,
    victim: Option<&Victim>,
    failure: &str,
) -> Vec<Attempt> {
    let prefix = {
        let s = shared.lock();
        key_prefix(&s.deployment.region, &s.deployment.account)
    };
    let own = key_of(&prefix, attacker);
    let marked = json!(format!("{FORGED}{attacker}"));
    let with = |pairs: &[(&str, Value)]| -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect()
    };
    let mut out = vec![
        // Its own registration on the failure path: allowed, and ignored by the handler.
        Attempt {
            key: own.clone(),
            attributes: with(&[("ItemStatus", json!(failure)), ("Role", marked.clone())]),
            return_values: None,
            must_allow: true,
        },
        // Handler-owned attributes on its own item: the active index, a version.
        Attempt {
            key: own.clone(),
            attributes: with(&[("ActiveGroup", json!("sim-asg")), ("Version", json!(1))]),
            return_values: None,
            must_allow: false,
        },
        // Reading its item back.
        Attempt {
            key: own,
            attributes: with(&[("ItemStatus", json!("new"))]),
            return_values: Some("ALL_OLD"),
            must_allow: false,
        },
    ];
    if let Some(victim) = victim {
        let victim_key = key_of(&prefix, &victim.ident);
        // The neighbour's registration: its state and address.
        out.push(Attempt {
            key: victim_key,
            attributes: with(&[
                ("ItemStatus", json!(failure)),
                ("InstanceIp", json!("203.0.113.66")),
                ("Role", marked.clone()),
            ]),
            return_values: None,
            must_allow: false,
        });
        // The neighbour's record: the failure state and its own token, to have it abandoned.
        let mut action = Map::new();
        action.insert(
            "Token".into(),
            json!(victim.token.clone().unwrap_or_default()),
        );
        out.push(Attempt {
            key: victim.ident.clone(),
            attributes: with(&[
                ("ItemStatus", json!(failure)),
                ("LifecycleAction", Value::Object(action.clone())),
            ]),
            return_values: Some("ALL_OLD"),
            must_allow: false,
        });
        // The neighbour's token in its own registration.
        let own_again = key_of(&prefix, attacker);
        out.push(Attempt {
            key: own_again,
            attributes: with(&[("LifecycleAction", Value::Object(action))]),
            return_values: None,
            must_allow: false,
        });
    }
    out
}

/// Carries out a hostile instance's later attack at `now`: every write evaluated against the
/// instance policy, the allowed ones applied. The policy letting through a write it must deny
/// is a violation.
pub fn attack(
    shared: &Shared,
    attacker: &str,
    victim: Option<&Victim>,
    failure: &str,
    now: Millis,
) {
    for attempt in attempts(shared, attacker, victim, failure) {
        let names: Vec<&str> = std::iter::once("Ident")
            .chain(attempt.attributes.keys().map(String::as_str))
            .collect();
        let allowed = {
            let s = shared.lock();
            let request = instance_update(
                &s.deployment,
                attacker,
                &attempt.key,
                &names,
                attempt.return_values,
            );
            s.instance_iam.allows(&request)
        };
        let mut s = shared.lock();
        s.adversary.attempted += 1;
        if allowed {
            s.adversary.allowed += 1;
        } else {
            s.adversary.denied += 1;
        }
        let line = format!(
            "hostile write of {names:?} on `{}`{}: {}",
            attempt.key,
            attempt
                .return_values
                .map_or_else(String::new, |r| format!(" (ReturnValues {r})")),
            if allowed { "allowed" } else { "denied" }
        );
        s.checker.trail(attacker, now, line);
        if allowed != attempt.must_allow {
            let message = if allowed {
                format!(
                    "the instance policy let {attacker} write {names:?} on `{}`",
                    attempt.key
                )
            } else {
                format!("the instance policy denied {attacker} its own registration ({names:?})")
            };
            s.checker.violation(attacker, now, message);
        }
        drop(s);
        if allowed {
            // Only the attacker's own registration can be allowed: applied as DynamoDB would.
            let _ = shared
                .memory
                .cloud_init_update(attacker, &attempt.attributes)
                .now_or_never();
        }
    }
}

/// Picks a neighbour of `attacker` among the group's instances, with the seeded stream.
pub fn pick_victim(
    shared: &Shared,
    attacker: &str,
    address_of: impl Fn(&str) -> String,
) -> Option<Victim> {
    let mut s = shared.lock();
    let others: Vec<(String, Option<String>)> = s
        .group
        .instances
        .iter()
        .filter(|(ident, _)| ident.as_str() != attacker)
        .map(|(ident, instance)| {
            (
                ident.clone(),
                instance.actions.last().map(|a| a.token.clone()),
            )
        })
        .collect();
    if others.is_empty() {
        return None;
    }
    let index = s.rng.random_range(0..others.len());
    let (ident, token) = others[index].clone();
    Some(Victim {
        address: address_of(&ident),
        ident,
        token,
    })
}

/// Checks a command's parameters for another instance's data: a hostile instance's marker or
/// an address of the simulated network (`10.x.y.z`) other than the target's own.
#[must_use]
pub fn foreign_data(parameters: &str, target: &str, own_address: &str) -> Option<String> {
    if let Some(at) = parameters.find(FORGED) {
        let rest = &parameters[at + FORGED.len()..];
        let writer: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if writer != target {
            return Some(format!("a value {writer} wrote"));
        }
    }
    parameters
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|token| token.starts_with("10.") && token.split('.').count() == 4)
        .find(|address| *address != own_address)
        .map(|address| format!("the address {address}, not its own {own_address}"))
}

#[cfg(test)]
mod tests {
    use super::foreign_data;

    #[test]
    fn another_instances_marker_or_address_is_foreign_data() {
        let own = "10.0.0.5";
        assert_eq!(foreign_data("export NODE_IP='10.0.0.5'", "i-1", own), None);
        assert!(foreign_data("export NODE_IP='10.0.0.6'", "i-1", own).is_some());
        assert!(foreign_data("Role='forged-by-i-2'", "i-1", own).is_some());
        assert_eq!(foreign_data("Role='forged-by-i-1'", "i-1", own), None);
        assert_eq!(foreign_data("timeout 10.5 s", "i-1", own), None);
    }
}
