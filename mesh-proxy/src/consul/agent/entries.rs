//! The config entries read from the agent: which API paths a config needs, what each answered,
//! and how they join the entries read from files (an agent entry replaces a file entry of the
//! same kind, name, namespace and partition; a deleted one is gone from the agent's set at once).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::super::entries::{self as decoder, Decoded};
use super::super::load::identity;
use super::super::{json, Entries, Entry, EntryError};
use crate::config::Config;

/// The whole `service-intentions` list (Consul answers with every entry the token may read).
pub(crate) const INTENTIONS_PATH: &str = "/v1/config/service-intentions";
/// The `mesh` entry.
pub(crate) const MESH_PATH: &str = "/v1/config/mesh/mesh";

/// What one API path holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Observed {
    /// The entry (or, for a list, every entry) as JSON.
    Found(Bytes),
    /// 404: no such entry.
    Missing,
}

/// The latest answer for each API path a config reads from the agent. Empty when there is no
/// agent (or before it answered): the files alone decide.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentEntries {
    answers: BTreeMap<String, Observed>,
}

impl AgentEntries {
    /// Record what `path` holds.
    pub(crate) fn set(&mut self, path: String, observed: Observed) {
        self.answers.insert(path, observed);
    }

    /// What `path` answered last.
    pub(crate) fn get(&self, path: &str) -> Option<&Observed> {
        self.answers.get(path)
    }

    /// Forget the paths not in `wanted`.
    pub(crate) fn retain(&mut self, wanted: &[String]) {
        self.answers.retain(|path, _| wanted.contains(path));
    }

    /// The paths of `wanted` with no answer yet.
    pub(crate) fn unanswered<'a>(&self, wanted: &'a [String]) -> Vec<&'a str> {
        wanted
            .iter()
            .filter(|p| !self.answers.contains_key(*p))
            .map(String::as_str)
            .collect()
    }

    /// Decode every answer and lay it over `entries`; problems are blamed on
    /// `consul agent GET <path>` and the entry's key.
    pub(crate) fn merge_into(&self, entries: &mut Entries) -> Result<(), EntryError> {
        for (path, observed) in &self.answers {
            let Observed::Found(body) = observed else {
                continue;
            };
            if !path.starts_with("/v1/config/") {
                continue;
            }
            let label = format!("consul agent GET {path}");
            let text = std::str::from_utf8(body).map_err(|_| EntryError {
                file: label.clone(),
                line: None,
                key: None,
                message: "the answer is not UTF-8".to_owned(),
            })?;
            // A list endpoint answers with an array of entries; the entry reader takes one.
            let texts = match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Array(items)) => {
                    items.iter().map(|i| i.to_string()).collect()
                }
                _ => vec![text.to_owned()],
            };
            for text in &texts {
                let tree = json::parse(text).map_err(|e| EntryError {
                    file: label.clone(),
                    line: Some(e.line),
                    key: None,
                    message: e.message,
                })?;
                match decoder::decode(&tree, &label)? {
                    Decoded::Entry(parsed) => {
                        entries.warnings.extend(parsed.warnings);
                        replace(entries, parsed.entry);
                    }
                    Decoded::OtherKind { kind, .. } => entries
                        .warnings
                        .push(format!("{label}: kind `{kind}` is not read by mesh-proxy")),
                }
            }
        }
        Ok(())
    }
}

/// Put `entry` in `entries`, in place of a file entry with its identity.
fn replace(entries: &mut Entries, entry: Entry) {
    let id = identity(&entry);
    let same = |other: Entry| identity(&other) == id;
    match entry {
        Entry::ServiceIntentions(e) => {
            entries
                .intentions
                .retain(|o| !same(Entry::ServiceIntentions(o.clone())));
            entries.intentions.push(e);
        }
        Entry::ServiceDefaults(e) => {
            entries
                .service_defaults
                .retain(|o| !same(Entry::ServiceDefaults(o.clone())));
            entries.service_defaults.push(e);
        }
        Entry::TerminatingGateway(e) => {
            entries
                .terminating_gateways
                .retain(|o| !same(Entry::TerminatingGateway(o.clone())));
            entries.terminating_gateways.push(e);
        }
        Entry::Mesh(e) => {
            entries.meshes.retain(|o| !same(Entry::Mesh(o.clone())));
            entries.meshes.push(e);
        }
    }
}

