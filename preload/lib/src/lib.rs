//! `liboneagent_preload.so`: listed in `/etc/ld.so.preload`, it runs a constructor inside every
//! starting dynamically linked process and, when `oneagent_preload_core::decide` says the process
//! is an instrumentable runtime, sets the variables that make it load our agent (through the
//! process's own `setenv`), then reports the decision to the daemon with one datagram.
//!
//! Rules (DESIGN §4): no libc (raw system calls), no `DT_NEEDED`, nothing exported, no panics, no
//! heap, no output to the application, nothing at all under `AT_SECURE`.
//!
//! Order of work, cheapest first, so that non-runtimes (coreutils, shells) pay one cheap system
//! call (glibc) and write no page of the library:
//! 1. The auxiliary vector, in place on the initial stack when the constructor's arguments are
//!    proven to be glibc's (see `sys::InitArgs::auxv`), else `/proc/self/auxv` (musl):
//!    `AT_SECURE` → return. An unreadable auxv → return.
//! 2. The executable's `DT_NEEDED` names (from its program headers in memory, `AT_PHDR`) and its
//!    name: [`image_language`] says whether it can be a runtime at all (the executable's basename
//!    and libraries decide the language, never argv or env). No language → return, unless the
//!    executable may be a .NET apphost (`<exe>.runtimeconfig.json` beside it, looked for outside
//!    `/usr`, `/bin`, `/sbin`, `/lib*`). The name comes from the path given to `execve`
//!    (`AT_EXECFN`) when that path names the running image itself (see `names_the_image`: not a
//!    symbolic link, not a `#!` script or `binfmt_misc` file) — far cheaper than
//!    `readlink /proc/self/exe`, for which the kernel builds the new process's /proc entries.
//!    Otherwise, and for every possible runtime, `readlink /proc/self/exe` gives the name.
//! 3. Candidates only: `/proc/self/environ` (`ONEAGENT_PRELOAD_DISABLE` → return),
//!    `/proc/self/cmdline`, `/proc/self/cgroup`, `/proc/self/cwd`, the snapshot (default
//!    [`DEFAULT_PATH`](oneagent_preload_core::snapshot::DEFAULT_PATH), override
//!    `ONEAGENT_PRELOAD_SNAPSHOT`); a missing or invalid snapshot → return.
//! 4. Full `decide`; for `inject`: the environment plan, the agent files checked (exists, readable,
//!    magic bytes), `setenv` found in the libc mapped in `/proc/self/maps`, variables set.
//! 5. One report datagram for every process with a detected runtime.
#![no_std]
#![deny(unsafe_code)]
#![deny(
    missing_docs,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::unreachable,
    clippy::arithmetic_side_effects
)]

mod elf;
mod maps;
#[allow(unsafe_code)]
mod sys;

use oneagent_preload_core::inject::{self, AgentFile, Context, DotnetDirs, DotnetRid};
use oneagent_preload_core::project;
use oneagent_preload_core::report::{self, Outcome, Report};
use oneagent_preload_core::snapshot::{self, SnapshotView};
use oneagent_preload_core::{
    ByteList, Decision, ExeFacts, Language, ProcessInput, decide, dotnet_app, image_language,
    kill_switch_on, systemd_unit,
};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // Unreachable by construction (the release artefact test proves no panic path is linked in).
    sys::exit_group(127)
}

const AT_NULL: u64 = 0;
const AT_EXECFD: u64 = 2;
const AT_PHDR: u64 = 3;
const AT_PHNUM: u64 = 5;
const AT_SECURE: u64 = 23;
const AT_EXECFN: u64 = 31;

/// What the auxiliary vector says.
#[derive(Debug, Default)]
struct Auxv {
    phdr: usize,
    phnum: usize,
    secure: Option<u64>,
    /// Address of the path given to `execve` (a string on the initial stack), 0 if absent.
    execfn: usize,
    /// `AT_EXECFD` present: a `binfmt_misc` interpreter was handed the program as a descriptor.
    execfd: bool,
    /// The constructor's arguments, when [`sys::InitArgs::auxv`] proved them genuine (glibc).
    args: Option<sys::InitArgs>,
}

