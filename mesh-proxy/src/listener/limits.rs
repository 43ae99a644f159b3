//! What every listener holds each connection to, in one place: a time to send the first request
//! head, counted from the connect so that a connection that never sends a byte is closed too
//! (`header_timeout`); a time to wait between requests (`idle_timeout`); a time a response may
//! wait for its client to read (`write_timeout`); and a cap on open connections
//! (`max_connections`, enforced by the accept loop).
//!
//! A connection's [`Activity`] is told what happens on it (requests dispatched and answered, bytes
//! read, writes blocked or progressing); [`supervise`] drops the connection once the deadline that
//! state implies has passed.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// Default `header_timeout`: nginx's `client_header_timeout` is 60 s, Envoy's
/// `request_headers_timeout` unset; 10 s is ample on the loopback and inside the mesh.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `idle_timeout`: between requests on a keep-alive connection (nginx: 75 s).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `write_timeout`: how long a response may make no progress towards its client.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `max_connections` per listener: well under the usual 1024 soft / 4096+ hard fd limits
/// (the soft limit is raised to the hard one at start).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// The limits every listener holds its connections to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// `header_timeout`: from connect (or the TLS handshake) to the first request head.
    pub header_timeout: Duration,
    /// `idle_timeout`: from the end of a response to the next request head.
    pub idle_timeout: Duration,
    /// `write_timeout`: how long a connection may make no write progress while it has a
    /// response to send.
    pub write_timeout: Duration,
    /// `max_connections`: open connections per listener; more are closed at once.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl ConnectionLimits {
    /// The shortest of the timeouts: how often a supervisor looks again, so that no deadline
    /// that appears while it sleeps is overslept.
    fn recheck(&self) -> Duration {
        self.header_timeout
            .min(self.idle_timeout)
            .min(self.write_timeout)
    }
}

/// Which limit closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    /// No first request head within `header_timeout`.
    Header,
    /// No next request within `idle_timeout`.
    Idle,
    /// No write progress within `write_timeout`.
    Write,
}

impl std::fmt::Display for Expired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Expired::Header => "no request head within header_timeout",
            Expired::Idle => "no request within idle_timeout",
            Expired::Write => "the client read nothing within write_timeout",
        })
    }
}

/// What is happening on one connection, as its I/O, its requests and its response bodies report.
#[derive(Debug)]
pub(crate) struct Activity {
    limits: ConnectionLimits,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    started: Instant,
    /// Whether a request was dispatched yet (before: `header_timeout` from `started`).
    served: bool,
    /// Requests dispatched whose response is not finished (sent, aborted or dropped).
    active: usize,
    /// When `active` last fell to 0.
    idle_since: Instant,
    /// The first byte read since then (a next request head arriving).
    read_since_idle: Option<Instant>,
    /// Whether the last write (or flush) could not proceed.
    write_blocked: bool,
    /// Response bodies that handed out a frame the connection has not taken the next one after.
    bodies_waiting: usize,
    /// Since when the connection has something to send and has made no progress.
    waiting_since: Option<Instant>,
}

