//! `Config::from_lookup` over maps: defaults, our names, and every aws-lambda-web-adapter alias.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::*;

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    map.entry("AWS_LAMBDA_RUNTIME_API".into())
        .or_insert_with(|| "127.0.0.1:9001".into());
    Config::from_lookup(move |name| map.get(name).cloned())
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn defaults() {
    let c = config(&[]).unwrap();
    assert_eq!(c.service, addr("127.0.0.1:8080"));
    assert_eq!(c.readiness_addr, addr("127.0.0.1:8080"));
    assert_eq!(c.readiness_path, "/");
    assert_eq!(c.readiness_protocol, ReadinessProtocol::Http);
    assert!(c.healthy_status.contains(100) && c.healthy_status.contains(499));
    assert!(!c.healthy_status.contains(500));
    assert_eq!(c.readiness_timeout, DEFAULT_READINESS_TIMEOUT);
    assert!(!c.async_init);
    assert_eq!(c.pass_through_path, "/events");
    assert_eq!(c.remove_base_path, None);
    assert_eq!(c.invoke_mode, InvokeMode::Buffered);
    assert!(!c.compression);
    assert_eq!(c.authorization_source, None);
    assert_eq!(c.error_status, None);
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(c.api_timeout, DEFAULT_API_TIMEOUT);
    assert_eq!(c.runtime_api_target(), "127.0.0.1:9001");
}

#[test]
fn runtime_api_is_required() {
    let err = Config::from_lookup(|_| None).unwrap_err();
    assert_eq!(
        err,
        ConfigError::Missing {
            variable: "AWS_LAMBDA_RUNTIME_API"
        }
    );
    assert_eq!(err.to_string(), "AWS_LAMBDA_RUNTIME_API is not set");
}

#[test]
fn our_names() {
    let c = config(&[
        ("LAMBDA_MESH_PORT", "3000"),
        ("LAMBDA_MESH_HOST", "::1"),
        ("LAMBDA_MESH_READINESS_PORT", "3001"),
        ("LAMBDA_MESH_READINESS_PATH", "/healthz"),
        ("LAMBDA_MESH_READINESS_PROTOCOL", "TCP"),
        ("LAMBDA_MESH_READINESS_HEALTHY_STATUS", "200-299, 418"),
        ("LAMBDA_MESH_READINESS_TIMEOUT_MS", "2500"),
        ("LAMBDA_MESH_ASYNC_INIT", "true"),
        ("LAMBDA_MESH_PASS_THROUGH_PATH", "/sqs"),
        ("LAMBDA_MESH_REMOVE_BASE_PATH", "/prod/"),
        ("LAMBDA_MESH_INVOKE_MODE", "response_stream"),
        ("LAMBDA_MESH_ENABLE_COMPRESSION", "1"),
        ("LAMBDA_MESH_COMPRESSION_MIN_BYTES", "10"),
        ("LAMBDA_MESH_AUTHORIZATION_SOURCE", "X-Auth"),
        ("LAMBDA_MESH_ERROR_STATUS_CODES", "500,502-504"),
        ("LAMBDA_MESH_DEADLINE_MARGIN_MS", "250"),
        ("LAMBDA_MESH_API_TIMEOUT_MS", "750"),
        ("LAMBDA_MESH_LOG_FORMAT", "json"),
        ("LAMBDA_MESH_RUNTIME_API_PROXY", "127.0.0.1:9100"),
    ])
    .unwrap();
    assert_eq!(c.service, addr("[::1]:3000"));
    assert_eq!(c.readiness_addr, addr("[::1]:3001"));
    assert_eq!(c.readiness_path, "/healthz");
    assert_eq!(c.readiness_protocol, ReadinessProtocol::Tcp);
    assert!(c.healthy_status.contains(204) && c.healthy_status.contains(418));
    assert!(!c.healthy_status.contains(301));
    assert_eq!(c.readiness_timeout, Duration::from_millis(2500));
    assert!(c.async_init);
    assert_eq!(c.pass_through_path, "/sqs");
    assert_eq!(c.remove_base_path.as_deref(), Some("/prod"));
    assert_eq!(c.invoke_mode, InvokeMode::ResponseStream);
    assert!(c.compression);
    assert!(!c.compresses(), "streaming disables compression");
    assert_eq!(c.compression_min_bytes, 10);
    assert_eq!(
        c.authorization_source.as_ref().map(|h| h.as_str()),
        Some("x-auth")
    );
    let errors = c.error_status.clone().unwrap();
    assert!(errors.contains(500) && errors.contains(503) && !errors.contains(501));
    assert_eq!(c.deadline_margin, Duration::from_millis(250));
    assert_eq!(c.api_timeout, Duration::from_millis(750));
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.runtime_api_target(), "127.0.0.1:9100");
    assert_eq!(c.runtime_api, "127.0.0.1:9001");
}

