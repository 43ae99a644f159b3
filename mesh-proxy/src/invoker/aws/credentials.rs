//! Credentials from aws-config's default chain, cached until shortly before they expire: the
//! signing path reads them with one lock and no allocation, and only one request at a time asks
//! the chain again.

use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;

/// Refresh this long before the credentials' own expiry (the SDK's identity cache refreshes
/// 10 s before; a little more keeps one slow refresh from racing the deadline).
const REFRESH_BEFORE: Duration = Duration::from_secs(60);
/// Credentials without an expiry (environment, static profile) are read again this often, as the
/// SDK's identity cache does, so an edited profile is picked up.
const REREAD_AFTER: Duration = Duration::from_secs(15 * 60);
/// Longest one refresh may take (the SDK's default load timeout).
const LOAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Why no credentials could be had; the message names the provider's error kind, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot send the invoke request (credentials or endpoint): {0}")]
pub(crate) struct NoCredentials(String);

#[derive(Clone)]
struct Cached {
    credentials: Credentials,
    /// When these must be replaced.
    refresh_at: SystemTime,
    /// When these stop being valid (`None`: never, as far as we know).
    expires_at: Option<SystemTime>,
}

/// A caching credentials source.
pub(crate) struct CredentialCache {
    provider: Option<SharedCredentialsProvider>,
    current: RwLock<Option<Cached>>,
    refresh: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache")
            .field("provider", &self.provider.is_some())
            .finish_non_exhaustive()
    }
}

impl CredentialCache {
    pub(crate) fn new(provider: Option<SharedCredentialsProvider>) -> CredentialCache {
        CredentialCache {
            provider,
            current: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// Valid credentials to sign with, refreshed when due.
    pub(crate) async fn credentials(&self) -> Result<Credentials, NoCredentials> {
        let now = SystemTime::now();
        if let Some(fresh) = self.fresh(now) {
            return Ok(fresh);
        }
        let _only_one = self.refresh.lock().await;
        let now = SystemTime::now();
        if let Some(fresh) = self.fresh(now) {
            return Ok(fresh);
        }
        match self.load().await {
            Ok(loaded) => {
                let credentials = loaded.credentials.clone();
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(loaded);
                Ok(credentials)
            }
            Err(error) => {
                // A failed refresh keeps credentials that have not expired yet.
                let still_valid = self
                    .current
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref()
                    .filter(|c| c.expires_at.is_none_or(|at| at > now))
                    .map(|c| c.credentials.clone());
                match still_valid {
                    Some(credentials) => {
                        tracing::warn!(%error, "credential refresh failed; the current ones have not expired yet");
                        Ok(credentials)
                    }
                    None => Err(error),
                }
            }
        }
    }

    fn fresh(&self, now: SystemTime) -> Option<Credentials> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current
            .as_ref()
            .filter(|c| c.refresh_at > now)
            .map(|c| c.credentials.clone())
    }

    async fn load(&self) -> Result<Cached, NoCredentials> {
        let provider = self
            .provider
            .as_ref()
            .ok_or_else(|| NoCredentials("no credentials provider".into()))?;
        let credentials = tokio::time::timeout(LOAD_TIMEOUT, provider.provide_credentials())
            .await
            .map_err(|_| NoCredentials("the credentials provider did not answer".into()))?
            .map_err(|e| NoCredentials(credentials_error(&e)))?;
        let now = SystemTime::now();
        let expires_at = credentials.expiry();
        let refresh_at = match expires_at {
            Some(at) => at
                .checked_sub(REFRESH_BEFORE)
                .filter(|t| *t > now)
                // Short-lived credentials: use them until they expire.
                .unwrap_or(at),
            None => now + REREAD_AFTER,
        };
        if expires_at.is_some_and(|at| at <= now) {
            return Err(NoCredentials(
                "the credentials provider gave expired credentials".into(),
            ));
        }
        Ok(Cached {
            credentials,
            refresh_at,
            expires_at,
        })
    }
}

/// The kind of a credentials error, without its source chain (a provider's message may quote
/// a response body, which is not ours to log).
fn credentials_error(error: &aws_credential_types::provider::error::CredentialsError) -> String {
    use aws_credential_types::provider::error::CredentialsError as E;
    match error {
        E::CredentialsNotLoaded(_) => "no credentials in the default chain".into(),
        E::ProviderTimedOut(_) => "the credentials provider timed out".into(),
        E::InvalidConfiguration(_) => "the credentials configuration is invalid".into(),
        E::ProviderError(_) => "the credentials provider failed".into(),
        E::Unhandled(_) => "the credentials provider failed unexpectedly".into(),
        _ => "the credentials provider failed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::future::ProvideCredentials as Future;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    /// Hands out credentials expiring `lifetime` from now, then fails once `works` is cleared.
    #[derive(Debug)]
    struct Counting {
        calls: Arc<AtomicU32>,
        lifetime: Option<Duration>,
        fail_after: u32,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> Future<'a>
        where
            Self: 'a,
        {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if n >= self.fail_after {
                return Future::ready(Err(
                    aws_credential_types::provider::error::CredentialsError::provider_error(
                        "endpoint said no",
                    ),
                ));
            }
            let expiry = self.lifetime.map(|l| SystemTime::now() + l);
            Future::ready(Ok(Credentials::new(
                format!("AKID{n}"),
                "secret",
                None,
                expiry,
                "test",
            )))
        }
    }

    fn cache(lifetime: Option<Duration>, fail_after: u32) -> (CredentialCache, Arc<AtomicU32>) {
        let calls = Arc::new(AtomicU32::new(0));
        let provider = SharedCredentialsProvider::new(Counting {
            calls: Arc::clone(&calls),
            lifetime,
            fail_after,
        });
        (CredentialCache::new(Some(provider)), calls)
    }

    fn key(credentials: &Credentials) -> String {
        credentials.access_key_id().to_owned()
    }

    #[tokio::test]
    async fn long_lived_credentials_are_loaded_once() {
        let (cache, calls) = cache(Some(Duration::from_secs(3600)), u32::MAX);
        for _ in 0..100 {
            assert_eq!(key(&cache.credentials().await.unwrap()), "AKID0");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn credentials_near_expiry_are_refreshed() {
        // Expiring in 300 ms: inside REFRESH_BEFORE, so used until expiry, then replaced.
        let (cache, calls) = cache(Some(Duration::from_millis(300)), u32::MAX);
        assert_eq!(key(&cache.credentials().await.unwrap()), "AKID0");
        assert_eq!(key(&cache.credentials().await.unwrap()), "AKID0");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(key(&cache.credentials().await.unwrap()), "AKID1");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_refresh_after_expiry_is_an_error_without_the_providers_text() {
        let (cache, _) = cache(Some(Duration::from_millis(200)), 1);
        assert!(cache.credentials().await.is_ok());
        tokio::time::sleep(Duration::from_millis(300)).await;
        let error = cache.credentials().await.unwrap_err().to_string();
        assert_eq!(
            error,
            "cannot send the invoke request (credentials or endpoint): the credentials provider failed"
        );
        assert!(!error.contains("endpoint said no"), "{error}");
    }

    #[tokio::test]
    async fn no_provider_is_an_error() {
        let cache = CredentialCache::new(None);
        assert!(cache.credentials().await.is_err());
    }
}
