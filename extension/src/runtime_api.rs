//! The Lambda Runtime API (`2018-06-01`): next invocation, response, error, streamed response.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use tokio::time::{timeout_at, Instant};

use crate::api_client::{shortened, ApiClient, ApiError, Wait, CALL_TIMEOUT_LIMIT};
use crate::body::OutBody;
use crate::buffer::{ReadError, Reusable};
use crate::error::ErrorReport;

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";
/// Trailer naming a streamed response's error type.
pub(crate) const STREAM_ERROR_TYPE_TRAILER: &str = "lambda-runtime-function-error-type";
/// Trailer carrying a streamed response's error body, base64-encoded.
pub(crate) const STREAM_ERROR_BODY_TRAILER: &str = "lambda-runtime-function-error-body";

/// One invocation as `invocation/next` hands it out.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub(crate) request_id: String,
    /// `Lambda-Runtime-Deadline-Ms`: the deadline in milliseconds since the Unix epoch.
    pub(crate) deadline_ms: u64,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub(crate) invoked_function_arn: String,
    /// `Lambda-Runtime-Trace-Id`.
    pub(crate) trace_id: Option<String>,
    /// `Lambda-Runtime-Client-Context` (JSON).
    pub(crate) client_context: Option<String>,
    /// `Lambda-Runtime-Cognito-Identity` (JSON).
    pub(crate) cognito_identity: Option<String>,
    /// `Lambda-Runtime-Aws-Tenant-Id`.
    pub(crate) tenant_id: Option<String>,
    /// The event.
    pub(crate) event: Bytes,
}

impl Invocation {
    fn from_parts(headers: &HeaderMap, event: Bytes) -> Result<Self, ApiError> {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let bad = |reason: &str| ApiError::BadAnswer {
            what: "invocation/next",
            reason: reason.to_owned(),
        };
        let request_id = text("lambda-runtime-aws-request-id")
            .ok_or_else(|| bad("no Lambda-Runtime-Aws-Request-Id header"))?;
        let deadline_ms = text("lambda-runtime-deadline-ms")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad("no valid Lambda-Runtime-Deadline-Ms header"))?;
        Ok(Invocation {
            request_id,
            deadline_ms,
            invoked_function_arn: text("lambda-runtime-invoked-function-arn").unwrap_or_default(),
            trace_id: text("lambda-runtime-trace-id"),
            client_context: text("lambda-runtime-client-context"),
            cognito_identity: text("lambda-runtime-cognito-identity"),
            tenant_id: text("lambda-runtime-aws-tenant-id"),
            event,
        })
    }
}

/// Client of the Runtime API.
#[derive(Debug)]
pub(crate) struct RuntimeApi {
    client: ApiClient,
    event_buffer: Reusable,
    /// The request id and deadline of the invocation `next` handed out last: they bound its
    /// streamed response.
    current: Option<(String, Instant)>,
}

impl RuntimeApi {
    /// A client of the Runtime API at `authority` (`host:port`), with the default call timeout.
    pub(crate) fn new(authority: impl Into<String>) -> Self {
        RuntimeApi {
            client: ApiClient::new(authority),
            event_buffer: Reusable::default(),
            current: None,
        }
    }

    /// The same client with `timeout` bounding connecting and each call but `next` (see
    /// [`ApiClient::with_timeout`]).
    pub(crate) fn with_timeout(mut self, timeout: Duration) -> Self {
        self.client = self.client.with_timeout(timeout);
        self
    }

