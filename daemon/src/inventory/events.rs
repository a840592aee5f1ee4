//! Decoding of the kernel's process events connector messages (netlink + `cn_msg` +
//! `proc_event`). Pure functions over bytes; the socket is in `sys::proc_connector`.

#![forbid(unsafe_code)]

const NLMSG_HDR: usize = 16;
const CN_MSG_HDR: usize = 20;
const PROC_EVENT_HDR: usize = 16;

const PROC_EVENT_FORK: u32 = 0x0000_0001;
const PROC_EVENT_EXEC: u32 = 0x0000_0002;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;

/// A process event that concerns a whole process (thread-group leader).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcEvent {
    /// A new process (not a thread) was forked.
    Fork {
        /// The parent.
        parent: u32,
        /// The child.
        child: u32,
    },
    /// A process replaced its image.
    Exec {
        /// The process.
        pid: u32,
    },
    /// A process exited.
    Exit {
        /// The process.
        pid: u32,
        /// The wait status (exit code << 8 | terminating signal).
        status: u32,
    },
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(bytes.try_into().ok()?))
}

/// Decodes every event in one datagram; malformed parts are skipped, never a panic.
pub fn decode(datagram: &[u8], out: &mut Vec<ProcEvent>) {
    let mut offset = 0usize;
    while let Some(len) = u32_at(datagram, offset) {
        let len = len as usize;
        if len < NLMSG_HDR {
            return;
        }
        let Some(msg) = datagram.get(offset..offset.saturating_add(len)) else {
            return;
        };
        if let Some(event) = decode_message(msg) {
            out.push(event);
        }
        offset = offset.saturating_add((len + 3) & !3);
    }
}

fn decode_message(msg: &[u8]) -> Option<ProcEvent> {
    let ev = NLMSG_HDR + CN_MSG_HDR;
    let what = u32_at(msg, ev)?;
    let data = ev + PROC_EVENT_HDR;
    match what {
        PROC_EVENT_FORK => {
            let parent = u32_at(msg, data + 4)?; // parent_tgid
            let child_pid = u32_at(msg, data + 8)?;
            let child_tgid = u32_at(msg, data + 12)?;
            (child_pid == child_tgid).then_some(ProcEvent::Fork {
                parent,
                child: child_tgid,
            })
        }
        PROC_EVENT_EXEC => {
            let pid = u32_at(msg, data)?;
            let tgid = u32_at(msg, data + 4)?;
            (pid == tgid).then_some(ProcEvent::Exec { pid: tgid })
        }
        PROC_EVENT_EXIT => {
            let pid = u32_at(msg, data)?;
            let tgid = u32_at(msg, data + 4)?;
            let status = u32_at(msg, data + 8)?;
            (pid == tgid).then_some(ProcEvent::Exit { pid: tgid, status })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(what: u32, data: &[u32]) -> Vec<u8> {
        let len = NLMSG_HDR + CN_MSG_HDR + PROC_EVENT_HDR + data.len() * 4;
        let mut m = vec![0u8; len];
        m[..4].copy_from_slice(&(len as u32).to_ne_bytes());
        let ev = NLMSG_HDR + CN_MSG_HDR;
        m[ev..ev + 4].copy_from_slice(&what.to_ne_bytes());
        for (i, v) in data.iter().enumerate() {
            let at = ev + PROC_EVENT_HDR + i * 4;
            m[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        }
        m
    }

    #[test]
    fn decodes_fork_exec_exit_and_ignores_threads() {
        let mut out = Vec::new();
        decode(&message(PROC_EVENT_FORK, &[1, 1, 42, 42]), &mut out);
        decode(&message(PROC_EVENT_FORK, &[1, 1, 43, 42]), &mut out); // a thread
        decode(&message(PROC_EVENT_EXEC, &[42, 42]), &mut out);
        decode(&message(PROC_EVENT_EXIT, &[42, 42, 9, 9, 1, 1]), &mut out);
        decode(&message(PROC_EVENT_EXIT, &[43, 42, 0, 0, 1, 1]), &mut out); // a thread
        assert_eq!(
            out,
            [
                ProcEvent::Fork {
                    parent: 1,
                    child: 42
                },
                ProcEvent::Exec { pid: 42 },
                ProcEvent::Exit { pid: 42, status: 9 },
            ]
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut out = Vec::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..300 {
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            decode(&buf, &mut out);
        }
        decode(&[0xff; 64], &mut out);
    }
}
