//! Asynchronous (`Event`) invocations: a bounded queue per function and Lambda's retries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::environment::Job;
use crate::pool::{Answer, Pool};
use crate::sandbox::RuntimeResult;

/// Events waiting per function before `Event` invokes are throttled.
pub(crate) const QUEUE_CAPACITY: usize = 1024;

/// The sending side of a function's queue.
pub(crate) struct AsyncQueue {
    sender: mpsc::Sender<(Job, Instant)>,
}

impl AsyncQueue {
    /// Start the worker that feeds `pool` from the queue until `stop`.
    pub(crate) fn start(pool: Arc<Pool>, mut stop: watch::Receiver<bool>) -> AsyncQueue {
        let (sender, mut receiver) = mpsc::channel::<(Job, Instant)>(QUEUE_CAPACITY);
        tokio::spawn(async move {
            loop {
                let queued = tokio::select! {
                    queued = receiver.recv() => queued,
                    _ = stop.wait_for(|s| *s) => None,
                };
                let Some((job, queued_at)) = queued else {
                    break;
                };
                let pool = pool.clone();
                let Some(permit) = pool.permit().await else {
                    break;
                };
                tokio::spawn(run_with_retries(pool, permit, job, queued_at));
            }
        });
        AsyncQueue { sender }
    }

    /// Queue one event; `false` when the queue is full.
    pub(crate) fn push(&self, job: Job) -> bool {
        self.sender.try_send((job, Instant::now())).is_ok()
    }
}

/// Whether an event queued at `queued_at` has outlived `maximum_event_age_seconds` by the time
/// it would run `wait` from now (Lambda discards such events instead of running them).
fn expired(queued_at: Instant, wait: Duration, max_age: Duration) -> bool {
    queued_at.elapsed() + wait > max_age
}

async fn run_with_retries(
    pool: Arc<Pool>,
    permit: tokio::sync::OwnedSemaphorePermit,
    job: Job,
    queued_at: Instant,
) {
    let config = &pool.spec.config;
    let delays = config.async_retry_delays();
    let max_age = Duration::from_secs(config.maximum_event_age_seconds);
    let name = config.name.clone();
    let mut permit = Some(permit);
    for attempt in 0..=delays.len() {
        let permit = match permit.take() {
            Some(permit) => permit,
            None => match pool.permit().await {
                Some(permit) => permit,
                None => return,
            },
        };
        if expired(queued_at, Duration::ZERO, max_age) {
            tracing::warn!(function = %name, request_id = %job.request_id, "asynchronous invocation discarded: older than maximum_event_age_seconds");
            return;
        }
        let failed = match pool.run(permit, job.clone()).await.answer {
            Answer::FunctionError(_) | Answer::Result(RuntimeResult::Error(_)) => true,
            Answer::Result(RuntimeResult::Stream { mut body, .. }) => {
                let mut failed = false;
                while let Some(chunk) = body.recv().await {
                    failed |= chunk.is_err();
                }
                failed
            }
            Answer::Result(RuntimeResult::Buffered(_)) => false,
        };
        if !failed {
            return;
        }
        let Some(delay) = delays.get(attempt) else {
            tracing::warn!(function = %name, request_id = %job.request_id, retries = delays.len(), "asynchronous invocation failed after its retries");
            return;
        };
        if expired(queued_at, *delay, max_age) {
            tracing::warn!(function = %name, request_id = %job.request_id, "asynchronous invocation failed; its retry would outlive maximum_event_age_seconds: discarded");
            return;
        }
        tracing::info!(function = %name, request_id = %job.request_id, delay_ms = delay.as_millis() as u64, "asynchronous invocation failed; retrying");
        tokio::time::sleep(*delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_expires_past_its_maximum_age() {
        let now = Instant::now();
        let hour = Duration::from_secs(3600);
        assert!(!expired(now, Duration::from_secs(60), hour));
        assert!(expired(now, Duration::from_secs(3601), hour));
    }
}
