//! The running emulator: functions, their environments, and the Invoke API entry points.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use crate::async_queue::AsyncQueue;
use crate::config::EmulatorConfig;
use crate::environment::Job;
use crate::function::{FunctionSpec, ACCOUNT, REGION};
use crate::invoke::{
    EmulatorError, InvocationType, InvokeError, InvokeRequest, InvokeResponse, StreamError,
    StreamingInvoke, MAX_ASYNC_REQUEST_BYTES, MAX_RESPONSE_BYTES, MAX_SYNC_REQUEST_BYTES,
};
use crate::pool::{Answer, Answered, Pool};
use crate::sandbox::RuntimeResult;

/// Lambda's limit on the decoded client context (3,583 bytes).
const MAX_CLIENT_CONTEXT_BYTES: usize = 3583;

/// A running emulator (cheap to clone).
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

struct Inner {
    functions: HashMap<String, Function>,
    stop: watch::Sender<bool>,
}

struct Function {
    pool: Arc<Pool>,
    queue: AsyncQueue,
}

/// A resolved invoke target.
struct Target<'a> {
    function: &'a Function,
    executed_version: String,
    invoked_arn: String,
}

impl Emulator {
    /// Prepare every function and start one warm environment each (init failures are logged and
    /// show up again on the first invoke).
    pub async fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        Self::start_with_hook(config, |_, _| {}).await
    }

    /// [`Emulator::start`], calling `on_ready(name, init time or failure)` as each function's first
    /// environment becomes ready.
    pub async fn start_with_hook(
        config: EmulatorConfig,
        on_ready: impl Fn(&str, Result<Duration, String>) + Send + Sync + 'static,
    ) -> Result<Emulator, EmulatorError> {
        config.validate()?;
        let (stop, _) = watch::channel(false);
        let mut functions = HashMap::new();
        for function in config.functions {
            let name = function.name.clone();
            let spec =
                FunctionSpec::prepare(function).map_err(|source| EmulatorError::Prepare {
                    function: name.clone(),
                    source,
                })?;
            let pool = Pool::new(Arc::new(spec));
            let queue = AsyncQueue::start(pool.clone(), stop.subscribe());
            functions.insert(name, Function { pool, queue });
        }
        let emulator = Emulator {
            inner: Arc::new(Inner { functions, stop }),
        };
        let on_ready = Arc::new(on_ready);
        let mut warm_ups = tokio::task::JoinSet::new();
        for (name, function) in &emulator.inner.functions {
            let pool = function.pool.clone();
            let name = name.clone();
            let on_ready = on_ready.clone();
            warm_ups.spawn(async move {
                pool.warm_up().await;
                let result = pool.ready.borrow().clone();
                if let Some(result) = result {
                    let failed = result.is_err();
                    if let Err(e) = &result {
                        tracing::warn!(function = %name, error = %e, "init failed");
                    }
                    on_ready(&name, result);
                    if failed {
                        // Report the first environment that does become ready later.
                        let mut ready = pool.ready.subscribe();
                        tokio::spawn(async move {
                            if let Ok(r) = ready.wait_for(|r| matches!(r, Some(Ok(_)))).await {
                                if let Some(Ok(took)) = r.clone() {
                                    on_ready(&name, Ok(took));
                                }
                            }
                        });
                    }
                }
            });
        }
        while warm_ups.join_next().await.is_some() {}
        Ok(emulator)
    }

    /// Serve the Invoke API (the AWS wire protocol aws-sdk-lambda speaks) on this listener until shutdown.
    pub async fn serve_invoke_api(
        &self,
        listener: tokio::net::TcpListener,
    ) -> Result<(), EmulatorError> {
        let emulator = self.clone();
        crate::http_util::serve(listener, self.inner.stop.subscribe(), move |request| {
            crate::invoke_api::handle(emulator.clone(), request)
        })
        .await;
        Ok(())
    }

    /// In-process invoke (what the HTTP Invoke API calls too).
    pub async fn invoke(&self, request: InvokeRequest) -> Result<InvokeResponse, InvokeError> {
        self.running()?;
        let target = self.resolve(&request)?;
        let job = self.job(&request, &target)?;
        let mut response = InvokeResponse {
            request_id: job.request_id.clone(),
            executed_version: target.executed_version.clone(),
            ..InvokeResponse::default()
        };
        match request.invocation_type {
            InvocationType::DryRun => {
                response.status = 204;
                return Ok(response);
            }
            InvocationType::Event => {
                if !target.function.queue.push(job) {
                    return Err(InvokeError::TooManyRequests {
                        reason: "ConcurrentInvocationLimitExceeded".into(),
                        retry_after_seconds: 1,
                    });
                }
                response.status = 202;
                return Ok(response);
            }
            InvocationType::RequestResponse => {}
        }
        let pool = &target.function.pool;
        let permit = pool.sync_permit().await?;
        let answered = pool.run(permit, job).await;
        let Answered { answer, logs, .. } = answered;
        let (payload, error) = match answer {
            Answer::Result(RuntimeResult::Buffered(payload)) => (payload, false),
            Answer::Result(RuntimeResult::Error(payload)) | Answer::FunctionError(payload) => {
                (payload, true)
            }
            Answer::Result(RuntimeResult::Stream { body, .. }) => collect_stream(body).await,
        };
        response.status = 200;
        response.payload = payload;
        response.function_error = error.then(|| "Unhandled".to_owned());
        if request.log_tail {
            // Let the log readers catch up with what the process printed before answering.
            tokio::task::yield_now().await;
            response.log_result = logs.map(|l| l.tail_base64());
        }
        Ok(response)
    }

    /// In-process InvokeWithResponseStream: the function's chunks as they are written.
    pub async fn invoke_stream(
        &self,
        request: InvokeRequest,
    ) -> Result<StreamingInvoke, InvokeError> {
        self.running()?;
        let target = self.resolve(&request)?;
        let job = self.job(&request, &target)?;
        let request_id = job.request_id.clone();
        if request.invocation_type != InvocationType::RequestResponse {
            return Err(InvokeError::InvalidParameterValue {
                message: "Unsupported invocation type for InvokeWithResponseStream".into(),
            });
        }
        let pool = &target.function.pool;
        let permit = pool.sync_permit().await?;
        let Answered {
            answer,
            logs,
            finished,
        } = pool.run(permit, job).await;
        let (content_type, body) = match answer {
            Answer::Result(RuntimeResult::Stream { content_type, body }) => (content_type, body),
            Answer::Result(RuntimeResult::Buffered(payload)) => {
                let (tx, rx) = mpsc::channel(1);
                let _ = tx.try_send(Ok(payload));
                (None, rx)
            }
            Answer::Result(RuntimeResult::Error(payload)) | Answer::FunctionError(payload) => {
                let (tx, rx) = mpsc::channel(1);
                let _ = tx.try_send(Err(stream_error(&payload)));
                (None, rx)
            }
        };
        let log_result = match (request.log_tail, logs, finished) {
            (true, Some(logs), Some(finished)) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                tokio::spawn(async move {
                    let _ = finished.await;
                    let _ = tx.send(logs.tail_base64());
                });
                Some(rx)
            }
            _ => None,
        };
        Ok(StreamingInvoke {
            request_id,
            executed_version: target.executed_version,
            content_type,
            body,
            log_result,
        })
    }

    /// Spin every environment down (SIGTERM runtime, SHUTDOWN to extensions, SIGKILL after 2 s).
    pub async fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
        let mut tasks = tokio::task::JoinSet::new();
        for function in self.inner.functions.values() {
            let pool = function.pool.clone();
            tasks.spawn(async move { pool.shutdown().await });
        }
        while tasks.join_next().await.is_some() {}
    }

    /// The names of the configured functions.
    pub fn function_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.inner.functions.keys().cloned().collect();
        names.sort();
        names
    }

    /// Refuse work once [`Emulator::shutdown`] has begun.
    fn running(&self) -> Result<(), InvokeError> {
        if *self.inner.stop.borrow() {
            return Err(InvokeError::ServiceException {
                message: "the emulator is shutting down".into(),
            });
        }
        Ok(())
    }

    /// Find the function and qualifier an invoke names.
    fn resolve(&self, request: &InvokeRequest) -> Result<Target<'_>, InvokeError> {
        let (name, derived) = parse_function(&request.function);
        let qualifier = match (derived, request.qualifier.as_deref()) {
            (Some(a), Some(b)) if a != b => {
                return Err(InvokeError::InvalidParameterValue {
                    message: "The derived qualifier from the function name does not match the specified qualifier.".into(),
                })
            }
            (Some(q), _) | (None, Some(q)) => Some(q),
            (None, None) => None,
        };
        let base_arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}");
        let invoked_arn = match qualifier {
            Some(q) => format!("{base_arn}:{q}"),
            None => base_arn,
        };
        let not_found = || InvokeError::ResourceNotFound {
            message: format!("Function not found: {invoked_arn}"),
        };
        let function = self.inner.functions.get(name).ok_or_else(not_found)?;
        let executed_version = function
            .pool
            .spec
            .executed_version(qualifier)
            .ok_or_else(not_found)?;
        Ok(Target {
            function,
            executed_version,
            invoked_arn,
        })
    }

    /// Check the request's payload and client context and make the job.
    fn job(&self, request: &InvokeRequest, target: &Target<'_>) -> Result<Job, InvokeError> {
        let limit = match request.invocation_type {
            InvocationType::Event => MAX_ASYNC_REQUEST_BYTES,
            _ => MAX_SYNC_REQUEST_BYTES,
        };
        if request.payload.len() > limit {
            return Err(InvokeError::RequestTooLarge {
                message: format!(
                    "Request must be smaller than {limit} bytes for the InvokeFunction operation"
                ),
            });
        }
        let payload = if request.payload.iter().all(u8::is_ascii_whitespace) {
            Bytes::from_static(b"{}")
        } else {
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&request.payload) {
                return Err(InvokeError::InvalidRequestContent {
                    message: format!("Could not parse request body into json: Could not parse payload into json: {e}"),
                });
            }
            request.payload.clone()
        };
        let client_context = match &request.client_context {
            None => None,
            Some(encoded) => {
                let invalid = || InvokeError::InvalidParameterValue {
                    message: "Client context must be a valid Base64-encoded JSON object.".into(),
                };
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .map_err(|_| invalid())?;
                if decoded.len() > MAX_CLIENT_CONTEXT_BYTES {
                    return Err(InvokeError::InvalidParameterValue {
                        message: format!(
                            "Client context must be smaller than {MAX_CLIENT_CONTEXT_BYTES} bytes."
                        ),
                    });
                }
                serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&decoded)
                    .map_err(|_| invalid())?;
                Some(Bytes::from(decoded))
            }
        };
        Ok(Job {
            request_id: uuid::Uuid::new_v4().to_string(),
            payload,
            client_context,
            invoked_arn: target.invoked_arn.clone(),
            version: target.executed_version.clone(),
        })
    }
}

