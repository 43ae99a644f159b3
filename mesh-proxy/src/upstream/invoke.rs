//! Stage 5, invoke: the event to the function through the upstream's invoker — buffered or as a
//! response stream — with retries, before the exchange's deadline; invoke failures in the
//! caller's terms.

use bytes::Bytes;
use tokio::time::Instant;

use super::{Exchange, Upstream};
use crate::error::ProxyError;
use crate::invoker::{InvokeFailure, Invoked, RetryPolicy, Streamed};

/// What the function answered, for the respond stage.
pub(super) enum Answer {
    /// A whole result (or the 202 of an `Event` invoke).
    Buffered(Invoked),
    /// A response stream that has started.
    Streamed(Streamed),
}

/// Invoke, recording the invoke latency and Lambda's request id on the exchange.
pub(super) async fn call(
    upstream: &Upstream,
    event: Bytes,
    exchange: &mut Exchange,
) -> Result<Answer, ProxyError> {
    let policy = RetryPolicy {
        retries: upstream.config.retries,
        backoff: upstream.backoff,
    };
    let (invoker, target, metrics) = (&upstream.invoker, &upstream.target, &upstream.metrics);
    let (deadline, trace) = (exchange.deadline, &exchange.trace);
    let started = Instant::now();
    let answer = if upstream.config.response_streaming {
        let streamed = invoker.invoke_stream(target, event, trace, policy, deadline, metrics);
        tokio::time::timeout_at(deadline, streamed)
            .await
            .map(|r| r.map(Answer::Streamed))
    } else {
        let invoked = invoker.invoke(target, event, trace, policy, deadline, metrics);
        tokio::time::timeout_at(deadline, invoked)
            .await
            .map(|r| r.map(Answer::Buffered))
    };
    metrics.invoke_latency(started.elapsed());
    let answer = answer
        .map_err(|_| upstream.timed_out())?
        .map_err(|f| failure(upstream, f))?;
    exchange.aws_request_id = match &answer {
        Answer::Buffered(invoked) => invoked.request_id.clone(),
        Answer::Streamed(streamed) => streamed.request_id.clone(),
    };
    Ok(answer)
}

/// An invoke failure in the caller's terms.
fn failure(upstream: &Upstream, failure: InvokeFailure) -> ProxyError {
    let function = upstream.config.function.clone();
    match failure {
        InvokeFailure::Throttled { retry_after, .. } => ProxyError::Throttled {
            function,
            retry_after,
        },
        InvokeFailure::NotFound { message } => ProxyError::FunctionNotFound { function, message },
        InvokeFailure::AccessDenied { message } => ProxyError::AccessDenied { function, message },
        InvokeFailure::TooLarge { .. } => ProxyError::PayloadTooLarge {
            limit: upstream.target.mode.request_limit(),
        },
        InvokeFailure::Service { message } | InvokeFailure::Other { message } => {
            ProxyError::Lambda { function, message }
        }
    }
}
