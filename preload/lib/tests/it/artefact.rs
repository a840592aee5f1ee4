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
    // Loadable segments: the static buffers are .bss (not in the file).
    let ph = tool(&["readelf", "-l", "-W"]);
    assert!(!ph.contains("INTERP"), "{ph}");
    assert!(ph.contains("GNU_RELRO"), "{ph}");
}
