//! Verification of a preload library before it goes into `/etc/ld.so.preload`: it must be a
//! shared object with no `DT_NEEDED` entries, and trivial programs run with `LD_PRELOAD=` it must
//! exit normally with their usual status and print nothing.

#![forbid(unsafe_code)]

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Why a library was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyFailure {
    /// What went wrong, for people.
    pub problem: String,
}

/// The trial runs: program, arguments, expected exit code.
const TRIALS: &[(&str, &[&str], i32)] = &[
    ("/bin/true", &[], 0),
    ("/bin/sh", &["-c", "exit 3"], 3),
    ("/bin/sh", &["-c", ":"], 0),
];

/// Checks `library`; `snapshot` is given to the trial runs so that they see what real processes
/// will see.
pub fn verify_library(library: &Path, snapshot: &Path) -> Result<(), VerifyFailure> {
    let fail = |problem: String| Err(VerifyFailure { problem });
    let meta = match std::fs::metadata(library) {
        Ok(m) => m,
        Err(e) => return fail(format!("{}: {e}", library.display())),
    };
    if !meta.is_file() {
        return fail(format!("{} is not a regular file", library.display()));
    }
    match crate::elf::read_elf_facts(library) {
        Ok(facts) if !facts.needed.is_empty() => {
            return fail(format!(
                "{} needs other libraries ({}); a preload library must need none",
                library.display(),
                facts.needed.join(", ")
            ));
        }
        Ok(_) => {}
        Err(e) => {
            return fail(format!(
                "{} is not a usable ELF file: {e}",
                library.display()
            ));
        }
    }
    for (program, args, expected) in TRIALS {
        if !Path::new(program).exists() {
            continue;
        }
        let mut child = match Command::new(program)
            .args(*args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LD_PRELOAD", library)
            .env("ONEAGENT_PRELOAD_SNAPSHOT", snapshot)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => return fail(format!("running {program}: {e}")),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return fail(format!(
                        "{program} did not finish within 5 s with the library preloaded"
                    ));
                }
                Err(e) => return fail(format!("waiting for {program}: {e}")),
            }
        };
        let mut output = Vec::new();
        if let Some(mut o) = child.stdout.take() {
            let _ = o.read_to_end(&mut output);
        }
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_end(&mut output);
        }
        if status.code() != Some(*expected) {
            return fail(format!(
                "`{program} {}` ended with {status} instead of exit code {expected} with the library preloaded{}",
                args.join(" "),
                if output.is_empty() {
                    String::new()
                } else {
                    format!(": {}", String::from_utf8_lossy(&output).trim())
                }
            ));
        }
        if !output.is_empty() {
            return fail(format!(
                "`{program} {}` printed output with the library preloaded: {}",
                args.join(" "),
                String::from_utf8_lossy(&output).trim()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_library_that_is_not_elf_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("liboneagent_preload.so");
        std::fs::write(&lib, b"not an ELF file").unwrap();
        let err = verify_library(&lib, &dir.path().join("snap")).unwrap_err();
        assert!(err.problem.contains("not a usable ELF"), "{err:?}");
        let err =
            verify_library(&dir.path().join("missing.so"), &dir.path().join("snap")).unwrap_err();
        assert!(err.problem.contains("missing.so"), "{err:?}");
    }

    #[test]
    fn a_library_with_dependencies_is_refused() {
        // libm needs libc: a perfectly good library, but not a preload library of ours.
        let libm = [
            "/lib/x86_64-linux-gnu/libm.so.6",
            "/usr/lib/x86_64-linux-gnu/libm.so.6",
            "/lib/aarch64-linux-gnu/libm.so.6",
        ]
        .into_iter()
        .find(|p| Path::new(p).exists());
        let Some(libm) = libm else { return };
        let err = verify_library(Path::new(libm), Path::new("/nonexistent")).unwrap_err();
        assert!(err.problem.contains("needs other libraries"), "{err:?}");
    }
}
