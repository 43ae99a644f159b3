//! Decoding a tree into a typed entry, with Consul's rules for each kind (`consul config write`'s
//! decoder and each entry's `Validate`), plus mesh-proxy's own limits.

pub(super) mod fields;
mod gateway;
mod intentions;
mod mesh;
mod service_defaults;
#[cfg(test)]
mod tests;

use fields::{Ctx, Fields};

use super::tree::{Kind, Value};
use super::{Entry, EntryError, Parsed};
use crate::config::InvocationMode;
use crate::intentions::{HeadersWithUnderscores, PathNormalization};
use crate::listener::tls::policy::TlsPolicy;

/// One `service-defaults` entry: the parts mesh-proxy uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServiceDefaults {
    /// `Name`: the service.
    pub name: String,
    /// `Namespace` (`None`: not given).
    pub namespace: Option<String>,
    /// `Partition` (`None`: not given).
    pub partition: Option<String>,
    /// `Protocol` (`http`, `tcp` …).
    pub protocol: Option<String>,
    /// The `builtin/aws/lambda` element of `EnvoyExtensions`.
    pub lambda: Option<LambdaPatch>,
    /// Where the entry was read.
    pub file: String,
}

/// The `Arguments` of the `builtin/aws/lambda` Envoy extension: the service is that function.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LambdaPatch {
    /// `ARN`: `arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]`.
    pub arn: String,
    /// `PayloadPassthrough`: send the body as the payload, not an event.
    pub payload_passthrough: bool,
    /// `InvocationMode`.
    pub invocation_mode: InvocationMode,
}

/// One `terminating-gateway` entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TerminatingGateway {
    /// `Name`: the gateway service.
    pub name: String,
    /// `Namespace` (`None`: not given).
    pub namespace: Option<String>,
    /// `Partition` (`None`: not given).
    pub partition: Option<String>,
    /// `Services`, in file order.
    pub services: Vec<LinkedService>,
    /// Where the entry was read.
    pub file: String,
}

/// One element of a terminating gateway's `Services`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LinkedService {
    /// `Name`: a service, or `*` for every service in the namespace.
    pub name: String,
    /// `Namespace` (`None`: the gateway's).
    pub namespace: Option<String>,
    /// `Partition` (`None`: the gateway's).
    pub partition: Option<String>,
}

/// The `mesh` entry: the parts that govern the gateway's listener. `None`: the block is not in
/// the file (mesh-proxy's `[gateway]` keys and defaults apply).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mesh {
    /// `Partition` (`None`: not given, the default partition).
    pub partition: Option<String>,
    /// `TLS.Incoming`.
    pub tls: Option<Setting<TlsPolicy>>,
    /// `HTTP.SanitizeXForwardedClientCert`.
    pub sanitize_xfcc: Option<Setting<bool>>,
    /// `HTTP.Incoming.RequestNormalization`.
    pub normalization: Option<Setting<MeshNormalization>>,
    /// Where the entry was read.
    pub file: String,
}

/// A value read from an entry, with the line of its key (for the warnings that name it).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Setting<T> {
    /// The value.
    pub value: T,
    /// The line of its key.
    pub line: usize,
}

/// `HTTP.Incoming.RequestNormalization`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MeshNormalization {
    /// `InsecureDisablePathNormalization`, `MergeSlashes`, `PathWithEscapedSlashesAction`.
    pub path: PathNormalization,
    /// `HeadersWithUnderscoresAction`.
    pub underscores: HeadersWithUnderscores,
}

/// What a file held.
pub(crate) enum Decoded {
    /// An entry of a kind mesh-proxy reads.
    Entry(Parsed),
    /// A Consul kind mesh-proxy does not read (`proxy-defaults`, `service-router` …).
    OtherKind {
        /// The kind.
        kind: String,
        /// The line of `Kind`.
        line: usize,
    },
}

/// The config entry kinds Consul has that mesh-proxy does not read.
const OTHER_KINDS: &[&str] = &[
    "proxy-defaults",
    "service-router",
    "service-splitter",
    "service-resolver",
    "ingress-gateway",
    "api-gateway",
    "bound-api-gateway",
    "http-route",
    "tcp-route",
    "inline-certificate",
    "file-system-certificate",
    "exported-services",
    "sameness-group",
    "jwt-provider",
    "control-plane-request-limit",
    "rate-limit-ip",
];

/// Decode the tree of one file.
pub(crate) fn decode(tree: &Value, file: &str) -> Result<Decoded, EntryError> {
    let mut ctx = Ctx {
        file,
        warnings: Vec::new(),
    };
    let Kind::Object(object) = &tree.kind else {
        return Err(ctx.error(tree.line, "", "a config entry must be an object"));
    };
    let Some(kind_item) = object
        .items
        .iter()
        .find(|item| item.key.eq_ignore_ascii_case("kind"))
    else {
        return Err(ctx.error(
            tree.line,
            "Kind",
            "is required (`Kind = \"service-intentions\"` …)",
        ));
    };
    let Kind::String(kind) = &fields::single(&kind_item.value).kind else {
        return Err(ctx.error(kind_item.line, "Kind", "expected a string"));
    };
    let entry = match kind.as_str() {
        "service-intentions" => Entry::ServiceIntentions(intentions::decode(&mut ctx, tree)?),
        "service-defaults" => Entry::ServiceDefaults(service_defaults::decode(&mut ctx, tree)?),
        "terminating-gateway" => Entry::TerminatingGateway(gateway::decode(&mut ctx, tree)?),
        "mesh" => Entry::Mesh(mesh::decode(&mut ctx, tree)?),
        other if OTHER_KINDS.contains(&other) => {
            return Ok(Decoded::OtherKind {
                kind: other.to_owned(),
                line: kind_item.line,
            })
        }
        other => {
            let message = format!("`{other}` is not a Consul config entry kind");
            return Err(ctx.error(kind_item.line, "Kind", message));
        }
    };
    Ok(Decoded::Entry(Parsed {
        entry,
        warnings: ctx.warnings,
    }))
}

/// `Name`, `Namespace`, `Partition` and `Meta`, which every kind has.
struct Common {
    /// `Name`.
    name: String,
    /// `Namespace`, when not empty.
    namespace: Option<String>,
    /// `Partition`, when not empty.
    partition: Option<String>,
}

/// The keys every kind accepts besides its own.
const COMMON_KEYS: &[&str] = &[
    "Kind",
    "Name",
    "Namespace",
    "Partition",
    "Meta",
    "CreateIndex",
    "ModifyIndex",
];

/// Read `tree`'s top-level keys: `COMMON_KEYS` and `own`.
fn top_level<'v>(
    ctx: &Ctx<'_>,
    tree: &'v Value,
    own: &[&'static str],
) -> Result<(Fields<'v>, Common), EntryError> {
    let names: Vec<&'static str> = COMMON_KEYS.iter().chain(own).copied().collect();
    let fields = Fields::read(ctx, tree, "", &names)?;
    let common = Common {
        name: fields.required(ctx, "Name")?,
        namespace: fields.non_empty(ctx, "Namespace")?,
        partition: fields.non_empty(ctx, "Partition")?,
    };
    meta(ctx, &fields, "Meta")?;
    Ok((fields, common))
}

/// Consul's limits on `Meta`: 64 pairs (the entry's Validate: validateConfigEntryMeta).
fn meta(ctx: &Ctx<'_>, fields: &Fields<'_>, name: &str) -> Result<(), EntryError> {
    if fields.string_map(ctx, name)? > 64 {
        return Err(fields.error(ctx, name, "has more than 64 pairs (Consul's limit)"));
    }
    Ok(())
}
