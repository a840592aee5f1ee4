//! The preload snapshot: the policy and agent paths the daemon compiles from its configuration and
//! rules, read by `liboneagent_preload.so` at the start of every candidate process.
//!
//! # Format (version 1, little-endian)
//!
//! ```text
//! offset size
//!  0     8    magic b"OASNAP\0\0"
//!  8     2    format version (1); a newer version is refused, never guessed at
//! 10     2    flags (none defined: any bit set is refused)
//! 12     4    total length of the snapshot in bytes, header included (≤ MAX_SNAPSHOT)
//! 16     8    FNV-1a 64 of bytes [24, total length)
//! 24          body:
//!        1    injection enabled (0 or 1)
//!        1    Java agent kind (0 OpenTelemetry, 1 SkyWalking)
//!        1    available languages (LanguageSet bits; unknown bits are refused)
//!        1    options: bit 0 = set OTEL_PYTHON_LOG_CORRELATION for Python; bit 1 = a
//!             `java_options` field follows the lists; bit 2 = an `environment` list follows
//!             (other bits refused; a library older than the bit refuses any non-zero value, so a snapshot
//!             with an option it does not know makes it do nothing rather than half of it)
//!             10 strings, each u16 length + bytes (no NUL byte), in the order of [`STRING_FIELDS`]
//!             3 lists, each u16 length + entries, every entry non-empty and NUL-terminated
//!             (disabled services, enabled services, skipped executables)
//!             with options bit 1: u16 length + extra JVM options (space-separated, no NUL)
//!             with options bit 2: u16 length + the agents' extra environment, a list like the
//!             three above whose entries are `<runtime> <NAME>=<VALUE>`, each checked by
//!             [`agent_env::check_list`](crate::agent_env::check_list)
//! ```
//!
//! The body must end exactly at the total length. Any deviation (short, long, corrupt, newer,
//! unknown flags) is a [`DecodeError`], and the library then does nothing. FNV-1a detects every
//! single-byte change of the body (each step is a bijection of the running hash), and every header
//! byte is validated on its own.
//!
//! Both directions work without allocation: [`encode`] writes into the caller's buffer, [`decode`]
//! returns a [`SnapshotView`] borrowing the input.

use core::fmt;

use crate::list::{ByteList, NulList};
use crate::model::{JavaAgentKind, LanguageSet, Policy};

/// The first eight bytes of every snapshot.
pub const MAGIC: [u8; 8] = *b"OASNAP\0\0";
/// The format version this code writes and reads.
pub const VERSION: u16 = 1;
/// Largest snapshot accepted (and written), header included.
pub const MAX_SNAPSHOT: usize = 65_536;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 24;
/// The default snapshot path on a host.
pub const DEFAULT_PATH: &str = "/var/lib/oneagent/preload.snapshot";
/// The default report socket path on a host.
pub const DEFAULT_REPORT_SOCKET: &str = "/run/oneagent/preload.sock";
/// Bit of the options byte: set `OTEL_PYTHON_LOG_CORRELATION=true` for Python.
const OPTION_PYTHON_LOG_CORRELATION: u8 = 1;
/// Bit of the options byte: a `java_options` field follows the lists.
const OPTION_JAVA_OPTIONS: u8 = 2;
/// Bit of the options byte: an `environment` list follows (after `java_options`).
const OPTION_ENVIRONMENT: u8 = 4;
/// At most this many entries per list.
pub const MAX_ENTRIES: usize = 1024;

/// Names of the string fields, in their order in the body (used in errors).
pub const STRING_FIELDS: [&str; 10] = [
    "java_agent_path",
    "skywalking_agent_path",
    "python_dir",
    "nodejs_register",
    "dotnet_home",
    "otlp_endpoint",
    "skywalking_backend",
    "host_name",
    "report_socket",
    "own_agent_marker",
];

/// Names of the list fields, in their order in the body (used in errors).
pub const LIST_FIELDS: [&str; 3] = ["disabled_services", "enabled_services", "skip_executables"];

/// `STRING_FIELDS[i]` as code: the decoder runs in the preload library, where a table of string
/// pointers would cost load-time relocations in every process.
fn string_field(i: usize) -> &'static str {
    match i {
        0 => "java_agent_path",
        1 => "skywalking_agent_path",
        2 => "python_dir",
        3 => "nodejs_register",
        4 => "dotnet_home",
        5 => "otlp_endpoint",
        6 => "skywalking_backend",
        7 => "host_name",
        8 => "report_socket",
        _ => "own_agent_marker",
    }
}

/// `LIST_FIELDS[i]` as code (see [`string_field`]).
fn list_field(i: usize) -> &'static str {
    match i {
        0 => "disabled_services",
        1 => "enabled_services",
        _ => "skip_executables",
    }
}

