//! The execution environments of one function: warm reuse, cold starts, concurrency limits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::environment::{Environment, InitFailure, Job, Outcome};
use crate::function::FunctionSpec;
use crate::invoke::InvokeError;
use crate::sandbox::RuntimeResult;

/// Lambda's init phase limit for on-demand functions; over it, init is retried once in the invoke.
pub(crate) const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// What a throttled caller is told to wait.
const RETRY_AFTER_SECONDS: u64 = 1;

/// The environments of one function.
pub(crate) struct Pool {
    pub(crate) spec: Arc<FunctionSpec>,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Arc<Environment>>>,
    live: Mutex<Vec<Weak<Environment>>>,
    closed: AtomicBool,
    /// The first warm-up's result: init time or the failure.
    pub(crate) ready: watch::Sender<Option<Result<Duration, String>>>,
}

/// The runtime's answer to one invocation, with its environment's log.
pub(crate) struct Answered {
    pub(crate) answer: Answer,
    pub(crate) logs: Option<Arc<crate::logs::LogSink>>,
    /// Fires when the invocation is over (streams included), after END/REPORT are logged.
    pub(crate) finished: Option<tokio::sync::oneshot::Receiver<()>>,
}

/// What the function answered.
pub(crate) enum Answer {
    Result(RuntimeResult),
    FunctionError(Bytes),
}

impl Pool {
    /// A pool without environments yet.
    pub(crate) fn new(spec: Arc<FunctionSpec>) -> Arc<Pool> {
        let max = spec.config.max_environments() as usize;
        Arc::new(Pool {
            spec,
            permits: Arc::new(Semaphore::new(max)),
            idle: Mutex::new(Vec::new()),
            live: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            ready: watch::channel(None).0,
        })
    }

    /// A slot at once, or Lambda's throttle.
    pub(crate) fn try_permit(&self) -> Result<OwnedSemaphorePermit, InvokeError> {
        self.permits.clone().try_acquire_owned().map_err(|e| {
            if matches!(e, tokio::sync::TryAcquireError::Closed) {
                return InvokeError::ServiceException {
                    message: "the emulator is shutting down".into(),
                };
            }
            let config = &self.spec.config;
            let reason = match config.reserved_concurrency {
                Some(reserved) if reserved <= config.concurrency => {
                    "ReservedFunctionConcurrentInvocationLimitExceeded"
                }
                _ => "ConcurrentInvocationLimitExceeded",
            };
            InvokeError::TooManyRequests {
                reason: reason.to_owned(),
                retry_after_seconds: RETRY_AFTER_SECONDS,
            }
        })
    }

