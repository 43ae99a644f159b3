//! Invoke (RequestResponse and Event) over the workspace's own pooled hyper client, signed by
//! [`super::sigv4`] (with aws-sigv4's key derivation and signature, the crate aws-sdk-lambda signs
//! with) — so a call costs what its work costs: one
//! request built, signed and sent, one response read. The SDK's per-call orchestration
//! (interceptors, runtime plugins, identity and endpoint resolution per request) measured ~40 %
//! of mesh-proxy's CPU under load (BENCHMARKS.md); the endpoint is resolved once per region with
//! the SDK's own resolver instead, and credentials come cached from aws-config's default chain.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{AUTHORIZATION, RETRY_AFTER, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::sigv4::{payload_sha256, Keys, Signable, Signer};
use super::{first_line, kind_of_status, Kind, Lambda};
use crate::invoker::{InvokeFailure, Invoked, Target};
use crate::trace::XRAY;

/// The pooled HTTPS (or plain HTTP, for `endpoint_url = "http://…"`) client every region shares.
pub(crate) type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Lambda's largest synchronous response is 6 MB; read at most a little more, so a misbehaving
/// endpoint cannot make us buffer without bound.
const MAX_RESPONSE: usize = 7 * 1024 * 1024;
/// The SDK's default connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// The signing name of Lambda.
const SERVICE: &str = "lambda";

const USER_AGENT_VALUE: &str = concat!("lambda-mesh/", env!("CARGO_PKG_VERSION"));

/// A path label or query value as the SDK encodes it: everything but RFC 3986's unreserved
/// characters (so an ARN's `:` travels as `%3A`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The client: TLS by rustls (aws-lc-rs, the platform's roots), HTTP/1.1 keep-alive,
/// `TCP_NODELAY`.
pub(crate) fn https_client() -> HttpsClient {
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|builder| match builder.clone().with_native_roots() {
            Ok(roots) => roots.with_no_client_auth(),
            Err(error) => {
                tracing::warn!(%error, "no usable CA certificates on this system: HTTPS endpoints will fail verification");
                builder
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            }
        });
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let https = match tls {
        Ok(tls) => hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http),
        // aws-lc-rs always offers TLS 1.2 and 1.3; kept total rather than unwrapped.
        Err(_) => hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            )
            .https_or_http()
            .enable_http1()
            .wrap_connector(http),
    };
    Client::builder(TokioExecutor::new()).build(https)
}

/// Where one region's calls go.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// `scheme://authority[/path]`, without a trailing `/`.
    pub(crate) base: String,
    /// The `Host` header (and signed host): the authority as hyper will write it.
    pub(crate) host: String,
    /// The signing region.
    pub(crate) region: String,
}

impl Endpoint {
    pub(crate) fn new(url: &http::Uri, region: String) -> Option<Endpoint> {
        let authority = url.authority()?;
        let scheme = url.scheme_str().unwrap_or("https");
        let path = url.path().trim_end_matches('/');
        let default_port = match scheme {
            "http" => 80,
            _ => 443,
        };
        let host = match authority.port_u16() {
            Some(port) if port != default_port => format!("{}:{port}", authority.host()),
            _ => authority.host().to_owned(),
        };
        Some(Endpoint {
            base: format!("{scheme}://{authority}{path}"),
            host,
            region,
        })
    }
}

/// The signed Invoke request for `target` at `time`; `extra` headers are signed too (the golden
/// test adds the SDK's own to compare signatures).
#[allow(clippy::too_many_arguments)]
pub(crate) fn request(
    endpoint: &Endpoint,
    target: &Target,
    payload: Bytes,
    trace: &HeaderValue,
    keys: &Keys<'_>,
    signer: &Signer,
    time: SystemTime,
    extra: &[(&str, &str)],
) -> Result<Request<Full<Bytes>>, InvokeFailure> {
    // `base` + path + query, with the path and query kept apart for signing.
    let mut uri = String::with_capacity(endpoint.base.len() + 128);
    uri.push_str(&endpoint.base);
    let path_start = uri.len();
    uri.push_str("/2015-03-31/functions/");
    uri.extend(utf8_percent_encode(&target.function, COMPONENT));
    uri.push_str("/invocations");
    let path_end = uri.len();
    if let Some(qualifier) = &target.qualifier {
        uri.push_str("?Qualifier=");
        uri.extend(utf8_percent_encode(qualifier, COMPONENT));
    }
    let invocation_type = if target.mode.is_asynchronous() {
        "Event"
    } else {
        "RequestResponse"
    };
    let length = payload.len().to_string();
    let mut signed: Vec<(&str, &str)> = Vec::with_capacity(4 + extra.len());
    signed.extend_from_slice(&[
        ("host", endpoint.host.as_str()),
        ("content-type", "application/octet-stream"),
        ("content-length", length.as_str()),
        ("x-amz-invocation-type", invocation_type),
    ]);
    signed.extend_from_slice(extra);
    let signature = signer.sign(
        &Signable {
            method: "POST",
            path: &uri[path_start..path_end],
            query: uri.get(path_end + 1..).unwrap_or(""),
            headers: &signed,
            payload_sha256: &payload_sha256(&payload),
        },
        keys,
        &endpoint.region,
        SERVICE,
        time,
    );
    let mut builder = Request::builder().method(Method::POST).uri(uri.as_str());
    for (name, value) in &signed {
        builder = builder.header(*name, *value);
    }
    builder = builder
        .header("x-amz-date", signature.amz_date)
        .header(AUTHORIZATION, signature.authorization);
    if let Some(token) = keys.session_token {
        builder = builder.header("x-amz-security-token", token);
    }
    // Unsigned, as the SDK leaves them (`trace::invoke_header` made the trace visible ASCII).
    builder = builder
        .header(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE))
        .header(XRAY, trace.clone());
    builder
        .body(Full::new(payload))
        .map_err(|error| InvokeFailure::Other {
            message: format!("the invoke request could not be built: {error}"),
        })
}

