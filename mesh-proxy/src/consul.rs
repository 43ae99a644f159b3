//! Consul's own config entries, read from the files users write for `consul config write`: HCL 1
//! or JSON, keys case-insensitive (and in snake_case), decoded as Consul decodes them (hashicorp/hcl
//! v1, then mapstructure with weak typing and unknown keys rejected) into the types mesh-proxy
//! uses: `service-intentions` ([`ServiceIntentions`]), `service-defaults` with the
//! `builtin/aws/lambda` extension, `terminating-gateway` and `mesh`.

pub(crate) mod agent;
mod entries;
mod hcl;
mod json;
mod load;
mod service;
#[cfg(test)]
mod tests;
mod tree;

use std::fmt;

pub use agent::AgentEntries;
pub(crate) use entries::{LambdaPatch, Mesh, ServiceDefaults, Setting, TerminatingGateway};
pub(crate) use load::{load, sources};
pub(crate) use service::{load_services, ServiceDefinition, ServiceUpstream};

use crate::intentions::ServiceIntentions;

/// One config entry of a kind mesh-proxy reads.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    /// `Kind = "service-intentions"`.
    ServiceIntentions(ServiceIntentions),
    /// `Kind = "service-defaults"`.
    ServiceDefaults(ServiceDefaults),
    /// `Kind = "terminating-gateway"`.
    TerminatingGateway(TerminatingGateway),
    /// `Kind = "mesh"`.
    Mesh(Mesh),
}

/// Every entry [`load`] read, by kind, in file order, and what it warns about.
#[derive(Debug, Clone, Default)]
pub(crate) struct Entries {
    /// The `service-intentions` entries.
    pub intentions: Vec<ServiceIntentions>,
    /// The `service-defaults` entries.
    pub service_defaults: Vec<ServiceDefaults>,
    /// The `terminating-gateway` entries.
    pub terminating_gateways: Vec<TerminatingGateway>,
    /// The `mesh` entries (one per partition).
    pub meshes: Vec<Mesh>,
    /// Things read but not acted on as Consul would, and patterns that matched no file: one
    /// sentence each, naming the file.
    pub warnings: Vec<String>,
}

/// An entry that cannot be read: its file, the line and Consul key path when known, and why.
/// Shown as `entries/x.hcl:12: key `Sources[1].Action`: must be "allow" or "deny"`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EntryError {
    /// The file, as the pattern named it.
    pub file: String,
    /// 1-based line of the offending key (or of the object missing a required key).
    pub line: Option<usize>,
    /// The key path with Consul's capitalisation: `Sources[1].Permissions[0].HTTP.PathPrefix`.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for EntryError {}

/// An entry and what reading it warns about.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    /// The entry.
    pub entry: Entry,
    /// Warnings, each naming the file.
    pub warnings: Vec<String>,
}

/// Read one entry from `text`, HCL 1 or JSON by `file`'s extension (`.hcl`, `.json`; otherwise
/// JSON when the text starts with `{`). Warnings go to the log; [`parse_entry_with_warnings`]
/// returns them.
#[cfg(test)]
pub(crate) fn parse_entry(text: &str, file: &str) -> Result<Entry, EntryError> {
    let parsed = parse_entry_with_warnings(text, file)?;
    for warning in &parsed.warnings {
        tracing::warn!(file, "{warning}");
    }
    Ok(parsed.entry)
}

/// [`parse_entry`], with the warnings.
#[cfg(test)]
pub(crate) fn parse_entry_with_warnings(text: &str, file: &str) -> Result<Parsed, EntryError> {
    match entries::decode(&read_tree(text, file)?, file)? {
        entries::Decoded::Entry(parsed) => Ok(parsed),
        entries::Decoded::OtherKind { kind, line } => Err(EntryError {
            file: file.to_owned(),
            line: Some(line),
            key: Some("Kind".to_owned()),
            message: format!("kind `{kind}` is not read by mesh-proxy"),
        }),
    }
}

/// The tree of `text`, by `file`'s extension or the first character.
fn read_tree(text: &str, file: &str) -> Result<tree::Value, EntryError> {
    let lower = file.to_ascii_lowercase();
    let is_json = if lower.ends_with(".json") {
        true
    } else if lower.ends_with(".hcl") {
        false
    } else {
        text.trim_start().starts_with('{')
    };
    let parsed = if is_json {
        json::parse(text)
    } else {
        hcl::parse(text)
    };
    parsed.map_err(|e| EntryError {
        file: file.to_owned(),
        line: Some(e.line),
        key: None,
        message: e.message,
    })
}

/// HCL 1 `text` as JSON in pyhcl's shape (for the differential test against pyhcl); the error
/// is `line N: message`.
pub fn hcl_to_json(text: &str) -> Result<String, String> {
    hcl::parse(text)
        .map(|tree| tree.to_json())
        .map_err(|e| format!("line {}: {}", e.line, e.message))
}
