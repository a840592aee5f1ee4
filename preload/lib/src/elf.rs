//! ELF walking in this process's memory, through [`Regions`] (every read is bounds-checked there):
//! the executable's `DT_NEEDED` names, and `setenv` in the loaded libc's dynamic symbol table.
//! ELF64 little-endian only (x86_64, aarch64).

use crate::sys::Regions;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_PHDR: u32 = 6;
const PF_X: u32 = 1;
const PF_R: u32 = 4;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_HASH: u64 = 4;
const DT_STRTAB: u64 = 5;
const DT_SYMTAB: u64 = 6;
const DT_STRSZ: u64 = 10;
const DT_SYMENT: u64 = 11;
const DT_GNU_HASH: u64 = 0x6fff_fef5;
const DT_VERSYM: u64 = 0x6fff_fff0;
const PHDR_SIZE: usize = 56;
const SYM_SIZE: usize = 24;
const MAX_PHDRS: usize = 64;
const MAX_DYN: usize = 1024;
const MAX_CHAIN: usize = 65_536;

fn u16_at(m: &Regions, addr: usize) -> Option<u16> {
    m.read_u16(addr)
}

fn u32_at(m: &Regions, addr: usize) -> Option<u32> {
    m.read_u32(addr)
}

fn u64_at(m: &Regions, addr: usize) -> Option<u64> {
    m.read_u64(addr)
}

fn usize_at(m: &Regions, addr: usize) -> Option<usize> {
    usize::try_from(u64_at(m, addr)?).ok()
}

fn add(a: usize, b: usize) -> Option<usize> {
    a.checked_add(b)
}

fn mul(a: usize, b: usize) -> Option<usize> {
    a.checked_mul(b)
}

#[derive(Clone, Copy, Debug, Default)]
struct Phdr {
    kind: u32,
    flags: u32,
    offset: usize,
    vaddr: usize,
    filesz: usize,
}

fn phdr_at(m: &Regions, addr: usize) -> Option<Phdr> {
    Some(Phdr {
        kind: u32_at(m, addr)?,
        flags: u32_at(m, add(addr, 4)?)?,
        offset: usize_at(m, add(addr, 8)?)?,
        vaddr: usize_at(m, add(addr, 16)?)?,
        filesz: usize_at(m, add(addr, 32)?)?,
    })
}

/// A dynamic-section address: glibc rewrites some entries to absolute addresses in place, musl
/// leaves them relative to the load bias. An address inside the object is taken as is.
fn dyn_addr(m: &Regions, bias: usize, value: usize) -> Option<usize> {
    let (lo, hi) = m.span()?;
    if value >= lo && value < hi {
        Some(value)
    } else {
        add(bias, value)
    }
}

/// What the dynamic section says.
#[derive(Clone, Copy, Debug, Default)]
struct Dynamic {
    strtab: usize,
    strsz: usize,
    symtab: usize,
    syment: usize,
    gnu_hash: usize,
    hash: usize,
    versym: usize,
}

/// Walks the dynamic section at `addr`, calling `needed` with each `DT_NEEDED` string offset.
fn walk_dynamic(
    m: &Regions,
    bias: usize,
    addr: usize,
    mut needed: impl FnMut(usize),
) -> Option<Dynamic> {
    let mut d = Dynamic::default();
    for i in 0..MAX_DYN {
        let entry = add(addr, mul(i, 16)?)?;
        let tag = u64_at(m, entry)?;
        let val = usize_at(m, add(entry, 8)?)?;
        match tag {
            DT_NULL => return Some(d),
            DT_NEEDED => needed(val),
            DT_STRTAB => d.strtab = dyn_addr(m, bias, val)?,
            DT_STRSZ => d.strsz = val,
            DT_SYMTAB => d.symtab = dyn_addr(m, bias, val)?,
            DT_SYMENT => d.syment = val,
            DT_GNU_HASH => d.gnu_hash = dyn_addr(m, bias, val)?,
            DT_HASH => d.hash = dyn_addr(m, bias, val)?,
            DT_VERSYM => d.versym = dyn_addr(m, bias, val)?,
            _ => {}
        }
    }
    None
}

/// Copies the NUL-terminated string at `strtab + off` (bounded by `strsz`) into `out`, NUL
/// included. Returns the bytes written.
fn copy_str(m: &Regions, d: &Dynamic, off: usize, out: &mut [u8]) -> Option<usize> {
    if off >= d.strsz {
        return None;
    }
    let start = add(d.strtab, off)?;
    let max = d.strsz.saturating_sub(off).min(out.len());
    // The whole span checked once (the common case: the string table lies in one segment),
    // else byte by byte up to the NUL.
    if let Some(n) = m.read_c_str(start, max, out) {
        return Some(n);
    }
    for (i, slot) in out.iter_mut().enumerate().take(max) {
        let mut b = [0u8; 1];
        if !m.read(add(start, i)?, &mut b) {
            return None;
        }
        let [byte] = b;
        *slot = byte;
        if byte == 0 {
            return add(i, 1);
        }
    }
    None
}

