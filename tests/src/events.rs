//! Events as callers send them and results as functions return them.

use base64::Engine as _;
use serde_json::Value;

/// An API Gateway HTTP API (payload format 2.0) event; the body base64-encoded.
pub fn v2_event(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Value {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect();
    // API Gateway joins repeated parameters with commas.
    let mut parameters = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let joined = match parameters.get(key).and_then(Value::as_str) {
            Some(before) => format!("{before},{value}"),
            None => value.to_owned(),
        };
        parameters.insert(key.to_owned(), Value::String(joined));
    }
    let mut event = serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "test"
            },
            "requestId": "req",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2024:00:00:00 +0000",
            "timeEpoch": 1704067200000u64
        },
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "isBase64Encoded": true
    });
    if !parameters.is_empty() {
        event["queryStringParameters"] = Value::Object(parameters);
    }
    event
}

/// [`v2_event`] for `GET path?query`, serialised.
pub fn v2_get(path_and_query: &str) -> bytes::Bytes {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    bytes::Bytes::from(v2_event("GET", path, query, &[], b"").to_string())
}

/// The body of a v2/v1/ALB result, decoded.
pub fn result_body(result: &Value) -> Vec<u8> {
    let body = result["body"].as_str().unwrap_or("");
    if result["isBase64Encoded"].as_bool().unwrap_or(false) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("result body is base64")
    } else {
        body.as_bytes().to_vec()
    }
}

/// A result header (v2/v1 `headers`, names compared case-insensitively).
pub fn result_header<'a>(result: &'a Value, name: &str) -> Option<&'a str> {
    result["headers"]
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// `bytes` as JSON, or a panic showing them.
pub fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// Standard base64 with padding (as the echoing services report bodies).
pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
