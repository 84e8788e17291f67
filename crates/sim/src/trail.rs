//! A line of an instance's trail, written out only when a violation quotes the trail.
//!
//! The checker keeps each instance's last lines for the violations it reports; almost every run
//! reports none, so most lines are never read. A line on the hot path (each transition written,
//! each delivery, each SSM command) keeps what it shows and is formatted only when quoted.

use std::borrow::Cow;
use std::fmt;

/// What a line shows, formatted on demand.
type Write = Box<dyn Fn(&mut fmt::Formatter<'_>) -> fmt::Result + Send>;

/// See the module documentation.
pub enum TrailLine {
    /// Text as it is.
    Text(Cow<'static, str>),
    /// Text written when the line is quoted.
    Lazy(Write),
}

impl TrailLine {
    /// A line that `write` writes when it is quoted; `write` owns what it shows.
    pub fn lazy(write: impl Fn(&mut fmt::Formatter<'_>) -> fmt::Result + Send + 'static) -> Self {
        Self::Lazy(Box::new(write))
    }
}

impl fmt::Display for TrailLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(text) => f.write_str(text),
            Self::Lazy(write) => write(f),
        }
    }
}

impl From<String> for TrailLine {
    fn from(text: String) -> Self {
        Self::Text(Cow::Owned(text))
    }
}

impl From<&'static str> for TrailLine {
    fn from(text: &'static str) -> Self {
        Self::Text(Cow::Borrowed(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lazy_line_reads_as_the_text_it_would_have_been() {
        let (from, version) = (String::from("new"), 3_u64);
        let line = TrailLine::lazy(move |f| write!(f, "transition {from} v{version}"));
        assert_eq!(line.to_string(), "transition new v3");
        assert_eq!(TrailLine::from("fixed").to_string(), "fixed");
        assert_eq!(TrailLine::from(format!("{}", 1)).to_string(), "1");
    }
}
