//! Waiting for the service to be ready: an HTTP `GET` with a healthy status, or a TCP connect,
//! polled quickly and bounded in time.

use std::net::SocketAddr;
use std::time::Duration;

use http::{Method, Request};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

use crate::body::OutBody;
use crate::config::{Config, ReadinessProtocol, StatusSet};

/// Pause between two readiness checks (aws-lambda-web-adapter polls every 10 ms too).
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Bound on one check, so a hung health endpoint cannot stall the wait.
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
/// How often a still-waiting extension logs that it is waiting.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// The service did not become ready in time.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("the service at {target} was not ready after {waited_ms} ms (last check: {last})")]
pub struct ReadinessError {
    /// What was checked, e.g. `http://127.0.0.1:8080/` or `tcp://127.0.0.1:8080`.
    pub(crate) target: String,
    /// How long the extension waited.
    pub(crate) waited_ms: u128,
    /// What the last check saw.
    pub(crate) last: String,
}

/// How to tell that the service is ready.
#[derive(Debug, Clone)]
pub(crate) struct Readiness {
    addr: SocketAddr,
    protocol: ReadinessProtocol,
    path: String,
    healthy: StatusSet,
}

impl Readiness {
    /// The readiness check the configuration describes.
    pub(crate) fn from_config(config: &Config) -> Self {
        Readiness {
            addr: config.readiness_addr,
            protocol: config.readiness_protocol,
            path: config.readiness_path.clone(),
            healthy: config.healthy_status.clone(),
        }
    }

    /// A readable name of what is checked.
    pub(crate) fn target(&self) -> String {
        match self.protocol {
            ReadinessProtocol::Http => format!("http://{}{}", self.addr, self.path),
            ReadinessProtocol::Tcp => format!("tcp://{}", self.addr),
        }
    }

    /// One check; `Err` says what was seen instead of readiness.
    pub(crate) async fn check_once(&self) -> Result<(), String> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| e.to_string())?;
        if self.protocol == ReadinessProtocol::Tcp {
            return Ok(());
        }
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        let connection = tokio::spawn(connection);
        let request = Request::builder()
            .method(Method::GET)
            .uri(self.path.as_str())
            .header(http::header::HOST, self.addr.to_string())
            .body(OutBody::empty())
            .map_err(|e| e.to_string())?;
        let result = sender.send_request(request).await;
        connection.abort();
        let status = result.map_err(|e| e.to_string())?.status();
        if self.healthy.contains(status.as_u16()) {
            Ok(())
        } else {
            Err(format!("status {status}"))
        }
    }

    /// Checks until the service is ready or `limit` has passed; returns the time waited.
    pub(crate) async fn wait(&self, limit: Duration) -> Result<Duration, ReadinessError> {
        let start = Instant::now();
        let end = start + limit;
        let mut next_progress = start + PROGRESS_EVERY;
        loop {
            let now = Instant::now();
            let attempt_limit = end.saturating_duration_since(now).min(ATTEMPT_TIMEOUT);
            let last = match timeout(attempt_limit, self.check_once()).await {
                Ok(Ok(())) => return Ok(start.elapsed()),
                Ok(Err(seen)) => seen,
                Err(_) => format!("no answer within {} ms", attempt_limit.as_millis()),
            };
            let now = Instant::now();
            if now + POLL_INTERVAL >= end {
                return Err(ReadinessError {
                    target: self.target(),
                    waited_ms: start.elapsed().as_millis(),
                    last,
                });
            }
            if now >= next_progress {
                tracing::info!(target_url = %self.target(), waited_ms = %start.elapsed().as_millis(), last = %last, "service is not ready yet");
                next_progress += PROGRESS_EVERY;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}
