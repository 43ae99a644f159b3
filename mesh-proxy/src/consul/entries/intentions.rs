//! `service-intentions`, with the rules of Consul's `ServiceIntentionsConfigEntry.Validate` (after
//! its `Normalize`, as a write runs them). Not applied: Consul's rule that L7 `Permissions` need an
//! http-family `Protocol` in the destination's service-defaults: the gateway always speaks HTTP.

use super::fields::{Ctx, Fields};
use super::top_level;
use crate::consul::tree::Value;
use crate::consul::EntryError;
use crate::intentions::{
    Action, FullRegex, HeaderMatch, HeaderTest, HttpMatch, PathMatch, Permission,
    ServiceIntentions, Source, SourceRule,
};

/// A source's keys (Consul's api.SourceIntention; `JWT` to say it is not supported).
const SOURCE_KEYS: &[&str] = &[
    "Name",
    "Peer",
    "SamenessGroup",
    "Partition",
    "Namespace",
    "Action",
    "Permissions",
    "Precedence",
    "Type",
    "Description",
    "LegacyID",
    "LegacyMeta",
    "LegacyCreateTime",
    "LegacyUpdateTime",
    "JWT",
];
/// A permission's keys.
const PERMISSION_KEYS: &[&str] = &["Action", "HTTP", "JWT"];
/// `HTTP`'s keys.
const HTTP_KEYS: &[&str] = &["PathExact", "PathPrefix", "PathRegex", "Header", "Methods"];
/// A `Header` element's keys.
const HEADER_KEYS: &[&str] = &[
    "Name",
    "Present",
    "Exact",
    "Prefix",
    "Suffix",
    "Contains",
    "Regex",
    "IgnoreCase",
    "Invert",
];
/// The methods Consul accepts (its isValidHTTPMethod).
const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE",
];

/// Decode a `service-intentions` entry.
pub(super) fn decode(ctx: &mut Ctx<'_>, tree: &Value) -> Result<ServiceIntentions, EntryError> {
    let (fields, common) = top_level(ctx, tree, &["Sources", "JWT"])?;
    fields.unsupported(ctx, "JWT", "JWT")?;
    wildcards(
        ctx,
        &fields,
        &common.name,
        common.namespace.as_deref(),
        common.partition.as_deref(),
    )?;
    let wild_destination = common.name == "*" || common.namespace.as_deref() == Some("*");
    let values = fields.list(ctx, "Sources")?;
    if values.is_empty() {
        return Err(fields.error(ctx, "Sources", "at least one source is required"));
    }
    let mut sources: Vec<Source> = Vec::with_capacity(values.len());
    for (index, value) in values.into_iter().enumerate() {
        let path = format!("Sources[{index}]");
        let source = self::source(ctx, value, &path, index, wild_destination)?;
        let same = |other: &&Source| {
            let ns = |s: &Source| -> String {
                let ns = s.namespace.as_deref().or(common.namespace.as_deref());
                ns.unwrap_or("default").to_owned()
            };
            let ap = |s: &Source| -> String {
                let ap = s.partition.as_deref().or(common.partition.as_deref());
                ap.unwrap_or("default").to_owned()
            };
            other.name == source.name && ns(other) == ns(&source) && ap(other) == ap(&source)
        };
        if let Some(earlier) = sources.iter().find(same) {
            let message = format!(
                "defines source `{}` again (first as Sources[{}]; Consul rejects duplicates)",
                source.name, earlier.index
            );
            return Err(ctx.error(value.line, &path, message));
        }
        sources.push(source);
    }
    Ok(ServiceIntentions {
        name: common.name,
        namespace: common.namespace,
        partition: common.partition,
        sources,
        file: ctx.file.to_owned(),
    })
}

/// Consul's validateIntentionWildcards: `*` is a whole value; an exact name cannot follow a
/// wildcard namespace; no wildcard partitions.
fn wildcards(
    ctx: &Ctx<'_>,
    fields: &Fields<'_>,
    name: &str,
    namespace: Option<&str>,
    partition: Option<&str>,
) -> Result<(), EntryError> {
    if let Some(ns) = namespace.filter(|ns| *ns != "*" && ns.contains('*')) {
        let message = format!("wildcard `*` cannot be part of a value (`{ns}`)");
        return Err(fields.error(ctx, "Namespace", message));
    }
    if name != "*" && name.contains('*') {
        let message = format!("wildcard `*` cannot be part of a value (`{name}`)");
        return Err(fields.error(ctx, "Name", message));
    }
    if name != "*" && namespace == Some("*") {
        let message = "an exact Name cannot follow a wildcard Namespace (use Name = \"*\")";
        return Err(fields.error(ctx, "Name", message));
    }
    if partition.is_some_and(|ap| ap.contains('*')) {
        return Err(fields.error(ctx, "Partition", "cannot be a wildcard"));
    }
    Ok(())
}

