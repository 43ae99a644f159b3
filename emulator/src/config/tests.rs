//! The config's parse and validation rules.

use super::*;
use std::time::Duration;

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn defaults_and_relative_paths() {
    let base = dir();
    std::fs::create_dir(base.path().join("fn")).unwrap();
    let config = EmulatorConfig::from_toml_str(
        "[[function]]\nname = \"echo\"\ncode = \"fn\"\n",
        base.path(),
        "f.toml",
    )
    .unwrap();
    let f = &config.functions[0];
    assert_eq!(f.code, base.path().join("fn"));
    assert_eq!(f.timeout, 3);
    assert_eq!(f.memory_mb, 128);
    assert_eq!(f.concurrency, 10);
    assert_eq!(f.runtime, "provided.al2023");
    assert_eq!(f.maximum_retry_attempts, 2);
    assert_eq!(
        f.async_retry_delays(),
        [Duration::from_secs(60), Duration::from_secs(120)]
    );
    assert_eq!(f.maximum_event_age_seconds, 21_600);
    assert_eq!(f.provisioned_concurrency, 0, "on demand by default");
}

#[test]
fn provisioned_concurrency_is_at_most_what_may_run() {
    let base = dir();
    let parse = |extra: &str| {
        EmulatorConfig::from_toml_str(
            &format!("[[function]]\nname = \"echo\"\ncode = \".\"\n{extra}\n"),
            base.path(),
            "functions.toml",
        )
    };
    let f = parse("concurrency = 2\nprovisioned_concurrency = 2").unwrap();
    assert_eq!(f.functions[0].provisioned_concurrency, 2);
    for (extra, message) in [
        (
            "concurrency = 2\nprovisioned_concurrency = 3",
            "key `provisioned_concurrency`: must be at most 2 (concurrency)",
        ),
        (
            "reserved_concurrency = 1\nprovisioned_concurrency = 2",
            "key `provisioned_concurrency`: must be at most 1 (concurrency, capped by reserved_concurrency)",
        ),
        ("provisioned_concurrency = -1", "provisioned_concurrency"),
    ] {
        let err = parse(extra).unwrap_err().to_string();
        assert!(err.contains("functions.toml"), "{err}");
        assert!(err.contains(message), "{extra}: {err}");
    }
}

#[test]
fn async_retry_settings() {
    let base = dir();
    let parse = |extra: &str| {
        EmulatorConfig::from_toml_str(
            &format!("[[function]]\nname = \"echo\"\ncode = \".\"\n{extra}\n"),
            base.path(),
            "functions.toml",
        )
    };
    let f = parse("async_retry_delays_ms = [50, 100]\nmaximum_retry_attempts = 1").unwrap();
    assert_eq!(
        f.functions[0].async_retry_delays(),
        [Duration::from_millis(50)]
    );
    let f = parse("maximum_retry_attempts = 0\nasync_retry_delays_ms = []").unwrap();
    assert!(f.functions[0].async_retry_delays().is_empty());
    for (extra, key) in [
        ("maximum_retry_attempts = 3", "`maximum_retry_attempts`"),
        ("async_retry_delays_ms = [50]", "`async_retry_delays_ms`"),
        (
            "async_retry_delays_ms = [1, 2, 3]",
            "`async_retry_delays_ms`",
        ),
        (
            "maximum_event_age_seconds = 59",
            "`maximum_event_age_seconds`",
        ),
        ("async_retry_delays_ms = \"fast\"", "async_retry_delays_ms"),
        ("async_retry_delay_ms = [1, 2]", "async_retry_delay_ms"),
    ] {
        let err = parse(extra).unwrap_err().to_string();
        assert!(err.contains("functions.toml"), "{err}");
        assert!(err.contains(key), "{extra}: {err}");
    }
}

#[test]
fn unknown_key_names_file_and_key() {
    let base = dir();
    let err = EmulatorConfig::from_toml_str(
        "[[function]]\nname = \"echo\"\ncode = \".\"\ntimeout_s = 3\n",
        base.path(),
        "functions.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("functions.toml"), "{err}");
    assert!(err.contains("timeout_s"), "{err}");
}

#[test]
fn bad_value_names_file_and_key() {
    let base = dir();
    let err = EmulatorConfig::from_toml_str(
        "[[function]]\nname = \"echo\"\ncode = \".\"\ntimeout = 0\n",
        base.path(),
        "functions.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("functions.toml"), "{err}");
    assert!(err.contains("`timeout`"), "{err}");
}

#[test]
fn duplicate_names_are_rejected() {
    let base = dir();
    let text =
        "[[function]]\nname = \"a\"\ncode = \".\"\n[[function]]\nname = \"a\"\ncode = \".\"\n";
    let err = EmulatorConfig::from_toml_str(text, base.path(), "x.toml").unwrap_err();
    assert!(err.to_string().contains("defined twice"));
}

#[test]
fn embeddable_in_another_struct() {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[serde(rename = "function")]
        functions: Vec<FunctionConfig>,
    }
    let outer: Outer = toml::from_str("[[function]]\nname = \"a\"\ncode = \"x\"\n").unwrap();
    assert_eq!(outer.functions[0].name, "a");
    assert!(
        toml::from_str::<Outer>("[[function]]\nname = \"a\"\ncode = \"x\"\nbad = 1\n").is_err()
    );
}
