//! The one way the daemon opens a file it does not own: a path named by a process (its
//! executable, script, `package.json`, `/proc` files), by a user (`explain`, log files under the
//! log roots) or by the administrator (the configuration file).
//!
//! Every such open
//! - refuses anything but a regular file *before* opening it (opening a device can have side
//!   effects, opening a FIFO blocks) and again on the descriptor after opening it (the path may
//!   have been swapped in between);
//! - uses `O_NONBLOCK | O_NOCTTY | O_CLOEXEC`, so a FIFO swapped in at the last moment cannot
//!   freeze the thread and a terminal never becomes our controlling terminal;
//! - reads with a size cap ([`read_capped`]);
//! - with [`Links::Protected`], never follows a symbolic link whose owner could not have read
//!   the file it leads to (the kernel's `protected_symlinks` rule as the model): a link owned by
//!   another user than root is followed only to a file that user owns. Otherwise any user who can
//!   write under a log root could make the daemon, which runs as root, export `/root/secret`.

#![forbid(unsafe_code)]

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Whether symbolic links on the way to the file are trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Follow every link: the path comes from root (configuration) or from the kernel (`/proc`).
    Follow,
    /// Follow a link only when its owner is root or owns the file it leads to.
    Protected,
}

/// The file type of `meta` in words, for messages; `None` for a regular file.
fn special_kind(meta: &Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    Some(if t.is_file() {
        return None;
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    })
}

fn require_regular(path: &Path, meta: &Metadata) -> Result<()> {
    match special_kind(meta) {
        None => Ok(()),
        Some(kind) => Err(Error::NotRegularFile {
            path: path.to_owned(),
            kind,
        }),
    }
}

/// Options of [`open`].
#[derive(Debug, Clone, Copy)]
pub struct OpenOpts {
    /// Whether links are trusted.
    pub links: Links,
    /// Try `O_NOATIME` (falls back to a plain open when we do not own the file and lack
    /// `CAP_FOWNER`).
    pub noatime: bool,
}

impl OpenOpts {
    /// Follow links (root's and the kernel's paths), keep atime.
    pub const TRUSTED: OpenOpts = OpenOpts {
        links: Links::Follow,
        noatime: false,
    };
    /// Links checked, atime kept: files named by processes and users.
    pub const UNTRUSTED: OpenOpts = OpenOpts {
        links: Links::Protected,
        noatime: false,
    };
}

fn open_flags(noatime: bool) -> i32 {
    let base = libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
    if noatime {
        base | libc::O_NOATIME
    } else {
        base
    }
}

/// Opens `path` for reading as described in the module documentation; returns the file and its
/// metadata (taken from the descriptor).
pub fn open(path: &Path, opts: OpenOpts) -> Result<(File, Metadata)> {
    let before = std::fs::metadata(path).map_err(|e| Error::io("reading", path, e))?;
    require_regular(path, &before)?;
    let mut result = OpenOptions::new()
        .read(true)
        .custom_flags(open_flags(opts.noatime))
        .open(path);
    if opts.noatime && matches!(&result, Err(e) if e.raw_os_error() == Some(libc::EPERM)) {
        result = OpenOptions::new()
            .read(true)
            .custom_flags(open_flags(false))
            .open(path);
    }
    let file = result.map_err(|e| Error::io("opening", path, e))?;
    let meta = file.metadata().map_err(|e| Error::io("reading", path, e))?;
    require_regular(path, &meta)?;
    if opts.links == Links::Protected {
        check_links(path, &file, &meta)?;
    }
    Ok((file, meta))
}

