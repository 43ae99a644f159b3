//! The HTTP request the service receives for a decoded event.

use http::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, EXPECT, HOST};
use http::uri::PathAndQuery;
use http::{Method, Request, Uri};
use lambda_mesh_adapter::{DeferredEvent, EventBody, EventShape};

use crate::config::Config;
use crate::headers::{add_invocation_headers, strip_hop_by_hop};
use crate::runtime_api::Invocation;

/// Builds the service's request: base path removed, hop-by-hop headers and `Expect` dropped (the
/// body is already complete, so there is nothing to wait for), the Lambda headers added and the
/// framing recomputed.
pub(crate) fn build(
    config: &Config,
    invocation: &Invocation,
    decoded: DeferredEvent,
) -> Request<EventBody> {
    let DeferredEvent {
        request,
        shape,
        request_context,
    } = decoded;
    let (mut parts, body) = request.into_parts();
    if shape != EventShape::PassThrough {
        if let Some(base) = config.remove_base_path.as_deref() {
            parts.uri = remove_base_path(&parts.uri, base);
        }
    }
    let headers = &mut parts.headers;
    strip_hop_by_hop(headers);
    headers.remove(EXPECT);
    if let Some(source) = &config.authorization_source {
        match headers.remove(source) {
            Some(value) => {
                headers.insert(AUTHORIZATION, value);
            }
            None => tracing::debug!(header = %source, "authorization source header absent"),
        }
    }
    add_invocation_headers(
        headers,
        invocation,
        &config.function,
        request_context.as_deref(),
    );
    let needs_length =
        !body.is_empty() || matches!(parts.method, Method::POST | Method::PUT | Method::PATCH);
    if needs_length {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    } else {
        headers.remove(CONTENT_LENGTH);
    }
    if !headers.contains_key(HOST) {
        if let Ok(host) = HeaderValue::from_str(&config.service.to_string()) {
            headers.insert(HOST, host);
        }
    }
    // The service gets origin-form (`/path?query`), as from any HTTP/1.1 client.
    if let Some(path_and_query) = parts.uri.path_and_query().cloned() {
        parts.uri = Uri::from(path_and_query);
    }
    parts.version = http::Version::HTTP_11;
    Request::from_parts(parts, body)
}

/// `uri` without the leading `base` when the path starts with it on a segment boundary:
/// with base `/prod`, `/prod/a` becomes `/a` and `/prod` becomes `/`, while `/production` stays.
pub(crate) fn remove_base_path(uri: &Uri, base: &str) -> Uri {
    let path = uri.path();
    let rest = match path.strip_prefix(base) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => return uri.clone(),
    };
    let text = match uri.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_owned(),
    };
    match text.parse::<PathAndQuery>() {
        Ok(path_and_query) => Uri::from(path_and_query),
        Err(_) => uri.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_path_only_on_segment_boundaries() {
        let cases = [
            ("/prod/a/b?x=1&x=2", "/a/b?x=1&x=2"),
            ("/prod", "/"),
            ("/prod?q", "/?q"),
            ("/prod/", "/"),
            ("/production/a", "/production/a"),
            ("/other/prod/a", "/other/prod/a"),
        ];
        for (input, expected) in cases {
            let uri: Uri = input.parse().unwrap();
            assert_eq!(
                remove_base_path(&uri, "/prod").to_string(),
                expected,
                "{input}"
            );
        }
    }
}
