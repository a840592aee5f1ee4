//! ELF facts and Go build info of executables, read with bounded, positioned reads.
//!
//! The daemon's inventory and `oneagentctl explain` ask two questions of an executable: what does it
//! link against (`PT_INTERP`, `DT_NEEDED`), and is it a Go program, of which module? Both answers
//! come from a few small tables, so this module never reads a whole file: every read is positioned
//! ([`FileExt::read_exact_at`]), every table size and count is capped, and one call reads at most
//! [`MAX_READ_BYTES`] in total, however large (or hostile) the file is.
//!
//! The ELF structures (header, program and section headers, dynamic entries) are goblin's, decoded
//! with `scroll` from the bounded buffers this module reads; goblin never sees the file itself.
//!
//! Supported: ELF32 and ELF64, little and big endian; stripped binaries without section headers
//! (`DT_NEEDED` comes from `PT_DYNAMIC`, whose string table is found through the `PT_LOAD`
//! segments); Go build info in both the Go ≥ 1.18 inline format and the older pointer format.

#![forbid(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::dynamic::{DT_NEEDED, DT_NULL, DT_STRSZ, DT_STRTAB, Dyn};
use goblin::elf::header::{
    EI_CLASS, EI_DATA, ELFCLASS32, ELFCLASS64, ELFDATA2LSB, ELFDATA2MSB, ELFMAG, Header,
};
use goblin::elf::program_header::{PF_W, PF_X, PT_DYNAMIC, PT_INTERP, PT_LOAD, ProgramHeader};
use goblin::elf::section_header::{SHN_LORESERVE, SHN_UNDEF, SHT_NOBITS, SectionHeader};
use scroll::Pread;

/// The most bytes one call reads from a file, all reads together.
pub const MAX_READ_BYTES: u64 = 2 << 20;

/// Program headers beyond this count are refused (real executables have about a dozen).
const MAX_PHNUM: u64 = 512;
/// Section headers beyond this count are refused (real executables have a few dozen).
const MAX_SHNUM: u64 = 4096;
/// The largest program or section header table read, in bytes.
const MAX_HEADER_TABLE: u64 = 512 << 10;
/// The largest `PT_INTERP` segment (a path: `PATH_MAX`).
const MAX_INTERP: u64 = 4096;
/// The largest `PT_DYNAMIC` segment read (4096 ELF64 entries).
const MAX_DYNAMIC: u64 = 64 << 10;
/// The most `DT_NEEDED` entries accepted.
const MAX_NEEDED: usize = 1024;
/// The longest `DT_NEEDED` name.
const MAX_NAME: u64 = 4096;
/// The first read of a `DT_NEEDED` name; longer names get a second read up to [`MAX_NAME`].
const NAME_PROBE: u64 = 256;
/// The largest section name table (`.shstrtab`) read.
const MAX_SHSTRTAB: u64 = 256 << 10;
/// How much of the build info section or writable segment is searched for the magic (as Go does).
const BUILDINFO_WINDOW: u64 = 64 << 10;
/// How many writable segments are searched when there are no section headers.
const MAX_SCANNED_SEGMENTS: usize = 4;
/// The longest Go version string accepted.
const MAX_GO_VERSION: u64 = 4096;
/// The longest Go module info accepted.
const MAX_MODINFO: u64 = 1 << 20;

const GO_BUILDINFO_MAGIC: &[u8; 14] = b"\xff Go buildinf:";
const GO_BUILDINFO_SECTION: &[u8] = b".go.buildinfo";
const GO_BUILDINFO_HEADER: u64 = 32;
const GO_BUILDINFO_ALIGN: u64 = 16;
/// Length of each sentinel that frames the Go module info.
const MODINFO_FRAME: usize = 16;

/// What an executable's ELF headers say about how it runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ElfFacts {
    /// `true` for ELF64 (`ELFCLASS64`), `false` for ELF32.
    pub class64: bool,
    /// The `e_machine` field (`EM_X86_64` = 62, `EM_AARCH64` = 183, ...).
    pub machine: u16,
    /// The program interpreter (`PT_INTERP`), e.g. `/lib64/ld-linux-x86-64.so.2`; `None` for
    /// static executables.
    pub interpreter: Option<String>,
    /// The shared libraries the executable needs (`DT_NEEDED`), in the order of the dynamic
    /// section, e.g. `libjli.so`.
    pub needed: Vec<String>,
    /// The Go build info, when the executable is a Go program whose build info is readable.
    pub go: Option<GoBuildInfo>,
}

impl ElfFacts {
    /// The C library the executable runs on, from its program interpreter: `musl` for
    /// `ld-musl-*`, `glibc` for `ld-linux*`/`ld64.so.*`/`ld.so.*`; empty for a static executable
    /// or an interpreter of another libc (see [`libc_of_interpreter`]).
    pub fn libc(&self) -> &'static str {
        self.interpreter.as_deref().map_or("", libc_of_interpreter)
    }
}

/// The C library an ELF program interpreter (`PT_INTERP`) belongs to: `musl` (`ld-musl-x86_64.so.1`,
/// Alpine and other musl images), `glibc` (`ld-linux-x86-64.so.2`, `ld-linux-aarch64.so.1`,
/// `ld64.so.2` on ppc64/s390x, `ld.so.1`, `ld-linux.so.2`), else empty (unknown). Only the file
/// name counts: images put the loader in `/lib`, `/lib64` or elsewhere.
pub fn libc_of_interpreter(interpreter: &str) -> &'static str {
    let name = interpreter.rsplit('/').next().unwrap_or_default();
    if name.starts_with("ld-musl-") {
        "musl"
    } else if name.starts_with("ld-linux")
        || name.starts_with("ld64.so.")
        || name.starts_with("ld.so.")
    {
        "glibc"
    } else {
        ""
    }
}

/// The build info the Go linker embeds in the `.go.buildinfo` section (what `go version -m` shows).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GoBuildInfo {
    /// The Go toolchain version, e.g. `go1.19.8`.
    pub go_version: String,
    /// The main module's path (the `mod` line), e.g. `example.com/app`; `None` when built outside
    /// module mode.
    pub main_module: Option<String>,
    /// The main package's import path (the `path` line), e.g. `example.com/app/cmd/server`.
    pub main_path: Option<String>,
}

/// Why an executable's ELF facts could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// Opening or reading the file failed.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The path is not a regular file (a directory, device, FIFO, ...).
    #[error("{} is not a regular file", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
    },
    /// The file does not start with the ELF magic.
    #[error("{} is not an ELF file", path.display())]
    NotElf {
        /// The file.
        path: PathBuf,
    },
    /// A structure the headers point at extends beyond the end of the file.
    #[error("{}: truncated ELF file: the {what} extends beyond the end of the file", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The structure that is cut short.
        what: &'static str,
    },
    /// A field holds a value that cannot be right.
    #[error("{}: malformed ELF file: bad {what}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The field or structure at fault.
        what: &'static str,
    },
    /// A table or string is larger than this reader accepts.
    #[error("{}: the {what} is too large ({size}), refusing to read it", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The table or string at fault.
        what: &'static str,
        /// Its claimed size (bytes or entries, as `what` says).
        size: u64,
    },
}

impl ElfError {
    /// A short, stable name of the error kind, for metrics labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Io { .. } => "io",
            Self::NotRegular { .. } => "not_regular",
            Self::NotElf { .. } => "not_elf",
            Self::Truncated { .. } => "truncated",
            Self::Malformed { .. } => "malformed",
            Self::TooLarge { .. } => "too_large",
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. }
            | Self::NotRegular { path }
            | Self::NotElf { path }
            | Self::Truncated { path, .. }
            | Self::Malformed { path, .. }
            | Self::TooLarge { path, .. } => path,
        }
    }
}

type Result<T, E = ElfError> = std::result::Result<T, E>;

