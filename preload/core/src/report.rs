//! The preload report: one unix datagram the library sends to the daemon per decision about a
//! runtime process (`/run/oneagent/preload.sock`, `SOCK_DGRAM`, `MSG_DONTWAIT`). The daemon learns
//! the sender's pid and uid from `SO_PEERCRED`, never from the payload.
//!
//! # Format (version 2)
//!
//! ```text
//! offset size
//!  0     4    magic b"OAPR"
//!  4     1    version (1); a newer version is refused
//!  5     1    action: 0 skip, 1 inject
//!  6     1    reason: index into Reason::CODES
//!  7     1    outcome: Outcome as u8 (what the library did)
//!  8     1    language: 0 none, else 1 + index into Language::ALL
//!  9     1    flags: bit 0 = our agent was already configured; other bits must be 0
//! 10     1    n = service name length (≤ 64)
//! 11     n    service name ([a-z0-9._-])
//!  .     1    m = runtime version length (≤ 32)
//!  .     m    runtime version (ASCII graphic characters)
//!  .     2    e = executable path length, little-endian (≤ 4096; 0 when unknown)
//!  .     e    executable path as the process sees it (`/proc/self/exe`): in a container, the
//!             container's own path, which the crash circuit breaker blocks in the containers'
//!             snapshot (no NUL byte)
//! ```
//!
//! [`decode`] validates every byte and never panics; a datagram with trailing bytes is refused.
//! Version 1 (without the executable) is refused like any other: the library and the daemon
//! come from one build.

use core::fmt;

use crate::model::{Action, Decision, Language, Reason};
use crate::name::ServiceName;

/// The first four bytes of every report.
pub const MAGIC: [u8; 4] = *b"OAPR";
/// The format version this code writes and reads.
pub const VERSION: u8 = 2;
/// Longest runtime version kept.
pub const MAX_VERSION_LEN: usize = 32;
/// Longest executable path sent (`PATH_MAX`); a longer one is sent as unknown.
pub const MAX_EXE_LEN: usize = 4096;
/// Largest datagram (a receive buffer of this size never truncates a valid report).
pub const MAX_REPORT: usize = 11 + ServiceName::MAX_LEN + 1 + MAX_VERSION_LEN + 2 + MAX_EXE_LEN;

/// What the library did after the decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The decision was to skip: nothing was done.
    Skipped,
    /// The environment was changed.
    Injected,
    /// Our agent was already configured and nothing was missing: nothing was changed.
    NothingToDo,
    /// The agent file is missing or unreadable: no flag was set.
    AgentMissing,
    /// The agent file is not what it should be (a jar that is not a zip, …): no flag was set.
    AgentInvalid,
    /// The user configured the runtime's profiler/agent variables themselves: we stood down.
    UserConfigured,
    /// An agent path from the snapshot cannot be put in the variable safely (whitespace, `:`, …).
    UnsafePath,
    /// The process's libc or its `setenv` could not be found (static, Go, unusual libc).
    NoSetenv,
    /// `setenv` returned an error.
    SetenvFailed,
    /// The environment plan did not fit the library's buffer.
    PlanTooLarge,
}

impl Outcome {
    /// Every outcome, in wire order.
    pub const ALL: [Outcome; 10] = [
        Self::Skipped,
        Self::Injected,
        Self::NothingToDo,
        Self::AgentMissing,
        Self::AgentInvalid,
        Self::UserConfigured,
        Self::UnsafePath,
        Self::NoSetenv,
        Self::SetenvFailed,
        Self::PlanTooLarge,
    ];

