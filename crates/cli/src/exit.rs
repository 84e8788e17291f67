//! The exit codes of every subcommand, one table (the README's "Exit codes" lists the same).
//!
//! Outcomes keep the small numbers; a usage error has its own code that no command uses for an
//! outcome (`EX_USAGE` of sysexits.h), so a script tells a typo from a timeout.

use std::process::ExitCode;

/// The command did what was asked (`wait`: completed; `waiter run`: success).
pub const SUCCESS: u8 = 0;
/// A negative outcome: an invalid model, a failed group, a waiter's failure state, a rejected
/// event, a violated invariant, a table that could not be created, an error response (`api
/// call`).
pub const FAILED: u8 = 1;
/// Time or attempts ran out: `wait --timeout`, `waiter run` attempts exhausted.
pub const TIMEOUT: u8 = 2;
/// An error on the way: the source, the model or AWS could not be opened or read.
pub const ERROR: u8 = 3;
/// A usage error: an unknown flag, a bad value, a missing argument, an input the service model
/// refuses (`api call`) (`EX_USAGE`).
pub const USAGE: u8 = 64;
/// `invoke`: a delivery must be retried (`EX_TEMPFAIL`).
pub const TEMPFAIL: u8 = 75;
/// Interrupted: 128 + the signal number (130 for SIGINT, 143 for SIGTERM).
pub const SIGNAL_BASE: u8 = 128;

/// `code` as an [`ExitCode`].
pub fn code(code: u8) -> ExitCode {
    ExitCode::from(code)
}

/// Prints `error: {message}` on stderr and returns `code`.
pub fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}
