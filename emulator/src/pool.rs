//! The execution environments of one function: warm reuse, cold starts, concurrency limits.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};

use crate::environment::{Environment, InitFailure, Job, Outcome};
use crate::function::FunctionSpec;
use crate::invoke::InvokeError;
use crate::sandbox::RuntimeResult;

/// Lambda's init phase limit for on-demand functions; over it, init is retried once in the invoke.
pub(crate) const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// What a throttled caller is told to wait.
const RETRY_AFTER_SECONDS: u64 = 1;
/// How long an invocation that finds no idle environment waits for one that has already
/// answered and is only finishing (runtime back to `next`, extensions to `event/next`) before
/// it starts a new environment, or, at the concurrency limit, is throttled. On Lambda the
/// network between caller and service takes longer than a runtime's turnaround, so a caller
/// that invokes again as soon as it has its answer finds the same environment idle; locally the
/// answer arrives within microseconds and would otherwise beat the runtime back to `next`.
pub(crate) const FINISHING_GRACE: Duration = Duration::from_millis(20);

/// The environments of one function.
pub(crate) struct Pool {
    pub(crate) spec: Arc<FunctionSpec>,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Arc<Environment>>>,
    live: Mutex<Vec<Weak<Environment>>>,
    /// Environments that have answered and are finishing their invocation.
    finishing: AtomicUsize,
    /// Signalled whenever a finishing environment is done (idle again, or shut down).
    finished: Notify,
    closed: AtomicBool,
    /// The first environment's init time once one is ready; until then the first init failure.
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
            finishing: AtomicUsize::new(0),
            finished: Notify::new(),
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

    /// A slot for a synchronous invocation: at once, or, when the only busy environments are
    /// finishing an invocation they have answered, as soon as one is done (up to
    /// [`FINISHING_GRACE`]); otherwise Lambda's throttle. Invocations still running never queue.
    pub(crate) async fn sync_permit(&self) -> Result<OwnedSemaphorePermit, InvokeError> {
        match self.try_permit() {
            Err(InvokeError::TooManyRequests { .. })
                if self.finishing.load(Ordering::SeqCst) > 0 =>
            {
                let acquire = self.permits.clone().acquire_owned();
                match tokio::time::timeout(FINISHING_GRACE, acquire).await {
                    Ok(Ok(permit)) => Ok(permit),
                    _ => self.try_permit(),
                }
            }
            other => other,
        }
    }

    /// A slot, waiting for one (asynchronous invocations); `None` once the pool is closed.
    pub(crate) async fn permit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().acquire_owned().await.ok()
    }

    /// Start the function's `provisioned_concurrency` environments (of `$LATEST`) side by side,
    /// ahead of any invocation; returns when every one is ready or has failed (see `ready`).
    pub(crate) async fn provision(self: &Arc<Self>) {
        let mut starts = tokio::task::JoinSet::new();
        for _ in 0..self.spec.config.provisioned_concurrency {
            let Ok(permit) = self.try_permit() else {
                break;
            };
            let pool = self.clone();
            starts.spawn(async move {
                if let Ok(environment) = pool.start_environment(false, "$LATEST").await {
                    pool.release(environment, true);
                }
                drop(permit);
            });
        }
        while starts.join_next().await.is_some() {}
    }

    /// Start one environment: provisioned ahead (`on_demand` false: Lambda's init limit applies,
    /// and its REPORT shows no init) or for the invocation that found none idle (`on_demand`:
    /// an init timeout is retried once within the invocation, and its first REPORT carries the
    /// `Init Duration`). Either way `ready` learns the first success, or the first failure while
    /// none has succeeded.
    async fn start_environment(
        &self,
        on_demand: bool,
        version: &str,
    ) -> Result<Arc<Environment>, InitFailure> {
        let started = std::time::Instant::now();
        let result = self.init_environment(on_demand, version).await;
        let took = started.elapsed();
        match &result {
            Ok(_) => {
                self.ready.send_if_modified(|ready| {
                    let first = !matches!(ready, Some(Ok(_)));
                    if first {
                        *ready = Some(Ok(took));
                    }
                    first
                });
            }
            Err(_) if self.closed.load(Ordering::SeqCst) => {}
            Err(failure) => {
                let message = String::from_utf8_lossy(&failure.payload("init")).into_owned();
                if on_demand {
                    tracing::warn!(function = %self.spec.config.name, error = %message, "init failed");
                }
                self.ready.send_if_modified(|ready| {
                    let first = ready.is_none();
                    if first {
                        *ready = Some(Err(message));
                    }
                    first
                });
            }
        }
        result
    }

    async fn init_environment(
        &self,
        on_demand: bool,
        version: &str,
    ) -> Result<Arc<Environment>, InitFailure> {
        let first = Environment::start(
            self.spec.clone(),
            version,
            tokio::time::Instant::now() + INIT_TIMEOUT,
            on_demand,
        )
        .await;
        let environment = match first {
            Err(InitFailure::Timeout(..)) if on_demand => {
                tracing::warn!(function = %self.spec.config.name, "init timed out; retrying within the invocation");
                Environment::start(
                    self.spec.clone(),
                    version,
                    tokio::time::Instant::now() + self.spec.timeout,
                    on_demand,
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

    /// A warm environment of `version` whose processes all still run (a dead one is replaced):
    /// an idle one, or one that is finishing its last invocation and becomes idle within
    /// [`FINISHING_GRACE`]; `None` when a new one must be started.
    async fn take_idle(&self, version: &str) -> Option<Arc<Environment>> {
        let until = tokio::time::Instant::now() + FINISHING_GRACE;
        loop {
            let finished = self.finished.notified();
            tokio::pin!(finished);
            // Registered before looking, so a release between the look and the wait is seen.
            finished.as_mut().enable();
            loop {
                let environment = {
                    let mut idle = lock(&self.idle);
                    let Some(position) = idle.iter().rposition(|e| e.version == version) else {
                        break;
                    };
                    idle.remove(position)
                };
                if environment.is_alive() {
                    return Some(environment);
                }
                // It died while idle: Lambda would have replaced it, so do we.
                tokio::spawn(async move { environment.shutdown("failure").await });
            }
            if self.finishing.load(Ordering::SeqCst) == 0 {
                return None;
            }
            if tokio::time::timeout_at(until, finished).await.is_err() {
                return None;
            }
        }
    }

    /// Run one invocation in a warm or new environment; the slot is given back when it is over.
    /// Environments are per version, as on Lambda: `$LATEST` (and aliases) or a numeric qualifier.
    pub(crate) async fn run(self: &Arc<Self>, permit: OwnedSemaphorePermit, job: Job) -> Answered {
        let version = job.version.clone();
        let mut job = job;
        let mut redispatched = false;
        let (environment, outcome, dispatched) = loop {
            let environment = match self.take_idle(&version).await {
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
        self.finishing.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let reusable = environment.finish_with(dispatched, !report_now).await;
            let _ = finished_tx.send(());
            pool.release(environment, reusable);
            drop(permit);
            pool.finishing.fetch_sub(1, Ordering::SeqCst);
            pool.finished.notify_waiters();
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