/// Everything a snapshot holds, borrowed from the daemon's configuration (input of [`encode`]).
#[derive(Clone, Copy, Debug)]
pub struct SnapshotData<'a> {
    /// Global injection switch (`[injection] enabled`).
    pub enabled: bool,
    /// Which Java agent is configured.
    pub java_agent: JavaAgentKind,
    /// Languages whose agent is installed and readable (as the daemon saw them).
    pub agents: LanguageSet,
    /// Set `OTEL_PYTHON_LOG_CORRELATION=true` for Python unless the process sets it.
    pub python_log_correlation: bool,
    /// The OpenTelemetry Java agent jar.
    pub java_agent_path: &'a [u8],
    /// The SkyWalking Java agent jar.
    pub skywalking_agent_path: &'a [u8],
    /// The Python agent directory (a `pip install --target` of opentelemetry-distro).
    pub python_dir: &'a [u8],
    /// The Node.js file given to `--require`.
    pub nodejs_register: &'a [u8],
    /// `OTEL_DOTNET_AUTO_HOME`.
    pub dotnet_home: &'a [u8],
    /// OTLP/HTTP base URL given to the agents.
    pub otlp_endpoint: &'a [u8],
    /// SkyWalking OAP address (`host:port`).
    pub skywalking_backend: &'a [u8],
    /// The host name (for `host.name` and `service.instance.id`).
    pub host_name: &'a [u8],
    /// The unix datagram socket the library reports its decisions to.
    pub report_socket: &'a [u8],
    /// The marker that identifies our own agents' paths (see [`Policy::own_agent_marker`]).
    pub own_agent_marker: &'a [u8],
    /// Extra JVM options appended after the Java agent (space-separated; empty for none).
    pub java_options: &'a [u8],
    /// The agents' extra environment: `<runtime> <NAME>=<VALUE>` entries (see
    /// [`agent_env`](crate::agent_env)); empty for none.
    pub environment: &'a [&'a [u8]],
    /// Service names never injected.
    pub disabled_services: &'a [&'a [u8]],
    /// Service names injected even when `enabled` is false.
    pub enabled_services: &'a [&'a [u8]],
    /// Executable paths never injected (crash circuit breaker).
    pub skip_executables: &'a [&'a [u8]],
}

impl SnapshotData<'_> {
    fn strings(&self) -> [&[u8]; 10] {
        [
            self.java_agent_path,
            self.skywalking_agent_path,
            self.python_dir,
            self.nodejs_register,
            self.dotnet_home,
            self.otlp_endpoint,
            self.skywalking_backend,
            self.host_name,
            self.report_socket,
            self.own_agent_marker,
        ]
    }

    fn lists(&self) -> [&[&[u8]]; 3] {
        [
            self.disabled_services,
            self.enabled_services,
            self.skip_executables,
        ]
    }
}

/// A decoded snapshot, borrowing the bytes it was decoded from.
#[derive(Clone, Copy, Debug)]
pub struct SnapshotView<'a> {
    /// Global injection switch.
    pub enabled: bool,
    /// Which Java agent is configured.
    pub java_agent: JavaAgentKind,
    /// Languages whose agent is installed.
    pub agents: LanguageSet,
    /// Set `OTEL_PYTHON_LOG_CORRELATION=true` for Python unless the process sets it.
    pub python_log_correlation: bool,
    /// The OpenTelemetry Java agent jar.
    pub java_agent_path: &'a [u8],
    /// The SkyWalking Java agent jar.
    pub skywalking_agent_path: &'a [u8],
    /// The Python agent directory.
    pub python_dir: &'a [u8],
    /// The Node.js `--require` file.
    pub nodejs_register: &'a [u8],
    /// `OTEL_DOTNET_AUTO_HOME`.
    pub dotnet_home: &'a [u8],
    /// OTLP/HTTP base URL.
    pub otlp_endpoint: &'a [u8],
    /// SkyWalking OAP address.
    pub skywalking_backend: &'a [u8],
    /// The host name.
    pub host_name: &'a [u8],
    /// The report socket path.
    pub report_socket: &'a [u8],
    /// Our agents' path marker.
    pub own_agent_marker: &'a [u8],
    /// Extra JVM options appended after the Java agent (space-separated; empty for none).
    pub java_options: &'a [u8],
    /// The agents' extra environment (NUL-separated `<runtime> <NAME>=<VALUE>` entries, each
    /// checked by [`agent_env::parse_entry`](crate::agent_env::parse_entry)).
    pub environment: NulList<'a>,
    /// Service names never injected (NUL-separated).
    pub disabled_services: NulList<'a>,
    /// Service names injected even when `enabled` is false (NUL-separated).
    pub enabled_services: NulList<'a>,
    /// Executable paths never injected (NUL-separated).
    pub skip_executables: NulList<'a>,
}

