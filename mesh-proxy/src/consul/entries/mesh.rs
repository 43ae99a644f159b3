//! `mesh`: the cluster-wide settings of Consul's proxies that govern the gateway's listener —
//! `TLS.Incoming` (versions, TLS 1.2 cipher suites, key-exchange groups), `HTTP.
//! SanitizeXForwardedClientCert` and `HTTP.Incoming.RequestNormalization`. Checked with Consul's
//! rules (`MeshConfigEntry.Validate`), then with what rustls can speak. The keys that configure
//! sidecars, transparent proxies, peering and outgoing mTLS are read, type-checked and not used.

use rustls::{NamedGroup, SupportedCipherSuite};

use super::fields::{Ctx, Fields};
use super::{meta, Mesh, MeshNormalization};
use crate::consul::tree::Value;
use crate::consul::EntryError;
use crate::consul::Setting;
use crate::intentions::{EscapedSlashes, HeadersWithUnderscores};
use crate::listener::tls::policy::{TlsPolicy, TlsVersion};

/// The entry's top-level keys (Consul's api.MeshConfigEntry). `Name` is not one of Consul's
/// (the entry is always `mesh`); older files carry it, so it is accepted when it says `mesh`.
const KEYS: &[&str] = &[
    "Kind",
    "Name",
    "Namespace",
    "Partition",
    "Meta",
    "CreateIndex",
    "ModifyIndex",
    "TransparentProxy",
    "AllowEnablingPermissiveMutualTLS",
    "ValidateClusters",
    "TLS",
    "HTTP",
    "Peering",
];
/// `TLS.Incoming` and `TLS.Outgoing` (api.MeshDirectionalTLSConfig).
const DIRECTION_KEYS: &[&str] = &[
    "TLSMinVersion",
    "TLSMaxVersion",
    "CipherSuites",
    "ECDHCurves",
];
/// `HTTP.Incoming.RequestNormalization` (api.RequestNormalizationMeshConfig).
const NORMALIZATION_KEYS: &[&str] = &[
    "InsecureDisablePathNormalization",
    "MergeSlashes",
    "PathWithEscapedSlashesAction",
    "HeadersWithUnderscoresAction",
];

/// A `TLSMinVersion` / `TLSMaxVersion` value, in Consul's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Version {
    V10,
    V11,
    V12,
    V13,
}

