use std::collections::HashMap;

use super::*;

mod agent;
mod targets;

const GOOD: &str = r#"
log_format = "json"

[admin]
listen = "127.0.0.1:0"

[aws]
region = "eu-west-1"
endpoint_url = "http://127.0.0.1:9001"

[[upstream]]
destination_name = "orders"
local_bind_port = 0
function = "arn:aws:lambda:us-east-2:123456789012:function:orders:live"
timeout = 2.5

[[upstream]]
destination_name = "events"
local_bind_address = "127.0.0.2"
local_bind_port = 8081
function = "events"
invocation_mode = "asynchronous"
payload_passthrough = true
retries = 0
"#;

fn upstream<'a>(config: &'a Config, name: &str) -> Option<&'a UpstreamConfig> {
    config.upstreams.iter().find(|u| u.destination_name == name)
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, "mesh.toml", Path::new("/nonexistent"))
}

fn message(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn a_good_file_parses_with_defaults() {
    let config = parse(GOOD).unwrap();
    assert_eq!(config.log_format, LogFormat::Json);
    assert_eq!(config.admin_listen, "127.0.0.1:0".parse().unwrap());
    assert_eq!(config.aws.region.as_deref(), Some("eu-west-1"));
    let orders = upstream(&config, "orders").unwrap();
    assert_eq!(
        orders.function,
        "arn:aws:lambda:us-east-2:123456789012:function:orders"
    );
    assert_eq!(orders.arn_region.as_deref(), Some("us-east-2"));
    assert_eq!(orders.qualifier.as_deref(), Some("live"));
    assert_eq!(orders.timeout, Duration::from_millis(2500));
    assert_eq!(orders.retries, DEFAULT_RETRIES);
    assert_eq!(orders.max_concurrency, DEFAULT_MAX_CONCURRENCY);
    assert_eq!(orders.payload_format, PayloadFormat::V2);
    assert_eq!(orders.bind, "127.0.0.1:0".parse().unwrap());
    let events = upstream(&config, "events").unwrap();
    assert_eq!(events.invocation_mode, InvocationMode::Asynchronous);
    assert_eq!(events.payload_format, PayloadFormat::PassThrough);
    assert_eq!(events.bind, "127.0.0.2:8081".parse().unwrap());
    assert_eq!(events.retries, 0);
    assert!(config.local_function(events).is_none());
}

#[test]
fn unknown_keys_name_file_line_and_key() {
    let text = GOOD.replace("retries = 0", "retries = 0\nretry_count = 3");
    let message = message(&text);
    assert!(
        message.starts_with("mesh.toml:25: key `upstream[1].retry_count`"),
        "{message}"
    );
    assert!(message.contains("unknown field `retry_count`"), "{message}");
}

#[test]
fn wrong_types_name_the_key() {
    let text = GOOD.replace("local_bind_port = 8081", "local_bind_port = \"x\"");
    let message = message(&text);
    assert!(
        message.starts_with("mesh.toml:20: key `upstream[1].local_bind_port`"),
        "{message}"
    );
}

#[test]
fn syntax_errors_name_the_line() {
    let message = message("[admin]\nlisten = \n");
    assert!(message.starts_with("mesh.toml:2"), "{message}");
}

#[test]
fn missing_keys_are_reported() {
    let message = message("[[upstream]]\ndestination_name = \"a\"\nlocal_bind_port = 1\n");
    assert!(message.contains("missing field `function`"), "{message}");
    assert!(message.starts_with("mesh.toml:1"), "{message}");
}

#[test]
fn inconsistent_payload_keys_fail() {
    let text = GOOD.replace(
        "payload_passthrough = true",
        "payload_passthrough = true\npayload_format = \"envoy\"",
    );
    let message = message(&text);
    assert!(message.contains("upstream[1].payload_format"), "{message}");
    assert!(message.starts_with("mesh.toml:24"), "{message}");
    let text = GOOD.replace(
        "payload_passthrough = true",
        "payload_passthrough = false\npayload_format = \"passthrough\"",
    );
    assert!(parse(&text).is_err());
    let text = GOOD.replace(
        "payload_passthrough = true",
        "payload_passthrough = true\npayload_format = \"passthrough\"",
    );
    assert!(parse(&text).is_ok());
    let text = GOOD.replace("payload_passthrough = true", "payload_format = \"envoy\"");
    assert_eq!(
        parse(&text).unwrap().upstreams[1].payload_format,
        PayloadFormat::Envoy
    );
}

#[test]
fn streaming_with_async_fails() {
    let text = GOOD.replace("retries = 0", "retries = 0\nresponse_streaming = true");
    let message = message(&text);
    assert!(
        message.contains("upstream[1].response_streaming"),
        "{message}"
    );
    assert!(message.contains("asynchronous"), "{message}");
}

#[test]
fn bad_values_are_rejected_with_their_key() {
    for (from, to, key) in [
        ("timeout = 2.5", "timeout = 0", "upstream[0].timeout"),
        ("timeout = 2.5", "timeout = 901", "upstream[0].timeout"),
        ("retries = 0", "retries = 11", "upstream[1].retries"),
        (
            "retries = 0",
            "max_concurrency = 0",
            "upstream[1].max_concurrency",
        ),
        (
            "function = \"events\"",
            "function = \"arn:aws:s3:::bucket\"",
            "upstream[1].function",
        ),
        (
            "function = \"events\"",
            "function = \"\"",
            "upstream[1].function",
        ),
        (
            "local_bind_address = \"127.0.0.2\"",
            "local_bind_address = \"localhost\"",
            "upstream[1].local_bind_address",
        ),
        (
            "destination_name = \"events\"",
            "destination_name = \"orders\"",
            "upstream[1].destination_name",
        ),
        (
            "listen = \"127.0.0.1:0\"",
            "listen = \"nope\"",
            "admin.listen",
        ),
        (
            "endpoint_url = \"http://127.0.0.1:9001\"",
            "endpoint_url = \"ftp://x\"",
            "aws.endpoint_url",
        ),
        (
            "log_format = \"json\"",
            "log_format = \"xml\"",
            "log_format",
        ),
    ] {
        let text = GOOD.replace(from, to);
        assert_ne!(text, GOOD, "{from}");
        let message = message(&text);
        assert!(
            message.contains(&format!("key `{key}`")),
            "{key}: {message}"
        );
        assert!(!message.starts_with("mesh.toml:?"), "{key}: {message}");
    }
}

#[test]
fn duplicate_ports_fail_but_port_zero_repeats() {
    let text = GOOD.replace(
        "local_bind_address = \"127.0.0.2\"\nlocal_bind_port = 8081",
        "local_bind_port = 0",
    );
    assert!(parse(&text).is_ok());
    let text = GOOD
        .replace("local_bind_port = 0", "local_bind_port = 8081")
        .replace("local_bind_address = \"127.0.0.2\"\n", "");
    assert!(message(&text).contains("upstream[1].local_bind_port"));
}

#[test]
fn no_upstreams_is_an_error() {
    assert!(message("[admin]\nlisten = \"127.0.0.1:0\"\n").contains("no [[upstream]]"));
}

#[test]
fn functions_are_validated_and_make_upstreams_local() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("code")).unwrap();
    let text = format!("{GOOD}\n[[function]]\nname = \"events\"\ncode = \"code\"\n");
    let config = Config::from_toml_str(&text, "mesh.toml", dir.path()).unwrap();
    assert_eq!(config.functions[0].code, dir.path().join("code"));
    assert!(config
        .local_function(upstream(&config, "events").unwrap())
        .is_some());
    assert!(config
        .local_function(upstream(&config, "orders").unwrap())
        .is_none());

    let bad = format!("{GOOD}\n[[function]]\nname = \"events\"\ncode = \"missing\"\n");
    let message = Config::from_toml_str(&bad, "mesh.toml", dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("mesh.toml:28: key `function[0].code`: function `events`: ")
            && message.contains("missing is not a directory"),
        "{message}"
    );
    let unknown = format!("{GOOD}\n[[function]]\nname = \"events\"\ncode = \"code\"\ncolour = 1\n");
    let message = Config::from_toml_str(&unknown, "mesh.toml", dir.path())
        .unwrap_err()
        .to_string();
    assert!(message.contains("function[0].colour"), "{message}");
}

