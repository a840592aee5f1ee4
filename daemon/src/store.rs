//! The daemon's state in SQLite (`state.db`, WAL). Only oneagentd writes it.
//!
//! At open: an exclusive lock file keeps a second daemon out, `PRAGMA integrity_check` runs, and a
//! corrupt database is moved aside (kept, never deleted) and rebuilt. Schema changes are numbered
//! migrations recorded in `schema_version`.
//!
//! In the daemon one thread owns the open [`Store`]; everything else reaches it through a
//! [`StoreHandle`] (see `owner`).

#![forbid(unsafe_code)]

use std::fs::File;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use serde::{Deserialize, Serialize};

pub use crate::clock::unix_now;
pub use crate::decision::{GLOBAL_SCOPE, InjectionRule};
use crate::error::{Error, Result};

mod owner;
pub use owner::StoreHandle;

/// The database file name inside the state directory.
pub const DB_FILE: &str = "state.db";
/// The lock file that keeps a second daemon away from the same state directory.
pub const LOCK_FILE: &str = "oneagentd.lock";

/// Numbered migrations; index + 1 is the schema version each one produces.
const MIGRATIONS: &[&str] = &[
    // 1: daemon starts and injection rules.
    "CREATE TABLE daemon_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at INTEGER NOT NULL,
        pid INTEGER NOT NULL,
        version TEXT NOT NULL
     );
     CREATE TABLE injection_rules (
        scope TEXT PRIMARY KEY NOT NULL,
        enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
        updated_at INTEGER NOT NULL,
        updated_by_uid INTEGER NOT NULL
     );",
    // 2: the process inventory.
    "CREATE TABLE processes (
        pid INTEGER NOT NULL,
        start_time INTEGER NOT NULL,
        ppid INTEGER NOT NULL,
        exe TEXT NOT NULL,
        command_line TEXT NOT NULL,
        systemd_unit TEXT NOT NULL,
        container_id TEXT NOT NULL,
        pod_uid TEXT NOT NULL,
        language TEXT NOT NULL,
        runtime_version TEXT NOT NULL,
        action TEXT NOT NULL,
        reason_code TEXT NOT NULL,
        reason TEXT NOT NULL,
        service_name TEXT NOT NULL,
        service_name_source TEXT NOT NULL,
        injection_state TEXT NOT NULL,
        pending_change TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (pid, start_time)
     );",
    // 3: executables the crash circuit breaker keeps from being injected.
    "CREATE TABLE blocked_executables (
        exe TEXT PRIMARY KEY NOT NULL,
        reason TEXT NOT NULL,
        blocked_at INTEGER NOT NULL
     );
     ALTER TABLE processes ADD COLUMN preload_outcome TEXT NOT NULL DEFAULT '';",
    // 4: log tailing checkpoints, keyed by device and inode, validated by content signatures.
    "CREATE TABLE log_checkpoints (
        dev INTEGER NOT NULL,
        ino INTEGER NOT NULL,
        path TEXT NOT NULL,
        offset INTEGER NOT NULL,
        head_len INTEGER NOT NULL,
        head_hash INTEGER NOT NULL,
        tail_len INTEGER NOT NULL,
        tail_hash INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (dev, ino)
     );",
    // 5: log-writer attribution: which processes write which log file.
    "CREATE TABLE log_files (
        id INTEGER PRIMARY KEY,
        dev INTEGER,
        ino INTEGER,
        path TEXT,
        first_seen INTEGER,
        UNIQUE (dev, ino)
     );
     CREATE TABLE log_writers (
        file_id INTEGER REFERENCES log_files(id),
        pid INTEGER,
        start_time INTEGER,
        exe TEXT,
        command_line TEXT,
        systemd_unit TEXT,
        container_id TEXT,
        pod_uid TEXT,
        service_name TEXT,
        language TEXT,
        first_seen INTEGER,
        last_seen INTEGER,
        PRIMARY KEY (file_id, pid, start_time)
     );",
    // 6: the OpAMP client: its instance uid, the remote configuration in effect and the
    // outcome of the last one offered.
    "CREATE TABLE opamp (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        instance_uid BLOB NOT NULL,
        remote_config TEXT NOT NULL DEFAULT '',
        remote_config_hash BLOB NOT NULL DEFAULT x'',
        remote_config_at INTEGER NOT NULL DEFAULT 0,
        last_hash BLOB NOT NULL DEFAULT x'',
        last_status INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT ''
     );",
    // 7: the crash circuit breaker blocks host executables and containers' executables apart
    // (`host` or `containers`); the blocks of earlier versions were the host's.
    "CREATE TABLE blocked_executables_7 (
        scope TEXT NOT NULL,
        exe TEXT NOT NULL,
        reason TEXT NOT NULL,
        blocked_at INTEGER NOT NULL,
        PRIMARY KEY (scope, exe)
     );
     INSERT INTO blocked_executables_7 (scope, exe, reason, blocked_at)
        SELECT 'host', exe, reason, blocked_at FROM blocked_executables;
     DROP TABLE blocked_executables;
     ALTER TABLE blocked_executables_7 RENAME TO blocked_executables;",
];

