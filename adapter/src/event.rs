//! Function side: any event → `http::Request` plus the [`EventShape`] it came in (see `detect`
//! for how shapes are told apart).
//!
//! Once the shape is known, every field AWS documents for it has its documented JSON type, read or
//! not (`pathParameters` too), and so do the parts of `requestContext` that are read: strings,
//! booleans (`isBase64Encoded`), lists (`cookies`, multi-value lists), objects whose values are
//! strings (`headers`, query parameters) or lists of strings (`multiValueHeaders`,
//! `multiValueQueryStringParameters`). A wrong type is a [`DecodeError`] naming the field's path
//! (`headers.x-count`), never coerced. Null is an absent field, list or value, as AWS sends
//! `"multiValueHeaders": null`.

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, HOST};
use http::{HeaderMap, HeaderValue, Method, Request};

use crate::body::{decode_body, event_body, EventBody};
use crate::detect::detect;
use crate::headers::{self, append, Values};
use crate::json::{
    opt_array, opt_bool, opt_object, opt_str, opt_str_map, req_str, str_value, take_str,
    wrong_type, Node,
};
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

/// The parts every HTTP shape yields.
struct Parts {
    method: Method,
    uri: http::Uri,
    headers: HeaderMap,
}

/// What the one decoder ([`decode`]) finds in an HTTP-shaped event, borrowing from it;
/// [`decode_event`] and [`decode_event_deferred`] each finish the body and the request context in
/// their form.
struct Found<'a> {
    parts: Parts,
    /// The body field's string, as the event carries it (base64 still encoded).
    body: Option<Cow<'a, str>>,
    is_base64: bool,
    /// The body field's name, for errors.
    body_field: &'static str,
    /// `requestContext`, except for Envoy.
    context: Option<Node<'a>>,
}

/// Decode any event a function meets. See the crate README for the shapes and the rules.
pub fn decode_event(event: &[u8], options: &DecodeOptions) -> Result<DecodedEvent, DecodeError> {
    let (shape, found) = decode(event)?;
    let (request, request_context) = match found {
        None => (pass_through(options, Bytes::copy_from_slice(event)), None),
        Some(Found {
            parts,
            body,
            is_base64,
            body_field,
            context,
        }) => (
            parts.with_body(decode_body(body, is_base64, body_field)?),
            context.map(|context| context.to_value()),
        ),
    };
    Ok(DecodedEvent {
        request,
        shape,
        request_context,
    })
}

/// [`decode_event`] for an event held in `Bytes`, doing less: the body stays a slice of `event`
/// (base64 still encoded when the event carries it so, to be decoded piece by piece as it is sent
/// on) and the request context comes as JSON text. The same events decode, and the same errors
/// arise, as with [`decode_event`]: both are the one decoder, finished in two forms.
pub fn decode_event_deferred(
    event: &Bytes,
    options: &DecodeOptions,
) -> Result<DeferredEvent, DecodeError> {
    let (shape, found) = decode(event)?;
    let (request, request_context) = match found {
        None => (pass_through(options, EventBody::raw(event.clone())), None),
        Some(Found {
            parts,
            body,
            is_base64,
            body_field,
            context,
        }) => (
            parts.with_body(event_body(body, is_base64, body_field, event)?),
            context.map(|context| {
                let mut text = Vec::with_capacity(1024);
                context.write_json(&mut text);
                String::from_utf8(text).unwrap_or_default()
            }),
        ),
    };
    Ok(DeferredEvent {
        request,
        shape,
        request_context,
    })
}

/// The one decoder: parse, tell the shape, read method, target and headers, and take out the body
/// and the request context (still borrowed from `event`); `None` for an event that is no HTTP
/// shape (the whole event is the body of a `POST` to the pass-through path).
fn decode(event: &[u8]) -> Result<(EventShape, Option<Found<'_>>), DecodeError> {
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
        _ => return Ok((EventShape::PassThrough, None)),
    };
    check_unread(&node, &shape)?;
    let is_base64 = opt_bool(&node, base64_field, base64_field)?;
    let body = take_str(&mut node, body_field)?;
    let context = match shape {
        EventShape::Envoy => None,
        _ => node
            .take("requestContext")
            .filter(|context| !matches!(context, Node::Null)),
    };
    let found = Found {
        parts,
        body,
        is_base64,
        body_field,
        context,
    };
    Ok((shape, Some(found)))
}

impl Parts {
    fn with_body<B>(self, body: B) -> Request<B> {
        let mut request = Request::new(body);
        *request.method_mut() = self.method;
        *request.uri_mut() = self.uri;
        *request.headers_mut() = self.headers;
        request
    }
}

fn method(text: &str, field: &str) -> Result<Method, DecodeError> {
    Method::from_bytes(text.as_bytes()).map_err(|_| DecodeError::InvalidMethod {
        field: field.to_owned(),
    })
}

