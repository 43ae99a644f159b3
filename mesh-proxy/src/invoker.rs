//! Invokers: how an event reaches a function. `aws` calls Lambda (signed with aws-sigv4); `local`
//! calls the embedded emulator in-process. Both answer with the same outcomes and failures, and
//! share one retry loop.

mod aws;
mod backoff;
mod local;

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::HeaderValue;
use tokio::time::Instant;

use crate::config::InvocationMode;
use crate::metrics::UpstreamMetrics;

pub(crate) use aws::{https_client, HttpsClient};
pub use aws::{AwsClients, AwsError, Lambda};
pub use backoff::Backoff;
pub use local::LocalInvoker;

/// Chunks of a streamed result; an `Err` is the last item and means the function failed mid-stream.
pub type ChunkStream =
    Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, StreamFailure>> + Send>>;

/// The function a request goes to and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Function name or unqualified ARN.
    pub function: String,
    /// Alias or version.
    pub qualifier: Option<String>,
    /// `RequestResponse` or `Event`.
    pub mode: InvocationMode,
}

/// A synchronous or asynchronous invoke's answer.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// The AWS request id.
    pub request_id: Option<String>,
    /// `X-Amz-Executed-Version`.
    pub executed_version: Option<String>,
    /// The result (or the function's error JSON).
    pub payload: Bytes,
    /// `X-Amz-Function-Error`.
    pub function_error: Option<String>,
}

/// A streaming invoke's answer, once the stream has started.
pub struct Streamed {
    /// The AWS request id.
    pub request_id: Option<String>,
    /// `X-Amz-Executed-Version`.
    pub executed_version: Option<String>,
    /// The function's `Content-Type`.
    pub content_type: Option<String>,
    /// The chunks.
    pub chunks: ChunkStream,
}

/// A mid-stream failure (`InvokeComplete` with an error, or a broken event stream).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {details}")]
pub struct StreamFailure {
    /// `ErrorCode`.
    pub code: String,
    /// `ErrorDetails`.
    pub details: String,
}

/// Lambda refused or failed an invoke (function errors are not failures: they are results).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeFailure {
    /// `TooManyRequestsException` and the like.
    #[error("throttled: {message}")]
    Throttled {
        /// `retryAfterSeconds`.
        retry_after: Option<u64>,
        /// Lambda's message.
        message: String,
    },
    /// A service-side error raised before the function ran, or a request never sent.
    #[error("{message}")]
    Service {
        /// The error code and message.
        message: String,
    },
    /// No such function or qualifier.
    #[error("{message}")]
    NotFound {
        /// Lambda's message.
        message: String,
    },
    /// The credentials may not invoke it (or are not valid).
    #[error("{message}")]
    AccessDenied {
        /// Lambda's message.
        message: String,
    },
    /// The payload is over Lambda's limit.
    #[error("{message}")]
    TooLarge {
        /// Lambda's message.
        message: String,
    },
    /// Any other refusal or failure; not retried.
    #[error("{message}")]
    Other {
        /// The error code and message.
        message: String,
    },
}

impl InvokeFailure {
    /// Raised before the function ran, so another attempt is safe.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Service { .. })
    }
}

/// One of the invokers.
#[derive(Clone)]
pub enum Invoker {
    /// AWS Lambda (or an endpoint speaking its API).
    Aws(std::sync::Arc<Lambda>),
    /// The embedded emulator.
    Local(LocalInvoker),
}

impl std::fmt::Debug for Invoker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Invoker::Aws(_) => "Invoker::Aws",
            Invoker::Local(_) => "Invoker::Local",
        })
    }
}

/// Retry policy of one upstream.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Extra attempts after the first.
    pub retries: u32,
    /// The backoff between attempts.
    pub backoff: Backoff,
}

impl Invoker {
    /// Invoke (sync or async) with `trace` as `X-Amzn-Trace-Id`, retrying failures raised before
    /// the function ran while `deadline` allows.
    pub async fn invoke(
        &self,
        target: &Target,
        payload: Bytes,
        trace: &HeaderValue,
        policy: RetryPolicy,
        deadline: Instant,
        metrics: &Arc<UpstreamMetrics>,
    ) -> Result<Invoked, InvokeFailure> {
        retrying(policy, deadline, metrics, move || {
            let payload = payload.clone();
            async move {
                match self {
                    Invoker::Aws(client) => aws::invoke(client, target, payload, trace).await,
                    Invoker::Local(local) => local.invoke(target, payload, trace).await,
                }
            }
        })
        .await
    }

    /// InvokeWithResponseStream, with the same retries until the stream has started.
    pub async fn invoke_stream(
        &self,
        target: &Target,
        payload: Bytes,
        trace: &HeaderValue,
        policy: RetryPolicy,
        deadline: Instant,
        metrics: &Arc<UpstreamMetrics>,
    ) -> Result<Streamed, InvokeFailure> {
        retrying(policy, deadline, metrics, move || {
            let payload = payload.clone();
            async move {
                match self {
                    Invoker::Aws(client) => {
                        aws::invoke_stream(client, target, payload, trace).await
                    }
                    Invoker::Local(local) => local.invoke_stream(target, payload, trace).await,
                }
            }
        })
        .await
    }
}

async fn retrying<T, F, Fut>(
    policy: RetryPolicy,
    deadline: Instant,
    metrics: &Arc<UpstreamMetrics>,
    mut attempt: F,
) -> Result<T, InvokeFailure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, InvokeFailure>>,
{
    let mut tries = 0u32;
    loop {
        let failure = match attempt().await {
            Ok(value) => return Ok(value),
            Err(failure) => failure,
        };
        if matches!(failure, InvokeFailure::Throttled { .. }) {
            metrics.throttle();
        }
        if !failure.retryable() || tries >= policy.retries {
            return Err(failure);
        }
        let pause = policy.backoff.pause(tries);
        if Instant::now() + pause >= deadline {
            return Err(failure);
        }
        tries += 1;
        metrics.retry();
        tracing::debug!(attempt = tries, pause_ms = pause.as_millis() as u64, error = %failure, "retrying invoke");
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests;
