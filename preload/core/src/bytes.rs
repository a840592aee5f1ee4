//! Byte-slice helpers: no allocation, no indexing, no arithmetic that can overflow.

/// At most this many bytes of a single entry are searched for substrings.
pub(crate) const MAX_SCAN: usize = 65_536;

/// At most this many entries of any other list (libraries, policy lists) are looked at.
pub const MAX_LIST: usize = 1024;

/// The false spellings of a boolean variable: `0`, `false`, `no`, `off`, `n`, `f` (ASCII case and
/// surrounding whitespace ignored).
pub fn is_false(value: &[u8]) -> bool {
    let v = value.trim_ascii();
    [&b"0"[..], b"false", b"no", b"off", b"n", b"f"]
        .iter()
        .any(|f| v.eq_ignore_ascii_case(f))
}

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

/// A constant list of short byte strings stored as one blob (each entry: a length byte, then its
/// bytes). Unlike a `&[&[u8]]` table it holds no pointers, so it needs no load-time relocation in a
/// position-independent library (the preload library is loaded into every process: each relocated
/// pointer is loader work and a dirtied page). Built at compile time by `words!` and
/// `pairs!`.
#[derive(Clone, Copy)]
pub(crate) struct Words(&'static [u8]);

impl Words {
    /// Wraps a blob built by [`Words::blob`].
    pub(crate) const fn new(blob: &'static [u8]) -> Self {
        Self(blob)
    }

    /// The blob's length for `entries`. Compile time only (the macros call it in `const` items),
    /// where a failed assertion, index or overflow is a build error, never a run-time panic.
    #[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
    pub(crate) const fn blob_len(entries: &[&[u8]]) -> usize {
        let mut n = 0;
        let mut i = 0;
        while i < entries.len() {
            let e = entries[i];
            assert!(e.len() <= 255, "table entry longer than 255 bytes");
            n += 1 + e.len();
            i += 1;
        }
        n
    }

    /// The blob for `entries` (`N` is [`Words::blob_len`]). Compile time only, like `blob_len`.
    #[allow(
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing,
        clippy::cast_possible_truncation
    )]
    pub(crate) const fn blob<const N: usize>(entries: &[&[u8]]) -> [u8; N] {
        let mut out = [0u8; N];
        let mut at = 0;
        let mut i = 0;
        while i < entries.len() {
            let e = entries[i];
            out[at] = e.len() as u8;
            at += 1;
            let mut j = 0;
            while j < e.len() {
                out[at] = e[j];
                at += 1;
                j += 1;
            }
            i += 1;
        }
        assert!(at == N, "blob length mismatch");
        out
    }

    /// The entries, in order.
    pub(crate) fn iter(self) -> WordsIter {
        WordsIter(self.0)
    }

    /// Whether `s` is one of the entries.
    pub(crate) fn contains<S: AsRef<[u8]> + ?Sized>(self, s: &S) -> bool {
        let s = s.as_ref();
        self.iter().any(|e| e == s)
    }
}

/// Iterator over the entries of a [`Words`].
#[derive(Clone)]
pub(crate) struct WordsIter(&'static [u8]);

impl Iterator for WordsIter {
    type Item = &'static [u8];

    fn next(&mut self) -> Option<&'static [u8]> {
        let (&n, rest) = self.0.split_first()?;
        let (entry, rest) = rest.split_at_checked(usize::from(n))?;
        self.0 = rest;
        Some(entry)
    }
}

/// A constant list of byte-string pairs, stored like [`Words`] (first, second, first, …).
#[derive(Clone, Copy)]
pub(crate) struct Pairs(pub(crate) Words);

impl Pairs {
    /// The pairs, in order.
    pub(crate) fn iter(self) -> impl Iterator<Item = (&'static [u8], &'static [u8])> + Clone {
        let mut it = self.0.iter();
        core::iter::from_fn(move || Some((it.next()?, it.next()?)))
    }
}

/// A [`Words`] table: `words![b"a", b"bc"]`.
macro_rules! words {
    ($($e:expr),* $(,)?) => {{
        const ENTRIES: &[&[u8]] = &[$($e),*];
        const BLOB: [u8; $crate::bytes::Words::blob_len(ENTRIES)] =
            $crate::bytes::Words::blob(ENTRIES);
        $crate::bytes::Words::new(&BLOB)
    }};
}

/// A [`Pairs`] table: `pairs![(b"a", b"x"), (b"b", b"y")]`.
macro_rules! pairs {
    ($(($a:expr, $b:expr $(,)?)),* $(,)?) => {
        $crate::bytes::Pairs($crate::bytes::words![$($a, $b),*])
    };
}

pub(crate) use {pairs, words};

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

    #[test]
    fn tables() {
        const W: Words = crate::bytes::words![b"a", b"", b"bcd"];
        assert!(W.iter().eq([&b"a"[..], b"", b"bcd"]));
        assert!(W.contains(b"bcd") && W.contains(b"") && !W.contains(b"bc"));
        const E: Words = crate::bytes::words![];
        assert_eq!(E.iter().count(), 0);
        const P: Pairs = crate::bytes::pairs![(b"k", b"v"), (b"k2", b"")];
        assert!(
            P.iter()
                .eq([(&b"k"[..], &b"v"[..]), (&b"k2"[..], &b""[..])])
        );
    }
}