/// Compares the NUL-terminated string at `strtab + off` with `name` (which carries no NUL).
fn str_eq(m: &Regions, d: &Dynamic, off: usize, name: &[u8]) -> bool {
    let mut buf = [0u8; 32];
    match copy_str(m, d, off, &mut buf) {
        Some(n) => buf.get(..n).and_then(|s| s.strip_suffix(b"\0")) == Some(name),
        None => false,
    }
}

/// The running executable's `DT_NEEDED` names (NUL-separated into `out`), from the program headers
/// the kernel mapped (`AT_PHDR`, `AT_PHNUM`). Returns the bytes written (0 when unknown).
pub fn exe_needed(phdr: usize, phnum: usize, out: &mut [u8]) -> usize {
    exe_needed_inner(phdr, phnum, out).unwrap_or(0)
}

fn exe_needed_inner(phdr: usize, phnum: usize, out: &mut [u8]) -> Option<usize> {
    if phdr == 0 || phnum == 0 || phnum > MAX_PHDRS {
        return None;
    }
    let mut table = Regions::new();
    // The kernel maps the executable's program headers and hands their address in AT_PHDR.
    table.add(phdr, add(phdr, mul(phnum, PHDR_SIZE)?)?, false);
    let mut bias = None;
    let mut dynamic = None;
    for i in 0..phnum {
        let p = phdr_at(&table, add(phdr, mul(i, PHDR_SIZE)?)?)?;
        match p.kind {
            PT_PHDR => bias = phdr.checked_sub(p.vaddr),
            PT_DYNAMIC => dynamic = Some(p.vaddr),
            _ => {}
        }
    }
    let bias = bias?;
    let dynamic = add(bias, dynamic?)?;
    let mut m = Regions::new();
    for i in 0..phnum {
        let p = phdr_at(&table, add(phdr, mul(i, PHDR_SIZE)?)?)?;
        if p.kind == PT_LOAD && p.flags & PF_R != 0 {
            let start = add(bias, p.vaddr)?;
            m.add(start, add(start, p.filesz)?, p.flags & PF_X != 0);
        }
    }
    let mut offsets = [0usize; 32];
    let mut count = 0usize;
    let d = walk_dynamic(&m, bias, dynamic, |off| {
        if let Some(slot) = offsets.get_mut(count) {
            *slot = off;
            count = count.saturating_add(1);
        }
    })?;
    let mut written = 0usize;
    for &off in offsets.iter().take(count) {
        let Some(rest) = out.get_mut(written..) else {
            break;
        };
        match copy_str(&m, &d, off, rest) {
            Some(n) => written = add(written, n)?,
            None => break,
        }
    }
    Some(written)
}

/// Finds `setenv` (defined, default version, a function inside the object's code) in the object
/// whose mappings are `m` (its ELF header is the mapping at file offset 0, at `base`).
pub fn find_symbol(m: &Regions, base: usize, name: &[u8]) -> Option<usize> {
    let mut ident = [0u8; 16];
    if !m.read(base, &mut ident) {
        return None;
    }
    // \x7fELF, ELFCLASS64, ELFDATA2LSB.
    if ident.get(..6) != Some(&b"\x7fELF\x02\x01"[..]) {
        return None;
    }
    let phoff = usize_at(m, add(base, 32)?)?;
    let phentsize = usize::from(u16_at(m, add(base, 54)?)?);
    let phnum = usize::from(u16_at(m, add(base, 56)?)?);
    if phentsize != PHDR_SIZE || phnum == 0 || phnum > MAX_PHDRS {
        return None;
    }
    let table = add(base, phoff)?;
    let mut first_load = None;
    let mut dynamic = None;
    for i in 0..phnum {
        let p = phdr_at(m, add(table, mul(i, PHDR_SIZE)?)?)?;
        match p.kind {
            PT_LOAD if first_load.is_none() && p.offset == 0 => first_load = Some(p.vaddr),
            PT_DYNAMIC => dynamic = Some(p.vaddr),
            _ => {}
        }
    }
    let bias = base.checked_sub(first_load?)?;
    let dynamic = add(bias, dynamic?)?;
    let d = walk_dynamic(m, bias, dynamic, |_| {})?;
    if d.symtab == 0 || d.strtab == 0 || (d.syment != 0 && d.syment != SYM_SIZE) {
        return None;
    }
    let index = if d.gnu_hash != 0 {
        gnu_lookup(m, &d, name)?
    } else if d.hash != 0 {
        sysv_lookup(m, &d, name)?
    } else {
        return None;
    };
    let sym = add(d.symtab, mul(index, SYM_SIZE)?)?;
    let value = usize_at(m, add(sym, 8)?)?;
    let addr = add(bias, value)?;
    m.is_code(addr).then_some(addr)
}

