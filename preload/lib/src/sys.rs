//! Everything `unsafe` in the library: raw system calls, the constructor and its start-up stack
//! (auxiliary vector, glibc only), the candidate path's mapped buffers,
//! reads of this process's memory (only inside ranges validated against `/proc/self/maps` or the
//! executable's program headers), the call into the process's own `setenv`, and the memory
//! routines the compiler may call (`memcpy` & co., hidden, never exported).

use core::arch::{asm, global_asm};

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("liboneagent_preload supports x86_64 and aarch64 only");

#[cfg(target_arch = "x86_64")]
mod nr {
    pub const READ: usize = 0;
    pub const CLOSE: usize = 3;
    pub const GETPID: usize = 39;
    pub const SOCKET: usize = 41;
    pub const SENDTO: usize = 44;
    pub const EXIT_GROUP: usize = 231;
    pub const OPENAT: usize = 257;
    pub const READLINKAT: usize = 267;
    pub const MMAP: usize = 9;
    pub const MUNMAP: usize = 11;
}

#[cfg(target_arch = "aarch64")]
mod nr {
    pub const READ: usize = 63;
    pub const CLOSE: usize = 57;
    pub const GETPID: usize = 172;
    pub const SOCKET: usize = 198;
    pub const SENDTO: usize = 206;
    pub const EXIT_GROUP: usize = 94;
    pub const OPENAT: usize = 56;
    pub const READLINKAT: usize = 78;
    pub const MMAP: usize = 222;
    pub const MUNMAP: usize = 215;
}

