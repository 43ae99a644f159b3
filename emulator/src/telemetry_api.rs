//! The Telemetry API (2022-07-01) and Logs API (2020-08-15): subscribers get the environment's
//! output and platform events, batched, POSTed to their local HTTP endpoint.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::sync::broadcast;

use crate::api::identify;
use crate::http_util::{api_error, header, Body};
use crate::sandbox::Sandbox;

/// Lambda's default buffering (Telemetry API reference).
const DEFAULT_MAX_ITEMS: usize = 10_000;
const DEFAULT_TIMEOUT_MS: u64 = 1000;
/// Lambda's minimum buffering timeout.
const MIN_TIMEOUT_MS: u64 = 25;
/// Bound on one delivery attempt.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct Subscription {
    #[serde(default)]
    types: Vec<String>,
    #[serde(default)]
    buffering: Option<Buffering>,
    destination: Destination,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Buffering {
    max_items: Option<usize>,
    timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
struct Destination {
    protocol: String,
    #[serde(rename = "URI")]
    uri: Option<String>,
}

/// `PUT /2022-07-01/telemetry` or `PUT /2020-08-15/logs`.
pub(crate) async fn subscribe(
    sandbox: &Sandbox,
    request: http::Request<Incoming>,
) -> http::Response<Body> {
    let (parts, body) = request.into_parts();
    if parts.method != http::Method::PUT {
        return api_error(405, "InvalidRequest", "Use PUT to subscribe");
    }
    if let Err(answer) = identify(sandbox, &parts) {
        return *answer;
    }
    let _ = header(&parts, "lambda-extension-identifier");
    let Some(subscription) = Limited::new(body, 64 * 1024)
        .collect()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<Subscription>(&b.to_bytes()).ok())
    else {
        return api_error(400, "ValidationError", "Invalid subscription request body");
    };
    if !subscription
        .destination
        .protocol
        .eq_ignore_ascii_case("HTTP")
    {
        return api_error(
            400,
            "ValidationError",
            "The emulator delivers over HTTP only",
        );
    }
    let Some(address) = subscription
        .destination
        .uri
        .as_deref()
        .and_then(local_address)
    else {
        return api_error(
            400,
            "ValidationError",
            "destination.URI must be http://sandbox.localdomain:PORT/...",
        );
    };
    let buffering = subscription.buffering.unwrap_or(Buffering {
        max_items: None,
        timeout_ms: None,
    });
    let max_items = buffering.max_items.unwrap_or(DEFAULT_MAX_ITEMS).max(1);
    let timeout = Duration::from_millis(
        buffering
            .timeout_ms
            .unwrap_or(DEFAULT_TIMEOUT_MS)
            .max(MIN_TIMEOUT_MS),
    );
    let types = subscription.types;
    let lines = sandbox.logs.subscribe();
    tokio::spawn(deliver(lines, address, types, max_items, timeout));
    crate::http_util::json(200, &serde_json::Value::from("OK"))
}

/// `(host:port, path)` for `http://sandbox.localdomain:PORT/path` (or `sandbox`, `127.0.0.1`, `localhost`).
fn local_address(uri: &str) -> Option<(String, String)> {
    let uri: http::Uri = uri.parse().ok()?;
    let host = uri.host()?;
    if !matches!(
        host,
        "sandbox.localdomain" | "sandbox" | "127.0.0.1" | "localhost"
    ) {
        return None;
    }
    let port = uri.port_u16().unwrap_or(80);
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_owned();
    Some((format!("127.0.0.1:{port}"), path))
}

