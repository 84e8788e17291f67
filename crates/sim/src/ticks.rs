//! The sweep rule's ticks in the simulated world: both targets (the sweep and the keepalive
//! pass), each delivered late by EventBridge at times, throttled beyond the reserved
//! concurrency, and retried by Lambda when it fails; the sweep's visits are tracked.

use rand::Rng;

use super::faults::chance;
use super::runner::Runner;
use super::world::{Job, Millis};
use asg_lifecycle::event::payload::Scheduled;
use asg_lifecycle::invocation::InvocationReport;

impl Runner {
    pub(super) fn sweep(&mut self, now: Millis, attempt: u32, tick: bool, keepalive: bool) {
        if tick && !keepalive {
            let period = Self::ms(self.config.sweep_period);
            self.queue.push(
                now + period,
                Job::Sweep {
                    attempt: 0,
                    tick: true,
                    keepalive: false,
                },
            );
            if self.keepalive {
                // The rule's second target: delivered and retried on its own.
                self.queue.push(
                    now,
                    Job::Sweep {
                        attempt: 0,
                        tick: true,
                        keepalive: true,
                    },
                );
            }
        }
        if tick {
            // EventBridge could not invoke the function at first: it retries with backoff, so
            // the tick comes late rather than never.
            let late = {
                let mut s = self.shared.lock();
                let p = s.faults.drop_sweep;
                chance(&mut s.rng, p).then(|| s.rng.random_range(10_000..=90_000))
            };
            if let Some(late) = late {
                self.counts.delayed += 1;
                // Once delivered, the invocation has Lambda's retries like any other.
                self.queue.push(
                    now + late,
                    Job::Sweep {
                        attempt: 0,
                        tick: false,
                        keepalive,
                    },
                );
                return;
            }
        }
        if self.free_environments(now) == 0 {
            // Throttled: Lambda keeps the asynchronous invocation and tries again shortly.
            self.counts.throttled += 1;
            let later = self.shared.lock().rng.random_range(1_000..=3_000);
            self.queue.push(
                now + later,
                Job::Sweep {
                    attempt,
                    tick: false,
                    keepalive,
                },
            );
            return;
        }
        let config = self.invoker.handler().config();
        let rule = if keepalive {
            self.counts.keepalives += 1;
            config.keepalive_rule()
        } else {
            self.counts.sweeps += 1;
            config.sweep_rule.clone()
        };
        let id = self.next_id(0x4000);
        let event = Scheduled::new(&id, &rule)
            .at(self.shared.clock.at(now))
            .text();
        self.shared.lock().sweeping = true;
        let reports = self.invoke(&[event]);
        self.shared.lock().sweeping = false;
        if !keepalive {
            self.note_sweep_visits(now, &reports);
        }
        // A crashed or retryably failed asynchronous invocation is retried by Lambda, twice.
        let failed = reports
            .first()
            .is_none_or(|r| r.as_ref().is_none_or(|r| r.redelivery().is_err()));
        if failed && attempt < 2 {
            self.counts.retried += 1;
            let retry_in = 60_000 * i64::from(attempt + 1);
            self.queue.push(
                now + retry_in,
                Job::Sweep {
                    attempt: attempt + 1,
                    tick: false,
                    keepalive,
                },
            );
        }
    }

    /// Records which active records a sweep visited (an outcome names each), and the gap since
    /// the sweep before visited them.
    fn note_sweep_visits(&mut self, now: Millis, reports: &[Option<InvocationReport>]) {
        let visited = reports
            .iter()
            .flatten()
            .flat_map(|r| &r.messages)
            .filter_map(|m| m.result.as_ref().ok())
            .flatten()
            .filter_map(|o| o.instance.as_deref());
        for ident in visited {
            match self.sweep_visits.get_mut(ident) {
                Some(last) => {
                    self.longest_sweep_gap = self.longest_sweep_gap.max(now - *last);
                    *last = now;
                }
                None => {
                    self.sweep_visits.insert(ident.to_string(), now);
                }
            }
        }
    }
}
