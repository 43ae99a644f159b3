//! `service-defaults`: the `Protocol` and the `builtin/aws/lambda` Envoy extension, which makes
//! the service a Lambda function; Consul's other keys are accepted and not used.

use super::fields::{Ctx, Fields};
use super::{top_level, LambdaPatch, ServiceDefaults};
use crate::config::InvocationMode;
use crate::consul::tree::{Kind, Value};
use crate::consul::EntryError;

/// service-defaults' own keys (Consul's api.ServiceConfigEntry). The ones after `Protocol` and
/// `EnvoyExtensions` configure Envoy sidecars; their contents are not checked.
const KEYS: &[&str] = &[
    "Protocol",
    "EnvoyExtensions",
    "Mode",
    "TransparentProxy",
    "MutualTLSMode",
    "MeshGateway",
    "Expose",
    "ExternalSNI",
    "UpstreamConfig",
    "Destination",
    "MaxInboundConnections",
    "LocalConnectTimeoutMs",
    "LocalRequestTimeoutMs",
    "BalanceInboundConnections",
    "RateLimits",
];
/// An `EnvoyExtensions` element's keys.
const EXTENSION_KEYS: &[&str] = &[
    "Name",
    "Required",
    "Arguments",
    "ConsulVersion",
    "EnvoyVersion",
];
/// The extension that makes a service a Lambda function.
const LAMBDA: &str = "builtin/aws/lambda";

/// Decode a `service-defaults` entry.
pub(super) fn decode(ctx: &mut Ctx<'_>, tree: &Value) -> Result<ServiceDefaults, EntryError> {
    let (fields, common) = top_level(ctx, tree, KEYS)?;
    let protocol = fields
        .non_empty(ctx, "Protocol")?
        .map(|p| p.to_ascii_lowercase());
    let mut lambda: Option<(LambdaPatch, usize)> = None;
    for (i, value) in fields.list(ctx, "EnvoyExtensions")?.into_iter().enumerate() {
        let path = format!("EnvoyExtensions[{i}]");
        let extension = Fields::read(ctx, value, &path, EXTENSION_KEYS)?;
        extension.bool(ctx, "Required")?;
        extension.string(ctx, "ConsulVersion")?;
        extension.string(ctx, "EnvoyVersion")?;
        // Other extensions (Lua, ext-authz …) are Envoy's business, not ours.
        if extension.required(ctx, "Name")? != LAMBDA {
            continue;
        }
        if let Some((_, first)) = &lambda {
            let message =
                format!("a second `{LAMBDA}` extension (the first is EnvoyExtensions[{first}])");
            return Err(ctx.error(value.line, &path, message));
        }
        let Some(arguments) = extension.get("Arguments") else {
            return Err(extension.error(ctx, "Arguments", "is required (with ARN)"));
        };
        let patch = self::arguments(ctx, &arguments.value, &extension.key("Arguments"))?;
        lambda = Some((patch, i));
    }
    Ok(ServiceDefaults {
        name: common.name,
        namespace: common.namespace,
        partition: common.partition,
        protocol,
        lambda: lambda.map(|(patch, _)| patch),
        file: ctx.file.to_owned(),
    })
}

/// The lambda extension's `Arguments`, keys case-insensitive; unknown ones are warned about
/// (Consul's extension ignores them, so a typo would silently do nothing).
fn arguments(ctx: &mut Ctx<'_>, value: &Value, path: &str) -> Result<LambdaPatch, EntryError> {
    const ARGUMENTS: &[&str] = &["ARN", "PayloadPassthrough", "InvocationMode"];
    let single = super::fields::single(value);
    if let Kind::Object(object) = &single.kind {
        let known = |key: &str| {
            ARGUMENTS
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&key.replace('_', "")))
        };
        let unknown: Vec<(String, usize)> = object
            .items
            .iter()
            .filter(|item| !known(&item.key))
            .map(|item| (item.key.clone(), item.line))
            .collect();
        for (key, line) in unknown {
            ctx.warn(
                line,
                &format!("{path}.{key}"),
                "unknown argument of builtin/aws/lambda, ignored",
            );
        }
    }
    let filtered = only_known(single, ARGUMENTS);
    let fields = Fields::read(ctx, &filtered, path, ARGUMENTS)?;
    let arn = fields.required(ctx, "ARN")?;
    if !is_function_arn(&arn) {
        let message = format!(
            "{arn:?} is not a Lambda function ARN (arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>])"
        );
        return Err(fields.error(ctx, "ARN", message));
    }
    let payload_passthrough = fields.bool(ctx, "PayloadPassthrough")?.unwrap_or(false);
    let invocation_mode = match fields.string(ctx, "InvocationMode")?.as_deref() {
        None | Some("synchronous") => InvocationMode::Synchronous,
        Some("asynchronous") => InvocationMode::Asynchronous,
        Some(other) if other.eq_ignore_ascii_case("asynchronous") => {
            let message = format!(
                "{other:?}: mesh-proxy invokes asynchronously, but Consul's own gateway matches \"asynchronous\" exactly and would invoke synchronously"
            );
            ctx.warn(
                fields.line_of("InvocationMode"),
                &fields.key("InvocationMode"),
                message,
            );
            InvocationMode::Asynchronous
        }
        Some(other) => {
            let message = format!("must be \"synchronous\" or \"asynchronous\", not {other:?}");
            return Err(fields.error(ctx, "InvocationMode", message));
        }
    };
    Ok(LambdaPatch {
        arn,
        payload_passthrough,
        invocation_mode,
    })
}

/// `value` (an object) without the keys that are not `names` (they were warned about).
fn only_known(value: &Value, names: &[&str]) -> Value {
    let mut value = value.clone();
    if let Kind::Object(object) = &mut value.kind {
        object.items.retain(|item| {
            let key = item.key.replace('_', "");
            names.iter().any(|name| name.eq_ignore_ascii_case(&key))
        });
    }
    value
}

/// `arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]`, no part empty.
pub(super) fn is_function_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    (parts.len() == 7 || parts.len() == 8)
        && parts[0] == "arn"
        && parts[2] == "lambda"
        && parts[5] == "function"
        && parts.iter().all(|part| !part.is_empty())
}
