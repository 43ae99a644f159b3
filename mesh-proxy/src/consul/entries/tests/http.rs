//! `Permissions[].HTTP`: paths, methods, headers.

use super::{assert_error, L7};

#[test]
fn http_path_rules() {
    let fix = |s: String| s.replace("\"*\"\n  Partition", "\"prod\"\n  Partition");
    assert_error(
        &fix(L7.replace("\"/v1/\"", "\"v1/\"")),
        13,
        "Sources[0].Permissions[0].HTTP.PathPrefix",
        "must start with `/`",
    );
    assert_error(
        &fix(L7.replace("\"/x\"", "\"x\"")),
        24,
        "Sources[0].Permissions[2].HTTP.PathExact",
        "must start with `/`",
    );
    let two = fix(L7.replace(
        "PathExact = \"/x\"",
        "PathExact = \"/x\", PathRegex = \".*\"",
    ));
    assert_error(
        &two,
        24,
        "Sources[0].Permissions[2].HTTP.PathRegex",
        "at most one of",
    );
    assert_error(
        &fix(L7.replace("\"/admin/.*\"", "\"(\"")),
        23,
        "Sources[0].Permissions[1].HTTP.PathRegex",
        "invalid regular expression",
    );
    let empty = fix(L7.replace("HTTP = { PathExact = \"/x\" }", "HTTP = {}"));
    assert_error(
        &empty,
        24,
        "Sources[0].Permissions[2].HTTP",
        "should not be empty",
    );
    let none = fix(L7.replace(", HTTP = { PathExact = \"/x\" }", ""));
    assert_error(&none, 24, "Sources[0].Permissions[2].HTTP", "is required");
}

#[test]
fn methods_are_http_methods_once_each() {
    let fix = |s: String| s.replace("\"*\"\n  Partition", "\"prod\"\n  Partition");
    let bad = fix(L7.replace("\"Head\"", "\"FETCH\""));
    assert_error(
        &bad,
        14,
        "Sources[0].Permissions[0].HTTP.Methods",
        "`FETCH` is not an HTTP method",
    );
    let twice = fix(L7.replace("\"Head\"", "\"GET\""));
    assert_error(
        &twice,
        14,
        "Sources[0].Permissions[0].HTTP.Methods",
        "given twice",
    );
}

#[test]
fn header_rules() {
    let fix = |s: String| s.replace("\"*\"\n  Partition", "\"prod\"\n  Partition");
    let two = fix(L7.replace("Exact = \"prod\"", "Exact = \"prod\", Prefix = \"p\""));
    assert_error(
        &two,
        16,
        "Sources[0].Permissions[0].HTTP.Header[0].Prefix",
        "exactly one of",
    );
    let none = fix(L7.replace("Present = true,", "Present = false,"));
    assert_error(
        &none,
        17,
        "Sources[0].Permissions[0].HTTP.Header[1]",
        "exactly one of",
    );
    let unnamed = fix(L7.replace("{ Name = \"X-Id\",", "{"));
    assert_error(
        &unnamed,
        18,
        "Sources[0].Permissions[0].HTTP.Header[2].Name",
        "is required",
    );
    let regex = fix(L7.replace("\"[0-9]+\"", "\"[\""));
    assert_error(
        &regex,
        18,
        "Sources[0].Permissions[0].HTTP.Header[2].Regex",
        "invalid regular expression",
    );
    let flag = fix(L7.replace("Invert = \"true\"", "Invert = \"maybe\""));
    assert_error(
        &flag,
        17,
        "Sources[0].Permissions[0].HTTP.Header[1].Invert",
        "expected true or false",
    );
}
