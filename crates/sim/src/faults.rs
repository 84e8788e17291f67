//! Fault profiles: how often deliveries, AWS calls, the store and the handler misbehave.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A named fault level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Faults {
    /// A perfect world: every event delivered once, in order, no errors, no crashes.
    None,
    /// Occasional faults of every kind, at rates a busy production account sees.
    #[default]
    Default,
    /// Many faults of every kind: the chaos tests.
    Harsh,
    /// The default faults, and one instance in five hostile: it writes what its instance
    /// profile allows and tries what it does not (`adversary.rs`).
    Hostile,
}

impl Faults {
    /// The probabilities of this level.
    #[must_use]
    pub fn profile(self) -> FaultProfile {
        match self {
            Self::None => FaultProfile::default(),
            Self::Default => FaultProfile {
                duplicate: 0.05,
                delay: 0.05,
                max_delay_ms: 120_000,
                drop_ssm_event: 0.02,
                drop_sweep: 0.05,
                overlap: 0.03,
                throttle: 0.02,
                server_error: 0.01,
                ambiguous_error: 0.005,
                store_unavailable: 0.01,
                crash: 0.02,
                command_failed: 0.01,
                command_timed_out: 0.005,
                cloud_init_never: 0.005,
                agent_unregistered: 0.02,
                adversaries: 0.0,
            },
            Self::Hostile => FaultProfile {
                adversaries: 0.2,
                ..Self::Default.profile()
            },
            Self::Harsh => FaultProfile {
                duplicate: 0.2,
                delay: 0.2,
                max_delay_ms: 300_000,
                drop_ssm_event: 0.1,
                drop_sweep: 0.2,
                overlap: 0.15,
                throttle: 0.08,
                server_error: 0.05,
                ambiguous_error: 0.03,
                store_unavailable: 0.04,
                crash: 0.1,
                command_failed: 0.03,
                command_timed_out: 0.02,
                cloud_init_never: 0.02,
                agent_unregistered: 0.05,
                adversaries: 0.05,
            },
        }
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Default => "default",
            Self::Harsh => "harsh",
            Self::Hostile => "hostile",
        })
    }
}

impl FromStr for Faults {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Self::None),
            "default" => Ok(Self::Default),
            "harsh" => Ok(Self::Harsh),
            "hostile" => Ok(Self::Hostile),
            other => Err(format!(
                "unknown fault level `{other}` (expected none, default, harsh or hostile)"
            )),
        }
    }
}

/// Probabilities (0..=1) of each fault, per opportunity.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FaultProfile {
    /// An event is delivered twice.
    pub duplicate: f64,
    /// An event is held back (up to `max_delay_ms`), so that later ones overtake it.
    pub delay: f64,
    /// The longest hold-back.
    pub max_delay_ms: i64,
    /// An SSM status notification is lost (each of the two independently).
    pub drop_ssm_event: f64,
    /// A tick of the scheduled sweep is lost.
    pub drop_sweep: f64,
    /// A delivery runs overlapped with a duplicate of itself (or both SSM notifications overlap).
    pub overlap: f64,
    /// An AWS call is throttled (before it takes effect).
    pub throttle: f64,
    /// An AWS call fails with a 5xx (before it takes effect).
    pub server_error: f64,
    /// An AWS call takes effect, then answers a 5xx.
    pub ambiguous_error: f64,
    /// A store request is throttled (before it takes effect).
    pub store_unavailable: f64,
    /// An invocation dies right after one of its first store writes or AWS calls took effect.
    pub crash: f64,
    /// An SSM command ends `Failed`.
    pub command_failed: f64,
    /// An SSM command ends `TimedOut` (at its timeout).
    pub command_timed_out: f64,
    /// Cloud-init never finishes (the instance stays pending).
    pub cloud_init_never: f64,
    /// A `SendCommand` within five minutes of launch answered `InvalidInstanceId` (the SSM agent
    /// has not registered yet).
    pub agent_unregistered: f64,
    /// An instance is hostile (per launch): see `adversary.rs`.
    pub adversaries: f64,
}

/// Draws `true` with probability `p` (never drawing when `p` is zero, so a fault-free run
/// consumes no randomness for faults).
pub fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    p > 0.0 && rng.random_bool(p.min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_levels_parse_and_print_the_same_names() {
        for level in [
            Faults::None,
            Faults::Default,
            Faults::Harsh,
            Faults::Hostile,
        ] {
            assert_eq!(level.to_string().parse::<Faults>(), Ok(level));
        }
        assert!("chaos".parse::<Faults>().is_err());
    }

    #[test]
    fn no_faults_means_every_probability_is_zero() {
        assert_eq!(Faults::None.profile(), FaultProfile::default());
    }
}
