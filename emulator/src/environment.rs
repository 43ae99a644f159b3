//! One execution environment: its processes, its init, its invocations and its shutdown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use nix::sys::signal::Signal;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

pub(crate) use crate::failure::InitFailure;
use crate::failure::{exit_payload, oom_payload, timeout_payload};
use crate::function::FunctionSpec;
use crate::logs::LogSink;
use crate::memory::Meter;
use crate::process::{signal, spawn, wait_exits, Process};
use crate::sandbox::{Current, Invocation, RuntimeResult, Sandbox, Status};

/// Time extensions get between `SHUTDOWN` and `SIGKILL` (Lambda: 2,000 ms with extensions).
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_millis(2000);
/// How often exits are checked while waiting for init.
const POLL: Duration = Duration::from_millis(20);

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
}

impl Environment {
    /// Start the environment's processes and wait for init, up to `deadline`.
    pub(crate) async fn start(
        spec: Arc<FunctionSpec>,
        version: &str,
        deadline: tokio::time::Instant,
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
            crate::runtime_api::route(routed.clone(), request)
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

    async fn init(
        &self,
        runtime_api: &str,
        deadline: tokio::time::Instant,
    ) -> Result<(), InitFailure> {
        let started = tokio::time::Instant::now();
        let port =
            free_port().map_err(|e| InitFailure::Entrypoint(format!("no free port: {e}")))?;
        let ports: Vec<(String, u16)> = self
            .spec
            .config
            .port_env
            .iter()
            .map(|k| (k.clone(), port))
            .collect();
        let env = self.spec.process_env(runtime_api, &ports, &self.version);
        for path in &self.spec.extensions {
            let process = spawn(
                &self.sandbox.logs,
                &self.spec.config.code,
                path.as_os_str(),
                &[],
                &env,
            )
            .map_err(|e| InitFailure::ExtensionExit(format!("{}: {e}", path.display())))?;
            lock(&self.extensions).push(Arc::new(process));
        }
        // The runtime starts, and `next` is let through, once every extension has registered.
        let count = self.spec.extensions.len();
        self.wait_init(deadline, started, |s| s.extensions.len() >= count)
            .await
            .map_err(|e| {
                let status = self.sandbox.status.borrow();
                e.name_unregistered(&status.extensions, &self.sandbox.external_names)
            })?;
        self.sandbox
            .status
            .send_modify(|s| s.registration_done = true);
        let command = self
            .spec
            .runtime_command()
            .map_err(InitFailure::Entrypoint)?;
        let args: Vec<&std::ffi::OsStr> = command.args.iter().map(|a| a.as_ref()).collect();
        let logs = &self.sandbox.logs;
        let code = &self.spec.config.code;
        let runtime = spawn(logs, code, command.program.as_os_str(), &args, &env).map_err(|e| {
            InitFailure::Entrypoint(format!("cannot start {}: {e}", command.program.display()))
        })?;
        *lock(&self.runtime) = Some(Arc::new(runtime));
        self.wait_init(deadline, started, |s| {
            s.runtime_waiting && s.extensions_waiting()
        })
        .await
    }

    /// Wait until `ready` holds, failing on init errors, process exits and the deadline.
    async fn wait_init(
        &self,
        deadline: tokio::time::Instant,
        started: tokio::time::Instant,
        ready: impl Fn(&Status) -> bool,
    ) -> Result<(), InitFailure> {
        let mut status = self.sandbox.status.subscribe();
        loop {
            {
                let s = status.borrow_and_update();
                if let Some((_, payload)) = &s.init_error {
                    return Err(InitFailure::Posted(payload.clone()));
                }
                if ready(&s) {
                    return Ok(());
                }
            }
            if let Some(exit) = lock(&self.runtime).as_ref().and_then(|p| p.exited()) {
                return Err(InitFailure::RuntimeExit(exit));
            }
            let extension_exit = lock(&self.extensions)
                .iter()
                .zip(&self.spec.extensions)
                .find_map(|(p, path)| p.exited().map(|e| (e, path.clone())));
            if let Some((exit, path)) = extension_exit {
                return Err(InitFailure::ExtensionExit(format!(
                    "{}: {exit}",
                    path.display()
                )));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(InitFailure::Timeout(deadline - started, None));
            }
            tokio::select! {
                _ = status.changed() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    /// Hand one invocation to the runtime and wait for its answer (or its failure).
    pub(crate) async fn dispatch(&self, job: Job) -> (Outcome, Dispatched) {
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + self.spec.timeout;
        let deadline_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| (d + self.spec.timeout).as_millis())
            .unwrap_or(0);
        let trace_id = trace_id(&job.request_id);
        self.sandbox.logs.begin();
        self.sandbox.logs.platform(&format!(
            "START RequestId: {} Version: {}",
            job.request_id, self.version
        ));
        self.meter.begin();
        let (result_tx, result_rx) = oneshot::channel();
        let (done_tx, done) = oneshot::channel();
        *self.sandbox.current() = Some(Current {
            request_id: job.request_id.clone(),
            result: Some(result_tx),
            done: Some(done_tx),
            stream: None,
        });
        self.sandbox.send_event(
            &serde_json::json!({
                "eventType": "INVOKE",
                "deadlineMs": deadline_ms,
                "requestId": job.request_id,
                "invokedFunctionArn": job.invoked_arn,
                "tracing": { "type": "X-Amzn-Trace-Id", "value": trace_id },
            }),
            true,
        );
        let invocation = Invocation {
            request_id: job.request_id.clone(),
            deadline_ms,
            invoked_arn: job.invoked_arn,
            trace_id,
            client_context: job.client_context,
            payload: job.payload,
        };
        let sender = lock(&self.invocations).clone();
        let outcome = match sender {
            Some(sender) if sender.send(invocation).await.is_ok() => {
                self.await_result(&job.request_id, result_rx, deadline)
                    .await
            }
            _ => Outcome::Failed(
                exit_payload(&job.request_id, "the environment shut down"),
                "failure",
            ),
        };
        let failure = match &outcome {
            Outcome::Failed(_, reason) => Some(*reason),
            Outcome::Undelivered(..) => Some("failure"),
            Outcome::Result(_) => None,
        };
        let dispatched = Dispatched {
            request_id: job.request_id,
            failure,
            started,
            deadline,
            done: Some(done),
        };
        (outcome, dispatched)
    }

    async fn await_result(
        &self,
        request_id: &str,
        result: oneshot::Receiver<RuntimeResult>,
        deadline: tokio::time::Instant,
    ) -> Outcome {
        let runtime_exit = lock(&self.runtime).as_ref().map(|p| p.exit.clone());
        let exited = async {
            match runtime_exit {
                Some(mut exit) => exit
                    .wait_for(|e| e.is_some())
                    .await
                    .map(|e| e.clone().unwrap_or_default())
                    .unwrap_or_default(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            result = result => match result {
                Ok(result) => Outcome::Result(result),
                Err(_) => Outcome::Failed(exit_payload(request_id, "the environment shut down"), "failure"),
            },
            status = exited => {
                let payload = if self.meter.exceeded() {
                    oom_payload(request_id)
                } else {
                    exit_payload(request_id, &status)
                };
                match self.take_undelivered(request_id) {
                    Some(job) => Outcome::Undelivered(job, payload),
                    None => Outcome::Failed(payload, "failure"),
                }
            }
            _ = tokio::time::sleep_until(deadline) => Outcome::Failed(timeout_payload(request_id, self.spec.timeout), "timeout"),
        }
    }

    /// The invocation the runtime died on, if it never took it out of the queue (it died while
    /// idle, just before the handoff): it can run elsewhere, as Lambda would run it.
    fn take_undelivered(&self, request_id: &str) -> Option<Job> {
        // A `next` still waiting holds the lock and would have taken the event: delivered.
        let invocation = self.sandbox.invocations.try_lock().ok()?.try_recv().ok()?;
        (invocation.request_id == request_id).then(|| Job {
            request_id: invocation.request_id,
            payload: invocation.payload,
            client_context: invocation.client_context,
            invoked_arn: invocation.invoked_arn,
            version: self.version.clone(),
        })
    }

    /// Log the invocation's END and REPORT lines (`Max Memory Used` is the highest sample, capped
    /// at the memory size as Lambda's is).
    pub(crate) fn report(&self, dispatched: &Dispatched) {
        let id = &dispatched.request_id;
        let ms = dispatched.started.elapsed().as_secs_f64() * 1000.0;
        let size = self.spec.config.memory_mb;
        let used = self.meter.peak_mb().min(u64::from(size));
        let status = if self.meter.exceeded() {
            "\tStatus: error\tError Type: Runtime.OutOfMemory"
        } else {
            ""
        };
        self.sandbox.logs.platform(&format!("END RequestId: {id}"));
        self.sandbox.logs.platform(&format!(
            "REPORT RequestId: {id}\tDuration: {ms:.2} ms\tBilled Duration: {} ms\tMemory Size: {size} MB\tMax Memory Used: {used} MB{status}",
            ms.ceil() as u64,
        ));
    }

    /// After the answer: wait for the runtime to be back in `next` and the extensions in
    /// `event/next` (a runtime that exits instead, even right after answering, fails the
    /// environment, as on Lambda: it is shut down and never handed another invocation).
    /// True when the environment can take the next invocation; otherwise it has been shut down.
    pub(crate) async fn finish_with(&self, mut dispatched: Dispatched, report: bool) -> bool {
        let reusable = self.finish(&mut dispatched).await;
        self.meter.end();
        if report {
            self.report(&dispatched);
        }
        reusable
    }

    async fn finish(&self, dispatched: &mut Dispatched) -> bool {
        if let Some(reason) = dispatched.failure {
            self.shutdown(reason).await;
            return false;
        }
        let deadline = dispatched.deadline;
        let done = dispatched.done.take();
        let mut status = self.sandbox.status.subscribe();
        let ready = async {
            if let Some(done) = done {
                let _ = done.await;
            }
            let _ = status
                .wait_for(|s| s.runtime_waiting && s.extensions_waiting())
                .await;
        };
        let runtime_exit = lock(&self.runtime).as_ref().map(|p| p.exit.clone());
        let exited = async {
            if let Some(mut exit) = runtime_exit {
                let _ = exit.wait_for(|e| e.is_some()).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let reason = tokio::select! {
            _ = ready => None,
            _ = exited => Some("failure"),
            _ = tokio::time::sleep_until(deadline) => Some("timeout"),
        };
        let stream = self
            .sandbox
            .current()
            .as_mut()
            .and_then(|c| c.stream.take());
        // An extension that reported exit/error takes the environment down with it.
        let reason = reason.or_else(|| {
            self.sandbox
                .status
                .borrow()
                .exit_error
                .is_some()
                .then_some("failure")
        });
        match reason {
            None => true,
            Some(reason) => {
                if let Some(stream) = stream {
                    let (code, payload) = if reason == "timeout" {
                        let payload = timeout_payload(&dispatched.request_id, self.spec.timeout);
                        ("Sandbox.Timedout", payload)
                    } else if self.meter.exceeded() {
                        ("Runtime.OutOfMemory", oom_payload(&dispatched.request_id))
                    } else {
                        let status = lock(&self.runtime)
                            .as_ref()
                            .and_then(|p| p.exited())
                            .unwrap_or_else(|| "an extension failed".to_owned());
                        (
                            "Runtime.ExitError",
                            exit_payload(&dispatched.request_id, &status),
                        )
                    };
                    let _ = stream.try_send(Err(crate::invoke::StreamError {
                        error_code: code.into(),
                        error_details: String::from_utf8_lossy(&payload).into_owned(),
                    }));
                }
                self.shutdown(reason).await;
                false
            }
        }
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

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// An X-Ray trace header derived from the request id (one random draw per invocation, not three).
fn trace_id(request_id: &str) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let hex: String = request_id.chars().filter(char::is_ascii_hexdigit).collect();
    let root = hex.get(..24).unwrap_or("000000000000000000000000");
    let parent = hex.get(16..32).unwrap_or("0000000000000000");
    format!("Root=1-{secs:08x}-{root};Parent={parent};Sampled=0")
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_message_is_lambdas() {
        let payload = timeout_payload("abc", Duration::from_secs(3));
        let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(v["errorType"], "Sandbox.Timedout");
        assert_eq!(
            v["errorMessage"],
            "RequestId: abc Error: Task timed out after 3.00 seconds"
        );
    }

    #[test]
    fn trace_id_has_lambdas_shape() {
        let id = trace_id("0f8c2c3e-7d2b-4f6a-9d0e-1a2b3c4d5e6f");
        assert!(id.starts_with("Root=1-"));
        assert!(
            id.contains("-0f8c2c3e7d2b4f6a9d0e1a2b;Parent=9d0e1a2b3c4d5e6f;"),
            "{id}"
        );
        assert!(id.contains(";Parent="));
    }
}
