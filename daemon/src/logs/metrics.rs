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
#[derive(Debug, Clone, Default)]
pub struct LogMetrics {
    /// Per service name.
    pub services: BTreeMap<String, ServiceCounters>,
}

impl ServiceCounters {
    /// Counts one exported record: its line, bytes, severity and the exception types its
    /// lines name (in its first 64 lines; at most 256 types are kept, later new ones are not
    /// counted).
    pub fn count(&mut self, severity: Severity, body: &[u8]) {
        self.lines += 1;
        self.bytes += body.len() as u64;
        if let Some(n) = self.by_severity.get_mut(severity_index(severity)) {
            *n += 1;
        }
        let mut rest = Some(body);
        for _ in 0..64 {
            let Some(text) = rest else { break };
            let (line, next) = match memchr::memchr(b'\n', text) {
                Some(i) => (text.get(..i).unwrap_or_default(), text.get(i + 1..)),
                None => (text, None),
            };
            // `exception_type` rejects at the first byte a line that cannot name one.
            if let Some(t) = super::record::exception_type(line) {
                self.count_exception(t);
            }
            rest = next;
        }
    }

    /// Counts one exported record known to name no exception type (see
    /// [`super::record::exception_type`]: none of its lines starts with a letter).
    pub fn count_plain(&mut self, severity: Severity, len: usize) {
        self.lines += 1;
        self.bytes += len as u64;
        if let Some(n) = self.by_severity.get_mut(severity_index(severity)) {
            *n += 1;
        }
    }

    fn count_exception(&mut self, exception: &[u8]) {
        let name = String::from_utf8_lossy(exception);
        if let Some(n) = self.exceptions.get_mut(name.as_ref()) {
            *n += 1;
        } else if self.exceptions.len() < 256 {
            self.exceptions.insert(name.into_owned(), 1);
        }
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: ServiceCounters) {
        self.lines += other.lines;
        self.bytes += other.bytes;
        self.sampled_out += other.sampled_out;
        for (a, b) in self.by_severity.iter_mut().zip(other.by_severity) {
            *a += b;
        }
        for (t, n) in other.exceptions {
            *self.exceptions.entry(t).or_insert(0) += n;
        }
    }
}

impl LogMetrics {
    /// Counts one exported record.
    pub fn record(&mut self, service: &str, severity: Severity, body: &[u8]) {
        self.update(service, |c| c.count(severity, body));
    }

    /// Counts one record dropped by sampling.
    pub fn sampled_out(&mut self, service: &str) {
        self.update(service, |c| c.sampled_out += 1);
    }

    /// Adds the counts of a batch (made with [`ServiceCounters::count`]) to a service's.
    pub fn add(&mut self, service: &str, delta: ServiceCounters) {
        self.update(service, |c| c.add(delta));
    }

    /// Applies `f` to the counters of `service`; its name is copied only the first time.
    fn update(&mut self, service: &str, f: impl FnOnce(&mut ServiceCounters)) {
        match self.services.get_mut(service) {
            Some(c) => f(c),
            None => f(self.services.entry(service.to_owned()).or_default()),
        }
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
        if !self.buckets.contains_key(service) {
            self.buckets.insert(service.to_owned(), (rate, now));
        }
        let Some((tokens, last)) = self.buckets.get_mut(service) else {
            return true;
        };
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

    #[test]
    fn counts_of_a_batch_add_up_to_counting_one_by_one() {
        let records: [(&str, Severity, &[u8]); 5] = [
            ("a", Severity::Info, b"INFO ok"),
            ("b", Severity::Error, b"ERROR x\nValueError: y"),
            (
                "a",
                Severity::Error,
                b"java.io.IOException: z\nCaused by: java.lang.Error: w",
            ),
            ("a", Severity::Unspecified, b"2026 plain"),
            ("b", Severity::Warn, b"WARN y\n\tat a.b(C.java:1)"),
        ];
        let mut one_by_one = LogMetrics::default();
        let mut batched = LogMetrics::default();
        // Two batches, counted per service and added to the totals.
        for batch in [&records[..2], &records[2..]] {
            let mut deltas: Vec<(&str, ServiceCounters)> = Vec::new();
            for &(service, severity, body) in batch {
                one_by_one.record(service, severity, body);
                let i = match deltas.iter().position(|(s, _)| *s == service) {
                    Some(i) => i,
                    None => {
                        deltas.push((service, ServiceCounters::default()));
                        deltas.len() - 1
                    }
                };
                let c = &mut deltas[i].1;
                if body.first().is_some_and(u8::is_ascii_alphabetic) || body.contains(&b'\n') {
                    c.count(severity, body);
                } else {
                    c.count_plain(severity, body.len());
                }
            }
            one_by_one.sampled_out("b");
            deltas.push((
                "b",
                ServiceCounters {
                    sampled_out: 1,
                    ..ServiceCounters::default()
                },
            ));
            for (service, d) in deltas {
                batched.add(service, d);
            }
        }
        assert_eq!(one_by_one.services, batched.services);
        let a = &batched.services["a"];
        assert_eq!((a.lines, a.bytes), (3, 7 + 52 + 10));
        assert_eq!(a.exceptions.get("java.io.IOException"), Some(&1));
        assert_eq!(a.exceptions.get("java.lang.Error"), Some(&1));
        assert_eq!(batched.services["b"].sampled_out, 2);
    }

    #[test]
    fn at_most_256_exception_types_are_kept_per_count() {
        let mut c = ServiceCounters::default();
        for i in 0..300 {
            c.count(Severity::Error, format!("E{i}Error: x").as_bytes());
        }
        c.count(Severity::Error, b"E0Error: again");
        assert_eq!(c.exceptions.len(), 256);
        assert_eq!(c.exceptions.get("E0Error"), Some(&2));
        assert_eq!(c.exceptions.get("E299Error"), None);
    }
}
