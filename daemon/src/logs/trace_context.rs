//! Trace context in a log line, so that the exported LogRecord carries `trace_id`, `span_id`
//! and `flags` and a backend can link the line to its span.
//!
//! Forms recognised (keys matched without regard to case, values exact):
//! - `trace_id=<32 hex>` / `span_id=<16 hex>` / `trace_flags=<2 hex>`: the OpenTelemetry Java
//!   agent's MDC keys (logback/log4j patterns) and the Python `LoggingInstrumentor` format; the
//!   same keys as JSON fields (`"trace_id":"…"`, pino/winston with the Node.js agent);
//! - `traceId` / `spanId` / `traceFlags` (JSON layouts, ECS-style loggers);
//! - a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`) after a `traceparent` key;
//! - SkyWalking's `TID:<id>` (its log toolkits' `%tid`): a Java agent id
//!   `<32 hex>.<n>.<m>` or a UUID, turned into the trace id the OpenTelemetry Collector's
//!   `skywalking` receiver gives that trace (so the log and the converted spans agree).
//!
//! Cheap by construction, because nearly every line carries no trace context: one SIMD pass
//! (`aho-corasick`'s packed Teddy searcher, built once) over the first [`SCAN_LIMIT`] bytes
//! for `race` (every lower-case or capitalised trace key: `trace_id`, `traceId`, `TraceID`,
//! `trace.id`, `traceparent`), `RACE` (upper-case keys) and `TID:` (SkyWalking) rejects a line
//! with none of them. A line with one is looked at only around those matches and the `pan` of
//! span keys; ids are decoded into fixed arrays through a table, nothing is allocated. No regex.
//! A malformed id (wrong length, not hex, all zero, truncated by the scan limit) means the
//! line is exported without any id: never with a wrong one.

#![forbid(unsafe_code)]

use std::sync::LazyLock;

use aho_corasick::packed::{Config, Searcher};
use memchr::memmem::Finder;

/// The patterns of the first pass, in the order of their pattern ids.
const PATTERNS: [&[u8]; 3] = [b"race", b"RACE", b"TID:"];
const PATTERN_TID: usize = 2;

/// The first pass's searcher, built once (`None` only if the builder refuses, then the line is
/// searched for each pattern in turn).
static FIRST: LazyLock<Option<Searcher>> =
    LazyLock::new(|| Config::new().builder().extend(PATTERNS).build());
static PATTERN_FINDERS: LazyLock<[Finder<'static>; 3]> =
    LazyLock::new(|| PATTERNS.map(Finder::new));
static PAN: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"pan"));
static PAN_UPPER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"PAN"));

/// Bytes of a record that are searched for trace context.
pub const SCAN_LIMIT: usize = 4096;

/// Occurrences of key letters looked at per line, at most (a line of `racerace…` stays cheap).
const MAX_CANDIDATES: usize = 64;

/// The trace context found in a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TraceContext {
    /// The trace id (never all zero).
    pub trace_id: [u8; 16],
    /// The span id, when the line names one (never all zero).
    pub span_id: Option<[u8; 8]>,
    /// The W3C trace flags, when the line names them.
    pub flags: Option<u8>,
}

/// Hex digit values; 0xff for a byte that is not one.
const HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Decodes exactly `N * 2` hex digits.
fn decode_hex<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    if s.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let (hi, lo) = match pair {
            [h, l] => (HEX[usize::from(*h)], HEX[usize::from(*l)]),
            _ => return None,
        };
        // 0xff marks a non-digit; its high bit survives the OR.
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 0x0f);
    }
    (bad & 0x80 == 0).then_some(out)
}

fn nonzero<const N: usize>(id: [u8; N]) -> Option<[u8; N]> {
    id.iter().any(|&b| b != 0).then_some(id)
}

/// Whether `b` can be part of a key's value (so a value ends at the first byte that cannot):
/// a `.` ends it (`trace_id=<id>.` at the end of a sentence, or padding).
fn is_value_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Whether `b` can be part of a SkyWalking id (`<hex>.<n>.<m>`).
fn is_tid_byte(b: u8) -> bool {
    is_value_byte(b) || b == b'.'
}

