//! Consul's blocking queries, as its API documentation describes them (features/blocking):
//! the next request sends `index=<X-Consul-Index>&wait=<N>s` and is held until the state passes
//! that index or `wait` elapses; an index that goes backwards (a restored snapshot, a new
//! cluster) starts over at 0; an index of 0 is never waited on (it would not block). Errors
//! back off with full jitter, so a down agent is not hammered and many proxies do not retry in
//! step.

use std::time::Duration;

use crate::invoker::Backoff;

/// Consul's default `wait` (the most it allows is 10 minutes).
pub(crate) const DEFAULT_WAIT: Duration = Duration::from_secs(300);
/// The least time between two requests for one path, even when each returns at once.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(50);
/// The pauses after failed requests: up to 1 s after the first, doubling to 60 s.
pub(crate) const ERROR_BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(1),
    cap: Duration::from_secs(60),
};

/// The index the next request for one path blocks on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BlockingIndex(u64);

impl BlockingIndex {
    /// What to send as `index` (0: do not block).
    pub(crate) fn current(self) -> u64 {
        self.0
    }

    /// After an answer whose `X-Consul-Index` was `returned`.
    pub(crate) fn advance(&mut self, returned: Option<u64>) {
        self.0 = match returned {
            // Not a blocking endpoint (or a proxy stripped the header): ask again without one.
            None => 0,
            Some(index) if index < self.0 => 0,
            Some(0) => 1,
            Some(index) => index,
        };
    }
}

/// The ACL permission Consul checks for a `GET` of `path` (said in the log on a 403).
pub(crate) fn permission_for(path: &str) -> String {
    let rest = path.trim_start_matches('/');
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["v1", "config", "service-intentions", ..] => {
            "intentions:read (on the destination services)".to_owned()
        }
        ["v1", "config", "mesh", ..] => "mesh:read (or operator:read)".to_owned(),
        ["v1", "config", _, name] => format!("service:read on `{name}`"),
        ["v1", "agent", "connect", "ca", "leaf", name] => format!("service:write on `{name}`"),
        ["v1", "agent", "connect", "ca", "roots"] => "none (any token)".to_owned(),
        _ => "read access to this endpoint".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_follows_x_consul_index() {
        let mut index = BlockingIndex::default();
        assert_eq!(index.current(), 0);
        index.advance(Some(7));
        assert_eq!(index.current(), 7);
        index.advance(Some(7));
        assert_eq!(index.current(), 7);
        index.advance(Some(12));
        assert_eq!(index.current(), 12);
    }

    #[test]
    fn an_index_that_goes_backwards_resets_to_zero() {
        let mut index = BlockingIndex::default();
        index.advance(Some(40));
        index.advance(Some(3));
        assert_eq!(index.current(), 0);
        index.advance(Some(3));
        assert_eq!(index.current(), 3);
    }

    #[test]
    fn zero_and_missing_indexes_never_block_on_zero() {
        let mut index = BlockingIndex::default();
        index.advance(Some(0));
        assert_eq!(index.current(), 1);
        index.advance(None);
        assert_eq!(index.current(), 0);
    }

    #[test]
    fn a_403_names_the_permission() {
        assert_eq!(
            permission_for("/v1/config/service-defaults/billing"),
            "service:read on `billing`"
        );
        assert!(permission_for("/v1/config/service-intentions").starts_with("intentions:read"));
        assert!(permission_for("/v1/config/mesh/mesh").starts_with("mesh:read"));
        assert_eq!(
            permission_for("/v1/agent/connect/ca/leaf/web"),
            "service:write on `web`"
        );
    }

    #[test]
    fn error_pauses_stay_under_a_minute() {
        for attempt in 0..30 {
            assert!(ERROR_BACKOFF.pause(attempt) <= Duration::from_secs(60));
        }
        assert_eq!(ERROR_BACKOFF.ceiling(0), Duration::from_secs(1));
    }
}
