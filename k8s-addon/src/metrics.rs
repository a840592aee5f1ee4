//! Prometheus text metrics of the webhook (hand-written: a few counters and one histogram).
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

/// The webhook's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    reviews: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    tls_reloads: Mutex<BTreeMap<&'static str, u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Metrics {
    /// Counts one review by result and reason (both bounded labels) and its duration.
    pub fn review(&self, result: &'static str, reason: &'static str, took: Duration) {
        if let Ok(mut m) = self.reviews.lock() {
            *m.entry((result, reason)).or_default() += 1;
        }
        let secs = took.as_secs_f64();
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Counts a TLS reload (`ok` or `error`).
    pub fn tls_reload(&self, result: &'static str) {
        if let Ok(mut m) = self.tls_reloads.lock() {
            *m.entry(result).or_default() += 1;
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP oneagent_webhook_reviews_total Admission reviews by result and reason.\n",
        );
        out.push_str("# TYPE oneagent_webhook_reviews_total counter\n");
        if let Ok(m) = self.reviews.lock() {
            for ((result, reason), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "oneagent_webhook_reviews_total{{result=\"{result}\",reason=\"{reason}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP oneagent_webhook_tls_reloads_total TLS certificate reloads.\n");
        out.push_str("# TYPE oneagent_webhook_tls_reloads_total counter\n");
        if let Ok(m) = self.tls_reloads.lock() {
            for (result, n) in m.iter() {
                let _ = writeln!(
                    out,
                    "oneagent_webhook_tls_reloads_total{{result=\"{result}\"}} {n}"
                );
            }
        }
        out.push_str(
            "# HELP oneagent_webhook_review_duration_seconds Time to decide one review.\n",
        );
        out.push_str("# TYPE oneagent_webhook_review_duration_seconds histogram\n");
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "oneagent_webhook_review_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "oneagent_webhook_review_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "oneagent_webhook_review_duration_seconds_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "oneagent_webhook_review_duration_seconds_count {count}"
        );
        out
    }
}
