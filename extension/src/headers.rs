//! Headers the extension adds for the service (`x-amzn-request-context`, `x-amzn-lambda-context`,
//! `x-amzn-trace-id`, `traceparent`) and the hop-by-hop headers it removes.

use http::header::{HeaderMap, HeaderValue};
use serde_json::{json, Value};

use crate::config::FunctionEnv;
use crate::runtime_api::Invocation;

/// The event's request context as JSON.
pub(crate) const REQUEST_CONTEXT: &str = "x-amzn-request-context";
/// The invocation's context as JSON, with aws-lambda-web-adapter's field names.
pub(crate) const LAMBDA_CONTEXT: &str = "x-amzn-lambda-context";
/// The X-Ray trace header.
pub(crate) const TRACE_ID: &str = "x-amzn-trace-id";
/// The W3C trace context header.
pub(crate) const TRACEPARENT: &str = "traceparent";
/// The tenant of a multi-tenant function (aws-lambda-web-adapter sets it too).
pub(crate) const TENANT_ID: &str = "x-amz-tenant-id";

pub(crate) use lambda_mesh_adapter::strip_hop_by_hop;

/// `Lambda-Runtime-Client-Context` as JSON, when it is JSON.
fn client_context(invocation: &Invocation) -> Option<Value> {
    let text = invocation.client_context.as_deref()?;
    serde_json::from_str::<Value>(text).ok()
}

/// `Lambda-Runtime-Cognito-Identity` with `lambda_runtime`'s field names, when it is JSON.
fn identity(invocation: &Invocation) -> Option<Value> {
    let text = invocation.cognito_identity.as_deref()?;
    let raw = serde_json::from_str::<Value>(text).ok()?;
    let field = |a: &str, b: &str| raw.get(a).or_else(|| raw.get(b)).cloned();
    Some(json!({
        "identity_id": field("cognitoIdentityId", "identity_id").unwrap_or(Value::Null),
        "identity_pool_id": field("cognitoIdentityPoolId", "identity_pool_id").unwrap_or(Value::Null),
    }))
}

/// The `x-amzn-lambda-context` JSON as a value: the field names of `lambda_runtime::Context`,
/// which aws-lambda-web-adapter serialises, so applications written for it read ours unchanged.
/// The tests hold [`lambda_context_json`], which writes the same text directly, to it.
#[cfg(test)]
fn lambda_context(invocation: &Invocation, function: &FunctionEnv) -> Value {
    json!({
        "request_id": invocation.request_id,
        "deadline": invocation.deadline_ms,
        "invoked_function_arn": invocation.invoked_function_arn,
        "xray_trace_id": invocation.trace_id,
        "client_context": client_context(invocation),
        "identity": identity(invocation),
        "tenant_id": invocation.tenant_id,
        "env_config": {
            "function_name": function.function_name,
            "memory": function.memory,
            "version": function.version,
            "log_stream": function.log_stream,
            "log_group": function.log_group,
        },
    })
}

/// The `x-amzn-lambda-context` JSON text, with the field names of `lambda_runtime::Context`
/// (which aws-lambda-web-adapter serialises, so applications written for it read ours
/// unchanged), written straight from the invocation, members in serde_json's sorted order.
pub(crate) fn lambda_context_json(invocation: &Invocation, function: &FunctionEnv) -> String {
    #[derive(serde::Serialize)]
    struct Env<'a> {
        function_name: &'a str,
        log_group: &'a str,
        log_stream: &'a str,
        memory: i32,
        version: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Context<'a> {
        client_context: Option<Value>,
        deadline: u64,
        env_config: Env<'a>,
        identity: Option<Value>,
        invoked_function_arn: &'a str,
        request_id: &'a str,
        tenant_id: Option<&'a str>,
        xray_trace_id: Option<&'a str>,
    }
    let context = Context {
        client_context: client_context(invocation),
        deadline: invocation.deadline_ms,
        env_config: Env {
            function_name: &function.function_name,
            log_group: &function.log_group,
            log_stream: &function.log_stream,
            memory: function.memory,
            version: &function.version,
        },
        identity: identity(invocation),
        invoked_function_arn: &invocation.invoked_function_arn,
        request_id: &invocation.request_id,
        tenant_id: invocation.tenant_id.as_deref(),
        xray_trace_id: invocation.trace_id.as_deref(),
    };
    serde_json::to_string(&context).unwrap_or_default()
}

