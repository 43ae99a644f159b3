//! Which identities an intention's destination and sources cover: namespaces and partitions
//! given or inherited, wildcards, the datacenter ignored.

#![allow(clippy::unwrap_used)]

use super::*;
#[test]
fn the_destination_must_match_the_entry() {
    let intentions = Intentions::new(
        vec![entry(
            "b.hcl",
            Some("pay"),
            "billing",
            vec![source(Some("*"), "*", l4(Action::Allow))],
        )],
        Action::Deny,
    );
    let decide = |destination| decide_get(&intentions, &web(), &destination, "/").action;
    assert_eq!(decide(billing()), Action::Allow);
    assert_eq!(decide(service("pay", "ledger")), Action::Deny);
    assert_eq!(decide(service("other", "billing")), Action::Deny);
    assert_eq!(decide(billing().with_partition("ap1")), Action::Deny);
}

#[test]
fn a_source_without_namespace_is_in_the_entrys_namespace() {
    let intentions = Intentions::new(
        vec![entry(
            "b.hcl",
            Some("pay"),
            "billing",
            vec![source(None, "web", l4(Action::Allow))],
        )],
        Action::Deny,
    );
    assert_eq!(
        decide_get(&intentions, &service("pay", "web"), &billing(), "/").action,
        Action::Allow
    );
    assert_eq!(
        decide_get(&intentions, &web(), &billing(), "/").action,
        Action::Deny
    );
}

#[test]
fn an_entry_without_namespace_is_in_the_default_namespace_and_so_are_its_sources() {
    let intentions = Intentions::new(
        vec![entry(
            "b.hcl",
            None,
            "billing",
            vec![source(None, "web", l4(Action::Allow))],
        )],
        Action::Deny,
    );
    let decide = |source, destination| decide_get(&intentions, &source, &destination, "/").action;
    let default_billing = service("default", "billing");
    assert_eq!(
        decide(service("default", "web"), default_billing.clone()),
        Action::Allow
    );
    assert_eq!(
        decide(service("team", "web"), default_billing),
        Action::Deny
    );
    assert_eq!(decide(service("default", "web"), billing()), Action::Deny);
}

#[test]
fn under_a_wildcard_namespace_entry_a_source_without_namespace_is_in_default() {
    let intentions = Intentions::new(
        vec![entry(
            "any.hcl",
            Some("*"),
            "*",
            vec![source(None, "web", l4(Action::Allow))],
        )],
        Action::Deny,
    );
    assert_eq!(
        decide_get(&intentions, &service("default", "web"), &billing(), "/").action,
        Action::Allow
    );
    assert_eq!(
        decide_get(&intentions, &web(), &billing(), "/").action,
        Action::Deny
    );
}

#[test]
fn a_wildcard_namespace_source_matches_every_namespace_of_its_partition() {
    let intentions = Intentions::new(
        vec![entry(
            "b.hcl",
            Some("pay"),
            "billing",
            vec![source(Some("*"), "*", l4(Action::Allow))],
        )],
        Action::Deny,
    );
    for namespace in ["default", "team", "pay"] {
        let caller = service(namespace, "anything");
        assert_eq!(
            decide_get(&intentions, &caller, &billing(), "/").action,
            Action::Allow
        );
    }
    let elsewhere = web().with_partition("ap2");
    assert_eq!(
        decide_get(&intentions, &elsewhere, &billing(), "/").action,
        Action::Deny
    );
}

#[test]
fn partitions_are_inherited_from_the_entry_or_given_exactly() {
    let mut inherited = entry(
        "b.hcl",
        Some("pay"),
        "billing",
        vec![source(Some("team"), "web", l4(Action::Allow))],
    );
    inherited.partition = Some("ap1".to_owned());
    let mut explicit = inherited.clone();
    explicit.sources[0].partition = Some("ap2".to_owned());
    let destination = billing().with_partition("ap1");

    let intentions = Intentions::new(vec![inherited], Action::Deny);
    let decide =
        |intentions: &Intentions, caller| decide_get(intentions, &caller, &destination, "/").action;
    assert_eq!(
        decide(&intentions, web().with_partition("ap1")),
        Action::Allow
    );
    assert_eq!(decide(&intentions, web()), Action::Deny);
    assert_eq!(
        decide(&intentions, billing().with_partition("ap1")),
        Action::Deny,
        "wrong service"
    );

    let intentions = Intentions::new(vec![explicit], Action::Deny);
    assert_eq!(
        decide(&intentions, web().with_partition("ap2")),
        Action::Allow
    );
    assert_eq!(
        decide(&intentions, web().with_partition("ap1")),
        Action::Deny
    );
}

#[test]
fn the_datacenter_is_not_matched() {
    let intentions = Intentions::new(vec![table_row(9, Action::Allow)], Action::Deny);
    for dc in ["dc1", "dc2", "eu-west"] {
        let caller = ServiceIdentity::new(TD, "team", dc, "web");
        let destination = ServiceIdentity::new(TD, "pay", "other-dc", "billing");
        assert_eq!(
            decide_get(&intentions, &caller, &destination, "/").action,
            Action::Allow
        );
    }
}