/// The OpAMP client's persisted state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpampState {
    /// The instance uid (UUID v7).
    pub instance_uid: [u8; 16],
    /// The remote configuration in effect (oneagent.toml text), empty when none.
    pub remote_config: String,
    /// Its hash, as the server gave it.
    pub remote_config_hash: Vec<u8>,
    /// When it was applied (Unix seconds), 0 when none.
    pub remote_config_at: u64,
    /// The hash of the last remote configuration offered.
    pub last_hash: Vec<u8>,
    /// What became of it (`RemoteConfigStatuses`: 0 none, 1 applied, 3 failed).
    pub last_status: i32,
    /// Why it failed.
    pub last_error: String,
}

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// What happened while opening the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// Where a corrupt database was moved, if one was.
    pub moved_aside: Option<PathBuf>,
    /// What was wrong with it.
    pub corruption: Option<String>,
    /// Schema version before migrations ran (0 for a new database).
    pub previous_version: i64,
}

/// The open state database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    _lock: File,
}

fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |source| Error::Database {
        path: path.to_owned(),
        source,
    }
}

/// True for errors that mean "the file's content is damaged", as opposed to I/O or permissions.
fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

impl Store {
    /// Opens (creating if needed) `state.db` in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<(Store, OpenReport)> {
        std::fs::create_dir_all(state_dir)
            .map_err(|e| Error::io("creating state directory", state_dir, e))?;
        let lock_path = state_dir.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io("opening lock file", &lock_path, e))?;
        lock.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => Error::io(
                "locking (is another oneagentd using this state directory?)",
                &lock_path,
                std::io::Error::from(std::io::ErrorKind::WouldBlock),
            ),
            std::fs::TryLockError::Error(e) => Error::io("locking", &lock_path, e),
        })?;

        let path = state_dir.join(DB_FILE);
        let mut report = OpenReport {
            moved_aside: None,
            corruption: None,
            previous_version: 0,
        };
        let conn = match Self::check(&path) {
            Ok(conn) => conn,
            Err(CheckError::Corrupt(why)) => {
                let aside = move_aside(&path)?;
                tracing::warn!(
                    database = %path.display(),
                    moved_to = %aside.display(),
                    problem = %why,
                    "State database is corrupt; moved it aside and started a new one"
                );
                report.moved_aside = Some(aside);
                report.corruption = Some(why);
                Self::connect(&path).map_err(db_err(&path))?
            }
            Err(CheckError::Other(e)) => return Err(e),
        };
        let mut store = Store {
            conn,
            path,
            _lock: lock,
        };
        report.previous_version = store.migrate()?;
        Ok((store, report))
    }

    fn connect(path: &Path) -> rusqlite::Result<Connection> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(conn)
    }

    fn check(path: &Path) -> std::result::Result<Connection, CheckError> {
        let conn = Self::connect(path).map_err(|e| classify(path, e))?;
        let verdict: Vec<String> = conn
            .prepare("PRAGMA integrity_check")
            .and_then(|mut st| {
                st.query_map([], |row| row.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| classify(path, e))?;
        if verdict.len() == 1 && verdict.first().is_some_and(|v| v == "ok") {
            Ok(conn)
        } else {
            Err(CheckError::Corrupt(format!(
                "integrity_check: {}",
                verdict.join("; ")
            )))
        }
    }

    /// Applies pending migrations; returns the version found before.
    fn migrate(&mut self) -> Result<i64> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(db_err(&path))?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_version (
                version INTEGER NOT NULL,
                applied_at INTEGER NOT NULL
             )",
        )
        .map_err(db_err(&path))?;
        let found: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                [],
                |r| r.get(0),
            )
            .map_err(db_err(&path))?;
        if found > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                path,
                found,
                supported: SCHEMA_VERSION,
            });
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let version = index as i64 + 1;
            tx.execute_batch(sql).map_err(db_err(&path))?;
            tx.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)",
                params![version, unix_now() as i64],
            )
            .map_err(db_err(&path))?;
            tracing::info!(database = %path.display(), version, "Applied state database migration");
        }
        tx.commit().map_err(db_err(&path))?;
        Ok(found)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version in force.
    pub fn schema_version(&self) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                [],
                |r| r.get(0),
            )
            .map_err(db_err(&self.path))
    }

    /// Records a daemon start; returns how many starts the database has seen.
    pub fn record_start(&self, pid: u32, version: &str) -> Result<u64> {
        self.conn
            .execute(
                "INSERT INTO daemon_runs (started_at, pid, version) VALUES (?1, ?2, ?3)",
                params![unix_now() as i64, pid, version],
            )
            .map_err(db_err(&self.path))?;
        self.conn
            .query_row("SELECT COUNT(*) FROM daemon_runs", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(db_err(&self.path))
    }

    /// The OpAMP client's persisted state; the instance uid is created (by `new_uid`) and kept
    /// the first time.
    pub fn opamp_state(&self, new_uid: impl FnOnce() -> [u8; 16]) -> Result<OpampState> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO opamp (id, instance_uid) VALUES (1, ?1)",
                params![new_uid().to_vec()],
            )
            .map_err(db_err(&self.path))?;
        self.conn
            .query_row(
                "SELECT instance_uid, remote_config, remote_config_hash, remote_config_at, \
                 last_hash, last_status, last_error FROM opamp WHERE id = 1",
                [],
                |r| {
                    let uid: Vec<u8> = r.get(0)?;
                    Ok(OpampState {
                        instance_uid: uid.try_into().unwrap_or([0; 16]),
                        remote_config: r.get(1)?,
                        remote_config_hash: r.get(2)?,
                        remote_config_at: r.get::<_, i64>(3)? as u64,
                        last_hash: r.get(4)?,
                        last_status: r.get(5)?,
                        last_error: r.get(6)?,
                    })
                },
            )
            .map_err(db_err(&self.path))
    }

    /// Keeps an instance uid the server assigned.
    pub fn set_opamp_uid(&self, uid: [u8; 16]) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO opamp (id, instance_uid) VALUES (1, ?1) \
                 ON CONFLICT (id) DO UPDATE SET instance_uid = excluded.instance_uid",
                params![uid.to_vec()],
            )
            .map(drop)
            .map_err(db_err(&self.path))
    }

    /// Keeps the remote configuration in effect (empty text: none).
    pub fn set_remote_config(&self, text: &str, hash: &[u8]) -> Result<()> {
        self.conn
            .execute(
                "UPDATE opamp SET remote_config = ?1, remote_config_hash = ?2, remote_config_at = ?3 \
                 WHERE id = 1",
                params![text, hash, unix_now() as i64],
            )
            .map(drop)
            .map_err(db_err(&self.path))
    }

    /// Keeps the outcome of the last remote configuration offered.
    pub fn set_remote_status(&self, hash: &[u8], status: i32, error: &str) -> Result<()> {
        self.conn
            .execute(
                "UPDATE opamp SET last_hash = ?1, last_status = ?2, last_error = ?3 WHERE id = 1",
                params![hash, status, error],
            )
            .map(drop)
            .map_err(db_err(&self.path))
    }

    /// All injection rules, the global one first.
    pub fn injection_rules(&self) -> Result<Vec<InjectionRule>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT scope, enabled, updated_at, updated_by_uid FROM injection_rules
                 ORDER BY scope != '*', scope",
            )
            .map_err(db_err(&self.path))?;
        let rows = st
            .query_map([], |r| {
                Ok(InjectionRule {
                    scope: r.get(0)?,
                    enabled: r.get(1)?,
                    updated_at: r.get::<_, i64>(2)? as u64,
                    updated_by_uid: r.get(3)?,
                })
            })
            .map_err(db_err(&self.path))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err(&self.path))
    }

    /// The global rule, if one was set.
    pub fn global_rule(&self) -> Result<Option<bool>> {
        self.conn
            .query_row(
                "SELECT enabled FROM injection_rules WHERE scope = '*'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err(&self.path))
    }

    /// Sets (inserts or replaces) the rule of `scope`; returns whether anything changed.
    pub fn set_injection_rule(&self, scope: &str, enabled: bool, uid: u32) -> Result<bool> {
        let previous: Option<bool> = self
            .conn
            .query_row(
                "SELECT enabled FROM injection_rules WHERE scope = ?1",
                [scope],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err(&self.path))?;
        self.conn
            .execute(
                "INSERT INTO injection_rules (scope, enabled, updated_at, updated_by_uid)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(scope) DO UPDATE SET enabled = ?2, updated_at = ?3, updated_by_uid = ?4",
                params![scope, enabled, unix_now() as i64, uid],
            )
            .map_err(db_err(&self.path))?;
        Ok(previous != Some(enabled))
    }
}

