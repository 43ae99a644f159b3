//! Parsers for single configuration values; each returns the reason a value is rejected.

use std::net::{IpAddr, Ipv4Addr};
use std::ops::RangeInclusive;
use std::time::Duration;

use http::header::HeaderName;

use super::{InvokeMode, LogFormat, ReadinessProtocol};

/// A set of HTTP status codes written as codes and ranges, e.g. `200-399,404`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusSet {
    ranges: Vec<RangeInclusive<u16>>,
}

impl StatusSet {
    /// Parses `200,201,300-399` style lists.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let range = match part.split_once('-') {
                Some((start, end)) => status(start.trim())?..=status(end.trim())?,
                None => status(part).map(|code| code..=code)?,
            };
            if range.is_empty() {
                return Err(format!("range {part:?} is empty"));
            }
            ranges.push(range);
        }
        if ranges.is_empty() {
            return Err("no status codes given".to_owned());
        }
        Ok(StatusSet { ranges })
    }

    /// Every status from 100 up to (not including) `text`, LWA's deprecated
    /// `AWS_LWA_READINESS_CHECK_MIN_UNHEALTHY_STATUS`.
    pub(crate) fn below(text: &str) -> Result<Self, String> {
        let min_unhealthy = status(text)?;
        if min_unhealthy <= 100 {
            return Err("must be above 100".to_owned());
        }
        Ok(StatusSet {
            ranges: vec![100..=min_unhealthy - 1],
        })
    }

    /// `100-499`, the default healthy set.
    pub(crate) fn default_healthy() -> Self {
        StatusSet {
            ranges: vec![100..=499],
        }
    }

    /// Whether `code` is in the set.
    pub(crate) fn contains(&self, code: u16) -> bool {
        self.ranges.iter().any(|range| range.contains(&code))
    }
}

fn status(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(code) if (100..=999).contains(&code) => Ok(code),
        _ => Err(format!("{text:?} is not an HTTP status code (100-999)")),
    }
}

pub(super) fn port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err("expected a port number from 1 to 65535".to_owned()),
    }
}

pub(super) fn host(text: &str) -> Result<IpAddr, String> {
    if text.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    text.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| "expected an IP address or localhost".to_owned())
}

pub(super) fn path(text: &str) -> Result<String, String> {
    if !text.starts_with('/') {
        return Err("expected a path starting with '/'".to_owned());
    }
    text.parse::<http::uri::PathAndQuery>()
        .map_err(|_| "not a valid URL path".to_owned())?;
    Ok(text.to_owned())
}

/// A base path: `/stage/` becomes `/stage`; `/` alone means none.
pub(super) fn base_path(text: &str) -> Result<Option<String>, String> {
    let text = path(text)?;
    let trimmed = text.trim_end_matches('/');
    if trimmed.contains('?') {
        return Err("a base path cannot contain '?'".to_owned());
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

pub(super) fn protocol(text: &str) -> Result<ReadinessProtocol, String> {
    match text.to_ascii_lowercase().as_str() {
        "http" => Ok(ReadinessProtocol::Http),
        "tcp" => Ok(ReadinessProtocol::Tcp),
        _ => Err("expected http or tcp".to_owned()),
    }
}

pub(super) fn invoke_mode(text: &str) -> Result<InvokeMode, String> {
    match text.to_ascii_lowercase().as_str() {
        "buffered" => Ok(InvokeMode::Buffered),
        "response_stream" | "response-stream" | "responsestream" => Ok(InvokeMode::ResponseStream),
        _ => Err("expected buffered or response_stream".to_owned()),
    }
}

pub(super) fn log_format(text: &str) -> Result<LogFormat, String> {
    match text.to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err("expected text or json".to_owned()),
    }
}

pub(super) fn boolean(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

pub(super) fn millis(text: &str) -> Result<Duration, String> {
    text.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| "expected a whole number of milliseconds".to_owned())
}

/// Milliseconds from `min` to `max`, both included.
pub(super) fn millis_within(text: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let value = millis(text)?;
    if value < min || value > max {
        return Err(format!(
            "expected {} to {} milliseconds",
            min.as_millis(),
            max.as_millis()
        ));
    }
    Ok(value)
}

pub(super) fn count(text: &str) -> Result<usize, String> {
    text.parse::<usize>()
        .map_err(|_| "expected a whole number".to_owned())
}

pub(super) fn header_name(text: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(text.to_ascii_lowercase().as_bytes())
        .map_err(|_| "not a valid header name".to_owned())
}
