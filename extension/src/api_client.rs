//! A keep-alive HTTP/1.1 client for the Lambda Runtime and Extensions APIs on the loopback.

use std::io;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::body::OutBody;

/// A call to the Lambda Runtime or Extensions API failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No connection to the API.
    #[error("cannot connect to the lambda api at {authority}")]
    Connect {
        /// `host:port` tried.
        authority: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The exchange broke off.
    #[error("lambda api call {what} failed")]
    Http {
        /// The call.
        what: &'static str,
        /// The cause.
        #[source]
        source: hyper::Error,
    },
    /// The API answered with an unexpected status.
    #[error("lambda api call {what} answered {status}: {body}")]
    Status {
        /// The call.
        what: &'static str,
        /// The status.
        status: StatusCode,
        /// The answer's body, shortened.
        body: String,
    },
    /// The API's answer lacks something required.
    #[error("lambda api call {what} answer is not usable: {reason}")]
    BadAnswer {
        /// The call.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The request could not be built (a value is not valid in a header).
    #[error("lambda api call {what} cannot be built")]
    Build {
        /// The call.
        what: &'static str,
        /// The cause.
        #[source]
        source: http::Error,
    },
}

/// One keep-alive connection to `authority`, reopened when it closes.
#[derive(Debug)]
pub struct ApiClient {
    authority: String,
    sender: Option<http1::SendRequest<OutBody>>,
}

impl ApiClient {
    /// A client for the API at `authority` (`host:port`); connects on first use.
    pub fn new(authority: impl Into<String>) -> Self {
        ApiClient {
            authority: authority.into(),
            sender: None,
        }
    }

    /// The `host:port` this client talks to.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// A request builder for `method path` with the `Host` header set.
    pub fn request(&self, method: http::Method, path: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, self.authority.as_str())
    }

    /// Sends `request`, reusing the connection when it is still open. A request that a closed
    /// connection refused before sending is sent once more on a fresh connection.
    pub async fn send(
        &mut self,
        what: &'static str,
        request: Request<OutBody>,
    ) -> Result<Response<Incoming>, ApiError> {
        let mut sender = match self.sender.take() {
            Some(mut sender) => match sender.ready().await {
                Ok(()) => sender,
                Err(_) => self.connect().await?,
            },
            None => self.connect().await?,
        };
        match sender.try_send_request(request).await {
            Ok(response) => {
                self.sender = Some(sender);
                Ok(response)
            }
            Err(mut failed) => match failed.take_message() {
                Some(request) if failed.error().is_canceled() || failed.error().is_closed() => {
                    let mut sender = self.connect().await?;
                    let response = sender
                        .send_request(request)
                        .await
                        .map_err(|source| ApiError::Http { what, source })?;
                    self.sender = Some(sender);
                    Ok(response)
                }
                _ => Err(ApiError::Http {
                    what,
                    source: failed.into_error(),
                }),
            },
        }
    }

    /// Sends `request` and reads the whole answer, which must have status `expected`.
    pub async fn exchange(
        &mut self,
        what: &'static str,
        request: Request<OutBody>,
        expected: StatusCode,
    ) -> Result<(http::response::Parts, Bytes), ApiError> {
        let response = self.send(what, request).await?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|source| ApiError::Http { what, source })?
            .to_bytes();
        if parts.status != expected {
            let mut text = String::from_utf8_lossy(&body).into_owned();
            text.truncate(512);
            return Err(ApiError::Status {
                what,
                status: parts.status,
                body: text,
            });
        }
        Ok((parts, body))
    }

    async fn connect(&self) -> Result<http1::SendRequest<OutBody>, ApiError> {
        let connect_error = |source| ApiError::Connect {
            authority: self.authority.clone(),
            source,
        };
        let stream = TcpStream::connect(self.authority.as_str())
            .await
            .map_err(connect_error)?;
        stream.set_nodelay(true).map_err(connect_error)?;
        let (sender, connection) =
            http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|source| ApiError::Http {
                    what: "connect",
                    source,
                })?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "lambda api connection closed");
            }
        });
        Ok(sender)
    }
}

/// The JSON error body Lambda expects: `{"errorMessage", "errorType", "stackTrace"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReport {
    /// `errorType`, e.g. `LambdaMesh.ServiceTimeout`.
    pub error_type: String,
    /// `errorMessage`, meant for a person.
    pub error_message: String,
}

impl ErrorReport {
    /// A report of `error_type` with `error_message`.
    pub fn new(error_type: impl Into<String>, error_message: impl Into<String>) -> Self {
        ErrorReport {
            error_type: error_type.into(),
            error_message: error_message.into(),
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> Bytes {
        serde_json::json!({
            "errorMessage": self.error_message,
            "errorType": self.error_type,
            "stackTrace": [],
        })
        .to_string()
        .into()
    }
}
