//! One upstream: its settings, invoker, concurrency limit and metrics, and the request path
//! HTTP request → event → Invoke → HTTP response, with one access-log line per request.

mod request;
mod response;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use lambda_mesh_adapter::{
    encode_request, RequestMeta, MAX_ASYNC_REQUEST_BYTES, MAX_SYNC_REQUEST_BYTES,
};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::body::Body;
use crate::config::{InvocationMode, UpstreamConfig};
use crate::error::ProxyError;
use crate::invoker::{Backoff, InvokeFailure, Invoker, RetryPolicy, Target};
use crate::metrics::UpstreamMetrics;

pub use request::{MAX_HEADERS, MAX_HEADER_BYTES};

/// Header carrying the request id (generated when the caller sent none).
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Header carrying `X-Amz-Executed-Version` back to the caller.
pub const EXECUTED_VERSION_HEADER: &str = "x-lambda-executed-version";
/// Header carrying the AWS request id of an asynchronous invoke's 202.
pub const AWS_REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// An upstream ready to serve: what one listener's requests use.
#[derive(Debug)]
pub struct Upstream {
    config: UpstreamConfig,
    target: Target,
    invoker: Invoker,
    limiter: Arc<Semaphore>,
    metrics: Arc<UpstreamMetrics>,
    backoff: Backoff,
}

/// What the access log needs from a handled request.
struct Outcome {
    response: Response<Body>,
    aws_request_id: Option<String>,
}

impl Upstream {
    /// An upstream invoking its function through `invoker`.
    pub fn new(config: UpstreamConfig, invoker: Invoker, metrics: Arc<UpstreamMetrics>) -> Self {
        let target = Target {
            function: config.function.clone(),
            qualifier: config.qualifier.clone(),
            asynchronous: config.invocation_mode == InvocationMode::Asynchronous,
        };
        Upstream {
            limiter: Arc::new(Semaphore::new(config.max_concurrency)),
            target,
            config,
            invoker,
            metrics,
            backoff: Backoff::default(),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &UpstreamConfig {
        &self.config
    }

    /// Serve one request; every failure becomes its mapped response here.
    pub async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Body> {
        let started = Instant::now();
        let request_id = request::request_id(request.headers());
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let _in_flight = self.metrics.in_flight();
        let (mut response, aws_request_id) = match self
            .serve(request, peer, &request_id, started)
            .await
        {
            Ok(outcome) => (outcome.response, outcome.aws_request_id),
            Err((error, aws_request_id)) => {
                if matches!(error, ProxyError::FunctionError { .. }) {
                    self.metrics.function_error();
                }
                tracing::debug!(upstream = %self.config.destination_name, request_id = %request_id, error = %error, "request failed");
                (error.into_response(), aws_request_id)
            }
        };
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response
                .headers_mut()
                .entry(REQUEST_ID_HEADER)
                .or_insert(value);
        }
        let status = response.status().as_u16();
        self.metrics.response(status);
        tracing::info!(
            target: "mesh_proxy::access",
            upstream = %self.config.destination_name,
            method = %method,
            path = %path,
            status,
            duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            request_id = %request_id,
            aws_request_id = aws_request_id.as_deref().unwrap_or("-"),
            "request"
        );
        response
    }

    async fn serve(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
        request_id: &str,
        started: Instant,
    ) -> Result<Outcome, (ProxyError, Option<String>)> {
        let fail = |e| (e, None);
        request::check_head(&request).map_err(fail)?;
        let _permit = self.limiter.clone().try_acquire_owned().map_err(|_| {
            fail(ProxyError::Overloaded {
                upstream: self.config.destination_name.clone(),
                limit: self.config.max_concurrency,
            })
        })?;
        let limit = match self.config.invocation_mode {
            InvocationMode::Synchronous => MAX_SYNC_REQUEST_BYTES,
            InvocationMode::Asynchronous => MAX_ASYNC_REQUEST_BYTES,
        };
        let deadline = started + self.config.timeout;
        let timeout = || ProxyError::Timeout {
            function: self.config.function.clone(),
            timeout: self.config.timeout,
        };
        let request =
            tokio::time::timeout_at(deadline, request::read(request, limit, peer, request_id))
                .await
                .map_err(|_| fail(timeout()))?
                .map_err(fail)?;
        let meta = RequestMeta {
            source_ip: Some(peer.ip()),
            request_id: Some(request_id.to_owned()),
            time_epoch_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .ok()
                .and_then(|d| u64::try_from(d.as_millis()).ok()),
        };
        let event = encode_request(&request, self.config.payload_format, &meta).map_err(|e| {
            fail(ProxyError::BadRequest {
                message: format!("cannot encode the request: {e}"),
            })
        })?;
        if event.len() > limit {
            return Err(fail(ProxyError::PayloadTooLarge { limit }));
        }
        let head_only = request.method() == http::Method::HEAD;
        drop(request);
        let policy = RetryPolicy {
            retries: self.config.retries,
            backoff: self.backoff,
        };
        let invoke_started = Instant::now();
        if self.config.response_streaming {
            let streamed = tokio::time::timeout_at(
                deadline,
                self.invoker
                    .invoke_stream(&self.target, event, policy, deadline, &self.metrics),
            )
            .await;
            self.metrics.invoke_latency(invoke_started.elapsed());
            let streamed = streamed
                .map_err(|_| fail(timeout()))?
                .map_err(|f| fail(self.failure(f)))?;
            let aws_request_id = streamed.request_id.clone();
            let response =
                response::streamed(streamed, self, deadline, idle_timeout(self.config.timeout))
                    .await
                    .map_err(|e| (e, aws_request_id.clone()))?;
            return Ok(Outcome {
                response,
                aws_request_id,
            });
        }
        let invoked = tokio::time::timeout_at(
            deadline,
            self.invoker
                .invoke(&self.target, event, policy, deadline, &self.metrics),
        )
        .await;
        self.metrics.invoke_latency(invoke_started.elapsed());
        let invoked = invoked
            .map_err(|_| fail(timeout()))?
            .map_err(|f| fail(self.failure(f)))?;
        let aws_request_id = invoked.request_id.clone();
        let response = response::buffered(invoked, self, head_only)
            .map_err(|e| (e, aws_request_id.clone()))?;
        Ok(Outcome {
            response,
            aws_request_id,
        })
    }

    /// An invoke failure in the caller's terms.
    fn failure(&self, failure: InvokeFailure) -> ProxyError {
        let function = self.config.function.clone();
        match failure {
            InvokeFailure::Throttled { retry_after, .. } => ProxyError::Throttled {
                function,
                retry_after,
            },
            InvokeFailure::NotFound { message } => {
                ProxyError::FunctionNotFound { function, message }
            }
            InvokeFailure::AccessDenied { message } => {
                ProxyError::AccessDenied { function, message }
            }
            InvokeFailure::TooLarge { .. } => ProxyError::PayloadTooLarge {
                limit: match self.config.invocation_mode {
                    InvocationMode::Synchronous => MAX_SYNC_REQUEST_BYTES,
                    InvocationMode::Asynchronous => MAX_ASYNC_REQUEST_BYTES,
                },
            },
            InvokeFailure::Service { message } | InvokeFailure::Other { message } => {
                ProxyError::Lambda { function, message }
            }
        }
    }

    pub(crate) fn metrics(&self) -> &Arc<UpstreamMetrics> {
        &self.metrics
    }
}

/// Longest pause allowed between two streamed chunks: the upstream's timeout.
fn idle_timeout(timeout: Duration) -> Duration {
    timeout
}
