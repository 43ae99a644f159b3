//! Function side: any event → `http::Request` plus the [`EventShape`] it came in (see `detect`
//! for how shapes are told apart).

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, HOST};
use http::{HeaderMap, HeaderValue, Method, Request};

use crate::body::{event_body, EventBody};
use crate::detect::detect;
use crate::headers;
use crate::json::{opt_array, opt_bool, opt_object, opt_str, req_str, scalar_text, Node};
use crate::uri::{push_encoded_pair, push_raw_pair, target};
use crate::{DecodeError, DecodeOptions, EventShape};

/// A decoded event.
#[derive(Debug)]
pub struct DecodedEvent {
    /// The HTTP request the event describes.
    pub request: Request<Bytes>,
    /// The shape the event came in; pass it to [`crate::encode_response`].
    pub shape: EventShape,
    /// The event's `requestContext` (v1/v2/URL/ALB) as raw JSON, for the `x-amzn-request-context`
    /// header; `None` for Envoy/pass-through.
    pub request_context: Option<serde_json::Value>,
}

/// A decoded event whose body is left as the event carries it ([`decode_event_deferred`]).
#[derive(Debug)]
pub struct DeferredEvent {
    /// The HTTP request the event describes; its body a slice of the event, base64 still encoded
    /// when the event carries it so.
    pub request: Request<EventBody>,
    /// The shape the event came in; pass it to [`crate::encode_response`].
    pub shape: EventShape,
    /// The event's `requestContext` (v1/v2/URL/ALB) as compact JSON text, members in the event's
    /// order, for the `x-amzn-request-context` header; `None` for Envoy/pass-through.
    pub request_context: Option<String>,
}

/// The request context in the form the caller wants it.
enum Context {
    Value(serde_json::Value),
    Json(String),
}

/// The parts every HTTP shape yields.
struct Parts {
    method: Method,
    uri: http::Uri,
    headers: HeaderMap,
}

/// Decode any event a function meets. See the crate README for the shapes and the rules.
pub fn decode_event(event: &[u8], options: &DecodeOptions) -> Result<DecodedEvent, DecodeError> {
    let (request, shape, context) = decode(event, None, options, false)?;
    let (parts, body) = request.into_parts();
    Ok(DecodedEvent {
        request: Request::from_parts(parts, body.into_bytes()),
        shape,
        request_context: match context {
            Some(Context::Value(value)) => Some(value),
            _ => None,
        },
    })
}

/// [`decode_event`] for an event held in `Bytes`, doing less: the body stays a slice of `event`
/// (base64 still encoded when the event carries it so, to be decoded piece by piece as it is sent
/// on) and the request context comes as JSON text. The same events decode, and the same errors
/// arise, as with [`decode_event`].
pub fn decode_event_deferred(
    event: &Bytes,
    options: &DecodeOptions,
) -> Result<DeferredEvent, DecodeError> {
    let (request, shape, context) = decode(event, Some(event), options, true)?;
    Ok(DeferredEvent {
        request,
        shape,
        request_context: match context {
            Some(Context::Json(text)) => Some(text),
            _ => None,
        },
    })
}

fn decode(
    event: &[u8],
    shared: Option<&Bytes>,
    options: &DecodeOptions,
    context_as_json: bool,
) -> Result<(Request<EventBody>, EventShape, Option<Context>), DecodeError> {
    let mut node = Node::parse(event)?;
    let shape = detect(&node);
    let (parts, body_field, base64_field) = match &shape {
        EventShape::ApiGatewayV2 | EventShape::FunctionUrl => {
            (v2(&node)?, "body", "isBase64Encoded")
        }
        EventShape::ApiGatewayV1 => (
            v1_or_alb(&node, push_encoded_pair)?,
            "body",
            "isBase64Encoded",
        ),
        EventShape::Alb { .. } => (v1_or_alb(&node, push_raw_pair)?, "body", "isBase64Encoded"),
        EventShape::Envoy => (envoy(&node)?, "body", "is_base64_encoded"),
        _ => {
            let body = shared.map_or_else(|| Bytes::copy_from_slice(event), Bytes::clone);
            return Ok((pass_through(options, body), EventShape::PassThrough, None));
        }
    };
    let is_base64 = opt_bool(&node, base64_field, base64_field)?;
    let body = match take(&mut node, body_field) {
        None | Some(Node::Null) => None,
        Some(Node::Str(s)) => Some(s),
        Some(other) => {
            return Err(DecodeError::malformed(
                body_field,
                format!("must be a string, found {}", other.kind()),
            ));
        }
    };
    let body = event_body(body, is_base64, body_field, shared)?;
    let context = match shape {
        EventShape::Envoy => None,
        _ => node.field("requestContext").map(|context| {
            if context_as_json {
                let mut text = Vec::with_capacity(1024);
                context.write_json(&mut text);
                Context::Json(String::from_utf8(text).unwrap_or_default())
            } else {
                Context::Value(context.to_value())
            }
        }),
    };
    let mut request = Request::new(body);
    *request.method_mut() = parts.method;
    *request.uri_mut() = parts.uri;
    *request.headers_mut() = parts.headers;
    Ok((request, shape, context))
}

