use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::*;
use crate::metrics::Metrics;

fn policy(retries: u32) -> RetryPolicy {
    RetryPolicy {
        retries,
        backoff: Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(5),
        },
    }
}

fn throttled() -> InvokeFailure {
    InvokeFailure::Throttled {
        retry_after: Some(3),
        message: "slow down".into(),
    }
}

#[tokio::test]
async fn retryable_failures_are_retried_up_to_the_limit() {
    let metrics = Metrics::default();
    let m = metrics.upstream("u");
    let calls = AtomicU32::new(0);
    let deadline = Instant::now() + Duration::from_secs(5);
    let result: Result<(), _> = retrying(policy(2), deadline, &m, || async {
        calls.fetch_add(1, Ordering::SeqCst);
        Err(throttled())
    })
    .await;
    assert_eq!(result.unwrap_err(), throttled());
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let text = metrics.render();
    assert!(
        text.contains("mesh_proxy_retries_total{upstream=\"u\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("mesh_proxy_throttles_total{upstream=\"u\"} 3"),
        "{text}"
    );
}

#[tokio::test]
async fn a_success_after_a_service_error_is_returned() {
    let m = Metrics::default().upstream("u");
    let calls = AtomicU32::new(0);
    let deadline = Instant::now() + Duration::from_secs(5);
    let result = retrying(policy(2), deadline, &m, || async {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            Err(InvokeFailure::Service {
                message: "x".into(),
            })
        } else {
            Ok(7)
        }
    })
    .await;
    assert_eq!(result.unwrap(), 7);
}

#[tokio::test]
async fn other_failures_and_passed_deadlines_are_not_retried() {
    let m = Metrics::default().upstream("u");
    let calls = AtomicU32::new(0);
    let deadline = Instant::now() + Duration::from_secs(5);
    let result: Result<(), _> = retrying(policy(5), deadline, &m, || async {
        calls.fetch_add(1, Ordering::SeqCst);
        Err(InvokeFailure::NotFound {
            message: "x".into(),
        })
    })
    .await;
    assert!(matches!(result, Err(InvokeFailure::NotFound { .. })));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    calls.store(0, Ordering::SeqCst);
    let result: Result<(), _> = retrying(policy(5), Instant::now(), &m, || async {
        calls.fetch_add(1, Ordering::SeqCst);
        Err(throttled())
    })
    .await;
    assert!(result.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn typed_errors_are_classified() {
    use aws::Kind;
    use aws_sdk_lambda::operation::invoke::InvokeError;
    use aws_sdk_lambda::operation::invoke_with_response_stream::InvokeWithResponseStreamError;
    use aws_sdk_lambda::types::error as types;

    let failure = |kind: Option<Kind>, status: u16| {
        kind.unwrap_or_else(|| aws::kind_of_status(status))
            .failure(String::new())
    };
    let throttled = InvokeError::TooManyRequestsException(
        types::TooManyRequestsException::builder()
            .retry_after_seconds("3")
            .build(),
    );
    assert_eq!(aws::invoke_kind(&throttled), Some(Kind::Throttled(Some(3))));
    assert!(failure(aws::invoke_kind(&throttled), 429).retryable());
    let service = InvokeError::ServiceException(types::ServiceException::builder().build());
    assert!(failure(aws::invoke_kind(&service), 500).retryable());
    let missing = InvokeWithResponseStreamError::ResourceNotFoundException(
        types::ResourceNotFoundException::builder().build(),
    );
    assert!(matches!(
        failure(aws::stream_kind(&missing), 404),
        InvokeFailure::NotFound { .. }
    ));
    let too_large =
        InvokeError::RequestTooLargeException(types::RequestTooLargeException::builder().build());
    assert!(matches!(
        failure(aws::invoke_kind(&too_large), 413),
        InvokeFailure::TooLarge { .. }
    ));
    // Not modelled per operation (AccessDeniedException, InvalidSignatureException, …): by status.
    let denied = InvokeError::generic(
        aws_sdk_lambda::error::ErrorMetadata::builder()
            .code("AccessDeniedException")
            .build(),
    );
    assert_eq!(aws::invoke_kind(&denied), None);
    assert!(matches!(
        failure(aws::invoke_kind(&denied), 403),
        InvokeFailure::AccessDenied { .. }
    ));
    let content = InvokeError::InvalidRequestContentException(
        types::InvalidRequestContentException::builder().build(),
    );
    assert!(!failure(aws::invoke_kind(&content), 400).retryable());
}

#[test]
fn aws_messages_keep_only_their_first_line() {
    let message = "The request signature we calculated does not match. The Canonical String for this request should have been\n'POST\nx-amz-security-token:SECRET'";
    let kept = aws::first_line(message);
    assert!(
        !kept.contains("SECRET") && !kept.contains("Canonical"),
        "{kept}"
    );
    assert_eq!(aws::first_line(&"é".repeat(400)).len(), 300);
}
