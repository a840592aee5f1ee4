//! A .NET application's own files: which `*.runtimeconfig.json` and `*.deps.json` belong to a
//! process ([`app_files`]), its target framework ([`target_framework`], [`supported`]) and whether
//! it already references OpenTelemetry packages ([`references_otel`]).
//!
//! The caller reads the files (the preload library with raw system calls, the daemon with std) and
//! passes what it found in [`ExeFacts`](crate::ExeFacts); [`decide`](crate::decide) then skips an
//! application built for a framework our agent does not support (`unsupported-runtime`) and
//! stands down for one that carries OpenTelemetry itself (`other-agent`: a second copy of the SDK
//! in the same process conflicts with the application's own).

use crate::bytes::{basename, split_version, strip_deleted, strip_suffix_ci};
use crate::list::ByteList;

/// What our .NET agent supports, in words (for the `unsupported-runtime` reason).
pub const SUPPORTED: &str = ".NET 8 or later";

/// The lowest .NET major version the OpenTelemetry .NET automatic instrumentation supports on
/// Linux (it follows Microsoft's support policy: .NET 8 and later).
pub const MIN_MAJOR: u32 = 8;

/// The files of one .NET application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppFiles<'a> {
    /// The application's path without `.dll` (`dotnet /app/Api.dll` → `/app/Api`), or the
    /// apphost's path: `<base>.runtimeconfig.json` and `<base>.deps.json` are its files.
    pub base: &'a [u8],
    /// `--runtimeconfig FILE` given to `dotnet exec`.
    pub runtimeconfig: Option<&'a [u8]>,
    /// `--depsfile FILE` given to `dotnet exec`.
    pub depsfile: Option<&'a [u8]>,
}

impl AppFiles<'_> {
    /// The runtimeconfig path, NUL-terminated, in `buf`.
    pub fn runtimeconfig_path<'b>(&self, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        match self.runtimeconfig {
            Some(p) => join(buf, p, b""),
            None => join(buf, self.base, b".runtimeconfig.json"),
        }
    }

    /// The deps.json path, NUL-terminated, in `buf`.
    pub fn deps_path<'b>(&self, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        match self.depsfile {
            Some(p) => join(buf, p, b""),
            None => join(buf, self.base, b".deps.json"),
        }
    }
}

fn join<'b>(buf: &'b mut [u8], a: &[u8], b: &[u8]) -> Option<&'b [u8]> {
    let len = a.len().checked_add(b.len())?.checked_add(1)?;
    let out = buf.get_mut(..len)?;
    for (d, s) in out.iter_mut().zip(a.iter().chain(b).chain(&[0u8])) {
        *d = *s;
    }
    Some(out)
}

/// The application a .NET process runs: `dotnet [exec] [host options] app.dll` (the dll's
/// files), else an apphost (`exe` itself). `None` for the SDK's commands (`dotnet build`) and
/// anything without an application.
pub fn app_files<'a>(argv: ByteList<'a>, exe: &'a [u8]) -> Option<AppFiles<'a>> {
    let exe = strip_deleted(exe);
    let mut args = argv.iter().take(crate::MAX_ARGS);
    let arg0 = args.next()?;
    let host = if exe.is_empty() {
        basename(arg0)
    } else {
        basename(exe)
    };
    if host != b"dotnet" {
        return (!exe.is_empty()).then_some(AppFiles {
            base: exe,
            runtimeconfig: None,
            depsfile: None,
        });
    }
    let mut files = AppFiles {
        base: &[],
        runtimeconfig: None,
        depsfile: None,
    };
    while let Some(arg) = args.next() {
        match arg {
            b"exec" => {}
            b"--runtimeconfig" => files.runtimeconfig = args.next(),
            b"--depsfile" => files.depsfile = args.next(),
            b"--additionalprobingpath"
            | b"--additional-deps"
            | b"--fx-version"
            | b"--roll-forward"
            | b"--roll-forward-on-no-candidate-fx" => {
                args.next();
            }
            _ if arg.starts_with(b"-") => {}
            _ => {
                let base = strip_suffix_ci(arg, b".dll")?;
                files.base = base;
                return Some(files);
            }
        }
    }
    None
}

/// The target framework from a `*.runtimeconfig.json`: `runtimeOptions.tfm` (`net8.0`), else the
/// version of the `Microsoft.NETCore.App` framework (`8.0.0`). A small scanner, not a JSON parser:
/// it looks for those keys only and never fails (unknown shapes give `None`).
pub fn target_framework(json: &[u8]) -> Option<&[u8]> {
    let json = crate::bytes::cap(json, crate::bytes::MAX_SCAN);
    if let Some(tfm) = string_value(json, b"\"tfm\"") {
        return Some(tfm);
    }
    // `{"name": "Microsoft.NETCore.App", "version": "8.0.0"}`, keys in any order.
    let at = find(json, b"\"Microsoft.NETCore.App\"")?;
    let start = json
        .get(..at)?
        .iter()
        .rposition(|&b| b == b'{')
        .unwrap_or(0);
    let tail = json.get(start..)?;
    let end = tail.iter().position(|&b| b == b'}').unwrap_or(tail.len());
    string_value(tail.get(..end)?, b"\"version\"")
}