/// Remove and return the member `key` of an object.
fn take<'a>(node: &mut Node<'a>, key: &str) -> Option<Node<'a>> {
    match node {
        Node::Object(members) => {
            let i = members.iter().rposition(|(k, _)| k == key)?;
            Some(members.swap_remove(i).1)
        }
        _ => None,
    }
}

fn method(text: &str, field: &str) -> Result<Method, DecodeError> {
    Method::from_bytes(text.as_bytes()).map_err(|_| DecodeError::InvalidMethod {
        field: field.to_owned(),
    })
}

/// API Gateway HTTP API (2.0) and Function URLs.
fn v2(event: &Node<'_>) -> Result<Parts, DecodeError> {
    let http = event
        .field("requestContext")
        .and_then(|c| c.field("http"))
        .ok_or_else(|| DecodeError::missing("requestContext.http"))?;
    let method = method(
        req_str(http, "method", "requestContext.http.method")?,
        "requestContext.http.method",
    )?;
    let path = match opt_str(event, "rawPath", "rawPath")? {
        Some(p) => p,
        None => opt_str(http, "path", "requestContext.http.path")?.unwrap_or("/"),
    };
    let query: Cow<'_, str> = match opt_str(event, "rawQueryString", "rawQueryString")? {
        Some(q) => Cow::Borrowed(q),
        None => {
            let mut query = String::new();
            for_each_query_param(event, |k, v| push_encoded_pair(&mut query, k, v))?;
            Cow::Owned(query)
        }
    };
    let uri = target(path, &query, "rawPath")?;
    let mut headers = HeaderMap::new();
    if let Some(members) = opt_object(event, "headers", "headers")? {
        headers::from_single(&mut headers, members, "headers")?;
    }
    if let Some(cookies) = opt_array(event, "cookies", "cookies")? {
        let mut joined = String::new();
        for (i, cookie) in cookies.iter().enumerate() {
            let text = cookie.as_str().ok_or_else(|| {
                DecodeError::malformed(format!("cookies.{i}"), "must be a string")
            })?;
            if !joined.is_empty() {
                joined.push_str("; ");
            }
            joined.push_str(text);
        }
        if !joined.is_empty() {
            // API Gateway moves the Cookie header into `cookies`; if one is left, keep both.
            if let Some(existing) = headers.remove(COOKIE) {
                let existing = String::from_utf8_lossy(existing.as_bytes());
                if !existing.is_empty() {
                    joined = format!("{existing}; {joined}");
                }
            }
            let value =
                HeaderValue::from_str(&joined).map_err(|_| DecodeError::InvalidHeaderValue {
                    field: "cookies".to_owned(),
                })?;
            headers.insert(COOKIE, value);
        }
    }
    Ok(Parts {
        method,
        uri,
        headers,
    })
}