/// `name`, `name:qualifier`, `account:function:name[:q]`, or a full ARN → (name, qualifier).
fn parse_function(function: &str) -> (&str, Option<&str>) {
    let parts: Vec<&str> = function.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, _, "function", name] => (name, None),
        ["arn", _, "lambda", _, _, "function", name, q] => (name, Some(q)),
        [_, "function", name] => (name, None),
        [_, "function", name, q] => (name, Some(q)),
        [name, q] => (name, Some(q)),
        _ => (function, None),
    }
}

/// The InvokeComplete error for a function error payload.
fn stream_error(payload: &[u8]) -> StreamError {
    let error_code = serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| {
            v.get("errorType")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "Unhandled".to_owned());
    StreamError {
        error_code,
        error_details: String::from_utf8_lossy(payload).into_owned(),
    }
}

/// A streamed result read whole, as a buffered Invoke of a streaming function returns it.
async fn collect_stream(mut body: mpsc::Receiver<Result<Bytes, StreamError>>) -> (Bytes, bool) {
    let mut collected = Vec::new();
    while let Some(chunk) = body.recv().await {
        match chunk {
            Ok(chunk) => {
                collected.extend_from_slice(&chunk);
                if collected.len() > MAX_RESPONSE_BYTES {
                    let payload = serde_json::json!({
                        "errorMessage": format!("Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."),
                        "errorType": "Function.ResponseSizeTooLarge",
                    });
                    return (Bytes::from(payload.to_string()), true);
                }
            }
            Err(e) => {
                let payload = serde_json::json!({ "errorType": e.error_code, "errorMessage": e.error_details });
                return (Bytes::from(payload.to_string()), true);
            }
        }
    }
    (Bytes::from(collected), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_and_arns() {
        assert_eq!(parse_function("echo"), ("echo", None));
        assert_eq!(parse_function("echo:live"), ("echo", Some("live")));
        assert_eq!(parse_function("123456789012:function:echo"), ("echo", None));
        assert_eq!(
            parse_function("arn:aws:lambda:us-east-1:123456789012:function:echo:7"),
            ("echo", Some("7"))
        );
    }
}