/// The string value of the first `key` (quotes included) followed by `:`.
fn string_value<'j>(json: &'j [u8], key: &[u8]) -> Option<&'j [u8]> {
    let mut rest = json;
    loop {
        let at = find(rest, key)?;
        rest = rest.get(at.checked_add(key.len())?..)?;
        let after = rest.trim_ascii_start();
        if let Some(value) = after.strip_prefix(b":") {
            let value = value.trim_ascii_start().strip_prefix(b"\"")?;
            let end = value.iter().position(|&b| b == b'"')?;
            return value.get(..end);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Whether our agent supports a target framework ([`MIN_MAJOR`] or later): `net8.0`, `net9.0`,
/// `net10.0` (and platform forms like `net8.0-linux`), or a runtime version `8.0.1`. Not
/// `netcoreapp3.1`, `net5.0` to `net7.0`, nor .NET Framework monikers (`net48`). Anything
/// unrecognised is not held against the application.
pub fn supported(target: &[u8]) -> bool {
    let t = target.trim_ascii();
    if t.starts_with(b"netcoreapp") || t.starts_with(b"netstandard") {
        return false;
    }
    let digits = match t.strip_prefix(b"net") {
        Some(v) => {
            let (digits, _) = split_version(v);
            // .NET Framework monikers have no dot (`net48`, `net472`).
            if !digits.contains(&b'.') {
                return digits.is_empty();
            }
            digits
        }
        None => split_version(t).0,
    };
    let major = digits.split(|&b| b == b'.').next().unwrap_or_default();
    match parse_u32(major) {
        Some(m) => m >= MIN_MAJOR,
        None => true,
    }
}

fn parse_u32(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 6 {
        return None;
    }
    s.iter().try_fold(0u32, |n, &b| {
        b.is_ascii_digit()
            .then(|| {
                n.checked_mul(10)?
                    .checked_add(u32::from(b.wrapping_sub(b'0')))
            })
            .flatten()
    })
}

/// How many bytes a caller scanning a deps.json in chunks must carry from one chunk to the next
/// (the longest pattern [`references_otel`] looks for, minus one).
pub const DEPS_OVERLAP: usize = 15;

/// Whether a deps.json (or a chunk of one) references an OpenTelemetry package: a library key
/// `"OpenTelemetry/1.9.0"` or `"OpenTelemetry.<Name>/…"` (NuGet ids, case as published).
pub fn references_otel(json: &[u8]) -> bool {
    json.windows(16).any(|w| {
        w.starts_with(b"\"OpenTelemetry")
            && matches!(w.get(14), Some(b'/' | b'.'))
            && w.get(15).is_some_and(|b| b.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_files_of_commands() {
        let argv: &[&[u8]] = &[
            b"dotnet",
            b"exec",
            b"--runtimeconfig",
            b"x.json",
            b"/app/Api.dll",
            b"--urls",
        ];
        assert_eq!(
            app_files(ByteList::slices(argv), b"/usr/share/dotnet/dotnet"),
            Some(AppFiles {
                base: b"/app/Api",
                runtimeconfig: Some(b"x.json"),
                depsfile: None
            })
        );
        let argv: &[&[u8]] = &[b"dotnet", b"build"];
        assert_eq!(app_files(ByteList::slices(argv), b"/usr/bin/dotnet"), None);
        let argv: &[&[u8]] = &[b"./MyApi"];
        assert_eq!(
            app_files(ByteList::slices(argv), b"/app/MyApi").map(|f| f.base),
            Some(&b"/app/MyApi"[..])
        );
        let mut buf = [0u8; 64];
        let f = AppFiles {
            base: b"Api",
            runtimeconfig: None,
            depsfile: None,
        };
        assert_eq!(
            f.runtimeconfig_path(&mut buf),
            Some(&b"Api.runtimeconfig.json\0"[..])
        );
        assert_eq!(f.deps_path(&mut buf), Some(&b"Api.deps.json\0"[..]));
        assert_eq!(f.deps_path(&mut [0u8; 4]), None);
    }

    #[test]
    fn frameworks() {
        let rc = br#"{ "runtimeOptions": { "tfm": "net6.0", "framework": { "name": "Microsoft.NETCore.App", "version": "6.0.0" } } }"#;
        assert_eq!(target_framework(rc), Some(&b"net6.0"[..]));
        let rc = br#"{"runtimeOptions":{"frameworks":[{"version":"8.0.0","name":"Microsoft.AspNetCore.App"},{"version": "7.0.5", "name": "Microsoft.NETCore.App"}]}}"#;
        assert_eq!(target_framework(rc), Some(&b"7.0.5"[..]));
        assert_eq!(target_framework(b"not json"), None);
        assert_eq!(target_framework(br#"{"tfm": 8}"#), None);
        for ok in [
            &b"net8.0"[..],
            b"net9.0",
            b"net10.0",
            b"net8.0-linux",
            b"8.0.1",
            b"10.0.0",
            b"weird",
        ] {
            assert!(supported(ok), "{ok:?}");
        }
        for no in [
            &b"net6.0"[..],
            b"net7.0",
            b"net5.0",
            b"netcoreapp3.1",
            b"net48",
            b"6.0.0",
            b"netstandard2.0",
        ] {
            assert!(!supported(no), "{no:?}");
        }
    }

    #[test]
    fn otel_references() {
        assert!(references_otel(
            br#""libraries": { "OpenTelemetry/1.9.0": {"#
        ));
        assert!(references_otel(
            br#""OpenTelemetry.Extensions.Hosting/1.9.0": {"#
        ));
        assert!(!references_otel(
            br#""Orders.Api/1.0.0": {}, "OpenTelemetryish": 1"#
        ));
        assert!(!references_otel(b"\"OpenTelemetry\""));
    }
}