impl<'a> SnapshotView<'a> {
    /// The decision policy this snapshot describes.
    pub fn policy(&self) -> Policy<'a> {
        Policy {
            enabled: self.enabled,
            agents: self.agents,
            java_agent: self.java_agent,
            disabled_services: ByteList::Nul(self.disabled_services),
            enabled_services: ByteList::Nul(self.enabled_services),
            skip_executables: ByteList::Nul(self.skip_executables),
            own_agent_marker: self.own_agent_marker,
            own_agents: crate::model::OwnAgents {
                java: self.java_agent_path,
                skywalking: self.skywalking_agent_path,
                python: self.python_dir,
                nodejs: self.nodejs_register,
                dotnet: self.dotnet_home,
            },
        }
    }
}

/// Why [`encode`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer is too small; `needed` bytes are required.
    BufferTooSmall {
        /// Bytes required.
        needed: usize,
    },
    /// The snapshot would exceed [`MAX_SNAPSHOT`] bytes (or a field 65535 bytes).
    TooLarge,
    /// A string field contains a NUL byte.
    NulInString(&'static str),
    /// A list entry is empty or contains a NUL byte.
    InvalidEntry(&'static str),
    /// A list has more than [`MAX_ENTRIES`] entries.
    TooManyEntries(&'static str),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { needed } => {
                write!(f, "snapshot buffer too small ({needed} bytes needed)")
            }
            Self::TooLarge => write!(f, "snapshot larger than {MAX_SNAPSHOT} bytes"),
            Self::NulInString(field) => write!(f, "snapshot field {field} contains a NUL byte"),
            Self::InvalidEntry(field) => {
                write!(
                    f,
                    "snapshot list {field} has an empty entry or one with a NUL byte"
                )
            }
            Self::TooManyEntries(field) => {
                write!(
                    f,
                    "snapshot list {field} has more than {MAX_ENTRIES} entries"
                )
            }
        }
    }
}

/// Why [`decode`] refused. Every variant means "do nothing" to the preload library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than the header, or shorter than the length the header announces.
    Truncated,
    /// Larger than [`MAX_SNAPSHOT`].
    TooLarge,
    /// Not a snapshot (wrong magic).
    BadMagic,
    /// Written by a newer daemon: refused.
    NewerVersion(u16),
    /// Version 0 (never written).
    UnsupportedVersion(u16),
    /// Flags this reader does not know.
    UnknownFlags(u16),
    /// The header's length differs from the input's length.
    LengthMismatch,
    /// The checksum does not match the body.
    Checksum,
    /// The body is malformed (bad field value, overrun, trailing bytes).
    Malformed(&'static str),
}

impl DecodeError {
    /// Stable machine code (`kebab-case`).
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::TooLarge => "too-large",
            Self::BadMagic => "bad-magic",
            Self::NewerVersion(_) => "newer-version",
            Self::UnsupportedVersion(_) => "unsupported-version",
            Self::UnknownFlags(_) => "unknown-flags",
            Self::LengthMismatch => "length-mismatch",
            Self::Checksum => "checksum",
            Self::Malformed(_) => "malformed",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("snapshot truncated"),
            Self::TooLarge => write!(f, "snapshot larger than {MAX_SNAPSHOT} bytes"),
            Self::BadMagic => f.write_str("not a oneagent preload snapshot (bad magic)"),
            Self::NewerVersion(v) => {
                write!(f, "snapshot format version {v} is newer than {VERSION}")
            }
            Self::UnsupportedVersion(v) => {
                write!(f, "snapshot format version {v} is not supported")
            }
            Self::UnknownFlags(v) => write!(f, "snapshot has unknown flags {v:#06x}"),
            Self::LengthMismatch => f.write_str("snapshot length does not match its header"),
            Self::Checksum => f.write_str("snapshot checksum mismatch (corrupt)"),
            Self::Malformed(what) => write!(f, "snapshot malformed: {what}"),
        }
    }
}

/// FNV-1a 64 of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// A bounded writer into a caller's buffer that counts what it could not write.
struct Out<'b> {
    buf: &'b mut [u8],
    pos: usize,
    overflow: bool,
}

impl Out<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        match self.buf.get_mut(self.pos..end) {
            Some(dst) => {
                for (d, s) in dst.iter_mut().zip(bytes) {
                    *d = *s;
                }
            }
            None => self.overflow = true,
        }
        self.pos = end;
    }

    /// A list: u16 length + every entry followed by a NUL.
    fn put_list(&mut self, list: &[&[u8]]) -> Result<(), EncodeError> {
        let len = list
            .iter()
            .try_fold(0usize, |acc, e| acc.checked_add(e.len())?.checked_add(1))
            .ok_or(EncodeError::TooLarge)?;
        self.put(&field_len(len)?);
        for entry in list {
            self.put(entry);
            self.put(&[0]);
        }
        Ok(())
    }
}

fn field_len(len: usize) -> Result<[u8; 2], EncodeError> {
    u16::try_from(len)
        .map(u16::to_le_bytes)
        .map_err(|_| EncodeError::TooLarge)
}

