use std::path::Path;

use lambda_mesh_adapter::PayloadFormat;

use crate::config::{Config, ConfigError};

/// The calling service of Consul's walkthrough, with a second upstream in another namespace.
const API: &str = r#"service {
  name = "api"
  port = 9090
  connect {
    sidecar_service {
      proxy {
        upstreams {
          destination_name = "authentication"
          local_bind_port  = 2345
        }
        upstreams {
          destination_name      = "billing"
          destination_namespace = "payments"
          local_bind_address    = "127.0.0.2"
          local_bind_port       = 2346
        }
      }
    }
  }
}
"#;

const AUTHENTICATION: &str = r#"
Kind     = "service-defaults"
Name     = "authentication"
Protocol = "http"
EnvoyExtensions = [
  {
    Name = "builtin/aws/lambda"
    Arguments = {
      ARN                = "arn:aws:lambda:us-east-1:123456789012:function:authentication"
      PayloadPassthrough = true
    }
  }
]
"#;

const BILLING: &str = r#"
Kind      = "service-defaults"
Name      = "billing"
Namespace = "payments"
EnvoyExtensions = [
  {
    Name = "builtin/aws/lambda"
    Arguments = {
      ARN            = "arn:aws:lambda:eu-west-1:123456789012:function:billing:live"
      InvocationMode = "asynchronous"
    }
  }
]
"#;

const TOML: &str = r#"
[admin]
listen = "127.0.0.1:0"

[consul]
service_files = ["api.hcl"]
config_entries = ["entries/*.hcl"]
"#;

/// A directory holding `files` (path, text).
fn dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn load(dir: &Path, toml: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(toml, "mesh.toml", dir)
}

fn walkthrough() -> tempfile::TempDir {
    dir(&[
        ("api.hcl", API),
        ("entries/authentication.hcl", AUTHENTICATION),
        ("entries/billing.hcl", BILLING),
    ])
}

#[test]
fn the_service_files_upstreams_invoke_their_service_defaults_functions() {
    let dir = walkthrough();
    let config = load(dir.path(), TOML).unwrap();
    assert_eq!(config.upstreams.len(), 2, "{:?}", config.upstreams);
    let auth = &config.upstreams[0];
    assert_eq!(auth.destination_name, "authentication");
    assert_eq!(auth.bind, "127.0.0.1:2345".parse().unwrap());
    assert_eq!(
        auth.function,
        "arn:aws:lambda:us-east-1:123456789012:function:authentication"
    );
    assert_eq!(auth.payload_format, PayloadFormat::PassThrough);
    assert!(!auth.invocation_mode.is_asynchronous());
    let billing = &config.upstreams[1];
    assert_eq!(billing.bind, "127.0.0.2:2346".parse().unwrap());
    assert_eq!(
        billing.function,
        "arn:aws:lambda:eu-west-1:123456789012:function:billing"
    );
    assert_eq!(billing.qualifier.as_deref(), Some("live"));
    assert!(billing.invocation_mode.is_asynchronous());
    assert_eq!(billing.payload_format, PayloadFormat::Envoy);
    assert_eq!(config.services.len(), 1);
    assert_eq!(config.services[0].name, "api");
    assert_eq!(
        config.services[0].upstreams,
        ["authentication".to_owned(), "billing".to_owned()]
    );
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
}

#[test]
fn the_destinations_namespace_must_match_the_entrys() {
    // billing's entry is in `payments`; an upstream in the default namespace does not get it.
    let api = API.replace("destination_namespace = \"payments\"", "");
    let dir = dir(&[
        ("api.hcl", &api),
        ("entries/authentication.hcl", AUTHENTICATION),
        ("entries/billing.hcl", BILLING),
    ]);
    let error = load(dir.path(), TOML).unwrap_err().to_string();
    assert!(error.contains("api.hcl"), "{error}");
    assert!(error.contains("upstreams[1].destination_name"), "{error}");
    assert!(
        error.contains("no service-defaults entry for `billing`"),
        "{error}"
    );
}

