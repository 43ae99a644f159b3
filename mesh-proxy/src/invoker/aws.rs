//! The `aws` invoker: aws-sdk-lambda with aws-config's default credential chain, SDK retries off
//! (ours only retry errors raised before the function ran), one pooled HTTP client shared by a
//! client per region.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_lambda::config::http::{HttpRequest, HttpResponse};
use aws_sdk_lambda::config::retry::RetryConfig;
use aws_sdk_lambda::config::{Region, StalledStreamProtectionConfig};
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::InvokeError;
use aws_sdk_lambda::operation::invoke_with_response_stream::InvokeWithResponseStreamError;
use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::types::{InvocationType, InvokeWithResponseStreamResponseEvent};
use aws_sdk_lambda::Client;
use aws_smithy_types::Blob;
use bytes::Bytes;
use http::HeaderValue;

use super::{InvokeFailure, Invoked, StreamFailure, Streamed, Target};
use crate::config::AwsSettings;
use crate::trace::XRAY;

/// The shared SDK config and one client per region, built from `[aws]`.
#[derive(Debug)]
pub struct AwsClients {
    settings: AwsSettings,
    sdk: aws_config::SdkConfig,
    clients: Mutex<HashMap<Option<String>, Client>>,
}

/// The aws invoker cannot be set up.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// Neither the ARN, `[aws] region` nor the default chain give a region.
    #[error("upstream `{upstream}`: no region: set [aws] region, MESH_PROXY_AWS_REGION or AWS_REGION, or use a function ARN")]
    NoRegion {
        /// The upstream.
        upstream: String,
    },
}

