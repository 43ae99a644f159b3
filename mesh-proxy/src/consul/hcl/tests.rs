#![allow(clippy::unwrap_used)]

use super::parse;
use crate::consul::tree::{Kind, Value};

fn json(text: &str) -> serde_json::Value {
    let tree = parse(text).unwrap_or_else(|e| panic!("{text}: line {}: {}", e.line, e.message));
    serde_json::from_str(&tree.to_json()).unwrap()
}

fn error(text: &str) -> (usize, String) {
    let e = parse(text).expect_err(text);
    (e.line, e.message)
}

fn item<'a>(tree: &'a Value, key: &str) -> &'a crate::consul::tree::Item {
    let Kind::Object(object) = &tree.kind else {
        panic!("not an object")
    };
    object.get(key).unwrap()
}

#[test]
fn assignments_of_every_literal() {
    let doc = "s = \"x\"\ni = 42\nn = -7\nf = 1.5\ne = 1e3\nh = 0x1F\no = 010\nt = true\nu = false";
    let expected = serde_json::json!({"s": "x", "i": 42, "n": -7, "f": 1.5, "e": 1000.0, "h": 31, "o": 8, "t": true, "u": false});
    assert_eq!(json(doc), expected);
}

#[test]
fn floats_stay_floats_and_negative_fractions_parse() {
    assert_eq!(
        json("a = 1.0\nb = -0.25\nc = 2.5e-1").to_string(),
        r#"{"a":1.0,"b":-0.25,"c":0.25}"#
    );
}

#[test]
fn string_escapes_as_go_unquotes_them() {
    let doc = r#"s = "q\" b\\ n\n t\t u\u00e9 U\U0001F600 x\x41 o\101""#;
    assert_eq!(json(doc)["s"], "q\" b\\ n\n t\t u\u{e9} U\u{1F600} xA oA");
}

