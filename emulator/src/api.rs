//! What the APIs of an environment's listener share: their route prefixes and how a request is
//! told to come from a registered extension.

use crate::http_util::{api_error, header, Body};
use crate::sandbox::Sandbox;

/// The Runtime API (2018-06-01).
pub(crate) const RUNTIME_PREFIX: &str = "/2018-06-01/runtime/";
/// The Extensions API (2020-01-01).
pub(crate) const EXTENSION_PREFIX: &str = "/2020-01-01/extension/";
/// The Telemetry API (2022-07-01).
pub(crate) const TELEMETRY_PATH: &str = "/2022-07-01/telemetry";
/// The Logs API (2020-08-15), the Telemetry API's predecessor.
pub(crate) const LOGS_PATH: &str = "/2020-08-15/logs";

/// The extension's id from the request, or Lambda's answer when it is missing or unknown.
pub(crate) fn identify(
    sandbox: &Sandbox,
    parts: &http::request::Parts,
) -> Result<String, Box<http::Response<Body>>> {
    let Some(id) = header(parts, "lambda-extension-identifier") else {
        return Err(Box::new(api_error(
            403,
            "Extension.MissingHeader",
            "Missing Lambda-Extension-Identifier header",
        )));
    };
    if sandbox.queues().contains_key(id) {
        Ok(id.to_owned())
    } else {
        Err(Box::new(api_error(
            403,
            "Extension.UnknownExtensionIdentifier",
            "Unknown extension identifier",
        )))
    }
}
