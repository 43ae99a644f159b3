//! The accept loop's two guards: a backoff after failed accepts (out of file descriptors, say),
//! logged once per episode instead of once per attempt, and the count of open connections that
//! `max_connections` caps.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The first pause after a failed accept.
pub(crate) const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(10);
/// The longest pause: doubling stops here.
pub(crate) const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Pauses after failed accepts: 10 ms, doubling to 1 s, reset by the next accept that succeeds.
#[derive(Debug, Default)]
pub(crate) struct AcceptBackoff {
    next: Option<Duration>,
    failures: u64,
}

impl AcceptBackoff {
    /// An accept failed with `error`: how long to pause (the first failure of an episode is
    /// logged; the rest are counted and reported when it ends).
    pub(crate) fn failed(&mut self, addr: SocketAddr, error: &std::io::Error) -> Duration {
        let pause = self.next.unwrap_or(ACCEPT_BACKOFF_FIRST);
        if self.failures == 0 {
            tracing::warn!(addr = %addr, error = %error, "accept failed; backing off until an accept succeeds");
        }
        self.failures += 1;
        self.next = Some((pause * 2).min(ACCEPT_BACKOFF_MAX));
        pause
    }

    /// An accept succeeded: the episode, if any, is over.
    pub(crate) fn succeeded(&mut self, addr: SocketAddr) {
        if self.failures > 0 {
            tracing::info!(addr = %addr, failures = self.failures, "accepting again");
        }
        *self = AcceptBackoff::default();
    }
}

/// The connections a listener has open, and whether the cap was being hit (logged once per
/// episode).
#[derive(Debug, Default)]
pub(crate) struct OpenConnections {
    open: Arc<AtomicUsize>,
    refusing: bool,
}

/// One open connection, counted until dropped.
#[derive(Debug)]
pub(crate) struct Open(Arc<AtomicUsize>);

impl OpenConnections {
    /// Count a new connection, or `None` when `max` are open already.
    pub(crate) fn admit(&mut self, addr: SocketAddr, max: usize) -> Option<Open> {
        let open = self.open.load(Ordering::Acquire);
        if open >= max {
            if !self.refusing {
                self.refusing = true;
                tracing::warn!(addr = %addr, max_connections = max, "max_connections open: new connections are closed at once");
            }
            return None;
        }
        if self.refusing {
            self.refusing = false;
            tracing::info!(addr = %addr, open, "below max_connections again");
        }
        self.open.fetch_add(1, Ordering::AcqRel);
        Some(Open(self.open.clone()))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 1))
    }

    #[test]
    fn accept_failures_back_off_from_10_ms_doubling_to_1_s_and_reset_on_success() {
        let mut backoff = AcceptBackoff::default();
        let error = std::io::Error::from_raw_os_error(24); // EMFILE
        let pauses: Vec<u128> = (0..10)
            .map(|_| backoff.failed(addr(), &error).as_millis())
            .collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        backoff.succeeded(addr());
        assert_eq!(backoff.failed(addr(), &error), ACCEPT_BACKOFF_FIRST);
    }

    #[test]
    fn connections_over_the_cap_are_refused_until_one_closes() {
        let mut open = OpenConnections::default();
        let first = open.admit(addr(), 2).expect("first");
        let _second = open.admit(addr(), 2).expect("second");
        assert!(open.admit(addr(), 2).is_none());
        drop(first);
        assert!(open.admit(addr(), 2).is_some());
    }
}
