//! Finding the process's libc in `/proc/self/maps` (glibc's `libc.so.6`/`libc-2.x.so`, musl's
//! `ld-musl-*.so.1`/`libc.musl-*.so.1`) and the address ranges it occupies.

use crate::sys::{self, Regions};

/// The loaded libc.
#[derive(Debug)]
pub struct Libc {
    /// Its readable mappings (executable ones marked).
    pub regions: Regions,
    /// The start of its mapping at file offset 0 (the ELF header).
    pub base: usize,
    /// musl (else glibc).
    pub musl: bool,
}

fn hex(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    s.iter().try_fold(0usize, |acc, &c| {
        let d = match c {
            b'0'..=b'9' => c.wrapping_sub(b'0'),
            b'a'..=b'f' => c.wrapping_sub(b'a').wrapping_add(10),
            _ => return None,
        };
        acc.checked_mul(16)?.checked_add(usize::from(d))
    })
}

/// One line: `start-end perms offset dev inode path`.
struct Line<'a> {
    start: usize,
    end: usize,
    read: bool,
    exec: bool,
    offset: usize,
    path: &'a [u8],
}

fn parse(line: &[u8]) -> Option<Line<'_>> {
    let mut fields = line.splitn(6, |&b| b == b' ');
    let range = fields.next()?;
    let perms = fields.next()?;
    let offset = hex(fields.next()?)?;
    let _dev = fields.next()?;
    let _inode = fields.next()?;
    let path = fields.next().unwrap_or_default().trim_ascii_start();
    let mut r = range.splitn(2, |&b| b == b'-');
    let start = hex(r.next()?)?;
    let end = hex(r.next()?)?;
    Some(Line {
        start,
        end,
        read: perms.first() == Some(&b'r'),
        exec: perms.get(2) == Some(&b'x'),
        offset,
        path,
    })
}

/// `Some(musl)` when `path` names a libc.
fn libc_kind(path: &[u8]) -> Option<bool> {
    let base = path.rsplit(|&b| b == b'/').next()?;
    if base.starts_with(b"ld-musl-") || base.starts_with(b"libc.musl-") {
        Some(true)
    } else if base.starts_with(b"libc.so") || (base.starts_with(b"libc-") && base.ends_with(b".so"))
    {
        Some(false)
    } else {
        None
    }
}

/// Reads `/proc/self/maps` into `buf` and finds the libc.
pub fn find_libc(buf: &mut [u8]) -> Option<Libc> {
    let maps = sys::read_file(b"/proc/self/maps\0", buf)?;
    let mut chosen: Option<(&[u8], bool)> = None;
    let mut regions = Regions::new();
    let mut base = None;
    for line in maps.split(|&b| b == b'\n').take(4096) {
        let Some(l) = parse(line) else {
            continue;
        };
        let musl = match chosen {
            Some((path, musl)) if path == l.path => musl,
            Some(_) => continue,
            None => match libc_kind(l.path) {
                Some(musl) => {
                    chosen = Some((l.path, musl));
                    musl
                }
                None => continue,
            },
        };
        let _ = musl;
        if l.offset == 0 && base.is_none() {
            base = Some(l.start);
        }
        if l.read {
            regions.add(l.start, l.end, l.exec);
        }
    }
    let (_, musl) = chosen?;
    Some(Libc {
        regions,
        base: base?,
        musl,
    })
}