/// API Gateway REST API (1.0) and Application Load Balancer share their field names; they differ in
/// the query: API Gateway delivers parameters percent-decoded (`push_encoded_pair` encodes them
/// once), ALB still percent-encoded (`push_raw_pair` keeps them as they are, never decoding twice).
fn v1_or_alb(
    event: &Node<'_>,
    push_pair: fn(&mut String, &str, &str),
) -> Result<Parts, DecodeError> {
    let method = method(req_str(event, "httpMethod", "httpMethod")?, "httpMethod")?;
    let path = opt_str(event, "path", "path")?.unwrap_or("/");
    let mut query = String::new();
    for_each_query_param(event, |k, v| push_pair(&mut query, k, v))?;
    let uri = target(path, &query, "path")?;
    let headers = alb_or_v1_headers(event)?;
    Ok(Parts {
        method,
        uri,
        headers,
    })
}

/// Envoy `aws_lambda`: `raw_path` holds path and query as the client sent them.
fn envoy(event: &Node<'_>) -> Result<Parts, DecodeError> {
    let method = method(req_str(event, "method", "method")?, "method")?;
    let raw = req_str(event, "raw_path", "raw_path")?;
    let (path, query) = raw.split_once('?').unwrap_or((raw, ""));
    let uri = target(path, query, "raw_path")?;
    let mut headers = HeaderMap::new();
    let mut authority = None;
    if let Some(members) = opt_object(event, "headers", "headers")? {
        // HTTP/2 pseudo-headers are not headers; `:authority` stands in for a missing `host`.
        let (pseudo, regular): (Vec<_>, Vec<_>) = members
            .iter()
            .cloned()
            .partition(|(k, _)| k.starts_with(':'));
        headers::from_single(&mut headers, &regular, "headers")?;
        authority = pseudo
            .into_iter()
            .find(|(k, _)| k == ":authority")
            .map(|(_, v)| v);
    }
    if let Some(Node::Str(authority)) = authority {
        if !headers.contains_key(HOST) {
            let value =
                HeaderValue::from_str(&authority).map_err(|_| DecodeError::InvalidHeaderValue {
                    field: "headers.:authority".to_owned(),
                })?;
            headers.insert(HOST, value);
        }
    }
    Ok(Parts {
        method,
        uri,
        headers,
    })
}

/// Every value of `multiValueHeaders`, plus `headers` for names the multi-value map lacks (API
/// Gateway sends both, consistent; hand-written events often fill only one).
fn alb_or_v1_headers(event: &Node<'_>) -> Result<HeaderMap, DecodeError> {
    let mut headers = HeaderMap::new();
    if let Some(members) = opt_object(event, "multiValueHeaders", "multiValueHeaders")? {
        headers::from_multi(&mut headers, members, "multiValueHeaders")?;
    }
    if let Some(members) = opt_object(event, "headers", "headers")? {
        let mut single = HeaderMap::new();
        headers::from_single(&mut single, members, "headers")?;
        headers::merge_missing(&mut headers, single);
    }
    Ok(headers)
}

/// Every value of `multiValueQueryStringParameters`, plus `queryStringParameters` for keys the
/// multi-value map lacks, in event order.
fn for_each_query_param(
    event: &Node<'_>,
    mut f: impl FnMut(&str, &str),
) -> Result<(), DecodeError> {
    const MULTI: &str = "multiValueQueryStringParameters";
    const SINGLE: &str = "queryStringParameters";
    let multi = opt_object(event, MULTI, MULTI)?.unwrap_or_default();
    for (key, value) in multi {
        let values = match value {
            Node::Array(items) => items.as_slice(),
            other => std::slice::from_ref(other),
        };
        for item in values {
            if let Some(text) = scalar_text(item, || format!("{MULTI}.{key}"))? {
                f(key, &text);
            }
        }
    }
    for (key, value) in opt_object(event, SINGLE, SINGLE)?.unwrap_or_default() {
        if multi.iter().any(|(k, _)| k == key) {
            continue;
        }
        if let Some(text) = scalar_text(value, || format!("{SINGLE}.{key}"))? {
            f(key, &text);
        }
    }
    Ok(())
}

/// Any other JSON: a `POST` of the raw event to the pass-through path.
fn pass_through(options: &DecodeOptions, event: Bytes) -> Request<EventBody> {
    let mut request = Request::new(EventBody::raw(event));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = target(options.pass_through_path(), "", "pass_through_path")
        .unwrap_or_else(|_| http::Uri::from_static("/"));
    request
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    request
}
