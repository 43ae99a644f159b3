#![allow(clippy::unwrap_used)]

use http::{HeaderMap, HeaderValue, Method};

use super::*;
use crate::intentions::{Action, FullRegex};

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn head<'a>(method: &'a Method, path: &'a str, headers: &'a HeaderMap) -> RequestHead<'a> {
    RequestHead {
        method,
        path,
        headers,
    }
}

fn header(name: &str, test: HeaderTest) -> HeaderMatch {
    HeaderMatch {
        name: name.to_owned(),
        test,
        ignore_case: false,
        invert: false,
    }
}

/// Whether one header criterion matches a GET / with `pairs` as headers.
fn header_case(criterion: HeaderMatch, pairs: &[(&'static str, &str)]) -> bool {
    let map = headers(pairs);
    let http = HttpMatch {
        headers: vec![criterion],
        ..HttpMatch::default()
    };
    http_matches(&http, &head(&Method::GET, "/", &map))
}

fn path_case(path: PathMatch, request_path: &str) -> bool {
    let map = HeaderMap::new();
    let http = HttpMatch {
        path: Some(path),
        ..HttpMatch::default()
    };
    http_matches(&http, &head(&Method::GET, request_path, &map))
}

#[test]
fn path_exact_prefix_and_regex() {
    assert!(path_case(PathMatch::Exact("/admin".into()), "/admin"));
    assert!(!path_case(PathMatch::Exact("/admin".into()), "/admin/"));
    assert!(!path_case(PathMatch::Exact("/admin".into()), "/Admin"));
    assert!(path_case(
        PathMatch::Prefix("/admin".into()),
        "/admin/users"
    ));
    assert!(path_case(
        PathMatch::Prefix("/admin".into()),
        "/administrator"
    ));
    assert!(!path_case(
        PathMatch::Prefix("/admin".into()),
        "/public/admin"
    ));
    let regex = || PathMatch::Regex(FullRegex::new(r"/v\d+/users").unwrap());
    assert!(path_case(regex(), "/v2/users"));
    assert!(
        !path_case(regex(), "/v2/users/7"),
        "the whole path must match"
    );
}

#[test]
fn methods_are_a_list_of_alternatives() {
    let map = HeaderMap::new();
    let http = HttpMatch {
        methods: vec!["GET".into(), "HEAD".into()],
        ..HttpMatch::default()
    };
    assert!(http_matches(&http, &head(&Method::GET, "/", &map)));
    assert!(http_matches(&http, &head(&Method::HEAD, "/", &map)));
    assert!(!http_matches(&http, &head(&Method::POST, "/", &map)));
    let lowercase = Method::from_bytes(b"get").unwrap();
    assert!(
        !http_matches(&http, &head(&lowercase, "/", &map)),
        "methods are case-sensitive"
    );
}

#[test]
fn every_criterion_must_hold() {
    let map = headers(&[("x-team", "ops")]);
    let http = HttpMatch {
        path: Some(PathMatch::Prefix("/admin".into())),
        methods: vec!["POST".into()],
        headers: vec![header("x-team", HeaderTest::Exact("ops".into()))],
    };
    assert!(http_matches(&http, &head(&Method::POST, "/admin/x", &map)));
    assert!(!http_matches(&http, &head(&Method::GET, "/admin/x", &map)));
    assert!(!http_matches(&http, &head(&Method::POST, "/public", &map)));
    let other = headers(&[("x-team", "dev")]);
    assert!(!http_matches(
        &http,
        &head(&Method::POST, "/admin/x", &other)
    ));
    assert!(
        http_matches(&HttpMatch::default(), &head(&Method::PUT, "/any", &other)),
        "no criteria: any request"
    );
}

#[test]
fn header_tests() {
    let present = [("x-a", "Hello-World")];
    assert!(header_case(header("x-a", HeaderTest::Present), &present));
    assert!(header_case(
        header("x-a", HeaderTest::Present),
        &[("x-a", "")]
    ));
    assert!(!header_case(header("x-a", HeaderTest::Present), &[]));
    assert!(header_case(
        header("x-a", HeaderTest::Exact("Hello-World".into())),
        &present
    ));
    assert!(!header_case(
        header("x-a", HeaderTest::Exact("hello-world".into())),
        &present
    ));
    assert!(header_case(
        header("x-a", HeaderTest::Prefix("Hello".into())),
        &present
    ));
    assert!(!header_case(
        header("x-a", HeaderTest::Prefix("World".into())),
        &present
    ));
    assert!(header_case(
        header("x-a", HeaderTest::Suffix("World".into())),
        &present
    ));
    assert!(!header_case(
        header("x-a", HeaderTest::Suffix("Hello".into())),
        &present
    ));
    assert!(header_case(
        header("x-a", HeaderTest::Contains("o-W".into())),
        &present
    ));
    assert!(!header_case(
        header("x-a", HeaderTest::Contains("xyz".into())),
        &present
    ));
    let regex = |p: &str| HeaderTest::Regex(FullRegex::new(p).unwrap());
    assert!(header_case(header("x-a", regex(r"\w+-\w+")), &present));
    assert!(
        !header_case(header("x-a", regex("Hello")), &present),
        "whole value"
    );
    assert!(!header_case(
        header("x-b", HeaderTest::Exact("Hello-World".into())),
        &present
    ));
}

#[test]
fn ignore_case_folds_ascii_for_string_tests_but_not_regex() {
    let present = [("x-a", "Hello-World")];
    let folded = |test| HeaderMatch {
        ignore_case: true,
        ..header("x-a", test)
    };
    assert!(header_case(
        folded(HeaderTest::Exact("hello-world".into())),
        &present
    ));
    assert!(header_case(
        folded(HeaderTest::Prefix("HELLO".into())),
        &present
    ));
    assert!(header_case(
        folded(HeaderTest::Suffix("world".into())),
        &present
    ));
    assert!(header_case(
        folded(HeaderTest::Contains("O-w".into())),
        &present
    ));
    assert!(!header_case(
        folded(HeaderTest::Exact("hello".into())),
        &present
    ));
    let regex = HeaderTest::Regex(FullRegex::new("hello-world").unwrap());
    assert!(!header_case(folded(regex), &present));
}

#[test]
fn invert_negates_the_test_on_a_present_header() {
    let inverted = |test| HeaderMatch {
        invert: true,
        ..header("x-a", test)
    };
    let present = [("x-a", "yes")];
    assert!(!header_case(
        inverted(HeaderTest::Exact("yes".into())),
        &present
    ));
    assert!(header_case(
        inverted(HeaderTest::Exact("no".into())),
        &present
    ));
    assert!(!header_case(inverted(HeaderTest::Present), &present));
    assert!(header_case(
        inverted(HeaderTest::Prefix("n".into())),
        &present
    ));
}

#[test]
fn an_absent_header_matches_only_an_inverted_present_as_in_envoy() {
    let inverted = |test| HeaderMatch {
        invert: true,
        ..header("x-a", test)
    };
    assert!(header_case(inverted(HeaderTest::Present), &[]));
    assert!(!header_case(inverted(HeaderTest::Exact("yes".into())), &[]));
    assert!(!header_case(inverted(HeaderTest::Prefix("y".into())), &[]));
    assert!(!header_case(
        inverted(HeaderTest::Contains("y".into())),
        &[]
    ));
    let regex = HeaderTest::Regex(FullRegex::new(".*").unwrap());
    assert!(!header_case(inverted(regex), &[]));
}

#[test]
fn repeated_headers_are_joined_with_commas() {
    let repeated = [("x-a", "one"), ("x-a", "two")];
    assert!(header_case(
        header("x-a", HeaderTest::Exact("one,two".into())),
        &repeated
    ));
    assert!(!header_case(
        header("x-a", HeaderTest::Exact("one".into())),
        &repeated
    ));
    assert!(header_case(
        header("x-a", HeaderTest::Suffix(",two".into())),
        &repeated
    ));
}

#[test]
fn pseudo_headers_as_envoy_sees_them() {
    let map = headers(&[("host", "billing.example")]);
    let request = head(&Method::DELETE, "/x", &map);
    let one = |h| HttpMatch {
        headers: vec![h],
        ..HttpMatch::default()
    };
    assert!(http_matches(
        &one(header(":method", HeaderTest::Exact("DELETE".into()))),
        &request
    ));
    assert!(http_matches(
        &one(header(
            ":authority",
            HeaderTest::Exact("billing.example".into())
        )),
        &request
    ));
    assert!(http_matches(
        &one(header(":path", HeaderTest::Exact("/x".into()))),
        &request
    ));
    assert!(!http_matches(
        &one(header(":scheme", HeaderTest::Present)),
        &request
    ));
}

#[test]
fn non_utf8_values_are_compared_as_bytes() {
    let mut map = HeaderMap::new();
    map.insert("x-a", HeaderValue::from_bytes(b"caf\xe9").unwrap());
    let request = head(&Method::GET, "/", &map);
    let one = |test| HttpMatch {
        headers: vec![header("x-a", test)],
        ..HttpMatch::default()
    };
    assert!(http_matches(
        &one(HeaderTest::Prefix("caf".into())),
        &request
    ));
    assert!(!http_matches(
        &one(HeaderTest::Exact("café".into())),
        &request
    ));
}

#[test]
fn the_first_matching_permission_is_chosen() {
    let map = HeaderMap::new();
    let permission = |action, prefix: &str| Permission {
        action,
        http: HttpMatch {
            path: Some(PathMatch::Prefix(prefix.into())),
            ..HttpMatch::default()
        },
    };
    let permissions = [
        permission(Action::Deny, "/admin"),
        permission(Action::Allow, "/"),
        permission(Action::Deny, "/admin/x"),
    ];
    let at = |path| first_match(&permissions, &head(&Method::GET, path, &map));
    assert_eq!(at("/admin/x"), Some(0));
    assert_eq!(at("/public"), Some(1));
    assert_eq!(
        first_match(&permissions[2..], &head(&Method::GET, "/public", &map)),
        None
    );
}
