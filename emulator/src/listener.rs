//! The one loopback listener of an execution environment: the Runtime, Extensions and
//! Telemetry APIs, routed by path.

use std::sync::Arc;

use hyper::body::Incoming;

use crate::api::{EXTENSION_PREFIX, LOGS_PATH, RUNTIME_PREFIX, TELEMETRY_PATH};
use crate::http_util::{api_error, Body};
use crate::sandbox::Sandbox;
use crate::{extensions_api, runtime_api, telemetry_api};

/// Route one request of the environment's listener.
pub(crate) async fn route(
    sandbox: Arc<Sandbox>,
    request: http::Request<Incoming>,
) -> http::Response<Body> {
    let path = request.uri().path();
    if path.starts_with(RUNTIME_PREFIX) {
        return runtime_api::route(&sandbox, request).await;
    }
    if path.starts_with(EXTENSION_PREFIX) {
        return extensions_api::route(&sandbox, request).await;
    }
    if path.starts_with(TELEMETRY_PATH) || path.starts_with(LOGS_PATH) {
        return telemetry_api::subscribe(&sandbox, request).await;
    }
    api_error(404, "InvalidRequest", "Not found")
}
