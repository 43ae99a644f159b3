use proptest::prelude::*;

use super::parse;
use crate::json::Node;

fn both(input: &str) -> (Option<Node<'_>>, Option<Node<'_>>) {
    (
        parse(input.as_bytes()),
        Node::parse_with_serde(input.as_bytes()).ok(),
    )
}

#[test]
fn agrees_with_serde_json_on_valid_documents() {
    let docs = [
        r#"{"a":"plain","b":"esc\"aped \\ \/ \b\f\n\r\t \u00e9 \ud83d\ude00 \u0000","c":[1,-2,1.5,1e3,-0.0,18446744073709551615,-9223372036854775808,12345678901234567890123],"d":{},"e":[],"f":true,"g":false,"h":null}"#,
        " \t\n{ \"k\" : [ 1 , { \"x\" : \"y\" } ] } \r\n",
        "\"just a string\"",
        "42",
        "[]",
        "null",
        r#"{"dup":1,"dup":2}"#,
        "\"ünïcødé ✓ 日本\"",
    ];
    for doc in docs {
        let (fast, serde) = both(doc);
        assert!(fast.is_some(), "fast parser declined {doc:?}");
        assert_eq!(fast, serde, "{doc:?}");
    }
}

#[test]
fn declines_what_is_not_json() {
    let nested_ok = format!("{}{}", "[".repeat(128), "]".repeat(128));
    assert!(parse(nested_ok.as_bytes()).is_some());
    let too_deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
    assert!(parse(too_deep.as_bytes()).is_none());
    for bad in [
        "",
        " ",
        "{",
        "}",
        "[1,]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{a:1}",
        "01",
        "1.",
        "-",
        "+1",
        ".5",
        "1e",
        "\"unterminated",
        "\"raw\ncontrol\"",
        "\"tab\there\"",
        "\"bad \\x escape\"",
        "\"\\u12\"",
        "\"\\u+123\"",
        "\"lone \\ud800\"",
        "\"lone \\udc00\"",
        "\"pair \\ud800\\u0041\"",
        "tru",
        "nul",
        "{} x",
        "[1] [2]",
        "'single'",
    ] {
        assert!(parse(bad.as_bytes()).is_none(), "accepted {bad:?}");
        assert!(
            Node::parse_with_serde(bad.as_bytes()).is_err(),
            "serde accepted {bad:?}"
        );
    }
    assert!(parse(b"\"\xff\"").is_none());
}

fn arb_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        "[\"\\\\/\u{0}-\u{1f}a-z ü✓]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn fast_parser_matches_serde_json(value in arb_value(), pretty in any::<bool>()) {
        let text = if pretty {
            serde_json::to_string_pretty(&value).unwrap()
        } else {
            serde_json::to_string(&value).unwrap()
        };
        let (fast, serde) = both(&text);
        prop_assert!(fast.is_some(), "declined {}", text);
        prop_assert_eq!(fast, serde);
    }

    #[test]
    fn whatever_the_fast_parser_accepts_serde_json_accepts_identically(
        input in "[\\[\\]{}\":,\\\\ a-z0-9.eE+\\-\u{0}-\u{1f}ü]{0,40}"
    ) {
        if let Some(fast) = parse(input.as_bytes()) {
            prop_assert_eq!(Some(fast), Node::parse_with_serde(input.as_bytes()).ok(), "{:?}", input);
        }
    }
}
