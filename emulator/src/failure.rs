//! The function errors Lambda answers when an environment fails: init failures, timeouts, exits.

use std::time::Duration;

use bytes::Bytes;

use crate::sandbox::ExtensionStatus;

/// Why an environment could not initialise; rendered per invocation as Lambda does.
#[derive(Debug, Clone)]
pub(crate) enum InitFailure {
    /// The runtime or an extension posted `init/error`: the payload.
    Posted(Bytes),
    /// The runtime exited: `exit status N`.
    RuntimeExit(String),
    /// An extension exited during init.
    ExtensionExit(String),
    /// Init did not finish in time; what it was waiting for, when known.
    Timeout(Duration, Option<String>),
    /// No bootstrap, or it could not be started.
    Entrypoint(String),
    /// The environment exceeded `memory_mb` during init and was killed.
    OutOfMemory,
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
            InitFailure::Timeout(after, waiting) => (
                "Sandbox.Timedout",
                format!(
                    "RequestId: {request_id} Error: Task timed out after {:.2} seconds{}",
                    after.as_secs_f64(),
                    waiting
                        .as_ref()
                        .map(|w| format!(" ({w})"))
                        .unwrap_or_default()
                ),
            ),
            InitFailure::OutOfMemory => return oom_payload(request_id),
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

impl InitFailure {
    /// A registration timeout, naming the extensions (of `external`) that did not register.
    pub(crate) fn name_unregistered(
        self,
        registered: &[ExtensionStatus],
        external: &[String],
    ) -> InitFailure {
        let InitFailure::Timeout(after, _) = self else {
            return self;
        };
        let missing: Vec<&str> = external
            .iter()
            .filter(|n| !registered.iter().any(|r| &r.name == *n))
            .map(String::as_str)
            .collect();
        let waiting = if missing.is_empty() {
            "an extension did not register".to_owned()
        } else {
            format!("extension {} did not register", missing.join(", "))
        };
        InitFailure::Timeout(after, Some(waiting))
    }
}

/// The function error JSON Lambda returns for a runtime's `/error` body.
pub(crate) fn error_payload(error_type: Option<&str>, body: &[u8]) -> Bytes {
    if serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v.is_object()) {
        return Bytes::copy_from_slice(body);
    }
    let payload = serde_json::json!({
        "errorMessage": String::from_utf8_lossy(body),
        "errorType": error_type.unwrap_or("Unhandled"),
    });
    Bytes::from(payload.to_string())
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

/// What Lambda answers when the environment ran out of memory and its runtime was killed:
/// `Runtime.OutOfMemory` (older runtimes reported `Runtime.ExitError`) with the exit of the
/// killed runtime as Lambda's runtime manager words it.
pub(crate) fn oom_payload(request_id: &str) -> Bytes {
    let message =
        format!("RequestId: {request_id} Error: Runtime exited with error: signal: killed");
    Bytes::from(
        serde_json::json!({ "errorType": "Runtime.OutOfMemory", "errorMessage": message })
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_payload_passes_json_through_and_wraps_text() {
        let json = br#"{"errorType":"X","errorMessage":"y"}"#;
        assert_eq!(error_payload(Some("X"), json).as_ref(), json);
        let wrapped: serde_json::Value =
            serde_json::from_slice(&error_payload(Some("T"), b"oops")).unwrap();
        assert_eq!(wrapped["errorType"], "T");
        assert_eq!(wrapped["errorMessage"], "oops");
    }

    #[test]
    fn a_registration_timeout_names_the_extension_that_did_not_register() {
        let registered = [ExtensionStatus {
            id: "1".into(),
            name: "a".into(),
            invoke: true,
            shutdown: true,
            waiting: true,
        }];
        let external = ["a".to_owned(), "lambda-adapter".to_owned()];
        let failure = InitFailure::Timeout(Duration::from_secs(10), None)
            .name_unregistered(&registered, &external);
        let payload: serde_json::Value =
            serde_json::from_slice(&failure.payload("r")).unwrap_or_default();
        assert_eq!(payload["errorType"], "Sandbox.Timedout");
        assert_eq!(
            payload["errorMessage"],
            "RequestId: r Error: Task timed out after 10.00 seconds (extension lambda-adapter did not register)"
        );
    }
}
