//! One execution environment: its processes, its init, its invocations and its shutdown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use nix::sys::signal::Signal;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

pub(crate) use crate::failure::InitFailure;
use crate::function::FunctionSpec;
use crate::logs::LogSink;
use crate::memory::Meter;
use crate::process::{signal, wait_exits, Process};

mod init;
mod invocation;
use crate::sandbox::{Invocation, RuntimeResult, Sandbox};

/// Time extensions get between `SHUTDOWN` and `SIGKILL` (Lambda: 2,000 ms with extensions).
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_millis(2000);

/// What an invocation came to.
pub(crate) enum Outcome {
    /// The runtime answered.
    Result(RuntimeResult),
    /// The environment failed the invocation: the error payload and the shutdown reason.
    Failed(Bytes, &'static str),
    /// The runtime died before it took the event (it was still queued): the job, to run in
    /// another environment, and the error to answer if it cannot be.
    Undelivered(Job, Bytes),
}

/// A dispatched invocation, to be finished with [`Environment::finish`].
pub(crate) struct Dispatched {
    pub(crate) request_id: String,
    failure: Option<&'static str>,
    started: Instant,
    deadline: tokio::time::Instant,
    done: Option<oneshot::Receiver<()>>,
}

/// One invocation for [`Environment::dispatch`].
#[derive(Clone)]
pub(crate) struct Job {
    pub(crate) request_id: String,
    pub(crate) payload: Bytes,
    pub(crate) client_context: Option<Bytes>,
    pub(crate) invoked_arn: String,
    /// The caller's `X-Amzn-Trace-Id`, when it carried a `Root`.
    pub(crate) trace_id: Option<String>,
    /// The version it executes (`$LATEST` or a numeric qualifier): which environments may run it.
    pub(crate) version: String,
}

/// One execution environment.
pub(crate) struct Environment {
    spec: Arc<FunctionSpec>,
    /// The version it executes (`AWS_LAMBDA_FUNCTION_VERSION`).
    pub(crate) version: String,
    meter: Arc<Meter>,
    sandbox: Arc<Sandbox>,
    invocations: Mutex<Option<mpsc::Sender<Invocation>>>,
    runtime: Mutex<Option<Arc<Process>>>,
    extensions: Mutex<Vec<Arc<Process>>>,
    stop_server: watch::Sender<bool>,
    shut: AtomicBool,
    /// Started for an invocation that found no idle environment (a cold start), not provisioned.
    on_demand: bool,
    /// A cold start's init time, until the first REPORT shows it (`None` when provisioned).
    init_duration: Mutex<Option<Duration>>,
}

impl Environment {
    /// Start the environment's processes and wait for init, up to `deadline`; `on_demand` for a
    /// cold start (its first REPORT shows `Init Duration`), else provisioned ahead.
    pub(crate) async fn start(
        spec: Arc<FunctionSpec>,
        version: &str,
        deadline: tokio::time::Instant,
        on_demand: bool,
    ) -> Result<Arc<Environment>, InitFailure> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| InitFailure::Entrypoint(format!("cannot listen: {e}")))?;
        let api = listener
            .local_addr()
            .map_err(|e| InitFailure::Entrypoint(format!("cannot listen: {e}")))?;
        let logs = Arc::new(LogSink::new(&spec.config.name));
        let (sandbox, invocations) = Sandbox::new(spec.clone(), version.to_owned(), logs);
        let (stop_server, stop) = watch::channel(false);
        let routed = sandbox.clone();
        tokio::spawn(crate::http_util::serve(listener, stop, move |request| {
            crate::listener::route(routed.clone(), request)
        }));
        let environment = Arc::new(Environment {
            spec,
            version: version.to_owned(),
            meter: Arc::new(Meter::default()),
            sandbox,
            invocations: Mutex::new(Some(invocations)),
            runtime: Mutex::new(None),
            extensions: Mutex::new(Vec::new()),
            stop_server,
            shut: AtomicBool::new(false),
            on_demand,
            init_duration: Mutex::new(None),
        });
        environment.watch_memory();
        match environment.init(&api.to_string(), deadline).await {
            Ok(()) => Ok(environment),
            Err(failure) => {
                environment.shutdown("failure").await;
                if environment.meter.exceeded() {
                    return Err(InitFailure::OutOfMemory);
                }
                Err(failure)
            }
        }
    }

    /// Enforce `memory_mb` (see `memory.rs`): past it, SIGKILL the runtime's process group (the
    /// invocation, if any, fails with `Runtime.OutOfMemory`) and shut down with `failure`.
    fn watch_memory(self: &Arc<Self>) {
        let limit = u64::from(self.spec.config.memory_mb) * 1024 * 1024;
        let groups = Arc::downgrade(self);
        let killed = Arc::downgrade(self);
        crate::memory::watch(
            self.meter.clone(),
            limit,
            move || {
                let environment = groups.upgrade()?;
                if environment.shut.load(Ordering::SeqCst) {
                    return None;
                }
                let runtime = lock(&environment.runtime).clone();
                let extensions = lock(&environment.extensions).clone();
                Some(runtime.iter().chain(&extensions).map(|p| p.pid).collect())
            },
            move || {
                let Some(environment) = killed.upgrade() else {
                    return;
                };
                if let Some(runtime) = lock(&environment.runtime).as_ref() {
                    signal(runtime, Signal::SIGKILL);
                }
                tokio::spawn(async move { environment.shutdown("failure").await });
            },
        );
    }

    /// False once it is shutting down or any of its processes has exited (a warm environment
    /// that died while idle): such an environment never gets another invocation.
    pub(crate) fn is_alive(&self) -> bool {
        if self.shut.load(Ordering::SeqCst) {
            return false;
        }
        let runtime_alive = lock(&self.runtime).as_ref().is_some_and(|p| p.running());
        runtime_alive && lock(&self.extensions).iter().all(|p| p.running())
    }

    /// This environment's log.
    pub(crate) fn logs(&self) -> &Arc<LogSink> {
        &self.sandbox.logs
    }

    /// SIGTERM the runtime, SHUTDOWN to extensions, SIGKILL every process group after the grace time.
    pub(crate) async fn shutdown(&self, reason: &str) {
        if self.shut.swap(true, Ordering::SeqCst) {
            return;
        }
        self.sandbox.status.send_modify(|s| s.closed = true);
        let runtime = lock(&self.runtime).clone();
        let extensions = lock(&self.extensions).clone();
        if let Some(runtime) = &runtime {
            signal(runtime, Signal::SIGTERM);
        }
        let grace_deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        if !extensions.is_empty() {
            let deadline_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| (d + SHUTDOWN_GRACE).as_millis())
                .unwrap_or(0);
            self.sandbox.send_event(
                &serde_json::json!({ "eventType": "SHUTDOWN", "shutdownReason": reason, "deadlineMs": deadline_ms }),
                false,
            );
            let all = runtime
                .iter()
                .chain(extensions.iter())
                .cloned()
                .collect::<Vec<_>>();
            wait_exits(&all, grace_deadline).await;
        }
        for process in runtime.iter().chain(extensions.iter()) {
            signal(process, Signal::SIGKILL);
        }
        let all = runtime
            .iter()
            .chain(extensions.iter())
            .cloned()
            .collect::<Vec<_>>();
        wait_exits(&all, tokio::time::Instant::now() + Duration::from_secs(1)).await;
        lock(&self.invocations).take();
        let _ = self.stop_server.send(true);
        self.sandbox.queues().clear();
        tracing::debug!(function = %self.spec.config.name, reason, "environment shut down");
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        if !self.shut.load(Ordering::SeqCst) {
            for process in lock(&self.runtime)
                .iter()
                .chain(lock(&self.extensions).iter())
            {
                signal(process, Signal::SIGKILL);
            }
            let _ = self.stop_server.send(true);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
