//! A tiny deterministic executor and the fault points the simulated services share.
//!
//! Nothing in the simulated world waits for real I/O, so a handler invocation runs to the end in
//! one poll. To overlap invocations, every store and AWS call passes a [`Gate`] that yields once
//! while overlapping is on, and the executor picks (with the seeded random stream) which
//! invocation to poll next. A crash parks the invocation forever at the point it happened; the
//! executor then drops it, as Lambda drops a dead process.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use rand::Rng;

use super::faults::chance;
use super::iam::{Request, Resource};
use super::world::{Millis, Shared};
use asg_lifecycle::aws::{AwsError, AwsErrorKind};

/// Yields once when invocations overlap, so that another one can run in between.
pub struct Gate {
    yielded: bool,
    active: bool,
}

/// Parks the rest of an invocation that crashed: the tasks it ran side by side (the sweep's
/// records) die with the process, whatever they were about to do.
pub async fn stop_if_crashed(shared: &Shared) {
    let crashed = {
        let s = shared.lock();
        s.crashed.contains(&s.current)
    };
    if crashed {
        std::future::pending::<()>().await;
    }
}

/// A yield point (a no-op unless invocations overlap).
#[must_use]
pub fn gate(shared: &Shared) -> Gate {
    Gate {
        yielded: false,
        active: shared.lock().interleave,
    }
}