/// The path the kernel says `file` has, when `/proc` is there to ask.
fn real_path(file: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

/// Refuses `path` when a link on the way to `file` belongs to a user who does not own `file`
/// (and is not root).
fn check_links(path: &Path, file: &File, meta: &Metadata) -> Result<()> {
    let absolute = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io("reading", path, e))?
            .join(path)
    };
    let real = real_path(file);
    if real.as_deref() == Some(absolute.as_path()) {
        // The kernel reached the file by exactly this path: no link was followed.
        return Ok(());
    }
    // Some link was followed (or /proc is not there): look at every link on the way.
    let mut prefix = PathBuf::new();
    for component in absolute.components() {
        prefix.push(component);
        let Ok(link) = std::fs::symlink_metadata(&prefix) else {
            continue;
        };
        if link.file_type().is_symlink() && link.uid() != 0 && link.uid() != meta.uid() {
            return Err(Error::UntrustedLink {
                path: path.to_owned(),
                link: prefix,
                link_owner: link.uid(),
                file_owner: meta.uid(),
            });
        }
    }
    // The links may have been swapped after the open: the path must still lead to the same
    // place, else refuse rather than guess.
    if let Some(real) = real {
        let now = std::fs::canonicalize(&absolute).ok();
        if now.as_deref() != Some(real.as_path()) {
            return Err(Error::UntrustedLink {
                path: path.to_owned(),
                link: absolute,
                link_owner: u32::MAX,
                file_owner: meta.uid(),
            });
        }
    }
    Ok(())
}

/// Reads at most `cap` bytes of `file`; more is an error ([`Error::TooLarge`]).
pub fn read_file_capped(path: &Path, file: File, cap: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    file.take(cap.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| Error::io("reading", path, e))?;
    if out.len() as u64 > cap {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            limit: cap,
        });
    }
    Ok(out)
}

/// Opens `path` with [`open`] and reads it whole, at most `cap` bytes.
pub fn read_capped(path: &Path, cap: u64, opts: OpenOpts) -> Result<Vec<u8>> {
    let (file, _) = open(path, opts)?;
    read_file_capped(path, file, cap)
}

/// Reads the first `cap` bytes of `path` (a longer file is not an error): `/proc` files and
/// file heads.
pub fn read_head(path: &Path, cap: u64, opts: OpenOpts) -> Result<Vec<u8>> {
    let (file, _) = open(path, opts)?;
    let mut out = Vec::new();
    file.take(cap)
        .read_to_end(&mut out)
        .map_err(|e| Error::io("reading", path, e))?;
    Ok(out)
}

/// A small `/proc` file (at most 4 KiB), as text; `None` when it cannot be read.
pub fn read_proc_text(path: &Path) -> Option<String> {
    read_head(path, 4096, OpenOpts::TRUSTED)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

/// Whether the error means the path does not exist.
pub fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("package.json");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let e = read_capped(&fifo, 1024, OpenOpts::UNTRUSTED).unwrap_err();
        assert!(
            matches!(e, Error::NotRegularFile { kind: "a FIFO", .. }),
            "{e}"
        );
    }

    #[test]
    fn devices_and_directories_are_refused() {
        let e = read_capped(Path::new("/dev/zero"), 1024, OpenOpts::TRUSTED).unwrap_err();
        assert!(
            matches!(
                e,
                Error::NotRegularFile {
                    kind: "a character device",
                    ..
                }
            ),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let e = read_capped(dir.path(), 1024, OpenOpts::TRUSTED).unwrap_err();
        assert!(
            matches!(
                e,
                Error::NotRegularFile {
                    kind: "a directory",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn reads_are_capped() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("big");
        std::fs::write(&f, vec![b'x'; 2000]).unwrap();
        assert!(matches!(
            read_capped(&f, 1000, OpenOpts::UNTRUSTED),
            Err(Error::TooLarge { limit: 1000, .. })
        ));
        assert_eq!(
            read_capped(&f, 2000, OpenOpts::UNTRUSTED).unwrap().len(),
            2000
        );
        assert_eq!(read_head(&f, 10, OpenOpts::UNTRUSTED).unwrap().len(), 10);
    }

    #[test]
    fn own_links_are_followed() {
        // Link and file have the same owner (whoever runs the test): allowed.
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("real.log");
        std::fs::write(&f, b"x").unwrap();
        let link = dir.path().join("link.log");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert_eq!(read_capped(&link, 10, OpenOpts::UNTRUSTED).unwrap(), b"x");
    }
}
