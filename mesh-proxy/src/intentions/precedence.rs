//! Which intention applies, and what it decides: Consul's precedence (`agent/structs/
//! config_entry_intentions.go`, `computeIntentionPrecedence`), the highest-precedence intention
//! whose destination and source match the connection applies alone, deny winning a tie; an L4
//! intention decides by its `Action`, an L7 one by its first matching permission or else the
//! default policy (never by a lower-precedence intention); no intention: the default policy.
//!
//! | source namespace | source name | destination namespace | destination name | precedence |
//! |---|---|---|---|---|
//! | exact | exact | exact | exact | 9 |
//! | exact | `*` | exact | exact | 8 |
//! | `*` | `*` | exact | exact | 7 |
//! | exact | exact | exact | `*` | 6 |
//! | exact | `*` | exact | `*` | 5 |
//! | `*` | `*` | exact | `*` | 4 |
//! | exact | exact | `*` | `*` | 3 |
//! | exact | `*` | `*` | `*` | 2 |
//! | `*` | `*` | `*` | `*` | 1 |
//!
//! Partitions are exact only, so they never enter precedence; the datacenter is not matched
//! (Consul's RBAC matches any `dc`). This is Consul's documented rule, and what its intention
//! check API answers; Consul's Envoy RBAC approximates it and can differ when a
//! higher-precedence intention has a *less* specific source than a lower one (`*` → `billing`
//! vs `web` → `*`): here the `*` → `billing` intention decides, as the table says.

use std::fmt;

use super::{l7, Action, ServiceIntentions, SourceRule};
use crate::identity::{ServiceIdentity, DEFAULT_PARTITION};

/// The namespace of an entry or source that names none.
const DEFAULT_NAMESPACE: &str = "default";

/// `*`: any namespace or any service.
const WILDCARD: &str = "*";

/// Every intention, flattened to one rule per source and sorted for lookup.
#[derive(Debug, Clone)]
pub(crate) struct Intentions {
    /// Highest precedence first; entries' and sources' order among equals.
    rules: Vec<Rule>,
    /// What decides where no intention (or no permission of the one that applies) does.
    default_policy: Action,
}

/// What the authorize stage knows of a request before its body: the method, the normalized path
/// (no query; see `normalize_path`) and the headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestHead<'a> {
    /// The method.
    pub(crate) method: &'a http::Method,
    /// The normalized path, without its query.
    pub(crate) path: &'a str,
    /// The headers.
    pub(crate) headers: &'a http::HeaderMap,
}

/// An authorization decision and what made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Allow or deny.
    pub(crate) action: Action,
    /// What decided, for the 403 body (`<source> -> <destination> denied by <by>`) and logs:
    /// `intention web -> billing (entries/billing.hcl, Sources[1])`, the same with
    /// `.Permissions[0]` when a permission decided, with `: no permission matched, default
    /// policy deny` when none did, or `default policy deny` when no intention applied.
    pub(crate) by: String,
}

/// One source of one entry.
#[derive(Debug, Clone)]
struct Rule {
    /// 1..=9, from the table.
    precedence: u8,
    /// The entry's destination.
    destination: Pattern,
    /// The source, its namespace and partition inherited from the entry where not given.
    source: Pattern,
    /// `Action` or `Permissions`.
    rule: SourceRule,
    /// `intention web -> billing (entries/billing.hcl, Sources[1]`, unclosed: permissions add
    /// to it.
    label: String,
}

/// A partition, namespace and service name to match an identity against (`None`: `*`).
#[derive(Debug, Clone)]
struct Pattern {
    /// Exact only.
    partition: String,
    /// `None`: any namespace.
    namespace: Option<String>,
    /// `None`: any service.
    name: Option<String>,
}