#[test]
fn flags_beat_env_which_beats_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.toml");
    std::fs::write(&path, GOOD).unwrap();
    let env: HashMap<&str, &str> = HashMap::from([
        ("MESH_PROXY_AWS_REGION", "ap-south-1"),
        ("MESH_PROXY_AWS_PROFILE", "ops"),
        ("MESH_PROXY_ADMIN_LISTEN", "127.0.0.1:19001"),
        ("MESH_PROXY_LOG_FORMAT", "text"),
    ]);
    let lookup = |k: &str| env.get(k).map(|v| (*v).to_owned());
    let flags = Overrides::from_flags(&overrides::FlagValues {
        admin_listen: Some("127.0.0.1:19002".into()),
        ..Default::default()
    })
    .unwrap();
    let config = Config::load(&path, &flags, lookup).unwrap();
    assert_eq!(config.aws.region.as_deref(), Some("ap-south-1"));
    assert_eq!(config.aws.profile.as_deref(), Some("ops"));
    assert_eq!(
        config.aws.endpoint_url,
        Some(http::Uri::from_static("http://127.0.0.1:9001"))
    );
    assert_eq!(config.admin_listen, "127.0.0.1:19002".parse().unwrap());
    assert_eq!(config.log_format, LogFormat::Text);
}

#[test]
fn bad_env_and_flags_name_the_variable() {
    let bad_env = Overrides::from_lookup(|k| (k == "MESH_PROXY_ADMIN_LISTEN").then(|| "x".into()));
    assert!(bad_env
        .unwrap_err()
        .to_string()
        .contains("MESH_PROXY_ADMIN_LISTEN"));
    let bad_env =
        Overrides::from_lookup(|k| (k == "MESH_PROXY_AWS_ENDPOINT_URL").then(|| "nope".into()));
    assert!(bad_env
        .unwrap_err()
        .to_string()
        .contains("MESH_PROXY_AWS_ENDPOINT_URL"));
    let bad_flag = Overrides::from_flags(&overrides::FlagValues {
        log_format: Some("yaml".into()),
        ..Default::default()
    });
    assert!(bad_flag.unwrap_err().to_string().contains("--log-format"));
}

#[test]
fn missing_files_name_the_path() {
    let err = Config::load(
        Path::new("/nonexistent/mesh.toml"),
        &Overrides::default(),
        |_| None,
    );
    assert!(err
        .unwrap_err()
        .to_string()
        .contains("/nonexistent/mesh.toml"));
}
