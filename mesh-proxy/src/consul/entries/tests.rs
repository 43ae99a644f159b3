//! service-intentions decoding: Consul's rules, lines and key paths.
#![allow(clippy::unwrap_used)]

use crate::consul::{parse_entry, Entry, EntryError};
use crate::intentions::{Action, HeaderTest, PathMatch, ServiceIntentions, SourceRule};

mod http;
mod mesh;

fn intentions(text: &str) -> ServiceIntentions {
    match parse_entry(text, "entries/web.hcl") {
        Ok(Entry::ServiceIntentions(e)) => e,
        other => panic!("{text}\n{other:?}"),
    }
}

fn error(text: &str) -> EntryError {
    parse_entry(text, "entries/web.hcl").expect_err(text)
}

/// `error`, checked: its line, key and part of its message.
fn assert_error(text: &str, line: usize, key: &str, message: &str) {
    let e = error(text);
    assert_eq!(e.line, Some(line), "{e}");
    assert_eq!(e.key.as_deref(), Some(key), "{e}");
    assert!(e.message.contains(message), "{e} lacks {message:?}");
}

const L4: &str = r#"
Kind = "service-intentions"
Name = "web"
Sources = [
  { Name = "api", Action = "allow" },
  { Name = "*", Action = "deny" },
]
"#;

#[test]
fn l4_sources_decode_in_file_order() {
    let e = intentions(L4);
    assert_eq!(
        (e.name.as_str(), e.file.as_str()),
        ("web", "entries/web.hcl")
    );
    let rules: Vec<_> = e
        .sources
        .iter()
        .map(|s| (s.name.as_str(), s.index))
        .collect();
    assert_eq!(rules, [("api", 0), ("*", 1)]);
    assert!(matches!(
        e.sources[0].rule,
        SourceRule::Action(Action::Allow)
    ));
    assert!(matches!(
        e.sources[1].rule,
        SourceRule::Action(Action::Deny)
    ));
}

const L7: &str = r#"
Kind = "service-intentions"
Name = "billing"
Namespace = "prod"
Sources {
  Name = "web"
  Namespace = "*"
  Partition = "eu"
  Permissions = [
    {
      Action = "allow"
      HTTP {
        PathPrefix = "/v1/"
        Methods = ["get", "Head"]
        Header = [
          { Name = "X-Env", Exact = "prod", IgnoreCase = true },
          { Name = "X-Debug", Present = true, Invert = "true" },
          { Name = "X-Id", Regex = "[0-9]+" },
          { Name = "X-A", Prefix = "a" }, { Name = "X-B", Suffix = "b" }, { Name = "X-C", Contains = "c" },
        ]
      }
    },
    { Action = "deny", HTTP = { PathRegex = "/admin/.*" } },
    { Action = "deny", HTTP = { PathExact = "/x" } },
  ]
}
"#;

#[test]
fn l7_permissions_with_blocks_inside_object_literals() {
    let e = intentions(&L7.replace("\"*\"\n  Partition", "\"prod\"\n  Partition"));
    assert_eq!(e.namespace.as_deref(), Some("prod"));
    let source = &e.sources[0];
    assert_eq!(source.partition.as_deref(), Some("eu"));
    let SourceRule::Permissions(permissions) = &source.rule else {
        panic!()
    };
    assert_eq!(permissions.len(), 3);
    let http = &permissions[0].http;
    assert!(matches!(&http.path, Some(PathMatch::Prefix(p)) if p == "/v1/"));
    assert_eq!(http.methods, ["GET", "HEAD"]);
    let names: Vec<_> = http.headers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["x-env", "x-debug", "x-id", "x-a", "x-b", "x-c"]);
    assert!(http.headers[0].ignore_case && !http.headers[0].invert);
    assert!(matches!(http.headers[1].test, HeaderTest::Present) && http.headers[1].invert);
    assert!(
        matches!(&http.headers[2].test, HeaderTest::Regex(r) if r.is_match("42") && !r.is_match("4x"))
    );
    assert!(matches!(&http.headers[5].test, HeaderTest::Contains(c) if c == "c"));
    assert_eq!(permissions[1].action, Action::Deny);
    assert!(
        matches!(&permissions[1].http.path, Some(PathMatch::Regex(r)) if r.is_match("/admin/a"))
    );
    assert!(matches!(&permissions[2].http.path, Some(PathMatch::Exact(p)) if p == "/x"));
}