/// `Sources[index]`: Consul's per-source rules.
fn source(
    ctx: &Ctx<'_>,
    value: &Value,
    path: &str,
    index: usize,
    wild_destination: bool,
) -> Result<Source, EntryError> {
    let fields = Fields::read(ctx, value, path, SOURCE_KEYS)?;
    fields.unsupported(ctx, "Peer", "a peered source (Peer)")?;
    fields.unsupported(
        ctx,
        "SamenessGroup",
        "a sameness-group source (SamenessGroup)",
    )?;
    fields.unsupported(ctx, "JWT", "JWT")?;
    let name = fields.required(ctx, "Name")?;
    let namespace = fields.non_empty(ctx, "Namespace")?;
    let partition = fields.non_empty(ctx, "Partition")?;
    wildcards(
        ctx,
        &fields,
        &name,
        namespace.as_deref(),
        partition.as_deref(),
    )?;
    if let Some(kind) = fields.non_empty(ctx, "Type")? {
        if kind != "consul" {
            return Err(fields.error(ctx, "Type", format!("must be \"consul\", not {kind:?}")));
        }
    }
    if fields
        .string(ctx, "Description")?
        .is_some_and(|d| d.len() > 512)
    {
        return Err(fields.error(
            ctx,
            "Description",
            "is longer than 512 bytes (Consul's limit)",
        ));
    }
    if fields.string_map(ctx, "LegacyMeta")? > 0 {
        let message = "must be omitted (Consul takes it only from the legacy intentions API)";
        return Err(fields.error(ctx, "LegacyMeta", message));
    }
    // Precedence is recomputed and LegacyID, LegacyCreateTime, LegacyUpdateTime are cleared by
    // Consul on every write: accepted and ignored.
    let permissions = fields.list(ctx, "Permissions")?;
    let action = fields.non_empty(ctx, "Action")?.is_some();
    let rule = match (action, permissions.is_empty()) {
        (true, false) => {
            let message = "must be omitted when Permissions are given (exactly one of the two)";
            return Err(fields.error(ctx, "Action", message));
        }
        (true, true) => SourceRule::Action(self::action(ctx, &fields)?),
        (false, true) => {
            let message = "is required: \"allow\" or \"deny\" (or Permissions)";
            return Err(fields.error(ctx, "Action", message));
        }
        (false, false) if wild_destination => {
            let message =
                "cannot be given on intentions with a wildcard destination (Consul's rule)";
            return Err(fields.error(ctx, "Permissions", message));
        }
        (false, false) => {
            let list = permissions
                .into_iter()
                .enumerate()
                .map(|(j, value)| permission(ctx, value, &format!("{path}.Permissions[{j}]")));
            SourceRule::Permissions(list.collect::<Result<_, _>>()?)
        }
    };
    Ok(Source {
        name,
        namespace,
        partition,
        rule,
        index,
    })
}

/// `Action`: `allow` or `deny`, lowercase (Consul compares exactly).
fn action(ctx: &Ctx<'_>, fields: &Fields<'_>) -> Result<Action, EntryError> {
    match fields.string(ctx, "Action")?.as_deref() {
        Some("allow") => Ok(Action::Allow),
        Some("deny") => Ok(Action::Deny),
        Some(other) => Err(fields.error(
            ctx,
            "Action",
            format!("must be \"allow\" or \"deny\" (lowercase), not {other:?}"),
        )),
        None => Err(fields.error(ctx, "Action", "is required: \"allow\" or \"deny\"")),
    }
}

/// One element of `Permissions`.
fn permission(ctx: &Ctx<'_>, value: &Value, path: &str) -> Result<Permission, EntryError> {
    let fields = Fields::read(ctx, value, path, PERMISSION_KEYS)?;
    fields.unsupported(ctx, "JWT", "JWT")?;
    let action = action(ctx, &fields)?;
    let Some(item) = fields.get("HTTP") else {
        return Err(fields.error(ctx, "HTTP", "is required"));
    };
    let http = http(ctx, &item.value, &fields.key("HTTP"))?;
    Ok(Permission { action, http })
}