impl Auxv {
    fn entry(&mut self, k: u64, v: u64) {
        match k {
            AT_PHDR => self.phdr = usize::try_from(v).unwrap_or(0),
            AT_PHNUM => self.phnum = usize::try_from(v).unwrap_or(0),
            AT_SECURE => self.secure = Some(v),
            AT_EXECFN => self.execfn = usize::try_from(v).unwrap_or(0),
            AT_EXECFD => self.execfd = true,
            _ => {}
        }
    }

    /// From the initial stack (glibc, arguments proven genuine), else from `/proc/self/auxv`.
    /// `AT_SECURE` counts only when the vector was read up to its `AT_NULL` terminator.
    fn read(args: sys::InitArgs) -> Option<Self> {
        let mut a = Self::default();
        if args.auxv(|k, v| a.entry(k, v)) {
            a.args = Some(args);
            return Some(a);
        }
        Self::from_proc()
    }

    #[inline(never)]
    fn from_proc() -> Option<Self> {
        let mut buf = [0u8; 2048];
        sys::read_once(b"/proc/self/auxv\0", &mut buf).map(Self::parse)
    }

    fn parse(bytes: &[u8]) -> Self {
        let mut a = Self::default();
        for pair in bytes.chunks_exact(16) {
            let (k, v) = pair.split_at(8);
            let (Ok(k), Ok(v)) = (<[u8; 8]>::try_from(k), <[u8; 8]>::try_from(v)) else {
                break;
            };
            let (k, v) = (u64::from_ne_bytes(k), u64::from_ne_bytes(v));
            if k == AT_NULL {
                return a;
            }
            a.entry(k, v);
        }
        // No AT_NULL terminator (never seen): treated as secure.
        a.secure = None;
        a
    }
}

/// The constructor's work (called from `sys`).
pub(crate) fn run(args: sys::InitArgs) {
    let Some(auxv) = Auxv::read(args) else {
        return;
    };
    // `None`: no AT_SECURE entry (never seen), treated as secure.
    if auxv.secure != Some(0) {
        return;
    }
    let mut needed_buf = [0u8; 2048];
    let n = elf::exe_needed(auxv.phdr, auxv.phnum, &mut needed_buf);
    let needed = needed_buf.get(..n).unwrap_or_default();
    // The fast way out for the common case: the path given to `execve` (`AT_EXECFN`) names the
    // running ELF file itself (no symbolic link, no `#!` script) and that executable cannot be a
    // runtime. Checking costs three cheap system calls; `readlink /proc/self/exe` costs more than
    // all of them (the kernel builds the new process's /proc entries for it).
    let mut execfn_buf = [0u8; 256];
    if let Some(execfn) = sys::auxv_string(auxv.execfn, &mut execfn_buf)
        && !may_be_runtime(execfn.strip_suffix(b"\0").unwrap_or_default(), needed)
        && names_the_image(&auxv, execfn)
    {
        return;
    }
    // Most executable paths are short: a small buffer keeps the hot path's stack to a page or
    // two; a path that may not fit is read again into a full-size one (cold).
    let mut exe_buf = [0u8; 256];
    match sys::readlink_len(EXE, &mut exe_buf) {
        Some(n) if n < exe_buf.len() => with_exe(exe_buf.get(..n).unwrap_or_default(), needed),
        Some(_) => long_exe(needed),
        None => with_exe(&[], needed),
    }
}

const EXE: &[u8] = b"/proc/self/exe\0";

#[inline(never)]
fn long_exe(needed: &[u8]) {
    let mut exe_buf = [0u8; 4096];
    let exe = sys::readlink(EXE, &mut exe_buf).unwrap_or_default();
    with_exe(exe, needed);
}

fn with_exe(exe: &[u8], needed: &[u8]) {
    let mut facts = ExeFacts {
        path: exe,
        libraries: ByteList::nul(needed),
        ..ExeFacts::EMPTY
    };
    if !exe.is_empty() && !runtime_by_image(exe, needed) {
        if !maybe_apphost(exe) {
            return;
        }
        facts.dotnet_apphost = true;
    }
    let Some(mut map) = sys::BufferMap::new() else {
        return;
    };
    candidate(facts, map.buffers());
}

