//! Checks on the built release artefact: what the loader sees and what the binary contains.

use std::process::Command;

use super::common::so;

fn tool(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .arg(so())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (binutils installed?)", args[0]));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn no_needed_entries_and_no_textrel() {
    let d = tool(&["readelf", "-d", "-W"]);
    assert!(!d.contains("(NEEDED)"), "DT_NEEDED present:\n{d}");
    assert!(!d.contains("TEXTREL"), "text relocations:\n{d}");
    assert!(!d.contains("(RPATH)") && !d.contains("(RUNPATH)"), "{d}");
    assert!(d.contains("(INIT_ARRAY)"), "no constructor:\n{d}");
    // The constructor is reached through DT_INIT_ARRAY only; no DT_INIT/DT_FINI needing crt files.
    assert!(!d.contains("(INIT)") && !d.contains("(FINI)"), "{d}");
}

#[test]
fn no_undefined_and_no_exported_dynamic_symbols() {
    let syms = tool(&["readelf", "--dyn-syms", "-W"]);
    let entries: Vec<&str> = syms
        .lines()
        .filter(|l| {
            l.trim_start()
                .split(':')
                .next()
                .is_some_and(|n| n.trim().parse::<u32>().is_ok())
        })
        .collect();
    // Entry 0 is the ELF null symbol; anything else is either undefined or exported.
    for e in &entries {
        let num = e.trim_start().split(':').next().unwrap().trim();
        assert_eq!(num, "0", "unexpected dynamic symbol: {e}\n{syms}");
    }
    // nm -D: nothing defined, nothing undefined.
    let out = Command::new("nm").arg("-D").arg(so()).output().unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.trim().is_empty(), "nm -D lists symbols:\n{listed}");
}

#[test]
fn no_panic_unwind_or_alloc_machinery() {
    let all = tool(&["nm"]);
    let forbidden = [
        "panicking",
        "panic_fmt",
        "panic_bounds_check",
        "rust_begin_unwind",
        "_Unwind_",
        "rust_eh_personality",
        "__rust_alloc",
        "__rust_dealloc",
        "__rust_realloc",
        "__rg_alloc",
        "len_mismatch_fail",
        "slice_index_fail",
        "slice_start_index_len_fail",
        "slice_end_index_len_fail",
        "unwrap_failed",
        "expect_failed",
        "__cxa_",
        "__gmon_start__",
        "_ITM_",
    ];
    for f in forbidden {
        let hits: Vec<&str> = all.lines().filter(|l| l.contains(f)).collect();
        assert!(hits.is_empty(), "{f} in the library:\n{}", hits.join("\n"));
    }
    // The memory routines are there, hidden (local), never global.
    for m in ["memcpy", "memset", "memmove", "memcmp", "bcmp"] {
        for line in all.lines().filter(|l| l.ends_with(&format!(" {m}"))) {
            let kind = line.split_whitespace().nth(1).unwrap_or("");
            assert!(
                kind.chars().all(|c| c.is_ascii_lowercase()),
                "{m} not local: {line}"
            );
        }
    }
}

#[test]
fn size_is_reasonable() {
    let len = std::fs::metadata(so()).unwrap().len();
    assert!(len < 512 * 1024, "library is {len} bytes");
    // Loadable segments (the candidate path's buffers are mapped at run time, not in the file).
    let ph = tool(&["readelf", "-l", "-W"]);
    assert!(!ph.contains("INTERP"), "{ph}");
    assert!(ph.contains("GNU_RELRO"), "{ph}");
}

/// Loading the library is paid by every process on the host: keep it cheap. Each load-time
/// relocation is loader work and writes a page (a table of `&[u8]`/`&str` needs one per entry, so
/// core keeps its tables pointer-free: `words!`/`pairs!` blobs, `match`es), and `.data`/`.bss`
/// would add a mapping or a zero-filled page (the candidate path maps its buffers when needed).
#[test]
fn cheap_to_load() {
    let rel = tool(&["readelf", "-r", "-W"]);
    let relocs: Vec<&str> = rel
        .lines()
        .filter(|l| l.contains("R_X86_64_") || l.contains("R_AARCH64_"))
        .collect();
    // Now: the constructor's DT_INIT_ARRAY slot, 3 GOT slots (memcpy & co.), the default
    // policy's marker and `Reason::code`'s 15-entry switch table. Was 426 with tables of slices.
    assert!(
        relocs.len() <= 32,
        "{} load-time relocations (a new table of slices in core?):\n{rel}",
        relocs.len()
    );
    for r in &relocs {
        assert!(r.contains("RELATIVE"), "a symbolic relocation: {r}");
    }
    let sections = tool(&["readelf", "-S", "-W"]);
    for name in [" .data ", " .bss ", " .tbss ", " .tdata "] {
        assert!(
            !sections.contains(name),
            "{name} section present:\n{sections}"
        );
    }
    // Three loadable segments (R, RX, RW+RELRO) and at most one writable page.
    let ph = tool(&["readelf", "-l", "-W"]);
    let loads: Vec<&str> = ph
        .lines()
        .filter(|l| l.trim_start().starts_with("LOAD"))
        .collect();
    assert!(loads.len() <= 3, "{} PT_LOAD segments:\n{ph}", loads.len());
    let mut file_bytes = 0u64;
    for l in &loads {
        let f: Vec<&str> = l.split_whitespace().collect();
        let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
        let (vaddr, filesz, memsz) = (hex(f[2]), hex(f[4]), hex(f[5]));
        file_bytes += filesz;
        if l.contains(" RW ") {
            let first = vaddr / 4096;
            let last = (vaddr + memsz.max(1) - 1) / 4096;
            assert_eq!(first, last, "writable segment spans several pages: {l}");
        }
    }
    assert!(
        file_bytes < 128 * 1024,
        "{file_bytes} bytes mapped from the file"
    );
}