/// Whether symbol `index` is a defined, default-version function named `name`.
fn symbol_matches(m: &Regions, d: &Dynamic, index: usize, name: &[u8]) -> bool {
    let check = || -> Option<bool> {
        let sym = add(d.symtab, mul(index, SYM_SIZE)?)?;
        let st_name = usize::try_from(u32_at(m, sym)?).ok()?;
        let mut info = [0u8; 4];
        if !m.read(add(sym, 4)?, &mut info) {
            return None;
        }
        let [st_info, _other, shndx_lo, shndx_hi] = info;
        let shndx = u16::from_le_bytes([shndx_lo, shndx_hi]);
        let kind = st_info & 0xf; // STT_FUNC = 2 (an IFUNC, 10, would need its resolver)
        let bind = st_info >> 4; // STB_GLOBAL = 1, STB_WEAK = 2
        if kind != 2 || !(bind == 1 || bind == 2) || shndx == 0 {
            return Some(false);
        }
        if d.versym != 0 {
            let v = u16_at(m, add(d.versym, mul(index, 2)?)?)?;
            if v & 0x8000 != 0 {
                return Some(false); // hidden (non-default) version
            }
        }
        Some(str_eq(m, d, st_name, name))
    };
    check().unwrap_or(false)
}

fn gnu_hash(name: &[u8]) -> u32 {
    name.iter().fold(5381u32, |h, &c| {
        h.wrapping_mul(33).wrapping_add(u32::from(c))
    })
}

fn gnu_lookup(m: &Regions, d: &Dynamic, name: &[u8]) -> Option<usize> {
    let t = d.gnu_hash;
    let nbuckets = usize::try_from(u32_at(m, t)?).ok()?;
    let symoffset = usize::try_from(u32_at(m, add(t, 4)?)?).ok()?;
    let bloom_size = usize::try_from(u32_at(m, add(t, 8)?)?).ok()?;
    if nbuckets == 0 {
        return None;
    }
    let buckets = add(add(t, 16)?, mul(bloom_size, 8)?)?;
    let chains = add(buckets, mul(nbuckets, 4)?)?;
    let h = gnu_hash(name);
    let bucket = usize::try_from(h).ok()?.checked_rem(nbuckets)?;
    let mut index = usize::try_from(u32_at(m, add(buckets, mul(bucket, 4)?)?)?).ok()?;
    if index < symoffset {
        return None;
    }
    for _ in 0..MAX_CHAIN {
        let ch = u32_at(m, add(chains, mul(index.checked_sub(symoffset)?, 4)?)?)?;
        if (ch | 1) == (h | 1) && symbol_matches(m, d, index, name) {
            return Some(index);
        }
        if ch & 1 != 0 {
            return None;
        }
        index = add(index, 1)?;
    }
    None
}

fn sysv_hash(name: &[u8]) -> u32 {
    name.iter().fold(0u32, |h, &c| {
        let h = (h << 4).wrapping_add(u32::from(c));
        let g = h & 0xf000_0000;
        (if g != 0 { h ^ (g >> 24) } else { h }) & !g
    })
}

fn sysv_lookup(m: &Regions, d: &Dynamic, name: &[u8]) -> Option<usize> {
    let t = d.hash;
    let nbucket = usize::try_from(u32_at(m, t)?).ok()?;
    let nchain = usize::try_from(u32_at(m, add(t, 4)?)?).ok()?;
    if nbucket == 0 {
        return None;
    }
    let buckets = add(t, 8)?;
    let chains = add(buckets, mul(nbucket, 4)?)?;
    let bucket = usize::try_from(sysv_hash(name))
        .ok()?
        .checked_rem(nbucket)?;
    let mut index = usize::try_from(u32_at(m, add(buckets, mul(bucket, 4)?)?)?).ok()?;
    for _ in 0..MAX_CHAIN.min(nchain) {
        if index == 0 || index >= nchain {
            return None;
        }
        if symbol_matches(m, d, index, name) {
            return Some(index);
        }
        index = usize::try_from(u32_at(m, add(chains, mul(index, 4)?)?)?).ok()?;
    }
    None
}