/// One log line as a Telemetry API record.
fn record(line: &str) -> (String, serde_json::Value) {
    let time = crate::function::iso_now();
    let request_id = |rest: &str| {
        rest.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let (kind, record) = if let Some(rest) = line.strip_prefix("START RequestId: ") {
        let version = rest
            .split_once(" Version: ")
            .map_or("$LATEST", |(_, v)| v.trim());
        (
            "platform.start",
            serde_json::json!({ "requestId": request_id(rest), "version": version }),
        )
    } else if let Some(rest) = line.strip_prefix("END RequestId: ") {
        (
            "platform.runtimeDone",
            serde_json::json!({ "requestId": request_id(rest), "status": "success" }),
        )
    } else if let Some(rest) = line.strip_prefix("REPORT RequestId: ") {
        let field = |name: &str| rest.split('\t').find_map(|f| f.strip_prefix(name));
        let number = |name: &str, unit: &str| {
            field(name)
                .and_then(|d| d.trim_end_matches(unit).parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let mut record = serde_json::json!({
            "requestId": request_id(rest),
            "status": field("Status: ").unwrap_or("success"),
            "metrics": {
                "durationMs": number("Duration: ", " ms"),
                "billedDurationMs": number("Billed Duration: ", " ms"),
                "memorySizeMB": number("Memory Size: ", " MB"),
                "maxMemoryUsedMB": number("Max Memory Used: ", " MB"),
            },
        });
        if let Some(error_type) = field("Error Type: ") {
            record["errorType"] = serde_json::Value::from(error_type);
        }
        ("platform.report", record)
    } else {
        ("function", serde_json::Value::from(line))
    };
    (
        kind.to_owned(),
        serde_json::json!({ "time": time, "type": kind, "record": record }),
    )
}

async fn deliver(
    mut lines: broadcast::Receiver<String>,
    (address, path): (String, String),
    types: Vec<String>,
    max_items: usize,
    timeout: Duration,
) {
    let wanted = |kind: &str| {
        types.is_empty()
            || types
                .iter()
                .any(|t| t == kind || (t == "platform" && kind.starts_with("platform.")))
    };
    loop {
        let mut batch = Vec::new();
        let first = match lines.recv().await {
            Ok(line) => line,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let (kind, value) = record(&first);
        if wanted(&kind) {
            batch.push(value);
        }
        let flush_at = tokio::time::Instant::now() + timeout;
        let mut closed = false;
        while batch.len() < max_items {
            match tokio::time::timeout_at(flush_at, lines.recv()).await {
                Ok(Ok(line)) => {
                    let (kind, value) = record(&line);
                    if wanted(&kind) {
                        batch.push(value);
                    }
                }
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(broadcast::error::RecvError::Closed)) => {
                    closed = true;
                    break;
                }
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            let body = Bytes::from(serde_json::Value::Array(batch).to_string());
            if let Err(e) =
                tokio::time::timeout(DELIVERY_TIMEOUT, post(&address, &path, body)).await
            {
                tracing::debug!(error = %e, "telemetry delivery timed out");
            }
        }
        if closed {
            return;
        }
    }
}

async fn post(address: &str, path: &str, body: Bytes) -> Result<(), String> {
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = http::Request::post(path)
        .header("host", "sandbox.localdomain")
        .header("content-type", "application/json")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let _ = response.into_body().collect().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_addresses() {
        let (kind, value) = record("START RequestId: abc Version: 3");
        assert_eq!(kind, "platform.start");
        assert_eq!(value["record"]["requestId"], "abc");
        assert_eq!(value["record"]["version"], "3");
        let (kind, value) = record("REPORT RequestId: abc\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\tStatus: error\tError Type: Runtime.OutOfMemory");
        assert_eq!(kind, "platform.report");
        assert_eq!(value["record"]["status"], "error");
        assert_eq!(value["record"]["errorType"], "Runtime.OutOfMemory");
        assert_eq!(value["record"]["metrics"]["durationMs"], 1.5);
        assert_eq!(value["record"]["metrics"]["maxMemoryUsedMB"], 128.0);
        let (kind, value) = record("hello");
        assert_eq!(kind, "function");
        assert_eq!(value["record"], "hello");
        assert_eq!(
            local_address("http://sandbox.localdomain:4243/logs"),
            Some(("127.0.0.1:4243".into(), "/logs".into()))
        );
        assert_eq!(local_address("http://example.com:1/"), None);
    }
}
