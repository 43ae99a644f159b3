//! Where in the file a problem is: byte offsets to line numbers, lines to dotted key paths, and
//! keys of the n-th `[[upstream]]` back to their line.

/// A place in the config text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Location {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Dotted key path such as `upstream[1].timeout`, when known.
    pub key: Option<String>,
}

/// The line of a byte offset and the key path written there.
pub(crate) fn at_offset(text: &str, offset: usize) -> Location {
    let offset = offset.min(text.len());
    let line_index = text
        .as_bytes()
        .iter()
        .take(offset)
        .filter(|b| **b == b'\n')
        .count();
    Location {
        line: Some(line_index + 1),
        key: key_at_line(text, line_index),
    }
}

/// The line of `key` inside the `index`-th `[[table]]` (or `[table]` when `index` is `None`),
/// falling back to the table header's line.
pub(crate) fn of_key(text: &str, table: &str, index: Option<usize>, key: &str) -> Location {
    let path = match index {
        Some(i) => format!("{table}[{i}].{key}"),
        None => format!("{table}.{key}"),
    };
    let mut seen = 0usize;
    let mut header_line = None;
    for (n, line) in text.lines().enumerate() {
        if let Some(header) = header_of(line) {
            if header_line.is_some() {
                break;
            }
            let matches = match index {
                Some(i) => {
                    header.array && header.name == table && {
                        seen += 1;
                        seen == i + 1
                    }
                }
                None => !header.array && header.name == table,
            };
            if matches {
                header_line = Some(n);
            }
            continue;
        }
        if header_line.is_some() && key_of(line).as_deref() == Some(key) {
            return Location {
                line: Some(n + 1),
                key: Some(path),
            };
        }
    }
    Location {
        line: header_line.map(|n| n + 1),
        key: Some(path),
    }
}

/// The key path of the assignment (or table header) on a 0-based line.
fn key_at_line(text: &str, line_index: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let line = lines.get(line_index)?;
    let table = table_path_before(&lines, line_index);
    if let Some(header) = header_of(line) {
        return Some(table.unwrap_or(header.name));
    }
    let key = key_of(line)?;
    Some(match table {
        Some(table) => format!("{table}.{key}"),
        None => key,
    })
}

/// `upstream[2]` or `aws` for the table a 0-based line belongs to (the header on it counts).
fn table_path_before(lines: &[&str], line_index: usize) -> Option<String> {
    let mut current: Option<(String, bool)> = None;
    let mut counts = std::collections::HashMap::<String, usize>::new();
    for line in lines.iter().take(line_index + 1) {
        if let Some(header) = header_of(line) {
            if header.array {
                *counts.entry(header.name.clone()).or_default() += 1;
            }
            current = Some((header.name, header.array));
        }
    }
    let (name, array) = current?;
    if array {
        let index = counts.get(&name).copied().unwrap_or(1).saturating_sub(1);
        Some(format!("{name}[{index}]"))
    } else {
        Some(name)
    }
}

struct Header {
    name: String,
    array: bool,
}

fn header_of(line: &str) -> Option<Header> {
    let line = strip_comment(line).trim();
    if let Some(inner) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
        return Some(Header {
            name: inner.trim().to_owned(),
            array: true,
        });
    }
    let inner = line.strip_prefix('[')?.strip_suffix(']')?;
    Some(Header {
        name: inner.trim().to_owned(),
        array: false,
    })
}

fn key_of(line: &str) -> Option<String> {
    let (key, _) = strip_comment(line).split_once('=')?;
    let key = key.trim().trim_matches('"');
    let ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    ok.then(|| key.to_owned())
}

fn strip_comment(line: &str) -> &str {
    // Good enough for key lookup: a `#` inside a quoted key is not something config keys contain.
    line.split_once('#').map_or(line, |(before, _)| before)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "log_format = \"json\"\n[admin]\nlisten = \"x\"\n\n[[upstream]]\ndestination_name = \"a\"\n\n[[upstream]] # second\ndestination_name = \"b\"\ntimeout = -1\n";

    #[test]
    fn offsets_become_lines_and_key_paths() {
        let offset = TEXT.find("timeout").unwrap();
        let location = at_offset(TEXT, offset + 3);
        assert_eq!(location.line, Some(10));
        assert_eq!(location.key.as_deref(), Some("upstream[1].timeout"));
        let top = at_offset(TEXT, 2);
        assert_eq!(top.line, Some(1));
        assert_eq!(top.key.as_deref(), Some("log_format"));
        let admin = at_offset(TEXT, TEXT.find("listen").unwrap());
        assert_eq!(admin.key.as_deref(), Some("admin.listen"));
    }

    #[test]
    fn keys_of_the_nth_table_are_found() {
        let location = of_key(TEXT, "upstream", Some(1), "destination_name");
        assert_eq!(location.line, Some(9));
        let missing = of_key(TEXT, "upstream", Some(0), "timeout");
        assert_eq!(missing.line, Some(5), "falls back to the header");
        assert_eq!(missing.key.as_deref(), Some("upstream[0].timeout"));
        assert_eq!(of_key(TEXT, "admin", None, "listen").line, Some(3));
    }
}