impl AwsClients {
    /// Load the default chain (env, profile, web identity, ECS, IMDS), honouring `[aws]`.
    pub async fn load(settings: &AwsSettings) -> AwsClients {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        AwsClients {
            settings: settings.clone(),
            sdk: loader.load().await,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The settings these clients were built from.
    pub fn settings(&self) -> &AwsSettings {
        &self.settings
    }

    /// The client for an ARN's region (or the configured one).
    pub fn client(&self, upstream: &str, arn_region: Option<&str>) -> Result<Client, AwsError> {
        let key = arn_region.map(str::to_owned);
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let region = match arn_region {
            Some(region) => Region::new(region.to_owned()),
            None => self
                .sdk
                .region()
                .cloned()
                .ok_or_else(|| AwsError::NoRegion {
                    upstream: upstream.to_owned(),
                })?,
        };
        let mut builder = aws_sdk_lambda::config::Builder::from(&self.sdk)
            .region(region)
            .retry_config(RetryConfig::disabled())
            // Streams may legitimately pause; the upstream's timeout bounds them instead.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
        if let Some(url) = &self.settings.endpoint_url {
            builder = builder.endpoint_url(endpoint(url));
        }
        let client = Client::from_conf(builder.build());
        clients.insert(key, client.clone());
        Ok(client)
    }
}

/// An endpoint URL as the SDK takes it: without the `/` that `Uri` shows for an empty path, so
/// request paths are not joined as `//2015-03-31/…`.
fn endpoint(url: &http::Uri) -> String {
    let text = url.to_string();
    match url.path_and_query().map(|p| p.as_str()) {
        None | Some("/") => text.trim_end_matches('/').to_owned(),
        _ => text,
    }
}

/// Invoke (RequestResponse or Event).
pub(super) async fn invoke(
    client: &Client,
    target: &Target,
    payload: Bytes,
    trace: &HeaderValue,
) -> Result<Invoked, InvokeFailure> {
    let invocation_type = if target.mode.is_asynchronous() {
        InvocationType::Event
    } else {
        InvocationType::RequestResponse
    };
    let output = client
        .invoke()
        .function_name(&target.function)
        .set_qualifier(target.qualifier.clone())
        .invocation_type(invocation_type)
        // Shares the event's allocation: no copy per attempt.
        .payload(Blob::from_maybe_shared(payload))
        .customize()
        .mutate_request(with_trace(trace))
        .send()
        .await
        .map_err(|e| classify(e, invoke_kind))?;
    Ok(Invoked {
        request_id: output.request_id().map(str::to_owned),
        executed_version: output.executed_version().map(str::to_owned),
        function_error: output.function_error().map(str::to_owned),
        payload: output.payload.map(Blob::into_bytes).unwrap_or_default(),
    })
}

/// Sets `X-Amzn-Trace-Id` on the SDK's request (before signing; SigV4 leaves it unsigned).
fn with_trace(trace: &HeaderValue) -> impl Fn(&mut HttpRequest) + Send + Sync + 'static {
    // `trace::invoke_header` makes it of hex digits, `=`, `;`, `-` and visible ASCII only.
    let trace = trace.to_str().unwrap_or_default().to_owned();
    move |request| {
        request.headers_mut().insert(XRAY, trace.clone());
    }
}

/// InvokeWithResponseStream: answers once the stream has started; chunks follow as they arrive.
pub(super) async fn invoke_stream(
    client: &Client,
    target: &Target,
    payload: Bytes,
    trace: &HeaderValue,
) -> Result<Streamed, InvokeFailure> {
    let output = client
        .invoke_with_response_stream()
        .function_name(&target.function)
        .set_qualifier(target.qualifier.clone())
        .payload(Blob::from_maybe_shared(payload))
        .customize()
        .mutate_request(with_trace(trace))
        .send()
        .await
        .map_err(|e| classify(e, stream_kind))?;
    let request_id = output.request_id().map(str::to_owned);
    let executed_version = output.executed_version().map(str::to_owned);
    let content_type = output.response_stream_content_type().map(str::to_owned);
    let receiver = output.event_stream;
    let chunks = futures_util::stream::unfold(Some(receiver), |state| async move {
        let mut receiver = state?;
        loop {
            match receiver.recv().await {
                Ok(Some(InvokeWithResponseStreamResponseEvent::PayloadChunk(update))) => {
                    match update.payload {
                        Some(blob) if !blob.as_ref().is_empty() => {
                            return Some((Ok(blob.into_bytes()), Some(receiver)));
                        }
                        _ => continue,
                    }
                }
                Ok(Some(InvokeWithResponseStreamResponseEvent::InvokeComplete(done))) => {
                    let code = done.error_code.filter(|c| !c.is_empty());
                    return match code {
                        Some(code) => Some((
                            Err(StreamFailure {
                                code,
                                details: done.error_details.unwrap_or_default(),
                            }),
                            None,
                        )),
                        None => None,
                    };
                }
                Ok(Some(_)) => continue,
                Ok(None) => return None,
                Err(e) => {
                    let failure = StreamFailure {
                        code: "StreamError".into(),
                        details: e
                            .as_service_error()
                            .and_then(|s| s.message())
                            .unwrap_or("the event stream broke")
                            .to_owned(),
                    };
                    return Some((Err(failure), None));
                }
            }
        }
    });
    Ok(Streamed {
        request_id,
        executed_version,
        content_type,
        chunks: Box::pin(chunks),
    })
}

/// What a Lambda error means for the caller and for retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Throttled, with `retryAfterSeconds` when Lambda gave it.
    Throttled(Option<u64>),
    /// Raised before the function ran: safe to retry.
    Service,
    NotFound,
    AccessDenied,
    TooLarge,
    Other,
}

/// Invoke's modelled errors; `None` for the rest, which are told apart by status.
pub(super) fn invoke_kind(error: &InvokeError) -> Option<Kind> {
    use InvokeError as E;
    Some(match error {
        E::TooManyRequestsException(t) => Kind::Throttled(retry_after(t.retry_after_seconds())),
        E::Ec2ThrottledException(_) => Kind::Throttled(None),
        E::ServiceException(_)
        | E::Ec2UnexpectedException(_)
        | E::EniLimitReachedException(_)
        | E::ResourceNotReadyException(_)
        | E::SnapStartNotReadyException(_) => Kind::Service,
        E::ResourceNotFoundException(_) => Kind::NotFound,
        E::KmsAccessDeniedException(_) | E::Ec2AccessDeniedException(_) => Kind::AccessDenied,
        E::RequestTooLargeException(_) | E::SerializedRequestEntityTooLargeException(_) => {
            Kind::TooLarge
        }
        _ => return None,
    })
}