#[test]
fn wildcard_source_namespace_needs_a_wildcard_name() {
    assert_error(
        L7,
        6,
        "Sources[0].Name",
        "cannot follow a wildcard Namespace",
    );
    let wild = L7.replace("Name = \"web\"", "Name = \"*\"");
    assert_eq!(intentions(&wild).sources[0].namespace.as_deref(), Some("*"));
}

#[test]
fn keys_are_case_insensitive_and_snake_case() {
    let doc = r#"
kind = "service-intentions"
name = "web"
sources {
  name = "api"
  permissions = [{ action = "allow", http { path_prefix = "/a", methods = ["GET"] } }]
}
sources {
  NAME = "b"
  permissions = [{ ACTION = "deny", Http = { pathexact = "/b", Header = [{ name = "x", ignore_case = true, exact = "1" }] } }]
}
"#;
    let e = intentions(doc);
    assert_eq!(e.sources.len(), 2);
    let SourceRule::Permissions(p) = &e.sources[1].rule else {
        panic!()
    };
    assert!(p[0].http.headers[0].ignore_case);
}

#[test]
fn every_key_consul_accepts_is_accepted() {
    let doc = r#"
Kind = "service-intentions"
Name = "web"
Partition = "default"
Meta = { owner = "team" }
CreateIndex = 10
ModifyIndex = 12
Sources = [{
  Name = "api", Action = "allow", Type = "consul", Precedence = 9, Description = "why"
  LegacyID = "abc", LegacyCreateTime = "2020-01-01T00:00:00Z", LegacyUpdateTime = "2020-01-01T00:00:00Z"
  LegacyMeta = {}
}]
"#;
    assert_eq!(intentions(doc).sources[0].name, "api");
}

#[test]
fn unknown_keys_are_errors_with_their_path() {
    assert_error(
        &L4.replace("Name = \"web\"", "Name = \"web\"\nColour = 1"),
        4,
        "Colour",
        "unknown key",
    );
    let doc = L7
        .replace("Methods =", "Verbs =")
        .replace("\"*\"\n  Partition", "\"prod\"\n  Partition");
    assert_error(
        &doc,
        14,
        "Sources[0].Permissions[0].HTTP.Verbs",
        "unknown key",
    );
}

#[test]
fn peers_sameness_groups_and_jwt_are_not_supported() {
    let peer = L4.replace("Name = \"api\",", "Name = \"api\", Peer = \"other\",");
    assert_error(
        &peer,
        5,
        "Sources[0].Peer",
        "is not supported by mesh-proxy",
    );
    let group = L4.replace("Name = \"api\",", "Name = \"api\", sameness_group = \"g\",");
    assert_error(
        &group,
        5,
        "Sources[0].SamenessGroup",
        "is not supported by mesh-proxy",
    );
    let jwt = L4.replace(
        "Name = \"web\"",
        "Name = \"web\"\nJWT { Providers = [{ Name = \"okta\" }] }",
    );
    assert_error(&jwt, 4, "JWT", "JWT is not supported by mesh-proxy");
    let perm_jwt = L7.replace(
        "Action = \"deny\", HTTP = { PathExact",
        "Action = \"deny\", JWT = {}, HTTP = { PathExact",
    );
    intentions(&perm_jwt.replace("\"*\"\n  Partition", "\"prod\"\n  Partition"));
    let perm_jwt = perm_jwt.replace("JWT = {}", "JWT = { Providers = [{ Name = \"a\" }] }");
    assert_error(
        &perm_jwt.replace("\"*\"\n  Partition", "\"prod\"\n  Partition"),
        24,
        "Sources[0].Permissions[2].JWT",
        "not supported",
    );
}

#[test]
fn required_names_point_at_the_object() {
    assert_error(
        "Kind = \"service-intentions\"\nSources = []",
        1,
        "Name",
        "is required",
    );
    let doc =
        "Kind = \"service-intentions\"\nName = \"web\"\nSources = [\n  { Action = \"allow\" },\n]";
    assert_error(doc, 4, "Sources[0].Name", "is required");
    assert_error(
        "Kind = \"service-intentions\"\nName = \"web\"",
        1,
        "Sources",
        "at least one source",
    );
}

#[test]
fn exactly_one_of_action_and_permissions() {
    let both = L7
        .replace(
            "Partition = \"eu\"",
            "Partition = \"eu\"\n  Action = \"allow\"",
        )
        .replace("\"*\"\n  Partition", "\"prod\"\n  Partition");
    assert_error(
        &both,
        9,
        "Sources[0].Action",
        "must be omitted when Permissions",
    );
    let neither = "Kind = \"service-intentions\"\nName = \"web\"\nSources {\n  Name = \"a\"\n}";
    assert_error(neither, 3, "Sources[0].Action", "is required");
}

