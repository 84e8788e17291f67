//! Simulated cloud-init: registers the instance after a random boot delay (sometimes before its
//! launch event is handled, sometimes after), writes the initial state when it is done, and
//! occasionally never finishes. It writes the way the real one does: `update-item` (merge).

use futures::FutureExt;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

use super::faults::chance;
use super::iam::instance_update;
use super::world::{Job, Millis, Shared};
use asg_lifecycle::machine::Graph;
use asg_lifecycle::registration::{key_of, key_prefix};
use asg_lifecycle::store::{MemoryStore, StateStore};

/// When cloud-init writes what, relative to the launch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootPlan {
    /// Writes, in order: (delay after launch, state).
    pub writes: Vec<(Millis, String)>,
    /// True when the initial state is never written.
    pub never_finishes: bool,
}

/// Draws a boot: registration in a pending state after 2–40 s, the initial state 5–150 s later,
/// or (with probability `never`) no initial state at all.
#[must_use]
pub fn plan(rng: &mut ChaCha8Rng, graph: &Graph, never: f64) -> BootPlan {
    let register = rng.random_range(2_000..=40_000);
    let finish = register + rng.random_range(5_000..=150_000);
    let never_finishes = chance(rng, never);
    let mut writes = Vec::new();
    if let Some(pending) = graph.pending.iter().next() {
        writes.push((register, pending.clone()));
    }
    if !never_finishes {
        writes.push((finish, graph.initial.clone()));
    }
    BootPlan {
        writes,
        never_finishes,
    }
}

/// The jobs of a plan for an instance launched at `launched`.
#[must_use]
pub fn jobs(plan: &BootPlan, ident: &str, launched: Millis) -> Vec<(Millis, Job)> {
    plan.writes
        .iter()
        .map(|(after, status)| {
            (
                launched + after,
                Job::CloudInit {
                    ident: ident.to_string(),
                    status: status.clone(),
                },
            )
        })
        .collect()
}

/// The private address cloud-init reports for the n-th instance.
#[must_use]
pub fn address(n: u64) -> String {
    let mut address = String::with_capacity(15);
    address.push_str("10.");
    crate::digits::push_decimal(&mut address, (n >> 16) & 0xff);
    address.push('.');
    crate::digits::push_decimal(&mut address, (n >> 8) & 0xff);
    address.push('.');
    crate::digits::push_decimal(&mut address, n & 0xff);
    address
}

/// The state the instance's registration item holds, if any.
#[must_use]
pub fn registered_status(memory: &MemoryStore, ident: &str) -> Option<String> {
    memory
        .registration(ident)
        .now_or_never()
        .and_then(Result::ok)
        .flatten()
        .and_then(|r| r.status)
}

/// The private address of an instance (`i-` and its number in hex).
#[must_use]
pub fn address_of(ident: &str) -> String {
    address(u64::from_str_radix(ident.trim_start_matches("i-"), 16).unwrap_or(0))
}

/// What an honest cloud-init registers: the state and the instance's own address.
#[must_use]
pub fn honest_registration(ident: &str, status: &str) -> Map<String, Value> {
    let mut attributes = Map::new();
    attributes.insert("ItemStatus".into(), Value::String(status.to_string()));
    attributes.insert("InstanceIp".into(), Value::String(address_of(ident)));
    attributes
}

/// Writes `attributes` on the instance's registration item, as cloud-init does with its
/// instance profile: the request is checked against the template's instance policy first (an
/// honest registration it denies is a violation, and changes nothing).
pub fn write(shared: &Shared, ident: &str, attributes: &Map<String, Value>, now: Millis) {
    let names: Vec<&str> = std::iter::once("Ident")
        .chain(attributes.keys().map(String::as_str))
        .collect();
    {
        let mut s = shared.lock();
        let key = key_of(
            &key_prefix(&s.deployment.region, &s.deployment.account),
            ident,
        );
        let request = instance_update(&s.deployment, ident, &key, &names, None);
        if !s.instance_iam.allows(&request) {
            s.checker.violation(
                ident,
                now,
                format!("the instance policy denied cloud-init's registration ({names:?})"),
            );
            return;
        }
    }
    // The in-memory store answers at once; its result is never an error for a merge.
    let _ = shared
        .memory
        .cloud_init_update(ident, attributes)
        .now_or_never();
}

#[cfg(test)]
mod tests {
    use super::*;
    use asg_lifecycle::machine::Machine;
    use rand::SeedableRng;

    #[test]
    fn a_boot_registers_as_pending_then_writes_the_initial_state() {
        let machine = Machine::example();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let plan = plan(&mut rng, machine.graph(), 0.0);
        let states: Vec<&str> = plan.writes.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(states, ["new", "finished_cloud_init"]);
        assert!(plan.writes[0].0 < plan.writes[1].0);
    }

    #[test]
    fn a_boot_that_never_finishes_only_registers() {
        let machine = Machine::example();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let plan = plan(&mut rng, machine.graph(), 1.0);
        assert!(plan.never_finishes);
        assert_eq!(plan.writes.len(), 1);
    }
}
