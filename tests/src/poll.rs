//! Polling for a condition that becomes true in the background (a log line, a shutdown event).

use std::time::{Duration, Instant};

/// Poll `check` every 50 ms for up to `limit`; whether it came true.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check()
}