/// API Gateway HTTP API (2.0) and Function URLs.
fn v2(event: &Node<'_>) -> Result<Parts, DecodeError> {
    let context = context(event)?.ok_or_else(|| DecodeError::missing("requestContext"))?;
    opt_str(context, "domainName", "requestContext.domainName")?;
    let http = object(context, "http", "requestContext.http")?
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
        headers::from_single(&mut headers, members, "headers", Values::Strings)?;
    }
    if let Some(cookies) = opt_array(event, "cookies", "cookies")? {
        let mut joined = String::new();
        for (i, cookie) in cookies.iter().enumerate() {
            let Some(text) = str_value(cookie, || format!("cookies.{i}"))? else {
                continue;
            };
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
    let context = context(event)?;
    if let Some(context) = context {
        object(context, "elb", "requestContext.elb")?;
    }
    let method = method(req_str(event, "httpMethod", "httpMethod")?, "httpMethod")?;
    let path = opt_str(event, "path", "path")?.unwrap_or("/");
    let mut query = String::new();
    for_each_query_param(event, |k, v| push_pair(&mut query, k, v))?;
    let uri = target(path, &query, "path")?;
    let headers = headers::from_multi_and_single(event, Values::Strings)?;
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
    for (name, value) in opt_object(event, "headers", "headers")?.unwrap_or_default() {
        let Some(text) = str_value(value, || format!("headers.{name}"))? else {
            continue;
        };
        // HTTP/2 pseudo-headers are not headers; `:authority` stands in for a missing `host`.
        match name.strip_prefix(':') {
            Some("authority") => authority = authority.or(Some(text)),
            Some(_) => {}
            None => append(&mut headers, "headers", name, text)?,
        }
    }
    if let Some(authority) = authority {
        if !headers.contains_key(HOST) {
            let value =
                HeaderValue::from_str(authority).map_err(|_| DecodeError::InvalidHeaderValue {
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

/// Every value of `multiValueQueryStringParameters`, plus `queryStringParameters` for keys the
/// multi-value map lacks, in event order.
fn for_each_query_param(
    event: &Node<'_>,
    mut f: impl FnMut(&str, &str),
) -> Result<(), DecodeError> {
    const MULTI: &str = "multiValueQueryStringParameters";
    const SINGLE: &str = "queryStringParameters";
    let multi = opt_object(event, MULTI, MULTI)?.unwrap_or_default();
    for (key, list) in multi {
        let items = match list {
            Node::Null => continue,
            Node::Array(items) => items,
            other => return Err(wrong_type(format!("{MULTI}.{key}"), "an array", other)),
        };
        for item in items {
            if let Some(text) = str_value(item, || format!("{MULTI}.{key}"))? {
                f(key, text);
            }
        }
    }
    for (key, value) in opt_str_map(event, SINGLE, SINGLE)?.unwrap_or_default() {
        if multi.iter().any(|(k, _)| k == key) {
            continue;
        }
        if let Some(text) = str_value(value, || format!("{SINGLE}.{key}"))? {
            f(key, text);
        }
    }
    Ok(())
}

/// `requestContext`, which must be an object when present.
fn context<'n, 'a>(event: &'n Node<'a>) -> Result<Option<&'n Node<'a>>, DecodeError> {
    object(event, "requestContext", "requestContext")
}

/// An object field as its node (absent or null → `None`); an error naming `path` otherwise.
fn object<'n, 'a>(
    node: &'n Node<'a>,
    key: &str,
    path: &str,
) -> Result<Option<&'n Node<'a>>, DecodeError> {
    match node.field(key) {
        None => Ok(None),
        Some(object @ Node::Object(_)) => Ok(Some(object)),
        Some(other) => Err(wrong_type(path, "an object", other)),
    }
}

/// The fields AWS documents for `shape` that no decoder reads, type-checked all the same.
fn check_unread(event: &Node<'_>, shape: &EventShape) -> Result<(), DecodeError> {
    let (strings, maps): (&[&str], &[&str]) = match shape {
        EventShape::ApiGatewayV1 => (&["resource"], &["pathParameters", "stageVariables"]),
        // `queryStringParameters` is read only when `rawQueryString` is absent.
        EventShape::ApiGatewayV2 | EventShape::FunctionUrl => (
            &["routeKey"],
            &["pathParameters", "stageVariables", "queryStringParameters"],
        ),
        EventShape::Envoy => (&[], &["query_string_parameters"]),
        _ => (&[], &[]),
    };
    for key in strings {
        opt_str(event, key, key)?;
    }
    for key in maps {
        opt_str_map(event, key, key)?;
    }
    Ok(())
}

/// Any other JSON: a `POST` of the raw event to the pass-through path.
fn pass_through<B>(options: &DecodeOptions, event: B) -> Request<B> {
    let mut request = Request::new(event);
    *request.method_mut() = Method::POST;
    *request.uri_mut() = target(options.pass_through_path(), "", "pass_through_path")
        .unwrap_or_else(|_| http::Uri::from_static("/"));
    request
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    request
}
