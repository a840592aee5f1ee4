//! Lists of byte strings: argv, environment, library names, policy lists.

use core::fmt;

/// Entries reachable by index, for callers whose entries live in neither a NUL-separated buffer nor a
/// slice of slices. The preload library wraps the `argv`/`envp` arrays glibc hands to its constructor
/// in one of these, so it need not copy them.
pub trait EntrySource {
    /// Number of entries.
    fn entry_count(&self) -> usize;
    /// The entry at `index`, or `None` past the end. Entries must not contain their terminating NUL.
    fn entry(&self, index: usize) -> Option<&[u8]>;
}

/// A NUL-separated buffer, exactly like `/proc/PID/cmdline` and `/proc/PID/environ`.
///
/// The trailing NUL is optional: `a\0b\0` and `a\0b` both hold `a`, `b`. An empty buffer holds no
/// entries; `\0` holds one empty entry; `a\0\0b` holds `a`, ``, `b`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NulList<'a> {
    buf: &'a [u8],
}

impl<'a> NulList<'a> {
    /// Wraps a NUL-separated buffer (no copy).
    pub const fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// The underlying buffer.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Iterates over the entries.
    pub fn iter(&self) -> NulIter<'a> {
        NulIter { rest: self.buf }
    }
}

impl<'a> IntoIterator for NulList<'a> {
    type Item = &'a [u8];
    type IntoIter = NulIter<'a>;
    fn into_iter(self) -> NulIter<'a> {
        self.iter()
    }
}

/// Iterator over the entries of a [`NulList`].
#[derive(Clone, Debug)]
pub struct NulIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for NulIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        match self.rest.iter().position(|&b| b == 0) {
            Some(i) => {
                let (item, tail) = self.rest.split_at_checked(i)?;
                self.rest = tail.get(1..).unwrap_or_default();
                Some(item)
            }
            None => {
                let item = self.rest;
                self.rest = &[];
                Some(item)
            }
        }
    }
}

/// A list of byte strings, borrowed in one of three shapes; no allocation, cheap to copy.
#[derive(Clone, Copy)]
pub enum ByteList<'a> {
    /// A NUL-separated buffer (`/proc/PID/cmdline`, `/proc/PID/environ`).
    Nul(NulList<'a>),
    /// A slice of slices (what a CLI or a test builds).
    Slices(&'a [&'a [u8]]),
    /// Entries provided by the caller through [`EntrySource`].
    Source(&'a dyn EntrySource),
}

impl<'a> ByteList<'a> {
    /// The empty list.
    pub const EMPTY: ByteList<'static> = ByteList::Slices(&[]);

    /// A list over a NUL-separated buffer.
    pub const fn nul(buf: &'a [u8]) -> Self {
        Self::Nul(NulList::new(buf))
    }

    /// A list over a slice of slices.
    pub const fn slices(entries: &'a [&'a [u8]]) -> Self {
        Self::Slices(entries)
    }

    /// Iterates over the entries (callers bound how many they look at).
    pub fn iter(&self) -> ByteListIter<'a> {
        ByteListIter {
            inner: match *self {
                Self::Nul(n) => Inner::Nul(n.iter()),
                Self::Slices(s) => Inner::Slices(s.iter()),
                Self::Source(src) => Inner::Source {
                    src,
                    next: 0,
                    len: src.entry_count(),
                },
            },
        }
    }

    /// The first entry, if any.
    pub fn first(&self) -> Option<&'a [u8]> {
        self.iter().next()
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.first().is_none()
    }
}

impl Default for ByteList<'_> {
    fn default() -> Self {
        ByteList::EMPTY
    }
}

impl fmt::Debug for ByteList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for entry in self.iter().take(64) {
            list.entry(&crate::DebugBytes(entry));
        }
        list.finish()
    }
}

impl<'a> From<NulList<'a>> for ByteList<'a> {
    fn from(n: NulList<'a>) -> Self {
        Self::Nul(n)
    }
}

impl<'a> From<&'a [&'a [u8]]> for ByteList<'a> {
    fn from(s: &'a [&'a [u8]]) -> Self {
        Self::Slices(s)
    }
}

impl<'a, const N: usize> From<&'a [&'a [u8]; N]> for ByteList<'a> {
    fn from(s: &'a [&'a [u8]; N]) -> Self {
        Self::Slices(s)
    }
}

impl<'a> From<&'a dyn EntrySource> for ByteList<'a> {
    fn from(src: &'a dyn EntrySource) -> Self {
        Self::Source(src)
    }
}

impl<'a> IntoIterator for ByteList<'a> {
    type Item = &'a [u8];
    type IntoIter = ByteListIter<'a>;
    fn into_iter(self) -> ByteListIter<'a> {
        self.iter()
    }
}

/// Iterator over the entries of a [`ByteList`].
#[derive(Clone)]
pub struct ByteListIter<'a> {
    inner: Inner<'a>,
}

#[derive(Clone)]
enum Inner<'a> {
    Nul(NulIter<'a>),
    Slices(core::slice::Iter<'a, &'a [u8]>),
    Source {
        src: &'a dyn EntrySource,
        next: usize,
        len: usize,
    },
}

impl fmt::Debug for ByteListIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ByteListIter")
    }
}

impl<'a> Iterator for ByteListIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match &mut self.inner {
            Inner::Nul(it) => it.next(),
            Inner::Slices(it) => it.next().copied(),
            Inner::Source { src, next, len } => {
                if *next >= *len {
                    return None;
                }
                let index = *next;
                *next = next.saturating_add(1);
                // A source that answers `None` inside its range yields an empty entry, so that
                // positions stay meaningful.
                Some(src.entry(index).unwrap_or_default())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn collect(buf: &[u8]) -> Vec<&[u8]> {
        NulList::new(buf).iter().collect()
    }

    #[test]
    fn nul_list_shapes() {
        assert!(collect(b"").is_empty());
        assert_eq!(collect(b"\0"), [&b""[..]]);
        assert_eq!(collect(b"a\0b\0"), [&b"a"[..], b"b"]);
        assert_eq!(collect(b"a\0b"), [&b"a"[..], b"b"]);
        assert_eq!(collect(b"a\0\0b"), [&b"a"[..], b"", b"b"]);
        assert_eq!(collect(b"a\0\0"), [&b"a"[..], b""]);
    }

    struct Three;
    impl EntrySource for Three {
        fn entry_count(&self) -> usize {
            3
        }
        fn entry(&self, index: usize) -> Option<&[u8]> {
            [&b"x"[..], b"y"].get(index).copied()
        }
    }

    #[test]
    fn all_shapes_iterate() {
        let s: &[&[u8]] = &[b"a", b"b"];
        assert_eq!(ByteList::from(s).iter().count(), 2);
        assert!(ByteList::EMPTY.is_empty());
        let src = Three;
        let list = ByteList::Source(&src);
        let v: Vec<&[u8]> = list.iter().collect();
        assert_eq!(v, [&b"x"[..], b"y", b""]);
        assert_eq!(list.first(), Some(&b"x"[..]));
    }
}