const AT_FDCWD: isize = -100;
const O_RDONLY: usize = 0;
const O_NOCTTY: usize = 0o400;
const O_NONBLOCK: usize = 0o4000;
const O_CLOEXEC: usize = 0o2_000_000;
#[cfg(target_arch = "x86_64")]
const O_NOFOLLOW: usize = 0o400_000;
#[cfg(target_arch = "aarch64")]
const O_NOFOLLOW: usize = 0o100_000;
#[cfg(target_arch = "x86_64")]
const O_DIRECTORY: usize = 0o200_000;
#[cfg(target_arch = "aarch64")]
const O_DIRECTORY: usize = 0o40_000;
const EINTR: isize = -4;
const EINVAL: isize = -22;
const AF_UNIX: usize = 1;
const SOCK_DGRAM: usize = 2;
const SOCK_CLOEXEC: usize = 0o2_000_000;
const MSG_DONTWAIT: usize = 0x40;
const MSG_NOSIGNAL: usize = 0x4000;
const PROT_READ: usize = 1;
const PROT_WRITE: usize = 2;
const MAP_PRIVATE: usize = 0x02;
const MAP_ANONYMOUS: usize = 0x20;

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn syscall6(n: usize, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: a raw Linux system call. Every caller in this module passes arguments that are valid
    // for that call (NUL-terminated paths and buffers that live across the call, with their exact
    // lengths); the kernel validates the rest and answers errors as negative values.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

#[cfg(target_arch = "aarch64")]
#[inline(always)]
fn syscall6(n: usize, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: as on x86_64: a raw system call with arguments valid for it.
    unsafe {
        asm!(
            "svc 0",
            in("x8") n,
            inlateout("x0") a[0] as isize => ret,
            in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
            options(nostack),
        );
    }
    ret
}

/// An owned file descriptor, closed on drop (so every early return closes it).
#[derive(Debug)]
pub struct Fd(usize);

impl Drop for Fd {
    fn drop(&mut self) {
        syscall6(nr::CLOSE, [self.0, 0, 0, 0, 0, 0]);
    }
}

fn to_fd(ret: isize) -> Option<Fd> {
    usize::try_from(ret).ok().map(Fd)
}

/// Opens a NUL-terminated path read-only (no controlling tty, never blocking on a FIFO).
pub fn open(path: &[u8]) -> Option<Fd> {
    open_flags(path, 0)
}

fn open_flags(path: &[u8], extra: usize) -> Option<Fd> {
    if path.last() != Some(&0) {
        return None;
    }
    to_fd(syscall6(
        nr::OPENAT,
        [
            AT_FDCWD as usize,
            path.as_ptr() as usize,
            O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | extra,
            0,
            0,
            0,
        ],
    ))
}

/// Whether the NUL-terminated `path` is a directory (one `openat` with `O_DIRECTORY`).
pub fn is_dir(path: &[u8]) -> bool {
    open_flags(path, O_DIRECTORY).is_some()
}

/// Whether the NUL-terminated `path` names an ELF file itself: not a symbolic link (its name would
/// not be the executable's), not a `#!` script or a `binfmt_misc` file (the running image is then
/// another program). Three system calls, all on the dentry cache and the page cache.
pub fn is_elf_file(path: &[u8]) -> bool {
    let Some(fd) = open_flags(path, O_NOFOLLOW) else {
        return false;
    };
    let mut magic = [0u8; 4];
    read_all(&fd, &mut magic) == Some(4) && magic == *b"\x7fELF"
}

/// Whether the NUL-terminated `path` exists and its last component is not a symbolic link: one
/// `readlinkat`, which fails with `EINVAL` exactly then.
pub fn is_not_symlink(path: &[u8]) -> bool {
    let mut byte = [0u8; 1];
    readlinkat(path, &mut byte) == Some(EINVAL)
}

/// The raw `readlinkat(AT_FDCWD, path, buf)` result; `None` when `path` lacks its NUL.
fn readlinkat(path: &[u8], buf: &mut [u8]) -> Option<isize> {
    if path.last() != Some(&0) {
        return None;
    }
    Some(syscall6(
        nr::READLINKAT,
        [
            AT_FDCWD as usize,
            path.as_ptr() as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
            0,
            0,
        ],
    ))
}

/// Copies the NUL-terminated string the kernel placed at `addr` (an auxiliary vector value such as
/// `AT_EXECFN`) into `buf`, NUL included; `None` when `addr` is 0 or the string does not fit.
pub fn auxv_string(addr: usize, buf: &mut [u8]) -> Option<&[u8]> {
    if addr == 0 {
        return None;
    }
    for i in 0..buf.len() {
        // SAFETY: `addr` comes from the auxiliary vector (read in place after `InitArgs::auxv`
        // proved it genuine, or from `/proc/self/auxv`): the kernel copied a NUL-terminated string
        // there, in the stack mapping, below the stack's end marker. Bytes are read one at a time
        // up to and including the first NUL, so no read goes past the string.
        let byte = unsafe { core::ptr::read(addr.checked_add(i)? as *const u8) };
        *buf.get_mut(i)? = byte;
        if byte == 0 {
            return buf.get(..=i);
        }
    }
    None
}

/// Reads into `buf` until it is full or the end of the file; `None` on error.
pub fn read_all(fd: &Fd, buf: &mut [u8]) -> Option<usize> {
    let mut filled = 0usize;
    let mut retries = 0u8;
    loop {
        let rest = buf.get_mut(filled..)?;
        if rest.is_empty() {
            return Some(filled);
        }
        let ret = syscall6(
            nr::READ,
            [fd.0, rest.as_mut_ptr() as usize, rest.len(), 0, 0, 0],
        );
        if ret == EINTR && retries < 8 {
            retries = retries.saturating_add(1);
            continue;
        }
        let n = usize::try_from(ret).ok()?;
        if n == 0 {
            return Some(filled);
        }
        filled = filled.checked_add(n)?.min(buf.len());
    }
}

/// One `read` of a procfs file that the kernel returns whole in a single call (`/proc/self/auxv`):
/// saves the second, end-of-file `read`. The caller must check the content is complete.
pub fn read_once<'b>(path: &[u8], buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let fd = open(path)?;
    let ret = syscall6(
        nr::READ,
        [fd.0, buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0],
    );
    drop(fd);
    buf.get(..usize::try_from(ret).ok()?)
}

/// Reads a whole (small) file into `buf`; the returned slice is truncated at `buf.len()`.
pub fn read_file<'b>(path: &[u8], buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let fd = open(path)?;
    let n = read_all(&fd, buf)?;
    drop(fd);
    buf.get(..n)
}