/// The TLS 1.2-style suites Consul accepts for Envoy (types.envoyTLSCipherSuiteStrings), with
/// rustls's suite when rustls has one (it has no CBC and no RSA key-exchange suites).
const CIPHER_SUITES: &[(&str, Option<SupportedCipherSuite>)] = {
    use rustls::crypto::aws_lc_rs::cipher_suite as rs;
    &[
        (
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            Some(rs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            Some(rs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            Some(rs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            Some(rs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            Some(rs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
        ),
        (
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            Some(rs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
        ),
        ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", None),
        ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", None),
        ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", None),
        ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", None),
        ("TLS_RSA_WITH_AES_128_GCM_SHA256", None),
        ("TLS_RSA_WITH_AES_128_CBC_SHA", None),
        ("TLS_RSA_WITH_AES_256_GCM_SHA384", None),
        ("TLS_RSA_WITH_AES_256_CBC_SHA", None),
    ]
};

/// The `ECDHCurves` names Consul accepts (validEnvoyECDHCurves), with rustls's group when rustls
/// has one (it has no P-521).
const CURVES: &[(&str, Option<NamedGroup>)] = &[
    ("X25519MLKEM768", Some(NamedGroup::X25519MLKEM768)),
    ("X25519", Some(NamedGroup::X25519)),
    ("P-256", Some(NamedGroup::secp256r1)),
    ("P-384", Some(NamedGroup::secp384r1)),
    ("P-521", None),
];

/// Decode a `mesh` entry.
pub(super) fn decode(ctx: &mut Ctx<'_>, tree: &Value) -> Result<Mesh, EntryError> {
    let fields = Fields::read(ctx, tree, "", KEYS)?;
    if let Some(name) = fields.non_empty(ctx, "Name")? {
        if name != "mesh" {
            let message = format!("is `{name}`: the mesh entry's name is always `mesh`");
            return Err(fields.error(ctx, "Name", message));
        }
    }
    if let Some(namespace) = fields.non_empty(ctx, "Namespace")? {
        if namespace != "default" {
            let message = "the mesh entry lives in the default namespace (Consul's rule)";
            return Err(fields.error(ctx, "Namespace", message));
        }
    }
    meta(ctx, &fields, "Meta")?;
    fields.bool(ctx, "AllowEnablingPermissiveMutualTLS")?;
    fields.bool(ctx, "ValidateClusters")?;
    if let Some(item) = fields.get("TransparentProxy") {
        let tproxy = Fields::read(
            ctx,
            &item.value,
            &fields.key("TransparentProxy"),
            &["MeshDestinationsOnly"],
        )?;
        tproxy.bool(ctx, "MeshDestinationsOnly")?;
    }
    if let Some(item) = fields.get("Peering") {
        let peering = Fields::read(
            ctx,
            &item.value,
            &fields.key("Peering"),
            &["PeerThroughMeshGateways"],
        )?;
        peering.bool(ctx, "PeerThroughMeshGateways")?;
    }
    let mut mesh = Mesh {
        partition: fields.non_empty(ctx, "Partition")?,
        tls: None,
        sanitize_xfcc: None,
        normalization: None,
        file: ctx.file.to_owned(),
    };
    if let Some(item) = fields.get("TLS") {
        let tls = Fields::read(ctx, &item.value, "TLS", &["Incoming", "Outgoing"])?;
        if let Some(outgoing) = tls.get("Outgoing") {
            // Sidecars dialing upstreams: checked by Consul's rules, not used by a gateway.
            direction(ctx, &outgoing.value, "TLS.Outgoing")?;
        }
        if let Some(incoming) = tls.get("Incoming") {
            let policy = direction(ctx, &incoming.value, "TLS.Incoming")?;
            mesh.tls = Some(Setting {
                value: policy,
                line: incoming.line,
            });
        }
    }
    if let Some(item) = fields.get("HTTP") {
        let http = Fields::read(
            ctx,
            &item.value,
            "HTTP",
            &["SanitizeXForwardedClientCert", "Incoming"],
        )?;
        if let Some(sanitize) = http.bool(ctx, "SanitizeXForwardedClientCert")? {
            mesh.sanitize_xfcc = Some(Setting {
                value: sanitize,
                line: http.line_of("SanitizeXForwardedClientCert"),
            });
        }
        if let Some(incoming) = http.get("Incoming") {
            let incoming = Fields::read(
                ctx,
                &incoming.value,
                "HTTP.Incoming",
                &["RequestNormalization"],
            )?;
            if let Some(item) = incoming.get("RequestNormalization") {
                let path = "HTTP.Incoming.RequestNormalization";
                let value = normalization(ctx, &item.value, path)?;
                mesh.normalization = Some(Setting {
                    value,
                    line: item.line,
                });
            }
        }
    }
    Ok(mesh)
}

/// One `TLS.Incoming` / `TLS.Outgoing` block as the versions and suites rustls is built with.
fn direction(ctx: &mut Ctx<'_>, value: &Value, path: &str) -> Result<TlsPolicy, EntryError> {
    let fields = Fields::read(ctx, value, path, DIRECTION_KEYS)?;
    let min = version(ctx, &fields, "TLSMinVersion")?;
    let max = version(ctx, &fields, "TLSMaxVersion")?;
    if let (Some(min), Some(max)) = (min, max) {
        if max < min {
            let message = "is below TLSMinVersion (Consul rejects it)";
            return Err(fields.error(ctx, "TLSMaxVersion", message));
        }
    }
    if matches!(max, Some(Version::V10 | Version::V11)) {
        let message = "leaves no TLS version mesh-proxy speaks (rustls has TLS 1.2 and 1.3 only)";
        return Err(fields.error(ctx, "TLSMaxVersion", message));
    }
    if matches!(min, Some(Version::V10 | Version::V11)) {
        let message = "is below TLS 1.2, which rustls does not speak: clients limited to TLS 1.0 or 1.1 are refused";
        ctx.warn(
            fields.line_of("TLSMinVersion"),
            &fields.key("TLSMinVersion"),
            message,
        );
    }
    let mut policy = TlsPolicy::default();
    if min == Some(Version::V13) {
        policy.min = TlsVersion::Tls13;
    }
    if max == Some(Version::V12) {
        policy.max = TlsVersion::Tls12;
    }
    policy.tls12_suites = cipher_suites(ctx, &fields, min)?;
    policy.kx_groups = curves(ctx, &fields, min)?;
    Ok(policy)
}

/// `name` as a version; `None` for unset, `""` and `TLS_AUTO` (the implementation's default).
fn version(ctx: &Ctx<'_>, fields: &Fields<'_>, name: &str) -> Result<Option<Version>, EntryError> {
    let Some(value) = fields.string(ctx, name)? else {
        return Ok(None);
    };
    match value.as_str() {
        "" | "TLS_AUTO" => Ok(None),
        "TLSv1_0" => Ok(Some(Version::V10)),
        "TLSv1_1" => Ok(Some(Version::V11)),
        "TLSv1_2" => Ok(Some(Version::V12)),
        "TLSv1_3" => Ok(Some(Version::V13)),
        other => {
            let message = format!(
                "`{other}` is not a TLS version (one of TLS_AUTO, TLSv1_0, TLSv1_1, TLSv1_2, TLSv1_3)"
            );
            Err(fields.error(ctx, name, message))
        }
    }
}

/// `CipherSuites`: Consul's names, narrowed to the ones rustls has (a warning names the rest).
fn cipher_suites(
    ctx: &mut Ctx<'_>,
    fields: &Fields<'_>,
    min: Option<Version>,
) -> Result<Vec<SupportedCipherSuite>, EntryError> {
    let names = fields.strings(ctx, "CipherSuites")?;
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let key = fields.key("CipherSuites");
    if min == Some(Version::V13) {
        let message =
            "only apply to TLS 1.2 and earlier, and TLSMinVersion is TLSv1_3 (Consul rejects it)";
        return Err(fields.error(ctx, "CipherSuites", message));
    }
    let mut suites = Vec::new();
    let mut dropped = Vec::new();
    for (name, line) in &names {
        match CIPHER_SUITES.iter().find(|(known, _)| known == name) {
            None => {
                let message = format!("`{name}` is not a cipher suite Consul accepts for Envoy");
                return Err(ctx.error(*line, &key, message));
            }
            Some((_, Some(suite))) => {
                if !suites.contains(suite) {
                    suites.push(*suite);
                }
            }
            Some((_, None)) => dropped.push(name.as_str()),
        }
    }
    if suites.is_empty() {
        let message = format!(
            "none of {} is a suite rustls speaks (it has the ECDHE AES-GCM and CHACHA20 ones)",
            dropped.join(", ")
        );
        return Err(fields.error(ctx, "CipherSuites", message));
    }
    if !dropped.is_empty() {
        let message = format!(
            "{} not offered: rustls has no CBC or RSA key-exchange suites",
            dropped.join(", ")
        );
        ctx.warn(fields.line_of("CipherSuites"), &key, message);
    }
    Ok(suites)
}

/// `ECDHCurves`: Consul's names, narrowed to the groups rustls has (a warning names the rest).
fn curves(
    ctx: &mut Ctx<'_>,
    fields: &Fields<'_>,
    min: Option<Version>,
) -> Result<Vec<NamedGroup>, EntryError> {
    let names = fields.strings(ctx, "ECDHCurves")?;
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let key = fields.key("ECDHCurves");
    if matches!(min, Some(Version::V10 | Version::V11)) {
        let message = "can only be set when TLSMinVersion is TLSv1_2 or higher (Consul's rule)";
        return Err(fields.error(ctx, "ECDHCurves", message));
    }
    let mut groups = Vec::new();
    let mut dropped = Vec::new();
    for (name, line) in &names {
        match CURVES.iter().find(|(known, _)| known == name) {
            None => {
                let known: Vec<&str> = CURVES.iter().map(|(n, _)| *n).collect();
                let message = format!("`{name}` is not one of {}", known.join(", "));
                return Err(ctx.error(*line, &key, message));
            }
            Some((_, Some(group))) => {
                if !groups.contains(group) {
                    groups.push(*group);
                }
            }
            Some((_, None)) => dropped.push(name.as_str()),
        }
    }
    if groups.is_empty() {
        let message = format!("none of {} is a group rustls has", dropped.join(", "));
        return Err(fields.error(ctx, "ECDHCurves", message));
    }
    if !dropped.is_empty() {
        let message = format!("{} not offered: rustls has no P-521", dropped.join(", "));
        ctx.warn(fields.line_of("ECDHCurves"), &key, message);
    }
    if groups == [NamedGroup::X25519MLKEM768] && min != Some(Version::V13) {
        let message =
            "X25519MLKEM768 is TLS 1.3 only: TLS 1.2 clients find no common group and are refused";
        ctx.warn(fields.line_of("ECDHCurves"), &key, message);
    }
    Ok(groups)
}

/// `HTTP.Incoming.RequestNormalization` as Consul configures Envoy from it: a key left out is
/// Consul's zero value (no normalization disabled, no slash merging, escaped slashes kept,
/// underscores allowed).
fn normalization(
    ctx: &mut Ctx<'_>,
    value: &Value,
    path: &str,
) -> Result<MeshNormalization, EntryError> {
    let fields = Fields::read(ctx, value, path, NORMALIZATION_KEYS)?;
    let escaped = match fields.string(ctx, "PathWithEscapedSlashesAction")? {
        None => EscapedSlashes::Keep,
        Some(value) => EscapedSlashes::from_consul(&value).ok_or_else(|| {
            let message = format!("`{value}` is not one of IMPLEMENTATION_SPECIFIC_DEFAULT, KEEP_UNCHANGED, REJECT_REQUEST, UNESCAPE_AND_REDIRECT, UNESCAPE_AND_FORWARD");
            fields.error(ctx, "PathWithEscapedSlashesAction", message)
        })?,
    };
    let underscores = match fields.string(ctx, "HeadersWithUnderscoresAction")? {
        None => HeadersWithUnderscores::Allow,
        Some(value) => HeadersWithUnderscores::from_consul(&value).ok_or_else(|| {
            let message = format!("`{value}` is not one of ALLOW, REJECT_REQUEST, DROP_HEADER");
            fields.error(ctx, "HeadersWithUnderscoresAction", message)
        })?,
    };
    let merge_slashes = fields.bool(ctx, "MergeSlashes")?.unwrap_or(false);
    let insecure = fields
        .bool(ctx, "InsecureDisablePathNormalization")?
        .unwrap_or(false);
    let line = |name| fields.line_of(name);
    if !merge_slashes {
        let message = "is false (Consul's default): `//admin` is not merged to `/admin`, so a PathPrefix = \"/admin\" deny does not see it; mesh-proxy's own default merges";
        ctx.warn(line("MergeSlashes"), &fields.key("MergeSlashes"), message);
    }
    if insecure {
        let message = "is true: `/%61dmin` and `/a/../admin` pass path-based intentions undecoded";
        ctx.warn(
            line("InsecureDisablePathNormalization"),
            &fields.key("InsecureDisablePathNormalization"),
            message,
        );
    }
    Ok(MeshNormalization {
        path: crate::intentions::PathNormalization {
            insecure_disable_path_normalization: insecure,
            merge_slashes,
            path_with_escaped_slashes_action: escaped,
        },
        underscores,
    })
}
