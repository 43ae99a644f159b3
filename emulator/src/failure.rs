//! The function errors Lambda answers when an environment fails: init failures, timeouts, exits.

use std::time::Duration;

use bytes::Bytes;

/// Why an environment could not initialise; rendered per invocation as Lambda does.
#[derive(Debug, Clone)]
pub(crate) enum InitFailure {
    /// The runtime or an extension posted `init/error`: the payload.
    Posted(Bytes),
    /// The runtime exited: `exit status N`.
    RuntimeExit(String),
    /// An extension exited during init.
    ExtensionExit(String),
    /// Init did not finish in time.
    Timeout(Duration),
    /// No bootstrap, or it could not be started.
    Entrypoint(String),
}

impl InitFailure {
    /// The function error payload an invocation gets.
    pub(crate) fn payload(&self, request_id: &str) -> Bytes {
        let (error_type, message) = match self {
            InitFailure::Posted(payload) => return payload.clone(),
            InitFailure::RuntimeExit(status) => (
                "Runtime.ExitError",
                format!("RequestId: {request_id} Error: Runtime exited with error: {status}"),
            ),
            InitFailure::ExtensionExit(status) => (
                "Extension.Crash",
                format!("RequestId: {request_id} Error: an extension exited during init: {status}"),
            ),
            InitFailure::Timeout(after) => (
                "Sandbox.Timedout",
                format!(
                    "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                    after.as_secs_f64()
                ),
            ),
            InitFailure::Entrypoint(message) => (
                "Runtime.InvalidEntrypoint",
                format!("RequestId: {request_id} Error: {message}"),
            ),
        };
        Bytes::from(
            serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string(),
        )
    }
}

/// `{"errorType":"Sandbox.Timedout", ...}` exactly as Lambda words it.
pub(crate) fn timeout_payload(request_id: &str, timeout: Duration) -> Bytes {
    let message = format!(
        "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
        timeout.as_secs_f64()
    );
    Bytes::from(
        serde_json::json!({ "errorType": "Sandbox.Timedout", "errorMessage": message }).to_string(),
    )
}

/// `{"errorType":"Runtime.ExitError", ...}` for a runtime that exited with `status`.
pub(crate) fn exit_payload(request_id: &str, status: &str) -> Bytes {
    let message = format!("RequestId: {request_id} Error: Runtime exited with error: {status}");
    Bytes::from(
        serde_json::json!({ "errorType": "Runtime.ExitError", "errorMessage": message })
            .to_string(),
    )
}