/// What a .NET application's own files say (core's [`dotnet_app`]): its target framework (from
/// `<app>.runtimeconfig.json`, into `rc_buf`) and whether `<app>.deps.json` references
/// OpenTelemetry packages (scanned in chunks through `deps_buf`, at most 16 MiB). Paths are
/// relative to the process's working directory, as the host resolves them.
#[inline(never)]
fn dotnet_facts<'b>(
    argv: ByteList<'_>,
    exe: &[u8],
    rc_buf: &'b mut [u8],
    deps_buf: &mut [u8],
) -> (Option<&'b [u8]>, bool) {
    let Some(files) = dotnet_app::app_files(argv, exe) else {
        return (None, false);
    };
    let mut path = [0u8; 4200];
    let target = files
        .runtimeconfig_path(&mut path)
        .and_then(|p| sys::read_file(p, rc_buf))
        .and_then(dotnet_app::target_framework);
    let references = files
        .deps_path(&mut path)
        .and_then(sys::open)
        .is_some_and(|fd| scan_deps(&fd, deps_buf));
    (target, references)
}

/// The name the process's project declares (core's [`project`]: the nearest `package.json` of a
/// Node.js script, `pyproject.toml`/`setup.cfg` of a generic Python entry point). Each manifest
/// is opened without blocking (a FIFO reads as empty) and read into `buf` up to one byte more
/// than [`project::MAX_MANIFEST`]; a few `openat` calls that fail on the dentry cache when the
/// project has none.
#[inline(never)]
fn declared_name(
    argv: ByteList<'_>,
    language: Language,
    cwd: &[u8],
    buf: &mut [u8],
) -> Option<project::Declared> {
    let entry = project::entry(argv, language)?;
    let buf = buf.get_mut(..project::MAX_MANIFEST.saturating_add(1))?;
    project::find(&entry, cwd, buf, |path, buf| match sys::open(path) {
        None => project::Read::Missing,
        Some(fd) => match sys::read_all(&fd, buf) {
            Some(n) => project::Read::Bytes(n),
            None => project::Read::Refused,
        },
    })
}

/// Reads a deps.json in chunks, carrying [`dotnet_app::DEPS_OVERLAP`] bytes between them so that
/// no match is split; bounded to 256 chunks.
fn scan_deps(fd: &sys::Fd, buf: &mut [u8]) -> bool {
    const OVERLAP: usize = dotnet_app::DEPS_OVERLAP;
    let mut carried = 0usize;
    for _ in 0..256 {
        let Some(rest) = buf.get_mut(carried..) else {
            return false;
        };
        let Some(n) = sys::read_all(fd, rest) else {
            return false;
        };
        let filled = carried.saturating_add(n);
        let chunk = buf.get(..filled).unwrap_or_default();
        if dotnet_app::references_otel(chunk) {
            return true;
        }
        if filled < buf.len() {
            return false; // end of file
        }
        // The last bytes to the front (a plain loop: no slice-range panic path in the library).
        let keep = OVERLAP.min(filled);
        let from = filled.saturating_sub(keep);
        for i in 0..keep {
            let b = buf.get(from.saturating_add(i)).copied().unwrap_or(0);
            if let Some(d) = buf.get_mut(i) {
                *d = b;
            }
        }
        carried = keep;
    }
    false
}

/// Whether the executable at `exe` (its basename and `DT_NEEDED` names) is a runtime. The
/// language depends only on the executable: argv and env cannot make a non-runtime one a runtime.
fn runtime_by_image(exe: &[u8], needed: &[u8]) -> bool {
    image_language(&ExeFacts {
        path: exe,
        libraries: ByteList::nul(needed),
        ..ExeFacts::EMPTY
    })
    .is_some()
}

/// Whether the NUL-terminated path given to `execve` (`AT_EXECFN`) names the running image, so
/// that its basename is the executable's. Not when its last component is a symbolic link (the
/// link's name is not the target's), nor for a `#!` script or a `binfmt_misc` file (the image is
/// the interpreter). Under glibc the kernel's argv shows those: it puts the file's path among
/// the interpreter's first arguments, so a path absent from `argv[1..=4]` that is not a link
/// (one `readlinkat`) is the image. Otherwise (musl: no arguments; `AT_EXECFD`): the file must
/// open without following a link and start with the ELF magic (three system calls).
fn names_the_image(auxv: &Auxv, execfn: &[u8]) -> bool {
    match auxv.args {
        Some(args) if !auxv.execfd => {
            !args.any_arg_equals(1, 4, execfn) && sys::is_not_symlink(execfn)
        }
        _ => sys::is_elf_file(execfn),
    }
}

