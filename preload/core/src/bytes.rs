//! Byte-slice helpers: no allocation, no indexing, no arithmetic that can overflow.

/// At most this many bytes of a single entry are searched for substrings.
pub(crate) const MAX_SCAN: usize = 65_536;

/// The last `/`-separated component of `path` (the whole slice when there is no `/`).
pub(crate) fn basename(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

/// Everything before the last `/`, or `None` when `path` has no `/`.
pub(crate) fn dirname(path: &[u8]) -> Option<&[u8]> {
    let mut it = path.rsplitn(2, |&b| b == b'/');
    it.next()?;
    it.next()
}

/// Splits at the first `sep`, dropping the separator.
pub(crate) fn split_once(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|&b| b == sep)?;
    let (head, tail) = s.split_at_checked(i)?;
    Some((head, tail.get(1..).unwrap_or_default()))
}

/// The part before the first `sep` (the whole slice when there is none).
pub(crate) fn before(s: &[u8], sep: u8) -> &[u8] {
    split_once(s, sep).map_or(s, |(head, _)| head)
}

/// `s` cut to at most `max` bytes.
pub(crate) fn cap(s: &[u8], max: usize) -> &[u8] {
    s.get(..max).unwrap_or(s)
}

/// Whether `needle` occurs in the first [`MAX_SCAN`] bytes of `haystack`.
pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    cap(haystack, MAX_SCAN)
        .windows(needle.len())
        .any(|w| w == needle)
}

/// Like [`contains`], ignoring ASCII case.
pub(crate) fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    cap(haystack, MAX_SCAN)
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// `s` without `suffix`, compared ignoring ASCII case.
pub(crate) fn strip_suffix_ci<'a>(s: &'a [u8], suffix: &[u8]) -> Option<&'a [u8]> {
    let at = s.len().checked_sub(suffix.len())?;
    let (head, tail) = s.split_at_checked(at)?;
    tail.eq_ignore_ascii_case(suffix).then_some(head)
}

/// `s` without `prefix`, compared ignoring ASCII case.
pub(crate) fn strip_prefix_ci<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let (head, tail) = s.split_at_checked(prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then_some(tail)
}

/// A non-empty run of digits and dots starting with a digit (`3`, `3.11`, `8.0.1`).
pub(crate) fn is_version(s: &[u8]) -> bool {
    s.first().is_some_and(u8::is_ascii_digit) && s.iter().all(|b| b.is_ascii_digit() || *b == b'.')
}

/// Splits `s` into the leading digits-and-dots run and the rest.
pub(crate) fn split_version(s: &[u8]) -> (&[u8], &[u8]) {
    let end = s
        .iter()
        .position(|b| !(b.is_ascii_digit() || *b == b'.'))
        .unwrap_or(s.len());
    s.split_at_checked(end).unwrap_or((s, &[]))
}

/// Whitespace-separated tokens of the first [`MAX_SCAN`] bytes of `s`.
pub(crate) fn tokens(s: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    cap(s, MAX_SCAN)
        .split(|b| b.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
}

/// Whether every byte is a hexadecimal digit.
pub(crate) fn is_hex(s: &[u8]) -> bool {
    s.iter().all(u8::is_ascii_hexdigit)
}

/// `/proc/PID/exe` of a replaced binary ends with ` (deleted)`.
pub(crate) fn strip_deleted(path: &[u8]) -> &[u8] {
    path.strip_suffix(b" (deleted)").unwrap_or(path)
}

/// Writes bytes to a formatter: valid UTF-8 as is, invalid sequences as U+FFFD, control characters
/// as `?` (so a reason never breaks a log line).
pub(crate) fn write_bytes(f: &mut core::fmt::Formatter<'_>, bytes: &[u8]) -> core::fmt::Result {
    use core::fmt::Write as _;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            f.write_char(if c.is_control() { '?' } else { c })?;
        }
        if !chunk.invalid().is_empty() {
            f.write_char('\u{FFFD}')?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(basename(b"/usr/bin/java"), b"java");
        assert_eq!(basename(b"java"), b"java");
        assert_eq!(basename(b"/usr/bin/"), b"");
        assert_eq!(dirname(b"/srv/shop/manage.py"), Some(&b"/srv/shop"[..]));
        assert_eq!(dirname(b"manage.py"), None);
        assert_eq!(split_once(b"a=b=c", b'='), Some((&b"a"[..], &b"b=c"[..])));
        assert_eq!(split_once(b"abc", b'='), None);
        assert!(contains(b"hello world", b"o w"));
        assert!(!contains(b"hi", b"hello"));
        assert!(contains_ignore_case(b"/opt/Dynatrace/x", b"dynatrace"));
        assert_eq!(strip_suffix_ci(b"App.JAR", b".jar"), Some(&b"App"[..]));
        assert_eq!(strip_suffix_ci(b"r", b".jar"), None);
        assert!(is_version(b"3.11"));
        assert!(!is_version(b".3"));
        assert!(!is_version(b""));
        assert_eq!(split_version(b"3.11d"), (&b"3.11"[..], &b"d"[..]));
        assert_eq!(tokens(b"  -a  -b\t-c ").count(), 3);
        assert_eq!(strip_deleted(b"/x (deleted)"), b"/x");
    }
}
