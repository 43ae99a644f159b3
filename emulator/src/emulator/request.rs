//! What an invoke names and carries, checked as Lambda checks them: the function and qualifier
//! (a name, a partial or a full ARN), the payload's size and JSON, the client context.

use base64::Engine as _;
use bytes::Bytes;

use super::{Emulator, Function};
use crate::environment::Job;
use crate::function::{ACCOUNT, REGION};
use crate::invoke::{
    InvocationType, InvokeError, InvokeRequest, MAX_ASYNC_REQUEST_BYTES, MAX_SYNC_REQUEST_BYTES,
};

/// Lambda's limit on the decoded client context (3,583 bytes).
const MAX_CLIENT_CONTEXT_BYTES: usize = 3583;

/// A resolved invoke target.
pub(super) struct Target<'a> {
    pub(super) function: &'a Function,
    pub(super) executed_version: String,
    pub(super) invoked_arn: String,
}

impl Emulator {
    /// Find the function and qualifier an invoke names.
    pub(super) fn resolve(&self, request: &InvokeRequest) -> Result<Target<'_>, InvokeError> {
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
    pub(super) fn job(
        &self,
        request: &InvokeRequest,
        target: &Target<'_>,
    ) -> Result<Job, InvokeError> {
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
            trace_id: request.trace_id.as_deref().and_then(trace_header),
            version: target.executed_version.clone(),
        })
    }
}

/// The caller's X-Ray header as the runtime gets it: kept when it names a `Root` and is a sane
/// header value, else `None` (the environment makes one).
fn trace_header(value: &str) -> Option<String> {
    let value = value.trim();
    let sane = value.len() <= 512 && value.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    let rooted = value
        .split(';')
        .any(|field| field.trim().starts_with("Root=1-"));
    (sane && rooted).then(|| value.to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callers_trace_header_is_kept_only_with_a_root() {
        let xray = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        assert_eq!(trace_header(xray).as_deref(), Some(xray));
        assert_eq!(trace_header("Parent=53995c3f42cd8ad8"), None);
        assert_eq!(trace_header("Root=1-a\u{7}"), None);
    }

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