/// An executable the crash circuit breaker blocked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedExecutable {
    /// `host`, or `containers` for an executable of containers (blocked in the containers'
    /// snapshot by its path inside them).
    pub scope: String,
    /// The executable path.
    pub exe: String,
    /// Why it was blocked.
    pub reason: String,
    /// Unix time it was blocked.
    pub blocked_at: u64,
}

impl Store {
    /// Every log checkpoint.
    pub fn log_checkpoints(&self) -> Result<Vec<crate::logs::tail::Checkpoint>> {
        use crate::logs::tail::{Checkpoint, FileKey};
        let mut st = self
            .conn
            .prepare(
                "SELECT dev, ino, path, offset, head_len, head_hash, tail_len, tail_hash
                 FROM log_checkpoints",
            )
            .map_err(db_err(&self.path))?;
        let rows = st
            .query_map([], |r| {
                Ok(Checkpoint {
                    key: FileKey {
                        dev: r.get::<_, i64>(0)? as u64,
                        ino: r.get::<_, i64>(1)? as u64,
                    },
                    path: PathBuf::from(r.get::<_, String>(2)?),
                    offset: r.get::<_, i64>(3)? as u64,
                    head: (r.get::<_, i64>(4)? as u64, r.get::<_, i64>(5)? as u64),
                    tail: (r.get::<_, i64>(6)? as u64, r.get::<_, i64>(7)? as u64),
                })
            })
            .map_err(db_err(&self.path))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err(&self.path))
    }

    /// Saves log checkpoints in one transaction.
    pub fn save_log_checkpoints(
        &mut self,
        checkpoints: &[crate::logs::tail::Checkpoint],
    ) -> Result<()> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(db_err(&path))?;
        {
            let mut st = tx
                .prepare(
                    "INSERT OR REPLACE INTO log_checkpoints
                     (dev, ino, path, offset, head_len, head_hash, tail_len, tail_hash, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(db_err(&path))?;
            let now = unix_now() as i64;
            for c in checkpoints {
                st.execute(params![
                    c.key.dev as i64,
                    c.key.ino as i64,
                    c.path.display().to_string(),
                    c.offset as i64,
                    c.head.0 as i64,
                    c.head.1 as i64,
                    c.tail.0 as i64,
                    c.tail.1 as i64,
                    now
                ])
                .map_err(db_err(&path))?;
            }
        }
        tx.commit().map_err(db_err(&path))
    }

    /// Executables blocked by the circuit breaker.
    pub fn blocked_executables(&self) -> Result<Vec<BlockedExecutable>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT scope, exe, reason, blocked_at FROM blocked_executables ORDER BY scope DESC, exe",
            )
            .map_err(db_err(&self.path))?;
        let rows = st
            .query_map([], |r| {
                Ok(BlockedExecutable {
                    scope: r.get(0)?,
                    exe: r.get(1)?,
                    reason: r.get(2)?,
                    blocked_at: r.get::<_, i64>(3)? as u64,
                })
            })
            .map_err(db_err(&self.path))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err(&self.path))
    }

    /// Blocks `exe` in `scope`; returns whether it was new.
    pub fn block_executable(
        &self,
        scope: crate::injection::breaker::Scope,
        exe: &str,
        reason: &str,
    ) -> Result<bool> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO blocked_executables (scope, exe, reason, blocked_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![scope.as_str(), exe, reason, unix_now() as i64],
            )
            .map(|n| n > 0)
            .map_err(db_err(&self.path))
    }

    /// Unblocks `exe` (in both scopes), or every executable when `None`; returns how many were
    /// removed.
    pub fn unblock_executable(&self, exe: Option<&str>) -> Result<usize> {
        match exe {
            Some(exe) => self
                .conn
                .execute("DELETE FROM blocked_executables WHERE exe = ?1", [exe]),
            None => self.conn.execute("DELETE FROM blocked_executables", []),
        }
        .map_err(db_err(&self.path))
    }
}

