//! Ctrl-C and SIGTERM: the first one cancels a token so that `watch` and `wait` end cleanly
//! (closing resume token, laggards) and exit 128 + the signal; a second one exits at once.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio_util::sync::CancellationToken;

use crate::exit;

/// SIGINT's number.
const SIGINT: u8 = 2;
/// SIGTERM's number.
#[cfg(unix)]
const SIGTERM: u8 = 15;

/// A cancellation token fired by the first SIGINT or SIGTERM.
pub struct Interrupt {
    token: CancellationToken,
    signal: Arc<AtomicU8>,
}

impl Interrupt {
    /// Installs the handlers (on the running Tokio runtime).
    ///
    /// # Errors
    /// The handlers could not be installed.
    pub fn install() -> Result<Self, String> {
        let token = CancellationToken::new();
        let signal = Arc::new(AtomicU8::new(0));
        let mut next = signals().map_err(|e| format!("failed to install signal handlers: {e}"))?;
        let (fired, seen) = (token.clone(), signal.clone());
        tokio::spawn(async move {
            let first = next.recv().await;
            seen.store(first, Ordering::SeqCst);
            fired.cancel();
            let second = next.recv().await;
            std::process::exit(i32::from(exit::SIGNAL_BASE + second));
        });
        Ok(Self { token, signal })
    }

    /// The token the first signal cancels.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// The exit code for the signal received: 130 for SIGINT, 143 for SIGTERM.
    pub fn exit_code(&self) -> ExitCode {
        let signal = match self.signal.load(Ordering::SeqCst) {
            0 => SIGINT,
            n => n,
        };
        exit::code(exit::SIGNAL_BASE + signal)
    }
}

#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
fn signals() -> std::io::Result<Signals> {
    use tokio::signal::unix::{SignalKind, signal};
    Ok(Signals {
        interrupt: signal(SignalKind::interrupt())?,
        terminate: signal(SignalKind::terminate())?,
    })
}

#[cfg(unix)]
impl Signals {
    async fn recv(&mut self) -> u8 {
        tokio::select! {
            _ = self.interrupt.recv() => SIGINT,
            _ = self.terminate.recv() => SIGTERM,
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
fn signals() -> std::io::Result<Signals> {
    Ok(Signals)
}

#[cfg(not(unix))]
impl Signals {
    async fn recv(&mut self) -> u8 {
        let _ = tokio::signal::ctrl_c().await;
        SIGINT
    }
}