/// The value after a key that ends at `at`: an optional closing quote, `=` or `:`, optional
/// blanks and an optional opening quote, then value bytes. `None` when no separator follows
/// (the word was not a key), `Some(value)` otherwise (possibly empty). `complete` is false when
/// the value runs into the end of the scanned window (possibly truncated).
fn value_after(w: &[u8], at: usize) -> Option<(&[u8], bool)> {
    let mut i = at;
    if matches!(w.get(i), Some(b'"' | b'\'')) {
        i += 1;
    }
    match w.get(i) {
        Some(b'=' | b':') => i += 1,
        _ => return None,
    }
    while matches!(w.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    if matches!(w.get(i), Some(b'"' | b'\'')) {
        i += 1;
    }
    let start = i;
    while w.get(i).is_some_and(|&b| is_value_byte(b)) {
        i += 1;
    }
    Some((w.get(start..i).unwrap_or_default(), i < w.len()))
}

/// What a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Trace,
    Span,
    Flags,
    Traceparent,
}

/// The key around a `race`/`RACE` (`trace…`) or `pan`/`PAN` (`span…`) match at `at`, and
/// where it ends. The key's first letter is the byte before the match and must not continue a
/// longer word (`x_trace_id` is fine, `subtrace_id` is not); after `trace`/`span` comes one of
/// `_id`, `.id`, `id`, `_flags`, `flags` or `parent` (any case), ending the word.
fn key_at(w: &[u8], at: usize, span: bool) -> Option<(Key, usize)> {
    let first = at.checked_sub(1)?;
    let letter = if span { b's' } else { b't' };
    if w.get(first).map(u8::to_ascii_lowercase) != Some(letter) {
        return None;
    }
    if first > 0 && w.get(first - 1).is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    let mut i = at + if span { 3 } else { 4 };
    if matches!(w.get(i), Some(b'_' | b'.')) {
        i += 1;
    }
    let rest = w.get(i..).unwrap_or_default();
    let starts = |word: &[u8]| {
        rest.get(..word.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(word))
    };
    let (key, len) = if starts(b"id") {
        (if span { Key::Span } else { Key::Trace }, 2)
    } else if !span && starts(b"flags") {
        (Key::Flags, 5)
    } else if !span && i == at + 4 && starts(b"parent") {
        (Key::Traceparent, 6)
    } else {
        return None;
    };
    let end = i + len;
    // The key must end here (`trace_identity` is not `trace_id`).
    if w.get(end)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        return None;
    }
    Some((key, end))
}

/// Result of one field: absent, valid, or present but malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field<T> {
    Absent,
    Valid(T),
    Malformed,
}

impl<T> Field<T> {
    fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }

    fn valid(self) -> Option<T> {
        match self {
            Field::Valid(v) => Some(v),
            _ => None,
        }
    }
}

fn parse_fixed<const N: usize>(value: &[u8], complete: bool) -> Field<[u8; N]> {
    if !complete {
        return Field::Malformed;
    }
    match decode_hex::<N>(value).and_then(nonzero) {
        Some(id) => Field::Valid(id),
        None => Field::Malformed,
    }
}

/// `00-<trace>-<span>-<flags>`; version `ff` is invalid, version 00 has nothing after flags.
fn parse_traceparent(value: &[u8], complete: bool) -> Field<([u8; 16], [u8; 8], u8)> {
    if !complete || value.len() < 55 {
        return Field::Malformed;
    }
    let (Some(version), Some(trace), Some(span), Some(flags)) = (
        value.get(0..2).and_then(decode_hex::<1>),
        value
            .get(3..35)
            .and_then(decode_hex::<16>)
            .and_then(nonzero),
        value
            .get(36..52)
            .and_then(decode_hex::<8>)
            .and_then(nonzero),
        value.get(53..55).and_then(decode_hex::<1>),
    ) else {
        return Field::Malformed;
    };
    let dashes = [2, 35, 52].iter().all(|&i| value.get(i) == Some(&b'-'));
    let tail_ok = match version[0] {
        0 => value.len() == 55,
        0xff => false,
        _ => value.len() == 55 || value.get(55) == Some(&b'-'),
    };
    if dashes && tail_ok {
        Field::Valid((trace, span, flags[0]))
    } else {
        Field::Malformed
    }
}

