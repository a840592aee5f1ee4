//! `/etc/ld.so.preload` management: add or remove our library, keep every other entry, edit
//! atomically (temporary file, fsync, rename, fsync of the directory), and remove the file when
//! ours was its only entry. The text edits are pure functions; the I/O is a thin layer.

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The file name of our library; an entry with this basename is ours wherever it lives.
pub const LIBRARY_NAME: &str = "liboneagent_preload.so";

/// Whether an entry of ld.so.preload is ours.
pub fn is_ours(entry: &str) -> bool {
    Path::new(entry)
        .file_name()
        .is_some_and(|n| n == LIBRARY_NAME)
}

/// The entries of an ld.so.preload text (the loader splits on white space and `:`), `#` comments
/// ignored.
pub fn entries(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .flat_map(|l| l.split(|c: char| c.is_whitespace() || c == ':'))
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The new text with `library` added, or `None` when it is already there (and no stale entry of
/// ours at another path needs to go). Other lines are kept byte for byte.
pub fn with_library(text: &str, library: &str) -> Option<String> {
    let present = entries(text).iter().any(|e| e == library);
    let stale = entries(text).iter().any(|e| is_ours(e) && e != library);
    if present && !stale {
        return None;
    }
    let mut out = if stale {
        without_ours(text, Some(library)).unwrap_or_default()
    } else {
        text.to_owned()
    };
    if !present || stale {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        if !entries(&out).iter().any(|e| e == library) {
            out.push_str(library);
            out.push('\n');
        }
    }
    Some(out)
}

/// The text without our entries (except `keep`), or `None` when there was nothing of ours.
/// Lines that held only our entry disappear; other lines keep their other entries.
pub fn without_ours(text: &str, keep: Option<&str>) -> Option<String> {
    let drop_entry = |e: &str| is_ours(e) && Some(e) != keep;
    if !entries(text).iter().any(|e| drop_entry(e)) {
        return None;
    }
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let (body, comment) = match line.find('#') {
            Some(i) => line.split_at(i),
            None => (line, ""),
        };
        let tokens: Vec<&str> = body
            .split(|c: char| c.is_whitespace() || c == ':')
            .filter(|t| !t.is_empty())
            .collect();
        if !tokens.iter().any(|t| drop_entry(t)) {
            out.push_str(line);
            continue;
        }
        let kept: Vec<&str> = tokens.into_iter().filter(|t| !drop_entry(t)).collect();
        if kept.is_empty() && comment.is_empty() {
            continue;
        }
        out.push_str(&kept.join(" "));
        if !kept.is_empty() && !comment.is_empty() {
            out.push(' ');
        }
        out.push_str(comment.trim_end_matches('\n'));
        out.push('\n');
    }
    Some(out)
}

/// What the file holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreloadFileState {
    /// The file.
    pub path: PathBuf,
    /// Whether it exists.
    pub exists: bool,
    /// Our entries in it.
    pub ours: Vec<String>,
    /// Everybody else's.
    pub others: Vec<String>,
}

/// The preload file's text; `None` when it does not exist. Only a regular file of at most
/// 64 KiB is read, without blocking (see [`crate::safe_fs`]).
fn read_text(path: &Path) -> Result<Option<String>> {
    match crate::safe_fs::read_capped(path, 64 * 1024, crate::safe_fs::OpenOpts::TRUSTED) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|e| {
            Error::io(
                "reading",
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        }),
        Err(e) if crate::safe_fs::is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads the state of `path`.
pub fn state(path: &Path) -> Result<PreloadFileState> {
    let text = read_text(path)?;
    let all = text.as_deref().map(entries).unwrap_or_default();
    let (ours, others) = all.into_iter().partition(|e| is_ours(e));
    Ok(PreloadFileState {
        path: path.to_owned(),
        exists: text.is_some(),
        ours,
        others,
    })
}

/// Writes `text` to `path` atomically with mode 0644; an empty text removes the file.
fn replace_atomically(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("/"));
    if entries(text).is_empty() && text.trim().is_empty() {
        return match std::fs::remove_file(path) {
            Ok(()) => sync_dir(dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("removing", path, e)),
        };
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("ld.so.preload");
    let tmp = dir.join(format!(".{name}.oneagent-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
            .map_err(|e| Error::io("creating", &tmp, e))?;
        f.write_all(text.as_bytes())
            .map_err(|e| Error::io("writing", &tmp, e))?;
        f.sync_all().map_err(|e| Error::io("syncing", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io("renaming into place", path, e))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("syncing directory", dir, e))
}

/// Adds `library` to `path`; returns whether the file changed.
pub fn install(path: &Path, library: &str) -> Result<bool> {
    let text = read_text(path)?.unwrap_or_default();
    match with_library(&text, library) {
        None => Ok(false),
        Some(new) => replace_atomically(path, &new).map(|()| true),
    }
}

/// Removes our entries from `path` (the file goes when nothing else is left); returns whether
/// the file changed.
pub fn remove(path: &Path) -> Result<bool> {
    let Some(text) = read_text(path)? else {
        return Ok(false);
    };
    match without_ours(&text, None) {
        None => Ok(false),
        Some(new) => replace_atomically(path, &new).map(|()| true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIB: &str = "/usr/lib/oneagent/liboneagent_preload.so";

    #[test]
    fn add_to_nothing_and_remove_again() {
        let added = with_library("", LIB).unwrap();
        assert_eq!(added, format!("{LIB}\n"));
        assert_eq!(with_library(&added, LIB), None);
        assert_eq!(without_ours(&added, None).unwrap(), "");
    }

    #[test]
    fn other_entries_are_kept_exactly() {
        let text = "# keep me\n/usr/lib/libfoo.so /opt/bar.so\n/usr/lib/libbaz.so";
        let added = with_library(text, LIB).unwrap();
        assert_eq!(added, format!("{text}\n{LIB}\n"));
        assert_eq!(without_ours(&added, None).unwrap(), format!("{text}\n"));
    }

    #[test]
    fn our_entry_sharing_a_line_is_cut_out_alone() {
        let text = format!("/opt/a.so {LIB}:/opt/b.so # note\n");
        assert_eq!(
            without_ours(&text, None).unwrap(),
            "/opt/a.so /opt/b.so # note\n"
        );
        assert_eq!(entries(&text), ["/opt/a.so", LIB, "/opt/b.so"]);
    }

    #[test]
    fn a_stale_path_of_ours_is_replaced() {
        let text = "/old/place/liboneagent_preload.so\n/opt/x.so\n";
        let new = with_library(text, LIB).unwrap();
        assert_eq!(entries(&new), ["/opt/x.so", LIB]);
    }

    #[test]
    fn file_lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ld.so.preload");
        assert!(install(&file, LIB).unwrap());
        assert!(!install(&file, LIB).unwrap(), "install twice = once");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{LIB}\n"));
        assert!(remove(&file).unwrap());
        assert!(!file.exists(), "the file goes when ours was the only entry");
        std::fs::write(&file, "/opt/other.so\n").unwrap();
        assert!(install(&file, LIB).unwrap());
        assert_eq!(state(&file).unwrap().ours, [LIB]);
        assert!(remove(&file).unwrap());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "/opt/other.so\n");
        assert!(!remove(&file).unwrap());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left behind");
    }
}
