//! Issue #13, item 5: bad input never panics. Property tests over everything the function reads
//! from outside — invocation payloads, model files, waiter files and stored records: any input
//! gives a typed error or a result, never a panic.
//!
//! Each property runs [`DEFAULT_CASES`] cases, or `PROPTEST_CASES` when set (a longer run:
//! `PROPTEST_CASES=20000 cargo test -p asg-lifecycle --test it properties`). The generators are
//! structured — valid payloads, models and records with fields mutated — as well as random, so
//! that the cases reach past the first check.

mod events;
mod generators;
mod models;
mod records;
mod waiters;

use proptest::test_runner::Config;

/// Cases per property unless `PROPTEST_CASES` says otherwise: bounded for CI.
pub const DEFAULT_CASES: u32 = 256;

/// The configuration of every property: [`DEFAULT_CASES`] or `PROPTEST_CASES`, no regression
/// files written into the source tree.
pub fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}