/// `readlink(path)` into `buf` (no NUL added).
pub fn readlink<'b>(path: &[u8], buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let n = readlink_len(path, buf)?;
    if n >= buf.len() {
        return None; // possibly truncated
    }
    buf.get(..n)
}

/// `readlink(path)` into `buf`: the byte count the kernel wrote (`buf.len()` means the link may be
/// longer than `buf`), `None` on error.
pub fn readlink_len(path: &[u8], buf: &mut [u8]) -> Option<usize> {
    let ret = readlinkat(path, buf)?;
    usize::try_from(ret).ok().filter(|&n| n <= buf.len())
}

/// The process id.
pub fn getpid() -> u32 {
    u32::try_from(syscall6(nr::GETPID, [0; 6])).unwrap_or(0)
}

/// Sends one datagram to the unix socket at `path` (not NUL-terminated), without waiting.
/// The socket is closed whatever happens.
pub fn send_datagram(path: &[u8], payload: &[u8]) -> bool {
    // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }
    let mut addr = [0u8; 110];
    if path.is_empty() || path.len() >= 108 || path.contains(&0) {
        return false;
    }
    let family = (AF_UNIX as u16).to_ne_bytes();
    for (dst, src) in addr.iter_mut().zip(family.iter().chain(path)) {
        *dst = *src;
    }
    let addr_len = path.len().saturating_add(3); // family + path + NUL
    let Some(fd) = to_fd(syscall6(
        nr::SOCKET,
        [AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, 0, 0, 0],
    )) else {
        return false;
    };
    let ret = syscall6(
        nr::SENDTO,
        [
            fd.0,
            payload.as_ptr() as usize,
            payload.len(),
            MSG_DONTWAIT | MSG_NOSIGNAL,
            addr.as_ptr() as usize,
            addr_len,
        ],
    );
    drop(fd);
    ret >= 0
}

/// Ends the process at once (only reachable from the panic handler, which no code path reaches).
pub fn exit_group(code: usize) -> ! {
    loop {
        syscall6(nr::EXIT_GROUP, [code, 0, 0, 0, 0, 0]);
    }
}

// ---------------------------------------------------------------------------------------------
// Memory of this process.

/// Readable (and possibly executable) address ranges of one loaded object, validated by the caller
/// from `/proc/self/maps` or from program headers the kernel itself mapped.
#[derive(Clone, Copy, Debug)]
pub struct Regions {
    ranges: [(usize, usize, bool); 16],
    len: usize,
}

impl Regions {
    /// No ranges.
    pub const fn new() -> Self {
        Self {
            ranges: [(0, 0, false); 16],
            len: 0,
        }
    }

    /// Adds `[start, end)`; `exec` marks code. Returns false when full or empty.
    pub fn add(&mut self, start: usize, end: usize, exec: bool) -> bool {
        if start >= end {
            return false;
        }
        match self.ranges.get_mut(self.len) {
            Some(slot) => {
                *slot = (start, end, exec);
                self.len = self.len.saturating_add(1);
                true
            }
            None => false,
        }
    }

    fn iter(&self) -> impl Iterator<Item = &(usize, usize, bool)> {
        self.ranges.iter().take(self.len)
    }

    /// Lowest start and highest end of all ranges.
    pub fn span(&self) -> Option<(usize, usize)> {
        let lo = self.iter().map(|r| r.0).min()?;
        let hi = self.iter().map(|r| r.1).max()?;
        Some((lo, hi))
    }

    /// Whether `[addr, addr + len)` lies inside one range.
    pub fn contains(&self, addr: usize, len: usize) -> bool {
        let Some(end) = addr.checked_add(len) else {
            return false;
        };
        self.iter().any(|&(s, e, _)| addr >= s && end <= e)
    }

    /// Whether `addr` is inside an executable range.
    pub fn is_code(&self, addr: usize) -> bool {
        self.iter().any(|&(s, e, x)| x && addr >= s && addr < e)
    }

