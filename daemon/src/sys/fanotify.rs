//! fanotify for log-writer attribution: one notification-class group (no permission events),
//! inode marks placed through a descriptor of the file itself (so a rename between `stat` and
//! the mark cannot put the mark on another file), events with a read-only descriptor of the file
//! that changed. nix's `fanotify` feature covers every call, so this wrapper needs no `unsafe`;
//! it only turns nix's events into plain facts (mask bits, pid, device + inode).

#![forbid(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use nix::errno::Errno;
use nix::sys::fanotify::{EventFFlags, Fanotify, FanotifyEvent, InitFlags, MarkFlags, MaskFlags};

/// Device and inode: the identity of a file, whatever its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

impl FileKey {
    /// The key of an open descriptor.
    pub fn of_fd(fd: impl AsFd) -> io::Result<FileKey> {
        let st = nix::sys::stat::fstat(fd).map_err(io::Error::from)?;
        Ok(FileKey {
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }

    /// The key of file metadata from std.
    pub fn of_metadata(meta: &std::fs::Metadata) -> FileKey {
        use std::os::unix::fs::MetadataExt;
        FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// One event read from the group.
#[derive(Debug)]
pub struct Event {
    /// The file was written to (`FAN_MODIFY`).
    pub modify: bool,
    /// A descriptor open for writing was closed (`FAN_CLOSE_WRITE`).
    pub close_write: bool,
    /// The kernel's queue overflowed and events were lost (`FAN_Q_OVERFLOW`).
    pub overflow: bool,
    /// The process (thread-group id) that caused the event; 0 if unknown.
    pub pid: u32,
    /// The file's device and inode; `None` for an overflow or when `fstat` failed.
    pub file: Option<FileKey>,
    raw: FanotifyEvent,
}

impl Event {
    /// The read-only descriptor of the file the kernel opened for this event (closed when the
    /// event is dropped).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.raw.fd()
    }
}

/// A fanotify group: `FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK`, event descriptors
/// `O_RDONLY | O_CLOEXEC | O_LARGEFILE`.
#[derive(Debug)]
pub struct Group {
    inner: Fanotify,
}

/// What a mark listens for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    /// `FAN_MODIFY | FAN_CLOSE_WRITE`: the next write names a writer.
    ModifyAndCloseWrite,
    /// `FAN_CLOSE_WRITE` only: the writer is known, wait for it (or another) to close.
    CloseWriteOnly,
}

impl Group {
    /// Creates the group. Needs `CAP_SYS_ADMIN` (`EPERM` otherwise).
    pub fn open() -> io::Result<Group> {
        let inner = Fanotify::init(
            InitFlags::FAN_CLASS_NOTIF | InitFlags::FAN_CLOEXEC | InitFlags::FAN_NONBLOCK,
            EventFFlags::O_RDONLY | EventFFlags::O_CLOEXEC | EventFFlags::O_LARGEFILE,
        )
        .map_err(io::Error::from)?;
        Ok(Group { inner })
    }

    /// Sets what the inode mark of the file open as `fd` listens for, creating the mark if needed.
    pub fn set(&self, fd: BorrowedFd<'_>, listen: Listen) -> io::Result<()> {
        let add = match listen {
            Listen::ModifyAndCloseWrite => MaskFlags::FAN_MODIFY | MaskFlags::FAN_CLOSE_WRITE,
            Listen::CloseWriteOnly => MaskFlags::FAN_CLOSE_WRITE,
        };
        self.mark(MarkFlags::FAN_MARK_ADD, add, fd)?;
        if listen == Listen::CloseWriteOnly {
            // Removing a bit keeps the mark as long as other bits remain.
            self.mark(MarkFlags::FAN_MARK_REMOVE, MaskFlags::FAN_MODIFY, fd)?;
        }
        Ok(())
    }

    /// Removes the inode mark of the file open as `fd`. `ENOENT` (no mark) is not an error.
    pub fn remove(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        match self.mark(
            MarkFlags::FAN_MARK_REMOVE,
            MaskFlags::FAN_MODIFY | MaskFlags::FAN_CLOSE_WRITE,
            fd,
        ) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            other => other,
        }
    }

    fn mark(&self, flags: MarkFlags, mask: MaskFlags, fd: BorrowedFd<'_>) -> io::Result<()> {
        // A null path makes the kernel mark the object `fd` refers to.
        self.inner
            .mark::<_, std::path::Path>(flags | MarkFlags::FAN_MARK_INODE, mask, fd, None)
            .map_err(io::Error::from)
    }

    /// Reads the events waiting (one `read`); `WouldBlock` when there are none.
    pub fn read(&self) -> io::Result<Vec<Event>> {
        let events = loop {
            match self.inner.read_events() {
                Err(Errno::EINTR) => continue,
                other => break other.map_err(io::Error::from)?,
            }
        };
        Ok(events
            .into_iter()
            .filter(|raw| raw.check_version())
            .map(|raw| {
                let mask = raw.mask();
                let file = raw.fd().and_then(|fd| FileKey::of_fd(fd).ok());
                Event {
                    modify: mask.contains(MaskFlags::FAN_MODIFY),
                    close_write: mask.contains(MaskFlags::FAN_CLOSE_WRITE),
                    overflow: mask.contains(MaskFlags::FAN_Q_OVERFLOW),
                    pid: u32::try_from(raw.pid()).unwrap_or(0),
                    file,
                    raw,
                }
            })
            .collect())
    }
}

impl AsFd for Group {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for Group {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}
