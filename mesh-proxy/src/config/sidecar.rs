//! `[service]` and the service files' own names: who the sidecar listeners call as, so the
//! intentions of `[consul] config_entries` can be checked on the sidecar path too. There it is the
//! caller's own proxy that enforces them, which makes them advisory (the destination's side is the
//! boundary); the default policy is `allow`, so a sidecar without intentions keeps working.

use super::file::ServiceFile;
use super::gateway::{checked_name, DEFAULT_NAMESPACE};
use super::validate::Blame;
use super::{ConfigError, SidecarCaller, SidecarIntentions, UpstreamConfig};
use crate::consul::{Entries, ServiceDefinition};
use crate::identity::{ServiceIdentity, DEFAULT_PARTITION};
use crate::intentions::Action;

const TABLE: &str = "service";

/// Who calls through each upstream, and the intentions and default policy that decide.
pub(super) fn build(
    raw: Option<&ServiceFile>,
    definitions: &[ServiceDefinition],
    upstreams: &[UpstreamConfig],
    entries: &Entries,
    blame: &Blame<'_>,
    warnings: &mut Vec<String>,
) -> Result<SidecarIntentions, ConfigError> {
    let at = |key: &str, message: &str| blame.table(TABLE, key, message);
    let mut default_policy = Action::Allow;
    let mut configured = None;
    if let Some(raw) = raw {
        default_policy = match raw.default_policy.as_deref().map(str::trim) {
            None | Some("allow") => Action::Allow,
            Some("deny") => Action::Deny,
            Some(other) => {
                let message = format!("must be \"allow\" or \"deny\", not {other:?}");
                return Err(at("default_policy", &message));
            }
        };
        let name = checked_name(&raw.name).map_err(|m| at("name", m))?;
        let namespace = scope(raw.namespace.as_deref(), DEFAULT_NAMESPACE);
        let partition = scope(raw.partition.as_deref(), DEFAULT_PARTITION);
        configured = Some(identity(&partition, &namespace, &name));
    }
    let mut callers: Vec<SidecarCaller> = Vec::new();
    for definition in definitions {
        let source = identity(
            &scope(definition.partition.as_deref(), DEFAULT_PARTITION),
            &scope(definition.namespace.as_deref(), DEFAULT_NAMESPACE),
            &definition.name,
        );
        if let (Some(configured), Some(first)) = (&configured, definition.upstreams.first()) {
            if *configured != source {
                let message = format!(
                    "is {}, but {} registers {}: a sidecar proxy calls as the one service it belongs to",
                    display(configured),
                    first.file,
                    display(&source)
                );
                return Err(at("name", &message));
            }
        }
        for upstream in &definition.upstreams {
            let destination = identity(
                &scope(
                    upstream.destination_partition.as_deref(),
                    source.partition(),
                ),
                &scope(
                    upstream.destination_namespace.as_deref(),
                    source.namespace(),
                ),
                &upstream.destination_name,
            );
            callers.push(SidecarCaller {
                upstream: upstream.destination_name.clone(),
                source: source.clone(),
                destination,
            });
        }
    }
    // `[[upstream]]` tables call as `[service]`, or as the one service the files register.
    let only = match (&configured, definitions) {
        (Some(configured), _) => Some(configured.clone()),
        (None, [one]) => Some(identity(
            &scope(one.partition.as_deref(), DEFAULT_PARTITION),
            &scope(one.namespace.as_deref(), DEFAULT_NAMESPACE),
            &one.name,
        )),
        _ => None,
    };
    let checked = !entries.intentions.is_empty() || default_policy == Action::Deny;
    for upstream in upstreams {
        if callers
            .iter()
            .any(|c| c.upstream == upstream.destination_name)
        {
            continue;
        }
        let Some(source) = &only else {
            if checked {
                warnings.push(format!(
                    "{}: upstream `{}` has no caller identity (no [service] name, and not exactly one service in [consul] service_files): intentions are not checked on it",
                    blame.origin(),
                    upstream.destination_name
                ));
            }
            continue;
        };
        let destination = identity(
            source.partition(),
            source.namespace(),
            &upstream.destination_name,
        );
        callers.push(SidecarCaller {
            upstream: upstream.destination_name.clone(),
            source: source.clone(),
            destination,
        });
    }
    Ok(SidecarIntentions {
        callers,
        intentions: entries.intentions.clone(),
        default_policy,
    })
}

/// A namespace or partition as given, or `default` when empty or absent.
fn scope(given: Option<&str>, default: &str) -> String {
    match given.map(str::trim) {
        Some(given) if !given.is_empty() => given.to_owned(),
        _ => default.to_owned(),
    }
}

/// A sidecar-path identity. Intentions match partition, namespace and name only; no certificate
/// is involved, so there is no trust domain or datacenter to give.
fn identity(partition: &str, namespace: &str, name: &str) -> ServiceIdentity {
    ServiceIdentity::new("", namespace, "", name).with_partition(partition)
}

/// `api`, `team/api` or `ap-1/team/api`: how a sidecar-path identity is named in messages.
pub(crate) fn display(identity: &ServiceIdentity) -> String {
    match (identity.partition(), identity.namespace()) {
        (DEFAULT_PARTITION, DEFAULT_NAMESPACE) => identity.service().to_owned(),
        (DEFAULT_PARTITION, namespace) => format!("{namespace}/{}", identity.service()),
        (partition, namespace) => format!("{partition}/{namespace}/{}", identity.service()),
    }
}