impl Store {
    /// Applies inventory changes in one transaction.
    pub fn apply_process_changes(&mut self, changes: &crate::inventory::Changes) -> Result<()> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(db_err(&path))?;
        {
            let mut delete = tx
                .prepare("DELETE FROM processes WHERE pid = ?1 AND start_time = ?2")
                .map_err(db_err(&path))?;
            for (pid, start) in &changes.removals {
                delete
                    .execute(params![pid, *start as i64])
                    .map_err(db_err(&path))?;
            }
            let mut upsert = tx
                .prepare(
                    "INSERT OR REPLACE INTO processes (pid, start_time, ppid, exe, command_line,
                        systemd_unit, container_id, pod_uid, language, runtime_version, action,
                        reason_code, reason, service_name, service_name_source, injection_state,
                        pending_change, first_seen, updated_at, preload_outcome)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                        ?17, ?18, ?19, ?20)",
                )
                .map_err(db_err(&path))?;
            let now = unix_now() as i64;
            for p in &changes.upserts {
                let v = &p.verdict;
                upsert
                    .execute(params![
                        p.pid,
                        p.start_time as i64,
                        p.ppid,
                        p.exe,
                        p.command_line,
                        p.systemd_unit,
                        p.container_id,
                        p.pod_uid,
                        v.language,
                        v.runtime_version,
                        v.action,
                        v.reason_code,
                        v.reason,
                        v.service_name,
                        v.service_name_source,
                        p.injection_state,
                        p.pending_change,
                        p.first_seen as i64,
                        now,
                        p.preload_outcome,
                    ])
                    .map_err(db_err(&path))?;
            }
        }
        tx.commit().map_err(db_err(&path))
    }

    /// Replaces the whole process table with `entries` (after a full scan at start).
    pub fn replace_processes(&mut self, entries: &[crate::inventory::ProcessEntry]) -> Result<()> {
        self.conn
            .execute("DELETE FROM processes", [])
            .map_err(db_err(&self.path))?;
        self.apply_process_changes(&crate::inventory::Changes {
            upserts: entries.to_vec(),
            removals: Vec::new(),
        })
    }

    /// (pid, start_time) → first seen, from a previous run.
    pub fn processes_first_seen(&self) -> Result<Vec<((u32, u64), u64)>> {
        let mut st = self
            .conn
            .prepare("SELECT pid, start_time, first_seen FROM processes")
            .map_err(db_err(&self.path))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    (r.get::<_, u32>(0)?, r.get::<_, i64>(1)? as u64),
                    r.get::<_, i64>(2)? as u64,
                ))
            })
            .map_err(db_err(&self.path))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err(&self.path))
    }

    /// How many processes the table holds.
    pub fn process_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM processes", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(db_err(&self.path))
    }
}

