//! The shapes an event can take, the formats the mesh side sends, and the options that steer them.

use std::net::IpAddr;

use serde::Deserialize;

/// The path a non-HTTP event (SQS, SNS, S3, EventBridge, …) is `POST`ed to by default.
pub const DEFAULT_PASS_THROUGH_PATH: &str = "/events";

/// Where an event came from; decides the result shape.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventShape {
    /// API Gateway REST API (payload format 1.0).
    ApiGatewayV1,
    /// API Gateway HTTP API (payload format 2.0).
    ApiGatewayV2,
    /// Lambda Function URL (payload format 2.0, `*.lambda-url.*` domain).
    FunctionUrl,
    /// Application Load Balancer target group.
    Alb {
        /// The target group has multi-value headers enabled (`multiValueHeaders` in the event).
        multi_value: bool,
    },
    /// Envoy's `aws_lambda` filter JSON.
    Envoy,
    /// Any other JSON: delivered as a `POST` of the raw event; the result is the response body.
    PassThrough,
}

/// Function-side decode options (builder).
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    pass_through_path: String,
}

impl DecodeOptions {
    /// Defaults: non-HTTP events go to [`DEFAULT_PASS_THROUGH_PATH`].
    pub fn new() -> Self {
        Self {
            pass_through_path: DEFAULT_PASS_THROUGH_PATH.to_owned(),
        }
    }

    /// The path non-HTTP events are `POST`ed to (a leading `/` is added when missing).
    pub fn with_pass_through_path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.pass_through_path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        self
    }

    /// The path non-HTTP events are `POST`ed to.
    pub fn pass_through_path(&self) -> &str {
        &self.pass_through_path
    }
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Mesh side: which event format mesh-proxy sends.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadFormat {
    /// API Gateway HTTP API payload format 2.0 (the default).
    #[default]
    V2,
    /// Envoy's `aws_lambda` filter JSON.
    Envoy,
    /// The request body (which must be JSON) is the event; the result is the response body.
    PassThrough,
}

/// Per-request facts the mesh side knows and the event carries (`requestContext.http.sourceIp`,
/// `requestContext.requestId`, `requestContext.timeEpoch`).
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// The caller's address.
    pub source_ip: Option<IpAddr>,
    /// The request id to put in the event.
    pub request_id: Option<String>,
    /// When the request arrived, in milliseconds since the Unix epoch.
    pub time_epoch_ms: Option<u64>,
}