/// Encodes `data` into `out`, returning the number of bytes written. No allocation.
pub fn encode(data: &SnapshotData<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
    for (value, name) in data.strings().into_iter().zip(STRING_FIELDS) {
        if value.contains(&0) {
            return Err(EncodeError::NulInString(name));
        }
    }
    for (list, name) in data.lists().into_iter().zip(LIST_FIELDS) {
        if list.len() > MAX_ENTRIES {
            return Err(EncodeError::TooManyEntries(name));
        }
        if list.iter().any(|e| e.is_empty() || e.contains(&0)) {
            return Err(EncodeError::InvalidEntry(name));
        }
    }
    let mut w = Out {
        buf: out,
        pos: 0,
        overflow: false,
    };
    w.put(&[0; HEADER_LEN]);
    w.put(&[
        u8::from(data.enabled),
        match data.java_agent {
            JavaAgentKind::OpenTelemetry => 0,
            JavaAgentKind::SkyWalking => 1,
        },
        data.agents.bits(),
        (if data.python_log_correlation {
            OPTION_PYTHON_LOG_CORRELATION
        } else {
            0
        }) | (if data.java_options.is_empty() {
            0
        } else {
            OPTION_JAVA_OPTIONS
        }) | if data.environment.is_empty() {
            0
        } else {
            OPTION_ENVIRONMENT
        },
    ]);
    for value in data.strings() {
        w.put(&field_len(value.len())?);
        w.put(value);
    }
    for list in data.lists() {
        w.put_list(list)?;
    }
    if !data.java_options.is_empty() {
        if data.java_options.contains(&0) {
            return Err(EncodeError::NulInString("java_options"));
        }
        w.put(&field_len(data.java_options.len())?);
        w.put(data.java_options);
    }
    if !data.environment.is_empty() {
        if data.environment.iter().any(|e| e.contains(&0))
            || crate::agent_env::check_list(data.environment.iter().copied()).is_err()
        {
            return Err(EncodeError::InvalidEntry("environment"));
        }
        w.put_list(data.environment)?;
    }
    let total = w.pos;
    if total > MAX_SNAPSHOT {
        return Err(EncodeError::TooLarge);
    }
    if w.overflow {
        return Err(EncodeError::BufferTooSmall { needed: total });
    }
    let total32 = u32::try_from(total).map_err(|_| EncodeError::TooLarge)?;
    let out = w.buf;
    let body = out.get(HEADER_LEN..total).unwrap_or_default();
    let sum = fnv1a64(body);
    let mut header = [0u8; HEADER_LEN];
    for (dst, src) in header.iter_mut().zip(
        MAGIC
            .iter()
            .chain(VERSION.to_le_bytes().iter())
            .chain(0u16.to_le_bytes().iter())
            .chain(total32.to_le_bytes().iter())
            .chain(sum.to_le_bytes().iter()),
    ) {
        *dst = *src;
    }
    for (d, s) in out.iter_mut().zip(header) {
        *d = s;
    }
    Ok(total)
}

/// A cursor over the body.
struct In<'a> {
    rest: &'a [u8],
}

impl<'a> In<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let (head, tail) = self
            .rest
            .split_at_checked(n)
            .ok_or(DecodeError::Malformed(what))?;
        self.rest = tail;
        Ok(head)
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        self.take(1, what)?
            .first()
            .copied()
            .ok_or(DecodeError::Malformed(what))
    }

    fn field(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.take(2, what)?;
        let len = match *len {
            [a, b] => u16::from_le_bytes([a, b]),
            _ => return Err(DecodeError::Malformed(what)),
        };
        self.take(usize::from(len), what)
    }
}

fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes(s.try_into().ok()?))
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(s.try_into().ok()?))
}

/// Validates a list blob: empty, or non-empty NUL-terminated entries.
fn valid_list(blob: &[u8]) -> bool {
    if blob.is_empty() {
        return true;
    }
    let Some(body) = blob.strip_suffix(&[0]) else {
        return false;
    };
    body.split(|&b| b == 0).all(|e| !e.is_empty())
        && body
            .split(|&b| b == 0)
            .take(MAX_ENTRIES.saturating_add(1))
            .count()
            <= MAX_ENTRIES
}