enum CheckError {
    Corrupt(String),
    Other(Error),
}

fn classify(path: &Path, e: rusqlite::Error) -> CheckError {
    if is_corruption(&e) {
        CheckError::Corrupt(e.to_string())
    } else {
        CheckError::Other(Error::Database {
            path: path.to_owned(),
            source: e,
        })
    }
}

/// Renames `path` (and its `-wal`/`-shm` companions) to `path.corrupt-<time>[-n]`.
fn move_aside(path: &Path) -> Result<PathBuf> {
    let base = format!("{}.corrupt-{}", path.display(), unix_now());
    let mut aside = PathBuf::from(&base);
    let mut n = 1;
    while aside.exists() {
        aside = PathBuf::from(format!("{base}-{n}"));
        n += 1;
    }
    std::fs::rename(path, &aside)
        .map_err(|e| Error::io("moving corrupt database aside", path, e))?;
    for suffix in ["-wal", "-shm"] {
        let companion = PathBuf::from(format!("{}{suffix}", path.display()));
        if companion.exists() {
            let target = PathBuf::from(format!("{}{suffix}", aside.display()));
            std::fs::rename(&companion, &target)
                .map_err(|e| Error::io("moving corrupt database aside", &companion, e))?;
        }
    }
    Ok(aside)
}

