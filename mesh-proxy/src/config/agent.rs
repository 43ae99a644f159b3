//! `[consul] address`, `token`, `token_file`, `namespace`, `partition`, `datacenter`: where the
//! Consul agent's HTTP API is and how to ask it, defaulting to the variables Consul's own CLI
//! reads (`CONSUL_HTTP_ADDR`, `CONSUL_HTTP_TOKEN`, `CONSUL_HTTP_TOKEN_FILE`).

use std::fmt;
use std::path::{Path, PathBuf};

use http::uri::{Authority, Scheme};

use super::file::ConsulFile;
use super::validate::Blame;
use super::{Config, ConfigError, LogFormat, Overrides};
use crate::consul;

/// The Consul agent mesh-proxy reads config entries from, when `[consul] address` or
/// `CONSUL_HTTP_ADDR` names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsulAgent {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// `host:port`.
    pub authority: Authority,
    /// The ACL token (never shown: its `Debug` is redacted).
    pub(crate) token: Option<AclToken>,
    /// `namespace`: the `ns` query parameter.
    pub namespace: Option<String>,
    /// `partition`: the `partition` query parameter.
    pub partition: Option<String>,
    /// `datacenter`: the `dc` query parameter.
    pub datacenter: Option<String>,
}

/// An ACL token: sent as `X-Consul-Token`, never logged, never in an error or a metric.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AclToken(String);

impl AclToken {
    /// A token (tests build settings by hand).
    #[cfg(test)]
    pub(crate) fn new(token: String) -> AclToken {
        AclToken(token)
    }

    /// The token, for the request header only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AclToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AclToken(<redacted>)")
    }
}

impl ConsulAgent {
    /// Whether requests carry a token.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The agent's base URL, `scheme://host:port`.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }
}

/// What the start reads from the agent when the files alone are not a config (a function named
/// only by an agent `service-defaults` entry, a gateway linking services only the agent's
/// `terminating-gateway` entry names): the agent, and the paths the files point at.
#[derive(Debug, Clone)]
pub struct AgentPrelude {
    /// The agent.
    pub agent: ConsulAgent,
    /// The API paths to read.
    pub(crate) paths: Vec<String>,
    /// The log format the config asks for (flag > env > file).
    pub log_format: LogFormat,
}

