//! Counters and the invoke latency histogram, rendered by hand in Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds (seconds) of the invoke latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Status codes are counted in a flat table indexed by `status - 100`.
const STATUS_SLOTS: usize = 500;

/// A counter family: name, help, and how to read it.
type Counter = (&'static str, &'static str, fn(&UpstreamMetrics) -> u64);

/// Every upstream's metrics, kept across reloads by upstream name.
#[derive(Debug, Default)]
pub struct Metrics {
    upstreams: Mutex<BTreeMap<String, Arc<UpstreamMetrics>>>,
}

/// One upstream's counters.
#[derive(Debug)]
pub struct UpstreamMetrics {
    statuses: Box<[AtomicU64]>,
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    function_errors: AtomicU64,
    throttles: AtomicU64,
    retries: AtomicU64,
    stream_aborts: AtomicU64,
    responses_aborted: AtomicU64,
    in_flight: AtomicI64,
    /// Set once the upstream is a gateway's linked service, or a sidecar upstream whose
    /// intentions are checked: only those have intention denials.
    linked: AtomicBool,
    intention_denials: AtomicU64,
}

/// Counts a request in flight until dropped.
#[derive(Debug)]
pub struct InFlight(Arc<UpstreamMetrics>);

impl Metrics {
    /// The metrics of `upstream`, created on first use.
    pub fn upstream(&self, upstream: &str) -> Arc<UpstreamMetrics> {
        let mut map = self.upstreams.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(upstream.to_owned())
            .or_insert_with(|| Arc::new(UpstreamMetrics::new()))
            .clone()
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let map = self
            .upstreams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut out = String::with_capacity(4096);
        family(
            &mut out,
            "mesh_proxy_requests_total",
            "counter",
            "Requests answered, by upstream and status.",
        );
        for (name, m) in &map {
            for (slot, count) in m.statuses.iter().enumerate() {
                let count = count.load(Relaxed);
                if count > 0 {
                    let status = slot + 100;
                    let _ = writeln!(out, "mesh_proxy_requests_total{{upstream=\"{name}\",status=\"{status}\"}} {count}");
                }
            }
        }
        family(
            &mut out,
            "mesh_proxy_invoke_duration_seconds",
            "histogram",
            "Time spent invoking the function, retries included.",
        );
        for (name, m) in &map {
            let mut cumulative = 0;
            for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&m.buckets) {
                cumulative += bucket.load(Relaxed);
                let _ = writeln!(out, "mesh_proxy_invoke_duration_seconds_bucket{{upstream=\"{name}\",le=\"{bound}\"}} {cumulative}");
            }
            let count = m.latency_count.load(Relaxed);
            let sum = m.latency_sum_micros.load(Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "mesh_proxy_invoke_duration_seconds_bucket{{upstream=\"{name}\",le=\"+Inf\"}} {count}");
            let _ = writeln!(
                out,
                "mesh_proxy_invoke_duration_seconds_sum{{upstream=\"{name}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "mesh_proxy_invoke_duration_seconds_count{{upstream=\"{name}\"}} {count}"
            );
        }
        let counters: [Counter; 5] = [
            (
                "mesh_proxy_function_errors_total",
                "Invocations the function failed.",
                |m| m.function_errors.load(Relaxed),
            ),
            (
                "mesh_proxy_throttles_total",
                "Throttling answers from Lambda, retried or not.",
                |m| m.throttles.load(Relaxed),
            ),
            (
                "mesh_proxy_retries_total",
                "Extra invoke attempts after errors raised before the function ran.",
                |m| m.retries.load(Relaxed),
            ),
            (
                "mesh_proxy_stream_aborts_total",
                "Streamed responses aborted by a mid-stream error.",
                |m| m.stream_aborts.load(Relaxed),
            ),
            (
                "mesh_proxy_responses_aborted_total",
                "Responses not written to the end: a stream error, the client gone or not reading (write_timeout), the request given up.",
                |m| m.responses_aborted.load(Relaxed),
            ),
        ];
        for (metric, help, get) in counters {
            family(&mut out, metric, "counter", help);
            for (name, m) in &map {
                let _ = writeln!(out, "{metric}{{upstream=\"{name}\"}} {}", get(m));
            }
        }
        family(
            &mut out,
            "mesh_proxy_in_flight",
            "gauge",
            "Requests in flight.",
        );
        for (name, m) in &map {
            let _ = writeln!(
                out,
                "mesh_proxy_in_flight{{upstream=\"{name}\"}} {}",
                m.in_flight.load(Relaxed)
            );
        }
        family(
            &mut out,
            "mesh_proxy_intention_denials_total",
            "counter",
            "Requests refused by intentions or the default policy, by linked service or checked sidecar upstream.",
        );
        for (name, m) in map.iter().filter(|(_, m)| m.linked.load(Relaxed)) {
            let _ = writeln!(
                out,
                "mesh_proxy_intention_denials_total{{destination=\"{name}\"}} {}",
                m.intention_denials.load(Relaxed)
            );
        }
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

impl UpstreamMetrics {
    fn new() -> Self {
        UpstreamMetrics {
            statuses: (0..STATUS_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_count: AtomicU64::new(0),
            latency_sum_micros: AtomicU64::new(0),
            function_errors: AtomicU64::new(0),
            throttles: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            stream_aborts: AtomicU64::new(0),
            responses_aborted: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
            linked: AtomicBool::new(false),
            intention_denials: AtomicU64::new(0),
        }
    }

    /// A request answered with `status`.
    pub fn response(&self, status: u16) {
        if let Some(slot) = (status as usize)
            .checked_sub(100)
            .and_then(|i| self.statuses.get(i))
        {
            slot.fetch_add(1, Relaxed);
        }
    }

    /// The number of requests answered with `status`.
    pub fn responses(&self, status: u16) -> u64 {
        (status as usize)
            .checked_sub(100)
            .and_then(|i| self.statuses.get(i))
            .map_or(0, |slot| slot.load(Relaxed))
    }

    /// One invoke (with its retries) took `elapsed`.
    pub fn invoke_latency(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|bound| secs <= *bound) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.latency_count.fetch_add(1, Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Relaxed);
    }

    /// The function failed.
    pub fn function_error(&self) {
        self.function_errors.fetch_add(1, Relaxed);
    }

    /// Lambda throttled an attempt.
    pub fn throttle(&self) {
        self.throttles.fetch_add(1, Relaxed);
    }

    /// An attempt is being retried.
    pub fn retry(&self) {
        self.retries.fetch_add(1, Relaxed);
    }

    /// A streamed response was aborted.
    pub fn stream_abort(&self) {
        self.stream_aborts.fetch_add(1, Relaxed);
    }

    /// A response was not written to the end (not counted in `mesh_proxy_requests_total`).
    pub fn response_aborted(&self) {
        self.responses_aborted.fetch_add(1, Relaxed);
    }

    /// This upstream is a gateway's linked service (its intention denials are rendered).
    pub fn mark_linked(&self) {
        self.linked.store(true, Relaxed);
    }

    /// Intentions (the gateway's, or a sidecar upstream's) refused a request.
    pub fn intention_denial(&self) {
        self.intention_denials.fetch_add(1, Relaxed);
    }

    /// Count a request in flight until the guard drops.
    pub fn in_flight(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(self.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histogram_and_gauge() {
        let metrics = Metrics::default();
        let m = metrics.upstream("orders");
        m.response(200);
        m.response(200);
        m.response(502);
        m.response(42);
        m.invoke_latency(Duration::from_millis(3));
        m.invoke_latency(Duration::from_secs(100));
        m.throttle();
        m.retry();
        m.function_error();
        let guard = m.in_flight();
        let text = metrics.render();
        assert!(
            text.contains("mesh_proxy_requests_total{upstream=\"orders\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(text.contains("mesh_proxy_requests_total{upstream=\"orders\",status=\"502\"} 1"));
        assert!(text.contains(
            "mesh_proxy_invoke_duration_seconds_bucket{upstream=\"orders\",le=\"0.0025\"} 0"
        ));
        assert!(text.contains(
            "mesh_proxy_invoke_duration_seconds_bucket{upstream=\"orders\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "mesh_proxy_invoke_duration_seconds_bucket{upstream=\"orders\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains("mesh_proxy_invoke_duration_seconds_count{upstream=\"orders\"} 2"));
        assert!(text.contains("mesh_proxy_throttles_total{upstream=\"orders\"} 1"));
        assert!(text.contains("mesh_proxy_retries_total{upstream=\"orders\"} 1"));
        assert!(text.contains("mesh_proxy_function_errors_total{upstream=\"orders\"} 1"));
        assert!(text.contains("mesh_proxy_in_flight{upstream=\"orders\"} 1"));
        drop(guard);
        assert!(metrics
            .render()
            .contains("mesh_proxy_in_flight{upstream=\"orders\"} 0"));
        assert!(Arc::ptr_eq(&m, &metrics.upstream("orders")));
    }
}
