//! The admin listener: `/healthz` (the process answers), `/ready` (config loaded and every
//! listener bound), `/metrics` (Prometheus text).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::{header, Method, Request, Response, StatusCode};

use crate::body::{self, Body};
use crate::metrics::Metrics;

/// Prometheus text exposition format.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the admin endpoints report on.
#[derive(Debug, Clone, Default)]
pub struct AdminState {
    /// Set once the config is loaded and every listener is bound.
    pub ready: Arc<AtomicBool>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
}

/// Answer one admin request.
pub fn handle<B>(state: &AdminState, request: &Request<B>) -> Response<Body> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "method not allowed\n".into(),
        );
    }
    match request.uri().path() {
        "/healthz" => text(StatusCode::OK, "text/plain", "ok\n".into()),
        "/ready" if state.ready.load(Ordering::Acquire) => {
            text(StatusCode::OK, "text/plain", "ready\n".into())
        }
        "/ready" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "not ready\n".into(),
        ),
        "/metrics" => text(StatusCode::OK, METRICS_CONTENT_TYPE, state.metrics.render()),
        _ => text(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(body::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn get(state: &AdminState, path: &str) -> (StatusCode, String) {
        let request = Request::get(path).body(()).unwrap();
        let response = handle(state, &request);
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn endpoints_answer() {
        let state = AdminState::default();
        assert_eq!(get(&state, "/healthz").await.0, StatusCode::OK);
        assert_eq!(
            get(&state, "/ready").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        state.ready.store(true, Ordering::Release);
        assert_eq!(get(&state, "/ready").await.0, StatusCode::OK);
        state.metrics.upstream("a").response(200);
        let (status, text) = get(&state, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(text.contains("mesh_proxy_requests_total{upstream=\"a\",status=\"200\"} 1"));
        assert_eq!(get(&state, "/nope").await.0, StatusCode::NOT_FOUND);
    }
}