    /// Waits for the next invocation: as long as it takes (a long poll), but a connection that
    /// closes under the wait fails it with [`ApiError::Closed`]. Once the answer's head has
    /// come, its body (the event) must arrive within the call timeout.
    pub(crate) async fn next(&mut self) -> Result<Invocation, ApiError> {
        let what = "invocation/next";
        let request = self
            .client
            .request(Method::GET, NEXT)
            .body(OutBody::empty())
            .map_err(|source| ApiError::Build { what, source })?;
        let (parts, body) = self
            .client
            .send(what, request, Wait::LongPoll)
            .await?
            .into_parts();
        let timeout = self.client.timeout();
        let end = ApiClient::deadline_after(timeout);
        let event = match timeout_at(end, self.event_buffer.read(body, usize::MAX)).await {
            Ok(Ok(event)) => event,
            Ok(Err(ReadError::Body(source))) => return Err(ApiError::from_hyper(what, source)),
            Ok(Err(ReadError::TooLarge)) => {
                return Err(ApiError::BadAnswer {
                    what,
                    reason: "event too large".to_owned(),
                })
            }
            Err(_) => return Err(self.client.timed_out(what, timeout, CALL_TIMEOUT_LIMIT)),
        };
        if parts.status != StatusCode::OK {
            return Err(ApiError::Status {
                what,
                status: parts.status,
                body: shortened(&event),
            });
        }
        let invocation = Invocation::from_parts(&parts.headers, event)?;
        self.current = Some((
            invocation.request_id.clone(),
            instant_of_epoch_ms(invocation.deadline_ms),
        ));
        Ok(invocation)
    }

    /// Takes back an invocation's event buffer for the next invocation, once nothing else refers
    /// to it (see `buffer`).
    pub(crate) fn recycle(&mut self, event: Bytes) {
        self.event_buffer.give_back(event);
    }

    /// Posts the result of invocation `request_id`.
    pub(crate) async fn respond(
        &mut self,
        request_id: &str,
        result: Bytes,
    ) -> Result<(), ApiError> {
        let what = "invocation/response";
        let request = self
            .client
            .request(
                Method::POST,
                &format!("/2018-06-01/runtime/invocation/{request_id}/response"),
            )
            .body(OutBody::full(result))
            .map_err(|source| ApiError::Build { what, source })?;
        self.client
            .exchange(what, request, StatusCode::ACCEPTED, Wait::Call)
            .await
            .map(drop)
    }

    /// Posts invocation `request_id`'s failure.
    pub(crate) async fn respond_error(
        &mut self,
        request_id: &str,
        report: &ErrorReport,
    ) -> Result<(), ApiError> {
        let what = "invocation/error";
        let request = self
            .client
            .request(
                Method::POST,
                &format!("/2018-06-01/runtime/invocation/{request_id}/error"),
            )
            .header(ERROR_TYPE_HEADER, report.error_type)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(OutBody::full(report.to_json()))
            .map_err(|source| ApiError::Build { what, source })?;
        self.client
            .exchange(what, request, StatusCode::ACCEPTED, Wait::Call)
            .await
            .map(drop)
    }

    /// Posts invocation `request_id`'s result as a stream: `body` is fed by the caller, and may
    /// end with the error trailers. Returns once Lambda has answered: by the invocation's
    /// deadline plus the call timeout (the time to post the error trailers and hear back), or
    /// within the call timeout for a request id `next` did not hand out.
    pub(crate) async fn respond_stream(
        &mut self,
        request_id: &str,
        content_type: &str,
        body: OutBody,
    ) -> Result<(), ApiError> {
        let what = "invocation/response (streaming)";
        let request = self
            .client
            .request(
                Method::POST,
                &format!("/2018-06-01/runtime/invocation/{request_id}/response"),
            )
            .header("lambda-runtime-function-response-mode", "streaming")
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::TRANSFER_ENCODING, "chunked")
            .header(http::header::TRAILER, STREAM_ERROR_TYPE_TRAILER)
            .header(http::header::TRAILER, STREAM_ERROR_BODY_TRAILER)
            .body(body)
            .map_err(|source| ApiError::Build { what, source })?;
        let wait = match &self.current {
            Some((id, deadline)) if id == request_id => {
                Wait::Until(deadline_plus(*deadline, self.client.timeout()))
            }
            _ => Wait::Call,
        };
        self.client
            .exchange(what, request, StatusCode::ACCEPTED, wait)
            .await
            .map(drop)
    }
}

/// The instant of `deadline_ms` (milliseconds since the Unix epoch); now when it has passed.
fn instant_of_epoch_ms(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    deadline_plus(Instant::now(), left)
}

/// `instant + extra`, saturating far ahead instead of overflowing.
fn deadline_plus(instant: Instant, extra: Duration) -> Instant {
    instant
        .checked_add(extra)
        .unwrap_or_else(|| ApiClient::deadline_after(extra))
}