impl Future for Gate {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.active && !self.yielded {
            self.yielded = true;
            // Ready to go on at once: whatever polls this (the sweep runs records side by side)
            // must poll it again.
            cx.waker().wake_by_ref();
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

/// Maybe crashes the current invocation right after `what` took effect: the future never
/// completes and the executor drops it. Each invocation draws once whether it crashes and after
/// how many effects (see [`run_all`]), so a long sweep is no likelier to die than a short event.
pub async fn maybe_crash(shared: &Shared, ident: &str, what: &str) {
    stop_if_crashed(shared).await;
    let crash = {
        let now = shared.now();
        let mut s = shared.lock();
        let current = s.current;
        let crash = match s.crash_after.get_mut(current) {
            Some(Some(left)) if *left > 0 => {
                *left -= 1;
                *left == 0
            }
            _ => false,
        };
        if crash {
            s.crashed.push(current);
            s.crashes += 1;
            s.checker
                .trail(ident, now, format!("invocation crashed after {what}"));
        }
        crash
    };
    if crash {
        std::future::pending::<()>().await;
    }
}

fn error(operation: &str, kind: AwsErrorKind, code: &str, message: &str) -> AwsError {
    AwsError {
        operation: operation.to_string(),
        kind,
        code: code.to_string(),
        message: message.to_string(),
    }
}

/// What a call touches, for the role's check: `action` on `resources` in the stack's region.
pub enum Target<'a> {
    /// An action without resource-level permissions (`Resource: "*"`).
    Any,
    /// The table (`GetItem`, `UpdateItem`).
    Table,
    /// The table's active index (`Query`).
    ActiveIndex,
    /// The instance's Auto Scaling group.
    Group,
    /// The stack's dead-letter queue (`SendMessage`).
    DeadLetterQueue,
    /// A document sent to the instance (`SendCommand`).
    Command {
        /// The document name.
        document: &'a str,
    },
}

/// Checks a call against the function role of `template.yaml`, as IAM does before anything
/// else: a denied call is an invariant violation (the code calls what the template does not
/// grant) and answers `AccessDenied`.
///
/// # Errors
/// `AccessDeniedException`, permanent.
pub fn authorize(
    shared: &Shared,
    ident: &str,
    action: &str,
    target: &Target<'_>,
) -> Result<(), AwsError> {
    let now = shared.now();
    let mut guard = shared.lock();
    let s = &mut *guard;
    // The role's answer depends on the action and what the call touches; the instance matters
    // only to a command (its ARN is a resource of the call).
    let (touches, instance) = match target {
        Target::Any => ("*", ""),
        Target::Table => ("table", ""),
        Target::ActiveIndex => ("index", ""),
        Target::Group => ("group", ""),
        Target::DeadLetterQueue => ("dlq", ""),
        Target::Command { document } => (*document, ident),
    };
    let mut key = std::mem::take(&mut s.iam_key);
    key.clear();
    for part in [action, "\0", touches, "\0", instance] {
        key.push_str(part);
    }
    let known = s.iam_allowed.contains(key.as_str());
    if known {
        s.iam_key = key;
        return Ok(());
    }
    let group = s.group.config.name.clone();
    let d = &s.deployment;
    let resources = match target {
        Target::Any => vec![Resource::arn("*")],
        Target::Table => vec![Resource::arn(d.table_arn())],
        Target::ActiveIndex => vec![Resource::arn(format!(
            "{}/index/active-index",
            d.table_arn()
        ))],
        Target::Group => vec![Resource::arn(d.group_arn(&group))],
        Target::DeadLetterQueue => vec![Resource::arn(d.queue_arn("DeadLetterQueue"))],
        Target::Command { document } => vec![
            Resource::arn(d.document_arn(document)),
            Resource::arn(d.instance_arn(ident))
                .with_key("ssm:resourceTag/aws:autoscaling:groupName", &group),
        ],
    };
    let request = Request::new(action, resources, &d.region);
    if s.iam.allows(&request) {
        s.iam_allowed.insert(key);
        return Ok(());
    }
    *s.denied_calls.entry(action.to_string()).or_default() += 1;
    let on: Vec<&str> = request.resources.iter().map(|r| r.arn.as_str()).collect();
    let message = format!(
        "{action} on {} is not allowed by template.yaml's function role",
        on.join(" and ")
    );
    s.checker.violation(ident, now, message.clone());
    Err(error(
        action.rsplit(':').next().unwrap_or(action),
        AwsErrorKind::Permanent,
        "AccessDeniedException",
        &message,
    ))
}

/// Adds one to the counter named by `parts` joined (allocating its name only the first time).
pub fn count(counters: &mut BTreeMap<String, u64>, parts: &[&str]) {
    let mut name = [0_u8; 64];
    let mut len = 0;
    for part in parts {
        let end = len + part.len();
        if end > name.len() {
            *counters.entry(parts.concat()).or_default() += 1;
            return;
        }
        name[len..end].copy_from_slice(part.as_bytes());
        len = end;
    }
    let name = std::str::from_utf8(&name[..len]).unwrap_or_default();
    match counters.get_mut(name) {
        Some(n) => *n += 1,
        None => {
            counters.insert(name.to_string(), 1);
        }
    }
}

/// Counts an AWS call and maybe fails it before it takes effect (throttling or a 5xx).
///
/// # Errors
/// The injected error.
pub async fn before_call(shared: &Shared, ident: &str, operation: &str) -> Result<(), AwsError> {
    stop_if_crashed(shared).await;
    gate(shared).await;
    let mut s = shared.lock();
    let model = s.latencies.aws;
    let latency = model.draw(&mut s.rng);
    shared.clock.pass(latency);
    let now = shared.now();
    count(&mut s.aws_calls, &[operation]);
    let (throttle, server) = (s.faults.throttle, s.faults.server_error);
    let injected = if chance(&mut s.rng, throttle) {
        Some(error(
            operation,
            AwsErrorKind::Throttled,
            "ThrottlingException",
            "Rate exceeded",
        ))
    } else if chance(&mut s.rng, server) {
        Some(error(
            operation,
            AwsErrorKind::Transient,
            "InternalFailure",
            "simulated 5xx",
        ))
    } else {
        None
    };
    match injected {
        Some(e) => {
            s.injected_errors += 1;
            s.checker
                .trail(ident, now, format!("{operation} failed: {}", e.code));
            Err(e)
        }
        None => Ok(()),
    }
}

/// After an AWS call took effect: maybe crash, maybe answer a 5xx anyway (the caller cannot tell
/// whether it took effect).
///
/// # Errors
/// The injected ambiguous error.
pub async fn after_call(shared: &Shared, ident: &str, operation: &str) -> Result<(), AwsError> {
    maybe_crash(shared, ident, operation).await;
    let now = shared.now();
    let mut s = shared.lock();
    let p = s.faults.ambiguous_error;
    if chance(&mut s.rng, p) {
        s.injected_errors += 1;
        s.checker.trail(
            ident,
            now,
            format!("{operation} took effect, then answered a 5xx"),
        );
        return Err(error(
            operation,
            AwsErrorKind::Transient,
            "InternalFailure",
            "simulated 5xx after the call took effect",
        ));
    }
    Ok(())
}

/// An invocation to run.
pub type Invocation<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// The Tokio timer that the invocation loop arms for its deadline cut. Entered while
/// invocations run, never driven: an invocation of the simulated world takes microseconds of real
/// time, far within its budget, so the cut never fires and the timer changes nothing in a run.
pub struct Timer {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Timer {
    /// A timer of its own (no I/O, no thread).
    ///
    /// # Panics
    /// When Tokio cannot build a current-thread runtime with only a timer.
    #[must_use]
    pub fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread Tokio runtime with only a timer builds");
        Self {
            runtime: Some(runtime),
        }
    }

