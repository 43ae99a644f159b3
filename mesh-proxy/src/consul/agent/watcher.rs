//! One task per API path, each following its path with blocking queries and reporting what the
//! agent holds there whenever it differs from the last report: an entry's JSON, or that it is
//! missing (404: deleted, or never written).

use std::collections::HashMap;
use std::time::Duration;

use http::StatusCode;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::blocking::{permission_for, BlockingIndex, ERROR_BACKOFF, MIN_INTERVAL};
use super::entries::Observed;
use super::AgentClient;

/// What one path holds now.
#[derive(Debug, Clone)]
pub(crate) struct Update {
    /// The API path.
    pub path: String,
    /// What the agent answered.
    pub observed: Observed,
}

/// The tasks following the paths a config reads, and the channel they report on.
#[derive(Debug)]
pub(crate) struct Watchers {
    client: AgentClient,
    wait: Duration,
    tasks: HashMap<String, JoinHandle<()>>,
    sender: mpsc::UnboundedSender<Update>,
    updates: mpsc::UnboundedReceiver<Update>,
}

impl Watchers {
    /// Watchers asking `client`, each request held up to `wait`.
    pub(crate) fn new(client: AgentClient, wait: Duration) -> Watchers {
        let (sender, updates) = mpsc::unbounded_channel();
        Watchers {
            client,
            wait,
            tasks: HashMap::new(),
            sender,
            updates,
        }
    }

    /// Follow exactly `paths`: start the new ones, stop the others.
    pub(crate) fn follow(&mut self, paths: &[String]) {
        self.tasks.retain(|path, task| {
            let keep = paths.contains(path);
            if !keep {
                task.abort();
            }
            keep
        });
        for path in paths {
            if self.tasks.contains_key(path) {
                continue;
            }
            let task = tokio::spawn(follow(
                self.client.clone(),
                path.clone(),
                self.wait,
                self.sender.clone(),
            ));
            self.tasks.insert(path.clone(), task);
        }
    }

    /// The next update, and every other one already waiting (a burst is one reload).
    /// Cancel-safe.
    pub(crate) async fn changed(&mut self) -> Vec<Update> {
        let Some(first) = self.updates.recv().await else {
            return std::future::pending().await;
        };
        let mut updates = vec![first];
        while let Ok(next) = self.updates.try_recv() {
            updates.push(next);
        }
        updates
    }
}

impl Drop for Watchers {
    fn drop(&mut self) {
        for task in self.tasks.values() {
            task.abort();
        }
    }
}

/// Follow `path` until aborted.
async fn follow(
    client: AgentClient,
    path: String,
    wait: Duration,
    sender: mpsc::UnboundedSender<Update>,
) {
    let mut index = BlockingIndex::default();
    let mut last: Option<Observed> = None;
    let mut failures: u32 = 0;
    loop {
        let started = Instant::now();
        let observed = match client.get(&path, index.current(), wait).await {
            Ok(answer) if answer.status == StatusCode::OK => {
                index.advance(answer.index);
                Some(Observed::Found(answer.body))
            }
            Ok(answer) if answer.status == StatusCode::NOT_FOUND => {
                index.advance(answer.index);
                Some(Observed::Missing)
            }
            Ok(answer) if answer.status == StatusCode::FORBIDDEN => {
                tracing::error!(
                    path = %path,
                    needs = %permission_for(&path),
                    token = client.agent().has_token(),
                    "Consul agent: 403 permission denied; the token needs this permission"
                );
                None
            }
            Ok(answer) => {
                let body = String::from_utf8_lossy(&answer.body);
                let body: String = body.chars().take(200).collect();
                tracing::warn!(path = %path, status = answer.status.as_u16(), body = %body.trim(), "Consul agent: unexpected answer");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "Consul agent: request failed");
                None
            }
        };
        match observed {
            Some(observed) => {
                failures = 0;
                if last.as_ref() != Some(&observed) {
                    last = Some(observed.clone());
                    let update = Update {
                        path: path.clone(),
                        observed,
                    };
                    if sender.send(update).is_err() {
                        return;
                    }
                }
            }
            None => {
                index = BlockingIndex::default();
                tokio::time::sleep(ERROR_BACKOFF.pause(failures)).await;
                failures = failures.saturating_add(1);
            }
        }
        let elapsed = started.elapsed();
        if elapsed < MIN_INTERVAL {
            tokio::time::sleep(MIN_INTERVAL - elapsed).await;
        }
    }
}
