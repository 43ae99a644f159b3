//! `[consul] address`, `token`, `token_file`, `namespace`, `partition`, `datacenter` and their
//! `CONSUL_HTTP_*` defaults.

use super::*;

const BASE: &str = "[[upstream]]\ndestination_name = \"a\"\nlocal_bind_port = 0\nfunction = \"arn:aws:lambda:us-east-1:123456789012:function:f\"\n";

fn load(consul: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "file-token\n").unwrap();
    let path = dir.path().join("mesh.toml");
    std::fs::write(&path, format!("{BASE}[consul]\n{consul}")).unwrap();
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::load(&path, &Overrides::default(), |k| env.get(k).cloned())
}

#[test]
fn no_address_means_no_agent() {
    let config = load("", &[]).unwrap();
    assert!(config.consul_agent.is_none());
}

#[test]
fn the_address_key_wins_over_consul_http_addr() {
    let config = load(
        "address = \"https://consul:8501\"\nnamespace = \"team\"\npartition = \"ap1\"\ndatacenter = \"dc2\"\n",
        &[("CONSUL_HTTP_ADDR", "127.0.0.1:8500")],
    )
    .unwrap();
    let agent = config.consul_agent.unwrap();
    assert_eq!(agent.base_url(), "https://consul:8501");
    assert_eq!(agent.namespace.as_deref(), Some("team"));
    assert_eq!(agent.partition.as_deref(), Some("ap1"));
    assert_eq!(agent.datacenter.as_deref(), Some("dc2"));
    assert!(!agent.has_token());
}

#[test]
fn consul_http_addr_and_token_are_the_defaults() {
    let config = load(
        "",
        &[
            ("CONSUL_HTTP_ADDR", "127.0.0.1:8500"),
            ("CONSUL_HTTP_TOKEN", "env-token"),
        ],
    )
    .unwrap();
    let agent = config.consul_agent.unwrap();
    assert_eq!(agent.base_url(), "http://127.0.0.1:8500");
    assert_eq!(agent.token.as_ref().map(|t| t.expose()), Some("env-token"));
}

#[test]
fn a_token_file_wins_over_the_token_variable_and_is_a_source() {
    let config = load(
        "address = \"127.0.0.1:8500\"\ntoken_file = \"token\"\n",
        &[("CONSUL_HTTP_TOKEN", "env-token")],
    )
    .unwrap();
    let agent = config.consul_agent.as_ref().unwrap();
    assert_eq!(agent.token.as_ref().map(|t| t.expose()), Some("file-token"));
    assert!(config.sources.files.iter().any(|f| f.ends_with("token")));
    let config = load(
        "address = \"127.0.0.1:8500\"\n",
        &[
            ("CONSUL_HTTP_TOKEN", "env-token"),
            ("CONSUL_HTTP_TOKEN_FILE", "token"),
        ],
    )
    .unwrap();
    let agent = config.consul_agent.unwrap();
    assert_eq!(agent.token.as_ref().map(|t| t.expose()), Some("file-token"));
}

#[test]
fn bad_agent_keys_name_the_file_line_and_key() {
    let cases = [
        ("address = \"ftp://x:1\"\n", "consul.address", "scheme"),
        ("address = \"consul\"\n", "consul.address", "port"),
        (
            "address = \"h:1\"\ntoken = \"t\"\ntoken_file = \"token\"\n",
            "consul.token_file",
            "conflicts",
        ),
        (
            "address = \"h:1\"\ntoken_file = \"missing\"\n",
            "consul.token_file",
            "cannot read",
        ),
        (
            "address = \"h:1\"\nnamespace = \"a b\"\n",
            "consul.namespace",
            "letters",
        ),
        ("token = \"t\"\n", "consul.token", "needs an agent"),
    ];
    for (consul, key, words) in cases {
        let message = load(consul, &[]).unwrap_err().to_string();
        assert!(message.contains("mesh.toml:"), "{consul}: {message}");
        assert!(
            message.contains(&format!("key `{key}`")),
            "{consul}: {message}"
        );
        assert!(message.contains(words), "{consul}: {message}");
    }
}

#[test]
fn bad_variables_are_named_and_the_token_never_shown() {
    let message = load("", &[("CONSUL_HTTP_ADDR", "unix:///c.sock")])
        .unwrap_err()
        .to_string();
    assert!(message.contains("CONSUL_HTTP_ADDR"), "{message}");
    let message = load(
        "",
        &[
            ("CONSUL_HTTP_ADDR", "h:1"),
            ("CONSUL_HTTP_TOKEN", "sec ret"),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(message.contains("CONSUL_HTTP_TOKEN"), "{message}");
    assert!(!message.contains("sec ret"), "{message}");
    let config = load("address = \"h:1\"\ntoken = \"s3cr3t\"\n", &[]).unwrap();
    assert!(!format!("{config:?}").contains("s3cr3t"));
}