    /// Stable machine code (`kebab-case`).
    pub const fn code(self) -> &'static str {
        match self {
            Self::Skipped => "skipped",
            Self::Injected => "injected",
            Self::NothingToDo => "nothing-to-do",
            Self::AgentMissing => "agent-missing",
            Self::AgentInvalid => "agent-invalid",
            Self::UserConfigured => "user-configured",
            Self::UnsafePath => "unsafe-path",
            Self::NoSetenv => "no-setenv",
            Self::SetenvFailed => "setenv-failed",
            Self::PlanTooLarge => "plan-too-large",
        }
    }

    /// The wire byte.
    pub fn to_u8(self) -> u8 {
        Self::ALL
            .iter()
            .position(|o| *o == self)
            .and_then(|i| u8::try_from(i).ok())
            .unwrap_or(u8::MAX)
    }

    /// From the wire byte.
    pub fn from_u8(b: u8) -> Option<Self> {
        Self::ALL.get(usize::from(b)).copied()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One decoded (or to-be-encoded) report; the executable path is borrowed (from the library's
/// buffer, or from the datagram).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report<'a> {
    /// The decision's action.
    pub action: Action,
    /// The decision's [`Reason::code`].
    pub reason_code: &'static str,
    /// What the library did.
    pub outcome: Outcome,
    /// The detected runtime.
    pub language: Option<Language>,
    /// Our agent was already configured.
    pub already_injected: bool,
    /// The service name.
    pub service_name: ServiceName,
    version: [u8; MAX_VERSION_LEN],
    version_len: u8,
    exe: &'a [u8],
}

impl<'a> Report<'a> {
    /// The report of `decision` with the library's `outcome`, about the process whose executable
    /// is `exe` (empty when unknown; a path longer than [`MAX_EXE_LEN`] or with a NUL byte is
    /// sent as unknown).
    pub fn new(decision: &Decision<'_>, outcome: Outcome, exe: &'a [u8]) -> Self {
        let mut version = [0u8; MAX_VERSION_LEN];
        let mut version_len = 0u8;
        if let Some(v) = decision.runtime_version {
            for (dst, &src) in version
                .iter_mut()
                .zip(v.iter().take_while(|b| b.is_ascii_graphic()))
            {
                *dst = src;
                version_len = version_len.saturating_add(1);
            }
        }
        Self {
            action: decision.action,
            reason_code: decision.reason.code(),
            outcome,
            language: decision.language,
            already_injected: decision.already_injected,
            service_name: decision.service_name,
            version,
            version_len,
            exe: if exe.len() <= MAX_EXE_LEN && !exe.contains(&0) {
                exe
            } else {
                &[]
            },
        }
    }

    /// The executable path as the process saw it, empty when unknown.
    pub fn exe(&self) -> &'a [u8] {
        self.exe
    }

    /// The runtime version, if known.
    pub fn runtime_version(&self) -> Option<&[u8]> {
        let v = self.version.get(..usize::from(self.version_len))?;
        (!v.is_empty()).then_some(v)
    }
}

/// Why [`decode`] refused a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportError {
    /// Too short for what it announces.
    Truncated,
    /// Not a report.
    BadMagic,
    /// A newer (or zero) version.
    Version(u8),
    /// A byte has a value outside its domain.
    Invalid(&'static str),
    /// Bytes after the last field.
    Trailing,
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("preload report truncated"),
            Self::BadMagic => f.write_str("not a preload report (bad magic)"),
            Self::Version(v) => write!(f, "preload report version {v} not supported"),
            Self::Invalid(what) => write!(f, "preload report has an invalid {what}"),
            Self::Trailing => f.write_str("preload report has trailing bytes"),
        }
    }
}

fn language_byte(l: Option<Language>) -> u8 {
    l.and_then(|l| Language::ALL.iter().position(|x| *x == l))
        .and_then(|i| u8::try_from(i).ok())
        .map_or(0, |i| i.saturating_add(1))
}

/// The index of `code` in [`Reason::CODES`], as code: the encoder runs in the preload library,
/// where a table of string pointers would cost load-time relocations in every process.
fn reason_byte(code: &str) -> u8 {
    match code {
        "unknown-input" => 0,
        "not-runtime" => 1,
        "not-long-running" => 2,
        "build-tool" => 3,
        "package-manager" => 4,
        "interactive" => 5,
        "tool" => 6,
        "launcher" => 7,
        "other-agent" => 8,
        "report-only" => 9,
        "skip-executable" => 10,
        "disabled-service" => 11,
        "disabled-global" => 12,
        "no-agent" => 13,
        "instrumentable" => 14,
        "opted-out" => 15,
        "multiple-runtimes" => 16,
        "unsupported-runtime" => 17,
        _ => u8::MAX,
    }
}

/// Encodes `report` into `out`, returning the datagram length (at most [`MAX_REPORT`]).
pub fn encode(report: &Report<'_>, out: &mut [u8; MAX_REPORT]) -> usize {
    let name = report.service_name.as_bytes();
    let version = report.runtime_version().unwrap_or_default();
    let fixed = [
        MAGIC[0],
        MAGIC[1],
        MAGIC[2],
        MAGIC[3],
        VERSION,
        match report.action {
            Action::Skip => 0,
            Action::Inject => 1,
        },
        reason_byte(report.reason_code),
        report.outcome.to_u8(),
        language_byte(report.language),
        u8::from(report.already_injected),
        u8::try_from(name.len()).unwrap_or(0),
    ];
    let version_len = [u8::try_from(version.len()).unwrap_or(0)];
    let exe_len = u16::try_from(report.exe.len()).unwrap_or(0).to_le_bytes();
    let mut n = 0usize;
    let parts: [&[u8]; 6] = [&fixed, name, &version_len, version, &exe_len, report.exe];
    for &byte in parts.iter().flat_map(|p| p.iter()) {
        if let Some(slot) = out.get_mut(n) {
            *slot = byte;
            n = n.saturating_add(1);
        }
    }
    n
}