#[test]
fn interpolations_are_kept_verbatim_with_their_quotes() {
    assert_eq!(
        json(r#"s = "${lookup("a", "b")} \n""#)["s"],
        "${lookup(\"a\", \"b\")} \n"
    );
}

#[test]
fn heredoc_keeps_lines_and_the_final_newline() {
    assert_eq!(
        json("x = <<EOF\nhello\n  world\nEOF\n")["x"],
        "hello\n  world\n"
    );
}

#[test]
fn indented_heredoc_removes_the_closing_anchors_indentation() {
    let doc = "x {\n  y = <<-EOT\n    a\n      b\n    EOT\n}\n";
    assert_eq!(json(doc)["x"]["y"], "a\n  b\n");
}

#[test]
fn indented_heredoc_with_a_less_indented_line_is_kept_as_is() {
    let doc = "y = <<-EOT\n    a\n  b\n    EOT\n";
    assert_eq!(json(doc)["y"], "    a\n  b\n");
}

#[test]
fn comments_of_all_three_kinds_are_skipped() {
    let doc =
        "# hash\n// slashes\n/* block\n spanning */ a = 1 # trailing\nb = [1, /* in list */ 2]";
    assert_eq!(json(doc), serde_json::json!({"a": 1, "b": [1, 2]}));
}

#[test]
fn lists_take_a_trailing_comma_and_nest() {
    let doc = "a = [\"x\", \"y\",]\nb = []\nc = [[1], [2, 3]]\nd = [{ k = 1 }, { k = 2 }]";
    let expected = serde_json::json!({"a": ["x", "y"], "b": [], "c": [[1], [2, 3]], "d": [{"k": 1}, {"k": 2}]});
    assert_eq!(json(doc), expected);
}

#[test]
fn object_items_take_optional_commas() {
    let doc = "a = { x = 1, y = 2, }\nb = { x = 1 y = 2 }\nc = 1, d = 2";
    let expected =
        serde_json::json!({"a": {"x": 1, "y": 2}, "b": {"x": 1, "y": 2}, "c": 1, "d": 2});
    assert_eq!(json(doc), expected);
}

#[test]
fn repeated_blocks_make_a_list() {
    let doc =
        "Sources {\n  Name = \"a\"\n}\nSources {\n  Name = \"b\"\n}\nSources = { Name = \"c\" }";
    let expected = serde_json::json!({"Sources": [{"Name": "a"}, {"Name": "b"}, {"Name": "c"}]});
    assert_eq!(json(doc), expected);
}

#[test]
fn repeated_lists_append_and_repeated_scalars_keep_the_last() {
    assert_eq!(
        json("a = [1]\na = [2]\nb = 1\nb = 2"),
        serde_json::json!({"a": [1, 2], "b": 2})
    );
}

#[test]
fn block_inside_an_object_literal() {
    let doc = "Permissions = [{ Action = \"allow\" HTTP { PathPrefix = \"/x\" } }]";
    let expected =
        serde_json::json!({"Permissions": [{"Action": "allow", "HTTP": {"PathPrefix": "/x"}}]});
    assert_eq!(json(doc), expected);
}

#[test]
fn labelled_blocks_nest_by_label() {
    let doc = "a \"l\" { x = 1 }\nb \"m\" \"n\" { y = 2 }";
    assert_eq!(
        json(doc),
        serde_json::json!({"a": {"l": {"x": 1}}, "b": {"m": {"n": {"y": 2}}}})
    );
}

#[test]
fn quoted_and_dotted_keys() {
    assert_eq!(
        json("\"a key\" = 1\nb.c-d = 2"),
        serde_json::json!({"a key": 1, "b.c-d": 2})
    );
}

#[test]
fn empty_document_and_empty_objects() {
    assert_eq!(json(""), serde_json::json!({}));
    assert_eq!(json("a {}\nb = {}"), serde_json::json!({"a": {}, "b": {}}));
}

#[test]
fn lines_of_keys_and_values_are_one_based() {
    let tree = parse("\n# c\nKind = \"x\"\nSources {\n  Name = \"a\"\n}\n").unwrap();
    assert_eq!(item(&tree, "Kind").line, 3);
    let sources = item(&tree, "Sources");
    assert_eq!(sources.line, 4);
    let Kind::Object(object) = &sources.value.kind else {
        panic!()
    };
    assert_eq!(object.get("Name").unwrap().line, 5);
}

#[test]
fn errors_name_their_line() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "a = 1\nSources \"x\"\n",
            3,
            "expected `=` or `{` after `x`, found the end of the file",
        ),
        (
            "Sources\n= = 1",
            2,
            "expected a value after `Sources =`, found `=`",
        ),
        (
            "a = b",
            1,
            "expected a value after `a =`, found the bare word `b`",
        ),
        (
            "a = [1 2]",
            1,
            "expected `,` or `]` in list `a`, found a number",
        ),
        ("a = [1,\n", 2, "list `a` is not closed"),
        (
            "a {\n b = 1\n",
            3,
            "expected `}` before the end of the file",
        ),
        ("a = 1\n}", 2, "expected a key, found `}`"),
        (
            "a = \"x\n\"",
            1,
            "string is not closed before the end of the line",
        ),
        ("a = \"x", 1, "string is not closed"),
        ("\na = \"\\q\"", 2, "unknown escape `\\q`"),
        ("a = \"\\u12\"", 1, "invalid escape"),
        ("a = 1\n/* open", 2, "comment `/*` is not closed"),
        ("a = <<EOF\nx\n", 1, "heredoc `EOF` is not closed"),
        ("a = <<EOF\nx\nEOF", 1, "heredoc `EOF` is not closed"),
        ("a = <<\nx\n", 1, "heredoc needs an anchor"),
        ("a = <<EOF x\nEOF\n", 1, "must end its line"),
        ("a = 09", 1, "invalid number `09`"),
        ("a = 1\nb = @", 2, "unexpected character `@`"),
        ("a \"l\" = 1", 1, "expected `{` after block labels"),
        ("{\"Kind\": 1}", 1, "is JSON, not HCL"),
    ];
    for (text, line, message) in cases {
        let (got_line, got) = error(text);
        assert!(got.contains(message), "{text:?}: {got:?} lacks {message:?}");
        assert_eq!(got_line, *line, "{text:?}: {got}");
    }
}