/// The API paths `config` reads from its agent (none without one): the intentions list, the
/// mesh entry, the gateway's terminating-gateway entry, and the service-defaults of every
/// destination it serves.
pub(crate) fn wanted(config: &Config) -> Vec<String> {
    if config.consul_agent.is_none() {
        return Vec::new();
    }
    let names = config
        .invoking()
        .map(|u| u.destination_name.as_str())
        .chain(
            config
                .services
                .iter()
                .flat_map(|s| s.upstreams.iter().map(String::as_str)),
        );
    let mut paths = paths(config.gateway.as_ref().map(|g| g.name.as_str()), names);
    if let Some(gateway) = &config.gateway {
        paths.extend(gateway.agent_paths.iter().cloned());
    }
    paths
}

/// The API paths for the gateway `gateway` and the destinations `names`.
pub(crate) fn paths<'a>(
    gateway: Option<&str>,
    names: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let mut paths = vec![INTENTIONS_PATH.to_owned(), MESH_PATH.to_owned()];
    if let Some(gateway) = gateway {
        paths.push(format!(
            "/v1/config/terminating-gateway/{}",
            segment(gateway)
        ));
    }
    let mut names: Vec<&str> = names.collect();
    names.sort_unstable();
    names.dedup();
    paths.extend(
        names
            .into_iter()
            .map(|name| format!("/v1/config/service-defaults/{}", segment(name))),
    );
    paths
}

/// A path segment, percent-encoded.
fn segment(name: &str) -> String {
    super::encode(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(json: &str) -> Observed {
        Observed::Found(Bytes::from(json.to_owned()))
    }

    #[test]
    fn agent_entries_replace_file_entries_of_the_same_name() {
        let mut entries = Entries::default();
        let file = r#"{"Kind":"service-intentions","Name":"billing","Sources":[{"Name":"web","Action":"allow"}]}"#;
        let tree = json::parse(file).unwrap_or_else(|e| panic!("{}", e.message));
        if let Ok(Decoded::Entry(parsed)) = decoder::decode(&tree, "billing.json") {
            replace(&mut entries, parsed.entry);
        }
        assert_eq!(entries.intentions.len(), 1);
        let mut agent = AgentEntries::default();
        agent.set(
            INTENTIONS_PATH.to_owned(),
            found(r#"[{"Kind":"service-intentions","Name":"billing","Sources":[{"Name":"web","Action":"deny","Precedence":9,"Type":"consul"}],"CreateIndex":5,"ModifyIndex":9},{"Kind":"service-intentions","Name":"orders","Sources":[{"Name":"*","Action":"allow"}]}]"#),
        );
        agent
            .merge_into(&mut entries)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(entries.intentions.len(), 2);
        let billing = entries
            .intentions
            .iter()
            .find(|i| i.name == "billing")
            .map(|i| format!("{i:?}"))
            .unwrap_or_default();
        assert!(billing.contains("Deny"), "{billing}");
    }

    #[test]
    fn a_missing_entry_adds_nothing_and_a_bad_one_names_the_path() {
        let mut agent = AgentEntries::default();
        agent.set(MESH_PATH.to_owned(), Observed::Missing);
        let mut entries = Entries::default();
        agent
            .merge_into(&mut entries)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(entries.meshes.is_empty());
        agent.set(
            INTENTIONS_PATH.to_owned(),
            found(r#"[{"Kind":"service-intentions","Name":"b","Sources":[{"Name":"w","Action":"maybe"}]}]"#),
        );
        let error = agent.merge_into(&mut entries).err().map(|e| e.to_string());
        let error = error.unwrap_or_default();
        assert!(
            error.contains("consul agent GET /v1/config/service-intentions"),
            "{error}"
        );
        assert!(error.contains("Sources[0].Action"), "{error}");
    }

    #[test]
    fn names_keep_their_dashes_and_dots_in_paths() {
        assert_eq!(
            segment("terminating-gateway.v2_x~"),
            "terminating-gateway.v2_x~"
        );
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn unanswered_and_retain_follow_the_wanted_paths() {
        let mut agent = AgentEntries::default();
        let wanted = vec![INTENTIONS_PATH.to_owned(), MESH_PATH.to_owned()];
        assert_eq!(agent.unanswered(&wanted).len(), 2);
        agent.set(MESH_PATH.to_owned(), Observed::Missing);
        agent.set(
            "/v1/config/service-defaults/x".to_owned(),
            Observed::Missing,
        );
        assert_eq!(agent.unanswered(&wanted), vec![INTENTIONS_PATH]);
        agent.retain(&wanted);
        assert_eq!(agent.answers.len(), 1);
    }
}
