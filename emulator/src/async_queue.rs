//! Asynchronous (`Event`) invocations: a bounded queue per function and Lambda's two retries.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::environment::Job;
use crate::pool::{Answer, Pool};
use crate::sandbox::RuntimeResult;

/// Events waiting per function before `Event` invokes are throttled.
pub(crate) const QUEUE_CAPACITY: usize = 1024;
/// Lambda retries a failed asynchronous invocation twice (after about 1 and 2 minutes; shortened here).
pub(crate) const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(2)];

/// The sending side of a function's queue.
pub(crate) struct AsyncQueue {
    sender: mpsc::Sender<Job>,
}

impl AsyncQueue {
    /// Start the worker that feeds `pool` from the queue until `stop`.
    pub(crate) fn start(pool: Arc<Pool>, mut stop: watch::Receiver<bool>) -> AsyncQueue {
        let (sender, mut receiver) = mpsc::channel::<Job>(QUEUE_CAPACITY);
        tokio::spawn(async move {
            loop {
                let job = tokio::select! {
                    job = receiver.recv() => job,
                    _ = stop.wait_for(|s| *s) => None,
                };
                let Some(job) = job else { break };
                let pool = pool.clone();
                let Some(permit) = pool.permit().await else {
                    break;
                };
                tokio::spawn(run_with_retries(pool, permit, job));
            }
        });
        AsyncQueue { sender }
    }

    /// Queue one event; `false` when the queue is full.
    pub(crate) fn push(&self, job: Job) -> bool {
        self.sender.try_send(job).is_ok()
    }
}

async fn run_with_retries(pool: Arc<Pool>, permit: tokio::sync::OwnedSemaphorePermit, job: Job) {
    let mut permit = Some(permit);
    for attempt in 0..=RETRY_DELAYS.len() {
        let permit = match permit.take() {
            Some(permit) => permit,
            None => match pool.permit().await {
                Some(permit) => permit,
                None => return,
            },
        };
        let copy = Job {
            request_id: job.request_id.clone(),
            payload: job.payload.clone(),
            client_context: job.client_context.clone(),
            invoked_arn: job.invoked_arn.clone(),
        };
        let failed = match pool.run(permit, copy).await.answer {
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
        let Some(delay) = RETRY_DELAYS.get(attempt) else {
            tracing::warn!(function = %pool.spec.config.name, request_id = %job.request_id, "asynchronous invocation failed after 2 retries");
            return;
        };
        tracing::info!(function = %pool.spec.config.name, request_id = %job.request_id, "asynchronous invocation failed; retrying");
        tokio::time::sleep(*delay).await;
    }
}
