//! `--output json|text|table` and `--query JMESPATH`, the AWS CLI's habits, for every subcommand.
//!
//! A command hands each document it produces (one for `status`, one per event for `watch`) to a
//! [`Printer`] as JSON. Without `--output` (and without `--query`) the command prints its own
//! human form instead; with them, the document is filtered by the query and rendered:
//!
//! - `json`: the document on one line (a stream is JSON Lines);
//! - `text`: the AWS CLI's text form: scalars of an object on one tab-separated line (keys in
//!   alphabetical order), a list of scalars on one line, each object of a list on its own line,
//!   nested members after them on lines starting with their upper-cased key;
//! - `table`: aligned columns: a list of objects as rows under a header, an object as `key value`
//!   rows with its nested lists and objects below under their key.
//!
//! In a stream (`watch`, `wait`, `invoke`, `waiter run`) a document whose query result is `null`
//! is left out, so `--query` can select the events of one kind.

use std::fmt::Write as _;

use serde_json::Value;

/// The format of structured output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// JSON, one document per line.
    Json,
    /// Tab-separated, like the AWS CLI's `text`.
    Text,
    /// Aligned columns for people.
    Table,
}

/// Prints documents in the format and through the query the user asked for.
pub struct Printer {
    format: Option<Format>,
    query: Option<jmespath::Expression<'static>>,
}

impl Printer {
    /// A printer for `--output` and `--query`; a query without an output format means `json`.
    ///
    /// # Errors
    /// The query is not a JMESPath expression.
    pub fn new(format: Option<Format>, query: Option<&str>) -> Result<Self, String> {
        let query = query
            .map(|q| jmespath::compile(q).map_err(|e| format!("invalid --query `{q}`: {e}")))
            .transpose()?;
        let format = format.or(query.as_ref().map(|_| Format::Json));
        Ok(Self { format, query })
    }

    /// True when the command prints its own human form (neither `--output` nor `--query`).
    pub fn is_human(&self) -> bool {
        self.format.is_none()
    }

    /// The document after the query, rendered; `None` in human mode.
    ///
    /// # Errors
    /// The query cannot be evaluated on the document.
    pub fn render(&self, document: &Value) -> Option<Result<String, String>> {
        let format = self.format?;
        Some(self.apply(document).map(|v| render(&v, format)))
    }

    /// Prints one document (a command's whole answer); `false` when the query failed (reported).
    pub fn print(&self, document: &Value) -> bool {
        match self.render(document) {
            Some(Ok(text)) => {
                print!("{text}");
                true
            }
            Some(Err(e)) => {
                eprintln!("error: {e}");
                false
            }
            None => true,
        }
    }

    /// Prints one document of a stream: as [`Printer::print`], but a `null` query result prints
    /// nothing.
    pub fn print_item(&self, document: &Value) -> bool {
        if let Some(Ok(Value::Null)) = self.format.map(|_| self.apply(document)) {
            return true;
        }
        self.print(document)
    }

    fn apply(&self, document: &Value) -> Result<Value, String> {
        let Some(query) = &self.query else {
            return Ok(document.clone());
        };
        let found = query
            .search(document)
            .map_err(|e| format!("failed to evaluate --query: {e}"))?;
        serde_json::to_value(&*found).map_err(|e| format!("failed to evaluate --query: {e}"))
    }
}

/// Renders `value` in `format`, ending with a newline.
pub fn render(value: &Value, format: Format) -> String {
    let mut out = String::new();
    match format {
        Format::Json => {
            out.push_str(&value.to_string());
            out.push('\n');
        }
        Format::Text => text(value, None, &mut out),
        Format::Table => table(value, &mut out),
    }
    out
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Array(_) | Value::Object(_))
}

/// A scalar as the AWS CLI prints it: strings bare, `null` as `None`.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