/// Reads the ELF facts of the executable at `path`: class, machine, interpreter, needed libraries
/// and Go build info.
///
/// Reads at most [`MAX_READ_BYTES`] of the file, in a few positioned reads, whatever its size.
///
/// # Errors
///
/// [`ElfError::NotElf`] for a file that is not ELF (a script, say), [`ElfError::NotRegular`] for
/// directories and devices, [`ElfError::Io`] when the file cannot be opened or read, and
/// [`ElfError::Truncated`], [`ElfError::Malformed`] or [`ElfError::TooLarge`] when the headers
/// point outside the file, hold impossible values, or claim more than this reader accepts.
pub fn read_elf_facts(path: &Path) -> Result<ElfFacts> {
    let mut reader = Reader::open(path)?;
    elf_facts(&mut reader)
}

/// Reads the Go build info of the executable at `path`, as `go version -m` would.
///
/// Returns `Ok(None)` for an ELF file that is not a Go program, and for a Go program whose build
/// info cannot be resolved (e.g. a pre-1.18 position-independent binary whose pointers are only
/// filled in by relocations at load time; `go version` cannot read those either).
///
/// # Errors
///
/// As [`read_elf_facts`].
pub fn read_go_build_info(path: &Path) -> Result<Option<GoBuildInfo>> {
    let mut reader = Reader::open(path)?;
    go_build_info_of(&mut reader)
}

fn elf_facts(r: &mut Reader<'_>) -> Result<ElfFacts> {
    let elf = Elf::parse(r)?;
    let interpreter = elf.interpreter(r)?;
    let needed = elf.needed(r)?;
    let go = elf.go_build_info(r)?;
    Ok(ElfFacts {
        class64: elf.fmt.class64,
        machine: elf.header.e_machine,
        interpreter,
        needed,
        go,
    })
}

fn go_build_info_of(r: &mut Reader<'_>) -> Result<Option<GoBuildInfo>> {
    Elf::parse(r)?.go_build_info(r)
}

/// Positioned, bounded reads of one file; counts the bytes read against [`MAX_READ_BYTES`].
struct Reader<'a> {
    file: File,
    path: &'a Path,
    size: u64,
    bytes_read: u64,
}

impl<'a> Reader<'a> {
    fn open(path: &'a Path) -> Result<Self> {
        let io_err = |source| ElfError::Io {
            path: path.to_path_buf(),
            source,
        };
        // Non-regular files are refused before and after opening, without blocking.
        let (file, meta) =
            crate::safe_fs::open(path, crate::safe_fs::OpenOpts::TRUSTED).map_err(|e| match e {
                crate::Error::Io { source, .. } => io_err(source),
                _ => ElfError::NotRegular {
                    path: path.to_path_buf(),
                },
            })?;
        Ok(Self {
            file,
            path,
            size: meta.len(),
            bytes_read: 0,
        })
    }

    fn truncated(&self, what: &'static str) -> ElfError {
        ElfError::Truncated {
            path: self.path.to_path_buf(),
            what,
        }
    }

    fn malformed(&self, what: &'static str) -> ElfError {
        ElfError::Malformed {
            path: self.path.to_path_buf(),
            what,
        }
    }

    fn too_large(&self, what: &'static str, size: u64) -> ElfError {
        ElfError::TooLarge {
            path: self.path.to_path_buf(),
            what,
            size,
        }
    }

    /// Reads exactly `len` bytes at `offset`; the range must lie inside the file.
    fn read(&mut self, offset: u64, len: u64, what: &'static str) -> Result<Vec<u8>> {
        let end = offset
            .checked_add(len)
            .ok_or_else(|| self.truncated(what))?;
        if end > self.size {
            return Err(self.truncated(what));
        }
        let total = self.bytes_read.saturating_add(len);
        if total > MAX_READ_BYTES {
            return Err(self.too_large("total of the reads (bytes)", total));
        }
        let n = usize::try_from(len).map_err(|_| self.too_large(what, len))?;
        let mut buf = vec![0; n];
        self.file.read_exact_at(&mut buf, offset).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                // The file shrank under us.
                self.truncated(what)
            } else {
                ElfError::Io {
                    path: self.path.to_path_buf(),
                    source: e,
                }
            }
        })?;
        self.bytes_read = total;
        Ok(buf)
    }

    /// Reads up to `len` bytes at `offset`, fewer at the end of the file; `offset` must lie inside
    /// the file (or at its end).
    fn read_up_to(&mut self, offset: u64, len: u64, what: &'static str) -> Result<Vec<u8>> {
        let available = self
            .size
            .checked_sub(offset)
            .ok_or_else(|| self.truncated(what))?;
        self.read(offset, len.min(available), what)
    }
}

/// Byte order and word size of an ELF file.
#[derive(Debug, Clone, Copy)]
struct Format {
    class64: bool,
    big_endian: bool,
}

impl Format {
    fn bytes<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
        b.get(off..off.checked_add(N)?)?.try_into().ok()
    }

    fn u32(self, b: &[u8], off: usize) -> Option<u32> {
        let a = Self::bytes(b, off)?;
        Some(if self.big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }

    fn u64(self, b: &[u8], off: usize) -> Option<u64> {
        let a = Self::bytes(b, off)?;
        Some(if self.big_endian {
            u64::from_be_bytes(a)
        } else {
            u64::from_le_bytes(a)
        })
    }

    /// An address or offset: 4 bytes in ELF32, 8 in ELF64.
    fn word(self, b: &[u8], off: usize) -> Option<u64> {
        if self.class64 {
            self.u64(b, off)
        } else {
            self.u32(b, off).map(u64::from)
        }
    }

    /// goblin's (scroll's) decoding context for this format.
    fn ctx(self) -> Ctx {
        Ctx {
            container: if self.class64 {
                Container::Big
            } else {
                Container::Little
            },
            le: if self.big_endian {
                Endian::Big
            } else {
                Endian::Little
            },
        }
    }
}

/// Reads and checks the ELF header (goblin's [`Header`]) at the start of the file.
fn parse_header(r: &mut Reader<'_>) -> Result<(Format, Header)> {
    let ident = r.read_up_to(0, 64, "ELF header")?;
    if ident.get(..ELFMAG.len()) != Some(ELFMAG.as_slice()) {
        return Err(ElfError::NotElf {
            path: r.path.to_path_buf(),
        });
    }
    let class64 = match ident.get(EI_CLASS).copied() {
        Some(ELFCLASS32) => false,
        Some(ELFCLASS64) => true,
        Some(_) => return Err(r.malformed("ELF class (e_ident[EI_CLASS])")),
        None => return Err(r.truncated("ELF header")),
    };
    let big_endian = match ident.get(EI_DATA).copied() {
        Some(ELFDATA2LSB) => false,
        Some(ELFDATA2MSB) => true,
        Some(_) => return Err(r.malformed("ELF data encoding (e_ident[EI_DATA])")),
        None => return Err(r.truncated("ELF header")),
    };
    let fmt = Format {
        class64,
        big_endian,
    };
    if ident.len() < Header::size(fmt.ctx()) {
        return Err(r.truncated("ELF header"));
    }
    let header = decode(r, &ident, fmt.ctx().le, "ELF header")?;
    Ok((fmt, header))
}

/// Decodes one goblin structure at the start of `bytes` (a buffer this module read, of at least
/// the structure's size); a short buffer is a truncated file.
fn decode<'b, T, C>(r: &Reader<'_>, bytes: &'b [u8], ctx: C, what: &'static str) -> Result<T>
where
    T: scroll::ctx::TryFromCtx<'b, C, Error = goblin::error::Error>,
    C: Copy,
{
    bytes.pread_with(0, ctx).map_err(|_| r.truncated(what))
}

/// The file offset of `len` bytes at virtual address `addr`, when they lie in the file image of
/// `segment`, a `PT_LOAD` segment.
fn segment_file_offset(segment: &ProgramHeader, addr: u64, len: u64) -> Option<u64> {
    let delta = addr.checked_sub(segment.p_vaddr)?;
    let end = delta.checked_add(len)?;
    if segment.p_type != PT_LOAD || end > segment.p_filesz {
        return None;
    }
    segment.p_offset.checked_add(delta)
}

/// A parsed ELF header and program header table.
#[derive(Debug)]
struct Elf {
    fmt: Format,
    header: Header,
    segments: Vec<ProgramHeader>,
}

