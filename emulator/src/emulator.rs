//! The running emulator: functions, their environments, and the Invoke API entry points.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use crate::async_queue::AsyncQueue;
use crate::config::EmulatorConfig;
use crate::function::FunctionSpec;
use crate::invoke::{
    EmulatorError, InvocationType, InvokeError, InvokeRequest, InvokeResponse, StreamError,
    StreamingInvoke, MAX_RESPONSE_BYTES,
};
use crate::pool::{Answer, Answered, Pool};
use crate::sandbox::RuntimeResult;

mod request;

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

impl Emulator {
    /// Prepare every function and start its `provisioned_concurrency` environments (init
    /// failures are logged, and answered again by the invoke that finds no environment). Every
    /// other environment starts on demand, as on Lambda: the first invoke of a function without
    /// provisioned concurrency pays its cold start and gets its init errors.
    pub async fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        Self::start_with_hook(config, |_, _| {}).await
    }

    /// [`Emulator::start`], calling `on_ready(name, init time or failure)` when each function's
    /// first environment becomes ready or fails to (at start for provisioned functions, at the
    /// first invoke for others), and once more when one first becomes ready after a failure.
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
        let mut provisioning = tokio::task::JoinSet::new();
        for (name, function) in &emulator.inner.functions {
            let pool = function.pool.clone();
            let report = report_ready(name.clone(), pool.ready.subscribe(), on_ready.clone());
            if pool.spec.config.provisioned_concurrency == 0 {
                tokio::spawn(report);
                continue;
            }
            // Provisioned: reported before `start` returns, as the environments are ready then.
            provisioning.spawn(async move {
                pool.provision().await;
                if pool.ready.borrow().is_some() {
                    report.await;
                } else {
                    tokio::spawn(report);
                }
            });
        }
        while provisioning.join_next().await.is_some() {}
        Ok(emulator)
    }

    /// Fires `true` once [`Emulator::shutdown`] has begun (servers stop on it).
    pub(crate) fn stopping(&self) -> watch::Receiver<bool> {
        self.inner.stop.subscribe()
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
}

/// Call `on_ready` with a function's first init result, and spawn a watch that calls it again
/// with the first success after a failure; ends early when the pool is gone.
async fn report_ready<F>(
    name: String,
    mut ready: watch::Receiver<Option<Result<Duration, String>>>,
    on_ready: Arc<F>,
) where
    F: Fn(&str, Result<Duration, String>) + Send + Sync + 'static,
{
    let Ok(Some(first)) = ready.wait_for(Option::is_some).await.map(|r| r.clone()) else {
        return;
    };
    let Err(e) = &first else {
        on_ready(&name, first);
        return;
    };
    tracing::warn!(function = %name, error = %e, "init failed");
    on_ready(&name, first);
    tokio::spawn(async move {
        if let Ok(r) = ready.wait_for(|r| matches!(r, Some(Ok(_)))).await {
            if let Some(Ok(took)) = r.clone() {
                on_ready(&name, Ok(took));
            }
        }
    });
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
