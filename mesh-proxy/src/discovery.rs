//! `[discovery] aws_tags`: linked gateway services found the way consul-lambda-registrator finds
//! them, from Lambda's own tags. Every `interval` a sync lists the functions (ListFunctions, every
//! page) and reads the tags (ListTags) of those new or changed since the last sync only, spaced
//! out under Lambda's control-plane rate. A failed sync keeps the last good set.

mod tags;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_lambda::Client;
use tokio::sync::watch;

pub use tags::DiscoveredService;
#[cfg(test)]
use tags::PREFIX as PREFIX_FOR_TESTS;

/// Every discovered service, by service name.
pub type Discovered = BTreeMap<String, DiscoveredService>;

/// Least time between two ListTags calls: Lambda allows 15 control-plane requests a second per
/// account and region (AWS Lambda quotas, "Control plane API requests"); this keeps us at 10.
const LIST_TAGS_SPACING: Duration = Duration::from_millis(100);
/// Most ListFunctions pages one sync reads (50 functions a page): a bound, not a limit met.
const MAX_PAGES: usize = 10_000;
/// Every this many syncs the tags of unchanged functions are read too: tagging a function
/// changes none of `LastModified`, `RevisionId` and `CodeSha256`, so only a re-read sees it.
const TAG_REFRESH_SYNCS: u32 = 5;
/// Bounds one Lambda call of a sync.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A sync that did not finish.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SyncError {
    /// A Lambda call failed.
    #[error("{call}: {message}")]
    Call {
        /// The API.
        call: &'static str,
        /// What the SDK said.
        message: String,
    },
    /// A Lambda call took longer than [`CALL_TIMEOUT`].
    #[error("{call}: no answer in {CALL_TIMEOUT:?}")]
    Timeout {
        /// The API.
        call: &'static str,
    },
}

/// What tells a function changed without reading its tags again: its code (`CodeSha256`), its
/// configuration (`LastModified`, `RevisionId`), or a function deleted and created again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    last_modified: Option<String>,
    revision_id: Option<String>,
    code_sha256: Option<String>,
}

/// One function as the last sync left it.
#[derive(Debug, Clone)]
struct Known {
    name: String,
    fingerprint: Fingerprint,
    tags: HashMap<String, String>,
}

/// The syncs' memory: each function's fingerprint and tags.
#[derive(Debug, Default)]
pub(crate) struct Syncer {
    datacenter: Option<String>,
    known: HashMap<String, Known>,
    syncs: u32,
}

impl Syncer {
    /// A syncer that keeps only functions tagged with `datacenter`, when given.
    pub(crate) fn new(datacenter: Option<String>) -> Syncer {
        Syncer {
            datacenter,
            known: HashMap::new(),
            syncs: 0,
        }
    }

    /// One sync: the services of every enabled function. Functions gone since the last sync are
    /// forgotten; on error nothing is.
    pub(crate) async fn sync(&mut self, client: &Client) -> Result<Discovered, SyncError> {
        let listed = list_functions(client).await?;
        let refresh = self.syncs % TAG_REFRESH_SYNCS == 0;
        let mut known = HashMap::with_capacity(listed.len());
        let mut first_call = true;
        for (name, arn, fingerprint) in listed {
            let kept = self
                .known
                .get(&arn)
                .filter(|k| !refresh && k.fingerprint == fingerprint)
                .cloned();
            let entry = match kept {
                Some(entry) => entry,
                None => {
                    if !first_call {
                        tokio::time::sleep(LIST_TAGS_SPACING).await;
                    }
                    first_call = false;
                    let tags = list_tags(client, &arn).await?;
                    Known {
                        name,
                        fingerprint,
                        tags,
                    }
                }
            };
            known.insert(arn, entry);
        }
        self.known = known;
        self.syncs = self.syncs.wrapping_add(1);
        Ok(self.services())
    }

    /// The services of what the last sync read; a function with a bad tag is logged and left out.
    fn services(&self) -> Discovered {
        let mut out = Discovered::new();
        for (arn, known) in &self.known {
            let name = &known.name;
            match tags::services(name, arn, &known.tags, self.datacenter.as_deref()) {
                Ok(services) => out.extend(services),
                Err(skipped) => tracing::warn!(function = %name, "{skipped}"),
            }
        }
        out
    }
}

