//! `terminating-gateway`: the services the gateway stands in for.

use super::fields::{Ctx, Fields};
use super::{top_level, LinkedService, TerminatingGateway};
use crate::consul::tree::Value;
use crate::consul::EntryError;

/// A linked service's keys (Consul's api.LinkedService).
const SERVICE_KEYS: &[&str] = &[
    "Name",
    "Namespace",
    "Partition",
    "CAFile",
    "CertFile",
    "KeyFile",
    "SNI",
    "DisableAutoHostRewrite",
];

/// Decode a `terminating-gateway` entry.
pub(super) fn decode(ctx: &mut Ctx<'_>, tree: &Value) -> Result<TerminatingGateway, EntryError> {
    let (fields, common) = top_level(ctx, tree, &["Services"])?;
    let mut services = Vec::new();
    for (i, value) in fields.list(ctx, "Services")?.into_iter().enumerate() {
        let service = Fields::read(ctx, value, &format!("Services[{i}]"), SERVICE_KEYS)?;
        let name = service.required(ctx, "Name")?;
        for key in ["CAFile", "CertFile", "KeyFile", "SNI"] {
            if service.non_empty(ctx, key)?.is_some() {
                let message = "TLS from the gateway to an external service; mesh-proxy presents each linked service's own leaf from [[gateway.service]] and ignores it";
                ctx.warn(service.line_of(key), &service.key(key), message);
            }
        }
        service.bool(ctx, "DisableAutoHostRewrite")?;
        // Consul's TerminatingGatewayConfigEntry.Validate: a client certificate needs all three.
        let has = |key| service.non_empty(ctx, key).map(|v| v.is_some());
        let (ca, cert, key) = (has("CAFile")?, has("CertFile")?, has("KeyFile")?);
        if (cert || key) && !(ca && cert && key) {
            let message = "CertFile and KeyFile need each other and CAFile (Consul's rule)";
            let at = if cert { "CertFile" } else { "KeyFile" };
            return Err(service.error(ctx, at, message));
        }
        let linked = LinkedService {
            name,
            namespace: service.non_empty(ctx, "Namespace")?,
            partition: service.non_empty(ctx, "Partition")?,
        };
        if linked.namespace.as_deref() == Some("*") {
            let message = "cannot be a wildcard for a terminating gateway's service";
            return Err(service.error(ctx, "Namespace", message));
        }
        let same = |other: &&LinkedService| {
            other.name == linked.name
                && other.namespace.as_deref().unwrap_or("default")
                    == linked.namespace.as_deref().unwrap_or("default")
                && other.partition == linked.partition
        };
        if services.iter().any(|other| same(&other)) {
            let message = format!(
                "service `{}` is listed twice (Consul rejects it)",
                linked.name
            );
            return Err(ctx.error(value.line, &service.path, message));
        }
        services.push(linked);
    }
    Ok(TerminatingGateway {
        name: common.name,
        namespace: common.namespace,
        partition: common.partition,
        services,
        file: ctx.file.to_owned(),
    })
}
