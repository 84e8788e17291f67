//! Rendering a graph as Mermaid or DOT, optionally with instance counts per state.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::graph::Graph;

/// Diagram formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Mermaid `stateDiagram-v2`.
    Mermaid,
    /// Graphviz DOT.
    Dot,
}

fn label(state: &str, counts: Option<&BTreeMap<String, usize>>) -> String {
    match counts {
        Some(counts) => format!("{state} ({})", counts.get(state).copied().unwrap_or(0)),
        None => state.to_string(),
    }
}

fn mermaid_id(state: &str) -> String {
    state
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Renders the graph; `counts` adds the number of instances in each state.
#[must_use]
pub fn render(graph: &Graph, format: Format, counts: Option<&BTreeMap<String, usize>>) -> String {
    let mut out = String::new();
    match format {
        Format::Mermaid => {
            out.push_str("stateDiagram-v2\n");
            for state in &graph.states {
                let _ = writeln!(out, "    {}: {}", mermaid_id(state), label(state, counts));
            }
            let _ = writeln!(out, "    [*] --> {}", mermaid_id(&graph.initial));
            for t in &graph.transitions {
                for source in &t.sources {
                    let dest = t.dest.as_deref().unwrap_or(source);
                    let _ = writeln!(
                        out,
                        "    {} --> {}: {}",
                        mermaid_id(source),
                        mermaid_id(dest),
                        t.trigger.name
                    );
                }
            }
            for state in &graph.terminal {
                let _ = writeln!(out, "    {} --> [*]", mermaid_id(state));
            }
        }
        Format::Dot => {
            out.push_str(
                "digraph lifecycle {\n    rankdir=LR;\n    node [shape=box, style=rounded];\n",
            );
            for state in &graph.states {
                let shape = if graph.is_terminal(state) {
                    ", peripheries=2"
                } else if *state == graph.failure {
                    ", color=red"
                } else if *state == graph.initial {
                    ", style=\"rounded,bold\""
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "    \"{state}\" [label=\"{}\"{shape}];",
                    label(state, counts)
                );
            }
            for t in &graph.transitions {
                for source in &t.sources {
                    let dest = t.dest.as_deref().unwrap_or(source);
                    let _ = writeln!(
                        out,
                        "    \"{source}\" -> \"{dest}\" [label=\"{}\"];",
                        t.trigger.name
                    );
                }
            }
            out.push_str("}\n");
        }
    }
    out
}