impl Intentions {
    /// The rules of `entries`, with `default_policy` deciding where none applies (and where an
    /// L7 intention's permissions do not match).
    pub(crate) fn new(entries: Vec<ServiceIntentions>, default_policy: Action) -> Intentions {
        let mut rules = Vec::new();
        for entry in entries {
            let partition = given(entry.partition.as_deref()).unwrap_or(DEFAULT_PARTITION);
            let namespace = given(entry.namespace.as_deref()).unwrap_or(DEFAULT_NAMESPACE);
            let destination_exact = count_exact(namespace, &entry.name);
            // A source without a namespace is in the entry's, unless that is `*` (Consul's
            // `MergeNoWildcard`); without a partition, in the entry's.
            let inherited_namespace = if namespace == WILDCARD {
                DEFAULT_NAMESPACE
            } else {
                namespace
            };
            let destination = Pattern::new(partition, namespace, &entry.name);
            for source in entry.sources {
                let source_partition = given(source.partition.as_deref()).unwrap_or(partition);
                let source_namespace =
                    given(source.namespace.as_deref()).unwrap_or(inherited_namespace);
                rules.push(Rule {
                    precedence: 3 * destination_exact
                        + count_exact(source_namespace, &source.name)
                        + 1,
                    destination: destination.clone(),
                    source: Pattern::new(source_partition, source_namespace, &source.name),
                    rule: source.rule,
                    label: format!(
                        "intention {} -> {} ({}, Sources[{}]",
                        source.name, entry.name, entry.file, source.index
                    ),
                });
            }
        }
        // Stable: among equal precedence, file and `Sources` order (only ties need it).
        rules.sort_by_key(|rule| std::cmp::Reverse(rule.precedence));
        Intentions {
            rules,
            default_policy,
        }
    }

    /// What decides where no intention does.
    #[cfg(test)]
    pub(crate) fn default_policy(&self) -> Action {
        self.default_policy
    }

    /// The decision for `source` calling `destination` with this request head.
    pub(crate) fn decide(
        &self,
        source: &ServiceIdentity,
        destination: &ServiceIdentity,
        request: &RequestHead<'_>,
    ) -> Decision {
        let mut chosen: Option<(u8, Decision)> = None;
        for rule in &self.rules {
            if chosen
                .as_ref()
                .is_some_and(|(precedence, _)| rule.precedence < *precedence)
            {
                break;
            }
            if !rule.destination.matches(destination) || !rule.source.matches(source) {
                continue;
            }
            let decision = rule.decide(request, self.default_policy);
            if decision.action == Action::Deny {
                return decision; // Deny wins a tie; nothing below this precedence counts.
            }
            chosen.get_or_insert((rule.precedence, decision));
        }
        match chosen {
            Some((_, decision)) => decision,
            None => Decision {
                action: self.default_policy,
                by: format!("default policy {}", self.default_policy),
            },
        }
    }
}

impl Rule {
    /// This rule's decision for a request it applies to.
    fn decide(&self, request: &RequestHead<'_>, default_policy: Action) -> Decision {
        match &self.rule {
            SourceRule::Action(action) => Decision {
                action: *action,
                by: format!("{})", self.label),
            },
            SourceRule::Permissions(permissions) => match l7::first_match(permissions, request) {
                Some(i) => Decision {
                    action: permissions[i].action,
                    by: format!("{}.Permissions[{i}])", self.label),
                },
                None => Decision {
                    action: default_policy,
                    by: format!(
                        "{}): no permission matched, default policy {default_policy}",
                        self.label
                    ),
                },
            },
        }
    }
}

impl Pattern {
    /// `*` as namespace or name matches any.
    fn new(partition: &str, namespace: &str, name: &str) -> Pattern {
        let exact = |value: &str| (value != WILDCARD).then(|| value.to_owned());
        Pattern {
            partition: partition.to_owned(),
            namespace: exact(namespace),
            name: exact(name),
        }
    }

    /// Whether `identity` is in this partition and namespace and is this service.
    fn matches(&self, identity: &ServiceIdentity) -> bool {
        self.partition == identity.partition()
            && self
                .namespace
                .as_ref()
                .is_none_or(|namespace| namespace == identity.namespace())
            && self
                .name
                .as_ref()
                .is_none_or(|name| name == identity.service())
    }
}

impl fmt::Display for Action {
    /// `allow` or `deny`, as Consul writes them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        })
    }
}

/// Consul's `intentionCountExact`: 2 for `ns/name`, 1 for `ns/*`, 0 for `*/*` (a `*` namespace
/// counts as 0 whatever the name; the decoder refuses `*/name` as Consul does).
fn count_exact(namespace: &str, name: &str) -> u8 {
    if namespace == WILDCARD {
        0
    } else if name == WILDCARD {
        1
    } else {
        2
    }
}

/// `Some` for a value given and not empty (Consul reads `""` as not given).
fn given(value: Option<&str>) -> Option<&str> {
    value.filter(|value| !value.is_empty())
}