#[test]
fn an_upstream_in_the_toml_overrides_the_service_defaults_and_keeps_its_port() {
    let dir = walkthrough();
    let toml = format!(
        "{TOML}\n[[upstream]]\ndestination_name = \"authentication\"\nlocal_bind_port = 3456\nfunction = \"arn:aws:lambda:us-west-2:123456789012:function:auth-canary\"\n"
    );
    let config = load(dir.path(), &toml).unwrap();
    assert_eq!(config.upstreams.len(), 2);
    let auth = config
        .upstreams
        .iter()
        .find(|u| u.destination_name == "authentication")
        .unwrap();
    assert_eq!(
        auth.function,
        "arn:aws:lambda:us-west-2:123456789012:function:auth-canary"
    );
    assert_eq!(auth.bind.port(), 3456);
    let warnings = config.warnings().join("\n");
    assert!(warnings.contains("api.hcl:"), "{warnings}");
    assert!(warnings.contains("listens on 127.0.0.1:3456"), "{warnings}");
}

#[test]
fn a_destination_without_a_function_names_the_upstream_its_file_and_the_sources() {
    let dir = dir(&[("api.hcl", API), ("entries/billing.hcl", BILLING)]);
    let error = load(dir.path(), TOML).unwrap_err();
    let ConfigError::File {
        file, line, key, ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert!(file.ends_with("api.hcl"), "{file}");
    assert_eq!(*line, Some(7));
    assert_eq!(
        key.as_deref(),
        Some("service.connect.sidecar_service.proxy.upstreams[0].destination_name")
    );
    let message = error.to_string();
    assert!(
        message.contains("upstream `authentication` has no function"),
        "{message}"
    );
    assert!(message.contains("[consul] config_entries"), "{message}");
    assert!(message.contains("mesh.toml"), "{message}");
}

#[test]
fn an_entry_without_the_lambda_extension_is_named() {
    let plain = "Kind = \"service-defaults\"\nName = \"authentication\"\nProtocol = \"http\"\n";
    let dir = dir(&[
        ("api.hcl", API),
        ("entries/authentication.hcl", plain),
        ("entries/billing.hcl", BILLING),
    ]);
    let message = load(dir.path(), TOML).unwrap_err().to_string();
    assert!(
        message.contains("has no builtin/aws/lambda extension"),
        "{message}"
    );
    assert!(message.contains("authentication.hcl"), "{message}");
}

#[test]
fn the_same_destination_twice_names_both_places() {
    let other = r#"service {
  name = "web"
  connect { sidecar_service { proxy { upstreams {
    destination_name = "authentication"
    local_bind_port  = 2399
  } } } }
}
"#;
    let dir = dir(&[
        ("api.hcl", API),
        ("web.hcl", other),
        ("entries/authentication.hcl", AUTHENTICATION),
        ("entries/billing.hcl", BILLING),
    ]);
    let toml = TOML.replace("[\"api.hcl\"]", "[\"api.hcl\", \"web.hcl\"]");
    let message = load(dir.path(), &toml).unwrap_err().to_string();
    assert!(message.contains("web.hcl"), "{message}");
    assert!(message.contains("is also an upstream at"), "{message}");
    assert!(message.contains("api.hcl:7"), "{message}");
}

#[test]
fn a_port_taken_by_the_toml_or_the_admin_listener_is_refused() {
    let dir = walkthrough();
    let toml = format!(
        "{TOML}\n[[upstream]]\ndestination_name = \"orders\"\nlocal_bind_port = 2345\nfunction = \"arn:aws:lambda:us-east-1:123456789012:function:orders\"\n"
    );
    let message = load(dir.path(), &toml).unwrap_err().to_string();
    assert!(message.contains("api.hcl:7"), "{message}");
    assert!(
        message.contains("127.0.0.1:2345 is also upstream `orders`'s"),
        "{message}"
    );
    let toml = TOML.replace("127.0.0.1:0", "127.0.0.1:2345");
    let message = load(dir.path(), &toml).unwrap_err().to_string();
    assert!(
        message.contains("upstreams[0].local_bind_port"),
        "{message}"
    );
    assert!(
        message.contains("is the admin listener's port"),
        "{message}"
    );
}

