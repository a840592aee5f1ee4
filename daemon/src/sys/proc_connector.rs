//! The kernel's process events connector (netlink `NETLINK_CONNECTOR`, `CN_IDX_PROC`): one
//! message per fork, exec and exit on the host, so the inventory follows processes without
//! polling. Needs `CAP_NET_ADMIN` and the initial network namespace.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const NETLINK_CONNECTOR: libc::c_int = 11;
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const NLMSG_DONE: u16 = 3;

/// A subscribed connector socket (non-blocking, close-on-exec).
#[derive(Debug)]
pub struct ProcConnector {
    fd: OwnedFd,
}

impl ProcConnector {
    /// Opens the socket, joins the proc events group and asks the kernel to start sending.
    pub fn open() -> io::Result<ProcConnector> {
        // SAFETY: plain socket(2) call with constant arguments; the result is checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                NETLINK_CONNECTOR,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh, valid descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };

        // A larger receive buffer absorbs bursts (fork storms) between two reads, which the
        // daemon spaces out to batch them. SO_RCVBUF is capped by net.core.rmem_max (about
        // 200 KiB by default, a few hundred events); SO_RCVBUFFORCE is not, and needs
        // CAP_NET_ADMIN, which the connector needs anyway.
        let size: libc::c_int = 4 << 20;
        for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
            // SAFETY: `size` lives across the call and its length is passed; failure is
            // harmless (the next option, or the default size).
            let rc = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    option,
                    (&size as *const libc::c_int).cast(),
                    size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc == 0 {
                break;
            }
        }

        // SAFETY: sockaddr_nl is plain old data; all-zero is a valid value.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_pid = 0; // let the kernel choose a unique port id
        addr.nl_groups = CN_IDX_PROC;
        // SAFETY: `addr` is a valid sockaddr_nl and its exact size is passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }

        // nlmsghdr (16) + cn_msg (20) + op (4).
        let mut msg = [0u8; 40];
        let fields: [(usize, &[u8]); 8] = [
            (0, &40u32.to_ne_bytes()),
            (4, &NLMSG_DONE.to_ne_bytes()),
            (12, &std::process::id().to_ne_bytes()),
            (16, &CN_IDX_PROC.to_ne_bytes()),
            (20, &CN_VAL_PROC.to_ne_bytes()),
            (32, &4u16.to_ne_bytes()),
            (36, &PROC_CN_MCAST_LISTEN.to_ne_bytes()),
            (6, &0u16.to_ne_bytes()),
        ];
        for (at, bytes) in fields {
            if let Some(dst) = msg.get_mut(at..at + bytes.len()) {
                dst.copy_from_slice(bytes);
            }
        }
        // SAFETY: `msg` is a valid buffer of the given length for the duration of the call.
        let sent = unsafe { libc::send(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ProcConnector { fd })
    }

    /// Reads one datagram; `WouldBlock` when none is waiting. `ENOBUFS` means events were lost.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes during the call.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl AsFd for ProcConnector {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for ProcConnector {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

impl ProcConnector {
    /// Registers the socket with the tokio reactor (readable interest). Must run inside a runtime.
    pub fn into_async(self) -> io::Result<tokio::io::unix::AsyncFd<ProcConnector>> {
        // SAFETY: `ProcConnector` owns its descriptor in an `OwnedFd` that is neither closed nor
        // replaced while it lives, and `as_raw_fd` always returns that same descriptor.
        unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(self, tokio::io::Interest::READABLE)
        }
        .map_err(|e| e.into_parts().1)
    }
}
