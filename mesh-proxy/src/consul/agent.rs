//! The Consul agent's HTTP API: a client for its `GET` endpoints with blocking queries
//! ([`blocking`]), the config entries mesh-proxy reads from it ([`entries`]) and the tasks
//! that keep them current ([`watcher`]).
//!
//! Every request carries the ACL token as `X-Consul-Token` (never logged, never in an error),
//! and `ns`, `partition` and `dc` when `[consul]` sets them.

pub(crate) mod blocking;
pub(crate) mod certs;
pub(crate) mod entries;
#[cfg(test)]
mod tests;
pub(crate) mod watcher;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::config::ConsulAgent;
use crate::invoker::{https_client, HttpsClient};

pub use entries::AgentEntries;

/// The header Consul reads the ACL token from.
const TOKEN_HEADER: &str = "x-consul-token";
/// The header carrying a blocking endpoint's index.
const INDEX_HEADER: &str = "x-consul-index";
/// The largest body read from the agent (config entries are small; Consul caps one at 512 KiB).
const MAX_BODY: usize = 8 << 20;
/// Beyond `wait` (and the agent's jitter of up to `wait / 16`), how long a request may take.
const REQUEST_SLACK: Duration = Duration::from_secs(10);

/// A client of one agent.
#[derive(Clone)]
pub(crate) struct AgentClient {
    agent: ConsulAgent,
    http: HttpsClient,
}

/// What the agent answered.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// The status.
    pub status: StatusCode,
    /// `X-Consul-Index`, when sent and a number.
    pub index: Option<u64>,
    /// The body.
    pub body: Bytes,
}

/// A request that got no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AgentError {
    /// The request could not be built (a bad path).
    #[error("GET {path}: cannot build the request: {message}")]
    Request {
        /// The API path.
        path: String,
        /// Why.
        message: String,
    },
    /// Connecting, sending or reading failed.
    #[error("GET {path}: {message}")]
    Transport {
        /// The API path.
        path: String,
        /// Why (hyper's words; never the token, which is only in a header).
        message: String,
    },
    /// No answer within `wait` plus slack.
    #[error("GET {path}: no answer within {}s", .after.as_secs())]
    Timeout {
        /// The API path.
        path: String,
        /// How long it waited.
        after: Duration,
    },
}

impl std::fmt::Debug for AgentClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentClient")
            .field("agent", &self.agent)
            .finish_non_exhaustive()
    }
}

impl AgentClient {
    /// A client of `agent` (HTTPS verified against the system's roots).
    pub(crate) fn new(agent: &ConsulAgent) -> AgentClient {
        AgentClient {
            agent: agent.clone(),
            http: https_client(),
        }
    }

    /// The agent this client asks.
    pub(crate) fn agent(&self) -> &ConsulAgent {
        &self.agent
    }

    /// `GET path`, blocking while the state is still `index` (0: answer at once) for up to
    /// `wait`.
    pub(crate) async fn get(
        &self,
        path: &str,
        index: u64,
        wait: Duration,
    ) -> Result<Answer, AgentError> {
        let uri = self.uri(path, index, wait);
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(&uri)
            .header(http::header::ACCEPT, "application/json");
        if let Some(token) = &self.agent.token {
            let mut value =
                HeaderValue::from_str(token.expose()).map_err(|_| AgentError::Request {
                    path: path.to_owned(),
                    message: "the token cannot be a header value".to_owned(),
                })?;
            value.set_sensitive(true);
            request = request.header(TOKEN_HEADER, value);
        }
        let request = request
            .body(Full::new(Bytes::new()))
            .map_err(|e| AgentError::Request {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        let limit = wait + wait / 16 + REQUEST_SLACK;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| transport(path, &e))?;
            let (parts, body) = response.into_parts();
            let body = http_body_util::Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|e| AgentError::Transport {
                    path: path.to_owned(),
                    message: format!("reading the body: {e}"),
                })?
                .to_bytes();
            let index = parts
                .headers
                .get(INDEX_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            Ok(Answer {
                status: parts.status,
                index,
                body,
            })
        };
        match tokio::time::timeout(limit, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(AgentError::Timeout {
                path: path.to_owned(),
                after: limit,
            }),
        }
    }

    /// `scheme://authority/path?…` with the blocking and scoping parameters.
    fn uri(&self, path: &str, index: u64, wait: Duration) -> String {
        let mut query: Vec<String> = Vec::new();
        let agent = &self.agent;
        for (name, value) in [
            ("dc", &agent.datacenter),
            ("ns", &agent.namespace),
            ("partition", &agent.partition),
        ] {
            if let Some(value) = value {
                query.push(format!("{name}={}", encode(value)));
            }
        }
        if index > 0 {
            query.push(format!("index={index}"));
            query.push(format!("wait={}s", wait.as_secs().max(1)));
        }
        let separator = if query.is_empty() { "" } else { "?" };
        format!("{}{path}{separator}{}", agent.base_url(), query.join("&"))
    }
}

/// What is percent-encoded in a path segment or query value: all but RFC 3986's unreserved
/// characters.
const ENCODED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A path segment or query value, percent-encoded.
pub(crate) fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, ENCODED).to_string()
}

fn transport(path: &str, e: &hyper_util::client::legacy::Error) -> AgentError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    AgentError::Transport {
        path: path.to_owned(),
        message,
    }
}
