//! Everything `unsafe` in the library: raw system calls, the constructor, the static buffers,
//! reads of this process's memory (only inside ranges validated against `/proc/self/maps` or the
//! executable's program headers), the call into the process's own `setenv`, and the memory
//! routines the compiler may call (`memcpy` & co., hidden, never exported).

use core::arch::{asm, global_asm};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

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
}

const AT_FDCWD: isize = -100;
const O_RDONLY: usize = 0;
const O_NOCTTY: usize = 0o400;
const O_NONBLOCK: usize = 0o4000;
const O_CLOEXEC: usize = 0o2_000_000;
const EINTR: isize = -4;
const AF_UNIX: usize = 1;
const SOCK_DGRAM: usize = 2;
const SOCK_CLOEXEC: usize = 0o2_000_000;
const MSG_DONTWAIT: usize = 0x40;
const MSG_NOSIGNAL: usize = 0x4000;

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
    if path.last() != Some(&0) {
        return None;
    }
    to_fd(syscall6(
        nr::OPENAT,
        [
            AT_FDCWD as usize,
            path.as_ptr() as usize,
            O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
            0,
            0,
            0,
        ],
    ))
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
    if path.last() != Some(&0) {
        return None;
    }
    let ret = syscall6(
        nr::READLINKAT,
        [
            AT_FDCWD as usize,
            path.as_ptr() as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
            0,
            0,
        ],
    );
    let n = usize::try_from(ret).ok()?;
    if n >= buf.len() {
        return None; // possibly truncated
    }
    buf.get(..n)
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
// Static buffers for the candidate path (runtimes only: non-targets never touch them).

/// Big buffers, handed out once per process.
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
}

struct Shared(UnsafeCell<Buffers>);

// SAFETY: the cell is only reached through `take_buffers`, which hands out its single `&mut` at
// most once per process (an atomic swap), so no two threads can ever access it.
unsafe impl Sync for Shared {}

static BUFFERS: Shared = Shared(UnsafeCell::new(Buffers {
    environ: [0; 65_536],
    cmdline: [0; 65_536],
    snapshot: [0; 65_537],
    maps: [0; 65_536],
    plan: [0; 81_920],
}));
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The buffers, the first time only (`None` afterwards, e.g. when the constructor runs again).
pub fn take_buffers() -> Option<&'static mut Buffers> {
    if TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    // SAFETY: the swap above returns false exactly once per process, so this is the only `&mut`
    // ever created to the cell's contents.
    Some(unsafe { &mut *BUFFERS.0.get() })
}

// ---------------------------------------------------------------------------------------------
// The constructor.

extern "C" fn oneagent_preload_init() {
    crate::run();
}

/// glibc calls this with `(argc, argv, envp)`, musl with nothing: it takes no arguments and reads
/// `/proc/self` instead, so it behaves the same under both.
#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn() = oneagent_preload_init;

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
