//! A bounded cache of ELF facts keyed by the executable's identity (device, inode, size, mtime),
//! so that the thousandth `bash` costs one `stat`, not an ELF parse.

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use crate::elf::{ElfFacts, read_elf_facts};

const MAX_ENTRIES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

/// The cache. Non-ELF files and unreadable ones are remembered as `None`.
#[derive(Debug, Default)]
pub struct ElfCache {
    entries: HashMap<Identity, Option<Arc<ElfFacts>>>,
    apphosts: HashMap<std::path::PathBuf, bool>,
}

impl ElfCache {
    /// Whether `<exe>.runtimeconfig.json` exists (a .NET apphost), remembered per path.
    pub fn dotnet_apphost(&mut self, exe: &Path) -> bool {
        if let Some(&known) = self.apphosts.get(exe) {
            return known;
        }
        let mut json = exe.as_os_str().to_owned();
        json.push(".runtimeconfig.json");
        let found = Path::new(&json).is_file();
        if self.apphosts.len() >= MAX_ENTRIES {
            self.apphosts.clear();
        }
        self.apphosts.insert(exe.to_owned(), found);
        found
    }

    /// Facts of `path`, read once per identity.
    pub fn facts(&mut self, path: &Path) -> Option<Arc<ElfFacts>> {
        let meta = std::fs::metadata(path).ok()?;
        let id = Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        };
        if let Some(hit) = self.entries.get(&id) {
            return hit.clone();
        }
        let facts = match read_elf_facts(path) {
            Ok(f) => Some(Arc::new(f)),
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "No ELF facts");
                None
            }
        };
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.clear();
        }
        self.entries.insert(id, facts.clone());
        facts
    }
}