/// A SkyWalking trace id as the Collector's `skywalking` receiver converts it: a UUID (36
/// characters with dashes) as is; a Java agent id `<32 hex>.<mid>.<last>` as the 16 bytes of
/// the hex with `mid` (4 bytes) and `last` (8 bytes), little-endian, XORed over bytes 4..8 and
/// 8..16; 32 hex alone as they are.
pub fn skywalking_trace_id(id: &[u8]) -> Option<[u8; 16]> {
    if id.len() == 36 {
        let mut hex = [0u8; 32];
        let mut n = 0;
        for (i, &b) in id.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if b != b'-' {
                    return None;
                }
                continue;
            }
            *hex.get_mut(n)? = b;
            n += 1;
        }
        return decode_hex::<16>(&hex).and_then(nonzero);
    }
    let mut uid = decode_hex::<16>(id.get(..32)?)?;
    if id.len() > 32 {
        let rest = id.get(32..)?;
        let mut parts = rest.strip_prefix(b".")?.split(|&b| b == b'.');
        let mid = parse_decimal(parts.next()?)?;
        let last = parse_decimal(parts.next()?)?;
        if parts.next().is_some() {
            return None;
        }
        for (i, b) in mid.to_le_bytes().iter().take(4).enumerate() {
            *uid.get_mut(4 + i)? ^= b;
        }
        for (i, b) in last.to_le_bytes().iter().enumerate() {
            *uid.get_mut(8 + i)? ^= b;
        }
    }
    nonzero(uid)
}

fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

/// The fields found so far in a line.
#[derive(Clone, Copy)]
struct Fields {
    trace: Field<[u8; 16]>,
    span: Field<[u8; 8]>,
    flags: Field<u8>,
    parent: Field<([u8; 16], [u8; 8], u8)>,
}

impl Fields {
    /// Looks at the key around the match at `at`; the first occurrence of a key decides.
    fn look(&mut self, w: &[u8], at: usize, span: bool, cut: bool) {
        let Some((key, end)) = key_at(w, at, span) else {
            return;
        };
        let Some((value, complete)) = value_after(w, end) else {
            return;
        };
        // A value that runs into the end of the window is whole only if the record ends there.
        let complete = complete || !cut;
        match key {
            Key::Trace if self.trace.is_absent() => self.trace = parse_fixed::<16>(value, complete),
            Key::Span if self.span.is_absent() => self.span = parse_fixed::<8>(value, complete),
            Key::Flags if self.flags.is_absent() => {
                self.flags = match parse_fixed::<1>(value, complete) {
                    Field::Valid([f]) => Field::Valid(f),
                    // Zero flags are valid flags.
                    Field::Malformed if complete && value == b"00" => Field::Valid(0),
                    _ => Field::Malformed,
                }
            }
            Key::Traceparent if self.parent.is_absent() => {
                self.parent = parse_traceparent(value, complete)
            }
            _ => {}
        }
    }

    /// The context these fields give: none when any is malformed or they disagree.
    fn context(self) -> Option<TraceContext> {
        if matches!(self.trace, Field::Malformed)
            || matches!(self.span, Field::Malformed)
            || matches!(self.flags, Field::Malformed)
            || matches!(self.parent, Field::Malformed)
        {
            return None;
        }
        let (trace_id, span_id, flags) = match (self.trace, self.parent) {
            // Both forms: they must agree; explicit span id and flags win.
            (Field::Valid(t), Field::Valid((pt, ps, pf))) if t == pt => (t, Some(ps), Some(pf)),
            (Field::Valid(_), Field::Valid(_)) => return None,
            (Field::Valid(t), _) => (t, None, None),
            (_, Field::Valid((t, s, f))) => (t, Some(s), Some(f)),
            _ => return None,
        };
        Some(TraceContext {
            trace_id,
            span_id: self.span.valid().or(span_id),
            flags: self.flags.valid().or(flags),
        })
    }
}

