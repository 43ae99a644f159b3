//! The `mesh` config entry over `[gateway]`'s own keys. Where the entry has a block (`TLS.
//! Incoming`, `HTTP.Incoming.RequestNormalization`), the block governs the listener as it governs
//! Consul's proxies, and a `[gateway]` key it overrides with a different value is a warning.
//! `HTTP.SanitizeXForwardedClientCert = true` removes XFCC; `false` (Consul's `APPEND_FORWARD`)
//! leaves `[gateway] xfcc` in force, whose default also drops what clients send.

use crate::consul::{Entries, Mesh};
use crate::identity::DEFAULT_PARTITION;
use crate::intentions::{HeadersWithUnderscores, PathNormalization};
use crate::listener::tls::policy::TlsPolicy;
use crate::xfcc::XfccMode;

/// What the gateway's listener does, as `[gateway]` and the mesh entry decide it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Listener {
    /// What happens to a client-sent `x-forwarded-client-cert`.
    pub xfcc: XfccMode,
    /// How request paths are normalized.
    pub normalization: PathNormalization,
    /// What happens to header names with `_`.
    pub underscores: HeadersWithUnderscores,
    /// The TLS versions, suites and groups.
    pub tls: TlsPolicy,
}

/// Which `[gateway]` keys the file set (a mesh entry overriding one of them is a warning).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Given {
    pub xfcc: bool,
    pub merge_slashes: bool,
    pub path_with_escaped_slashes: bool,
    pub insecure_disable_path_normalization: bool,
}

/// The mesh entry of the gateway's partition (the default one), if any.
pub(super) fn for_gateway(entries: &Entries) -> Option<&Mesh> {
    entries
        .meshes
        .iter()
        .find(|m| m.partition.as_deref().unwrap_or(DEFAULT_PARTITION) == DEFAULT_PARTITION)
}

/// `listener` with what `mesh` sets applied.
pub(super) fn apply(
    mut listener: Listener,
    mesh: Option<&Mesh>,
    given: Given,
    warnings: &mut Vec<String>,
) -> Listener {
    let Some(mesh) = mesh else {
        return listener;
    };
    let mut overridden = |key: &str, by: &str, line: usize| {
        warnings.push(format!(
            "[gateway] {key} is overridden by the mesh entry's {by} ({}:{line})",
            mesh.file
        ));
    };
    if let Some(tls) = &mesh.tls {
        listener.tls = tls.value.clone();
    }
    if let Some(sanitize) = &mesh.sanitize_xfcc {
        if sanitize.value {
            if given.xfcc && listener.xfcc != XfccMode::Sanitize {
                overridden("xfcc", "HTTP.SanitizeXForwardedClientCert", sanitize.line);
            }
            listener.xfcc = XfccMode::Sanitize;
        }
    }
    if let Some(normalization) = &mesh.normalization {
        let (ours, theirs) = (&listener.normalization, &normalization.value.path);
        let by = "HTTP.Incoming.RequestNormalization";
        let line = normalization.line;
        if given.merge_slashes && ours.merge_slashes != theirs.merge_slashes {
            overridden("merge_slashes", by, line);
        }
        if given.path_with_escaped_slashes
            && ours.path_with_escaped_slashes_action != theirs.path_with_escaped_slashes_action
        {
            overridden("path_with_escaped_slashes", by, line);
        }
        if given.insecure_disable_path_normalization
            && ours.insecure_disable_path_normalization
                != theirs.insecure_disable_path_normalization
        {
            overridden("insecure_disable_path_normalization", by, line);
        }
        listener.normalization = *theirs;
        listener.underscores = normalization.value.underscores;
    }
    listener
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consul::Setting;

    fn ours() -> Listener {
        Listener {
            xfcc: XfccMode::AppendForward,
            normalization: PathNormalization::default(),
            underscores: HeadersWithUnderscores::Allow,
            tls: TlsPolicy::default(),
        }
    }

    fn entry(partition: Option<&str>, sanitize: bool) -> Mesh {
        Mesh {
            partition: partition.map(str::to_owned),
            tls: None,
            sanitize_xfcc: Some(Setting {
                value: sanitize,
                line: 3,
            }),
            normalization: None,
            file: "entries/mesh.hcl".to_owned(),
        }
    }

    #[test]
    fn sanitize_true_overrides_a_given_xfcc_with_a_warning_and_false_leaves_it() {
        let given = Given {
            xfcc: true,
            ..Given::default()
        };
        let mut warnings = Vec::new();
        let listener = apply(ours(), Some(&entry(None, true)), given, &mut warnings);
        assert_eq!(listener.xfcc, XfccMode::Sanitize);
        assert_eq!(
            warnings,
            ["[gateway] xfcc is overridden by the mesh entry's HTTP.SanitizeXForwardedClientCert (entries/mesh.hcl:3)"]
        );
        let mut warnings = Vec::new();
        let listener = apply(ours(), Some(&entry(None, false)), given, &mut warnings);
        assert_eq!(listener, ours());
        assert!(warnings.is_empty());
    }

    #[test]
    fn only_the_default_partitions_entry_applies() {
        let entries = Entries {
            meshes: vec![entry(Some("team"), true), entry(Some("default"), false)],
            ..Entries::default()
        };
        let mesh = for_gateway(&entries).expect("the default partition's");
        assert_eq!(mesh.partition.as_deref(), Some("default"));
        let entries = Entries {
            meshes: vec![entry(Some("team"), true)],
            ..Entries::default()
        };
        assert!(for_gateway(&entries).is_none());
    }
}
