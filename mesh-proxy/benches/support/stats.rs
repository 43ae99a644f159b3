//! Quantiles and durations as the benches' tables print them (shared by `proxy` and `gateway`).

use std::time::Duration;

/// The `q` quantile (nearest rank) of `values`, which it sorts.
pub fn quantile(values: &mut [Duration], q: f64) -> Duration {
    values.sort_unstable();
    let index = ((values.len() as f64 - 1.0) * q).round() as usize;
    values[index]
}

/// `123 µs` below 10 ms, `12.3 ms` above.
pub fn fmt(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{} µs", d.as_micros())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}