/// Positions of the first pass's patterns in `w`, in order, with their pattern index.
fn first_pass(w: &[u8], mut each: impl FnMut(usize, usize) -> bool) {
    match FIRST.as_ref() {
        Some(searcher) => {
            for m in searcher.find_iter(w).take(MAX_CANDIDATES) {
                if !each(m.start(), m.pattern().as_usize()) {
                    return;
                }
            }
        }
        None => {
            for (index, finder) in PATTERN_FINDERS.iter().enumerate() {
                for at in finder.find_iter(w).take(MAX_CANDIDATES) {
                    if !each(at, index) {
                        return;
                    }
                }
            }
        }
    }
}

/// The trace context of a log record, from its first [`SCAN_LIMIT`] bytes.
pub fn find(line: &[u8]) -> Option<TraceContext> {
    let w = line.get(..line.len().min(SCAN_LIMIT)).unwrap_or(line);
    let cut = line.len() > SCAN_LIMIT;
    let mut f = Fields {
        trace: Field::Absent,
        span: Field::Absent,
        flags: Field::Absent,
        parent: Field::Absent,
    };
    let (mut lower, mut upper, mut tid) = (false, false, None);
    // The one pass that nearly every line ends with.
    first_pass(w, |at, pattern| {
        match pattern {
            PATTERN_TID => {
                tid = tid.or(Some(at));
                return true;
            }
            0 => lower = true,
            _ => upper = true,
        }
        f.look(w, at, false, cut);
        true
    });
    if lower {
        for at in PAN.find_iter(w).take(MAX_CANDIDATES) {
            f.look(w, at, true, cut);
        }
    }
    if upper {
        for at in PAN_UPPER.find_iter(w).take(MAX_CANDIDATES) {
            f.look(w, at, true, cut);
        }
    }
    if !(f.trace.is_absent() && f.parent.is_absent() && f.span.is_absent() && f.flags.is_absent()) {
        return f.context();
    }
    skywalking(w, tid?, cut)
}

