#![allow(clippy::unwrap_used)]

use http::{HeaderMap, Method};

use super::precedence::Decision;
use super::*;
use crate::identity::ServiceIdentity;

mod permissions;
mod scope;

const TD: &str = "11111111-2222-3333-4444-555555555555.consul";

fn service(namespace: &str, name: &str) -> ServiceIdentity {
    ServiceIdentity::new(TD, namespace, "dc1", name)
}

fn l4(action: Action) -> SourceRule {
    SourceRule::Action(action)
}

fn source(namespace: Option<&str>, name: &str, rule: SourceRule) -> Source {
    Source {
        name: name.to_owned(),
        namespace: namespace.map(str::to_owned),
        partition: None,
        rule,
        index: 0,
    }
}

fn entry(
    file: &str,
    namespace: Option<&str>,
    name: &str,
    sources: Vec<Source>,
) -> ServiceIntentions {
    ServiceIntentions {
        name: name.to_owned(),
        namespace: namespace.map(str::to_owned),
        partition: None,
        sources: sources
            .into_iter()
            .enumerate()
            .map(|(index, source)| Source { index, ..source })
            .collect(),
        file: file.to_owned(),
    }
}

fn prefix(action: Action, prefix: &str) -> Permission {
    Permission {
        action,
        http: HttpMatch {
            path: Some(PathMatch::Prefix(prefix.to_owned())),
            ..HttpMatch::default()
        },
    }
}

/// The decision for a GET of `path` from `source` to `destination`.
fn decide_get(
    intentions: &Intentions,
    source: &ServiceIdentity,
    destination: &ServiceIdentity,
    path: &str,
) -> Decision {
    let headers = HeaderMap::new();
    let request = RequestHead {
        method: &Method::GET,
        path,
        headers: &headers,
    };
    intentions.decide(source, destination, &request)
}

fn web() -> ServiceIdentity {
    service("team", "web")
}

fn billing() -> ServiceIdentity {
    service("pay", "billing")
}

/// Row `row` of the precedence table (9..=1) as an entry matching `team/web` → `pay/billing`,
/// in the file `row<row>.hcl`.
fn table_row(row: u8, action: Action) -> ServiceIntentions {
    let (source_ns, source_name, dest_ns, dest_name) = match row {
        9 => ("team", "web", "pay", "billing"),
        8 => ("team", "*", "pay", "billing"),
        7 => ("*", "*", "pay", "billing"),
        6 => ("team", "web", "pay", "*"),
        5 => ("team", "*", "pay", "*"),
        4 => ("*", "*", "pay", "*"),
        3 => ("team", "web", "*", "*"),
        2 => ("team", "*", "*", "*"),
        1 => ("*", "*", "*", "*"),
        _ => unreachable!("the table has rows 9 to 1"),
    };
    entry(
        &format!("row{row}.hcl"),
        Some(dest_ns),
        dest_name,
        vec![source(Some(source_ns), source_name, l4(action))],
    )
}

fn row_label(row: u8) -> String {
    let (source, dest) = match row {
        9 | 6 | 3 => ("web", ["billing", "*", "*"][usize::from((9 - row) / 3)]),
        _ => ("*", ["billing", "*", "*"][usize::from((9 - row) / 3)]),
    };
    format!("intention {source} -> {dest} (row{row}.hcl, Sources[0])")
}

#[test]
fn each_precedence_row_beats_every_lower_row() {
    for row in (1..=9).rev() {
        for (winner, losers) in [(Action::Deny, Action::Allow), (Action::Allow, Action::Deny)] {
            // Lower rows first in the list, so file order cannot be what decides.
            let mut entries: Vec<_> = (1..row).map(|lower| table_row(lower, losers)).collect();
            entries.push(table_row(row, winner));
            let intentions = Intentions::new(entries, losers);
            let decision = decide_get(&intentions, &web(), &billing(), "/");
            assert_eq!(
                decision,
                Decision {
                    action: winner,
                    by: row_label(row),
                },
                "row {row}"
            );
        }
    }
}

#[test]
fn each_precedence_row_applies_alone() {
    for row in 1..=9 {
        let intentions = Intentions::new(vec![table_row(row, Action::Allow)], Action::Deny);
        let decision = decide_get(&intentions, &web(), &billing(), "/");
        assert_eq!(decision.action, Action::Allow, "row {row}");
        assert_eq!(decision.by, row_label(row));
    }
}

#[test]
fn deny_wins_a_tie_in_either_order() {
    let allow = entry(
        "a.hcl",
        Some("pay"),
        "billing",
        vec![source(Some("team"), "web", l4(Action::Allow))],
    );
    let deny = entry(
        "b.hcl",
        Some("pay"),
        "billing",
        vec![source(Some("team"), "web", l4(Action::Deny))],
    );
    for entries in [vec![allow.clone(), deny.clone()], vec![deny, allow]] {
        let intentions = Intentions::new(entries, Action::Allow);
        let decision = decide_get(&intentions, &web(), &billing(), "/");
        assert_eq!(decision.action, Action::Deny);
        assert_eq!(decision.by, "intention web -> billing (b.hcl, Sources[0])");
    }
}

#[test]
fn deny_wins_a_tie_between_an_l7_and_an_l4_intention() {
    let l7 = entry(
        "a.hcl",
        Some("pay"),
        "billing",
        vec![source(
            Some("team"),
            "web",
            SourceRule::Permissions(vec![prefix(Action::Deny, "/admin")]),
        )],
    );
    let allow = entry(
        "b.hcl",
        Some("pay"),
        "billing",
        vec![source(Some("team"), "web", l4(Action::Allow))],
    );
    let intentions = Intentions::new(vec![allow, l7], Action::Allow);
    let admin = decide_get(&intentions, &web(), &billing(), "/admin");
    assert_eq!(admin.action, Action::Deny);
    assert_eq!(
        admin.by,
        "intention web -> billing (a.hcl, Sources[0].Permissions[0])"
    );
    let public = decide_get(&intentions, &web(), &billing(), "/public");
    assert_eq!(public.action, Action::Allow);
}

#[test]
fn a_higher_destination_precedence_beats_a_more_specific_source() {
    // `*` → billing (7) against web → `*` (3): the table, not source specificity, decides.
    let intentions = Intentions::new(
        vec![
            entry(
                "any.hcl",
                Some("*"),
                "*",
                vec![source(Some("team"), "web", l4(Action::Allow))],
            ),
            entry(
                "billing.hcl",
                Some("pay"),
                "billing",
                vec![source(Some("*"), "*", l4(Action::Deny))],
            ),
        ],
        Action::Deny,
    );
    let decision = decide_get(&intentions, &web(), &billing(), "/");
    assert_eq!(decision.action, Action::Deny);
    assert_eq!(
        decision.by,
        "intention * -> billing (billing.hcl, Sources[0])"
    );
}

#[test]
fn no_matching_intention_leaves_the_default_policy() {
    let other = entry(
        "x.hcl",
        Some("pay"),
        "billing",
        vec![source(Some("team"), "api", l4(Action::Deny))],
    );
    for policy in [Action::Allow, Action::Deny] {
        let intentions = Intentions::new(vec![other.clone()], policy);
        assert_eq!(intentions.default_policy(), policy);
        let decision = decide_get(&intentions, &web(), &billing(), "/");
        assert_eq!(decision.action, policy);
        assert_eq!(decision.by, format!("default policy {policy}"));
    }
    let empty = Intentions::new(Vec::new(), Action::Deny);
    assert_eq!(
        decide_get(&empty, &web(), &billing(), "/").by,
        "default policy deny"
    );
}
