//! Loading files: patterns, order, skipped kinds, duplicates.
#![allow(clippy::unwrap_used)]

use super::{load, matches};
use crate::consul::tests::LAMBDA;

fn write(dir: &std::path::Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const GATEWAY: &str =
    "Kind = \"terminating-gateway\"\nName = \"gw\"\nServices = [{ Name = \"a\" }]";
const WEB: &str =
    "Kind = \"service-intentions\"\nName = \"web\"\nSources { Name = \"a\"\nAction = \"allow\" }";

#[test]
fn load_reads_matching_files_in_order_and_skips_other_kinds() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "entries/b-web.hcl", WEB);
    write(dir.path(), "entries/a-gw.hcl", GATEWAY);
    write(dir.path(), "entries/c-web2.json", "{\"Kind\": \"service-intentions\", \"Name\": \"web2\", \"Sources\": [{\"Name\": \"*\", \"Action\": \"deny\"}]}");
    write(
        dir.path(),
        "entries/proxy.hcl",
        "Kind = \"proxy-defaults\"\nName = \"global\"\nConfig { protocol = \"http\" }",
    );
    write(dir.path(), "entries/.hidden.hcl", "not hcl at all {");
    write(dir.path(), "entries/notes.txt", "not hcl");
    write(
        dir.path(),
        "more/d.hcl",
        &LAMBDA.replace("\"asynchronous\"", "\"Asynchronous\""),
    );
    let patterns = [
        "entries/*.hcl".to_owned(),
        "entries/*.js?n".to_owned(),
        "m?re/*.hcl".to_owned(),
        "none/*.hcl".to_owned(),
    ];
    let entries = load(&patterns, dir.path()).unwrap();
    let names: Vec<_> = entries
        .intentions
        .iter()
        .map(|e| (e.name.as_str(), e.file.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("web", "entries/b-web.hcl"),
            ("web2", "entries/c-web2.json")
        ]
    );
    assert_eq!(entries.terminating_gateways[0].file, "entries/a-gw.hcl");
    assert_eq!(entries.service_defaults[0].file, "more/d.hcl");
    assert_eq!(entries.warnings.len(), 3, "{:?}", entries.warnings);
    assert_eq!(entries.warnings[0], "none/*.hcl: matches no file");
    assert_eq!(
        entries.warnings[1],
        "entries/proxy.hcl:1: kind `proxy-defaults` is not read by mesh-proxy; skipped"
    );
    assert!(entries.warnings[2]
        .starts_with("more/d.hcl:14: key `EnvoyExtensions[0].Arguments.InvocationMode`"));
}

#[test]
fn load_rejects_two_entries_of_one_kind_and_name() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.hcl", WEB);
    write(dir.path(), "b.hcl", &WEB.replace("\"a\"", "\"b\""));
    write(
        dir.path(),
        "c.hcl",
        &WEB.replace("Name = \"web\"", "Name = \"web\"\nNamespace = \"other\""),
    );
    let e = load(&["*.hcl".to_owned()], dir.path()).unwrap_err();
    assert_eq!(e.file, "b.hcl");
    assert!(e.message.contains("service-intentions \"web\" (namespace \"default\", partition \"default\") is also defined in a.hcl"), "{e}");
    std::fs::remove_file(dir.path().join("b.hcl")).unwrap();
    assert_eq!(
        load(&["*.hcl".to_owned()], dir.path())
            .unwrap()
            .intentions
            .len(),
        2
    );
}

#[test]
fn load_reports_the_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ok.hcl", GATEWAY);
    write(
        dir.path(),
        "z.hcl",
        "Kind = \"terminating-gateway\"\nName = \"g2\"\nServices = [{ Nme = \"a\" }]",
    );
    let absolute = format!("{}/*.hcl", dir.path().display());
    let e = load(&[absolute], std::path::Path::new("/nowhere")).unwrap_err();
    assert!(e.file.ends_with("/z.hcl") && e.file.starts_with('/'), "{e}");
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(3), Some("Services[0].Nme"))
    );
}

#[test]
fn glob_wildcards_stay_within_a_component() {
    assert!(
        matches("*.hcl", "a.hcl")
            && matches("a?c", "abc")
            && matches("*", "x")
            && matches("a*b*c", "aXbYbc")
    );
    assert!(
        !matches("*.hcl", "a.json")
            && !matches("*.hcl", ".a.hcl")
            && !matches("a?c", "ac")
            && !matches("a*d", "abc")
    );
    assert!(matches(".*.hcl", ".a.hcl"));
}