/// Whether the executable at `exe` may be a runtime: by its image, or as a .NET apphost.
fn may_be_runtime(exe: &[u8], needed: &[u8]) -> bool {
    runtime_by_image(exe, needed) || maybe_apphost(exe)
}

/// Whether the executable may be a .NET apphost: `<exe>.runtimeconfig.json` beside it. Not looked
/// for under the system directories (no apphost lives there; saves a system call per exec).
#[inline(never)]
fn maybe_apphost(exe: &[u8]) -> bool {
    // Written out rather than as a table of slices: a table would need load-time relocations.
    let system = exe.starts_with(b"/usr/")
        || exe.starts_with(b"/bin/")
        || exe.starts_with(b"/sbin/")
        || exe.starts_with(b"/lib")
        || exe.starts_with(b"/etc/");
    if system || exe.ends_with(b" (deleted)") {
        return false;
    }
    let file = AgentFile {
        prefix: exe,
        suffix: b".runtimeconfig.json",
        magic: b"",
    };
    let mut path = [0u8; 4200];
    file.c_path(&mut path).and_then(sys::open).is_some()
}

/// Whether the kill switch (`ONEAGENT_PRELOAD_DISABLE`) is on: core's [`kill_switch_on`] (any
/// value but blank and the false spellings `0`, `false`, `no`, `off`, `n`, `f`).
fn disabled(env: ByteList<'_>) -> bool {
    use oneagent_preload_core::inject::EnvLookup as _;
    kill_switch_on(env.get(oneagent_preload_core::KILL_SWITCH.as_bytes()))
}

/// The snapshot path (NUL-terminated, in `buf`): `ONEAGENT_PRELOAD_SNAPSHOT` or the default.
fn snapshot_path<'b>(env: ByteList<'_>, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    use oneagent_preload_core::inject::EnvLookup as _;
    let path = env
        .get(b"ONEAGENT_PRELOAD_SNAPSHOT")
        .filter(|v| !v.is_empty())
        .unwrap_or(snapshot::DEFAULT_PATH.as_bytes());
    AgentFile {
        prefix: path,
        suffix: b"",
        magic: b"",
    }
    .c_path(buf)
}

#[inline(never)]
fn candidate(facts: ExeFacts<'_>, bufs: &mut sys::Buffers) {
    let sys::Buffers {
        environ,
        cmdline,
        snapshot: snap_buf,
        maps,
        plan,
        runtimeconfig,
        deps,
    } = bufs;
    let environ = sys::read_file(b"/proc/self/environ\0", environ).unwrap_or_default();
    let env = ByteList::nul(environ);
    if disabled(env) {
        return;
    }
    let cmdline = sys::read_file(b"/proc/self/cmdline\0", cmdline).unwrap_or_default();
    let mut cgroup_buf = [0u8; 4096];
    let cgroup = sys::read_file(b"/proc/self/cgroup\0", &mut cgroup_buf).unwrap_or_default();
    let mut cwd_buf = [0u8; 4096];
    let cwd = sys::readlink(b"/proc/self/cwd\0", &mut cwd_buf).unwrap_or_default();
    let mut path_buf = [0u8; 4096];
    let Some(path) = snapshot_path(env, &mut path_buf) else {
        return;
    };
    let Some(bytes) = sys::read_file(path, snap_buf) else {
        return;
    };
    let Ok(snap) = snapshot::decode(bytes) else {
        return;
    };
    let argv = ByteList::nul(cmdline);
    let exe = facts.path;
    let language = image_language(&facts);
    let (dotnet_target, dotnet_references_otel) =
        if language == Some(Language::DotNet) || facts.dotnet_apphost {
            dotnet_facts(argv, facts.path, runtimeconfig, deps)
        } else {
            (None, false)
        };
    // Node.js and Python only (never .NET): the deps buffer is free.
    let declared = language.and_then(|l| declared_name(argv, l, cwd, deps));
    let input = ProcessInput {
        argv,
        env,
        exe: ExeFacts {
            dotnet_target,
            dotnet_references_otel,
            declared_name: declared.as_ref().map(project::Declared::as_fact),
            ..facts
        },
        cgroup,
        cwd,
    };
    let decision = decide(&input, &snap.policy());
    if decision.language.is_none() {
        return;
    }
    let outcome = if decision.is_inject() {
        apply(&decision, &snap, env, cgroup, plan, maps)
    } else {
        Outcome::Skipped
    };
    send_report(&snap, &decision, outcome, exe);
}

