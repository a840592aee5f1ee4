//! Log records: line splitting with partial-line handling, multiline joining of Java stack
//! traces and Python tracebacks, severity parsing. Pure functions and small state machines.

#![forbid(unsafe_code)]

/// OpenTelemetry severity numbers (the first of each range).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Unknown.
    Unspecified = 0,
    /// TRACE.
    Trace = 1,
    /// DEBUG.
    Debug = 5,
    /// INFO.
    Info = 9,
    /// WARN.
    Warn = 13,
    /// ERROR.
    Error = 17,
    /// FATAL.
    Fatal = 21,
}

impl Severity {
    /// The OTLP severity text.
    pub fn text(self) -> &'static str {
        match self {
            Severity::Unspecified => "",
            Severity::Trace => "TRACE",
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Warn => "WARN",
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
        }
    }

    /// Lower-case name for metrics labels.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Unspecified => "unspecified",
            Severity::Trace => "trace",
            Severity::Debug => "debug",
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Error => "error",
            Severity::Fatal => "fatal",
        }
    }
}

fn word(w: &[u8]) -> Option<Severity> {
    let mut up = [0u8; 9];
    if w.is_empty() || w.len() > up.len() {
        return None;
    }
    for (d, s) in up.iter_mut().zip(w) {
        *d = s.to_ascii_uppercase();
    }
    match up.get(..w.len())? {
        b"TRACE" | b"FINEST" | b"FINER" => Some(Severity::Trace),
        b"DEBUG" | b"FINE" | b"DBG" => Some(Severity::Debug),
        b"INFO" | b"NOTICE" | b"INF" => Some(Severity::Info),
        b"WARN" | b"WARNING" | b"WRN" => Some(Severity::Warn),
        b"ERROR" | b"ERR" | b"SEVERE" => Some(Severity::Error),
        b"FATAL" | b"CRITICAL" | b"CRIT" | b"PANIC" | b"EMERG" | b"ALERT" => Some(Severity::Fatal),
        _ => None,
    }
}

/// The severity of a line, from the first level word in its first 128 bytes (`INFO`, `[WARN]`,
/// `level=error`, `"level":"debug"`, `E0412 …` is not matched).
pub fn severity(line: &[u8]) -> Severity {
    let head = line.get(..line.len().min(128)).unwrap_or(line);
    head.split(|b| !b.is_ascii_alphabetic())
        .find_map(word)
        .unwrap_or(Severity::Unspecified)
}

/// The exception type a line names (`java.lang.IllegalStateException`, `ValueError`), if it is
/// the head line of an exception.
pub fn exception_type(line: &[u8]) -> Option<&[u8]> {
    let line = line.strip_prefix(b"Caused by: ").unwrap_or(line);
    let end = line.iter().position(|&b| b == b':').unwrap_or(line.len());
    let name = line.get(..end)?;
    let valid = !name.is_empty()
        && name.len() <= 200
        && name.first().is_some_and(|b| b.is_ascii_alphabetic())
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'$'));
    let looks = [
        &b"Exception"[..],
        b"Error",
        b"Throwable",
        b"Exit",
        b"Interrupt",
    ]
    .iter()
    .any(|s| name.ends_with(s));
    (valid && looks).then_some(name)
}

/// Whether `line` continues the previous record in multiline mode. `in_traceback` is true while
/// a Python traceback is open (its exception line, not indented, still belongs to it).
pub fn is_continuation(line: &[u8], in_traceback: bool) -> bool {
    line.first().is_some_and(|&b| b == b' ' || b == b'\t')
        || line.starts_with(b"Caused by:")
        || line.starts_with(b"Suppressed:")
        || line.starts_with(b"Traceback (most recent call last):")
        || line.starts_with(b"During handling of the above exception")
        || line.starts_with(b"The above exception was the direct cause")
        || (line.starts_with(b"...") && line.ends_with(b"more"))
        || in_traceback
        || exception_type(line).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities() {
        assert_eq!(
            severity(b"2026-11-25 12:00:00 INFO started"),
            Severity::Info
        );
        assert_eq!(severity(b"[WARN] disk"), Severity::Warn);
        assert_eq!(severity(b"level=error msg=x"), Severity::Error);
        assert_eq!(severity(br#"{"level":"debug","msg":"x"}"#), Severity::Debug);
        assert_eq!(severity(b"CRITICAL boom"), Severity::Fatal);
        assert_eq!(severity(b"hello world"), Severity::Unspecified);
        assert_eq!(severity(b"informational"), Severity::Unspecified);
    }

    #[test]
    fn exceptions() {
        assert_eq!(
            exception_type(b"java.lang.IllegalStateException: bad"),
            Some(&b"java.lang.IllegalStateException"[..])
        );
        assert_eq!(
            exception_type(b"ValueError: boom"),
            Some(&b"ValueError"[..])
        );
        assert_eq!(
            exception_type(b"Caused by: java.io.IOException: x"),
            Some(&b"java.io.IOException"[..])
        );
        assert_eq!(exception_type(b"INFO: all good"), None);
        assert!(is_continuation(b"\tat com.x.Y.z(Y.java:1)", false));
        assert!(is_continuation(
            b"Traceback (most recent call last):",
            false
        ));
        assert!(is_continuation(b"ValueError: boom", false));
        assert!(!is_continuation(b"2026-11-25 INFO next", false));
    }
}
