//! Discovery of log files under parent directories: inotify watches on every directory down to
//! `max_depth`, picking up directories and files created later. When the kernel runs out of
//! watches, the remaining directories are scanned slowly instead, and that is said once with the
//! sysctl to raise.

#![forbid(unsafe_code)]

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::{Path, PathBuf};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use super::glob;

/// What discovery looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// Parent directories.
    pub roots: Vec<PathBuf>,
    /// File name globs of log files.
    pub include: Vec<String>,
    /// File name globs never to tail.
    pub exclude: Vec<String>,
    /// Directory levels below each root.
    pub max_depth: u32,
    /// Directories never watched (the daemon's own state and runtime directories).
    pub ignore: Vec<PathBuf>,
}

impl DiscoveryConfig {
    /// Whether a file name is a log file.
    pub fn wants(&self, name: &str) -> bool {
        self.include.iter().any(|p| glob::matches(p, name))
            && !self.exclude.iter().any(|p| glob::matches(p, name))
    }
}

/// Something happened to a path discovery cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A log file exists (found or created) or changed.
    File(PathBuf),
    /// A file (any name) in a watched directory was renamed away or deleted: rotation candidates.
    Moved(PathBuf),
    /// A file of another name was written and closed, or renamed into a watched directory: maybe
    /// a copy made by logrotate's `copytruncate`.
    Sibling(PathBuf),
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiscoveryStats {
    /// Directories with an inotify watch.
    pub watched_dirs: usize,
    /// Directories scanned instead (watches exhausted).
    pub scanned_dirs: usize,
}

/// The discovery engine.
#[derive(Debug)]
pub struct Discovery {
    config: DiscoveryConfig,
    inotify: Inotify,
    watches: HashMap<WatchDescriptor, (PathBuf, u32)>,
    watched: HashSet<PathBuf>,
    fallback: Vec<(PathBuf, u32)>,
    warned_exhausted: bool,
}

fn dir_mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::MODIFY
        | WatchMask::CLOSE_WRITE
        | WatchMask::MOVED_TO
        | WatchMask::MOVED_FROM
        | WatchMask::DELETE
        | WatchMask::DELETE_SELF
        | WatchMask::ONLYDIR
}

impl Discovery {
    /// Creates the inotify instance; nothing is watched until [`Discovery::scan`].
    pub fn new(config: DiscoveryConfig) -> std::io::Result<Self> {
        Ok(Discovery {
            config,
            inotify: Inotify::init()?,
            watches: HashMap::new(),
            watched: HashSet::new(),
            fallback: Vec::new(),
            warned_exhausted: false,
        })
    }

    /// Counters.
    pub fn stats(&self) -> DiscoveryStats {
        DiscoveryStats {
            watched_dirs: self.watches.len(),
            scanned_dirs: self.fallback.len(),
        }
    }

    fn ignored(&self, dir: &Path) -> bool {
        self.config.ignore.iter().any(|i| dir.starts_with(i))
    }