/// Checks one agent file: exists, readable, starts with its magic bytes.
fn check_file(file: &AgentFile<'_>) -> Result<(), Outcome> {
    let mut path = [0u8; 4200];
    let path = file.c_path(&mut path).ok_or(Outcome::AgentMissing)?;
    let fd = sys::open(path).ok_or(Outcome::AgentMissing)?;
    let mut head = [0u8; 4];
    let n = sys::read_all(&fd, &mut head).ok_or(Outcome::AgentMissing)?;
    drop(fd);
    let head = head.get(..n).unwrap_or_default();
    if head.starts_with(file.magic) {
        Ok(())
    } else {
        Err(Outcome::AgentInvalid)
    }
}

fn apply(
    decision: &Decision<'_>,
    snap: &SnapshotView<'_>,
    env: ByteList<'_>,
    cgroup: &[u8],
    plan_buf: &mut [u8],
    maps_buf: &mut [u8],
) -> Outcome {
    let libc = maps::find_libc(maps_buf);
    let musl = libc.as_ref().is_some_and(|l| l.musl);
    let rid = DotnetRid::current(musl);
    let ctx = Context {
        pid: sys::getpid(),
        systemd_unit: systemd_unit(cgroup),
        dotnet_rid: rid,
        mark_inherited: true,
        dotnet_dirs: if decision.language == Some(Language::DotNet) {
            dotnet_dirs(snap.dotnet_home)
        } else {
            DotnetDirs::default()
        },
    };
    let plan = match inject::plan(decision, snap, &ctx, &env, plan_buf) {
        Ok(p) => p,
        Err(e) => return e.outcome(),
    };
    if plan.is_empty() {
        return Outcome::NothingToDo;
    }
    if let Some(language) = decision.language {
        for file in inject::agent_files(language, snap, rid).iter().flatten() {
            if let Err(outcome) = check_file(file) {
                return outcome;
            }
        }
    }
    let Some(libc) = libc else {
        return Outcome::NoSetenv;
    };
    let Some(setenv) = elf::find_symbol(&libc.regions, libc.base, b"setenv")
        .and_then(|addr| sys::Setenv::new(addr, &libc.regions))
    else {
        return Outcome::NoSetenv;
    };
    let mut ok = true;
    for a in plan.iter() {
        ok &= setenv.call(a.name_with_nul(), a.value_with_nul());
    }
    if ok {
        Outcome::Injected
    } else {
        Outcome::SetenvFailed
    }
}

/// Which of the .NET agent's optional directories exist (two `openat` with `O_DIRECTORY`).
#[inline(never)]
fn dotnet_dirs(home: &[u8]) -> DotnetDirs {
    let [deps, store] = inject::DOTNET_DIRS.map(|suffix| {
        let mut path = [0u8; 4200];
        AgentFile {
            prefix: home,
            suffix,
            magic: b"",
        }
        .c_path(&mut path)
        .is_some_and(sys::is_dir)
    });
    DotnetDirs {
        additional_deps: deps,
        store,
    }
}

fn send_report(snap: &SnapshotView<'_>, decision: &Decision<'_>, outcome: Outcome, exe: &[u8]) {
    if snap.report_socket.is_empty() {
        return;
    }
    // The executable as this process sees it: in a container, the container's path, which is
    // what the crash circuit breaker must block in the containers' snapshot.
    let r = Report::new(decision, outcome, exe);
    let mut buf = [0u8; report::MAX_REPORT];
    let n = report::encode(&r, &mut buf);
    sys::send_datagram(snap.report_socket, buf.get(..n).unwrap_or_default());
}
