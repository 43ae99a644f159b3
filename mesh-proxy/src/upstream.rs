//! One upstream and the path its requests take: a short pipeline of stages over one [`Exchange`]
//! — limits → authorize → read body → build event → invoke → respond — in [`Upstream::serve`].
//! Every failure becomes a response in one place ([`ProxyError::into_response`]) and every request
//! one access-log line. A new concern is a new stage (a module here), not a branch in another.

mod authorize;
mod event;
mod invoke;
mod limits;
mod read;
mod record;
mod response;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use http::{HeaderValue, Method, Request, Response};
use hyper::body::Incoming;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::body::Body;
use crate::config::UpstreamConfig;
use crate::error::ProxyError;
use crate::invoker::{Backoff, Invoker, Target};
use crate::metrics::UpstreamMetrics;

pub(crate) use authorize::SidecarCheck;
pub use limits::{MAX_HEADERS, MAX_HEADER_BYTES};

/// Header carrying the request id (generated when the caller sent none).
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Header carrying `X-Amz-Executed-Version` back to the caller.
pub const EXECUTED_VERSION_HEADER: &str = "x-lambda-executed-version";
/// Header carrying the AWS request id of an asynchronous invoke's 202.
pub const AWS_REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// An upstream ready to serve: what one listener's requests use.
#[derive(Debug)]
pub(crate) struct Upstream {
    config: UpstreamConfig,
    target: Target,
    invoker: Invoker,
    limiter: Arc<Semaphore>,
    metrics: Arc<UpstreamMetrics>,
    backoff: Backoff,
    /// The sidecar path's intentions, when checked: set at start and by every reload, so a kept
    /// upstream gets the new config's.
    sidecar: RwLock<Option<Arc<SidecarCheck>>>,
}

/// One request's state as it passes the stages.
#[derive(Debug)]
struct Exchange {
    peer: SocketAddr,
    request_id: String,
    /// The upstream's `timeout` runs from here, retries and streaming prelude included.
    deadline: Instant,
    /// Lambda's request id, once Lambda answered: logged even when the answer is an error.
    aws_request_id: Option<String>,
    /// The Invoke call's `X-Amzn-Trace-Id` (from the caller's trace context, or a new trace).
    trace: HeaderValue,
}

impl Upstream {
    /// An upstream invoking its function through `invoker`.
    pub(crate) fn new(
        config: UpstreamConfig,
        invoker: Invoker,
        metrics: Arc<UpstreamMetrics>,
    ) -> Self {
        let target = Target {
            function: config.function.clone(),
            qualifier: config.qualifier.clone(),
            mode: config.invocation_mode,
        };
        Upstream {
            limiter: Arc::new(Semaphore::new(config.max_concurrency)),
            target,
            config,
            invoker,
            metrics,
            backoff: Backoff::default(),
            sidecar: RwLock::new(None),
        }
    }

    /// Its configuration.
    pub(crate) fn config(&self) -> &UpstreamConfig {
        &self.config
    }

    /// Check its requests against `check` from now on (`None`: stop checking).
    pub(crate) fn set_sidecar(&self, check: Option<Arc<SidecarCheck>>) {
        if check.is_some() {
            self.metrics.mark_linked();
        }
        *self.sidecar.write().unwrap_or_else(|e| e.into_inner()) = check;
    }

    /// The sidecar intentions in force.
    fn sidecar(&self) -> Option<Arc<SidecarCheck>> {
        self.sidecar
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Serve one request: the stages, then the error mapping; the access log follows once the
    /// response is written or aborted (`record.rs`).
    pub(crate) async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Body> {
        let started = Instant::now();
        let mut exchange = Exchange {
            peer,
            request_id: read::request_id(request.headers()),
            deadline: started + self.config.timeout,
            aws_request_id: None,
            trace: crate::trace::invoke_header(request.headers()),
        };
        let record = record::Record::new(self.clone(), &request);
        let mut response = match self.serve(request, &mut exchange).await {
            Ok(response) => response,
            Err(error) => {
                if matches!(error, ProxyError::FunctionError { .. }) {
                    self.metrics.function_error();
                }
                // Caller-controlled values are recorded as strings, never `%` (Display): the text
                // format quotes and escapes strings, so no value can forge another field.
                tracing::debug!(upstream = %self.config.destination_name, request_id = exchange.request_id.as_str(), error = error.to_string().as_str(), "request failed");
                error.into_response()
            }
        };
        if let Ok(value) = HeaderValue::from_str(&exchange.request_id) {
            response
                .headers_mut()
                .entry(REQUEST_ID_HEADER)
                .or_insert(value);
        }
        record.answer(exchange, response)
    }

    /// The stages, in order. Each refuses with a [`ProxyError`] or hands on what the next needs.
    async fn serve(
        &self,
        request: Request<Incoming>,
        exchange: &mut Exchange,
    ) -> Result<Response<Body>, ProxyError> {
        let mut request = request;
        let _permit = limits::admit(self, &request)?;
        authorize::check(self, &mut request)?;
        let request = read::body(self, request, exchange).await?;
        let head_only = request.method() == Method::HEAD;
        let event = event::build(self, &request, exchange)?;
        drop(request);
        let answer = invoke::call(self, event, exchange).await?;
        response::respond(&self.answering(exchange.deadline), answer, head_only).await
    }

    /// The upstream's `timeout` passed: the one answer for every stage that runs out of it.
    fn timed_out(&self) -> ProxyError {
        ProxyError::Timeout {
            function: self.config.function.clone(),
            timeout: self.config.timeout,
        }
    }

    /// What the respond stage needs to know of this upstream.
    fn answering(&self, deadline: Instant) -> response::Answering<'_> {
        response::Answering {
            upstream: &self.config.destination_name,
            target: &self.target,
            format: self.config.payload_format,
            timeout: self.config.timeout,
            deadline,
            metrics: &self.metrics,
        }
    }
}