#[test]
fn actions_are_lowercase_allow_or_deny() {
    assert_error(
        &L4.replace("\"allow\"", "\"Allow\""),
        5,
        "Sources[0].Action",
        "lowercase",
    );
    let doc = L7
        .replace("Action = \"allow\"", "Action = \"permit\"")
        .replace("\"*\"\n  Partition", "\"prod\"\n  Partition");
    assert_error(
        &doc,
        11,
        "Sources[0].Permissions[0].Action",
        "must be \"allow\" or \"deny\"",
    );
    let missing = "Kind = \"service-intentions\"\nName = \"w\"\nSources = [{ Name = \"a\"\nPermissions = [{\nHTTP { PathExact = \"/\" } }] }]";
    assert_error(
        missing,
        4,
        "Sources[0].Permissions[0].Action",
        "is required",
    );
}

#[test]
fn wildcards_are_whole_values_and_partitions_exact() {
    assert_error(
        &L4.replace("\"api\"", "\"api-*\""),
        5,
        "Sources[0].Name",
        "cannot be part of a value",
    );
    let ap = L4.replace("Name = \"api\",", "Name = \"api\", Partition = \"*\",");
    assert_error(&ap, 5, "Sources[0].Partition", "cannot be a wildcard");
    let dest = L4.replace("Name = \"web\"", "Name = \"web\"\nNamespace = \"*\"");
    assert_error(&dest, 3, "Name", "cannot follow a wildcard Namespace");
}

#[test]
fn permissions_need_an_exact_destination() {
    let doc = L7
        .replace("Name = \"billing\"", "Name = \"*\"")
        .replace("\"*\"\n  Partition", "\"prod\"\n  Partition");
    assert_error(&doc, 9, "Sources[0].Permissions", "wildcard destination");
}

#[test]
fn consul_only_rules_on_source_fields() {
    let t = L4.replace(
        "Name = \"api\",",
        "Name = \"api\", Type = \"external-uri\",",
    );
    assert_error(&t, 5, "Sources[0].Type", "must be \"consul\"");
    let legacy = L4.replace(
        "Name = \"api\",",
        "Name = \"api\", LegacyMeta = { a = \"b\" },",
    );
    assert_error(&legacy, 5, "Sources[0].LegacyMeta", "must be omitted");
    let long = L4.replace(
        "Name = \"api\",",
        &format!("Name = \"api\", Description = \"{}\",", "d".repeat(513)),
    );
    assert_error(&long, 5, "Sources[0].Description", "longer than 512");
}

#[test]
fn duplicate_sources_are_errors() {
    let doc = L4.replace("Name = \"*\"", "Name = \"api\"");
    assert_error(&doc, 6, "Sources[1]", "defines source `api` again");
    let other_ns = L4.replace("Name = \"*\",", "Name = \"api\", Namespace = \"ops\",");
    assert_eq!(intentions(&other_ns).sources.len(), 2);
}

#[test]
fn wrong_types_are_errors() {
    assert_error(
        &L4.replace("Name = \"api\",", "Name = { a = 1 },"),
        5,
        "Sources[0].Name",
        "expected a string, found an object",
    );
    assert_error(
        "Kind = \"service-intentions\"\nName = \"w\"\nSources = \"x\"",
        3,
        "Sources",
        "expected a list",
    );
}

#[test]
fn a_single_sources_object_and_one_element_lists_decode_weakly() {
    let doc = "Kind = \"service-intentions\"\nName = [\"web\"]\nSources = { Name = \"a\", Action = [\"allow\"] }";
    let e = intentions(doc);
    assert_eq!((e.name.as_str(), e.sources[0].name.as_str()), ("web", "a"));
}

#[test]
fn json_entries_decode_the_same_with_lines() {
    let doc = "{\n  \"Kind\": \"service-intentions\",\n  \"Name\": \"web\",\n  \"Sources\": [\n    {\"Name\": \"api\", \"Action\": \"allow\"},\n    {\"Name\": \"x\", \"Action\": \"maybe\"}\n  ]\n}";
    let e = parse_entry(doc, "entries/web.json").expect_err("bad action");
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(6), Some("Sources[1].Action"))
    );
    let ok = doc.replace("maybe", "deny");
    assert!(
        matches!(parse_entry(&ok, "entries/web.json"), Ok(Entry::ServiceIntentions(e)) if e.sources.len() == 2)
    );
}