#[test]
fn a_bad_arn_in_the_entry_is_blamed_on_the_entry() {
    let bad = AUTHENTICATION.replace(
        "arn:aws:lambda:us-east-1:123456789012:function:authentication",
        "arn:aws:lambda:us-east-1:123456789012:function:",
    );
    let dir = dir(&[
        ("api.hcl", API),
        ("entries/authentication.hcl", &bad),
        ("entries/billing.hcl", BILLING),
    ]);
    let error = load(dir.path(), TOML).unwrap_err();
    let ConfigError::File { file, key, .. } = &error else {
        panic!("{error:?}");
    };
    assert!(file.ends_with("authentication.hcl"), "{file}");
    assert_eq!(key.as_deref(), Some("EnvoyExtensions[0].Arguments.ARN"));
}

#[test]
fn prepared_queries_and_peers_are_refused() {
    let query = API.replace(
        "destination_name = \"authentication\"",
        "destination_name = \"authentication\"\n          destination_type = \"prepared_query\"",
    );
    let dir = dir(&[
        ("api.hcl", &query),
        ("entries/authentication.hcl", AUTHENTICATION),
        ("entries/billing.hcl", BILLING),
    ]);
    let message = load(dir.path(), TOML).unwrap_err().to_string();
    assert!(message.contains("prepared_query"), "{message}");
    let peer = API.replace(
        "destination_name = \"authentication\"",
        "destination_name = \"authentication\"\n          destination_peer = \"east\"",
    );
    std::fs::write(dir.path().join("api.hcl"), peer).unwrap();
    let message = load(dir.path(), TOML).unwrap_err().to_string();
    assert!(message.contains("destination_peer"), "{message}");
}

#[test]
fn only_toml_upstreams_need_no_service_files() {
    let dir = dir(&[]);
    let toml = "[admin]\nlisten = \"127.0.0.1:0\"\n[[upstream]]\ndestination_name = \"orders\"\nlocal_bind_port = 0\nfunction = \"arn:aws:lambda:us-east-1:123456789012:function:orders\"\n";
    let config = load(dir.path(), toml).unwrap();
    assert_eq!(config.upstreams.len(), 1);
    assert!(config.services.is_empty());
}

#[test]
fn service_file_flags_replace_the_tomls_list() {
    let dir = walkthrough();
    let web = r#"service {
  name = "web"
  connect { sidecar_service { proxy { upstreams {
    destination_name = "authentication"
    local_bind_port  = 2399
  } } } }
}
"#;
    std::fs::write(dir.path().join("web.hcl"), web).unwrap();
    let toml = dir.path().join("mesh.toml");
    std::fs::write(&toml, TOML).unwrap();
    let flags = crate::config::Overrides {
        service_files: vec![dir.path().join("web.hcl")],
        ..Default::default()
    };
    let config = Config::load(&toml, &flags, |_| None).unwrap();
    assert_eq!(config.services.len(), 1);
    assert_eq!(config.services[0].name, "web");
    assert_eq!(config.upstreams.len(), 1);
    assert_eq!(config.upstreams[0].bind.port(), 2399);
    let flags = crate::config::Overrides {
        service_files: vec![dir.path().join("nope.hcl")],
        ..Default::default()
    };
    let message = Config::load(&toml, &flags, |_| None)
        .unwrap_err()
        .to_string();
    assert!(message.starts_with("flag --service-file: `"), "{message}");
    assert!(
        message.ends_with("nope.hcl`: no such service file"),
        "{message}"
    );
}
