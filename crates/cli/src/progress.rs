//! Progress on a terminal (indicatif): drawn on stderr, hidden when stderr is not a terminal
//! (indicatif's default draw target checks), so pipes and scripts see nothing of it.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps with `template` (indicatif's template syntax).
pub fn bar(len: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("#>-"));
    }
    bar
}

/// A spinner showing `message` and the elapsed time, ticking on its own.
pub fn spinner(message: impl Into<String>) -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
        spinner.set_style(style);
    }
    spinner.set_message(message.into());
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner
}
