//! The `aws` invoker: aws-sdk-lambda with aws-config's default credential chain, SDK retries off
//! (ours only retry errors raised before the function ran), one pooled HTTP client shared by a
//! client per region.

use std::collections::HashMap;
use std::sync::Mutex;

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

use super::{InvokeFailure, Invoked, StreamFailure, Streamed, Target};
use crate::config::AwsSettings;

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
            builder = builder.endpoint_url(url);
        }
        let client = Client::from_conf(builder.build());
        clients.insert(key, client.clone());
        Ok(client)
    }
}

/// Invoke (RequestResponse or Event).
pub(super) async fn invoke(
    client: &Client,
    target: &Target,
    payload: Bytes,
) -> Result<Invoked, InvokeFailure> {
    let invocation_type = if target.asynchronous {
        InvocationType::Event
    } else {
        InvocationType::RequestResponse
    };
    let output = client
        .invoke()
        .function_name(&target.function)
        .set_qualifier(target.qualifier.clone())
        .invocation_type(invocation_type)
        .payload(Blob::new(payload))
        .send()
        .await
        .map_err(|e| {
            classify(e, |err| match err {
                InvokeError::TooManyRequestsException(t) => t.retry_after_seconds(),
                _ => None,
            })
        })?;
    Ok(Invoked {
        request_id: output.request_id().map(str::to_owned),
        executed_version: output.executed_version().map(str::to_owned),
        function_error: output.function_error().map(str::to_owned),
        payload: output
            .payload
            .map(|blob| Bytes::from(blob.into_inner()))
            .unwrap_or_default(),
    })
}

/// InvokeWithResponseStream: answers once the stream has started; chunks follow as they arrive.
pub(super) async fn invoke_stream(
    client: &Client,
    target: &Target,
    payload: Bytes,
) -> Result<Streamed, InvokeFailure> {
    let output = client
        .invoke_with_response_stream()
        .function_name(&target.function)
        .set_qualifier(target.qualifier.clone())
        .payload(Blob::new(payload))
        .send()
        .await
        .map_err(|e| {
            classify(e, |err| match err {
                InvokeWithResponseStreamError::TooManyRequestsException(t) => {
                    t.retry_after_seconds()
                }
                _ => None,
            })
        })?;
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
                            return Some((Ok(Bytes::from(blob.into_inner())), Some(receiver)));
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

/// Lambda's errors by code. Messages carry the code and Lambda's message only (never request
/// headers, so never credentials). `retry_after` reads a service error's `retryAfterSeconds`
/// (each operation has its own error enum).
fn classify<E, R>(
    error: SdkError<E, R>,
    retry_after: impl FnOnce(&E) -> Option<&str>,
) -> InvokeFailure
where
    E: ProvideErrorMetadata + std::error::Error,
{
    match &error {
        SdkError::ServiceError(ctx) => {
            let err = ctx.err();
            let code = err.code().unwrap_or("Unknown").to_owned();
            let message = format!(
                "{code}: {}",
                first_line(err.message().unwrap_or("no message"))
            );
            by_code(
                &code,
                message,
                retry_after(err).and_then(|s| s.trim().parse().ok()),
            )
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
    let mut end = line.len().min(MAX_MESSAGE);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].to_owned()
}

/// One classification for both operations and for the local invoker's error types.
pub(super) fn by_code(code: &str, message: String, retry_after: Option<u64>) -> InvokeFailure {
    match code {
        "TooManyRequestsException" | "EC2ThrottledException" => InvokeFailure::Throttled {
            retry_after,
            message,
        },
        "ServiceException"
        | "EC2UnexpectedException"
        | "ENILimitReachedException"
        | "ResourceNotReadyException"
        | "SnapStartNotReadyException"
        | "InternalFailure"
        | "ServiceUnavailable" => InvokeFailure::Service { message },
        "ResourceNotFoundException" => InvokeFailure::NotFound { message },
        "AccessDeniedException"
        | "AccessDeniedException:"
        | "KMSAccessDeniedException"
        | "EC2AccessDeniedException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "ExpiredTokenException"
        | "MissingAuthenticationTokenException" => InvokeFailure::AccessDenied { message },
        "RequestTooLargeException"
        | "RequestEntityTooLargeException"
        | "SerializedRequestEntityTooLargeException" => InvokeFailure::TooLarge { message },
        _ => InvokeFailure::Other { message },
    }
}