impl Activity {
    /// A connection accepted now.
    pub(crate) fn new(limits: ConnectionLimits) -> Activity {
        let now = Instant::now();
        Activity {
            limits,
            state: Mutex::new(State {
                started: now,
                served: false,
                active: 0,
                idle_since: now,
                read_since_idle: None,
                write_blocked: false,
                bodies_waiting: 0,
                waiting_since: None,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request was dispatched.
    pub(crate) fn request_started(&self) {
        let mut state = self.state();
        state.served = true;
        state.active += 1;
        state.read_since_idle = None;
    }

    /// A dispatched request's response finished (or was given up).
    pub(crate) fn request_finished(&self) {
        let mut state = self.state();
        state.active = state.active.saturating_sub(1);
        if state.active == 0 {
            state.idle_since = Instant::now();
            state.read_since_idle = None;
        }
    }

    /// Bytes were read.
    pub(crate) fn read(&self) {
        let mut state = self.state();
        if state.active == 0 && state.read_since_idle.is_none() {
            state.read_since_idle = Some(Instant::now());
        }
    }

    /// A write or flush returned `Pending` (`blocked`), or returned (`wrote`: bytes were taken,
    /// which is progress; a flush that returns is not, or h2's idle flushes would hide a stall).
    pub(crate) fn write(&self, blocked: bool, wrote: bool) {
        let mut state = self.state();
        state.write_blocked = blocked;
        state.progressed(wrote);
    }

    /// A response body handed out a frame (`waiting`), or was asked for its next one.
    pub(crate) fn body(&self, waiting: bool) {
        let mut state = self.state();
        if waiting {
            state.bodies_waiting += 1;
        } else {
            state.bodies_waiting = state.bodies_waiting.saturating_sub(1);
        }
        state.progressed(!waiting);
    }

    /// When the connection is to be closed, and why, as things stand.
    fn deadline(&self) -> Option<(Instant, Expired)> {
        let state = self.state();
        let limits = &self.limits;
        let mut deadline = None;
        if state.active == 0 {
            deadline = Some(if !state.served {
                (state.started + limits.header_timeout, Expired::Header)
            } else {
                let idle = state.idle_since + limits.idle_timeout;
                // A request head under way gets its `header_timeout`, even late in the idle time.
                let head = state.read_since_idle.map(|at| at + limits.header_timeout);
                (head.map_or(idle, |head| head.max(idle)), Expired::Idle)
            });
        }
        if let Some(since) = state.waiting_since {
            let write = since + limits.write_timeout;
            if deadline.is_none_or(|(at, _)| write < at) {
                deadline = Some((write, Expired::Write));
            }
        }
        deadline
    }
}

impl State {
    fn waiting(&self) -> bool {
        self.write_blocked || self.bodies_waiting > 0
    }

    /// Restart the write clock on progress; start it when something starts waiting.
    fn progressed(&mut self, progress: bool) {
        self.waiting_since = match (self.waiting(), self.waiting_since) {
            (false, _) => None,
            (true, Some(since)) if !progress => Some(since),
            (true, _) => Some(Instant::now()),
        };
    }
}

/// Run `connection` until it ends or `activity` says a limit has passed (then it is dropped,
/// which closes it).
pub(crate) fn supervise<F: Future>(connection: F, activity: Arc<Activity>) -> Supervised<F> {
    let recheck = activity.limits.recheck();
    Supervised {
        connection: Box::pin(connection),
        wake: Box::pin(tokio::time::sleep(recheck)),
        activity,
        recheck,
    }
}

/// The future of [`supervise`]: a hand-written poll, since an `async fn` holding a pinned
/// borrow of hyper's connection across an await trips rustc's higher-ranked `Send` check.
pub(crate) struct Supervised<F> {
    connection: Pin<Box<F>>,
    wake: Pin<Box<Sleep>>,
    activity: Arc<Activity>,
    recheck: Duration,
}

impl<F: Future> Future for Supervised<F> {
    type Output = Result<F::Output, Expired>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(output) = self.connection.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        loop {
            let now = Instant::now();
            let wake = match self.activity.deadline() {
                Some((at, why)) if at <= now => return Poll::Ready(Err(why)),
                Some((at, _)) => at.min(now + self.recheck),
                None => now + self.recheck,
            };
            self.wake.as_mut().reset(wake);
            if self.wake.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(3),
            max_connections: 4,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_gets_header_timeout_from_connect() {
        let activity = Arc::new(Activity::new(limits()));
        let start = Instant::now();
        let closed = supervise(std::future::pending::<()>(), activity.clone()).await;
        assert_eq!(closed, Err(Expired::Header));
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_keep_alive_connection_gets_idle_timeout() {
        let activity = Arc::new(Activity::new(limits()));
        activity.request_started();
        tokio::time::sleep(Duration::from_secs(7)).await;
        activity.request_finished();
        let start = Instant::now();
        let closed = supervise(std::future::pending::<()>(), activity.clone()).await;
        assert_eq!(closed, Err(Expired::Idle));
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_without_progress_gets_write_timeout() {
        let activity = Arc::new(Activity::new(limits()));
        activity.request_started();
        let start = Instant::now();
        let progress = async {
            // Progress every second for 4 s, then the client stops reading.
            for _ in 0..4 {
                activity.body(true);
                tokio::time::sleep(Duration::from_secs(1)).await;
                activity.body(false);
            }
            activity.body(true);
            std::future::pending::<()>().await
        };
        let closed = supervise(progress, activity.clone()).await;
        assert_eq!(closed, Err(Expired::Write));
        assert_eq!(start.elapsed(), Duration::from_secs(4 + 3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_blocked_write_after_the_last_body_frame_still_counts() {
        let activity = Arc::new(Activity::new(limits()));
        activity.request_started();
        activity.request_finished();
        activity.write(true, false);
        let start = Instant::now();
        let closed = supervise(std::future::pending::<()>(), activity.clone()).await;
        assert_eq!(closed, Err(Expired::Write));
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }
}
