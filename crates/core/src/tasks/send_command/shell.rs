//! The shells of the documents whose shell is known, and their quoting of `env` values.

use super::{DEFAULT_DOCUMENT, POWERSHELL_DOCUMENT};

/// The shell that runs a document's commands, which decides how `env` values are quoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShellPlatform {
    /// `sh` (`AWS-RunShellScript`).
    Posix,
    /// PowerShell (`AWS-RunPowerShellScript`).
    PowerShell,
}

impl ShellPlatform {
    /// The shell of a document, when it is one whose shell is known.
    #[must_use]
    pub fn of_document(document: &str) -> Option<Self> {
        match document {
            DEFAULT_DOCUMENT => Some(Self::Posix),
            POWERSHELL_DOCUMENT => Some(Self::PowerShell),
            _ => None,
        }
    }

    /// The command line that sets the environment variable `name` to `value`.
    #[must_use]
    pub fn assignment(self, name: &str, value: &str) -> String {
        match self {
            Self::Posix => format!("export {name}={}", posix_single_quote(value)),
            Self::PowerShell => format!("$env:{name} = {}", powershell_single_quote(value)),
        }
    }
}

/// `value` as one POSIX shell word: single-quoted, each `'` written `'\''`.
#[must_use]
pub fn posix_single_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// `value` as a PowerShell single-quoted string: each quote character doubled — `'` and the
/// typographic single quotes U+2018–U+201B, which PowerShell also reads as quotes.
#[must_use]
pub fn powershell_single_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for ch in value.chars() {
        if matches!(ch, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            out.push(ch);
        }
        out.push(ch);
    }
    out.push('\'');
    out
}