/// SkyWalking's `TID:` at `at` (only a trace id; `TID:N/A` outside a trace).
fn skywalking(w: &[u8], at: usize, cut: bool) -> Option<TraceContext> {
    if at > 0 && w.get(at - 1).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let start = at + 4;
    let mut end = start;
    while w.get(end).is_some_and(|&b| is_tid_byte(b)) {
        end += 1;
    }
    if end == w.len() && cut {
        return None; // possibly truncated
    }
    let trace_id = skywalking_trace_id(w.get(start..end)?)?;
    Some(TraceContext {
        trace_id,
        span_id: None,
        flags: None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const T: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const S: &str = "00f067aa0ba902b7";

    /// Hex trace id, hex span id, flags.
    type Ids = (String, Option<String>, Option<u8>);

    fn ids(line: &str) -> Option<Ids> {
        find(line.as_bytes()).map(|c| {
            (
                c.trace_id.iter().map(|b| format!("{b:02x}")).collect(),
                c.span_id
                    .map(|s| s.iter().map(|b| format!("{b:02x}")).collect()),
                c.flags,
            )
        })
    }

    #[test]
    fn every_form_is_found() {
        let both = Some((T.to_owned(), Some(S.to_owned()), None));
        let cases: Vec<(String, Option<Ids>)> = vec![
            // The OpenTelemetry Java agent's MDC keys in a logback pattern.
            (format!("2026-12-03 10:00:00 INFO  c.e.Shop trace_id={T} span_id={S} trace_flags=01 - checkout"),
             Some((T.to_owned(), Some(S.to_owned()), Some(1)))),
            // Python's LoggingInstrumentor format.
            (format!("2026-12-03 10:00:00,000 INFO [app] [shop.py:12] [trace_id={T} span_id={S} resource.service.name=shop trace_sampled=True] - hi"), both.clone()),
            // JSON with snake_case (pino with the Node.js agent) and camelCase keys.
            (format!(r#"{{"level":30,"msg":"hi","trace_id":"{T}","span_id":"{S}","trace_flags":"01"}}"#),
             Some((T.to_owned(), Some(S.to_owned()), Some(1)))),
            (format!(r#"{{"message":"hi","traceId":"{T}","spanId":"{S}"}}"#), both.clone()),
            (format!(r#"{{"message":"hi","traceId": "{T}", "spanId": "{S}", "traceFlags": "00"}}"#),
             Some((T.to_owned(), Some(S.to_owned()), Some(0)))),
            // Upper-case hex, `key: value`, ECS dotted keys.
            (format!("TraceID: {} SpanID: {}", T.to_uppercase(), S.to_uppercase()), both.clone()),
            (format!(r#"{{"trace.id":"{T}","span.id":"{S}"}}"#), both.clone()),
            // A trace id alone; one that ends a sentence or is followed by padding.
            (format!("trace_id={T} started"), Some((T.to_owned(), None, None))),
            (format!("failed in trace_id={T}. Retrying"), Some((T.to_owned(), None, None))),
            (format!("GET /a bytes=1 trace_id={T}............"), Some((T.to_owned(), None, None))),
            // W3C traceparent, as a field and as a header dump.
            (format!("GET /checkout traceparent=00-{T}-{S}-01 200"),
             Some((T.to_owned(), Some(S.to_owned()), Some(1)))),
            (format!(r#"{{"headers":{{"traceparent":"00-{T}-{S}-00"}}}}"#),
             Some((T.to_owned(), Some(S.to_owned()), Some(0)))),
            // A future traceparent version may carry more after the flags.
            (format!("traceparent: 01-{T}-{S}-01-extra end"),
             Some((T.to_owned(), Some(S.to_owned()), Some(1)))),
            // traceparent and trace_id agree: the explicit span id wins.
            (format!("traceparent=00-{T}-{S}-01 trace_id={T} span_id=1111111111111111 x"),
             Some((T.to_owned(), Some("1111111111111111".to_owned()), Some(1)))),
            // SkyWalking: a Java agent id and a UUID.
            ("2026-12-03 10:00:00 [TID:56a5e1c519ae4c76a2b8b11d92cead7f.12.16563474296430001] INFO hi".to_owned(),
             Some(()).map(|()| {
                 // bytes 4..8 ^= 12 (LE), 8..16 ^= 16563474296430001 (LE)
                 let mut id = decode_hex::<16>(b"56a5e1c519ae4c76a2b8b11d92cead7f").unwrap();
                 id[4] ^= 12;
                 for (i, b) in 16563474296430001u64.to_le_bytes().iter().enumerate() {
                     id[8 + i] ^= b;
                 }
                 (id.iter().map(|b| format!("{b:02x}")).collect(), None, None)
             })),
            ("[TID:de5980b8-fce3-4a37-aab9-b4ac3af7eedd] hi".to_owned(),
             Some(("de5980b8fce34a37aab9b4ac3af7eedd".to_owned(), None, None))),
            ("[TID:56a5e1c519ae4c76a2b8b11d92cead7f] hi".to_owned(),
             Some(("56a5e1c519ae4c76a2b8b11d92cead7f".to_owned(), None, None))),
            // Upper-case keys (looked for when `ID` is in the line).
            (format!("TRACE_ID={T} SPAN_ID={S} TRACE_FLAGS=01 msg"),
             Some((T.to_owned(), Some(S.to_owned()), Some(1)))),
            (format!(r#"{{"TRACEID":"{T}","SPANID":"{S}"}}"#), both.clone()),
            // Span before trace, single quotes, logfmt with tabs.
            (format!("span_id='{S}'\ttrace_id='{T}'"), both.clone()),
            // No context.
            ("2026-12-03 10:00:00 INFO plain line".to_owned(), None),
            ("GET /api/v1/items/1 request=4bf92f3577b34da6a3ce929d0e0e4736 ID=7".to_owned(), None),
            (format!("brace_id={T} srace_id={T} tpan_id={S}"), None),
            (format!("span_id={S} only a span"), None),
            ("[TID:N/A] outside a trace".to_owned(), None),
            ("the race is on: spanish inquisition".to_owned(), None),
        ];
        for (line, expected) in cases {
            assert_eq!(ids(&line), expected, "{line}");
        }
    }

    #[test]
    fn malformed_ids_give_no_ids_at_all() {
        let cases = [
            format!("trace_id={} span_id={S}", &T[..31]),  // short
            format!("trace_id={T}0 span_id={S}"),          // long
            format!("trace_id={}g span_id={S}", &T[..31]), // not hex
            format!("trace_id={} span_id={S}", "0".repeat(32)), // all zero
            format!("trace_id={T} span_id={}", "0".repeat(16)), // zero span
            format!("trace_id={T} span_id={}", &S[..15]),  // short span
            format!("trace_id={T} span_id={S} trace_flags=1"), // short flags
            format!("trace_id={T} span_id={S} trace_flags=zz"), // bad flags
            format!("trace_id= span_id={S}"),              // empty
            format!(r#"{{"traceId":"{T}-x","spanId":"{S}"}}"#), // extra
            format!("traceparent=00-{T}-{S}"),             // no flags
            format!("traceparent=00-{T}-{S}-01-x"),        // v00 with more
            format!("traceparent=ff-{T}-{S}-01"),          // invalid version
            format!("traceparent=00-{}-{S}-01", "0".repeat(32)), // zero trace
            format!("traceparent=00_{T}_{S}_01"),          // wrong separators
            format!("traceparent=00-{T}-{S}-01 trace_id={}", "a".repeat(32)), // disagree
            "[TID:56a5e1c519ae4c76a2b8b11d92cead7g.1.2] x".to_owned(), // not hex
            "[TID:56a5e1c519ae4c76a2b8b11d92cead7f.x.2] x".to_owned(), // not decimal
            "[TID:56a5e1c519ae4c76a2b8b11d92cead7f.1] x".to_owned(), // missing part
            "[TID:de5980b8-fce3-4a37-aab9_b4ac3af7eedd] x".to_owned(), // bad uuid
        ];
        for line in cases {
            assert_eq!(find(line.as_bytes()), None, "{line}");
        }
    }

    #[test]
    fn the_scan_is_bounded_and_truncation_is_not_trusted() {
        // Past the scan limit: not seen.
        let far = format!("{} trace_id={T}", "x".repeat(SCAN_LIMIT));
        assert_eq!(find(far.as_bytes()), None);
        // Cut by the limit in the middle of the id: not a shorter id.
        let pad = SCAN_LIMIT - "trace_id=".len() - 20;
        let cut = format!("{}trace_id={T} span_id={S}", "x".repeat(pad));
        assert_eq!(find(cut.as_bytes()), None);
        // Ends exactly at the end of the record (not the window): fine.
        assert!(find(format!("trace_id={T}").as_bytes()).is_some());
        assert!(find(b"[TID:56a5e1c519ae4c76a2b8b11d92cead7f").is_some());
        // Keys inside longer words are not keys.
        assert_eq!(find(format!("subtrace_id={T}").as_bytes()), None);
        assert_eq!(find(format!("trace_identity={T}").as_bytes()), None);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x9e3779b97f4a7c15u64;
        let alphabet = b"trace_idspan_ID=:\"' -.0123456789abcdefTID:parent\x00\xff{}";
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 120) as usize;
            let line: Vec<u8> = (0..len)
                .map(|i| alphabet[((seed >> (i % 50)) as usize + i * 7) % alphabet.len()])
                .collect();
            let _ = find(&line);
        }
    }
}
