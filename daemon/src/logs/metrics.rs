//! Per-service log metrics (lines, bytes, lines per severity, exceptions by type, lines dropped by
//! sampling) and the sampling itself: an optional per-service rate limit that always keeps
//! warnings and errors. Shared between the pipeline thread and the metrics endpoint.

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use super::record::Severity;

/// Severities in label order.
pub const SEVERITIES: [Severity; 7] = [
    Severity::Unspecified,
    Severity::Trace,
    Severity::Debug,
    Severity::Info,
    Severity::Warn,
    Severity::Error,
    Severity::Fatal,
];

fn severity_index(s: Severity) -> usize {
    SEVERITIES.iter().position(|x| *x == s).unwrap_or(0)
}

/// Counters of one service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceCounters {
    /// Records exported.
    pub lines: u64,
    /// Bytes of records exported.
    pub bytes: u64,
    /// Records per severity, in [`SEVERITIES`] order.
    pub by_severity: [u64; 7],
    /// Exceptions seen, by type.
    pub exceptions: BTreeMap<String, u64>,
    /// Records dropped by the rate limit.
    pub sampled_out: u64,
}

/// All services.
#[derive(Debug, Default)]
pub struct LogMetrics {
    /// Per service name.
    pub services: BTreeMap<String, ServiceCounters>,
}

impl LogMetrics {
    /// Counts one exported record.
    pub fn record(&mut self, service: &str, severity: Severity, body: &[u8]) {
        let c = self.services.entry(service.to_owned()).or_default();
        c.lines += 1;
        c.bytes += body.len() as u64;
        if let Some(n) = c.by_severity.get_mut(severity_index(severity)) {
            *n += 1;
        }
        for line in body.split(|&b| b == b'\n').take(64) {
            if let Some(t) = super::record::exception_type(line) {
                let t = String::from_utf8_lossy(t).into_owned();
                if c.exceptions.len() < 256 || c.exceptions.contains_key(&t) {
                    *c.exceptions.entry(t).or_insert(0) += 1;
                }
            }
        }
    }

    /// Counts one record dropped by sampling.
    pub fn sampled_out(&mut self, service: &str) {
        self.services
            .entry(service.to_owned())
            .or_default()
            .sampled_out += 1;
    }
}

/// A token bucket per service: `rate` records per second, bursts up to one second's worth.
#[derive(Debug)]
pub struct Sampler {
    rate: f64,
    buckets: HashMap<String, (f64, Instant)>,
}

impl Sampler {
    /// `rate` records per second per service; 0 disables sampling.
    pub fn new(rate: u32) -> Self {
        Sampler {
            rate: f64::from(rate),
            buckets: HashMap::new(),
        }
    }

    /// Whether to keep a record. Warnings and worse are always kept (and not charged).
    pub fn keep(&mut self, service: &str, severity: Severity, now: Instant) -> bool {
        if self.rate <= 0.0 || severity >= Severity::Warn {
            return true;
        }
        let rate = self.rate;
        let (tokens, last) = self
            .buckets
            .entry(service.to_owned())
            .or_insert((rate, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(rate);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sampling_keeps_errors_and_limits_the_rest() {
        let mut s = Sampler::new(10);
        let t = Instant::now();
        let kept = (0..100).filter(|_| s.keep("a", Severity::Info, t)).count();
        assert_eq!(kept, 10);
        assert!((0..100).all(|_| s.keep("a", Severity::Error, t)));
        assert!(
            s.keep("b", Severity::Info, t),
            "services have their own budget"
        );
        let later = t + Duration::from_millis(500);
        let kept = (0..100)
            .filter(|_| s.keep("a", Severity::Info, later))
            .count();
        assert_eq!(kept, 5);
        let mut off = Sampler::new(0);
        assert!((0..1000).all(|_| off.keep("a", Severity::Debug, t)));
    }

    #[test]
    fn metrics_count_severities_and_exceptions() {
        let mut m = LogMetrics::default();
        m.record(
            "svc",
            Severity::Error,
            b"ERROR x\njava.lang.IllegalStateException: y\n\tat a.b(C.java:1)",
        );
        m.record("svc", Severity::Info, b"INFO ok");
        m.sampled_out("svc");
        let c = &m.services["svc"];
        assert_eq!((c.lines, c.sampled_out), (2, 1));
        assert_eq!(c.by_severity[severity_index(Severity::Error)], 1);
        assert_eq!(
            c.exceptions.get("java.lang.IllegalStateException"),
            Some(&1)
        );
    }
}