/// Decodes a datagram. Never panics, on any input.
pub fn decode(bytes: &[u8]) -> Result<Report<'_>, ReportError> {
    let (fixed, rest) = bytes.split_at_checked(11).ok_or(ReportError::Truncated)?;
    let [
        m0,
        m1,
        m2,
        m3,
        version,
        action,
        reason,
        outcome,
        language,
        flags,
        name_len,
    ] = *fixed
    else {
        return Err(ReportError::Truncated);
    };
    if [m0, m1, m2, m3] != MAGIC {
        return Err(ReportError::BadMagic);
    }
    if version != VERSION {
        return Err(ReportError::Version(version));
    }
    let action = match action {
        0 => Action::Skip,
        1 => Action::Inject,
        _ => return Err(ReportError::Invalid("action")),
    };
    let reason_code = *Reason::CODES
        .get(usize::from(reason))
        .ok_or(ReportError::Invalid("reason"))?;
    let outcome = Outcome::from_u8(outcome).ok_or(ReportError::Invalid("outcome"))?;
    let language = match language {
        0 => None,
        n => Some(
            *Language::ALL
                .get(usize::from(n.saturating_sub(1)))
                .ok_or(ReportError::Invalid("language"))?,
        ),
    };
    if flags & !1 != 0 {
        return Err(ReportError::Invalid("flags"));
    }
    let name_len = usize::from(name_len);
    if name_len > ServiceName::MAX_LEN {
        return Err(ReportError::Invalid("service name"));
    }
    let (name, rest) = rest
        .split_at_checked(name_len)
        .ok_or(ReportError::Truncated)?;
    let service_name = ServiceName::sanitize(name);
    if service_name.as_bytes() != name {
        return Err(ReportError::Invalid("service name"));
    }
    let (version_len, rest) = rest.split_first().ok_or(ReportError::Truncated)?;
    let version_len = usize::from(*version_len);
    if version_len > MAX_VERSION_LEN {
        return Err(ReportError::Invalid("runtime version"));
    }
    let (version_bytes, rest) = rest
        .split_at_checked(version_len)
        .ok_or(ReportError::Truncated)?;
    if !version_bytes.iter().all(u8::is_ascii_graphic) {
        return Err(ReportError::Invalid("runtime version"));
    }
    let (exe_len, rest) = rest.split_at_checked(2).ok_or(ReportError::Truncated)?;
    let exe_len = match *exe_len {
        [lo, hi] => usize::from(u16::from_le_bytes([lo, hi])),
        _ => return Err(ReportError::Truncated),
    };
    if exe_len > MAX_EXE_LEN {
        return Err(ReportError::Invalid("executable path"));
    }
    let (exe, rest) = rest
        .split_at_checked(exe_len)
        .ok_or(ReportError::Truncated)?;
    if exe.contains(&0) {
        return Err(ReportError::Invalid("executable path"));
    }
    if !rest.is_empty() {
        return Err(ReportError::Trailing);
    }
    let mut version = [0u8; MAX_VERSION_LEN];
    for (dst, src) in version.iter_mut().zip(version_bytes) {
        *dst = *src;
    }
    Ok(Report {
        action,
        reason_code,
        outcome,
        language,
        already_injected: flags & 1 != 0,
        service_name,
        version,
        version_len: u8::try_from(version_len).unwrap_or(0),
        exe,
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::{ByteList, Policy, ProcessInput, decide};

    fn decision_report(argv: &[&[u8]], outcome: Outcome) -> Report<'static> {
        let input = ProcessInput::new(ByteList::slices(argv), ByteList::EMPTY);
        Report::new(
            &decide(&input, &Policy::DEFAULT),
            outcome,
            b"/usr/local/bin/python3.11",
        )
    }

    #[test]
    fn round_trip() {
        for (argv, outcome) in [
            (&[&b"python3.11"[..], b"app.py"][..], Outcome::Injected),
            (&[&b"java"[..], b"-version"][..], Outcome::Skipped),
            (&[&b"ls"[..]][..], Outcome::Skipped),
            (&[&b"node"[..], b"server.js"][..], Outcome::AgentMissing),
        ] {
            let r = decision_report(argv, outcome);
            let mut buf = [0u8; MAX_REPORT];
            let n = encode(&r, &mut buf);
            assert!(n <= MAX_REPORT);
            let back = decode(&buf[..n]).unwrap();
            assert_eq!(back, r);
        }
        let r = decision_report(&[b"python3.11", b"app.py"], Outcome::Injected);
        assert_eq!(r.runtime_version(), Some(&b"3.11"[..]));
        assert_eq!(r.language, Some(Language::Python));
        assert_eq!(r.reason_code, "instrumentable");
        assert_eq!(r.service_name.as_str(), "app");
    }

    #[test]
    fn the_executable_path_travels_and_bad_ones_are_unknown() {
        let r = decision_report(&[b"python3.11", b"app.py"], Outcome::Injected);
        assert_eq!(r.exe(), b"/usr/local/bin/python3.11");
        let mut buf = [0u8; MAX_REPORT];
        let n = encode(&r, &mut buf);
        assert_eq!(
            decode(&buf[..n]).unwrap().exe(),
            b"/usr/local/bin/python3.11"
        );
        // The longest path fits in MAX_REPORT with the longest name and version.
        let long = [b'a'; MAX_EXE_LEN];
        let input = ProcessInput::new(ByteList::slices(&[b"python3", b"x.py"]), ByteList::EMPTY);
        let d = decide(&input, &Policy::DEFAULT);
        let r = Report::new(&d, Outcome::Injected, &long);
        let n = encode(&r, &mut buf);
        assert_eq!(decode(&buf[..n]).unwrap().exe(), &long[..]);
        // Too long, or with a NUL: sent as unknown.
        let longer = [b'a'; MAX_EXE_LEN + 1];
        assert_eq!(Report::new(&d, Outcome::Injected, &longer).exe(), b"");
        assert_eq!(Report::new(&d, Outcome::Injected, b"/a\0b").exe(), b"");
        // A length past MAX_EXE_LEN or a NUL in the path is refused by the decoder.
        let r = Report::new(&d, Outcome::Injected, b"/bin/x");
        let n = encode(&r, &mut buf);
        let mut bad = buf;
        bad[n - 8..n - 6].copy_from_slice(&(MAX_EXE_LEN as u16 + 1).to_le_bytes());
        assert_eq!(
            decode(&bad[..n]),
            Err(ReportError::Invalid("executable path"))
        );
        let mut bad = buf;
        bad[n - 1] = 0;
        assert_eq!(
            decode(&bad[..n]),
            Err(ReportError::Invalid("executable path"))
        );
    }

    #[test]
    fn every_outcome_and_reason_round_trips() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::from_u8(o.to_u8()), Some(o));
        }
        let mut r = decision_report(&[b"python3", b"x.py"], Outcome::Injected);
        for code in Reason::CODES {
            r.reason_code = code;
            let mut buf = [0u8; MAX_REPORT];
            let n = encode(&r, &mut buf);
            assert_eq!(decode(&buf[..n]).unwrap().reason_code, code);
        }
    }

    #[test]
    fn reason_bytes_match_the_code_table() {
        for (i, code) in Reason::CODES.iter().enumerate() {
            assert_eq!(usize::from(reason_byte(code)), i);
        }
        assert_eq!(reason_byte("no-such-code"), u8::MAX);
    }

    #[test]
    fn garbage_is_rejected_without_panic() {
        let r = decision_report(&[b"python3.11", b"app.py"], Outcome::Injected);
        let mut buf = [0u8; MAX_REPORT];
        let n = encode(&r, &mut buf);
        let good = &buf[..n];
        for len in 0..n {
            assert!(decode(&good[..len]).is_err(), "truncated {len}");
        }
        let mut longer = [0u8; MAX_REPORT + 1];
        longer[..n].copy_from_slice(good);
        assert_eq!(decode(&longer[..=n]), Err(ReportError::Trailing));
        // Every single-byte value at every position: never a panic.
        for i in 0..n {
            for v in 0..=255u8 {
                let mut b = [0u8; MAX_REPORT];
                b[..n].copy_from_slice(good);
                b[i] = v;
                let _ = decode(&b[..n]);
            }
        }
        // What decodes re-encodes identically (the fuzz target's invariant).
        for i in 0..n {
            for v in 0..=255u8 {
                let mut b = [0u8; MAX_REPORT];
                b[..n].copy_from_slice(good);
                b[i] = v;
                if let Ok(r) = decode(&b[..n]) {
                    let mut out = [0u8; MAX_REPORT];
                    let m = encode(&r, &mut out);
                    assert_eq!(&out[..m], &b[..n]);
                }
            }
        }
        let mut bad = [0u8; MAX_REPORT];
        bad[..n].copy_from_slice(good);
        bad[4] = 1;
        assert_eq!(decode(&bad[..n]), Err(ReportError::Version(1)), "version 1");
        bad[4] = 3;
        assert_eq!(decode(&bad[..n]), Err(ReportError::Version(3)));
        bad[4] = VERSION;
        bad[11] = b'A';
        assert_eq!(decode(&bad[..n]), Err(ReportError::Invalid("service name")));
    }
}
