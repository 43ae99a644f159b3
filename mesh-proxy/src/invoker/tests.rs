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
fn typed_stream_errors_are_classified() {
    use aws::Kind;
    use aws_sdk_lambda::operation::invoke_with_response_stream::InvokeWithResponseStreamError as E;
    use aws_sdk_lambda::types::error as types;

    let failure = |kind: Option<Kind>, status: u16| {
        kind.unwrap_or_else(|| aws::kind_of_status(status))
            .failure(String::new())
    };
    let throttled = E::TooManyRequestsException(
        types::TooManyRequestsException::builder()
            .retry_after_seconds("3")
            .build(),
    );
    assert_eq!(aws::stream_kind(&throttled), Some(Kind::Throttled(Some(3))));
    assert!(failure(aws::stream_kind(&throttled), 429).retryable());
    let service = E::ServiceException(types::ServiceException::builder().build());
    assert!(failure(aws::stream_kind(&service), 500).retryable());
    let missing = E::ResourceNotFoundException(types::ResourceNotFoundException::builder().build());
    assert!(matches!(
        failure(aws::stream_kind(&missing), 404),
        InvokeFailure::NotFound { .. }
    ));
    let too_large = E::RequestTooLargeException(types::RequestTooLargeException::builder().build());
    assert!(matches!(
        failure(aws::stream_kind(&too_large), 413),
        InvokeFailure::TooLarge { .. }
    ));
    // Not modelled per operation (AccessDeniedException, InvalidSignatureException, …): by status.
    let denied = E::generic(
        aws_sdk_lambda::error::ErrorMetadata::builder()
            .code("AccessDeniedException")
            .build(),
    );
    assert_eq!(aws::stream_kind(&denied), None);
    assert!(matches!(
        failure(aws::stream_kind(&denied), 403),
        InvokeFailure::AccessDenied { .. }
    ));
    let content =
        E::InvalidRequestContentException(types::InvalidRequestContentException::builder().build());
    assert!(!failure(aws::stream_kind(&content), 400).retryable());
}

/// Invoke's errors as Lambda writes them on the wire (restJson1).
#[test]
fn wire_errors_are_classified_by_code_then_status() {
    let answer = |status: u16, error_type: Option<&str>, body: &str| {
        let mut headers = http::HeaderMap::new();
        if let Some(t) = error_type {
            headers.insert("x-amzn-errortype", t.parse().unwrap());
        }
        aws::wire_failure(status, &headers, body.as_bytes())
    };
    assert_eq!(
        answer(
            429,
            Some("TooManyRequestsException:http://internal.amazon.com/coral/com.amazonaws.awsgatewayservice/"),
            r#"{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded.","retryAfterSeconds":"3"}"#,
        ),
        InvokeFailure::Throttled {
            retry_after: Some(3),
            message: "TooManyRequestsException: Rate Exceeded.".into()
        }
    );
    assert_eq!(
        answer(404, Some("ResourceNotFoundException"), r#"{"Type":"User","Message":"Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope"}"#),
        InvokeFailure::NotFound {
            message: "ResourceNotFoundException: Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope".into()
        }
    );
    // The code from the body when the header is missing, namespace dropped.
    assert!(matches!(
        answer(
            502,
            None,
            r#"{"__type":"aws.lambda#EC2UnexpectedException","message":"x"}"#
        ),
        InvokeFailure::Service { .. }
    ));
    assert!(answer(
        502,
        None,
        r#"{"__type":"aws.lambda#EC2UnexpectedException"}"#
    )
    .retryable());
    // Codes not modelled per operation go by status.
    assert!(matches!(
        answer(403, Some("AccessDeniedException"), r#"{"Message":"no"}"#),
        InvokeFailure::AccessDenied { .. }
    ));
    assert!(matches!(
        answer(
            403,
            Some("InvalidSignatureException"),
            r#"{"message":"Signature expired"}"#
        ),
        InvokeFailure::AccessDenied { .. }
    ));
    assert!(matches!(
        answer(413, Some("RequestEntityTooLargeException"), "{}"),
        InvokeFailure::TooLarge { .. }
    ));
    let content = answer(
        400,
        Some("InvalidRequestContentException"),
        r#"{"message":"Could not parse request body into json"}"#,
    );
    assert!(matches!(content, InvokeFailure::Other { .. }) && !content.retryable());
    // Retry-After when the body has no retryAfterSeconds; a body that is not JSON.
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::RETRY_AFTER, "7".parse().unwrap());
    assert!(matches!(
        aws::wire_failure(429, &headers, b"<html>slow down</html>"),
        InvokeFailure::Throttled {
            retry_after: Some(7),
            ..
        }
    ));
    assert_eq!(
        answer(503, None, "Service Unavailable"),
        InvokeFailure::Service {
            message: "Unknown: no message".into()
        }
    );
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