/// InvokeWithResponseStream's modelled errors, as [`invoke_kind`].
pub(super) fn stream_kind(error: &InvokeWithResponseStreamError) -> Option<Kind> {
    use InvokeWithResponseStreamError as E;
    Some(match error {
        E::TooManyRequestsException(t) => Kind::Throttled(retry_after(t.retry_after_seconds())),
        E::Ec2ThrottledException(_) => Kind::Throttled(None),
        E::ServiceException(_)
        | E::Ec2UnexpectedException(_)
        | E::EniLimitReachedException(_)
        | E::ResourceNotReadyException(_)
        | E::SnapStartNotReadyException(_) => Kind::Service,
        E::ResourceNotFoundException(_) => Kind::NotFound,
        E::KmsAccessDeniedException(_) | E::Ec2AccessDeniedException(_) => Kind::AccessDenied,
        E::RequestTooLargeException(_) | E::SerializedRequestEntityTooLargeException(_) => {
            Kind::TooLarge
        }
        _ => return None,
    })
}

fn retry_after(seconds: Option<&str>) -> Option<u64> {
    seconds.and_then(|s| s.trim().parse().ok())
}

/// Errors Lambda does not model per operation (signature, token and authorization errors are
/// answered by the front end before the operation) by their HTTP status.
pub(super) fn kind_of_status(status: u16) -> Kind {
    match status {
        401 | 403 => Kind::AccessDenied,
        404 => Kind::NotFound,
        413 => Kind::TooLarge,
        429 => Kind::Throttled(None),
        // InternalFailure and ServiceUnavailable: Lambda's front end, before the function ran.
        500 | 503 => Kind::Service,
        _ => Kind::Other,
    }
}

impl Kind {
    /// The failure, with a message that carries the code and Lambda's message only (never
    /// request headers, so never credentials).
    pub(super) fn failure(self, message: String) -> InvokeFailure {
        match self {
            Kind::Throttled(retry_after) => InvokeFailure::Throttled {
                retry_after,
                message,
            },
            Kind::Service => InvokeFailure::Service { message },
            Kind::NotFound => InvokeFailure::NotFound { message },
            Kind::AccessDenied => InvokeFailure::AccessDenied { message },
            Kind::TooLarge => InvokeFailure::TooLarge { message },
            Kind::Other => InvokeFailure::Other { message },
        }
    }
}

/// An SDK error as a failure: service errors by their typed variant (`kind`) or status, the
/// rest by where the request got to.
fn classify<E>(
    error: SdkError<E, HttpResponse>,
    kind: impl FnOnce(&E) -> Option<Kind>,
) -> InvokeFailure
where
    E: ProvideErrorMetadata + std::error::Error,
{
    match &error {
        SdkError::ServiceError(ctx) => {
            let err = ctx.err();
            let message = format!(
                "{}: {}",
                err.code().unwrap_or("Unknown"),
                first_line(err.message().unwrap_or("no message"))
            );
            kind(err)
                .unwrap_or_else(|| kind_of_status(ctx.raw().status().as_u16()))
                .failure(message)
        }
        // The request never left: the function cannot have run.
        SdkError::DispatchFailure(failure) if failure.is_io() || failure.is_timeout() => {
            InvokeFailure::Service {
                message: "cannot reach the Lambda endpoint".into(),
            }
        }
        SdkError::DispatchFailure(_) => InvokeFailure::Other {
            message: "cannot send the invoke request (credentials or endpoint)".into(),
        },
        SdkError::TimeoutError(_) => InvokeFailure::Other {
            message: "the invoke request timed out".into(),
        },
        SdkError::ResponseError(_) => InvokeFailure::Other {
            message: "Lambda's response could not be read".into(),
        },
        _ => InvokeFailure::Other {
            message: "the invoke request could not be built".into(),
        },
    }
}

/// Longest Lambda error message passed on.
const MAX_MESSAGE: usize = 300;

/// The first line of an AWS error message, shortened. Signature errors go on to quote the
/// canonical request, whose signed headers include `x-amz-security-token`: never pass that on.
pub(super) fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or("").trim();
    let line = line
        .split("The Canonical String")
        .next()
        .unwrap_or("")
        .trim();
    lambda_mesh_adapter::truncate_utf8(line, MAX_MESSAGE).to_owned()
}