async fn list_functions(client: &Client) -> Result<Vec<(String, String, Fingerprint)>, SyncError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = tokio::time::timeout(
            CALL_TIMEOUT,
            client.list_functions().set_marker(marker.take()).send(),
        )
        .await
        .map_err(|_| SyncError::Timeout {
            call: "ListFunctions",
        })?
        .map_err(|e| SyncError::Call {
            call: "ListFunctions",
            message: aws_sdk_lambda::error::DisplayErrorContext(&e).to_string(),
        })?;
        for f in page.functions() {
            let (Some(name), Some(arn)) = (f.function_name(), f.function_arn()) else {
                continue;
            };
            out.push((
                name.to_owned(),
                arn.to_owned(),
                Fingerprint {
                    last_modified: f.last_modified().map(str::to_owned),
                    revision_id: f.revision_id().map(str::to_owned),
                    code_sha256: f.code_sha256().map(str::to_owned),
                },
            ));
        }
        match page.next_marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_owned()),
            _ => return Ok(out),
        }
    }
    Ok(out)
}

async fn list_tags(client: &Client, arn: &str) -> Result<HashMap<String, String>, SyncError> {
    let answer = tokio::time::timeout(CALL_TIMEOUT, client.list_tags().resource(arn).send())
        .await
        .map_err(|_| SyncError::Timeout { call: "ListTags" })?
        .map_err(|e| SyncError::Call {
            call: "ListTags",
            message: aws_sdk_lambda::error::DisplayErrorContext(&e).to_string(),
        })?;
    Ok(answer.tags().cloned().unwrap_or_default())
}

/// Sync every `interval` until the receiver is dropped; the receiver sees each new set (the first
/// after the first sync that succeeds).
pub(crate) fn spawn(
    client: Client,
    interval: Duration,
    datacenter: Option<String>,
) -> watch::Receiver<Option<Arc<Discovered>>> {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let mut syncer = Syncer::new(datacenter);
        loop {
            match syncer.sync(&client).await {
                Ok(found) => {
                    let changed = tx.borrow().as_deref() != Some(&found);
                    if changed {
                        tracing::info!(
                            services = found.len(),
                            "discovery: linked services changed"
                        );
                        if tx.send(Some(Arc::new(found))).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "discovery: sync failed, the last good set of linked services stays"
                ),
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = tx.closed() => return,
            }
        }
    });
    rx
}

/// The discovery a running config asks for: its syncs' latest set, restarted when `[discovery]`
/// or `[aws]` change.
#[derive(Debug, Default)]
pub(crate) struct Discovery {
    key: Option<(crate::config::DiscoverySettings, crate::config::AwsSettings)>,
    found: Option<watch::Receiver<Option<Arc<Discovered>>>>,
}

impl Discovery {
    /// Follow `config`'s `[discovery]`: start, restart or stop the syncs when it (or `[aws]`)
    /// changed.
    pub(crate) async fn follow(&mut self, config: &crate::Config) {
        let key = config
            .discovery
            .clone()
            .map(|settings| (settings, config.aws.clone()));
        if key == self.key {
            return;
        }
        self.found = None;
        self.key = key.clone();
        let Some((settings, aws)) = key else { return };
        let clients = crate::invoker::AwsClients::load(&aws).await;
        match clients.client("discovery", None) {
            Ok(lambda) => {
                tracing::info!(
                    interval_s = settings.interval.as_secs_f64(),
                    "discovery: syncing functions by their tags"
                );
                self.found = Some(spawn(
                    lambda.sdk().clone(),
                    settings.interval,
                    settings.datacenter,
                ));
            }
            Err(e) => {
                tracing::error!(error = %e, "discovery: cannot reach Lambda, no functions are discovered")
            }
        }
    }

    /// `config` with what the last good sync found.
    pub(crate) fn apply(&self, config: &crate::Config) -> crate::Config {
        let latest = self.found.as_ref().and_then(|rx| rx.borrow().clone());
        match latest {
            Some(found) => config.with_discovered(&found),
            None => config.clone(),
        }
    }

    /// Wait until a sync finds a different set (forever, without discovery).
    pub(crate) async fn changed(&mut self) {
        match self.found.as_mut() {
            Some(rx) => {
                if rx.changed().await.is_err() {
                    self.found = None;
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending::<()>().await,
        }
    }
}

#[cfg(test)]
mod tests;
