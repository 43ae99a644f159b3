//! L7 intentions through `decide`: first matching permission, the default policy when none
//! matches, the `by` strings, and normalized paths against a prefix deny.

#![allow(clippy::unwrap_used)]

use super::*;
#[test]
fn an_l7_intention_decides_by_its_first_matching_permission() {
    let permissions = vec![prefix(Action::Deny, "/admin"), prefix(Action::Allow, "/")];
    let intentions = Intentions::new(
        vec![entry(
            "entries/billing.hcl",
            Some("pay"),
            "billing",
            vec![
                source(Some("team"), "api", l4(Action::Deny)),
                source(Some("team"), "web", SourceRule::Permissions(permissions)),
            ],
        )],
        Action::Deny,
    );
    let admin = decide_get(&intentions, &web(), &billing(), "/admin/users");
    assert_eq!(
        admin,
        Decision {
            action: Action::Deny,
            by: "intention web -> billing (entries/billing.hcl, Sources[1].Permissions[0])"
                .to_owned(),
        }
    );
    let public = decide_get(&intentions, &web(), &billing(), "/public");
    assert_eq!(
        public,
        Decision {
            action: Action::Allow,
            by: "intention web -> billing (entries/billing.hcl, Sources[1].Permissions[1])"
                .to_owned(),
        }
    );
}

#[test]
fn no_matching_permission_means_the_default_policy_not_a_lower_intention() {
    let l7 = entry(
        "entries/billing.hcl",
        Some("pay"),
        "billing",
        vec![
            source(Some("team"), "api", l4(Action::Allow)),
            source(
                Some("team"),
                "web",
                SourceRule::Permissions(vec![prefix(Action::Allow, "/public")]),
            ),
        ],
    );
    for (policy, lower) in [(Action::Deny, Action::Allow), (Action::Allow, Action::Deny)] {
        let intentions = Intentions::new(vec![l7.clone(), table_row(7, lower)], policy);
        let decision = decide_get(&intentions, &web(), &billing(), "/admin");
        assert_eq!(
            decision,
            Decision {
                action: policy,
                by: format!(
                    "intention web -> billing (entries/billing.hcl, Sources[1]): no permission matched, default policy {policy}"
                ),
            }
        );
    }
}

#[test]
fn an_l4_intention_names_its_source() {
    let intentions = Intentions::new(
        vec![entry(
            "entries/billing.hcl",
            Some("pay"),
            "billing",
            vec![
                source(Some("team"), "api", l4(Action::Allow)),
                source(Some("team"), "web", l4(Action::Deny)),
            ],
        )],
        Action::Allow,
    );
    let decision = decide_get(&intentions, &web(), &billing(), "/");
    assert_eq!(decision.action, Action::Deny);
    assert_eq!(
        decision.by,
        "intention web -> billing (entries/billing.hcl, Sources[1])"
    );
}

#[test]
fn normalized_paths_cannot_bypass_a_prefix_deny() {
    let intentions = Intentions::new(
        vec![entry(
            "entries/billing.hcl",
            Some("pay"),
            "billing",
            vec![source(
                Some("team"),
                "web",
                SourceRule::Permissions(vec![
                    prefix(Action::Deny, "/admin"),
                    prefix(Action::Allow, "/"),
                ]),
            )],
        )],
        Action::Deny,
    );
    let options = PathNormalization::default();
    for raw in [
        "/public/../admin",
        "//admin",
        "/%61dmin",
        "/admin/.",
        "/./admin",
        "/public/%2e%2e/admin",
        "/public/%2E%2E/admin/x",
    ] {
        let path = normalize_path(raw, &options).unwrap();
        let decision = decide_get(&intentions, &web(), &billing(), &path);
        assert_eq!(decision.action, Action::Deny, "{raw} as {path}");
    }
    for raw in [
        "/public%2F..%2Fadmin",
        "/public\\..\\admin",
        "/public/..%5Cadmin",
    ] {
        assert!(normalize_path(raw, &options).is_err(), "{raw}");
    }
    let public = normalize_path("/public/./x", &options).unwrap();
    assert_eq!(
        decide_get(&intentions, &web(), &billing(), &public).action,
        Action::Allow
    );
}