    /// A slot, waiting for one (asynchronous invocations); `None` once the pool is closed.
    pub(crate) async fn permit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().acquire_owned().await.ok()
    }

    /// Start one environment ahead of the first invocation and report how long init took.
    pub(crate) async fn warm_up(self: &Arc<Self>) {
        let Ok(permit) = self.try_permit() else {
            return;
        };
        let started = std::time::Instant::now();
        let result = match self.start_environment(false, "$LATEST").await {
            Ok(environment) => {
                self.release(environment, true);
                Ok(started.elapsed())
            }
            Err(failure) => Err(String::from_utf8_lossy(&failure.payload("init")).into_owned()),
        };
        drop(permit);
        self.ready.send_replace(Some(result));
    }

    async fn start_environment(
        &self,
        retry_in_invoke: bool,
        version: &str,
    ) -> Result<Arc<Environment>, InitFailure> {
        let started = std::time::Instant::now();
        let first = Environment::start(
            self.spec.clone(),
            version,
            tokio::time::Instant::now() + INIT_TIMEOUT,
        )
        .await;
        let environment = match first {
            Err(InitFailure::Timeout(..)) if retry_in_invoke => {
                tracing::warn!(function = %self.spec.config.name, "init timed out; retrying within the invocation");
                Environment::start(
                    self.spec.clone(),
                    version,
                    tokio::time::Instant::now() + self.spec.timeout,
                )
                .await?
            }
            other => other?,
        };
        if self.closed.load(Ordering::SeqCst) {
            environment.shutdown("spindown").await;
            return Err(InitFailure::Entrypoint(
                "the emulator is shutting down".into(),
            ));
        }
        if retry_in_invoke && !matches!(*self.ready.borrow(), Some(Ok(_))) {
            // The first environment that ever became ready (the warm-up had failed).
            self.ready.send_replace(Some(Ok(started.elapsed())));
        }
        let mut live = lock(&self.live);
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(&environment));
        Ok(environment)
    }

    fn release(&self, environment: Arc<Environment>, reusable: bool) {
        if reusable && !self.closed.load(Ordering::SeqCst) {
            lock(&self.idle).push(environment);
        }
    }

    /// A warm environment of `version` whose processes all still run (a dead one is replaced).
    fn take_idle(&self, version: &str) -> Option<Arc<Environment>> {
        loop {
            let environment = {
                let mut idle = lock(&self.idle);
                let position = idle.iter().rposition(|e| e.version == version)?;
                idle.remove(position)
            };
            if environment.is_alive() {
                return Some(environment);
            }
            // It died while idle: Lambda would have replaced it, so do we.
            tokio::spawn(async move { environment.shutdown("failure").await });
        }
    }

    /// Run one invocation in a warm or new environment; the slot is given back when it is over.
    /// Environments are per version, as on Lambda: `$LATEST` (and aliases) or a numeric qualifier.
    pub(crate) async fn run(self: &Arc<Self>, permit: OwnedSemaphorePermit, job: Job) -> Answered {
        let version = self.spec.executed_version(&job.invoked_arn);
        let mut job = job;
        let mut redispatched = false;
        let (environment, outcome, dispatched) = loop {
            let environment = match self.take_idle(&version) {
                Some(environment) => environment,
                None => match self.start_environment(true, &version).await {
                    Ok(environment) => environment,
                    Err(failure) => {
                        return Answered {
                            answer: Answer::FunctionError(failure.payload(&job.request_id)),
                            logs: None,
                            finished: None,
                        }
                    }
                },
            };
            let (outcome, dispatched) = environment.dispatch(job).await;
            match outcome {
                // The runtime died before it took the event: run it in a new environment, once.
                Outcome::Undelivered(returned, _) if !redispatched => {
                    redispatched = true;
                    tracing::info!(function = %self.spec.config.name, request_id = %returned.request_id, "runtime died before taking the event; running it in a new environment");
                    tokio::spawn(async move { environment.shutdown("failure").await });
                    job = returned;
                }
                outcome => break (environment, outcome, dispatched),
            }
        };
        let (answer, report_now) = match outcome {
            Outcome::Result(result @ RuntimeResult::Stream { .. }) => {
                (Answer::Result(result), false)
            }
            Outcome::Result(result) => (Answer::Result(result), true),
            Outcome::Failed(payload, _) | Outcome::Undelivered(_, payload) => {
                (Answer::FunctionError(payload), true)
            }
        };
        if report_now {
            environment.report(&dispatched);
        }
        let logs = Some(environment.logs().clone());
        let (finished_tx, finished) = tokio::sync::oneshot::channel();
        let pool = self.clone();
        tokio::spawn(async move {
            let reusable = environment.finish_with(dispatched, !report_now).await;
            let _ = finished_tx.send(());
            pool.release(environment, reusable);
            drop(permit);
        });
        Answered {
            answer,
            logs,
            finished: Some(finished),
        }
    }

    /// Spin every environment down with `spindown`.
    pub(crate) async fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.permits.close();
        // Hold every environment before letting go of the idle list, so none is dropped unshut.
        let live: Vec<_> = lock(&self.live).iter().filter_map(Weak::upgrade).collect();
        lock(&self.idle).clear();
        let mut tasks = tokio::task::JoinSet::new();
        for environment in live {
            tasks.spawn(async move { environment.shutdown("spindown").await });
        }
        while tasks.join_next().await.is_some() {}
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