impl Elf {
    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let (fmt, header) = parse_header(r)?;
        let segments = if header.e_phnum == 0 {
            Vec::new()
        } else {
            let count = u64::from(header.e_phnum);
            if count > MAX_PHNUM {
                return Err(r.too_large("program header table (entries)", count));
            }
            let entsize = u64::from(header.e_phentsize);
            if entsize < ProgramHeader::size(fmt.ctx()) as u64 {
                return Err(r.malformed("program header entry size (e_phentsize)"));
            }
            let table = read_table(r, header.e_phoff, entsize, count, "program header table")?;
            table
                .chunks_exact(usize::from(header.e_phentsize))
                .map(|entry| decode(r, entry, fmt.ctx(), "program header"))
                .collect::<Result<Vec<ProgramHeader>>>()?
        };
        Ok(Self {
            fmt,
            header,
            segments,
        })
    }

    fn segment(&self, p_type: u32) -> Option<&ProgramHeader> {
        self.segments.iter().find(|s| s.p_type == p_type)
    }

    /// Maps `len` bytes at virtual address `addr` to a file offset through the `PT_LOAD` segments.
    fn file_offset(&self, addr: u64, len: u64) -> Option<u64> {
        self.segments
            .iter()
            .find_map(|s| segment_file_offset(s, addr, len))
    }

    fn interpreter(&self, r: &mut Reader<'_>) -> Result<Option<String>> {
        let Some(seg) = self.segment(PT_INTERP) else {
            return Ok(None);
        };
        if seg.p_filesz > MAX_INTERP {
            return Err(r.too_large("PT_INTERP segment (bytes)", seg.p_filesz));
        }
        let bytes = r.read(seg.p_offset, seg.p_filesz, "PT_INTERP segment")?;
        let path = until_nul(&bytes);
        if path.is_empty() {
            return Err(r.malformed("PT_INTERP segment (empty path)"));
        }
        Ok(Some(String::from_utf8_lossy(path).into_owned()))
    }

    fn needed(&self, r: &mut Reader<'_>) -> Result<Vec<String>> {
        let Some(seg) = self.segment(PT_DYNAMIC) else {
            return Ok(Vec::new());
        };
        if seg.p_filesz > MAX_DYNAMIC {
            return Err(r.too_large("PT_DYNAMIC segment (bytes)", seg.p_filesz));
        }
        let ctx = self.fmt.ctx();
        let dynamic = r.read(seg.p_offset, seg.p_filesz, "PT_DYNAMIC segment")?;
        let mut strtab = None;
        let mut strsz = None;
        let mut offsets = Vec::new();
        for entry in dynamic.chunks_exact(Dyn::size(ctx.container)) {
            let entry: Dyn = decode(r, entry, ctx, "dynamic entry")?;
            match entry.d_tag {
                DT_NULL => break,
                DT_NEEDED => {
                    if offsets.len() >= MAX_NEEDED {
                        return Err(r.too_large("DT_NEEDED list (entries)", offsets.len() as u64));
                    }
                    offsets.push(entry.d_val);
                }
                DT_STRTAB => strtab = Some(entry.d_val),
                DT_STRSZ => strsz = Some(entry.d_val),
                _ => {}
            }
        }
        if offsets.is_empty() {
            return Ok(Vec::new());
        }
        let Some(strtab) = strtab else {
            return Err(r.malformed("dynamic section (DT_NEEDED without DT_STRTAB)"));
        };
        // The string table's extent in the file: DT_STRSZ when given, else to its segment's end.
        let strsz = match strsz {
            Some(size) => size,
            None => self
                .segments
                .iter()
                .filter(|s| s.p_type == PT_LOAD)
                .find_map(|s| {
                    let delta = strtab.checked_sub(s.p_vaddr)?;
                    s.p_filesz.checked_sub(delta).filter(|&rest| rest > 0)
                })
                .ok_or_else(|| r.malformed("DT_STRTAB address (outside the loaded segments)"))?,
        };
        let table_offset = self
            .file_offset(strtab, strsz)
            .ok_or_else(|| r.malformed("DT_STRTAB address (outside the loaded segments)"))?;
        let mut needed = Vec::with_capacity(offsets.len());
        for name_offset in offsets {
            let room = strsz
                .checked_sub(name_offset)
                .filter(|&room| room > 0)
                .ok_or_else(|| r.malformed("DT_NEEDED offset (outside DT_STRTAB)"))?;
            let at = table_offset
                .checked_add(name_offset)
                .ok_or_else(|| r.malformed("DT_NEEDED offset (outside DT_STRTAB)"))?;
            needed.push(read_c_string(r, at, room.min(MAX_NAME), "DT_NEEDED name")?);
        }
        Ok(needed)
    }

    /// The section headers, or `None` when the file has none (stripped of them, say).
    fn sections(&self, r: &mut Reader<'_>) -> Result<Option<(Vec<SectionHeader>, SectionHeader)>> {
        let h = &self.header;
        if h.e_shoff == 0 || h.e_shnum == 0 || u32::from(h.e_shstrndx) == SHN_UNDEF {
            return Ok(None);
        }
        if u32::from(h.e_shnum) >= SHN_LORESERVE || u64::from(h.e_shnum) > MAX_SHNUM {
            return Err(r.too_large("section header table (entries)", u64::from(h.e_shnum)));
        }
        if h.e_shstrndx >= h.e_shnum {
            return Err(r.malformed("section name table index (e_shstrndx)"));
        }
        let ctx = self.fmt.ctx();
        let entsize = u64::from(h.e_shentsize);
        if entsize < SectionHeader::size(ctx) as u64 {
            return Err(r.malformed("section header entry size (e_shentsize)"));
        }
        let table = read_table(
            r,
            h.e_shoff,
            entsize,
            u64::from(h.e_shnum),
            "section header table",
        )?;
        let sections = table
            .chunks_exact(usize::from(h.e_shentsize))
            .map(|entry| decode(r, entry, ctx, "section header"))
            .collect::<Result<Vec<SectionHeader>>>()?;
        let names = sections
            .get(usize::from(h.e_shstrndx))
            .cloned()
            .ok_or_else(|| r.malformed("section name table index (e_shstrndx)"))?;
        Ok(Some((sections, names)))
    }

    /// Where to look for the build info magic: the `.go.buildinfo` section, or without section
    /// headers the first writable (not executable) `PT_LOAD` segments. Each window is a file
    /// offset and a length.
    fn buildinfo_windows(&self, r: &mut Reader<'_>) -> Result<Vec<(u64, u64)>> {
        if let Some((sections, names)) = self.sections(r)? {
            if names.sh_type == SHT_NOBITS || names.sh_size == 0 {
                return Err(r.malformed("section name table (empty)"));
            }
            if names.sh_size > MAX_SHSTRTAB {
                return Err(r.too_large("section name table (bytes)", names.sh_size));
            }
            let names = r.read(names.sh_offset, names.sh_size, "section name table")?;
            let found = sections.iter().find(|s| {
                names
                    .get(s.sh_name..)
                    .is_some_and(|name| until_nul(name) == GO_BUILDINFO_SECTION)
            });
            return Ok(match found {
                Some(s) if s.sh_type != SHT_NOBITS => vec![(s.sh_offset, s.sh_size)],
                _ => Vec::new(),
            });
        }
        Ok(self
            .segments
            .iter()
            .filter(|s| s.p_type == PT_LOAD && s.p_flags & (PF_X | PF_W) == PF_W)
            .take(MAX_SCANNED_SEGMENTS)
            .map(|s| (s.p_offset, s.p_filesz))
            .collect())
    }

    fn go_build_info(&self, r: &mut Reader<'_>) -> Result<Option<GoBuildInfo>> {
        for (offset, len) in self.buildinfo_windows(r)? {
            let window = r.read_up_to(offset, len.min(BUILDINFO_WINDOW), "Go build info")?;
            if let Some(at) = find_buildinfo_magic(&window) {
                let (version, modinfo) = self.buildinfo_strings(r, &window, offset, at)?;
                return Ok(build_info(&version, &modinfo));
            }
        }
        Ok(None)
    }

    /// Decodes the version and module info strings of the build info header at `window[at..]`.
    fn buildinfo_strings(
        &self,
        r: &mut Reader<'_>,
        window: &[u8],
        window_offset: u64,
        at: usize,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let header = window
            .get(at..)
            .and_then(|h| h.get(..GO_BUILDINFO_HEADER as usize))
            .ok_or_else(|| r.truncated("Go build info header"))?;
        let ptr_size = header.get(14).copied().unwrap_or(0);
        let flags = header.get(15).copied().unwrap_or(0);
        if flags & 2 != 0 {
            // Go >= 1.18: two uvarint-length-prefixed strings follow the 32-byte header.
            let start = window_offset
                .checked_add(at as u64)
                .and_then(|o| o.checked_add(GO_BUILDINFO_HEADER))
                .ok_or_else(|| r.malformed("Go build info offset"))?;
            let mut src = Source {
                window,
                window_offset,
            };
            let (version, next) = src.varint_string(r, start, MAX_GO_VERSION, "Go version")?;
            let (modinfo, _) = src.varint_string(r, next, MAX_MODINFO, "Go module info")?;
            return Ok((version, modinfo));
        }
        // Older Go: pointers to the string headers of runtime.buildVersion and runtime.modinfo.
        let ptr = match ptr_size {
            4 | 8 => ptr_size as usize,
            _ => return Err(r.malformed("Go build info pointer size")),
        };
        let fmt = Format {
            class64: ptr == 8,
            big_endian: flags & 1 != 0,
        };
        let version_ptr = fmt.word(header, 16);
        let modinfo_ptr = fmt.word(header, 16 + ptr);
        let (Some(version_ptr), Some(modinfo_ptr)) = (version_ptr, modinfo_ptr) else {
            return Err(r.truncated("Go build info header"));
        };
        let version = self.go_string(r, fmt, version_ptr, MAX_GO_VERSION, "Go version")?;
        let modinfo = self.go_string(r, fmt, modinfo_ptr, MAX_MODINFO, "Go module info")?;
        Ok((version, modinfo))
    }

    /// Reads the Go string whose header (data pointer, length) is at virtual address `addr`.
    /// Unmappable addresses give an empty string, as in Go's `debug/buildinfo`.
    fn go_string(
        &self,
        r: &mut Reader<'_>,
        fmt: Format,
        addr: u64,
        max: u64,
        what: &'static str,
    ) -> Result<Vec<u8>> {
        let word = if fmt.class64 { 8 } else { 4 };
        let Some(header_offset) = self.file_offset(addr, 2 * word) else {
            return Ok(Vec::new());
        };
        let header = r.read(header_offset, 2 * word, what)?;
        let (Some(data), Some(len)) = (fmt.word(&header, 0), fmt.word(&header, word as usize))
        else {
            return Err(r.truncated(what));
        };
        if len > max {
            return Err(r.too_large(what, len));
        }
        match self.file_offset(data, len) {
            Some(offset) => r.read(offset, len, what),
            None => Ok(Vec::new()),
        }
    }
}

