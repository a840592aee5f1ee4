//! Service names: a fixed inline buffer restricted to `[a-z0-9._-]`.

use core::fmt;

/// A service name safe for OTLP resources and for environment variables: at most
/// [`ServiceName::MAX_LEN`] bytes of `[a-z0-9._-]`, stored inline (no allocation).
///
/// [`ServiceName::sanitize`] lower-cases ASCII letters, keeps digits, `.` and `_`, turns every other
/// byte (including non-UTF-8 and non-ASCII bytes) into `-`, collapses runs of `-`, trims `-`, `.` and
/// `_` from both ends and truncates to [`ServiceName::MAX_LEN`] bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceName {
    buf: [u8; ServiceName::MAX_LEN],
    len: u8,
}

impl ServiceName {
    /// Maximum length in bytes.
    pub const MAX_LEN: usize = 64;

    /// The empty name.
    pub const fn empty() -> Self {
        Self {
            buf: [0; Self::MAX_LEN],
            len: 0,
        }
    }

    /// Sanitizes raw bytes into a service name (possibly empty).
    pub fn sanitize(raw: &[u8]) -> Self {
        let mut out = Self::empty();
        let mut pending_dash = false;
        for &b in raw.iter().take(crate::bytes::MAX_SCAN) {
            let c = b.to_ascii_lowercase();
            let keep = c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'_';
            if !keep {
                pending_dash = true;
                continue;
            }
            if out.len == 0 && (c == b'.' || c == b'_') {
                pending_dash = false;
                continue;
            }
            if pending_dash && out.len > 0 && !out.push(b'-') {
                break;
            }
            pending_dash = false;
            if !out.push(c) {
                break;
            }
        }
        out.trim_end();
        out
    }

    fn push(&mut self, c: u8) -> bool {
        match self.buf.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = c;
                self.len = self.len.saturating_add(1);
                true
            }
            None => false,
        }
    }

    fn trim_end(&mut self) {
        while let Some(&last) = self.as_bytes().last() {
            if last == b'-' || last == b'.' || last == b'_' {
                self.len = self.len.saturating_sub(1);
            } else {
                break;
            }
        }
    }

    /// The name as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// The name as a string (always ASCII).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the name is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for ServiceName {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a service name came from, in priority order (the first source that yields a non-empty
/// sanitized name wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServiceNameSource {
    /// `OTEL_SERVICE_NAME` in the environment.
    EnvOtelServiceName,
    /// `service.name=` inside `OTEL_RESOURCE_ATTRIBUTES`.
    EnvOtelResourceAttributes,
    /// `SW_AGENT_NAME` in the environment (SkyWalking).
    EnvSwAgentName,
    /// A Java system property set by the user: `-Dotel.service.name=` or
    /// `-Dskywalking.agent.service_name=` (command line or `JAVA_TOOL_OPTIONS`).
    SystemProperty,
    /// The systemd unit from `/proc/PID/cgroup` (`payments.service` → `payments`).
    SystemdUnit,
    /// Spring Boot's `spring.application.name` (`--…=`, `-D…=`, `SPRING_APPLICATION_NAME`).
    SpringApplicationName,
    /// The `-jar` file name without directory, extension and version.
    Jar,
    /// The Java main class (well-known table, else its last segment).
    MainClass,
    /// `python -m MODULE`.
    PythonModule,
    /// The application module given to a Python server (`gunicorn proj.wsgi:app` → `proj`).
    PythonApp,
    /// The script name without extension.
    Script,
    /// The `name` of the nearest `package.json`.
    PackageJson,
    /// `[project] name` (else `[tool.poetry] name`) of the nearest `pyproject.toml`.
    PyProject,
    /// `[metadata] name` of the nearest `setup.cfg`.
    SetupCfg,
    /// The `name` environment variable pm2 gives the processes it starts.
    Pm2,
    /// The directory of a generic entry point (`/srv/shop/index.js` → `shop`).
    Directory,
    /// The `.dll` given to `dotnet`.
    Dll,
    /// The executable's basename.
    Executable,
    /// Nothing usable: `unknown_service`.
    Default,
}

impl ServiceNameSource {
    /// Stable machine name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::EnvOtelServiceName => "env:OTEL_SERVICE_NAME",
            Self::EnvOtelResourceAttributes => "env:OTEL_RESOURCE_ATTRIBUTES",
            Self::EnvSwAgentName => "env:SW_AGENT_NAME",
            Self::SystemProperty => "system-property",
            Self::SystemdUnit => "systemd-unit",
            Self::SpringApplicationName => "spring.application.name",
            Self::Jar => "jar",
            Self::MainClass => "main-class",
            Self::PythonModule => "python-module",
            Self::PythonApp => "python-app",
            Self::Script => "script",
            Self::PackageJson => "package.json",
            Self::PyProject => "pyproject.toml",
            Self::SetupCfg => "setup.cfg",
            Self::Pm2 => "pm2",
            Self::Directory => "directory",
            Self::Dll => "dll",
            Self::Executable => "executable",
            Self::Default => "default",
        }
    }

    /// Whether the user chose this name explicitly (environment or system property).
    pub const fn is_explicit(self) -> bool {
        matches!(
            self,
            Self::EnvOtelServiceName
                | Self::EnvOtelResourceAttributes
                | Self::EnvSwAgentName
                | Self::SystemProperty
        )
    }
}

impl fmt::Display for ServiceNameSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(raw: &[u8]) -> ServiceName {
        ServiceName::sanitize(raw)
    }

    #[test]
    fn sanitize_rules() {
        assert_eq!(s(b"Orders.Api").as_str(), "orders.api");
        assert_eq!(s(b"  my  service!! ").as_str(), "my-service");
        assert_eq!(s(b"--a--b--").as_str(), "a-b");
        assert_eq!(s(b"__main__").as_str(), "main");
        assert_eq!(s(b"caf\xc3\xa9-bar").as_str(), "caf-bar");
        assert_eq!(s(b"\xff\xfe").as_str(), "");
        assert_eq!(s(b"...").as_str(), "");
        assert_eq!(s(b"a_b").as_str(), "a_b");
        let long = [b'x'; 200];
        assert_eq!(s(&long).len(), ServiceName::MAX_LEN);
        let mut edge = [b'y'; 70];
        if let Some(b) = edge.get_mut(63) {
            *b = b' ';
        }
        let e = s(&edge);
        assert_eq!(e.len(), 63);
        assert!(!e.as_str().ends_with('-'));
    }
}
