//! What consul-lambda-registrator reads from a function's tags, read the same way: the keys are
//! case-sensitive and under one prefix, and `enabled` and `payload-passthrough` are on only for
//! the exact string `true`.

use std::collections::HashMap;

use crate::config::InvocationMode;

/// The prefix of every registrator tag.
pub(crate) const PREFIX: &str = "serverless.consul.hashicorp.com/v1alpha1/lambda/";

/// One service a tagged function gives: the function itself, or one of its aliases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredService {
    /// The function's ARN, without a qualifier.
    pub arn: String,
    /// The alias this service invokes, if it is an alias's service.
    pub qualifier: Option<String>,
    /// `invocation-mode`.
    pub invocation_mode: InvocationMode,
    /// `payload-passthrough`.
    pub payload_passthrough: bool,
}

/// Why a function tagged `enabled` gives no services.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Skipped {
    /// `invocation-mode` is neither `SYNCHRONOUS` nor `ASYNCHRONOUS`.
    #[error("function `{function}`: tag `{PREFIX}invocation-mode` is `{value}`, neither SYNCHRONOUS nor ASYNCHRONOUS: skipped")]
    InvocationMode {
        /// The function.
        function: String,
        /// The tag's value.
        value: String,
    },
    /// An alias that cannot be a qualifier (or a service name).
    #[error("function `{function}`: alias `{alias}` in tag `{PREFIX}aliases` is not a valid alias name: skipped")]
    Alias {
        /// The function.
        function: String,
        /// The alias.
        alias: String,
    },
}

/// The services of function `name` (ARN `arn`) by its `tags`: none unless it is enabled (and,
/// when `datacenter` is ours, tagged with it), else the function's own service and one per alias
/// (`<name>-<alias>`).
pub(crate) fn services(
    name: &str,
    arn: &str,
    tags: &HashMap<String, String>,
    datacenter: Option<&str>,
) -> Result<Vec<(String, DiscoveredService)>, Skipped> {
    let tag = |key: &str| tags.get(&format!("{PREFIX}{key}")).map(String::as_str);
    if tag("enabled") != Some("true") {
        return Ok(Vec::new());
    }
    if let Some(ours) = datacenter {
        if tag("datacenter") != Some(ours) {
            return Ok(Vec::new());
        }
    }
    let invocation_mode = match tag("invocation-mode") {
        None | Some("SYNCHRONOUS") => InvocationMode::Synchronous,
        Some("ASYNCHRONOUS") => InvocationMode::Asynchronous,
        Some(other) => {
            return Err(Skipped::InvocationMode {
                function: name.to_owned(),
                value: other.to_owned(),
            })
        }
    };
    let base = DiscoveredService {
        arn: arn.to_owned(),
        qualifier: None,
        invocation_mode,
        payload_passthrough: tag("payload-passthrough") == Some("true"),
    };
    let mut out = vec![(name.to_owned(), base.clone())];
    for alias in tag("aliases").unwrap_or("").split('+') {
        if alias.is_empty() {
            continue;
        }
        if !valid_alias(alias) {
            return Err(Skipped::Alias {
                function: name.to_owned(),
                alias: alias.to_owned(),
            });
        }
        out.push((
            format!("{name}-{alias}"),
            DiscoveredService {
                qualifier: Some(alias.to_owned()),
                ..base.clone()
            },
        ));
    }
    Ok(out)
}

/// Lambda's alias names (`(?!^[0-9]+$)([a-zA-Z0-9-_]+)`, at most 128): also a valid service name.
fn valid_alias(alias: &str) -> bool {
    alias.len() <= 128
        && !alias.chars().all(|c| c.is_ascii_digit())
        && alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:billing";

    fn tags(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("{PREFIX}{k}"), (*v).to_owned()))
            .collect()
    }

    fn names(found: &[(String, DiscoveredService)]) -> Vec<&str> {
        found.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn enabled_only_for_the_exact_string_true() {
        for value in ["True", "TRUE", "1", "yes", ""] {
            let found = services("billing", ARN, &tags(&[("enabled", value)]), None).unwrap();
            assert!(found.is_empty(), "{value:?}");
        }
        let found = services("billing", ARN, &tags(&[("enabled", "true")]), None).unwrap();
        assert_eq!(names(&found), ["billing"]);
        assert_eq!(found[0].1.invocation_mode, InvocationMode::Synchronous);
        assert!(!found[0].1.payload_passthrough);
        assert_eq!(found[0].1.qualifier, None);
    }

    #[test]
    fn keys_are_case_sensitive() {
        let mut upper = HashMap::new();
        upper.insert(format!("{PREFIX}Enabled"), "true".to_owned());
        assert!(services("billing", ARN, &upper, None).unwrap().is_empty());
    }

    #[test]
    fn aliases_give_a_service_each() {
        let found = services(
            "billing",
            ARN,
            &tags(&[("enabled", "true"), ("aliases", "prod+dev")]),
            None,
        )
        .unwrap();
        assert_eq!(names(&found), ["billing", "billing-prod", "billing-dev"]);
        assert_eq!(found[1].1.qualifier.as_deref(), Some("prod"));
        assert_eq!(found[1].1.arn, ARN);
    }

    #[test]
    fn bad_alias_skips_the_function() {
        let err = services(
            "billing",
            ARN,
            &tags(&[("enabled", "true"), ("aliases", "prod+a/b")]),
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("`a/b`"), "{err}");
    }

    #[test]
    fn invocation_mode_and_passthrough() {
        let found = services(
            "billing",
            ARN,
            &tags(&[
                ("enabled", "true"),
                ("invocation-mode", "ASYNCHRONOUS"),
                ("payload-passthrough", "true"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(found[0].1.invocation_mode, InvocationMode::Asynchronous);
        assert!(found[0].1.payload_passthrough);
        let err = services(
            "billing",
            ARN,
            &tags(&[("enabled", "true"), ("invocation-mode", "asynchronous")]),
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("neither SYNCHRONOUS"), "{err}");
    }

    #[test]
    fn datacenter_must_match_when_ours_is_set() {
        let untagged = tags(&[("enabled", "true")]);
        assert!(services("billing", ARN, &untagged, Some("dc1"))
            .unwrap()
            .is_empty());
        let other = tags(&[("enabled", "true"), ("datacenter", "dc2")]);
        assert!(services("billing", ARN, &other, Some("dc1"))
            .unwrap()
            .is_empty());
        let ours = tags(&[("enabled", "true"), ("datacenter", "dc1")]);
        assert_eq!(
            services("billing", ARN, &ours, Some("dc1")).unwrap().len(),
            1
        );
        assert_eq!(services("billing", ARN, &other, None).unwrap().len(), 1);
    }
}