/// A W3C `traceparent` from an X-Ray trace header
/// (`Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`):
/// `00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01`. Unknown keys are ignored.
pub(crate) fn traceparent(xray: &str) -> Option<String> {
    let (mut root, mut parent, mut sampled) = (None, None, false);
    for field in xray.split(';') {
        let Some((key, value)) = field.trim().split_once('=') else {
            continue;
        };
        match key.trim() {
            "Root" => root = Some(value.trim()),
            "Parent" => parent = Some(value.trim()),
            "Sampled" => sampled = value.trim() == "1",
            _ => {}
        }
    }
    let mut parts = root?.split('-');
    let (version, time, unique) = (parts.next()?, parts.next()?, parts.next()?);
    let trace_id = format!("{time}{unique}").to_ascii_lowercase();
    let parent = parent?.to_ascii_lowercase();
    let is_hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    if version != "1" || parts.next().is_some() || !is_hex(&trace_id, 32) || !is_hex(&parent, 16) {
        return None;
    }
    if trace_id.bytes().all(|b| b == b'0') || parent.bytes().all(|b| b == b'0') {
        return None;
    }
    let flags = if sampled { "01" } else { "00" };
    Some(format!("00-{trace_id}-{parent}-{flags}"))
}

/// Adds the invocation's headers for the service.
pub(crate) fn add_invocation_headers(
    headers: &mut HeaderMap,
    invocation: &Invocation,
    function: &FunctionEnv,
    request_context: Option<&str>,
) {
    if let Some(context) = request_context {
        insert_json(headers, REQUEST_CONTEXT, context);
    }
    insert_json(
        headers,
        LAMBDA_CONTEXT,
        &lambda_context_json(invocation, function),
    );
    if let Some(trace) = invocation.trace_id.as_deref() {
        if let Ok(value) = HeaderValue::from_str(trace) {
            headers.insert(TRACE_ID, value);
        }
        // The function's own segment is the service's parent now: its `traceparent` replaces
        // the caller's (which named the caller's span), so the Lambda hop is not skipped. The
        // caller's `tracestate` stays. A trace header without a parent leaves the caller's.
        if let Some(value) = traceparent(trace).and_then(|t| HeaderValue::from_str(&t).ok()) {
            headers.insert(TRACEPARENT, value);
        }
    }
    if let Some(tenant) = invocation.tenant_id.as_deref() {
        if let Ok(value) = HeaderValue::from_str(tenant) {
            headers.insert(TENANT_ID, value);
        }
    }
}

fn insert_json(headers: &mut HeaderMap, name: &'static str, json: &str) {
    // JSON text has its control characters escaped, so only non-ASCII text could make the value
    // invalid; HeaderValue accepts those bytes as opaque.
    match HeaderValue::from_bytes(json.as_bytes()) {
        Ok(value) => {
            headers.insert(name, value);
        }
        Err(_) => tracing::warn!(
            header = name,
            "context is not a valid header value; not sent"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_from_xray() {
        assert_eq!(
            traceparent("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|68fd508a:5").as_deref(),
            Some("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01")
        );
        assert_eq!(
            traceparent(
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"
            )
            .as_deref(),
            Some("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-00")
        );
        assert_eq!(
            traceparent("Root=1-5759e988-bd862e3fe1be46a994272793").as_deref(),
            None
        );
        assert_eq!(traceparent("Root=1-zz;Parent=53995c3f42cd8ad8"), None);
    }

    #[test]
    fn hop_by_hop_headers_go() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 2);
        assert_eq!(headers.get_all("x-multi").iter().count(), 2);
    }

    #[test]
    fn lambda_context_has_lwa_field_names() {
        let invocation = Invocation {
            request_id: "id-1".into(),
            deadline_ms: 42,
            invoked_function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
            trace_id: Some("Root=1-5759e988-bd862e3fe1be46a994272793".into()),
            client_context: Some(r#"{"custom":{"k":"v"}}"#.into()),
            cognito_identity: Some(
                r#"{"cognitoIdentityId":"i","cognitoIdentityPoolId":"p"}"#.into(),
            ),
            tenant_id: None,
            event: bytes::Bytes::new(),
        };
        let function = FunctionEnv {
            function_name: "f".into(),
            memory: 256,
            ..FunctionEnv::default()
        };
        let context = lambda_context(&invocation, &function);
        assert_eq!(
            lambda_context_json(&invocation, &function),
            context.to_string()
        );
        let plain = Invocation {
            trace_id: None,
            client_context: None,
            cognito_identity: None,
            tenant_id: Some("t\"1".into()),
            ..invocation.clone()
        };
        assert_eq!(
            lambda_context_json(&plain, &function),
            lambda_context(&plain, &function).to_string()
        );
        assert_eq!(context["request_id"], "id-1");
        assert_eq!(context["deadline"], 42);
        assert_eq!(context["client_context"]["custom"]["k"], "v");
        assert_eq!(context["identity"]["identity_id"], "i");
        assert_eq!(context["identity"]["identity_pool_id"], "p");
        assert_eq!(context["env_config"]["memory"], 256);
        assert_eq!(
            context["xray_trace_id"],
            "Root=1-5759e988-bd862e3fe1be46a994272793"
        );
    }
}
