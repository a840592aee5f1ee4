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

/// Packs a lower-case ASCII word of at most 8 bytes into a `u64`, first byte lowest.
const fn pack(word: &[u8]) -> u64 {
    let mut packed = 0u64;
    let mut i = 0;
    while i < word.len() && i < 8 {
        packed |= (word[i] as u64) << (8 * i);
        i += 1;
    }
    packed
}

const TRACE: u64 = pack(b"trace");
const FINEST: u64 = pack(b"finest");
const FINER: u64 = pack(b"finer");
const DEBUG: u64 = pack(b"debug");
const FINE: u64 = pack(b"fine");
const DBG: u64 = pack(b"dbg");
const INFO: u64 = pack(b"info");
const NOTICE: u64 = pack(b"notice");
const INF: u64 = pack(b"inf");
const WARN: u64 = pack(b"warn");
const WARNING: u64 = pack(b"warning");
const WRN: u64 = pack(b"wrn");
const ERROR: u64 = pack(b"error");
const ERR: u64 = pack(b"err");
const SEVERE: u64 = pack(b"severe");
const FATAL: u64 = pack(b"fatal");
const CRITICAL: u64 = pack(b"critical");
const CRIT: u64 = pack(b"crit");
const PANIC: u64 = pack(b"panic");
const EMERG: u64 = pack(b"emerg");
const ALERT: u64 = pack(b"alert");

/// The severity a level word names, ignoring case. `w` is a run of ASCII letters; only words of
/// 3 to 8 letters that start like a level word are compared, as one packed `u64`.
fn word(w: &[u8]) -> Option<Severity> {
    if !(3..=8).contains(&w.len())
        || !w.first().is_some_and(|&b| {
            matches!(
                b | 0x20,
                b't' | b'f' | b'd' | b'i' | b'n' | b'w' | b'e' | b's' | b'c' | b'p' | b'a'
            )
        })
    {
        return None;
    }
    let mut padded = [0u8; 8];
    if let Some(dst) = padded.get_mut(..w.len()) {
        dst.copy_from_slice(w);
    }
    level(u64::from_le_bytes(padded), w.len())
}

/// The severity of the level word of `len` letters (3 to 8) in the low bytes of `raw`.
fn level(raw: u64, len: usize) -> Option<Severity> {
    let mask = u64::MAX >> (8 * (8 - len.clamp(1, 8)));
    // ASCII letters only: setting 0x20 lower-cases them.
    match (raw | (ONES * 0x20)) & mask {
        TRACE | FINEST | FINER => Some(Severity::Trace),
        DEBUG | FINE | DBG => Some(Severity::Debug),
        INFO | NOTICE | INF => Some(Severity::Info),
        WARN | WARNING | WRN => Some(Severity::Warn),
        ERROR | ERR | SEVERE => Some(Severity::Error),
        FATAL | CRITICAL | CRIT | PANIC | EMERG | ALERT => Some(Severity::Fatal),
        _ => None,
    }
}