/// Every variable aws-lambda-web-adapter 1.0.0-rc1 reads, with the meaning it gives it.
#[test]
fn lwa_names() {
    let c = config(&[
        ("AWS_LWA_PORT", "3000"),
        ("AWS_LWA_HOST", "127.0.0.2"),
        ("AWS_LWA_READINESS_CHECK_PORT", "3001"),
        ("AWS_LWA_READINESS_CHECK_PATH", "/ready"),
        ("AWS_LWA_READINESS_CHECK_PROTOCOL", "tcp"),
        ("AWS_LWA_READINESS_CHECK_HEALTHY_STATUS", "200-399"),
        ("AWS_LWA_ASYNC_INIT", "true"),
        ("AWS_LWA_PASS_THROUGH_PATH", "/evts"),
        ("AWS_LWA_REMOVE_BASE_PATH", "/api"),
        ("AWS_LWA_INVOKE_MODE", "RESPONSE_STREAM"),
        ("AWS_LWA_ENABLE_COMPRESSION", "true"),
        ("AWS_LWA_AUTHORIZATION_SOURCE", "x-custom-auth"),
        ("AWS_LWA_ERROR_STATUS_CODES", "500-599"),
        ("AWS_LWA_LAMBDA_RUNTIME_API_PROXY", "127.0.0.1:9200"),
    ])
    .unwrap();
    assert_eq!(c.service, addr("127.0.0.2:3000"));
    assert_eq!(c.readiness_addr, addr("127.0.0.2:3001"));
    assert_eq!(c.readiness_path, "/ready");
    assert_eq!(c.readiness_protocol, ReadinessProtocol::Tcp);
    assert!(c.healthy_status.contains(399) && !c.healthy_status.contains(404));
    assert!(c.async_init);
    assert_eq!(c.pass_through_path, "/evts");
    assert_eq!(c.remove_base_path.as_deref(), Some("/api"));
    assert_eq!(c.invoke_mode, InvokeMode::ResponseStream);
    assert!(c.compression);
    assert_eq!(
        c.authorization_source.as_ref().map(|h| h.as_str()),
        Some("x-custom-auth")
    );
    assert!(c.error_status.clone().unwrap().contains(599));
    assert_eq!(c.runtime_api_target(), "127.0.0.1:9200");
}

#[test]
fn lwa_min_unhealthy_status() {
    let c = config(&[("AWS_LWA_READINESS_CHECK_MIN_UNHEALTHY_STATUS", "400")]).unwrap();
    assert!(c.healthy_status.contains(399) && !c.healthy_status.contains(400));
    // The newer variable wins over the deprecated one.
    let c = config(&[
        ("AWS_LWA_READINESS_CHECK_MIN_UNHEALTHY_STATUS", "400"),
        ("AWS_LWA_READINESS_CHECK_HEALTHY_STATUS", "200"),
    ])
    .unwrap();
    assert!(!c.healthy_status.contains(201));
}

/// `PORT` and LWA's deprecated unprefixed names.
#[test]
fn unprefixed_names() {
    let c = config(&[
        ("PORT", "5000"),
        ("HOST", "localhost"),
        ("READINESS_CHECK_PORT", "5001"),
        ("READINESS_CHECK_PATH", "/up"),
        ("READINESS_CHECK_PROTOCOL", "TCP"),
        ("REMOVE_BASE_PATH", "/v1"),
        ("ASYNC_INIT", "true"),
    ])
    .unwrap();
    assert_eq!(c.service, addr("127.0.0.1:5000"));
    assert_eq!(c.readiness_addr, addr("127.0.0.1:5001"));
    assert_eq!(c.readiness_path, "/up");
    assert_eq!(c.readiness_protocol, ReadinessProtocol::Tcp);
    assert_eq!(c.remove_base_path.as_deref(), Some("/v1"));
    assert!(c.async_init);
}

#[test]
fn precedence_ours_then_lwa_then_unprefixed() {
    let c = config(&[
        ("LAMBDA_MESH_PORT", "1"),
        ("AWS_LWA_PORT", "2"),
        ("PORT", "3"),
    ])
    .unwrap();
    assert_eq!(c.service.port(), 1);
    let c = config(&[("AWS_LWA_PORT", "2"), ("PORT", "3")]).unwrap();
    assert_eq!(c.service.port(), 2);
    // An empty value counts as unset.
    let c = config(&[("LAMBDA_MESH_PORT", ""), ("PORT", "3")]).unwrap();
    assert_eq!(c.service.port(), 3);
}

#[test]
fn bad_values_name_the_variable() {
    let cases = [
        ("AWS_LWA_PORT", "eighty"),
        ("LAMBDA_MESH_PORT", "0"),
        ("PORT", "70000"),
        ("LAMBDA_MESH_HOST", "example.com"),
        ("LAMBDA_MESH_READINESS_PATH", "healthz"),
        ("AWS_LWA_READINESS_CHECK_PROTOCOL", "udp"),
        ("LAMBDA_MESH_READINESS_HEALTHY_STATUS", "200-abc"),
        ("AWS_LWA_READINESS_CHECK_HEALTHY_STATUS", "399-200"),
        ("LAMBDA_MESH_READINESS_TIMEOUT_MS", "5s"),
        ("LAMBDA_MESH_API_TIMEOUT_MS", "0"),
        ("LAMBDA_MESH_API_TIMEOUT_MS", "900001"),
        ("LAMBDA_MESH_API_TIMEOUT_MS", "2s"),
        ("AWS_LWA_ASYNC_INIT", "maybe"),
        ("LAMBDA_MESH_INVOKE_MODE", "stream"),
        ("AWS_LWA_ENABLE_COMPRESSION", "yes please"),
        ("LAMBDA_MESH_AUTHORIZATION_SOURCE", "bad header"),
        ("AWS_LWA_ERROR_STATUS_CODES", "5xx"),
        ("LAMBDA_MESH_LOG_FORMAT", "xml"),
        ("AWS_LWA_READINESS_CHECK_MIN_UNHEALTHY_STATUS", "abc"),
    ];
    for (variable, value) in cases {
        let err = config(&[(variable, value)]).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("{variable}=")),
            "{variable}: {message}"
        );
        assert!(matches!(err, ConfigError::Invalid { variable: v, .. } if v == variable));
    }
}

#[test]
fn base_path_of_slash_is_none() {
    assert_eq!(
        config(&[("LAMBDA_MESH_REMOVE_BASE_PATH", "/")])
            .unwrap()
            .remove_base_path,
        None
    );
}

#[test]
fn lambda_log_format_fallback() {
    let c = config(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]).unwrap();
    assert_eq!(c.log_format, LogFormat::Json);
}