/// Checks a service name given to enable/disable and normalises it to lower case.
pub fn normalise_service(name: &str) -> Result<String> {
    let lower = name.trim().to_ascii_lowercase();
    let why = if lower.is_empty() {
        Some("it is empty")
    } else if lower.len() > 128 {
        Some("it is longer than 128 bytes")
    } else if lower == GLOBAL_SCOPE {
        Some("`*` is reserved; use --global")
    } else if !lower
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
    {
        Some("only letters, digits, '.', '_' and '-' are allowed")
    } else {
        None
    };
    match why {
        Some(why) => Err(Error::ServiceName {
            given: name.to_owned(),
            why,
        }),
        None => Ok(lower),
    }
}

impl Store {
    /// Every log file with its writers (log-writer attribution), writers oldest first.
    pub fn log_files(&self) -> Result<Vec<crate::logs::attribute::LogFile>> {
        use crate::logs::attribute::{FileKey, LogFile, Writer};
        let mut files_st = self
            .conn
            .prepare("SELECT id, dev, ino, path, first_seen FROM log_files ORDER BY id")
            .map_err(db_err(&self.path))?;
        let files = files_st
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    LogFile {
                        key: FileKey {
                            dev: r.get::<_, i64>(1)? as u64,
                            ino: r.get::<_, i64>(2)? as u64,
                        },
                        path: PathBuf::from(r.get::<_, String>(3)?),
                        first_seen: r.get::<_, Option<i64>>(4)?.unwrap_or(0) as u64,
                        writers: Vec::new(),
                    },
                ))
            })
            .map_err(db_err(&self.path))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err(&self.path))?;
        let mut writers_st = self
            .conn
            .prepare(
                "SELECT pid, start_time, exe, command_line, systemd_unit, container_id, pod_uid,
                    service_name, language, first_seen, last_seen
                 FROM log_writers WHERE file_id = ?1 ORDER BY first_seen, pid",
            )
            .map_err(db_err(&self.path))?;
        let mut out = Vec::with_capacity(files.len());
        for (id, mut file) in files {
            let text = |r: &rusqlite::Row<'_>, i| -> rusqlite::Result<String> {
                Ok(r.get::<_, Option<String>>(i)?.unwrap_or_default())
            };
            file.writers = writers_st
                .query_map([id], |r| {
                    Ok(Writer {
                        pid: r.get(0)?,
                        start_time: r.get::<_, i64>(1)? as u64,
                        exe: text(r, 2)?,
                        command_line: text(r, 3)?,
                        systemd_unit: text(r, 4)?,
                        container_id: text(r, 5)?,
                        pod_uid: text(r, 6)?,
                        service_name: text(r, 7)?,
                        language: text(r, 8)?,
                        first_seen: r.get::<_, Option<i64>>(9)?.unwrap_or(0) as u64,
                        last_seen: r.get::<_, Option<i64>>(10)?.unwrap_or(0) as u64,
                    })
                })
                .map_err(db_err(&self.path))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(db_err(&self.path))?;
            out.push(file);
        }
        Ok(out)
    }

    /// Writes log files with their complete writer lists (replacing the stored ones) and
    /// forgets `removals`, in one transaction.
    pub fn save_log_files(
        &mut self,
        upserts: &[&crate::logs::attribute::LogFile],
        removals: &[crate::logs::attribute::FileKey],
    ) -> Result<()> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(db_err(&path))?;
        {
            let mut delete_writers = tx
                .prepare(
                    "DELETE FROM log_writers WHERE file_id IN
                        (SELECT id FROM log_files WHERE dev = ?1 AND ino = ?2)",
                )
                .map_err(db_err(&path))?;
            let mut delete_file = tx
                .prepare("DELETE FROM log_files WHERE dev = ?1 AND ino = ?2")
                .map_err(db_err(&path))?;
            for key in removals {
                let k = params![key.dev as i64, key.ino as i64];
                delete_writers.execute(k).map_err(db_err(&path))?;
                delete_file.execute(k).map_err(db_err(&path))?;
            }
            let mut upsert_file = tx
                .prepare(
                    "INSERT INTO log_files (dev, ino, path, first_seen) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (dev, ino) DO UPDATE SET path = excluded.path,
                        first_seen = excluded.first_seen
                     RETURNING id",
                )
                .map_err(db_err(&path))?;
            let mut clear_writers = tx
                .prepare("DELETE FROM log_writers WHERE file_id = ?1")
                .map_err(db_err(&path))?;
            let mut insert_writer = tx
                .prepare(
                    "INSERT INTO log_writers (file_id, pid, start_time, exe, command_line,
                        systemd_unit, container_id, pod_uid, service_name, language, first_seen,
                        last_seen)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .map_err(db_err(&path))?;
            for file in upserts {
                let id: i64 = upsert_file
                    .query_row(
                        params![
                            file.key.dev as i64,
                            file.key.ino as i64,
                            file.path.to_string_lossy(),
                            file.first_seen as i64
                        ],
                        |r| r.get(0),
                    )
                    .map_err(db_err(&path))?;
                clear_writers.execute([id]).map_err(db_err(&path))?;
                for w in &file.writers {
                    insert_writer
                        .execute(params![
                            id,
                            w.pid,
                            w.start_time as i64,
                            w.exe,
                            w.command_line,
                            w.systemd_unit,
                            w.container_id,
                            w.pod_uid,
                            w.service_name,
                            w.language,
                            w.first_seen as i64,
                            w.last_seen as i64,
                        ])
                        .map_err(db_err(&path))?;
                }
            }
        }
        tx.commit().map_err(db_err(&path))
    }
}