/// Reads a table of `count` entries of `entsize` bytes at `offset`, within [`MAX_HEADER_TABLE`].
fn read_table(
    r: &mut Reader<'_>,
    offset: u64,
    entsize: u64,
    count: u64,
    what: &'static str,
) -> Result<Vec<u8>> {
    let size = entsize
        .checked_mul(count)
        .filter(|&size| size <= MAX_HEADER_TABLE)
        .ok_or_else(|| r.too_large(what, entsize.saturating_mul(count)))?;
    r.read(offset, size, what)
}

/// Reads a NUL-terminated string of at most `max` bytes (terminator included) at `offset`.
fn read_c_string(r: &mut Reader<'_>, offset: u64, max: u64, what: &'static str) -> Result<String> {
    let mut probe = NAME_PROBE.min(max);
    loop {
        let bytes = r.read_up_to(offset, probe, what)?;
        if let Some(end) = bytes.iter().position(|&b| b == 0) {
            let name = bytes.get(..end).unwrap_or_default();
            return Ok(String::from_utf8_lossy(name).into_owned());
        }
        if (bytes.len() as u64) < probe {
            return Err(r.truncated(what));
        }
        if probe >= max {
            return Err(r.too_large(what, probe));
        }
        probe = max;
    }
}

/// The bytes before the first NUL (all of them when there is none).
fn until_nul(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&b| b == 0) {
        Some(end) => bytes.get(..end).unwrap_or(bytes),
        None => bytes,
    }
}

/// The position of the first build info magic aligned to 16 bytes with a whole header after it.
fn find_buildinfo_magic(window: &[u8]) -> Option<usize> {
    let header = GO_BUILDINFO_HEADER as usize;
    (0..window.len())
        .step_by(GO_BUILDINFO_ALIGN as usize)
        .take_while(|&at| window.len() - at >= header)
        .find(|&at| {
            window
                .get(at..)
                .is_some_and(|rest| rest.starts_with(GO_BUILDINFO_MAGIC))
        })
}

/// Bytes already read (the search window), falling back to reads from the file.
struct Source<'w> {
    window: &'w [u8],
    window_offset: u64,
}

impl Source<'_> {
    fn bytes(
        &self,
        r: &mut Reader<'_>,
        offset: u64,
        len: u64,
        what: &'static str,
    ) -> Result<Vec<u8>> {
        let in_window = offset.checked_sub(self.window_offset).and_then(|start| {
            let start = usize::try_from(start).ok()?;
            let end = start.checked_add(usize::try_from(len).ok()?)?;
            self.window.get(start..end)
        });
        match in_window {
            Some(bytes) => Ok(bytes.to_vec()),
            None => r.read(offset, len, what),
        }
    }

    /// Reads a uvarint length and that many bytes at `offset`; returns them and the next offset.
    fn varint_string(
        &mut self,
        r: &mut Reader<'_>,
        offset: u64,
        max: u64,
        what: &'static str,
    ) -> Result<(Vec<u8>, u64)> {
        let available = r.size.saturating_sub(offset).min(10);
        let prefix = self.bytes(r, offset, available, what)?;
        let (len, used) = decode_uvarint(&prefix).ok_or_else(|| {
            if prefix.len() < 10 {
                r.truncated(what)
            } else {
                r.malformed(what)
            }
        })?;
        if len > max {
            return Err(r.too_large(what, len));
        }
        let start = offset.checked_add(used).ok_or_else(|| r.malformed(what))?;
        let bytes = self.bytes(r, start, len, what)?;
        let next = start.checked_add(len).ok_or_else(|| r.malformed(what))?;
        Ok((bytes, next))
    }
}

/// Decodes an unsigned LEB128 varint (Go's `binary.Uvarint`): the value and the bytes it took.
fn decode_uvarint(bytes: &[u8]) -> Option<(u64, u64)> {
    let mut value: u64 = 0;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        let shift = 7 * i as u32;
        if i == 9 && b > 1 {
            return None; // overflows 64 bits
        }
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some((value, i as u64 + 1));
        }
    }
    None
}

