//! The `aws` invoker. Invoke (RequestResponse and Event) goes over our own pooled hyper client,
//! signed with SigV4 ([`sigv4`]: aws-sigv4's key derivation and signature over a canonical
//! request written for our one shape) ([`wire`]); InvokeWithResponseStream goes through aws-sdk-lambda, whose
//! event-stream decoding it reuses. Both take credentials and region from aws-config's default
//! chain; neither retries by itself (ours only retry errors raised before the function ran).

mod credentials;
mod sigv4;
mod wire;

pub(crate) use wire::{https_client, HttpsClient};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_lambda::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use aws_sdk_lambda::config::http::{HttpRequest, HttpResponse};
use aws_sdk_lambda::config::retry::RetryConfig;
use aws_sdk_lambda::config::{Region, StalledStreamProtectionConfig};
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke_with_response_stream::InvokeWithResponseStreamError;
use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::types::InvokeWithResponseStreamResponseEvent;
use aws_sdk_lambda::Client;
use aws_smithy_types::Blob;
use bytes::Bytes;
use futures_util::FutureExt;
use http::HeaderValue;

use super::{InvokeFailure, StreamFailure, Streamed, Target};
use crate::config::AwsSettings;
use crate::trace::XRAY;
use credentials::CredentialCache;
use sigv4::Signer;
use wire::Endpoint;

#[cfg(test)]
pub(super) use wire::failure as wire_failure;
pub(crate) use wire::invoke;

/// The shared SDK config, HTTP client and credentials, and one [`Lambda`] per region, built
/// from `[aws]`.
#[derive(Debug)]
pub struct AwsClients {
    settings: AwsSettings,
    sdk: aws_config::SdkConfig,
    http: HttpsClient,
    credentials: Arc<CredentialCache>,
    regions: Mutex<HashMap<Option<String>, Arc<Lambda>>>,
}

/// One region's Lambda: where Invoke goes, and the SDK client for streaming.
pub struct Lambda {
    endpoint: Endpoint,
    http: HttpsClient,
    credentials: Arc<CredentialCache>,
    signer: Signer,
    sdk: Client,
}

impl Lambda {
    /// The SDK client of this region (discovery's ListFunctions and ListTags).
    pub(crate) fn sdk(&self) -> &Client {
        &self.sdk
    }
}

impl std::fmt::Debug for Lambda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lambda")
            .field("endpoint", &self.endpoint.base)
            .field("region", &self.endpoint.region)
            .finish_non_exhaustive()
    }
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
    /// The region's endpoint cannot be resolved (e.g. FIPS asked for where there is none).
    #[error("upstream `{upstream}`: no Lambda endpoint for region `{region}`: {reason}")]
    Endpoint {
        /// The upstream.
        upstream: String,
        /// The region.
        region: String,
        /// The endpoint resolver's reason.
        reason: String,
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
        let sdk = loader.load().await;
        AwsClients {
            settings: settings.clone(),
            credentials: Arc::new(CredentialCache::new(sdk.credentials_provider())),
            http: wire::https_client(),
            sdk,
            regions: Mutex::new(HashMap::new()),
        }
    }

    /// The settings these clients were built from.
    pub fn settings(&self) -> &AwsSettings {
        &self.settings
    }

    /// The Lambda of an ARN's region (or the configured one).
    pub fn client(
        &self,
        upstream: &str,
        arn_region: Option<&str>,
    ) -> Result<Arc<Lambda>, AwsError> {
        let key = arn_region.map(str::to_owned);
        let mut regions = self.regions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lambda) = regions.get(&key) {
            return Ok(Arc::clone(lambda));
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
        let endpoint_url = match &self.settings.endpoint_url {
            Some(url) => Some(endpoint(url)),
            None => self.sdk.endpoint_url().map(str::to_owned),
        };
        let mut builder = aws_sdk_lambda::config::Builder::from(&self.sdk)
            .region(region.clone())
            .retry_config(RetryConfig::disabled())
            // Streams may legitimately pause; the upstream's timeout bounds them instead.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
        if let Some(url) = &endpoint_url {
            builder = builder.endpoint_url(url);
        }
        let lambda = Arc::new(Lambda {
            endpoint: resolve(upstream, &region, &self.sdk, endpoint_url)?,
            http: self.http.clone(),
            credentials: Arc::clone(&self.credentials),
            signer: Signer::default(),
            sdk: Client::from_conf(builder.build()),
        });
        regions.insert(key, Arc::clone(&lambda));
        Ok(lambda)
    }
}

/// The region's endpoint by the SDK's own rules (partitions, FIPS, dual-stack, an endpoint URL).
fn resolve(
    upstream: &str,
    region: &Region,
    sdk: &aws_config::SdkConfig,
    endpoint_url: Option<String>,
) -> Result<Endpoint, AwsError> {
    let error = |reason: String| AwsError::Endpoint {
        upstream: upstream.to_owned(),
        region: region.to_string(),
        reason,
    };
    let params = Params::builder()
        .region(region.to_string())
        .use_fips(sdk.use_fips().unwrap_or(false))
        .use_dual_stack(sdk.use_dual_stack().unwrap_or(false))
        .set_endpoint(endpoint_url)
        .build()
        .map_err(|e| error(e.to_string()))?;
    let resolved = DefaultResolver::new()
        .resolve_endpoint(&params)
        .now_or_never()
        .ok_or_else(|| error("the resolver did not answer at once".into()))?
        .map_err(|e| error(e.to_string()))?;
    let url: http::Uri = resolved
        .url()
        .parse()
        .map_err(|e: http::uri::InvalidUri| error(e.to_string()))?;
    Endpoint::new(&url, region.to_string()).ok_or_else(|| error(format!("`{url}` has no host")))
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
    lambda: &Lambda,
    target: &Target,
    payload: Bytes,
    trace: &HeaderValue,
) -> Result<Streamed, InvokeFailure> {
    let output = lambda
        .sdk
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

/// InvokeWithResponseStream's modelled errors (the codes [`wire::kind_of_code`] reads for
/// Invoke); `None` for the rest, which are told apart by status.
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