    /// Watches `dir` and everything below it to the depth limit; returns the log files found.
    fn add_tree(&mut self, dir: &Path, depth: u32, found: &mut Vec<PathBuf>) {
        if self.ignored(dir) || self.watched.contains(dir) {
            return;
        }
        match self.inotify.watches().add(dir, dir_mask()) {
            Ok(wd) => {
                self.watches.insert(wd, (dir.to_owned(), depth));
                self.watched.insert(dir.to_owned());
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                if !self.warned_exhausted {
                    self.warned_exhausted = true;
                    tracing::warn!(
                        directory = %dir.display(),
                        "inotify watches are exhausted; directories without a watch are scanned every few seconds instead. Raise the limit with `sysctl fs.inotify.max_user_watches=524288`"
                    );
                }
                if !self.fallback.iter().any(|(d, _)| d == dir) {
                    self.fallback.push((dir.to_owned(), depth));
                    self.watched.insert(dir.to_owned());
                }
            }
            Err(e) => {
                tracing::debug!(directory = %dir.display(), error = %e, "Directory not watched");
                return;
            }
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                if depth < self.config.max_depth {
                    self.add_tree(&path, depth + 1, found);
                }
            } else if kind.is_file()
                && entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| self.config.wants(n))
            {
                found.push(path);
            }
        }
    }

    /// Watches every root (roots that do not exist yet are skipped); returns the log files.
    pub fn scan(&mut self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for root in self.config.roots.clone() {
            if root.is_dir() {
                self.add_tree(&root, 0, &mut found);
            }
        }
        found
    }

    /// Scans the directories that have no watch; returns their log files.
    pub fn scan_fallback(&mut self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for (dir, depth) in self.fallback.clone() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                match entry.file_type() {
                    Ok(k)
                        if k.is_dir()
                            && depth < self.config.max_depth
                            && !self.watched.contains(&path) =>
                    {
                        self.add_tree(&path, depth + 1, &mut found);
                    }
                    Ok(k)
                        if k.is_file()
                            && entry
                                .file_name()
                                .to_str()
                                .is_some_and(|n| self.config.wants(n)) =>
                    {
                        found.push(path)
                    }
                    _ => {}
                }
            }
        }
        found
    }

    /// Reads pending inotify events (non-blocking); returns what changed. A queue overflow
    /// returns every known directory's files again (a rescan).
    pub fn read(&mut self) -> Vec<Change> {
        let mut buf = [0u8; 16 * 1024];
        let mut changes = Vec::new();
        let mut new_dirs = Vec::new();
        let mut overflow = false;
        loop {
            let events = match self.inotify.read_events(&mut buf) {
                Ok(events) => events,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::warn!(error = %e, "Reading inotify events failed");
                    break;
                }
            };
            let mut any = false;
            for event in events {
                any = true;
                if event.mask.contains(EventMask::Q_OVERFLOW) {
                    overflow = true;
                    continue;
                }
                let Some((dir, depth)) = self.watches.get(&event.wd).cloned() else {
                    continue;
                };
                if event.mask.contains(EventMask::IGNORED)
                    || event.mask.contains(EventMask::DELETE_SELF)
                {
                    self.watches.remove(&event.wd);
                    self.watched.remove(&dir);
                    continue;
                }
                let Some(name) = event.name else { continue };
                let path = dir.join(name);
                if event.mask.contains(EventMask::ISDIR) {
                    if event
                        .mask
                        .intersects(EventMask::CREATE | EventMask::MOVED_TO)
                        && depth < self.config.max_depth
                    {
                        new_dirs.push((path, depth + 1));
                    }
                    continue;
                }
                if event
                    .mask
                    .intersects(EventMask::MOVED_FROM | EventMask::DELETE)
                {
                    changes.push(Change::Moved(path.clone()));
                }
                let wanted = name.to_str().is_some_and(|n| self.config.wants(n));
                if !wanted
                    && event
                        .mask
                        .intersects(EventMask::CLOSE_WRITE | EventMask::MOVED_TO)
                {
                    changes.push(Change::Sibling(path.clone()));
                }
                if wanted
                    && event.mask.intersects(
                        EventMask::CREATE
                            | EventMask::MODIFY
                            | EventMask::CLOSE_WRITE
                            | EventMask::MOVED_TO,
                    )
                {
                    changes.push(Change::File(path));
                }
            }
            if !any {
                break;
            }
        }
        for (dir, depth) in new_dirs {
            let mut found = Vec::new();
            self.add_tree(&dir, depth, &mut found);
            changes.extend(found.into_iter().map(Change::File));
        }
        if overflow {
            tracing::warn!("inotify queue overflow; rescanning log directories");
            let dirs: Vec<(PathBuf, u32)> = self.watches.values().cloned().collect();
            for (dir, _) in dirs {
                if let Ok(entries) = std::fs::read_dir(&dir) {
                    for entry in entries.flatten() {
                        if entry.file_type().is_ok_and(|k| k.is_file())
                            && entry
                                .file_name()
                                .to_str()
                                .is_some_and(|n| self.config.wants(n))
                        {
                            changes.push(Change::File(entry.path()));
                        }
                    }
                }
            }
        }
        changes.dedup();
        changes
    }
}

impl AsRawFd for Discovery {
    fn as_raw_fd(&self) -> RawFd {
        self.inotify.as_raw_fd()
    }
}

impl AsFd for Discovery {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inotify.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(root: &Path) -> DiscoveryConfig {
        DiscoveryConfig {
            roots: vec![root.to_owned()],
            include: vec!["*.log".into()],
            exclude: vec!["debug*.log".into()],
            max_depth: 2,
            ignore: vec![root.join("state")],
        }
    }

    #[test]
    fn finds_existing_and_new_files_to_the_depth_limit() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b/c")).unwrap();
        std::fs::create_dir_all(root.join("state")).unwrap();
        std::fs::write(root.join("top.log"), "x\n").unwrap();
        std::fs::write(root.join("a/b/deep.log"), "x\n").unwrap();
        std::fs::write(root.join("a/b/c/too-deep.log"), "x\n").unwrap();
        std::fs::write(root.join("a/debug1.log"), "x\n").unwrap();
        std::fs::write(root.join("state/own.log"), "x\n").unwrap();
        std::fs::write(root.join("a/notes.txt"), "x\n").unwrap();
        let mut d = Discovery::new(config(root)).unwrap();
        let mut found = d.scan();
        found.sort();
        assert_eq!(found, [root.join("a/b/deep.log"), root.join("top.log")]);

        std::fs::create_dir_all(root.join("new/sub")).unwrap();
        std::fs::write(root.join("new/sub/later.log"), "x\n").unwrap();
        std::fs::write(root.join("top.log"), "y\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let changes = d.read();
        assert!(
            changes.contains(&Change::File(root.join("top.log"))),
            "{changes:?}"
        );
        // The file was created before the directory's watch existed: found by the walk.
        assert!(
            changes.contains(&Change::File(root.join("new/sub/later.log"))),
            "{changes:?}"
        );
        std::fs::rename(root.join("top.log"), root.join("top.log.1")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let changes = d.read();
        assert!(
            changes.contains(&Change::Moved(root.join("top.log"))),
            "{changes:?}"
        );
    }
}
