//! What one execution environment's Runtime and Extensions APIs share with its controller.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};

use crate::function::FunctionSpec;
use crate::invoke::StreamError;
use crate::logs::LogSink;

/// An invocation handed to the runtime's `next`.
#[derive(Debug)]
pub(crate) struct Invocation {
    pub(crate) request_id: String,
    pub(crate) deadline_ms: u128,
    pub(crate) invoked_arn: String,
    pub(crate) trace_id: String,
    pub(crate) client_context: Option<Bytes>,
    pub(crate) payload: Bytes,
}

/// What the runtime answered.
#[derive(Debug)]
pub(crate) enum RuntimeResult {
    /// `/response`, buffered.
    Buffered(Bytes),
    /// `/error`, or a result Lambda turns into a function error: the error JSON.
    Error(Bytes),
    /// `/response` with `Lambda-Runtime-Function-Response-Mode: streaming`.
    Stream {
        content_type: Option<String>,
        body: mpsc::Receiver<Result<Bytes, StreamError>>,
    },
}

/// The invocation the runtime is working on.
#[derive(Debug)]
pub(crate) struct Current {
    pub(crate) request_id: String,
    pub(crate) result: Option<oneshot::Sender<RuntimeResult>>,
    /// Fires when the runtime has finished answering (the end of a streamed body too).
    pub(crate) done: Option<oneshot::Sender<()>>,
    /// The open stream's sender, so a timeout can end it with an error.
    pub(crate) stream: Option<mpsc::Sender<Result<Bytes, StreamError>>>,
}

/// A registered extension as the controller sees it.
#[derive(Debug, Clone)]
pub(crate) struct ExtensionStatus {
    pub(crate) id: String,
    /// Its `Lambda-Extension-Name`.
    pub(crate) name: String,
    pub(crate) invoke: bool,
    pub(crate) shutdown: bool,
    /// Waiting in `event/next` (or about to: no undelivered event).
    pub(crate) waiting: bool,
}

/// The observable state, watched by the controller.
#[derive(Debug, Default, Clone)]
pub(crate) struct Status {
    pub(crate) runtime_waiting: bool,
    /// A Runtime API `next` got past the registration phase: registration is closed.
    pub(crate) runtime_started: bool,
    /// Every started extension process has registered; until then `next` is held.
    pub(crate) registration_done: bool,
    /// The environment is shutting down.
    pub(crate) closed: bool,
    pub(crate) extensions: Vec<ExtensionStatus>,
    /// `init/error` (runtime or extension): error type and body.
    pub(crate) init_error: Option<(String, Bytes)>,
    /// `exit/error` from an extension.
    pub(crate) exit_error: Option<String>,
}

impl Status {
    /// Every registered extension is in `event/next`.
    pub(crate) fn extensions_waiting(&self) -> bool {
        self.extensions.iter().all(|e| e.waiting)
    }
}

/// An extension's event queue.
pub(crate) struct ExtensionQueue {
    pub(crate) sender: mpsc::UnboundedSender<serde_json::Value>,
    pub(crate) receiver: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<serde_json::Value>>>,
}

/// One environment's shared state.
pub(crate) struct Sandbox {
    pub(crate) spec: Arc<FunctionSpec>,
    /// The version this environment executes (`$LATEST`, or a configured numeric qualifier).
    pub(crate) version: String,
    pub(crate) status: watch::Sender<Status>,
    pub(crate) invocations: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    pub(crate) current: Mutex<Option<Current>>,
    pub(crate) queues: Mutex<HashMap<String, ExtensionQueue>>,
    pub(crate) logs: Arc<LogSink>,
    /// Extension names that are external (file names in `extensions/`).
    pub(crate) external_names: Vec<String>,
}

impl Sandbox {
    /// A sandbox and the sender that feeds its runtime.
    pub(crate) fn new(
        spec: Arc<FunctionSpec>,
        version: String,
        logs: Arc<LogSink>,
    ) -> (Arc<Sandbox>, mpsc::Sender<Invocation>) {
        let (tx, rx) = mpsc::channel(1);
        let external_names = spec
            .extensions
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        let sandbox = Sandbox {
            spec,
            version,
            status: watch::channel(Status::default()).0,
            invocations: tokio::sync::Mutex::new(rx),
            current: Mutex::new(None),
            queues: Mutex::new(HashMap::new()),
            logs,
            external_names,
        };
        (Arc::new(sandbox), tx)
    }

    /// Lock `current`, surviving a poisoned lock (a panicked handler must not wedge the environment).
    pub(crate) fn current(&self) -> std::sync::MutexGuard<'_, Option<Current>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lock the extension queues.
    pub(crate) fn queues(&self) -> std::sync::MutexGuard<'_, HashMap<String, ExtensionQueue>> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue an event for every extension that subscribed to it; they stop counting as waiting.
    pub(crate) fn send_event(&self, event: &serde_json::Value, invoke: bool) {
        let mut targets = Vec::new();
        self.status.send_modify(|s| {
            for ext in &mut s.extensions {
                if (invoke && ext.invoke) || (!invoke && ext.shutdown) {
                    ext.waiting = false;
                    targets.push(ext.id.clone());
                }
            }
        });
        let queues = self.queues();
        for id in targets {
            if let Some(queue) = queues.get(&id) {
                let _ = queue.sender.send(event.clone());
            }
        }
    }
}