/// Invoke once.
pub(crate) async fn invoke(
    lambda: &Lambda,
    target: &Target,
    payload: Bytes,
    trace: &HeaderValue,
) -> Result<Invoked, InvokeFailure> {
    let credentials = lambda
        .credentials
        .credentials()
        .await
        .map_err(|e| InvokeFailure::Other {
            message: e.to_string(),
        })?;
    let request = request(
        &lambda.endpoint,
        target,
        payload,
        trace,
        &Keys::from(&credentials),
        &lambda.signer,
        SystemTime::now(),
        &[],
    )?;
    let response = lambda.http.request(request).await.map_err(|e| {
        if e.is_connect() {
            // The request never left: the function cannot have run.
            InvokeFailure::Service {
                message: "cannot reach the Lambda endpoint".into(),
            }
        } else {
            // It may have been received and run: not safe to retry.
            InvokeFailure::Other {
                message: "Lambda's response could not be read".into(),
            }
        }
    })?;
    let (head, body) = response.into_parts();
    let body = Limited::new(body, MAX_RESPONSE)
        .collect()
        .await
        .map_err(|_| InvokeFailure::Other {
            message: "Lambda's response could not be read".into(),
        })?
        .to_bytes();
    if !head.status.is_success() {
        return Err(failure(head.status.as_u16(), &head.headers, &body));
    }
    let text = |name: &str| {
        head.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Ok(Invoked {
        request_id: text("x-amzn-requestid"),
        executed_version: text("x-amz-executed-version"),
        function_error: text("x-amz-function-error"),
        payload: body,
    })
}

/// Lambda's error answer (restJson1: the code in `x-amzn-ErrorType` or the body's `__type` /
/// `code`, the message in `message` / `Message`) as a failure.
pub(crate) fn failure(status: u16, headers: &HeaderMap, body: &[u8]) -> InvokeFailure {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |names: &[&str]| {
        let object = json.as_ref()?.as_object()?;
        names.iter().find_map(|n| object.get(*n)?.as_str())
    };
    let code = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .or_else(|| field(&["__type", "code"]))
        .map(error_code)
        .filter(|c| !c.is_empty());
    let message = field(&["message", "Message", "errorMessage"]).unwrap_or("no message");
    let retry_after = json
        .as_ref()
        .and_then(|j| j.get("retryAfterSeconds"))
        .and_then(|v| match v {
            serde_json::Value::String(s) => s.trim().parse().ok(),
            other => other.as_u64(),
        })
        .or_else(|| {
            headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.trim().parse().ok())
        });
    let kind = match code.and_then(kind_of_code) {
        Some(kind) => kind,
        None => kind_of_status(status),
    };
    let kind = match kind {
        Kind::Throttled(None) => Kind::Throttled(retry_after),
        other => other,
    };
    kind.failure(format!(
        "{}: {}",
        code.unwrap_or("Unknown"),
        first_line(message)
    ))
}

/// A wire error code without its namespace (`aws.lambda#X`) or URL suffix (`X:http://…`).
fn error_code(raw: &str) -> &str {
    let code = raw.split(':').next().unwrap_or(raw);
    code.rsplit('#').next().unwrap_or(code).trim()
}

/// The codes of Invoke's modelled errors that decide retries and statuses, as Lambda names them
/// on the wire (aws-sdk-lambda's deserializer matches the same names); the rest go by status.
pub(crate) fn kind_of_code(code: &str) -> Option<Kind> {
    Some(match code {
        "TooManyRequestsException" | "EC2ThrottledException" => Kind::Throttled(None),
        "ServiceException"
        | "EC2UnexpectedException"
        | "ENILimitReachedException"
        | "ResourceNotReadyException"
        | "SnapStartNotReadyException" => Kind::Service,
        "ResourceNotFoundException" => Kind::NotFound,
        "KMSAccessDeniedException" | "EC2AccessDeniedException" => Kind::AccessDenied,
        "RequestTooLargeException" | "SerializedRequestEntityTooLargeException" => Kind::TooLarge,
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
