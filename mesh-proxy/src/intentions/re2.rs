//! RE2's Perl classes in the `regex` crate's syntax. Envoy runs Consul's `PathRegex` and header
//! `Regex` with RE2, where `\d`, `\w`, `\s` and `\b` are ASCII-only while `.` and `[^…]` match
//! any character; the `regex` crate's `\d` is Unicode (it matches `٣`). Compiling with Unicode
//! off would fix the classes but break `.` on a `&str` regex, so instead the Perl classes are
//! rewritten into explicit ASCII classes and everything else keeps Unicode semantics, as in RE2.
//! RE2's `\Q…\E` literal quoting, which the `regex` crate lacks, is expanded too, and class
//! syntax the `regex` crate gives a meaning RE2 does not (nested `[`, `&&`, `--`, `~~`) is escaped.

/// `pattern` (RE2 syntax) rewritten for the `regex` crate with RE2's ASCII Perl classes.
pub(super) fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    let mut class_start = false;
    let mut previous_in_class = None;
    while let Some(c) = chars.next() {
        if c == '\\' {
            let Some(next) = chars.next() else {
                out.push('\\'); // A trailing backslash: let the regex compiler report it.
                break;
            };
            if next == 'Q' {
                quote(&mut chars, &mut out);
                continue;
            }
            match (in_class, perl_class(next)) {
                (false, Some((set, negated))) => {
                    out.push_str(if negated { "[^" } else { "[" });
                    out.push_str(set);
                    out.push(']');
                }
                (true, Some((set, false))) => out.push_str(set),
                (true, Some((set, true))) => {
                    out.push_str("[^");
                    out.push_str(set);
                    out.push(']');
                }
                (false, None) if next == 'b' || next == 'B' => {
                    out.push_str("(?-u:\\");
                    out.push(next);
                    out.push(')');
                }
                _ => {
                    out.push('\\');
                    out.push(next);
                }
            }
            class_start = false;
            previous_in_class = None;
            continue;
        }
        if !in_class {
            out.push(c);
            if c == '[' {
                in_class = true;
                class_start = true;
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
            }
            continue;
        }
        match c {
            ']' if !class_start => {
                in_class = false;
                out.push(']');
            }
            '[' if chars.peek() == Some(&':') => {
                // A POSIX class `[:alpha:]`: the same in both syntaxes.
                out.push('[');
                for d in chars.by_ref() {
                    out.push(d);
                    if d == ']' {
                        break;
                    }
                }
            }
            '[' | '&' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '-' if previous_in_class == Some('-') => out.push_str("\\-"),
            _ => out.push(c),
        }
        class_start = false;
        previous_in_class = Some(c);
    }
    out
}

/// The ASCII set of a Perl class letter and whether it is negated (`\D`, `\W`, `\S`).
fn perl_class(letter: char) -> Option<(&'static str, bool)> {
    const DIGIT: &str = "0-9";
    const WORD: &str = "0-9A-Za-z_";
    // RE2's `\s` is `[\t\n\f\r ]` (no vertical tab).
    const SPACE: &str = "\\t\\n\\f\\r ";
    match letter {
        'd' => Some((DIGIT, false)),
        'D' => Some((DIGIT, true)),
        'w' => Some((WORD, false)),
        'W' => Some((WORD, true)),
        's' => Some((SPACE, false)),
        'S' => Some((SPACE, true)),
        _ => None,
    }
}

/// RE2's `\Q…\E`: everything up to `\E` (or the end) is literal.
fn quote(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, out: &mut String) {
    let mut literal = String::new();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'E') {
            chars.next();
            break;
        }
        literal.push(c);
    }
    out.push_str(&regex::escape(&literal));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::FullRegex;
    use super::translate;

    fn full(pattern: &str) -> FullRegex {
        FullRegex::new(pattern).unwrap()
    }

    #[test]
    fn perl_classes_are_ascii_as_in_re2() {
        assert!(full(r"\d+").is_match("0123456789"));
        assert!(!full(r"\d").is_match("٣"), "Arabic-Indic digit");
        assert!(full(r"\w+").is_match("az_AZ09"));
        assert!(!full(r"\w").is_match("é"));
        assert!(
            full(r"\W").is_match("é"),
            "\\W matches any non-word character"
        );
        assert!(full(r"\s").is_match("\t"));
        assert!(!full(r"\s").is_match("\u{a0}"), "no-break space");
        assert!(
            !full(r"\s").is_match("\u{b}"),
            "RE2's \\s has no vertical tab"
        );
        assert!(full(r"\S").is_match("é"));
        assert!(full(r"\D").is_match("٣"));
    }

    #[test]
    fn perl_classes_inside_brackets() {
        assert!(full(r"[\d.]+").is_match("1.2.3"));
        assert!(!full(r"[\d]").is_match("٣"));
        assert!(full(r"[\Dx]").is_match("é"));
        assert!(!full(r"[\D]").is_match("7"));
        assert_eq!(translate(r"[\w-]"), "[0-9A-Za-z_-]");
    }

    #[test]
    fn dot_and_negated_classes_match_any_character() {
        assert!(full(".").is_match("é"));
        assert!(full("[^a]").is_match("é"));
        assert!(full("/api/.*").is_match("/api/caf%C3%A9/é"));
    }

    #[test]
    fn word_boundaries_are_ascii() {
        assert!(full(r".*\bfoo\b.*").is_match("a foo b"));
        // `é` is not an ASCII word character, so RE2 sees a boundary after `foo`.
        assert!(full(r"foo\b.*").is_match("fooé"));
        assert!(!full(r"foo\b.*").is_match("foox"));
    }

    #[test]
    fn the_whole_input_must_match() {
        let regex = full("/v[0-9]+/users");
        assert!(regex.is_match("/v2/users"));
        assert!(!regex.is_match("/v2/users/1"));
        assert!(!regex.is_match("x/v2/users"));
        assert!(
            full("a|b").is_match("b"),
            "alternation is grouped before anchoring"
        );
        assert!(!full("a|b").is_match("ab"));
    }

    #[test]
    fn quoted_literals_and_re2_class_literals() {
        assert!(full(r"\Q/a.b\E/\d").is_match("/a.b/1"));
        assert!(!full(r"\Q/a.b\E").is_match("/axb"));
        assert!(
            full(r"[a[]").is_match("["),
            "`[` inside a class is literal in RE2"
        );
        assert!(full(r"[a&&b]").is_match("&"));
        assert!(full(r"[]a]").is_match("]"));
        assert!(full(r"[[:alpha:]]+").is_match("abc"));
        assert!(full(r"\.").is_match("."));
    }

    #[test]
    fn invalid_patterns_are_errors() {
        assert!(FullRegex::new("(").is_err());
        assert!(FullRegex::new("\\").is_err());
        assert_eq!(format!("{:?}", full("a+")), "FullRegex(\"a+\")");
    }
}