/// A permission's `HTTP`: at most one path, methods, headers; not empty.
fn http(ctx: &Ctx<'_>, value: &Value, path: &str) -> Result<HttpMatch, EntryError> {
    let fields = Fields::read(ctx, value, path, HTTP_KEYS)?;
    let mut paths = Vec::new();
    for name in ["PathExact", "PathPrefix", "PathRegex"] {
        if let Some(text) = fields.non_empty(ctx, name)? {
            if name != "PathRegex" && !text.starts_with('/') {
                return Err(fields.error(ctx, name, format!("must start with `/`: {text:?}")));
            }
            paths.push((name, text));
        }
    }
    if paths.len() > 1 {
        let message = "give at most one of PathExact, PathPrefix and PathRegex";
        return Err(fields.error(ctx, paths[1].0, message));
    }
    let path_match = match paths.pop() {
        Some(("PathExact", text)) => Some(PathMatch::Exact(text)),
        Some(("PathPrefix", text)) => Some(PathMatch::Prefix(text)),
        Some((name, text)) => Some(PathMatch::Regex(regex(ctx, &fields, name, &text)?)),
        None => None,
    };
    let mut methods: Vec<String> = Vec::new();
    for (method, line) in fields.strings(ctx, "Methods")? {
        let method = method.to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            let message = format!("`{method}` is not an HTTP method ({})", METHODS.join(", "));
            return Err(ctx.error(line, &fields.key("Methods"), message));
        }
        if methods.contains(&method) {
            return Err(ctx.error(
                line,
                &fields.key("Methods"),
                format!("`{method}` is given twice"),
            ));
        }
        methods.push(method);
    }
    let headers = fields
        .list(ctx, "Header")?
        .into_iter()
        .enumerate()
        .map(|(k, value)| header(ctx, value, &fields.key(&format!("Header[{k}]"))));
    let headers: Vec<HeaderMatch> = headers.collect::<Result<_, _>>()?;
    if path_match.is_none() && methods.is_empty() && headers.is_empty() {
        let message = "should not be empty: give a path, Methods or Header";
        return Err(ctx.error(fields.line, path, message));
    }
    Ok(HttpMatch {
        path: path_match,
        methods,
        headers,
    })
}

/// One element of `Header`: a name and exactly one test.
fn header(ctx: &Ctx<'_>, value: &Value, path: &str) -> Result<HeaderMatch, EntryError> {
    let fields = Fields::read(ctx, value, path, HEADER_KEYS)?;
    let name = fields.required(ctx, "Name")?.to_ascii_lowercase();
    let mut tests = Vec::new();
    if fields.bool(ctx, "Present")? == Some(true) {
        tests.push(("Present", HeaderTest::Present));
    }
    for key in ["Exact", "Prefix", "Suffix", "Contains", "Regex"] {
        let Some(text) = fields.non_empty(ctx, key)? else {
            continue;
        };
        let test = match key {
            "Exact" => HeaderTest::Exact(text),
            "Prefix" => HeaderTest::Prefix(text),
            "Suffix" => HeaderTest::Suffix(text),
            "Contains" => HeaderTest::Contains(text),
            _ => HeaderTest::Regex(regex(ctx, &fields, key, &text)?),
        };
        tests.push((key, test));
    }
    let message = "give exactly one of Present, Exact, Prefix, Suffix, Contains and Regex";
    let test = match tests.len() {
        0 => return Err(ctx.error(fields.line, path, message)),
        1 => tests.swap_remove(0).1,
        _ => return Err(fields.error(ctx, tests[1].0, message)),
    };
    Ok(HeaderMatch {
        name,
        test,
        ignore_case: fields.bool(ctx, "IgnoreCase")?.unwrap_or(false),
        invert: fields.bool(ctx, "Invert")?.unwrap_or(false),
    })
}

/// `text` compiled as a whole-value regex, or an error at `name`.
fn regex(
    ctx: &Ctx<'_>,
    fields: &Fields<'_>,
    name: &str,
    text: &str,
) -> Result<FullRegex, EntryError> {
    FullRegex::new(text).map_err(|e| {
        let first = e.to_string();
        let detail = first.lines().last().unwrap_or_default().trim().to_owned();
        fields.error(
            ctx,
            name,
            format!("invalid regular expression {text:?}: {detail}"),
        )
    })
}