    /// Copies `out.len()` bytes from `addr`, if the whole span is inside one range.
    pub fn read(&self, addr: usize, out: &mut [u8]) -> bool {
        if !self.contains(addr, out.len()) {
            return false;
        }
        // SAFETY: `[addr, addr + out.len())` lies inside one range that the caller validated as
        // mapped and readable in this process (from `/proc/self/maps` with `r` permission or from
        // a PT_LOAD segment with PF_R of the running executable). The constructor runs before
        // `main`, so nothing unmaps it meanwhile; `out` is a distinct stack buffer.
        unsafe {
            core::ptr::copy_nonoverlapping(addr as *const u8, out.as_mut_ptr(), out.len());
        }
        true
    }

    /// The little-endian `u64` at `addr` (any alignment), if inside one range. One load: the ELF
    /// walks read dozens of fields, and a byte copy into a buffer read back whole stalls on
    /// store forwarding.
    pub fn read_u64(&self, addr: usize) -> Option<u64> {
        if !self.contains(addr, 8) {
            return None;
        }
        // SAFETY: `[addr, addr + 8)` lies inside one validated range (see `read`); the read is
        // unaligned-safe.
        let v = unsafe { core::ptr::read_unaligned(addr as *const u64) };
        Some(u64::from_le(v))
    }

    /// The little-endian `u32` at `addr` (any alignment), if inside one range (see `read_u64`).
    pub fn read_u32(&self, addr: usize) -> Option<u32> {
        if !self.contains(addr, 4) {
            return None;
        }
        // SAFETY: `[addr, addr + 4)` lies inside one validated range (see `read`).
        let v = unsafe { core::ptr::read_unaligned(addr as *const u32) };
        Some(u32::from_le(v))
    }

    /// The little-endian `u16` at `addr` (any alignment), if inside one range (see `read_u64`).
    pub fn read_u16(&self, addr: usize) -> Option<u16> {
        if !self.contains(addr, 2) {
            return None;
        }
        // SAFETY: `[addr, addr + 2)` lies inside one validated range (see `read`).
        let v = unsafe { core::ptr::read_unaligned(addr as *const u16) };
        Some(u16::from_le(v))
    }

    /// Copies the NUL-terminated string at `addr` into `out`, NUL included, reading at most
    /// `max` bytes (and never past `out`); the bytes written, or `None` without a NUL in reach or
    /// when the span is not inside one range.
    pub fn read_c_str(&self, addr: usize, max: usize, out: &mut [u8]) -> Option<usize> {
        let max = max.min(out.len());
        if !self.contains(addr, max) {
            return None;
        }
        for (i, slot) in out.iter_mut().enumerate().take(max) {
            // SAFETY: `[addr, addr + max)` lies inside one validated range (see `read`).
            let byte = unsafe { core::ptr::read((addr.wrapping_add(i)) as *const u8) };
            *slot = byte;
            if byte == 0 {
                return i.checked_add(1);
            }
        }
        None
    }
}

/// `int setenv(const char *name, const char *value, int overwrite)`.
type SetenvFn = unsafe extern "C" fn(*const u8, *const u8, i32) -> i32;

/// The process's own `setenv`, found in its libc's dynamic symbol table.
#[derive(Clone, Copy, Debug)]
pub struct Setenv(usize);

impl Setenv {
    /// Wraps an address that `regions` says is code of the libc that defines `setenv`.
    pub fn new(addr: usize, regions: &Regions) -> Option<Self> {
        (addr != 0 && regions.is_code(addr)).then_some(Self(addr))
    }

