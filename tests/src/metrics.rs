//! Prometheus text, read exactly: a series' value, not a substring that also matches other values.

/// The value of `series` (the metric name with its labels, as printed, e.g.
/// `mesh_proxy_retries_total{upstream="one"}`) in the Prometheus text `text`, if present.
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let rest = line.strip_prefix(series)?;
            let value = rest.strip_prefix(' ')?;
            Some(
                value
                    .split_whitespace()
                    .next()?
                    .parse()
                    .unwrap_or_else(|e| panic!("{series}: {value:?} is not a number: {e}")),
            )
        })
}
