//! The Lambda Extensions API (`2020-01-01`): register for `SHUTDOWN`, wait for events, report
//! init and exit errors.

use http::{Method, StatusCode};
use serde::Deserialize;

use crate::api_client::{ApiClient, ApiError, Wait};
use crate::body::OutBody;
use crate::error::ErrorReport;

/// The name the extension registers under: the name of its file in `/opt/extensions`.
pub(crate) const EXTENSION_NAME: &str = "lambda-mesh";
const REGISTER: &str = "/2020-01-01/extension/register";
const EVENT_NEXT: &str = "/2020-01-01/extension/event/next";
const INIT_ERROR: &str = "/2020-01-01/extension/init/error";
const EXIT_ERROR: &str = "/2020-01-01/extension/exit/error";
const ID_HEADER: &str = "lambda-extension-identifier";
const ERROR_TYPE_HEADER: &str = "lambda-extension-function-error-type";

/// An event from `event/next`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExtensionEvent {
    /// The environment is shutting down.
    Shutdown {
        /// `shutdownReason`: `spindown`, `timeout` or `failure`.
        reason: String,
        /// `deadlineMs`: when the process must be gone, in milliseconds since the Unix epoch.
        deadline_ms: u64,
    },
    /// Any other event (the extension subscribes to `SHUTDOWN` only, so none is expected).
    Other(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent {
    event_type: String,
    #[serde(default)]
    shutdown_reason: Option<String>,
    #[serde(default)]
    deadline_ms: Option<u64>,
}

/// A registered extension's client of the Extensions API.
#[derive(Debug)]
pub(crate) struct ExtensionsApi {
    client: ApiClient,
    id: String,
}

impl ExtensionsApi {
    /// Registers through `client` as [`EXTENSION_NAME`] for `SHUTDOWN` events only: the
    /// extension is also the runtime client, and an `INVOKE` subscriber would make Lambda wait on
    /// it after each invoke. Bounded by the client's call timeout.
    pub(crate) async fn register(mut client: ApiClient) -> Result<Self, ApiError> {
        let what = "extension/register";
        let request = client
            .request(Method::POST, REGISTER)
            .header("lambda-extension-name", EXTENSION_NAME)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(OutBody::full(r#"{"events":["SHUTDOWN"]}"#))
            .map_err(|source| ApiError::Build { what, source })?;
        let (parts, _) = client
            .exchange(what, request, StatusCode::OK, Wait::Call)
            .await?;
        let id = parts
            .headers
            .get(ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::BadAnswer {
                what,
                reason: "no Lambda-Extension-Identifier header".to_owned(),
            })?
            .to_owned();
        Ok(ExtensionsApi { client, id })
    }

    /// A second client with the same identifier on its own connection, to report errors while
    /// this one waits in `event/next`.
    pub(crate) fn another(&self) -> Self {
        ExtensionsApi {
            client: ApiClient::new(self.client.authority()).with_timeout(self.client.timeout()),
            id: self.id.clone(),
        }
    }

    /// Waits for the next event: as long as it takes (a long poll), but a connection that closes
    /// under the wait fails it with [`ApiError::Closed`].
    pub(crate) async fn next_event(&mut self) -> Result<ExtensionEvent, ApiError> {
        let what = "extension/event/next";
        let request = self
            .client
            .request(Method::GET, EVENT_NEXT)
            .header(ID_HEADER, self.id.as_str())
            .body(OutBody::empty())
            .map_err(|source| ApiError::Build { what, source })?;
        let (_, body) = self
            .client
            .exchange(what, request, StatusCode::OK, Wait::LongPoll)
            .await?;
        let raw: RawEvent = serde_json::from_slice(&body).map_err(|e| ApiError::BadAnswer {
            what,
            reason: format!("event is not valid JSON: {e}"),
        })?;
        Ok(if raw.event_type.eq_ignore_ascii_case("SHUTDOWN") {
            ExtensionEvent::Shutdown {
                reason: raw.shutdown_reason.unwrap_or_default(),
                deadline_ms: raw.deadline_ms.unwrap_or(0),
            }
        } else {
            ExtensionEvent::Other(raw.event_type)
        })
    }

    /// Reports that init failed; Lambda then fails the init phase with `report`. Bounded by the
    /// call timeout.
    pub(crate) async fn init_error(&mut self, report: &ErrorReport) -> Result<(), ApiError> {
        self.post_error("extension/init/error", INIT_ERROR, report)
            .await
    }

    /// Reports that the extension is about to exit on an error, so Lambda resets the environment.
    /// Bounded by the call timeout.
    pub(crate) async fn exit_error(&mut self, report: &ErrorReport) -> Result<(), ApiError> {
        self.post_error("extension/exit/error", EXIT_ERROR, report)
            .await
    }

    async fn post_error(
        &mut self,
        what: &'static str,
        path: &str,
        report: &ErrorReport,
    ) -> Result<(), ApiError> {
        let request = self
            .client
            .request(Method::POST, path)
            .header(ID_HEADER, self.id.as_str())
            .header(ERROR_TYPE_HEADER, report.error_type)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(OutBody::full(report.to_json()))
            .map_err(|source| ApiError::Build { what, source })?;
        self.client
            .exchange(what, request, StatusCode::ACCEPTED, Wait::Call)
            .await
            .map(drop)
    }
}