impl Config {
    /// When `path` names a Consul agent, the agent and the entries to read from it before
    /// [`Config::load_with_agent`] can build the config; `None` without an agent. Only the keys
    /// this needs are checked.
    pub fn agent_prelude(
        path: &Path,
        flags: &Overrides,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<AgentPrelude>, ConfigError> {
        let (text, origin, base, file) = super::read(path, flags)?;
        let blame = Blame::new(&text, &origin);
        let Some(agent) = resolve(&file.consul, &blame, &base, &lookup, &mut Vec::new())? else {
            return Ok(None);
        };
        let overrides = flags.clone().or(Overrides::from_lookup(&lookup)?);
        let log_format = overrides
            .log_format
            .or_else(|| file.log_format.as_deref().and_then(LogFormat::parse))
            .unwrap_or_default();
        let mut names: Vec<String> = file
            .upstreams
            .iter()
            .map(|u| u.destination_name.trim().to_owned())
            .collect();
        if let Ok((definitions, _)) = consul::load_services(&file.consul.service_files, &base) {
            names.extend(
                definitions
                    .iter()
                    .flat_map(|d| d.upstreams.iter().map(|u| u.destination_name.clone())),
            );
        }
        if let Some(gateway) = &file.gateway {
            names.extend(gateway.services.iter().map(|s| s.name.trim().to_owned()));
        }
        let gateway = file.gateway.as_ref().map(|g| g.name.trim());
        let mut paths = consul::agent::entries::paths(gateway, names.iter().map(String::as_str));
        if let Some(gateway) = &file.gateway {
            if gateway.ca_file.is_none() {
                paths.push(consul::agent::certs::ROOTS_PATH.to_owned());
            }
            paths.extend(
                gateway
                    .services
                    .iter()
                    .filter(|s| s.cert_file.is_none() && s.key_file.is_none())
                    .map(|s| consul::agent::certs::leaf_path(s.name.trim())),
            );
        }
        Ok(Some(AgentPrelude {
            agent,
            paths,
            log_format,
        }))
    }
}

/// Where the token came from, so an error names it.
enum TokenOrigin {
    Key(&'static str),
    Env(&'static str),
}

/// The `[consul]` agent keys, each defaulting to its variable (read through `lookup`); the token
/// file read (relative to `base`) is pushed onto `files`, so rotating the token reloads.
pub(super) fn resolve(
    consul: &ConsulFile,
    blame: &Blame<'_>,
    base: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
    files: &mut Vec<PathBuf>,
) -> Result<Option<ConsulAgent>, ConfigError> {
    let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let key_error = |key: &str, message: String| blame.table("consul", key, message);
    let env_error =
        |variable: &'static str, message: String| ConfigError::Env { variable, message };
    let address = match (&consul.address, get("CONSUL_HTTP_ADDR")) {
        (Some(address), _) => Some(parse_address(address).map_err(|m| key_error("address", m))?),
        (None, Some(address)) => {
            Some(parse_address(&address).map_err(|m| env_error("CONSUL_HTTP_ADDR", m))?)
        }
        (None, None) => None,
    };
    let names = [
        ("namespace", &consul.namespace),
        ("partition", &consul.partition),
        ("datacenter", &consul.datacenter),
    ];
    let mut checked = Vec::with_capacity(names.len());
    for (key, value) in names {
        let value = match value.as_deref().map(str::trim) {
            Some(v) => Some(check_name(v).map_err(|m| key_error(key, m))?),
            None => None,
        };
        checked.push(value);
    }
    let Some((scheme, authority)) = address else {
        if let Some(key) = agent_key_without_address(consul) {
            return Err(key_error(
                key,
                "needs an agent: set [consul] address or CONSUL_HTTP_ADDR".to_owned(),
            ));
        }
        return Ok(None);
    };
    let (file, origin) = match (&consul.token, &consul.token_file) {
        (Some(_), Some(_)) => {
            return Err(key_error(
                "token_file",
                "conflicts with token: set one".to_owned(),
            ))
        }
        (Some(token), None) => {
            let token = check_token(token).map_err(|m| key_error("token", m))?;
            (None, Some(token))
        }
        (None, Some(path)) => (Some((path.clone(), TokenOrigin::Key("token_file"))), None),
        // Consul's api package: a token file, when given, wins over the token variable.
        (None, None) => match (
            get("CONSUL_HTTP_TOKEN_FILE"),
            get("CONSUL_HTTP_TOKEN").map(|t| t.trim().to_owned()),
        ) {
            (Some(path), _) => (
                Some((path, TokenOrigin::Env("CONSUL_HTTP_TOKEN_FILE"))),
                None,
            ),
            (None, Some(token)) => {
                let token = check_token(&token).map_err(|m| env_error("CONSUL_HTTP_TOKEN", m))?;
                (None, Some(token))
            }
            (None, None) => (None, None),
        },
    };
    let token = match (file, origin) {
        (Some((path, origin)), _) => {
            let path = base.join(path.trim());
            let fail = |message: String| match origin {
                TokenOrigin::Key(key) => key_error(key, message),
                TokenOrigin::Env(variable) => env_error(variable, message),
            };
            files.push(path.clone());
            let text = std::fs::read_to_string(&path)
                .map_err(|e| fail(format!("`{}`: cannot read: {e}", path.display())))?;
            Some(check_token(text.trim()).map_err(|m| fail(format!("`{}`: {m}", path.display())))?)
        }
        (None, token) => token,
    };
    let mut checked = checked.into_iter();
    Ok(Some(ConsulAgent {
        scheme,
        authority,
        token,
        namespace: checked.next().flatten(),
        partition: checked.next().flatten(),
        datacenter: checked.next().flatten(),
    }))
}

/// The first agent-only key set without an address (they would do nothing).
fn agent_key_without_address(consul: &ConsulFile) -> Option<&'static str> {
    [
        ("token", consul.token.is_some()),
        ("token_file", consul.token_file.is_some()),
        ("namespace", consul.namespace.is_some()),
        ("partition", consul.partition.is_some()),
        ("datacenter", consul.datacenter.is_some()),
    ]
    .into_iter()
    .find(|(_, set)| *set)
    .map(|(key, _)| key)
}

/// `http://host:port`, `https://host:port`, or a bare `host:port` (http), as `CONSUL_HTTP_ADDR`.
pub(super) fn parse_address(value: &str) -> Result<(Scheme, Authority), String> {
    let value = value.trim();
    let (scheme, rest) = match value.split_once("://") {
        Some(("http", rest)) => (Scheme::HTTP, rest),
        Some(("https", rest)) => (Scheme::HTTPS, rest),
        Some(("unix", _)) => return Err("a unix socket is not supported: use host:port".into()),
        Some((other, _)) => return Err(format!("scheme `{other}` is not http or https")),
        None => (Scheme::HTTP, value),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return Err("must be host:port, optionally after http:// or https://".into());
    }
    let authority: Authority = rest
        .parse()
        .map_err(|_| "must be host:port, optionally after http:// or https://".to_owned())?;
    if authority.port_u16().is_none() {
        return Err("needs a port (Consul's HTTP API is usually on 8500, HTTPS on 8501)".into());
    }
    Ok((scheme, authority))
}

/// A namespace, partition or datacenter name: letters, digits, `-`, `_`, `.`.
fn check_name(value: &str) -> Result<String, String> {
    if value.is_empty()
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("must be non-empty letters, digits, `-`, `_` or `.`".into());
    }
    Ok(value.to_owned())
}

/// A token that fits in a header; the message never repeats it.
fn check_token(value: &str) -> Result<AclToken, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("holds no token".into());
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the token has characters a header cannot carry".into());
    }
    Ok(AclToken(value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_host_port_means_http() {
        let (scheme, authority) = parse_address("127.0.0.1:8500").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scheme, Scheme::HTTP);
        assert_eq!(authority.as_str(), "127.0.0.1:8500");
    }

    #[test]
    fn https_is_kept_and_a_trailing_slash_is_dropped() {
        let (scheme, authority) =
            parse_address("https://consul.local:8501/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scheme, Scheme::HTTPS);
        assert_eq!(authority.as_str(), "consul.local:8501");
    }

    #[test]
    fn addresses_without_a_port_or_with_a_path_are_refused() {
        for bad in [
            "localhost",
            "http://h:1/v1",
            "ftp://h:1",
            "unix:///tmp/c.sock",
            "",
        ] {
            assert!(parse_address(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn a_token_is_never_shown() {
        let token = check_token(" s3cr3t ").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(token.expose(), "s3cr3t");
        assert!(!format!("{token:?}").contains("s3cr3t"));
        let message = check_token("a b").err().unwrap_or_default();
        assert!(!message.contains("a b"));
    }
}