impl crate::logs::attribute::AttributionStore for Store {
    fn log_files(&self) -> Result<Vec<crate::logs::attribute::LogFile>> {
        Store::log_files(self)
    }

    fn save_log_files(
        &mut self,
        upserts: &[&crate::logs::attribute::LogFile],
        removals: &[crate::logs::attribute::FileKey],
    ) -> Result<()> {
        Store::save_log_files(self, upserts, removals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
    }

    #[test]
    fn new_database_is_migrated_and_rules_round_trip() -> Result<()> {
        let dir = temp();
        {
            let (store, report) = Store::open(dir.path())?;
            assert_eq!(report.previous_version, 0);
            assert_eq!(store.process_count()?, 0);
            assert_eq!(store.schema_version()?, SCHEMA_VERSION);
            assert!(store.set_injection_rule("payments", false, 0)?);
            assert!(!store.set_injection_rule("payments", false, 0)?);
            assert!(store.set_injection_rule(GLOBAL_SCOPE, true, 0)?);
        }
        let (store, report) = Store::open(dir.path())?;
        assert_eq!(report.previous_version, SCHEMA_VERSION);
        let rules = store.injection_rules()?;
        let scopes: Vec<_> = rules
            .iter()
            .map(|r| (r.scope.as_str(), r.enabled))
            .collect();
        assert_eq!(scopes, [("*", true), ("payments", false)]);
        assert_eq!(store.global_rule()?, Some(true));
        Ok(())
    }

    #[test]
    fn garbage_file_is_moved_aside_and_rebuilt() -> Result<()> {
        let dir = temp();
        let garbage = vec![0x5au8; 8192];
        std::fs::write(dir.path().join(DB_FILE), &garbage)
            .map_err(|e| Error::io("write", dir.path(), e))?;
        let (store, report) = Store::open(dir.path())?;
        let aside = report.moved_aside.clone().unwrap_or_default();
        assert!(aside.exists(), "{report:?}");
        assert_eq!(std::fs::read(&aside).ok(), Some(garbage));
        assert_eq!(store.schema_version()?, SCHEMA_VERSION);
        Ok(())
    }

    #[test]
    fn second_open_of_same_dir_is_refused() -> Result<()> {
        let dir = temp();
        let _first = Store::open(dir.path())?;
        let second = Store::open(dir.path());
        let msg = second.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("another oneagentd"), "{msg}");
        Ok(())
    }

