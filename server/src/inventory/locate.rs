//! Where things are in an inventory file: the line of a byte offset, and — for the errors the
//! TOML parser reports, which carry only a byte span — the path of the key at fault
//! (`pool[2].provision[1].nmae`), found by reading the table headers above it.

use std::collections::HashMap;
use std::ops::Range;

/// The text of an inventory file, with its line starts.
pub struct Source<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    pub fn new(text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { text, line_starts }
    }

    /// The line (from 1) that holds byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    fn line_text(&self, line: usize) -> &'a str {
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |next| next - 1);
        self.text.get(start..end).unwrap_or_default()
    }

    /// The path of the key at `span`, as well as the headers above it and the line itself tell;
    /// empty at the top level.
    pub fn path_at(&self, span: Range<usize>) -> String {
        let line = self.line(span.start);
        let table = self.table_at(line);
        let key = self.key_at(line, span);
        match (table.is_empty(), key.is_empty()) {
            (_, true) => table,
            (true, false) => key,
            (false, false) => format!("{table}.{key}"),
        }
    }

    /// The table that line `line` belongs to, with array-of-tables entries numbered from 1.
    fn table_at(&self, line: usize) -> String {
        let mut counters: HashMap<String, usize> = HashMap::new();
        let mut current = String::new();
        let mut open_string: Option<&str> = None;
        for n in 1..=line {
            let text = self.line_text(n);
            if let Some(quotes) = open_string {
                if text.contains(quotes) {
                    open_string = None;
                }
                continue;
            }
            let trimmed = text.trim_start();
            if let Some(header) = header(trimmed) {
                current = resolve(&header.parts, header.array, &mut counters);
            } else {
                open_string = ["\"\"\"", "'''"]
                    .into_iter()
                    .find(|q| text.matches(q).count() % 2 == 1);
            }
        }
        current
    }

    /// The key on line `line` that `span` points at or into; empty on a header line.
    fn key_at(&self, line: usize, span: Range<usize>) -> String {
        let text = self.line_text(line);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        if text.trim_start().starts_with('[') {
            return String::new();
        }
        let Some(eq) = text.find('=') else {
            return String::new();
        };
        let key = dotted(&text[..eq]);
        if span.start <= start + eq {
            return key;
        }
        // An error inside an inline table (`image = { name = "x", versio = "1" }`) points at
        // the inner key: a bare word followed by `=`.
        let inner = self.text.get(span.clone()).unwrap_or_default();
        let after = self.text.get(span.end..).unwrap_or_default().trim_start();
        if is_bare_key(inner) && after.starts_with('=') {
            format!("{key}.{inner}")
        } else {
            key
        }
    }
}

struct Header {
    parts: Vec<String>,
    array: bool,
}

fn header(line: &str) -> Option<Header> {
    let (array, rest) = match line.strip_prefix("[[") {
        Some(rest) => (true, rest),
        None => (false, line.strip_prefix('[')?),
    };
    let end = rest.find(']')?;
    Some(Header {
        parts: rest[..end].split('.').map(unquote).collect(),
        array,
    })
}

/// `pool.provision` under the second `[[pool]]`, as a new array entry: `pool[2].provision[3]`.
fn resolve(parts: &[String], array: bool, counters: &mut HashMap<String, usize>) -> String {
    let mut path = String::new();
    for (i, part) in parts.iter().enumerate() {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(part);
        if array && i + 1 == parts.len() {
            let count = counters.entry(path.clone()).or_insert(0);
            *count += 1;
            path = format!("{path}[{count}]");
        } else if let Some(count) = counters.get(&path) {
            path = format!("{path}[{count}]");
        }
    }
    path
}

fn unquote(part: &str) -> String {
    part.trim().trim_matches(['"', '\'']).to_owned()
}

fn dotted(key: &str) -> String {
    key.split('.').map(unquote).collect::<Vec<_>>().join(".")
}

fn is_bare_key(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"[[pool]]
slug = "a"
description = """
[not a header]
"""
image = { name = "x", versio = "1" }

[pool.policy]
max_duration_hours = "x"

[[pool.provision]]
name = "one"

[[pool]]
slug = "b"

[[pool.provision]]
nmae = "two"
"#;

    fn span_of(needle: &str) -> Range<usize> {
        let start = FILE.find(needle).unwrap();
        start..start + needle.len()
    }

    #[test]
    fn lines_count_from_one() {
        let source = Source::new(FILE);
        assert_eq!(source.line(0), 1);
        assert_eq!(source.line(FILE.find("slug").unwrap()), 2);
        assert_eq!(source.line(span_of("nmae").start), 18);
    }

    #[test]
    fn paths_follow_the_headers_and_number_entries_from_one() {
        let source = Source::new(FILE);
        assert_eq!(source.path_at(span_of("nmae")), "pool[2].provision[1].nmae");
        assert_eq!(source.path_at(span_of("versio")), "pool[1].image.versio");
        assert_eq!(
            source.path_at(span_of("\"x\"\n")),
            "pool[1].policy.max_duration_hours"
        );
        assert_eq!(source.path_at(span_of("[[pool]]")), "pool[1]");
    }
}
