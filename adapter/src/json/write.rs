//! The JSON writer: strings escaped exactly as serde_json escapes them, and object keys.

use super::find_special;

/// Append `s` as a JSON string, escaped exactly as serde_json escapes it (`"`, `\\` and control
/// characters; everything else, non-ASCII included, verbatim). Runs between escapes are found
/// eight bytes at a time and copied whole.
pub(crate) fn push_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    push_escaped(out, s.as_bytes());
    out.push(b'"');
}

/// Append the inside of a JSON string for `text`, escaped as [`push_str`] escapes it. Only ASCII
/// bytes are ever escaped, so a UTF-8 text may be written in pieces cut anywhere.
pub(crate) fn push_escaped(out: &mut Vec<u8>, text: &[u8]) {
    let mut rest = text;
    loop {
        let i = find_special(rest);
        out.extend_from_slice(&rest[..i]);
        let Some(&b) = rest.get(i) else { break };
        push_escape(out, b);
        rest = &rest[i + 1..];
    }
}

fn push_escape(out: &mut Vec<u8>, b: u8) {
    match escape_of(b) {
        Some(Escape::Short(c)) => out.extend_from_slice(&[b'\\', c]),
        Some(Escape::Unicode) => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xF)]]);
        }
        None => out.push(b),
    }
}

enum Escape {
    Short(u8),
    Unicode,
}

fn escape_of(b: u8) -> Option<Escape> {
    Some(match b {
        b'"' => Escape::Short(b'"'),
        b'\\' => Escape::Short(b'\\'),
        b'\n' => Escape::Short(b'n'),
        b'\r' => Escape::Short(b'r'),
        b'\t' => Escape::Short(b't'),
        0x08 => Escape::Short(b'b'),
        0x0C => Escape::Short(b'f'),
        0x00..=0x1F => Escape::Unicode,
        _ => return None,
    })
}

/// Append `"key":`, preceded by a comma unless it is the first member.
pub(crate) fn push_key(out: &mut Vec<u8>, first: &mut bool, key: &str) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    push_str(out, key);
    out.push(b':');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_exactly_like_serde_json() {
        let mut samples: Vec<String> = (0u8..=0x7F).map(|b| char::from(b).to_string()).collect();
        samples.push("plain ascii text that is longer than eight bytes".to_owned());
        samples.push(
            "ünïcødé ✓ 日本 \u{10FFFF} mixed\twith\"quotes\"\\and\u{1}controls\u{7f}".to_owned(),
        );
        for shift in 0..9 {
            samples.push(format!(
                "{}\"{}\n",
                "x".repeat(shift),
                "y".repeat(17 - shift)
            ));
        }
        for s in samples {
            let mut ours = Vec::new();
            push_str(&mut ours, &s);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(&s).unwrap(),
                "{s:?}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

        #[test]
        fn escaping_matches_serde_json_for_any_string(s in "(\\PC|[\u{0}-\u{1f}\"\\\\\n]){0,300}") {
            let mut ours = Vec::new();
            push_str(&mut ours, &s);
            proptest::prop_assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&s).unwrap());
        }
    }

    #[test]
    fn writes_escaped_strings() {
        let mut out = Vec::new();
        let mut first = true;
        out.push(b'{');
        push_key(&mut out, &mut first, "k");
        push_str(&mut out, "a\"b\n");
        push_key(&mut out, &mut first, "n");
        out.extend_from_slice(b"1}");
        assert_eq!(out, br#"{"k":"a\"b\n","n":1}"#);
    }
}
