//! Consul intentions: which source services may reach which destination, as `service-intentions`
//! config entries say (Consul's semantics: the precedence table 9..1 with deny winning ties, only
//! the highest-precedence intention matching the source applies, L7 permissions first match then
//! the default policy). Pure rules over a verified source identity and a request head: no I/O.
//!
//! The types here are what the config-entry decoder (`consul::entries`) produces; the evaluator
//! is in `precedence` (which intention applies), `l7` (permissions), `path` (request-path
//! normalization) and `re2` (RE2 regex syntax).

use regex::Regex;

mod l7;
mod path;
mod precedence;
mod re2;
mod underscores;

// The gateway's authorize stage (in progress) is their user.
pub(crate) use path::{normalize_path, EscapedSlashes, PathNormalization};
pub(crate) use precedence::{Intentions, RequestHead};
pub(crate) use underscores::HeadersWithUnderscores;

/// `Action`: what an intention (or a permission, or the default policy) decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `allow`.
    Allow,
    /// `deny`.
    Deny,
}

/// One `service-intentions` entry: every source's rule for one destination.
#[derive(Debug, Clone)]
pub struct ServiceIntentions {
    /// `Name`: the destination service, or `*`.
    pub name: String,
    /// `Namespace` (`None`: the default namespace), or `*`.
    pub namespace: Option<String>,
    /// `Partition` (`None`: the default partition).
    pub partition: Option<String>,
    /// `Sources`, in file order.
    pub sources: Vec<Source>,
    /// Where the entry was read, for messages: `entries/billing.hcl`.
    pub file: String,
}

/// One element of `Sources`.
#[derive(Debug, Clone)]
pub struct Source {
    /// `Name`: a service or `*`.
    pub name: String,
    /// `Namespace`: exact or `*` (`None`: the destination's).
    pub namespace: Option<String>,
    /// `Partition`: exact only (`None`: the destination's).
    pub partition: Option<String>,
    /// `Action` (L4) or `Permissions` (L7).
    pub rule: SourceRule,
    /// The element's index in `Sources`, for messages (`Sources[1]`).
    pub index: usize,
}

/// A source's rule: exactly one of `Action` and `Permissions`.
#[derive(Debug, Clone)]
pub enum SourceRule {
    /// `Action`: for every request.
    Action(Action),
    /// `Permissions`: the first whose `HTTP` criteria all match decides; none → default policy.
    Permissions(Vec<Permission>),
}

/// One element of `Permissions`.
#[derive(Debug, Clone)]
pub struct Permission {
    /// `Action`.
    pub action: Action,
    /// `HTTP`: every criterion given must match.
    pub http: HttpMatch,
}

/// `Permissions[].HTTP`.
#[derive(Debug, Clone, Default)]
pub struct HttpMatch {
    /// `PathExact`, `PathPrefix` or `PathRegex` (at most one).
    pub path: Option<PathMatch>,
    /// `Methods` (uppercase; empty: any method).
    pub methods: Vec<String>,
    /// `Header`: every element must match.
    pub headers: Vec<HeaderMatch>,
}

/// How a permission matches the (normalized) request path, without its query string.
#[derive(Debug, Clone)]
pub enum PathMatch {
    /// `PathExact`.
    Exact(String),
    /// `PathPrefix`.
    Prefix(String),
    /// `PathRegex`: the whole path must match.
    Regex(FullRegex),
}

/// One element of `Permissions[].HTTP.Header`.
#[derive(Debug, Clone)]
pub struct HeaderMatch {
    /// `Name` (lowercase).
    pub name: String,
    /// `Present`, `Exact`, `Prefix`, `Suffix`, `Contains` or `Regex`.
    pub test: HeaderTest,
    /// `IgnoreCase`: compare `Exact`, `Prefix`, `Suffix`, `Contains` case-insensitively.
    pub ignore_case: bool,
    /// `Invert`: the criterion matches when the test does not.
    pub invert: bool,
}

/// What a header criterion tests.
#[derive(Debug, Clone)]
pub enum HeaderTest {
    /// `Present = true`.
    Present,
    /// `Exact`.
    Exact(String),
    /// `Prefix`.
    Prefix(String),
    /// `Suffix`.
    Suffix(String),
    /// `Contains`.
    Contains(String),
    /// `Regex`: the whole value must match.
    Regex(FullRegex),
}

/// A regular expression in RE2 syntax (as Envoy runs Consul's `PathRegex` and `Regex`) that must
/// match the whole input, with ASCII classes (`\d`, `\w`, `\s` as RE2 has them).
#[derive(Clone)]
pub struct FullRegex {
    source: String,
    regex: Regex,
}

impl FullRegex {
    /// Compile `pattern` (RE2 syntax) anchored at both ends, with RE2's ASCII `\d`, `\w`, `\s`
    /// and `\b` (see the `re2` module).
    pub fn new(pattern: &str) -> Result<FullRegex, regex::Error> {
        let regex = Regex::new(&format!("^(?:{})$", re2::translate(pattern)))?;
        Ok(FullRegex {
            source: pattern.to_owned(),
            regex,
        })
    }

    /// Whether the whole of `input` matches.
    pub fn is_match(&self, input: &str) -> bool {
        self.regex.is_match(input)
    }
}

impl std::fmt::Debug for FullRegex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("FullRegex").field(&self.source).finish()
    }
}

#[cfg(test)]
mod tests;