fn line(prefix: Option<&str>, cells: impl IntoIterator<Item = String>, out: &mut String) {
    let cells: Vec<String> = prefix
        .map(str::to_uppercase)
        .into_iter()
        .chain(cells)
        .collect();
    if !cells.is_empty() {
        out.push_str(&cells.join("\t"));
        out.push('\n');
    }
}

fn text(value: &Value, prefix: Option<&str>, out: &mut String) {
    match value {
        Value::Array(items) if items.iter().all(is_scalar) => {
            line(prefix, items.iter().map(scalar), out);
        }
        Value::Array(items) => {
            for item in items {
                text(item, prefix, out);
            }
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let scalars: Vec<String> = keys
                .iter()
                .filter(|k| is_scalar(&map[k.as_str()]))
                .map(|k| scalar(&map[k.as_str()]))
                .collect();
            if !scalars.is_empty() {
                line(prefix, scalars, out);
            }
            for key in keys.iter().filter(|k| !is_scalar(&map[k.as_str()])) {
                text(&map[key.as_str()], Some(key), out);
            }
        }
        other => line(prefix, [scalar(other)], out),
    }
}

/// A cell: scalars as in text, nested values as compact JSON.
fn cell(value: &Value) -> String {
    if is_scalar(value) {
        scalar(value)
    } else {
        value.to_string()
    }
}

fn aligned(rows: &[Vec<String>], out: &mut String) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut text = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            let _ = write!(text, "{cell:<width$}  ");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
}

fn table(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
            let mut header: Vec<String> = Vec::new();
            for item in items {
                for key in item.as_object().into_iter().flat_map(|m| m.keys()) {
                    if !header.contains(key) {
                        header.push(key.clone());
                    }
                }
            }
            let mut rows = vec![header.iter().map(|h| h.to_uppercase()).collect::<Vec<_>>()];
            rows.extend(items.iter().map(|item| {
                header
                    .iter()
                    .map(|k| item.get(k).map_or_else(|| "-".into(), cell))
                    .collect()
            }));
            aligned(&rows, out);
        }
        Value::Array(items) => {
            for item in items {
                out.push_str(&cell(item));
                out.push('\n');
            }
        }
        Value::Object(map) => {
            let rows: Vec<Vec<String>> = map
                .iter()
                .filter(|(_, v)| is_scalar(v))
                .map(|(k, v)| vec![k.clone(), scalar(v)])
                .collect();
            aligned(&rows, out);
            for (key, nested) in map.iter().filter(|(_, v)| !is_scalar(v)) {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(key);
                out.push_str(":\n");
                table(nested, out);
            }
        }
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_is_tab_separated_with_nested_members_under_their_key() {
        let doc = json!({"aggregate": "Current", "instances": [
            {"instance": "i-1", "status": "Current", "state": "ready"},
            {"instance": "i-2", "status": "Current", "state": null}
        ]});
        assert_eq!(
            render(&doc, Format::Text),
            "Current\nINSTANCES\ti-1\tready\tCurrent\nINSTANCES\ti-2\tNone\tCurrent\n"
        );
        assert_eq!(render(&json!(["a", 1, true]), Format::Text), "a\t1\ttrue\n");
    }

    #[test]
    fn table_aligns_a_list_of_objects_under_a_header() {
        let doc =
            json!([{"name": "Mine", "delay": 1}, {"name": "RecordReachedStatus", "delay": 15}]);
        assert_eq!(
            render(&doc, Format::Table),
            "NAME                 DELAY\nMine                 1\nRecordReachedStatus  15\n"
        );
    }

    #[test]
    fn a_query_selects_and_implies_json() {
        let printer = Printer::new(None, Some("instances[].instance")).unwrap();
        let doc = json!({"instances": [{"instance": "i-1"}, {"instance": "i-2"}]});
        assert_eq!(
            printer.render(&doc).unwrap().unwrap(),
            "[\"i-1\",\"i-2\"]\n"
        );
        assert!(Printer::new(None, None).unwrap().is_human());
        assert!(Printer::new(None, Some("[")).is_err());
    }
}