    #[test]
    fn blocks_of_version_6_become_the_hosts_and_scopes_are_apart() -> Result<()> {
        use crate::injection::breaker::Scope;
        let dir = temp();
        {
            // A database as version 6 left it, with one block.
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            conn.execute_batch(
                "CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at INTEGER NOT NULL)",
            )
            .unwrap();
            for (i, sql) in MIGRATIONS[..6].iter().enumerate() {
                conn.execute_batch(sql).unwrap();
                conn.execute("INSERT INTO schema_version VALUES (?1, 0)", [i as i64 + 1])
                    .unwrap();
            }
            conn.execute(
                "INSERT INTO blocked_executables VALUES ('/usr/bin/python3', 'crashed', 7)",
                [],
            )
            .unwrap();
        }
        let (store, report) = Store::open(dir.path())?;
        assert_eq!(report.previous_version, 6);
        let old = store.blocked_executables()?;
        assert_eq!(
            old,
            [BlockedExecutable {
                scope: "host".into(),
                exe: "/usr/bin/python3".into(),
                reason: "crashed".into(),
                blocked_at: 7,
            }]
        );
        // The same path in containers is another block; blocking it twice is one.
        assert!(store.block_executable(Scope::Containers, "/usr/bin/python3", "segv")?);
        assert!(!store.block_executable(Scope::Containers, "/usr/bin/python3", "segv")?);
        let scopes: Vec<_> = store
            .blocked_executables()?
            .into_iter()
            .map(|b| b.scope)
            .collect();
        assert_eq!(scopes, ["host", "containers"]);
        // `preload unblock EXE` lifts both.
        assert_eq!(store.unblock_executable(Some("/usr/bin/python3"))?, 2);
        assert!(store.blocked_executables()?.is_empty());
        Ok(())
    }

    #[test]
    fn newer_schema_is_refused_not_destroyed() -> Result<()> {
        let dir = temp();
        {
            let (store, _) = Store::open(dir.path())?;
            store
                .conn
                .execute("INSERT INTO schema_version VALUES (99, 0)", [])
                .map_err(db_err(&store.path))?;
        }
        let err = Store::open(dir.path())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("schema version 99"), "{err}");
        assert!(dir.path().join(DB_FILE).exists());
        Ok(())
    }

    #[test]
    fn service_names_are_checked() {
        assert_eq!(
            normalise_service("Payments").ok().as_deref(),
            Some("payments")
        );
        assert!(normalise_service("").is_err());
        assert!(normalise_service("*").is_err());
        assert!(normalise_service("a b").is_err());
    }
}