/// Decodes and validates a snapshot without copying. Never panics, on any input.
pub fn decode(bytes: &[u8]) -> Result<SnapshotView<'_>, DecodeError> {
    if bytes.len() > MAX_SNAPSHOT {
        return Err(DecodeError::TooLarge);
    }
    let header = bytes.get(..HEADER_LEN).ok_or(DecodeError::Truncated)?;
    if header.get(..8) != Some(&MAGIC[..]) {
        return Err(DecodeError::BadMagic);
    }
    let version = le_u16(header, 8).ok_or(DecodeError::Truncated)?;
    if version > VERSION {
        return Err(DecodeError::NewerVersion(version));
    }
    if version < VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let flags = le_u16(header, 10).ok_or(DecodeError::Truncated)?;
    if flags != 0 {
        return Err(DecodeError::UnknownFlags(flags));
    }
    let total = le_u32(header, 12).ok_or(DecodeError::Truncated)?;
    let total = usize::try_from(total).map_err(|_| DecodeError::TooLarge)?;
    if total > MAX_SNAPSHOT {
        return Err(DecodeError::TooLarge);
    }
    if bytes.len() < total {
        return Err(DecodeError::Truncated);
    }
    if bytes.len() != total {
        return Err(DecodeError::LengthMismatch);
    }
    let sum = le_u64(header, 16).ok_or(DecodeError::Truncated)?;
    let body = bytes.get(HEADER_LEN..).ok_or(DecodeError::Truncated)?;
    if fnv1a64(body) != sum {
        return Err(DecodeError::Checksum);
    }
    let mut r = In { rest: body };
    let enabled = match r.byte("enabled")? {
        0 => false,
        1 => true,
        _ => return Err(DecodeError::Malformed("enabled")),
    };
    let java_agent = match r.byte("java_agent")? {
        0 => JavaAgentKind::OpenTelemetry,
        1 => JavaAgentKind::SkyWalking,
        _ => return Err(DecodeError::Malformed("java_agent")),
    };
    let bits = r.byte("agents")?;
    let agents = LanguageSet::from_bits(bits);
    if agents.bits() != bits {
        return Err(DecodeError::Malformed("agents"));
    }
    let options = r.byte("options")?;
    if options & !(OPTION_PYTHON_LOG_CORRELATION | OPTION_JAVA_OPTIONS | OPTION_ENVIRONMENT) != 0 {
        return Err(DecodeError::Malformed("options"));
    }
    let mut strings: [&[u8]; 10] = [&[]; 10];
    for (i, slot) in strings.iter_mut().enumerate() {
        let name = string_field(i);
        let value = r.field(name)?;
        if value.contains(&0) {
            return Err(DecodeError::Malformed(name));
        }
        *slot = value;
    }
    let mut lists: [&[u8]; 3] = [&[]; 3];
    for (i, slot) in lists.iter_mut().enumerate() {
        let name = list_field(i);
        let blob = r.field(name)?;
        if !valid_list(blob) {
            return Err(DecodeError::Malformed(name));
        }
        *slot = blob;
    }
    let java_options = if options & OPTION_JAVA_OPTIONS != 0 {
        let value = r.field("java_options")?;
        if value.is_empty() || value.contains(&0) {
            return Err(DecodeError::Malformed("java_options"));
        }
        value
    } else {
        &[]
    };
    let environment = if options & OPTION_ENVIRONMENT != 0 {
        let blob = r.field("environment")?;
        let list = NulList::new(blob);
        if blob.is_empty()
            || !valid_list(blob)
            || crate::agent_env::check_entries(list.iter()).is_err()
        {
            return Err(DecodeError::Malformed("environment"));
        }
        list
    } else {
        NulList::new(&[])
    };
    if !r.rest.is_empty() {
        return Err(DecodeError::Malformed("trailing bytes"));
    }
    let [
        java_agent_path,
        skywalking_agent_path,
        python_dir,
        nodejs_register,
        dotnet_home,
        otlp_endpoint,
        skywalking_backend,
        host_name,
        report_socket,
        own_agent_marker,
    ] = strings;
    let [disabled, enabled_list, skip] = lists;
    Ok(SnapshotView {
        enabled,
        java_agent,
        agents,
        python_log_correlation: options & OPTION_PYTHON_LOG_CORRELATION != 0,
        java_agent_path,
        skywalking_agent_path,
        python_dir,
        nodejs_register,
        dotnet_home,
        otlp_endpoint,
        skywalking_backend,
        host_name,
        report_socket,
        own_agent_marker,
        java_options,
        environment,
        disabled_services: NulList::new(disabled),
        enabled_services: NulList::new(enabled_list),
        skip_executables: NulList::new(skip),
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn field_names_match_the_tables() {
        for (i, name) in STRING_FIELDS.iter().enumerate() {
            assert_eq!(string_field(i), *name);
        }
        for (i, name) in LIST_FIELDS.iter().enumerate() {
            assert_eq!(list_field(i), *name);
        }
    }
    use crate::model::Language;
    use std::vec;
    use std::vec::Vec;

    fn sample() -> SnapshotData<'static> {
        SnapshotData {
            enabled: true,
            java_agent: JavaAgentKind::SkyWalking,
            agents: LanguageSet::INJECTABLE.without(Language::DotNet),
            python_log_correlation: false,
            java_agent_path: b"/usr/lib/oneagent/agents/java/opentelemetry-javaagent.jar",
            skywalking_agent_path: b"/usr/lib/oneagent/agents/skywalking/skywalking-agent.jar",
            python_dir: b"/usr/lib/oneagent/agents/python",
            nodejs_register: b"/usr/lib/oneagent/agents/nodejs/register.js",
            dotnet_home: b"/usr/lib/oneagent/agents/dotnet",
            otlp_endpoint: b"http://127.0.0.1:4318",
            skywalking_backend: b"127.0.0.1:11800",
            host_name: b"web-01",
            report_socket: b"/run/oneagent/preload.sock",
            own_agent_marker: b"/oneagent/",
            java_options: b"",
            environment: &[],
            disabled_services: &[b"payments", b"legacy"],
            enabled_services: &[],
            skip_executables: &[b"/opt/crashy/bin/java"],
        }
    }

    fn encoded() -> Vec<u8> {
        let mut buf = vec![0u8; MAX_SNAPSHOT];
        let n = encode(&sample(), &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn round_trip() {
        let bytes = encoded();
        let v = decode(&bytes).unwrap();
        let d = sample();
        assert!(v.enabled);
        assert_eq!(v.java_agent, JavaAgentKind::SkyWalking);
        assert_eq!(v.agents, d.agents);
        assert_eq!(v.java_agent_path, d.java_agent_path);
        assert_eq!(v.skywalking_agent_path, d.skywalking_agent_path);
        assert_eq!(v.python_dir, d.python_dir);
        assert_eq!(v.nodejs_register, d.nodejs_register);
        assert_eq!(v.dotnet_home, d.dotnet_home);
        assert_eq!(v.otlp_endpoint, d.otlp_endpoint);
        assert_eq!(v.skywalking_backend, d.skywalking_backend);
        assert_eq!(v.host_name, d.host_name);
        assert_eq!(v.report_socket, d.report_socket);
        assert_eq!(v.own_agent_marker, d.own_agent_marker);
        let dis: Vec<&[u8]> = v.disabled_services.iter().collect();
        assert_eq!(dis, d.disabled_services);
        assert_eq!(v.enabled_services.iter().count(), 0);
        let skip: Vec<&[u8]> = v.skip_executables.iter().collect();
        assert_eq!(skip, d.skip_executables);
        let p = v.policy();
        assert!(p.enabled);
        assert_eq!(p.disabled_services.iter().count(), 2);
        assert_eq!(p.own_agent_marker, b"/oneagent/");
    }

    /// The options byte: off, it is the byte every version-1 snapshot had (0, which older
    /// libraries require), so they keep reading it; on, an older library refuses the snapshot as
    /// a whole (it does nothing) instead of injecting without the option.
    #[test]
    fn options_byte() {
        let off = encoded();
        assert_eq!(off[HEADER_LEN + 3], 0);
        assert!(!decode(&off).unwrap().python_log_correlation);
        let mut d = sample();
        d.python_log_correlation = true;
        let mut on = vec![0u8; MAX_SNAPSHOT];
        let n = encode(&d, &mut on).unwrap();
        on.truncate(n);
        assert_eq!(on[HEADER_LEN + 3], 1);
        assert!(decode(&on).unwrap().python_log_correlation);
        // Only that byte (and the checksum) differ.
        let differ: Vec<usize> = (0..n).filter(|&i| on[i] != off[i]).collect();
        assert!(
            differ
                .iter()
                .all(|&i| i == HEADER_LEN + 3 || (16..24).contains(&i))
        );
        // Extra JVM options: bit 1 and a field after the lists.
        let mut d = sample();
        d.java_options = b"-Dotel.traces.sampler=always_off -Xss2m";
        let mut with = vec![0u8; MAX_SNAPSHOT];
        let n = encode(&d, &mut with).unwrap();
        with.truncate(n);
        assert_eq!(with[HEADER_LEN + 3], 2);
        assert_eq!(with.len(), off.len() + 2 + d.java_options.len());
        let v = decode(&with).unwrap();
        assert_eq!(v.java_options, d.java_options);
        assert!(decode(&off).unwrap().java_options.is_empty());
        // The bit without its field, or the field without the bit: malformed.
        let fix = |mut b: Vec<u8>| {
            let total = u32::try_from(b.len()).unwrap();
            b[12..16].copy_from_slice(&total.to_le_bytes());
            let sum = fnv1a64(&b[HEADER_LEN..]);
            b[16..24].copy_from_slice(&sum.to_le_bytes());
            b
        };
        let mut b = off.clone();
        b[HEADER_LEN + 3] = 2;
        assert!(matches!(decode(&fix(b)), Err(DecodeError::Malformed(_))));
        let mut b = with.clone();
        b[HEADER_LEN + 3] = 0;
        assert_eq!(
            decode(&fix(b)).unwrap_err(),
            DecodeError::Malformed("trailing bytes")
        );
        d.java_options = b"-Da=\0";
        assert_eq!(
            encode(&d, &mut [0u8; 4096]),
            Err(EncodeError::NulInString("java_options"))
        );

        // The agents' environment: bit 2 and a list after java_options (both, or alone).
        let entries: &[&[u8]] = &[
            b"python OTEL_TRACES_SAMPLER=always_off",
            b"java SW_AGENT_SAMPLE=5",
        ];
        let list_len = 2 + entries.iter().map(|e| e.len() + 1).sum::<usize>();
        for java_options in [&b""[..], b"-Xss2m"] {
            let mut d = sample();
            d.java_options = java_options;
            d.environment = entries;
            let mut env = vec![0u8; MAX_SNAPSHOT];
            let n = encode(&d, &mut env).unwrap();
            env.truncate(n);
            let bits = if java_options.is_empty() { 4 } else { 6 };
            assert_eq!(env[HEADER_LEN + 3], bits);
            let opts_len = if java_options.is_empty() {
                0
            } else {
                2 + java_options.len()
            };
            assert_eq!(env.len(), off.len() + opts_len + list_len);
            let v = decode(&env).unwrap();
            assert_eq!(v.java_options, java_options);
            assert_eq!(v.environment.iter().collect::<Vec<_>>(), entries);
            // The bit without its list (an older writer's layout), or the list without the bit.
            let mut b = env.clone();
            b[HEADER_LEN + 3] &= !4;
            assert!(decode(&fix(b)).is_err());
            let mut b = env[..env.len() - list_len].to_vec();
            b[HEADER_LEN + 3] |= 4;
            assert!(decode(&fix(b)).is_err());
        }
        assert!(decode(&off).unwrap().environment.iter().next().is_none());
        // An entry that fails the rules: refused on both sides.
        for bad in [
            &b"python LD_PRELOAD=/tmp/x.so"[..],
            b"python OTEL_RESOURCE_ATTRIBUTES=a=b",
            b"ruby OTEL_X=1",
            b"python OTEL_X=",
            b"python OTEL_X=1\0",
        ] {
            let mut d = sample();
            let list = [bad];
            d.environment = &list;
            assert_eq!(
                encode(&d, &mut [0u8; 4096]),
                Err(EncodeError::InvalidEntry("environment")),
                "{bad:?}"
            );
        }
        // Written by hand (a newer or corrupt writer): the reader refuses the whole snapshot.
        let mut d = sample();
        let good: &[&[u8]] = &[b"python OTEL_X=1"];
        d.environment = good;
        let mut b = vec![0u8; MAX_SNAPSHOT];
        let n = encode(&d, &mut b).unwrap();
        b.truncate(n);
        let at = b.len() - b"OTEL_X=1\0".len();
        b[at..at + 2].copy_from_slice(b"LD");
        assert_eq!(
            decode(&fix(b)).unwrap_err(),
            DecodeError::Malformed("environment")
        );
    }

    #[test]
    fn empty_snapshot_round_trips() {
        let data = SnapshotData {
            enabled: false,
            java_agent: JavaAgentKind::OpenTelemetry,
            agents: LanguageSet::EMPTY,
            python_log_correlation: false,
            java_agent_path: b"",
            skywalking_agent_path: b"",
            python_dir: b"",
            nodejs_register: b"",
            dotnet_home: b"",
            otlp_endpoint: b"",
            skywalking_backend: b"",
            host_name: b"",
            report_socket: b"",
            own_agent_marker: b"",
            java_options: b"",
            environment: &[],
            disabled_services: &[],
            enabled_services: &[],
            skip_executables: &[],
        };
        let mut buf = [0u8; 128];
        let n = encode(&data, &mut buf).unwrap();
        assert_eq!(n, HEADER_LEN + 4 + 13 * 2);
        let v = decode(&buf[..n]).unwrap();
        assert!(!v.enabled);
        assert_eq!(v.agents, LanguageSet::EMPTY);
    }

    #[test]
    fn every_single_byte_corruption_is_rejected() {
        let bytes = encoded();
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= flip;
                assert!(decode(&b).is_err(), "byte {i} ^ {flip:#x} accepted");
            }
        }
    }

    #[test]
    fn every_truncation_is_rejected() {
        let bytes = encoded();
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "truncated to {n} accepted");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer).unwrap_err(), DecodeError::LengthMismatch);
    }

    #[test]
    fn newer_version_and_flags_rejected() {
        let mut b = encoded();
        b[8..10].copy_from_slice(&2u16.to_le_bytes());
        assert_eq!(decode(&b).unwrap_err(), DecodeError::NewerVersion(2));
        b[8..10].copy_from_slice(&0u16.to_le_bytes());
        assert_eq!(decode(&b).unwrap_err(), DecodeError::UnsupportedVersion(0));
        let mut b = encoded();
        b[10] = 1;
        assert_eq!(decode(&b).unwrap_err(), DecodeError::UnknownFlags(1));
        assert_eq!(decode(b"").unwrap_err(), DecodeError::Truncated);
        assert_eq!(decode(&[0u8; 30]).unwrap_err(), DecodeError::BadMagic);
        assert_eq!(
            decode(&vec![0u8; MAX_SNAPSHOT + 1]).unwrap_err(),
            DecodeError::TooLarge
        );
    }

    /// A body that checksums correctly but is malformed is still rejected.
    #[test]
    fn malformed_bodies_with_valid_checksum_rejected() {
        let fix = |mut b: Vec<u8>| {
            let total = u32::try_from(b.len()).unwrap();
            b[12..16].copy_from_slice(&total.to_le_bytes());
            let sum = fnv1a64(&b[HEADER_LEN..]);
            b[16..24].copy_from_slice(&sum.to_le_bytes());
            b
        };
        let good = encoded();
        assert!(decode(&fix(good.clone())).is_ok());
        for (at, value) in [
            (24, 2u8),
            (25, 2),
            (26, 0x80),
            (27, 2),
            (27, 4),
            (27, 8),
            (27, 0x81),
        ] {
            let mut b = good.clone();
            b[at] = value;
            assert!(
                matches!(decode(&fix(b)), Err(DecodeError::Malformed(_))),
                "{at}"
            );
        }
        let mut b = good.clone();
        b.push(7);
        assert_eq!(
            decode(&fix(b)).unwrap_err(),
            DecodeError::Malformed("trailing bytes")
        );
        let mut b = good.clone();
        b.pop();
        assert!(matches!(decode(&fix(b)), Err(DecodeError::Malformed(_))));
        // A NUL inside a string field.
        let mut b = good;
        b[HEADER_LEN + 4 + 2] = 0;
        assert!(matches!(decode(&fix(b)), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn encode_errors() {
        let mut d = sample();
        d.host_name = b"a\0b";
        let mut buf = [0u8; 4096];
        assert_eq!(
            encode(&d, &mut buf),
            Err(EncodeError::NulInString("host_name"))
        );
        let mut d = sample();
        d.disabled_services = &[b""];
        assert_eq!(
            encode(&d, &mut buf),
            Err(EncodeError::InvalidEntry("disabled_services"))
        );
        let mut small = [0u8; 40];
        assert!(matches!(
            encode(&sample(), &mut small),
            Err(EncodeError::BufferTooSmall { .. })
        ));
        let big = vec![b'x'; 40_000];
        let mut d = sample();
        d.python_dir = &big;
        d.nodejs_register = &big;
        let mut out = vec![0u8; 100_000];
        assert_eq!(encode(&d, &mut out), Err(EncodeError::TooLarge));
        let mut d = sample();
        d.python_dir = &big[..30_000];
        assert!(encode(&d, &mut out).is_ok());
    }

    /// What decodes re-encodes to the same bytes (the fuzz target's invariant), checked on
    /// pseudo-random mutations of a valid snapshot with their checksum repaired.
    #[test]
    fn decode_then_encode_is_identity() {
        let good = encoded();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut b = good.clone();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() as usize) % b.len();
                b[i] = next() as u8;
            }
            if next() % 8 == 0 {
                b.truncate((next() as usize) % b.len());
            }
            if b.len() >= HEADER_LEN {
                let total = u32::try_from(b.len()).unwrap();
                b[12..16].copy_from_slice(&total.to_le_bytes());
                let sum = fnv1a64(&b[HEADER_LEN..]);
                b[16..24].copy_from_slice(&sum.to_le_bytes());
            }
            let Ok(v) = decode(&b) else { continue };
            accepted += 1;
            let lists: Vec<Vec<&[u8]>> = [
                v.disabled_services,
                v.enabled_services,
                v.skip_executables,
                v.environment,
            ]
            .iter()
            .map(|l| l.iter().collect())
            .collect();
            let data = SnapshotData {
                enabled: v.enabled,
                java_agent: v.java_agent,
                agents: v.agents,
                python_log_correlation: v.python_log_correlation,
                java_agent_path: v.java_agent_path,
                skywalking_agent_path: v.skywalking_agent_path,
                python_dir: v.python_dir,
                nodejs_register: v.nodejs_register,
                dotnet_home: v.dotnet_home,
                otlp_endpoint: v.otlp_endpoint,
                skywalking_backend: v.skywalking_backend,
                host_name: v.host_name,
                report_socket: v.report_socket,
                own_agent_marker: v.own_agent_marker,
                java_options: v.java_options,
                environment: &lists[3],
                disabled_services: &lists[0],
                enabled_services: &lists[1],
                skip_executables: &lists[2],
            };
            let mut out = vec![0u8; MAX_SNAPSHOT];
            let n = encode(&data, &mut out).unwrap();
            assert_eq!(&out[..n], &b[..]);
        }
        assert!(accepted > 100, "only {accepted} mutations decoded");
    }

    #[test]
    fn list_validation() {
        assert!(valid_list(b""));
        assert!(valid_list(b"a\0"));
        assert!(valid_list(b"a\0bc\0"));
        assert!(!valid_list(b"a"));
        assert!(!valid_list(b"\0"));
        assert!(!valid_list(b"a\0\0"));
    }
}
