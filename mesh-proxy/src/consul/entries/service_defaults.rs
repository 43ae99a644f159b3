//! `service-defaults`: the `Protocol` and the `builtin/aws/lambda` Envoy extension, which makes
//! the service a Lambda function (or, as Consul 1.12–1.14 had it, the `Meta` keys under
//! `serverless.consul.hashicorp.com/v1alpha1/lambda/`); Consul's other keys are accepted and not
//! used.

use super::fields::{Ctx, Fields};
use super::{top_level, LambdaPatch, ServiceDefaults};
use crate::config::{check_function_arn, InvocationMode};
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
    let legacy = legacy(ctx, &fields)?;
    let lambda = match (lambda, legacy) {
        (Some((patch, _)), Some(_)) => {
            let message = format!(
                "the `{LAMBDA}` extension and the Consul 1.12–1.14 `{LEGACY}*` keys both make this service a function; the extension is used, as by Consul"
            );
            ctx.warn(fields.line_of("Meta"), &fields.key("Meta"), message);
            Some(patch)
        }
        (Some((patch, _)), None) => Some(patch),
        (None, legacy) => legacy,
    };
    Ok(ServiceDefaults {
        name: common.name,
        namespace: common.namespace,
        partition: common.partition,
        protocol,
        lambda,
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
    if let Err(message) = check_function_arn(&arn) {
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

/// The prefix of Consul 1.12–1.14's Lambda `Meta` keys.
const LEGACY: &str = "serverless.consul.hashicorp.com/v1alpha1/lambda/";
/// The keys after the prefix. Consul 1.12 spelt payload passthrough `payload-passhthrough`; later
/// releases read both spellings.
const LEGACY_KEYS: &[&str] = &[
    "enabled",
    "arn",
    "region",
    "payload-passthrough",
    "payload-passhthrough",
    "invocation-mode",
];

/// The function registered the Consul 1.12–1.14 way: `Meta` keys, matched case-sensitively as
/// Consul matches them, `enabled` and `payload-passthrough` on only for the exact string `"true"`,
/// `arn` and `region` required when enabled. Near misses Consul would silently ignore are warned
/// about, since the service would quietly not be a function.
fn legacy(ctx: &mut Ctx<'_>, fields: &Fields<'_>) -> Result<Option<LambdaPatch>, EntryError> {
    let Some(meta) = fields.get("Meta") else {
        return Ok(None);
    };
    let Kind::Object(object) = &super::fields::single(&meta.value).kind else {
        return Ok(None);
    };
    let meta_key = fields.key("Meta");
    // (suffix, value as Consul's decoder makes it a string, line, written as a boolean)
    let mut found: Vec<(&str, String, usize, bool)> = Vec::new();
    for item in &object.items {
        let key_path = format!("{meta_key}.{}", item.key);
        let Some(suffix) = item.key.strip_prefix(LEGACY) else {
            if item.key.to_ascii_lowercase().starts_with(LEGACY) {
                let message = format!(
                    "Consul matches its `{LEGACY}` keys case-sensitively, so this one is ignored"
                );
                ctx.warn(item.line, &key_path, message);
            }
            continue;
        };
        let Some(known) = LEGACY_KEYS.iter().find(|k| **k == suffix) else {
            let message = format!(
                "not one of Consul's Lambda keys ({}), ignored",
                LEGACY_KEYS.join(", ")
            );
            ctx.warn(item.line, &key_path, message);
            continue;
        };
        // Meta values are scalars (checked by `meta`); Go's weak decoding makes them strings.
        let value = super::fields::single(&item.value);
        let (text, boolean) = match &value.kind {
            Kind::String(s) => (s.clone(), false),
            Kind::Int(i) => (i.to_string(), false),
            Kind::Float(f) => (f.to_string(), false),
            Kind::Bool(b) => ((if *b { "1" } else { "0" }).to_owned(), true),
            Kind::List(_) | Kind::Object(_) => continue,
        };
        found.push((known, text, item.line, boolean));
    }
    let get = |name: &str| found.iter().find(|(k, ..)| *k == name);
    let path = |name: &str| format!("{meta_key}.{LEGACY}{name}");
    // `"true"` exactly is on; a value that reads as true anywhere else is a warning.
    let is_true = |ctx: &mut Ctx<'_>, name: &str| -> bool {
        let Some((key, text, line, boolean)) = get(name) else {
            return false;
        };
        if text == "true" {
            return true;
        }
        let truthy = ["true", "1", "t", "yes", "on"].contains(&text.to_ascii_lowercase().as_str());
        if truthy {
            let written = if *boolean {
                "the boolean true, which Consul's decoder turns into \"1\"".to_owned()
            } else {
                format!("{text:?}")
            };
            let message = format!(
                "is {written}; Consul turns this on only for the exact string \"true\", so it stays off"
            );
            ctx.warn(*line, &path(key), message);
        }
        false
    };
    if !is_true(ctx, "enabled") {
        return Ok(None);
    }
    let required = |name: &str| -> Result<(String, usize), EntryError> {
        match get(name) {
            Some((_, text, line, _)) if !text.is_empty() => Ok((text.clone(), *line)),
            _ => {
                let line = get("enabled").map_or(meta.line, |found| found.2);
                let message = format!("is required when `{LEGACY}enabled` is \"true\"");
                Err(ctx.error(line, &path(name), message))
            }
        }
    };
    let (arn, arn_line) = required("arn")?;
    let (region, region_line) = required("region")?;
    if let Err(message) = check_function_arn(&arn) {
        return Err(ctx.error(arn_line, &path("arn"), message));
    }
    let arn_region = arn.split(':').nth(3).unwrap_or_default();
    if region != arn_region {
        let message = format!(
            "is {region:?} but the function's ARN is in {arn_region:?}; Consul would sign for and call {region:?}, which cannot invoke it"
        );
        return Err(ctx.error(region_line, &path("region"), message));
    }
    let payload_passthrough =
        is_true(ctx, "payload-passthrough") | is_true(ctx, "payload-passhthrough");
    let invocation_mode = match get("invocation-mode") {
        None => InvocationMode::Synchronous,
        Some((_, text, line, _)) => match text.as_str() {
            "" | "synchronous" => InvocationMode::Synchronous,
            "asynchronous" => InvocationMode::Asynchronous,
            other if other.eq_ignore_ascii_case("asynchronous") => {
                let message = format!(
                    "{other:?}: mesh-proxy invokes asynchronously, but Consul's own gateway matches \"asynchronous\" exactly and would invoke synchronously"
                );
                ctx.warn(*line, &path("invocation-mode"), message);
                InvocationMode::Asynchronous
            }
            other => {
                let message = format!(
                    "{other:?} is neither \"synchronous\" nor \"asynchronous\"; invoking synchronously, as Consul does"
                );
                ctx.warn(*line, &path("invocation-mode"), message);
                InvocationMode::Synchronous
            }
        },
    };
    Ok(Some(LambdaPatch {
        arn,
        payload_passthrough,
        invocation_mode,
    }))
}