/// Builds the result from the raw version and module info; `None` when the version is empty.
fn build_info(version: &[u8], modinfo: &[u8]) -> Option<GoBuildInfo> {
    if version.is_empty() {
        return None;
    }
    let mut info = GoBuildInfo {
        go_version: String::from_utf8_lossy(version).into_owned(),
        main_module: None,
        main_path: None,
    };
    // The module info is framed by two 16-byte sentinels, the text ending in '\n' before the last.
    let n = modinfo.len();
    let framed = n > 2 * MODINFO_FRAME && modinfo.get(n - MODINFO_FRAME - 1) == Some(&b'\n');
    let text = if framed {
        modinfo
            .get(MODINFO_FRAME..n - MODINFO_FRAME)
            .unwrap_or_default()
    } else {
        &[]
    };
    for line in text.split(|&b| b == b'\n') {
        let mut fields = line.split(|&b| b == b'\t');
        let key = fields.next();
        let value = fields
            .next()
            .filter(|v| !v.is_empty())
            .map(|v| String::from_utf8_lossy(v).into_owned());
        match key {
            Some(b"path") if info.main_path.is_none() => info.main_path = value,
            Some(b"mod") if info.main_module.is_none() => info.main_module = value,
            _ => {}
        }
    }
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::process::Command;
    use std::sync::OnceLock;

    /// Reads the facts and reports how many bytes the reads took.
    fn facts_counted(path: &Path) -> (Result<ElfFacts>, u64) {
        match Reader::open(path) {
            Ok(mut r) => {
                let facts = elf_facts(&mut r);
                (facts, r.bytes_read)
            }
            Err(e) => (Err(e), 0),
        }
    }

    fn readelf(args: &[&str], path: &Path) -> String {
        let out = Command::new("readelf")
            .args(args)
            .arg(path)
            .output()
            .expect("readelf (binutils) must be installed for these tests");
        assert!(out.status.success(), "readelf {args:?} {}", path.display());
        String::from_utf8(out.stdout).unwrap()
    }

    fn bracketed(line: &str, marker: &str) -> Option<String> {
        let rest = &line[line.find(marker)? + marker.len()..];
        Some(rest[..rest.find(']')?].to_string())
    }

    fn readelf_needed(path: &Path) -> Vec<String> {
        readelf(&["-d", "-W"], path)
            .lines()
            .filter(|l| l.contains("(NEEDED)"))
            .map(|l| bracketed(l, "Shared library: [").unwrap())
            .collect()
    }

    fn readelf_interpreter(path: &Path) -> Option<String> {
        readelf(&["-l", "-W"], path)
            .lines()
            .find_map(|l| bracketed(l, "[Requesting program interpreter: "))
    }

    /// Checks the facts of a real executable against readelf; returns them.
    fn check_against_readelf(path: &Path) -> ElfFacts {
        let (facts, bytes_read) = facts_counted(path);
        let facts = facts.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(facts.needed, readelf_needed(path), "{}", path.display());
        assert_eq!(
            facts.interpreter,
            readelf_interpreter(path),
            "{}",
            path.display()
        );
        assert!(
            bytes_read < 64 << 10,
            "{} read {bytes_read} bytes",
            path.display()
        );
        facts
    }

    /// The real path of a command found on PATH (or given as an absolute path).
    fn resolve(command: &str) -> Option<PathBuf> {
        let candidates: Vec<PathBuf> = if command.starts_with('/') {
            vec![PathBuf::from(command)]
        } else {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|dir| dir.join(command))
                .collect()
        };
        candidates
            .into_iter()
            .find(|p| p.is_file())
            .and_then(|p| std::fs::canonicalize(p).ok())
    }

    #[test]
    fn ls_matches_readelf() {
        let ls = resolve("/bin/ls").expect("/bin/ls");
        let facts = check_against_readelf(&ls);
        assert!(facts.needed.iter().any(|n| n == "libc.so.6"));
        assert!(facts.go.is_none(), "ls is not a Go program");
        assert_eq!(read_go_build_info(&ls).unwrap(), None);
        assert_eq!(facts.class64, cfg!(target_pointer_width = "64"));
        assert_eq!(facts.libc(), "glibc", "{:?}", facts.interpreter);
    }

    #[test]
    fn the_interpreter_names_the_libc() {
        for (interpreter, libc) in [
            ("/lib/ld-musl-x86_64.so.1", "musl"),
            ("/lib/ld-musl-aarch64.so.1", "musl"),
            ("/lib64/ld-linux-x86-64.so.2", "glibc"),
            ("/lib/ld-linux-aarch64.so.1", "glibc"),
            ("/lib/ld-linux-armhf.so.3", "glibc"),
            ("/lib/ld-linux.so.2", "glibc"),
            ("/lib64/ld64.so.2", "glibc"),
            ("/lib/ld.so.1", "glibc"),
            (
                "/nix/store/abc-glibc-2.39/lib/ld-linux-x86-64.so.2",
                "glibc",
            ),
            ("/system/bin/linker64", ""),
            ("/lib/ld-uClibc.so.0", ""),
            ("ld-musl-x86_64.so.1", "musl"),
            ("", ""),
        ] {
            assert_eq!(libc_of_interpreter(interpreter), libc, "{interpreter:?}");
        }
        let static_exe = ElfFacts {
            class64: true,
            machine: 62,
            interpreter: None,
            needed: Vec::new(),
            go: None,
        };
        assert_eq!(static_exe.libc(), "", "a static executable names no libc");
    }

    #[test]
    fn runtimes_match_readelf() {
        for (command, expect) in [
            ("/usr/bin/java", Some("libjli.so")),
            ("node", None),
            ("/usr/bin/python3", None),
        ] {
            let Some(path) = resolve(command) else {
                eprintln!("{command} is not installed here; skipped");
                continue;
            };
            let facts = check_against_readelf(&path);
            if let Some(lib) = expect {
                assert!(
                    facts.needed.iter().any(|n| n == lib),
                    "{}: {:?}",
                    path.display(),
                    facts.needed
                );
            }
            assert!(facts.go.is_none());
        }
    }

    #[test]
    fn shared_libraries_and_the_test_binary_match_readelf() {
        let exe = std::env::current_exe().unwrap();
        check_against_readelf(&exe);
        // The shared libraries mapped into this process: libc and friends (ET_DYN, no PT_INTERP).
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let mut libraries: Vec<&str> = maps
            .lines()
            .filter_map(|l| l.split_whitespace().nth(5))
            .filter(|p| p.starts_with('/') && p.contains(".so"))
            .collect();
        libraries.dedup();
        assert!(!libraries.is_empty());
        for library in libraries {
            let facts = check_against_readelf(Path::new(library));
            assert!(facts.go.is_none(), "{library}");
        }
    }

    #[test]
    fn not_elf_and_not_regular() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("script.sh");
        std::fs::write(&script, "#!/bin/sh\necho hello\n").unwrap();
        let err = read_elf_facts(&script).unwrap_err();
        assert!(matches!(err, ElfError::NotElf { .. }), "{err}");
        assert_eq!(err.kind(), "not_elf");
        assert_eq!(err.path(), script);
        assert!(err.to_string().contains("script.sh"), "{err}");
        assert!(matches!(
            read_go_build_info(&script),
            Err(ElfError::NotElf { .. })
        ));

        let empty = dir.path().join("empty");
        std::fs::write(&empty, "").unwrap();
        assert!(matches!(
            read_elf_facts(&empty),
            Err(ElfError::NotElf { .. })
        ));

        let short = dir.path().join("short");
        std::fs::write(&short, b"\x7fELF\x02").unwrap();
        assert!(matches!(
            read_elf_facts(&short),
            Err(ElfError::Truncated { .. })
        ));

        let bad_class = dir.path().join("bad-class");
        let mut bytes = vec![0u8; 64];
        bytes[..4].copy_from_slice(ELFMAG);
        bytes[4] = 3;
        bytes[5] = 1;
        std::fs::write(&bad_class, &bytes).unwrap();
        assert!(matches!(
            read_elf_facts(&bad_class),
            Err(ElfError::Malformed { .. })
        ));

        assert!(matches!(
            read_elf_facts(dir.path()),
            Err(ElfError::NotRegular { .. })
        ));
        assert!(matches!(
            read_elf_facts(Path::new("/dev/null")),
            Err(ElfError::NotRegular { .. })
        ));
        let missing = dir.path().join("missing");
        let err = read_elf_facts(&missing).unwrap_err();
        assert!(matches!(err, ElfError::Io { .. }), "{err}");
        assert!(err.to_string().contains("missing"), "{err}");
    }

    // ---- synthetic ELF files: every class, byte order and build info format ----

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Info {
        Absent,
        Inline,
        Pointers,
    }

    const BASE: u64 = 0x10000;
    const INTERP: &str = "/lib/ld-synth.so.1";
    const VERSION: &str = "go1.17.13";
    const SH_OFF: usize = 0x900;

    fn modinfo() -> Vec<u8> {
        let mut m = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6".to_vec();
        m.extend_from_slice(
            b"path\texample.com/synth/cmd/synth\nmod\texample.com/synth\tv1.2.3\th1:abc=\n\
              dep\texample.com/dep\tv0.1.0\th1:def=\n",
        );
        m.extend_from_slice(b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2");
        m
    }

    fn uvarint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// Builds a small ELF executable: PT_INTERP, two PT_LOADs, PT_DYNAMIC with two DT_NEEDED,
    /// optional Go build info in the writable segment and optional section headers.
    fn synth(class64: bool, big: bool, info: Info, sections: bool) -> Vec<u8> {
        let mut f = vec![0u8; 0x1000];
        let put = |f: &mut Vec<u8>, off: usize, v: u64, n: usize| {
            let b = if big {
                v.to_be_bytes()[8 - n..].to_vec()
            } else {
                v.to_le_bytes()[..n].to_vec()
            };
            f[off..off + n].copy_from_slice(&b);
        };
        let word = if class64 { 8 } else { 4 };
        f[..4].copy_from_slice(ELFMAG);
        f[4] = if class64 { 2 } else { 1 };
        f[5] = if big { 2 } else { 1 };
        f[6] = 1;
        let machine = match (class64, big) {
            (true, false) => 62,
            (true, true) => 22,
            (false, false) => 3,
            (false, true) => 20,
        };
        put(&mut f, 16, 2, 2);
        put(&mut f, 18, machine, 2);
        put(&mut f, 20, 1, 4);
        let (phoff_at, shoff_at, rest_at) = if class64 { (32, 40, 52) } else { (28, 32, 40) };
        let phsize = if class64 { 56 } else { 32 };
        let shsize = if class64 { 64 } else { 40 };
        put(&mut f, 24, BASE + 0x100, word);
        put(&mut f, phoff_at, 0x40, word);
        put(&mut f, rest_at, if class64 { 64 } else { 52 }, 2);
        put(&mut f, rest_at + 2, phsize as u64, 2);
        put(&mut f, rest_at + 4, 4, 2);
        if sections {
            put(&mut f, shoff_at, SH_OFF as u64, word);
            put(&mut f, rest_at + 6, shsize as u64, 2);
            put(&mut f, rest_at + 8, 3, 2);
            put(&mut f, rest_at + 10, 2, 2);
        }
        // Program headers: (type, flags, offset, filesz).
        let dyn_size = 2 * word as u64;
        let phdrs: [(u32, u32, u64, u64); 4] = [
            (PT_INTERP, 4, 0x200, INTERP.len() as u64 + 1),
            (PT_LOAD, 5, 0, 0x400),
            (PT_LOAD, 6, 0x400, 0x400),
            (PT_DYNAMIC, 6, 0x280, 5 * dyn_size),
        ];
        for (i, (p_type, flags, offset, filesz)) in phdrs.into_iter().enumerate() {
            let at = 0x40 + i * phsize;
            put(&mut f, at, u64::from(p_type), 4);
            if class64 {
                put(&mut f, at + 4, u64::from(flags), 4);
                put(&mut f, at + 8, offset, 8);
                put(&mut f, at + 16, BASE + offset, 8);
                put(&mut f, at + 24, BASE + offset, 8);
                put(&mut f, at + 32, filesz, 8);
                put(&mut f, at + 40, filesz + 0x100, 8);
                put(&mut f, at + 48, 0x1000, 8);
            } else {
                put(&mut f, at + 4, offset, 4);
                put(&mut f, at + 8, BASE + offset, 4);
                put(&mut f, at + 12, BASE + offset, 4);
                put(&mut f, at + 16, filesz, 4);
                put(&mut f, at + 20, filesz + 0x100, 4);
                put(&mut f, at + 24, u64::from(flags), 4);
                put(&mut f, at + 28, 0x1000, 4);
            }
        }
        f[0x200..0x200 + INTERP.len()].copy_from_slice(INTERP.as_bytes());
        let strtab = b"\0libfoo.so.1\0libbar.so\0";
        f[0x240..0x240 + strtab.len()].copy_from_slice(strtab);
        let dynamic = [
            (DT_NEEDED, 1),
            (DT_NEEDED, 13),
            (DT_STRTAB, BASE + 0x240),
            (DT_STRSZ, strtab.len() as u64),
            (DT_NULL, 0),
        ];
        for (i, (tag, val)) in dynamic.into_iter().enumerate() {
            let at = 0x280 + i * 2 * word;
            put(&mut f, at, tag, word);
            put(&mut f, at + word, val, word);
        }
        let modinfo = modinfo();
        if info != Info::Absent {
            // A misaligned decoy that must be skipped.
            f[0x404..0x404 + 14].copy_from_slice(GO_BUILDINFO_MAGIC);
            f[0x420..0x420 + 14].copy_from_slice(GO_BUILDINFO_MAGIC);
            f[0x420 + 14] = word as u8;
        }
        match info {
            Info::Absent => {}
            Info::Inline => {
                f[0x420 + 15] = 2 | u8::from(big);
                let mut tail = Vec::new();
                uvarint(VERSION.len() as u64, &mut tail);
                tail.extend_from_slice(VERSION.as_bytes());
                uvarint(modinfo.len() as u64, &mut tail);
                tail.extend_from_slice(&modinfo);
                f[0x440..0x440 + tail.len()].copy_from_slice(&tail);
            }
            Info::Pointers => {
                f[0x420 + 15] = u8::from(big);
                put(&mut f, 0x430, BASE + 0x480, word);
                put(&mut f, 0x430 + word, BASE + 0x490, word);
                put(&mut f, 0x480, BASE + 0x4c0, word);
                put(&mut f, 0x480 + word, VERSION.len() as u64, word);
                put(&mut f, 0x490, BASE + 0x500, word);
                put(&mut f, 0x490 + word, modinfo.len() as u64, word);
                f[0x4c0..0x4c0 + VERSION.len()].copy_from_slice(VERSION.as_bytes());
                f[0x500..0x500 + modinfo.len()].copy_from_slice(&modinfo);
            }
        }
        if sections {
            let names = b"\0.shstrtab\0.go.buildinfo\0";
            f[0x800..0x800 + names.len()].copy_from_slice(names);
            // (name, type, offset, size); section 0 stays null.
            let shdrs = [(11, 1, 0x420, 0x3e0), (1, 3, 0x800, names.len() as u64)];
            for (i, (name, sh_type, offset, size)) in shdrs.into_iter().enumerate() {
                let at = SH_OFF + (i + 1) * shsize;
                put(&mut f, at, name, 4);
                put(&mut f, at + 4, sh_type, 4);
                let (offset_at, size_at) = if class64 { (24, 32) } else { (16, 20) };
                put(&mut f, at + offset_at, offset, word);
                put(&mut f, at + size_at, size, word);
            }
        }
        f
    }

    fn expected_synth_info() -> GoBuildInfo {
        GoBuildInfo {
            go_version: VERSION.to_string(),
            main_module: Some("example.com/synth".to_string()),
            main_path: Some("example.com/synth/cmd/synth".to_string()),
        }
    }

    #[test]
    fn synthetic_elf_all_classes_orders_and_formats() {
        let dir = tempfile::tempdir().unwrap();
        for class64 in [false, true] {
            for big in [false, true] {
                for info in [Info::Absent, Info::Inline, Info::Pointers] {
                    for sections in [false, true] {
                        let label =
                            format!("class64={class64} big={big} {info:?} sections={sections}");
                        let path = dir.path().join("synth");
                        std::fs::write(&path, synth(class64, big, info, sections)).unwrap();
                        let facts =
                            read_elf_facts(&path).unwrap_or_else(|e| panic!("{label}: {e}"));
                        assert_eq!(facts.class64, class64, "{label}");
                        assert_eq!(facts.interpreter.as_deref(), Some(INTERP), "{label}");
                        assert_eq!(facts.needed, ["libfoo.so.1", "libbar.so"], "{label}");
                        let expected = (info != Info::Absent).then(expected_synth_info);
                        assert_eq!(facts.go, expected, "{label}");
                        assert_eq!(read_go_build_info(&path).unwrap(), expected, "{label}");
                        // Cross-check the synthetic file itself with readelf.
                        assert_eq!(facts.needed, readelf_needed(&path), "{label}");
                        assert_eq!(facts.interpreter, readelf_interpreter(&path), "{label}");
                    }
                }
            }
        }
    }

    #[test]
    fn module_info_framing_and_lines() {
        let info = build_info(VERSION.as_bytes(), &modinfo()).unwrap();
        assert_eq!(info, expected_synth_info());
        // Too short to be framed: the version stands alone.
        let info = build_info(b"go1.21.0", b"mod\tx\n").unwrap();
        assert_eq!((info.main_module, info.main_path), (None, None));
        // Not built in module mode: no mod line.
        let mut m = vec![b'x'; 16];
        m.extend_from_slice(b"path\tcommand-line-arguments\n");
        m.extend_from_slice(&[b'y'; 16]);
        let info = build_info(b"go1.21.0", &m).unwrap();
        assert_eq!(info.main_path.as_deref(), Some("command-line-arguments"));
        assert_eq!(info.main_module, None);
        assert_eq!(build_info(b"", &modinfo()), None);
    }

    #[test]
    fn uvarint_decoding() {
        assert_eq!(decode_uvarint(&[0]), Some((0, 1)));
        assert_eq!(decode_uvarint(&[0x7f, 0xff]), Some((127, 1)));
        assert_eq!(decode_uvarint(&[0x80, 0x01]), Some((128, 2)));
        let mut max = Vec::new();
        uvarint(u64::MAX, &mut max);
        assert_eq!(decode_uvarint(&max), Some((u64::MAX, 10)));
        assert_eq!(decode_uvarint(&[0xff; 9]), None, "unterminated");
        assert_eq!(decode_uvarint(&[0xff; 10]), None, "overflow");
        assert_eq!(decode_uvarint(&[]), None);
    }

    #[test]
    fn synthetic_hostile_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("synth");
        let base = synth(true, false, Info::Inline, true);
        let check = |patch: &dyn Fn(&mut Vec<u8>), want: &str| {
            let mut bytes = base.clone();
            patch(&mut bytes);
            std::fs::write(&path, &bytes).unwrap();
            let (facts, bytes_read) = facts_counted(&path);
            let err = facts.expect_err(want);
            assert_eq!(err.kind(), want, "{err}");
            assert!(bytes_read <= 4096, "{bytes_read}");
        };
        let le16 =
            |b: &mut Vec<u8>, at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_le_bytes());
        let le64 =
            |b: &mut Vec<u8>, at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
        check(&|b| le16(b, 56, 0xffff), "too_large"); // e_phnum
        check(&|b| le16(b, 60, 0xffff), "too_large"); // e_shnum
        check(&|b| le16(b, 62, 7), "malformed"); // e_shstrndx >= e_shnum
        check(&|b| le16(b, 54, 8), "malformed"); // e_phentsize too small
        check(&|b| le64(b, 32, 1 << 40), "truncated"); // e_phoff beyond EOF
        check(&|b| le64(b, 32, u64::MAX - 3), "truncated"); // e_phoff overflowing
        check(&|b| le64(b, 40, 1 << 40), "truncated"); // e_shoff beyond EOF
        // PT_INTERP (first phdr) with a huge size, then beyond EOF.
        check(&|b| le64(b, 0x40 + 32, 1 << 40), "too_large");
        check(&|b| le64(b, 0x40 + 8, 0xff0), "truncated");
        // PT_DYNAMIC (fourth phdr) with a huge size.
        check(&|b| le64(b, 0x40 + 3 * 56 + 32, u64::MAX), "too_large");
        // DT_STRTAB pointing nowhere; DT_NEEDED offset beyond DT_STRSZ.
        check(&|b| le64(b, 0x280 + 2 * 16 + 8, 0xdead_0000), "malformed");
        check(&|b| le64(b, 0x280 + 8, 1000), "malformed");
        // Build info: version length absurd, then running past EOF.
        check(
            &|b| b[0x440..0x445].copy_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]),
            "too_large",
        );
        check(
            &|b| b[0x440..0x442].copy_from_slice(&[0xff, 0x1f]),
            "truncated",
        );
        check(&|b| b.truncate(0x450), "truncated");
        // Pointer format with a bad pointer size.
        check(
            &|b| {
                b[0x420 + 15] = 0;
                b[0x420 + 14] = 3;
            },
            "malformed",
        );
        // Unmappable pointers: no build info, like `go version`.
        let mut bytes = synth(true, false, Info::Pointers, true);
        le64(&mut bytes, 0x430, 0x7777_0000);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_go_build_info(&path).unwrap(), None);
    }

    // ---- Go binaries built by the tests ----

    #[derive(Debug)]
    struct GoBins {
        version: String,
        plain: PathBuf,
        stripped: PathBuf,
        pie: PathBuf,
    }

    const MODULE: &str = "example.com/oneagent-test";

    /// Builds the test Go program once per test process, under the target directory.
    fn go_bins() -> &'static GoBins {
        static BINS: OnceLock<Result<GoBins, String>> = OnceLock::new();
        match BINS.get_or_init(build_go_bins) {
            Ok(bins) => bins,
            Err(e) => panic!("{e}"),
        }
    }

    fn build_go_bins() -> Result<GoBins, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        // target/<profile>/deps/<test binary> -> target/<profile>/elf-test-go
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .ok_or("no target directory")?
            .join("elf-test-go");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::write(
            dir.join("main.go"),
            "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from oneagent tests\") }\n",
        )
        .map_err(|e| e.to_string())?;
        std::fs::write(dir.join("go.mod"), format!("module {MODULE}\n\ngo 1.18\n"))
            .map_err(|e| e.to_string())?;
        let go = |args: &[&str]| {
            let mut cmd = Command::new("go");
            cmd.args(args)
                .current_dir(&dir)
                .env("GOTOOLCHAIN", "local")
                .env("GOPROXY", "off")
                .env("GOFLAGS", "-buildvcs=false")
                .env("CGO_ENABLED", "0");
            if std::env::var_os("GOCACHE").is_none() && std::env::var_os("HOME").is_none() {
                cmd.env("GOCACHE", dir.join("gocache"));
            }
            let out = cmd.output().map_err(|e| {
                format!("`go` is not on PATH ({e}): install Debian's golang-go (apt-get install golang-go)")
            })?;
            if !out.status.success() {
                return Err(format!(
                    "go {args:?} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        };
        let version = go(&["version"])?
            .split_whitespace()
            .nth(2)
            .ok_or("unexpected `go version` output")?
            .to_string();
        let pid = std::process::id();
        let build = |name: &str, flags: &[&str]| -> Result<PathBuf, String> {
            let final_path = dir.join(name);
            let tmp = dir.join(format!("{name}.tmp{pid}"));
            let tmp_str = tmp.to_str().ok_or("non-UTF-8 target directory")?;
            let mut args = vec!["build"];
            args.extend_from_slice(flags);
            args.extend_from_slice(&["-o", tmp_str, "."]);
            go(&args)?;
            std::fs::rename(&tmp, &final_path).map_err(|e| e.to_string())?;
            Ok(final_path)
        };
        Ok(GoBins {
            plain: build("hello", &[])?,
            stripped: build("hello-stripped", &["-ldflags=-s -w"])?,
            pie: build("hello-pie", &["-buildmode=pie"])?,
            version,
        })
    }

    fn assert_test_module(info: Option<GoBuildInfo>, label: &str) {
        let info = info.unwrap_or_else(|| panic!("{label}: no Go build info found"));
        assert!(info.go_version.starts_with("go1."), "{label}: {info:?}");
        assert_eq!(info.go_version, go_bins().version, "{label}");
        assert_eq!(info.main_module.as_deref(), Some(MODULE), "{label}");
        assert_eq!(info.main_path.as_deref(), Some(MODULE), "{label}");
    }

    #[test]
    fn go_binaries_plain_stripped_and_pie() {
        let bins = go_bins();
        for (label, path) in [
            ("plain", &bins.plain),
            ("stripped", &bins.stripped),
            ("pie", &bins.pie),
        ] {
            assert_test_module(read_go_build_info(path).unwrap(), label);
            let facts = check_against_readelf(path);
            assert_test_module(facts.go, label);
        }
    }

    /// Removes the section headers from a copy (e_shoff, e_shnum, e_shstrndx = 0).
    fn without_section_headers(from: &Path, to: &Path) {
        std::fs::copy(from, to).unwrap();
        let f = OpenOptions::new().write(true).open(to).unwrap();
        f.write_all_at(&[0; 8], 40).unwrap();
        f.write_all_at(&[0; 2], 60).unwrap();
        f.write_all_at(&[0; 2], 62).unwrap();
    }

    #[test]
    fn go_binaries_without_section_headers() {
        let bins = go_bins();
        let dir = tempfile::tempdir().unwrap();
        for (label, path) in [("plain", &bins.plain), ("pie", &bins.pie)] {
            let copy = dir.path().join(label);
            without_section_headers(path, &copy);
            assert!(readelf(&["-h"], &copy).contains("Number of section headers:         0"));
            assert_test_module(read_go_build_info(&copy).unwrap(), label);
        }
    }

    #[test]
    fn bounded_reads_on_a_padded_binary() {
        let bins = go_bins();
        let dir = tempfile::tempdir().unwrap();
        let padded = dir.path().join("padded");
        std::fs::copy(&bins.plain, &padded).unwrap();
        let f = OpenOptions::new().write(true).open(&padded).unwrap();
        let len = f.metadata().unwrap().len();
        f.set_len(len + 100_000_000).unwrap(); // sparse
        let (facts, bytes_read) = facts_counted(&padded);
        assert_test_module(facts.unwrap().go, "padded");
        assert!(bytes_read < MAX_READ_BYTES, "{bytes_read}");
        assert!(bytes_read < 128 << 10, "read {bytes_read} bytes");
        eprintln!(
            "read {bytes_read} bytes of a {} byte file",
            len + 100_000_000
        );
        assert_eq!(
            read_go_build_info(&padded).unwrap(),
            read_go_build_info(&bins.plain).unwrap()
        );
    }

    /// Asserts that reading `path` either works or fails cleanly, within the read budget.
    fn assert_clean(path: &Path) -> Result<ElfFacts> {
        let (facts, bytes_read) = facts_counted(path);
        assert!(bytes_read <= MAX_READ_BYTES);
        if let Err(e) = &facts {
            assert!(!matches!(e, ElfError::Io { .. }), "{e}");
            assert!(e.to_string().contains(&*path.to_string_lossy()), "{e}");
        }
        let go = read_go_build_info(path);
        if let Err(e) = &go {
            assert!(!matches!(e, ElfError::Io { .. }), "{e}");
        }
        facts
    }

    fn truncations(original: &Path, extra_cuts: &[u64]) {
        let bytes = std::fs::read(original).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut");
        let cuts = (0..4096).step_by(7).chain(extra_cuts.iter().copied());
        for cut in cuts.filter(|&c| c < bytes.len() as u64) {
            std::fs::write(&path, &bytes[..cut as usize]).unwrap();
            let result = assert_clean(&path);
            if cut < 4 {
                assert!(matches!(result, Err(ElfError::NotElf { .. })), "cut {cut}");
            } else if cut < 4096 {
                // The program headers or what they point at are cut off.
                assert!(result.is_err(), "cut {cut} of {}", original.display());
            }
        }
    }

    /// Offset and size of a section, from readelf.
    fn section(path: &Path, name: &str) -> (u64, u64) {
        let out = readelf(&["-S", "-W"], path);
        let line = out
            .lines()
            .find(|l| l.split_whitespace().any(|w| w == name))
            .unwrap_or_else(|| panic!("no {name} in {}", path.display()));
        let fields: Vec<&str> = line.split(']').nth(1).unwrap().split_whitespace().collect();
        let hex = |s: &str| u64::from_str_radix(s, 16).unwrap();
        (hex(fields[3]), hex(fields[4]))
    }

    #[test]
    fn truncated_go_and_c_binaries() {
        let go = &go_bins().plain;
        let len = std::fs::metadata(go).unwrap().len();
        let (buildinfo, _) = section(go, ".go.buildinfo");
        truncations(
            go,
            &[
                len / 3,
                len / 2,
                buildinfo + 8,
                buildinfo + 40,
                buildinfo + 64,
                len - 1,
            ],
        );
        let ls = resolve("/bin/ls").unwrap();
        let len = std::fs::metadata(&ls).unwrap().len();
        let (dynstr, _) = section(&ls, ".dynstr");
        truncations(&ls, &[dynstr + 1, dynstr + 20, len / 2, len - 1]);
    }

    /// Flips bytes of a copy of `original` at each offset of the regions, one at a time.
    fn flips(original: &Path, regions: &[(u64, u64)]) -> usize {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flipped");
        std::fs::copy(original, &path).unwrap();
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let mut count = 0;
        for &(start, len) in regions {
            for offset in start..start + len {
                let mut byte = [0u8];
                f.read_exact_at(&mut byte, offset).unwrap();
                for mask in [0xff, 0x80, 0x01, 0x7f] {
                    f.write_all_at(&[byte[0] ^ mask], offset).unwrap();
                    let _ = assert_clean(&path);
                    count += 1;
                }
                f.write_all_at(&byte, offset).unwrap();
            }
        }
        count
    }

    /// A deterministic xorshift generator for the random mutations.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn flipped_bytes_in_go_and_c_binaries() {
        let go = &go_bins().plain;
        let (buildinfo, size) = section(go, ".go.buildinfo");
        let (shoff, shsize) = (0x1c8, 23 * 64);
        let n = flips(
            go,
            &[
                (0, 64),
                (64, 7 * 56),
                (shoff, shsize),
                (buildinfo, size.min(160)),
            ],
        );
        assert!(n > 1000);
        let ls = resolve("/bin/ls").unwrap();
        let (dynamic, dynsize) = section(&ls, ".dynamic");
        let (interp, _) = section(&ls, ".interp");
        let (dynstr, _) = section(&ls, ".dynstr");
        flips(
            &ls,
            &[
                (0, 64),
                (64, 13 * 56),
                (interp, 28),
                (dynamic, dynsize.min(96)),
                (dynstr, 32),
            ],
        );
        for (label, binary) in [("go", go.as_path()), ("ls", ls.as_path())] {
            random_mutations(binary, label);
        }
    }

    fn random_mutations(original: &Path, label: &str) {
        let bytes = std::fs::read(original).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(label);
        std::fs::copy(original, &path).unwrap();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        let mut state = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..500 {
            let mut changed = Vec::new();
            for _ in 0..1 + xorshift(&mut state) % 8 {
                let offset = xorshift(&mut state) % 4096;
                let value = xorshift(&mut state) as u8;
                f.write_all_at(&[value], offset).unwrap();
                changed.push(offset);
            }
            let _ = assert_clean(&path);
            for offset in changed {
                f.write_all_at(&bytes[offset as usize..offset as usize + 1], offset)
                    .unwrap();
            }
        }
    }

    #[test]
    fn go_binary_with_impossible_counts() {
        let go = &go_bins().plain;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("counts");
        let patch = |at: u64, bytes: &[u8]| {
            std::fs::copy(go, &path).unwrap();
            let f = OpenOptions::new().write(true).open(&path).unwrap();
            f.write_all_at(bytes, at).unwrap();
        };
        patch(56, &[0xff, 0xff]); // e_phnum
        assert_eq!(read_elf_facts(&path).unwrap_err().kind(), "too_large");
        patch(60, &[0xff, 0xff]); // e_shnum
        assert_eq!(read_go_build_info(&path).unwrap_err().kind(), "too_large");
        patch(40, &u64::MAX.to_le_bytes()); // e_shoff
        assert_eq!(read_go_build_info(&path).unwrap_err().kind(), "truncated");
        patch(32, &(1u64 << 62).to_le_bytes()); // e_phoff
        assert_eq!(read_elf_facts(&path).unwrap_err().kind(), "truncated");
    }
}