    /// Calls `setenv(name, value, 1)`; both must be NUL-terminated. True on success.
    pub fn call(&self, name: &[u8], value: &[u8]) -> bool {
        if name.last() != Some(&0) || value.last() != Some(&0) || name.contains(&b'=') {
            return false;
        }
        // SAFETY: `self.0` is the value of the `setenv` symbol (STT_FUNC, defined) of the loaded
        // libc, checked to lie in an executable mapping of that libc; glibc and musl both define
        // it with this C signature. Both strings are NUL-terminated and outlive the call (setenv
        // copies them). libc is initialised before any preloaded constructor runs.
        unsafe {
            let f: SetenvFn = core::mem::transmute::<usize, SetenvFn>(self.0);
            f(name.as_ptr(), value.as_ptr(), 1) == 0
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Buffers for the candidate path (runtimes only: non-targets never map them).

/// Big buffers, mapped (anonymous, private) for one candidate and unmapped afterwards: the library
/// has no `.bss` or `.data` at all, so loading it costs no extra mapping and no zero-filled page.
#[derive(Debug)]
pub struct Buffers {
    /// `/proc/self/environ`.
    pub environ: [u8; 65_536],
    /// `/proc/self/cmdline`.
    pub cmdline: [u8; 65_536],
    /// The snapshot (one byte more than the largest accepted, to detect oversize).
    pub snapshot: [u8; 65_537],
    /// `/proc/self/maps`.
    pub maps: [u8; 65_536],
    /// The environment plan's values.
    pub plan: [u8; 81_920],
    /// A .NET application's `*.runtimeconfig.json` (touched only for .NET processes).
    pub runtimeconfig: [u8; 16_384],
    /// Chunks of a .NET application's `*.deps.json` (touched only for .NET processes), or a
    /// Node.js/Python project's manifest (one byte more than the largest accepted, to detect
    /// oversize).
    pub deps: [u8; 65_537],
}

/// An anonymous private mapping holding one [`Buffers`], unmapped on drop.
#[derive(Debug)]
pub struct BufferMap(usize);

impl BufferMap {
    const LEN: usize = size_of::<Buffers>();

    /// Maps fresh (zeroed) buffers; `None` when the kernel refuses.
    pub fn new() -> Option<Self> {
        let ret = syscall6(
            nr::MMAP,
            [
                0,
                Self::LEN,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS,
                usize::MAX, // fd -1
                0,
            ],
        );
        // Errors are -4095..=-1; a success is a page-aligned, non-null address.
        let addr = usize::try_from(ret)
            .ok()
            .filter(|&a| a != 0 && a.is_multiple_of(4096))?;
        Some(Self(addr))
    }

    /// The buffers (borrowed mutably from the mapping, so never aliased).
    pub fn buffers(&mut self) -> &mut Buffers {
        // SAFETY: `self.0` is the start of a private anonymous read-write mapping of `LEN` bytes
        // that this value owns until drop (nothing else knows the address). The kernel zero-fills
        // it, and `Buffers` is made of byte arrays only (alignment 1, every bit pattern valid), so
        // the memory is a valid `Buffers`; the `&mut self` borrow makes the reference unique.
        unsafe { &mut *(self.0 as *mut Buffers) }
    }
}

impl Drop for BufferMap {
    fn drop(&mut self) {
        syscall6(nr::MUNMAP, [self.0, Self::LEN, 0, 0, 0, 0]);
    }
}

// ---------------------------------------------------------------------------------------------
// The start-up stack (glibc).

/// The constructor's arguments as they arrived. glibc passes `(argc, argv, envp)`; musl passes
/// nothing, so there they are whatever the registers held: [`InitArgs::auxv`] trusts them only
/// after proving that glibc loaded this object and that they describe the initial stack.
#[derive(Clone, Copy, Debug)]
pub struct InitArgs {
    argc: isize,
    argv: usize,
    envp: usize,
}

const WORD: usize = size_of::<usize>();
const MAX_ARGC: usize = 1 << 20;
const MAX_ENVC: usize = 1 << 20;
const MAX_AUXV: usize = 512;
const DT_STRTAB: usize = 5;
const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;

/// Whether glibc's loader mapped this object: glibc rewrites the address entries of every loaded
/// object's writable dynamic section (`DT_STRTAB` among them) to absolute addresses at map time,
/// musl never touches them. Reads only this object's own ELF header, program headers and dynamic
/// section, which are mapped whatever the loader (the first `PT_LOAD` starts at file offset 0).
fn loaded_by_glibc() -> bool {
    loaded_by_glibc_inner().unwrap_or(false)
}

fn loaded_by_glibc_inner() -> Option<bool> {
    let base = ehdr_start();
    let at = |off: usize| base.checked_add(off);
    // SAFETY: `__ehdr_start` is the linker-defined (hidden) symbol for this object's ELF header,
    // which the linker defines only when the header is part of a loadable segment, i.e. mapped.
    let (phoff, phentsize, phnum) = unsafe {
        (
            core::ptr::read_unaligned(at(32)? as *const u64),
            core::ptr::read_unaligned(at(54)? as *const u16),
            core::ptr::read_unaligned(at(56)? as *const u16),
        )
    };
    if phentsize != 56 || phnum == 0 || phnum > 32 || phoff != 64 {
        return None;
    }
    let mut dynamic = None;
    let mut first_filesz = 0usize;
    for i in 0..usize::from(phnum) {
        let ph = at(i.checked_mul(56)?.checked_add(64)?)?;
        let field = |off: usize| ph.checked_add(off);
        // SAFETY: the program header table follows the ELF header inside the first (mapped)
        // segment at `e_phoff` = 64 (checked above): `phnum` ≤ 32 entries of 56 bytes.
        let (kind, offset, vaddr, filesz) = unsafe {
            (
                core::ptr::read_unaligned(ph as *const u32),
                core::ptr::read_unaligned(field(8)? as *const u64),
                core::ptr::read_unaligned(field(16)? as *const u64),
                core::ptr::read_unaligned(field(32)? as *const u64),
            )
        };
        if kind == PT_LOAD && offset == 0 && first_filesz == 0 {
            first_filesz = usize::try_from(filesz).ok()?;
        }
        if kind == PT_DYNAMIC {
            dynamic = Some(at(usize::try_from(vaddr).ok()?)?);
        }
    }
    // An unrelocated DT_STRTAB value lies inside the first segment (< first_filesz); a relocated
    // one is ≥ base. The two are told apart only when base ≥ first_filesz (always so in practice:
    // objects are mapped far above address 0); otherwise: unknown.
    let dynamic = dynamic?;
    if first_filesz == 0 || base < first_filesz || !dynamic.is_multiple_of(WORD) {
        return None;
    }
    for i in 0..64usize {
        let entry = dynamic.checked_add(i.checked_mul(2 * WORD)?)?;
        // SAFETY: PT_DYNAMIC of this object, inside its mapped, readable data segment and
        // word-aligned (checked above); the walk stops at DT_NULL, which the linker always writes,
        // and is bounded anyway.
        let (tag, val) = unsafe {
            (
                core::ptr::read(entry as *const usize),
                core::ptr::read(entry.checked_add(WORD)? as *const usize),
            )
        };
        match tag {
            0 => return None,
            DT_STRTAB => return Some(val.checked_sub(base).is_some_and(|o| o < first_filesz)),
            _ => {}
        }
    }
    None
}

#[cfg(target_arch = "x86_64")]
fn ehdr_start() -> usize {
    let addr: usize;
    // SAFETY: computes a PC-relative address (resolved at link time against the hidden
    // `__ehdr_start`: no dynamic relocation, no memory access).
    unsafe {
        asm!("lea {}, [rip + __ehdr_start]", out(reg) addr, options(nomem, nostack, pure));
    }
    addr
}

#[cfg(target_arch = "aarch64")]
fn ehdr_start() -> usize {
    let addr: usize;
    // SAFETY: as on x86_64: a PC-relative address of the hidden `__ehdr_start`.
    unsafe {
        asm!(
            "adrp {0}, __ehdr_start",
            "add {0}, {0}, :lo12:__ehdr_start",
            out(reg) addr,
            options(nomem, nostack, pure),
        );
    }
    addr
}

impl InitArgs {
    /// Whether one of `argv[first..=last]` equals the NUL-terminated `s`. Only for arguments that
    /// [`InitArgs::auxv`] proved genuine (the caller keeps them only then): `argv` then holds
    /// `argc` pointers to NUL-terminated strings on the initial stack, and each comparison stops
    /// at the first differing byte, so no read goes past a string's NUL.
    pub fn any_arg_equals(self, first: usize, last: usize, s: &[u8]) -> bool {
        let argc = usize::try_from(self.argc).unwrap_or(0);
        (first..=last.min(argc.saturating_sub(1))).any(|i| {
            let Some(slot) = i.checked_mul(WORD).and_then(|o| self.argv.checked_add(o)) else {
                return false;
            };
            // SAFETY: argv[i] with i < argc, a pointer in the genuine argv array (see above).
            let arg = unsafe { core::ptr::read(slot as *const usize) };
            if arg == 0 {
                return false;
            }
            s.iter().enumerate().all(|(j, &want)| {
                let Some(addr) = arg.checked_add(j) else {
                    return false;
                };
                // SAFETY: byte j of argv[i]; every earlier byte matched `s`, whose only NUL is
                // its last byte, so the string has not ended before j.
                let got = unsafe { core::ptr::read(addr as *const u8) };
                got == want
            })
        })
    }

    /// Walks the auxiliary vector on the initial stack (it follows `envp`'s terminating NULL),
    /// calling `f(type, value)` for each entry up to `AT_NULL` (excluded). False when the arguments
    /// cannot be proven genuine (musl, a `dlopen`, an environment glibc already moved) or the
    /// vector is not terminated within bounds: the caller then reads `/proc/self/auxv`.
    pub fn auxv(self, f: impl FnMut(u64, u64)) -> bool {
        self.auxv_inner(f).is_some()
    }

    fn auxv_inner(self, mut f: impl FnMut(u64, u64)) -> Option<()> {
        let local = 0u8;
        let sp = core::ptr::addr_of!(local) as usize;
        let argc = usize::try_from(self.argc).ok()?;
        // Structural checks first (no memory read): the kernel lays out argv[0..argc], NULL,
        // envp[..], NULL, auxv contiguously, above the stack of everything that runs at start-up.
        let argv_end = self
            .argv
            .checked_add(argc.checked_add(1)?.checked_mul(WORD)?)?;
        if argc > MAX_ARGC
            || self.argv == 0
            || !self.argv.is_multiple_of(WORD)
            || self.argv <= sp
            || argv_end != self.envp
        {
            return None;
        }
        // Only glibc passes arguments; with any other loader they are register junk.
        if !loaded_by_glibc() {
            return None;
        }
        // From here on the arguments are glibc's `_dl_argc`, `_dl_argv` and environment, and
        // `envp == argv + argc + 1` shows the environment is still the kernel's array on the
        // initial stack (glibc's `__environ` moves only on `setenv`, and then it would not sit
        // right after argv). The initial stack holds argv's NULL, the environment pointers, their
        // NULL and the auxiliary vector contiguously; every read below stays inside that layout.
        // SAFETY: argv[argc], the word just below envp (see above).
        let argv_null = unsafe { core::ptr::read(self.envp.checked_sub(WORD)? as *const usize) };
        if argv_null != 0 {
            return None;
        }
        let mut p = self.envp;
        let mut terminated = false;
        for _ in 0..=MAX_ENVC {
            // SAFETY: walks the environment array (see above) up to its NULL.
            let entry = unsafe { core::ptr::read(p as *const usize) };
            p = p.checked_add(WORD)?;
            if entry == 0 {
                terminated = true;
                break;
            }
        }
        if !terminated {
            return None;
        }
        for _ in 0..MAX_AUXV {
            // SAFETY: walks the auxiliary vector's (type, value) pairs, which follow the
            // environment's NULL (see above), up to AT_NULL.
            let (k, v) = unsafe {
                (
                    core::ptr::read(p as *const usize),
                    core::ptr::read(p.checked_add(WORD)? as *const usize),
                )
            };
            if k == 0 {
                return Some(());
            }
            f(k as u64, v as u64);
            p = p.checked_add(2 * WORD)?;
        }
        None
    }
}

// ---------------------------------------------------------------------------------------------
// The constructor.

extern "C" fn oneagent_preload_init(argc: isize, argv: usize, envp: usize) {
    crate::run(InitArgs { argc, argv, envp });
}

/// glibc calls this with `(argc, argv, envp)`, musl with nothing (the parameters are then whatever
/// the registers hold: plain integers, never dereferenced unless [`InitArgs::auxv`] proves them
/// genuine). Everything but the auxiliary vector is read from `/proc/self`, the same under both.
#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn(isize, usize, usize) = oneagent_preload_init;

// ---------------------------------------------------------------------------------------------
// Memory routines the compiler may emit calls to. Hidden: never exported, never interposing on the
// program's own (the version script hides them too).

#[cfg(target_arch = "x86_64")]
global_asm!(
    ".pushsection .text.oneagent_mem,\"ax\",@progbits",
    ".globl memcpy",
    ".hidden memcpy",
    ".type memcpy,@function",
    ".globl memmove",
    ".hidden memmove",
    ".type memmove,@function",
    ".globl memset",
    ".hidden memset",
    ".type memset,@function",
    ".globl memcmp",
    ".hidden memcmp",
    ".type memcmp,@function",
    ".globl bcmp",
    ".hidden bcmp",
    ".type bcmp,@function",
    "memcpy:",
    "    mov rax, rdi",
    "    mov rcx, rdx",
    "    rep movsb",
    "    ret",
    "memmove:",
    "    mov rax, rdi",
    "    mov rcx, rdx",
    "    cmp rdi, rsi",
    "    jbe 2f",
    "    lea r8, [rsi + rdx]",
    "    cmp rdi, r8",
    "    jae 2f",
    "    lea rsi, [rsi + rdx - 1]",
    "    lea rdi, [rdi + rdx - 1]",
    "    std",
    "    rep movsb",
    "    cld",
    "    ret",
    "2:",
    "    rep movsb",
    "    ret",
    "memset:",
    "    mov r8, rdi",
    "    mov eax, esi",
    "    mov rcx, rdx",
    "    rep stosb",
    "    mov rax, r8",
    "    ret",
    "memcmp:",
    "bcmp:",
    "    xor eax, eax",
    "    test rdx, rdx",
    "    jz 4f",
    "3:",
    "    movzx eax, byte ptr [rdi]",
    "    movzx ecx, byte ptr [rsi]",
    "    sub eax, ecx",
    "    jnz 4f",
    "    inc rdi",
    "    inc rsi",
    "    dec rdx",
    "    jnz 3b",
    "4:",
    "    ret",
    ".popsection",
);

#[cfg(target_arch = "aarch64")]
global_asm!(
    ".pushsection .text.oneagent_mem,\"ax\",%progbits",
    ".globl memcpy",
    ".hidden memcpy",
    ".type memcpy,%function",
    ".globl memmove",
    ".hidden memmove",
    ".type memmove,%function",
    ".globl memset",
    ".hidden memset",
    ".type memset,%function",
    ".globl memcmp",
    ".hidden memcmp",
    ".type memcmp,%function",
    ".globl bcmp",
    ".hidden bcmp",
    ".type bcmp,%function",
    "memcpy:",
    "    mov x3, x0",
    "    cbz x2, 6f",
    "5:  ldrb w4, [x1], #1",
    "    strb w4, [x3], #1",
    "    subs x2, x2, #1",
    "    b.ne 5b",
    "6:  ret",
    "memmove:",
    "    cmp x0, x1",
    "    b.ls memcpy",
    "    add x5, x1, x2",
    "    cmp x0, x5",
    "    b.hs memcpy",
    "    cbz x2, 8f",
    "    add x3, x0, x2",
    "7:  ldrb w4, [x5, #-1]!",
    "    strb w4, [x3, #-1]!",
    "    subs x2, x2, #1",
    "    b.ne 7b",
    "8:  ret",
    "memset:",
    "    mov x3, x0",
    "    cbz x2, 10f",
    "9:  strb w1, [x3], #1",
    "    subs x2, x2, #1",
    "    b.ne 9b",
    "10: ret",
    "memcmp:",
    "bcmp:",
    "    cbz x2, 12f",
    "11: ldrb w3, [x0], #1",
    "    ldrb w4, [x1], #1",
    "    subs w3, w3, w4",
    "    b.ne 13f",
    "    subs x2, x2, #1",
    "    b.ne 11b",
    "12: mov w0, #0",
    "    ret",
    "13: mov w0, w3",
    "    ret",
    ".popsection",
);