/// [`word`] of `head[start..end]`, loading the word as one `u64` when eight bytes are there.
fn word_at(head: &[u8], start: usize, end: usize) -> Option<Severity> {
    let len = end.saturating_sub(start);
    let eight = head
        .get(start..start + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok());
    match eight {
        Some(bytes)
            if (3..=8).contains(&len)
                && matches!(
                    bytes[0] | 0x20,
                    b't' | b'f' | b'd' | b'i' | b'n' | b'w' | b'e' | b's' | b'c' | b'p' | b'a'
                ) =>
        {
            level(u64::from_le_bytes(bytes), len)
        }
        Some(_) => None,
        None => word(head.get(start..end).unwrap_or_default()),
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// Bit `i` set when byte `i` of `chunk` (eight bytes, little-endian) is an ASCII letter.
fn letter_bits(chunk: u64) -> u32 {
    // Setting 0x20 folds upper case onto lower case; non-ASCII bytes keep bit 7.
    let folded = chunk | (ONES * 0x20);
    let low = folded & (ONES * 0x7f);
    // Per byte, without carries between bytes: bit 7 set when 0x60 < folded < 0x7b ("a"..="z")
    // and the byte is ASCII.
    let letters =
        (ONES * (127 + 0x7b) - low) & !folded & (low + ONES * (127 - 0x60)) & (ONES * 0x80);
    // Gather the eight bit-7s into the top byte, byte 0 lowest.
    ((letters >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
}

/// The severity of a line, from the first level word in its first 128 bytes (`INFO`, `[WARN]`,
/// `level=error`, `"level":"debug"`, `E0412 …` is not matched). A word is a run of ASCII letters;
/// one cut by the 128-byte limit counts as it is cut. The bytes are classified eight at a time.
pub fn severity(line: &[u8]) -> Severity {
    let head = line.get(..line.len().min(128)).unwrap_or(line);
    let mut word_start: Option<usize> = None;
    for (index, chunk) in head.chunks(8).enumerate() {
        let mut padded = [0u8; 8];
        if let Some(dst) = padded.get_mut(..chunk.len()) {
            dst.copy_from_slice(chunk);
        }
        let letters = letter_bits(u64::from_le_bytes(padded));
        let base = index * 8;
        let len = chunk.len();
        let mut i = 0usize;
        while i < len {
            match word_start {
                None => {
                    // Skip to the next letter.
                    let skip = (letters >> i).trailing_zeros() as usize;
                    if i + skip >= len {
                        break;
                    }
                    i += skip;
                    word_start = Some(base + i);
                }
                Some(start) => {
                    // Skip to the end of the word.
                    let run = (!(letters >> i)).trailing_zeros() as usize;
                    if i + run >= len {
                        break;
                    }
                    i += run;
                    if let Some(s) = word_at(head, start, base + i) {
                        return s;
                    }
                    word_start = None;
                }
            }
        }
    }
    word_start
        .and_then(|start| word_at(head, start, head.len()))
        .unwrap_or(Severity::Unspecified)
}

/// Whether a byte may appear in an exception type's name.
fn is_type_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'$')
}

/// The exception type a line names (`java.lang.IllegalStateException`, `ValueError`), if it is
/// the head line of an exception: a name of letters, digits, `.`, `_` and `$` that starts with
/// a letter, ends like an exception type and is followed by `:` or the end of the line.
pub fn exception_type(line: &[u8]) -> Option<&[u8]> {
    if !line.first().is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    let line = line.strip_prefix(b"Caused by: ").unwrap_or(line);
    // The name runs to the first ':' (or the end); it is invalid if any byte before is not a
    // name byte, so the scan stops at the first byte that is not.
    let end = line
        .iter()
        .position(|&b| !is_type_name_byte(b))
        .unwrap_or(line.len());
    if line.get(end).is_some_and(|&b| b != b':') {
        return None;
    }
    let name = line.get(..end)?;
    let valid =
        !name.is_empty() && name.len() <= 200 && name.first().is_some_and(u8::is_ascii_alphabetic);
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
    // Every marker starts with one of a few bytes: look at the first byte before comparing.
    let marker = match line.first() {
        Some(b' ' | b'\t') => return true,
        Some(b'C') => line.starts_with(b"Caused by:"),
        Some(b'S') => line.starts_with(b"Suppressed:"),
        Some(b'T') => {
            line.starts_with(b"Traceback (most recent call last):")
                || line.starts_with(b"The above exception was the direct cause")
        }
        Some(b'D') => line.starts_with(b"During handling of the above exception"),
        Some(b'.') => line.starts_with(b"...") && line.ends_with(b"more"),
        _ => false,
    };
    // `exception_type` needs a letter first: lines that start otherwise are not scanned.
    marker || in_traceback || exception_type(line).is_some()
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

    /// The matcher as it was first written (every word upper-cased and compared with each
    /// literal), kept as the reference for the faster one.
    fn reference_severity(line: &[u8]) -> Severity {
        fn reference_word(w: &[u8]) -> Option<Severity> {
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
                b"FATAL" | b"CRITICAL" | b"CRIT" | b"PANIC" | b"EMERG" | b"ALERT" => {
                    Some(Severity::Fatal)
                }
                _ => None,
            }
        }
        let head = line.get(..line.len().min(128)).unwrap_or(line);
        head.split(|b| !b.is_ascii_alphabetic())
            .find_map(reference_word)
            .unwrap_or(Severity::Unspecified)
    }

    const LEVEL_WORDS: [(&str, Severity); 21] = [
        ("trace", Severity::Trace),
        ("finest", Severity::Trace),
        ("finer", Severity::Trace),
        ("debug", Severity::Debug),
        ("fine", Severity::Debug),
        ("dbg", Severity::Debug),
        ("info", Severity::Info),
        ("notice", Severity::Info),
        ("inf", Severity::Info),
        ("warn", Severity::Warn),
        ("warning", Severity::Warn),
        ("wrn", Severity::Warn),
        ("error", Severity::Error),
        ("err", Severity::Error),
        ("severe", Severity::Error),
        ("fatal", Severity::Fatal),
        ("critical", Severity::Fatal),
        ("crit", Severity::Fatal),
        ("panic", Severity::Fatal),
        ("emerg", Severity::Fatal),
        ("alert", Severity::Fatal),
    ];

    #[test]
    fn every_level_word_in_every_case_and_position() {
        for (w, expected) in LEVEL_WORDS {
            let upper = w.to_ascii_uppercase();
            let mut title = upper.get(..1).unwrap().to_owned();
            title.push_str(w.get(1..).unwrap());
            for spelled in [w.to_owned(), upper, title] {
                for line in [
                    spelled.clone(),
                    format!("2026-11-25T12:00:00Z {spelled} started"),
                    format!("[{spelled}] x"),
                    format!("level={spelled} msg=x"),
                    format!("{{\"level\":\"{spelled}\"}}"),
                ] {
                    assert_eq!(severity(line.as_bytes()), expected, "{line}");
                }
                // Longer or shorter words that merely contain a level word are not one.
                for line in [format!("x{spelled}"), format!("{spelled}s ok")] {
                    assert_eq!(
                        severity(line.as_bytes()),
                        reference_severity(line.as_bytes()),
                        "{line}"
                    );
                }
            }
        }
    }

    #[test]
    fn letters_are_found_eight_bytes_at_a_time() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut chunk = [b'0'; 8];
                chunk[at] = b;
                chunk[(at + 3) % 8] = b'q';
                let expected = chunk
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.is_ascii_alphabetic())
                    .fold(0u32, |m, (i, _)| m | (1 << i));
                assert_eq!(
                    letter_bits(u64::from_le_bytes(chunk)),
                    expected,
                    "{b:#x} at {at}"
                );
            }
        }
    }

    #[test]
    fn words_across_every_chunk_boundary() {
        for (w, expected) in LEVEL_WORDS {
            for pad in 0..20 {
                let line = format!("{}{w} x", "1".repeat(pad));
                assert_eq!(severity(line.as_bytes()), expected, "{line}");
                let line = format!("{}{w}", "-".repeat(pad));
                assert_eq!(severity(line.as_bytes()), expected, "{line}");
                let line = format!("{}{w}y", "z".repeat(pad));
                assert_eq!(
                    severity(line.as_bytes()),
                    reference_severity(line.as_bytes()),
                    "{line}"
                );
            }
        }
    }

    #[test]
    fn the_packed_matcher_agrees_with_the_reference() {
        let mut lines: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"E0412 cannot find type".to_vec(),
            b"informational".to_vec(),
            b"WARNINGS".to_vec(),
            b"CRITICALLY".to_vec(),
            b"in fo err".to_vec(),
            b"\xff\xfeERROR".to_vec(),
            b"\xc3\xa9rror Error".to_vec(),
        ];
        // A level word cut by the 128-byte limit counts as it is cut ("INFORMATION" → "INFO").
        let mut cut = vec![b'.'; 124];
        cut.extend_from_slice(b"INFORMATION");
        lines.push(cut);
        let mut beyond = vec![b'.'; 128];
        beyond.extend_from_slice(b"ERROR");
        lines.push(beyond);
        // Pseudo-random lines over an alphabet rich in level-word letters and separators.
        let alphabet = b"tracefinsdbgowlpmTRACEFINSDBGOWLPM =[]:\"0123456789\x80\xc3";
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 40) as usize;
            let line: Vec<u8> = (0..len)
                .map(|i| {
                    let r = state.rotate_left(i as u32 * 5) ^ (i as u64).wrapping_mul(0x2545_F491);
                    alphabet[(r % alphabet.len() as u64) as usize]
                })
                .collect();
            lines.push(line);
        }
        for (w, _) in LEVEL_WORDS {
            for n in 0..=w.len() {
                lines.push(w.as_bytes().get(..n).unwrap().to_vec());
            }
        }
        for line in &lines {
            assert_eq!(
                severity(line),
                reference_severity(line),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn exception_types_need_a_name_then_a_colon_or_the_end() {
        assert_eq!(
            exception_type(b"KeyboardInterrupt"),
            Some(&b"KeyboardInterrupt"[..])
        );
        assert_eq!(exception_type(b"SystemExit: 2"), Some(&b"SystemExit"[..]));
        assert_eq!(
            exception_type(b"a$b_c.DError:x"),
            Some(&b"a$b_c.DError"[..])
        );
        assert_eq!(exception_type(b"Some Error: x"), None);
        assert_eq!(exception_type(b"Error-x: y"), None);
        assert_eq!(exception_type(b"1Error: x"), None);
        assert_eq!(exception_type(b"Caused by: 1Error: x"), None);
        assert_eq!(exception_type(b"Caused by:"), None);
        assert_eq!(exception_type(b""), None);
        assert_eq!(exception_type(b": Error"), None);
        let long = [&[b'A'; 196][..], b"Error"].concat();
        assert_eq!(exception_type(&long), None, "longer than 200 bytes");
        assert!(exception_type(&long[1..]).is_some());
        assert!(is_continuation(b"... 12 more", false));
        assert!(!is_continuation(b"... 12 less", false));
        assert!(is_continuation(b"Suppressed: x", false));
        assert!(is_continuation(
            b"During handling of the above exception, x",
            false
        ));
        assert!(is_continuation(
            b"The above exception was the direct cause of the following exception:",
            false
        ));
        assert!(is_continuation(b"2026 anything", true));
        assert!(!is_continuation(b"", false));
        assert!(!is_continuation(b"Tomorrow", false));
    }
}
