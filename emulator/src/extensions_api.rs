//! The Extensions API (2020-01-01) of one execution environment.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Deserialize;

use crate::api::{identify, EXTENSION_PREFIX};
use crate::failure::error_payload;
use crate::http_util::{accepted, api_error, header, json, Body};
use crate::sandbox::{ExtensionQueue, ExtensionStatus, Sandbox};

/// Lambda allows ten extensions per function.
const MAX_EXTENSIONS: usize = 10;
/// Registration bodies are tiny; refuse anything silly.
const MAX_BODY: usize = 64 * 1024;

#[derive(Deserialize)]
struct Registration {
    #[serde(default)]
    events: Vec<String>,
}

/// Route an Extensions API request.
pub(crate) async fn route(
    sandbox: &Sandbox,
    request: http::Request<Incoming>,
) -> http::Response<Body> {
    let path = request.uri().path().to_owned();
    let rest = path.strip_prefix(EXTENSION_PREFIX).unwrap_or_default();
    match (request.method().clone(), rest) {
        (http::Method::POST, "register") => register(sandbox, request).await,
        (http::Method::GET, "event/next") => next(sandbox, request).await,
        (http::Method::POST, "init/error") => report_error(sandbox, request, true).await,
        (http::Method::POST, "exit/error") => report_error(sandbox, request, false).await,
        _ => api_error(404, "InvalidRequest", "Not found"),
    }
}

async fn read_body(body: Incoming) -> Option<Bytes> {
    Limited::new(body, MAX_BODY)
        .collect()
        .await
        .ok()
        .map(|c| c.to_bytes())
}

async fn register(sandbox: &Sandbox, request: http::Request<Incoming>) -> http::Response<Body> {
    let (parts, body) = request.into_parts();
    let Some(name) = header(&parts, "lambda-extension-name").map(str::to_owned) else {
        return api_error(
            400,
            "Extension.MissingHeader",
            "Missing Lambda-Extension-Name header",
        );
    };
    let accept_account = header(&parts, "lambda-extension-accept-feature")
        .is_some_and(|f| f.split(',').any(|f| f.trim() == "accountId"));
    let Some(registration) = read_body(body)
        .await
        .and_then(|b| serde_json::from_slice::<Registration>(&b).ok())
    else {
        return api_error(
            400,
            "InvalidRequestFormat",
            "Invalid registration request body",
        );
    };
    let (invoke, shutdown) = match subscriptions(&registration.events) {
        Ok(events) => events,
        Err(answer) => return *answer,
    };
    let external = sandbox.external_names.contains(&name);
    if !external && shutdown {
        return api_error(
            400,
            "Extension.InvalidEventType",
            "Internal extensions cannot subscribe to SHUTDOWN",
        );
    }
    let status = sandbox.status.borrow().clone();
    if status.runtime_started {
        return api_error(
            403,
            "Extension.RegistrationClosed",
            "Extension registration is closed",
        );
    }
    if status.extensions.len() >= MAX_EXTENSIONS {
        return api_error(403, "Extension.TooManyExtensions", "Too many extensions");
    }
    let id = uuid::Uuid::new_v4().to_string();
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    sandbox.queues().insert(
        id.clone(),
        ExtensionQueue {
            sender,
            receiver: std::sync::Arc::new(tokio::sync::Mutex::new(receiver)),
        },
    );
    sandbox.status.send_modify(|s| {
        s.extensions.push(ExtensionStatus {
            id: id.clone(),
            name: name.clone(),
            invoke,
            shutdown,
            waiting: false,
        })
    });
    tracing::debug!(function = %sandbox.spec.config.name, extension = %name, external, "extension registered");
    registered(sandbox, &id, accept_account)
}

/// The events a registration subscribes to: (`INVOKE`, `SHUTDOWN`), or Lambda's refusal.
fn subscriptions(events: &[String]) -> Result<(bool, bool), Box<http::Response<Body>>> {
    let mut invoke = false;
    let mut shutdown = false;
    for event in events {
        match event.as_str() {
            "INVOKE" => invoke = true,
            "SHUTDOWN" => shutdown = true,
            other => {
                return Err(Box::new(api_error(
                    400,
                    "Extension.InvalidEventType",
                    &format!("Invalid event type: {other}"),
                )))
            }
        }
    }
    Ok((invoke, shutdown))
}

/// The answer to a registration: the function's facts and the extension's identifier.
fn registered(sandbox: &Sandbox, id: &str, accept_account: bool) -> http::Response<Body> {
    let mut body = serde_json::json!({
        "functionName": sandbox.spec.config.name,
        "functionVersion": sandbox.version,
        "handler": sandbox.spec.handler,
    });
    if accept_account {
        body["accountId"] = serde_json::Value::from(crate::function::ACCOUNT);
    }
    let mut response = json(200, &body);
    if let Ok(value) = http::HeaderValue::from_str(id) {
        response
            .headers_mut()
            .insert("lambda-extension-identifier", value);
    }
    response
}

async fn next(sandbox: &Sandbox, request: http::Request<Incoming>) -> http::Response<Body> {
    let (parts, _) = request.into_parts();
    let id = match identify(sandbox, &parts) {
        Ok(id) => id,
        Err(answer) => return *answer,
    };
    let Some(receiver) = sandbox.queues().get(&id).map(|q| q.receiver.clone()) else {
        return api_error(
            403,
            "Extension.UnknownExtensionIdentifier",
            "Unknown extension identifier",
        );
    };
    let set_waiting = |waiting: bool| {
        sandbox.status.send_modify(|s| {
            if let Some(ext) = s.extensions.iter_mut().find(|e| e.id == id) {
                ext.waiting = waiting;
            }
        })
    };
    set_waiting(true);
    let event = receiver.lock().await.recv().await;
    set_waiting(false);
    let Some(event) = event else {
        return api_error(
            500,
            "Extension.ShuttingDown",
            "The environment is shutting down",
        );
    };
    let mut response = json(200, &event);
    if let Ok(value) = http::HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        response
            .headers_mut()
            .insert("lambda-extension-event-identifier", value);
    }
    response
}

async fn report_error(
    sandbox: &Sandbox,
    request: http::Request<Incoming>,
    init: bool,
) -> http::Response<Body> {
    let (parts, body) = request.into_parts();
    if let Err(answer) = identify(sandbox, &parts) {
        return *answer;
    }
    let error_type = header(&parts, "lambda-extension-function-error-type")
        .unwrap_or("Extension.Unknown")
        .to_owned();
    let body = read_body(body).await.unwrap_or_default();
    if init {
        let payload = error_payload(Some(&error_type), &body);
        sandbox
            .status
            .send_modify(|s| s.init_error = Some((error_type, payload)));
    } else {
        sandbox
            .status
            .send_modify(|s| s.exit_error = Some(error_type));
    }
    accepted()
}