    /// Makes the timer the current one until the guard is dropped.
    #[must_use]
    pub fn enter(&self) -> Option<tokio::runtime::EnterGuard<'_>> {
        self.runtime.as_ref().map(tokio::runtime::Runtime::enter)
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // Without blocking: the simulator may itself run inside an async context (the CLI's
        // runtime), where a blocking shutdown panics.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Starts a batch of `count` invocations: overlapped when there are several; each draws once
/// whether it crashes and after how many effects.
fn start_batch(shared: &Shared, count: usize) {
    let mut guard = shared.lock();
    let s = &mut *guard;
    s.interleave = count > 1;
    s.crashed.clear();
    let p = s.faults.crash;
    s.crash_after = (0..count)
        .map(|_| chance(&mut s.rng, p).then(|| s.rng.random_range(1..=6_u32)))
        .collect();
}

/// Ends a batch: how long each invocation ran.
fn end_batch(shared: &Shared, elapsed: Vec<Millis>) {
    shared.clock.set_elapsed(0);
    let mut s = shared.lock();
    s.interleave = false;
    let longest = elapsed.iter().copied().max().unwrap_or(0);
    s.longest_invocation_ms = s.longest_invocation_ms.max(longest);
    s.last_elapsed = elapsed;
}

/// Runs one invocation, made by `invocation`, to the end (what [`run_all`] does with a batch of
/// one, without moving the invocation to the heap). `None` when it crashed.
///
/// # Panics
/// When the invocation waits on something the simulation never provides (a bug of the
/// simulator: nothing in the world blocks).
pub fn run_one<F: Future>(shared: &Shared, invocation: impl FnOnce() -> F) -> Option<F::Output> {
    start_batch(shared, 1);
    let mut cx = Context::from_waker(Waker::noop());
    let mut elapsed = 0;
    let result = {
        // Made where it is pinned: the (large) future is not moved there.
        let mut invocation = std::pin::pin!(invocation());
        let mut polls = 0_u64;
        loop {
            polls += 1;
            assert!(
                polls < 1_000_000,
                "an invocation never finished: a simulator bug"
            );
            shared.lock().current = 0;
            shared.clock.set_elapsed(elapsed);
            let polled = invocation.as_mut().poll(&mut cx);
            elapsed = shared.clock.latest();
            match polled {
                Poll::Ready(value) => break Some(value),
                // Dropped at the end of this block: what Lambda does to a dead process.
                Poll::Pending if shared.lock().crashed.contains(&0) => break None,
                Poll::Pending => {}
            }
        }
    };
    end_batch(shared, vec![elapsed]);
    result
}

/// Runs invocations to the end, overlapped when there are several. `None` for one that crashed.
///
/// # Panics
/// When an invocation waits on something the simulation never provides (a bug of the
/// simulator: nothing in the world blocks).
pub fn run_all<T>(shared: &Shared, invocations: Vec<Invocation<'_, T>>) -> Vec<Option<T>> {
    let mut results: Vec<Option<T>> = invocations.iter().map(|_| None).collect();
    let mut live: Vec<usize> = (0..invocations.len()).collect();
    let mut invocations: Vec<Option<Invocation<'_, T>>> =
        invocations.into_iter().map(Some).collect();
    start_batch(shared, invocations.len());
    let mut cx = Context::from_waker(Waker::noop());
    let mut elapsed: Vec<Millis> = vec![0; invocations.len()];
    let mut polls = 0_u64;
    while !live.is_empty() {
        polls += 1;
        assert!(
            polls < 1_000_000,
            "an invocation never finished: a simulator bug"
        );
        let pick = if live.len() == 1 {
            0
        } else {
            shared.lock().rng.random_range(0..live.len())
        };
        let index = live[pick];
        shared.lock().current = index;
        let Some(invocation) = invocations[index].as_mut() else {
            live.swap_remove(pick);
            continue;
        };
        shared.clock.set_elapsed(elapsed[index]);
        let polled = invocation.as_mut().poll(&mut cx);
        elapsed[index] = shared.clock.latest();
        match polled {
            Poll::Ready(value) => {
                results[index] = Some(value);
                invocations[index] = None;
                live.swap_remove(pick);
            }
            Poll::Pending => {
                if shared.lock().crashed.contains(&index) {
                    live.swap_remove(pick);
                    // Dropping it now is what Lambda does to a dead process.
                    invocations[index] = None;
                }
            }
        }
    }
    end_batch(shared, elapsed);
    results
}
