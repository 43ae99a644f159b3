//! The property the JSON fuzz target (`fuzz/fuzz_targets/json.rs`) checks: the fast parser and
//! serde_json never disagree, and what is written back parses to the same value.

use super::{parse, Node};

/// `Ok` when the two parsers agree on `input`: whatever the fast parser accepts, serde_json
/// accepts as the same tree (the fast parser may decline anything; serde_json then decides), and
/// the tree written back with `write_json` parses to the same value. `Err` says how they differ.
/// For the fuzz target and its regression tests, not an API.
#[doc(hidden)]
pub fn check_json_parsers(input: &[u8]) -> Result<(), String> {
    let fast = parse::parse(input);
    let serde = Node::parse_with_serde(input);
    match (&fast, &serde) {
        (Some(fast), Ok(serde)) if fast != serde => {
            return Err(format!("trees differ: fast {fast:?}, serde_json {serde:?}"));
        }
        (Some(fast), Err(e)) => {
            return Err(format!(
                "the fast parser accepts what serde_json rejects ({e}): {fast:?}"
            ));
        }
        _ => {}
    }
    if let Ok(tree) = &serde {
        let mut written = Vec::new();
        tree.write_json(&mut written);
        let text = String::from_utf8_lossy(&written);
        let again = Node::parse(&written)
            .map_err(|e| format!("written JSON does not parse ({e}): {text}"))?;
        if again.to_value() != tree.to_value() {
            return Err(format!("written JSON parses to another value: {text}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parsers_agree_on_samples() {
        for input in [
            &br#"{"a":[1,-2,1.5e3,true,null,"x\u00e9\ud83d\ude00"],"a":{}}"#[..],
            b" [ ] ",
            b"-0",
            b"1e400",
            b"\"\\ud800\"",
            b"{\"a\":1,}",
            b"\xff",
        ] {
            assert_eq!(check_json_parsers(input), Ok(()), "{input:?}");
        }
    }
}
