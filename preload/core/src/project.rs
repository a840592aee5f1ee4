//! Declared project names: the `name` a project gives itself in the manifest next to its entry
//! point (`package.json`, `pyproject.toml`, `setup.cfg`), so that `node index.js` or
//! `python3 app.py` is named after its project rather than after `index` or `app`.
//!
//! Which file to read is decided here ([`entry`], [`find`]), and so is what a file says
//! ([`Manifest::name`]); the caller only reads bytes (the preload library with raw system calls
//! into a fixed buffer, the daemon through its `safe_fs`), so `explain`, `ps` and the preload
//! library give the same answer for the same files.
//!
//! # Rules
//!
//! * Node.js: any script (`.js`, `.mjs`, `.cjs`, `.ts`) — the nearest `package.json`.
//! * Python: a generic entry point only (`app.py`, `main.py`, `server.py`, … and `manage.py`) —
//!   the nearest directory with a `pyproject.toml` (`[project] name`, else
//!   `[tool.poetry] name`) or a `setup.cfg` (`[metadata] name`).
//! * Java: not read (a jar's manifest is deflated: unpacking it is not bounded, cheap work for a
//!   library that runs inside every process).
//!
//! The search starts in the script's directory (relative scripts against the process's working
//! directory) and goes up at most [`MAX_LEVELS`] directories. The first directory holding any of
//! the manifests ends it, whether or not one of them yields a name. A file larger than
//! [`MAX_MANIFEST`] bytes, containing a NUL byte, not a regular file (the daemon refuses FIFOs,
//! devices and links its owner could not read; the library opens without blocking and finds no
//! name in what it reads), or malformed, yields no name: the directory name is used.
//!
//! Scoped npm names keep their scope: `@acme/orders-api` → `acme-orders-api` (the scope tells
//! two `api` packages of two teams apart, and it is how these services were named before).

use crate::bytes::{basename, dirname, strip_suffix_ci};
use crate::list::ByteList;
use crate::model::Language;
use crate::name::{ServiceName, ServiceNameSource};

/// Largest manifest read, in bytes; a larger file yields no name.
pub const MAX_MANIFEST: usize = 64 * 1024;
/// Directories searched, the script's own included.
pub const MAX_LEVELS: usize = 8;
/// Longest path built (NUL included); longer paths are not searched.
const MAX_PATH: usize = 4096;

/// A manifest file that may declare a project's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Manifest {
    /// `package.json`: the top-level `"name"`.
    PackageJson,
    /// `pyproject.toml`: `[project] name`, else `[tool.poetry] name`.
    PyProject,
    /// `setup.cfg`: `[metadata] name`.
    SetupCfg,
}

impl Manifest {
    /// The file name.
    pub const fn file_name(self) -> &'static [u8] {
        match self {
            Self::PackageJson => b"package.json",
            Self::PyProject => b"pyproject.toml",
            Self::SetupCfg => b"setup.cfg",
        }
    }

    /// The service-name source a name from this file is reported as.
    pub const fn source(self) -> ServiceNameSource {
        match self {
            Self::PackageJson => ServiceNameSource::PackageJson,
            Self::PyProject => ServiceNameSource::PyProject,
            Self::SetupCfg => ServiceNameSource::SetupCfg,
        }
    }

    /// The name the file's text declares; `None` when it declares none, is malformed, too large
    /// or binary (a NUL byte).
    pub fn name(self, text: &[u8]) -> Option<&[u8]> {
        if text.len() > MAX_MANIFEST || text.contains(&0) {
            return None;
        }
        let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
        let name = match self {
            Self::PackageJson => json_top_name(text),
            Self::PyProject => toml_name(text),
            Self::SetupCfg => ini_name(text, b"metadata"),
        }?;
        (!name.is_empty()).then_some(name)
    }
}

/// The entry point of a Node.js or Python process whose project may declare its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The script as given on the command line.
    pub script: &'a [u8],
    /// The runtime (decides the manifests).
    pub language: Language,
}

impl Entry<'_> {
    /// The manifests looked for in each directory, in order.
    pub const fn manifests(&self) -> [Option<Manifest>; 2] {
        match self.language {
            Language::NodeJs => [Some(Manifest::PackageJson), None],
            Language::Python => [Some(Manifest::PyProject), Some(Manifest::SetupCfg)],
            _ => [None, None],
        }
    }
}

/// The script whose project may declare the process's name: for Node.js the first argument
/// (of the first 16) that is not an option and ends in `.js`, `.mjs`, `.cjs` or `.ts`; for
/// Python the first such argument ending in `.py` whose stem is a generic entry point or
/// `manage`. `None` for other languages and commands.
pub fn entry(argv: ByteList<'_>, language: Language) -> Option<Entry<'_>> {
    let mut args = argv.iter().skip(1).take(16);
    let script = match language {
        Language::NodeJs => args.find(|a| {
            !a.starts_with(b"-")
                && [&b".js"[..], b".mjs", b".cjs", b".ts"]
                    .iter()
                    .any(|ext| a.ends_with(ext))
        })?,
        Language::Python => {
            let script = args.find(|a| !a.starts_with(b"-") && a.ends_with(b".py"))?;
            let stem = strip_suffix_ci(basename(script), b".py").unwrap_or_default();
            if !(crate::detect::is_generic_entry(stem) || stem == b"manage") {
                return None;
            }
            script
        }
        _ => return None,
    };
    Some(Entry { script, language })
}

/// What the caller's read of one manifest found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// The file does not exist: the search goes on.
    Missing,
    /// The file exists but was refused (not a regular file, a link to someone else's file, an
    /// I/O error): the search ends without a name.
    Refused,
    /// The file was read: this many bytes of the buffer (more than [`MAX_MANIFEST`] means too
    /// large: no name).
    Bytes(usize),
}

/// A name a project declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Declared {
    /// The sanitized name (never empty).
    pub name: ServiceName,
    /// The file that declared it.
    pub manifest: Manifest,
}

impl Declared {
    /// The name and its source, as [`ExeFacts::declared_name`](crate::ExeFacts::declared_name)
    /// takes them.
    pub fn as_fact(&self) -> (&[u8], ServiceNameSource) {
        (self.name.as_bytes(), self.manifest.source())
    }
}

/// Searches the directories of `entry` (see the module documentation) for a declared name.
/// `read(path, buf)` reads the NUL-terminated `path` into `buf` (which should hold at least
/// `MAX_MANIFEST + 1` bytes, so that an oversized file shows). `cwd` resolves a relative script;
/// without one a relative script is not searched.
pub fn find(
    entry: &Entry<'_>,
    cwd: &[u8],
    buf: &mut [u8],
    mut read: impl FnMut(&[u8], &mut [u8]) -> Read,
) -> Option<Declared> {
    let mut script = [0u8; MAX_PATH];
    let script = if entry.script.starts_with(b"/") {
        entry.script
    } else if cwd.starts_with(b"/") {
        join(&mut script, &[cwd, b"/", entry.script])?
    } else {
        return None;
    };
    let mut dir = dirname(script);
    let mut path = [0u8; MAX_PATH];
    for _ in 0..MAX_LEVELS {
        let d = dir?;
        let mut seen = false;
        for manifest in entry.manifests().into_iter().flatten() {
            let p = join(&mut path, &[d, b"/", manifest.file_name(), b"\0"])?;
            match read(p, buf) {
                Read::Missing => {}
                Read::Refused => return None,
                Read::Bytes(n) => {
                    seen = true;
                    let name = buf
                        .get(..n)
                        .and_then(|text| manifest.name(text))
                        .map(ServiceName::sanitize)
                        .filter(|n| !n.is_empty());
                    if let Some(name) = name {
                        return Some(Declared { name, manifest });
                    }
                }
            }
        }
        if seen {
            return None;
        }
        dir = dirname(d);
    }
    None
}

/// Concatenates `parts` into `buf`.
fn join<'b>(buf: &'b mut [u8], parts: &[&[u8]]) -> Option<&'b [u8]> {
    let mut len = 0usize;
    for part in parts {
        let end = len.checked_add(part.len())?;
        buf.get_mut(len..end)?.copy_from_slice(part);
        len = end;
    }
    buf.get(..len)
}

/// The root object's `"name"` string (the last one, as JSON parsers keep it). The whole text must
/// be one object with balanced brackets, terminated strings and nothing but whitespace after it;
/// at most 64 levels deep.
fn json_top_name(text: &[u8]) -> Option<&[u8]> {
    let mut arrays: u64 = 0; // bit n: level n+1 is an array
    let mut depth = 0u32;
    let mut want_key = false;
    let mut key_is_name = false;
    let mut name = None;
    let mut done = false;
    let mut i = 0usize;
    while let Some(&b) = text.get(i) {
        i = i.checked_add(1)?;
        if done {
            if !b.is_ascii_whitespace() {
                return None;
            }
            continue;
        }
        match b {
            b'"' => {
                let start = i;
                loop {
                    match text.get(i)? {
                        b'\\' => i = i.checked_add(2)?,
                        b'"' => break,
                        _ => i = i.checked_add(1)?,
                    }
                }
                let s = text.get(start..i)?;
                i = i.checked_add(1)?;
                if depth == 1 {
                    if want_key {
                        key_is_name = s == b"name";
                        want_key = false;
                    } else if key_is_name {
                        name = Some(s);
                        key_is_name = false;
                    }
                }
            }
            b'{' | b'[' => {
                if depth == 0 && b != b'{' {
                    return None;
                }
                if depth >= 64 {
                    return None;
                }
                if b == b'[' {
                    arrays |= 1u64 << depth;
                } else {
                    arrays &= !(1u64 << depth);
                }
                if depth == 1 {
                    key_is_name = false;
                }
                depth = depth.checked_add(1)?;
                want_key = depth == 1;
            }
            b'}' | b']' => {
                let level = depth.checked_sub(1)?;
                let is_array = arrays & (1u64 << level) != 0;
                if is_array != (b == b']') {
                    return None;
                }
                depth = level;
                done = depth == 0;
            }
            b',' if depth == 1 => {
                want_key = true;
                key_is_name = false;
            }
            _ if depth == 0 && !b.is_ascii_whitespace() => return None,
            _ => {}
        }
    }
    if done { name } else { None }
}

/// `pyproject.toml`: `[project] name`, else `[tool.poetry] name`.
fn toml_name(text: &[u8]) -> Option<&[u8]> {
    let mut project = None;
    let mut poetry = None;
    let mut section: &[u8] = b"";
    for line in text.split(|&b| b == b'\n') {
        let line = line.trim_ascii();
        if line.starts_with(b"[[") {
            section = b"";
        } else if let Some(head) = line.strip_prefix(b"[") {
            section = head
                .split(|&b| b == b']')
                .next()
                .unwrap_or_default()
                .trim_ascii();
        } else if let Some(value) = key_value(line, b"name", b'=') {
            let slot = match section {
                b"project" => &mut project,
                b"tool.poetry" => &mut poetry,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(toml_string(value));
            }
        }
    }
    // A malformed `[project] name` is not replaced by poetry's.
    project.or(poetry).flatten()
}

/// A TOML basic (`"…"`) or literal (`'…'`) one-line string, followed by nothing but a comment.
fn toml_string(value: &[u8]) -> Option<&[u8]> {
    let quote = *value.first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let rest = value.get(1..)?;
    let end = rest.iter().position(|&b| b == quote)?;
    let (s, tail) = rest.split_at_checked(end)?;
    let tail = tail.get(1..)?.trim_ascii_start();
    if (quote == b'"' && s.contains(&b'\\')) || !(tail.is_empty() || tail.starts_with(b"#")) {
        return None;
    }
    Some(s)
}

/// `setup.cfg` (INI): `name` in `[section]`, with `=` or `:`; comments start with `#` or `;`.
fn ini_name<'t>(text: &'t [u8], wanted: &[u8]) -> Option<&'t [u8]> {
    let mut section: &[u8] = b"";
    for line in text.split(|&b| b == b'\n') {
        let line = line.trim_ascii();
        if line.starts_with(b"#") || line.starts_with(b";") {
            continue;
        }
        if let Some(head) = line.strip_prefix(b"[") {
            section = head
                .split(|&b| b == b']')
                .next()
                .unwrap_or_default()
                .trim_ascii();
        } else if section == wanted {
            let value = key_value(line, b"name", b'=').or_else(|| key_value(line, b"name", b':'));
            if let Some(value) = value {
                return Some(value);
            }
        }
    }
    None
}

/// The trimmed value of `key <sep> value` when the line's key is `key`.
fn key_value<'t>(line: &'t [u8], key: &[u8], sep: u8) -> Option<&'t [u8]> {
    let at = line.iter().position(|&b| b == sep)?;
    let (k, v) = line.split_at_checked(at)?;
    (k.trim_ascii() == key).then(|| v.get(1..).unwrap_or_default().trim_ascii())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    fn name(m: Manifest, text: &str) -> Option<&str> {
        m.name(text.as_bytes())
            .map(|n| core::str::from_utf8(n).unwrap())
    }

    #[test]
    fn package_json() {
        let m = Manifest::PackageJson;
        assert_eq!(
            name(m, r#"{"name": "shop", "version": "1.0.0"}"#),
            Some("shop")
        );
        assert_eq!(
            name(m, "\u{feff}{\"name\":\"@acme/shop\"}\n"),
            Some("@acme/shop")
        );
        // Only the root object's key counts; the last one wins.
        assert_eq!(
            name(
                m,
                r#"{"dependencies": {"name": "x"}, "workspaces": ["name"], "name": "cart"}"#
            ),
            Some("cart")
        );
        assert_eq!(name(m, r#"{"name": "a", "name": "b"}"#), Some("b"));
        assert_eq!(
            name(m, r#"{"description": "the \"name\": x", "name": "q"}"#),
            Some("q")
        );
        assert_eq!(name(m, r#"{"scripts": {"a": "b"}, "private": true}"#), None);
        assert_eq!(name(m, r#"{"name": 5}"#), None);
        assert_eq!(name(m, r#"{"name": ""}"#), None);
        // Malformed: no name.
        for bad in [
            r#"{"name": "shop""#,
            r#"{"name": "shop"} x"#,
            r#"{"name": "shop]"#,
            r#"{"name": "shop", "a": [}"#,
            r#"["name", "shop"]"#,
            r#"name = "shop""#,
            "",
            "{\"name\": \"sh\0op\"}",
        ] {
            assert_eq!(name(m, bad), None, "{bad}");
        }
        let deep = "[".repeat(100);
        assert_eq!(name(m, &format!("{{\"name\": \"x\", \"a\": {deep}")), None);
    }

    #[test]
    fn too_large_is_refused() {
        let mut big = std::string::String::from(r#"{"name": "shop", "pad": ""#);
        big.push_str(&"x".repeat(MAX_MANIFEST));
        big.push_str("\"}");
        assert_eq!(name(Manifest::PackageJson, &big), None);
    }

    #[test]
    fn pyproject() {
        let m = Manifest::PyProject;
        assert_eq!(
            name(m, "[project]\nname = \"ledger\"\nversion = \"1\"\n"),
            Some("ledger")
        );
        assert_eq!(
            name(m, "[tool.poetry]\nname = 'inventory' # ok\n"),
            Some("inventory")
        );
        assert_eq!(
            name(m, "[tool.poetry]\nname = \"p\"\n[project]\nname = \"q\"\n"),
            Some("q")
        );
        assert_eq!(
            name(
                m,
                "[tool.black]\nname = \"x\"\n[project]\nversion = \"1\"\n"
            ),
            None
        );
        assert_eq!(name(m, "[[project]]\nname = \"x\"\n"), None);
        assert_eq!(name(m, "[project]\nname = \"unterminated\n"), None);
        assert_eq!(name(m, "[project]\nname = bare\n"), None);
        assert_eq!(name(m, "[project]\nname = \"a\" trailing\n"), None);
        assert_eq!(name(m, "[project]\nname = \"a\\u0041\"\n"), None);
        assert_eq!(name(m, "[project]\nnamespace = \"x\"\n"), None);
        // A malformed [project] name is not replaced by poetry's.
        assert_eq!(
            name(m, "[project]\nname = 1\n[tool.poetry]\nname = \"p\"\n"),
            None
        );
    }

    #[test]
    fn setup_cfg() {
        let m = Manifest::SetupCfg;
        assert_eq!(
            name(m, "[metadata]\nname = billing\nversion = 1\n"),
            Some("billing")
        );
        assert_eq!(
            name(m, "[options]\nname = x\n[metadata]\n; c\nname: blog\n"),
            Some("blog")
        );
        assert_eq!(name(m, "[metadata]\nversion = 1\n"), None);
        assert_eq!(name(m, "[metadata]\nname =\n"), None);
    }

    #[test]
    fn entries() {
        fn e(argv: &'static [&'static [u8]], l: Language) -> Option<&'static [u8]> {
            entry(ByteList::slices(argv), l).map(|e| e.script)
        }
        assert_eq!(
            e(&[b"node", b"--inspect", b"dist/main.js"], Language::NodeJs),
            Some(&b"dist/main.js"[..])
        );
        assert_eq!(e(&[b"node"], Language::NodeJs), None);
        assert_eq!(
            e(&[b"python3", b"-u", b"app.py"], Language::Python),
            Some(&b"app.py"[..])
        );
        assert_eq!(
            e(
                &[b"python3", b"/srv/b/manage.py", b"runserver"],
                Language::Python
            ),
            Some(&b"/srv/b/manage.py"[..])
        );
        assert_eq!(e(&[b"python3", b"worker.py"], Language::Python), None);
        assert_eq!(e(&[b"java", b"-jar", b"app.jar"], Language::Java), None);
    }

    #[test]
    fn search_goes_up_and_stops_at_the_first_manifest() {
        let files: &[(&str, Read, &str)] = &[
            (
                "/srv/shop/package.json",
                Read::Bytes(0),
                r#"{"name": "storefront"}"#,
            ),
            ("/srv/py/pyproject.toml", Read::Bytes(0), "[build-system]\n"),
            (
                "/srv/py/setup.cfg",
                Read::Bytes(0),
                "[metadata]\nname = ledger\n",
            ),
            ("/srv/nameless/package.json", Read::Bytes(0), "{}"),
            ("/srv/package.json", Read::Bytes(0), r#"{"name": "outer"}"#),
            ("/srv/fifo/package.json", Read::Refused, ""),
        ];
        let look = |argv: &[&[u8]], cwd: &[u8], l| {
            let mut buf = [0u8; 256];
            let mut paths = std::vec::Vec::new();
            let e = entry(ByteList::slices(argv), l).unwrap();
            let d = find(&e, cwd, &mut buf, |p, buf| {
                let p = core::str::from_utf8(p.strip_suffix(b"\0").unwrap()).unwrap();
                paths.push(std::string::String::from(p));
                match files.iter().find(|f| f.0 == p) {
                    Some((_, Read::Bytes(_), text)) => {
                        buf[..text.len()].copy_from_slice(text.as_bytes());
                        Read::Bytes(text.len())
                    }
                    Some((_, r, _)) => *r,
                    None => Read::Missing,
                }
            });
            (
                d.map(|d| {
                    (
                        std::string::String::from(d.name.as_str()),
                        d.manifest.source().as_str(),
                    )
                }),
                paths,
            )
        };
        let (d, paths) = look(
            &[b"node", b"src/deep/index.js"],
            b"/srv/shop",
            Language::NodeJs,
        );
        assert_eq!(d, Some(("storefront".into(), "package.json")));
        assert_eq!(
            paths,
            [
                "/srv/shop/src/deep/package.json",
                "/srv/shop/src/package.json",
                "/srv/shop/package.json"
            ]
        );
        let (d, _) = look(&[b"python3", b"/srv/py/app.py"], b"/", Language::Python);
        assert_eq!(d, Some(("ledger".into(), "setup.cfg")));
        // A nameless manifest ends the search: not the outer project's name.
        assert_eq!(
            look(&[b"node", b"/srv/nameless/index.js"], b"", Language::NodeJs).0,
            None
        );
        assert_eq!(
            look(&[b"node", b"/srv/fifo/index.js"], b"", Language::NodeJs).0,
            None
        );
        // A relative script without a working directory is not searched.
        let (d, paths) = look(&[b"node", b"index.js"], b"", Language::NodeJs);
        assert_eq!((d, paths.len()), (None, 0));
        // At most MAX_LEVELS directories.
        let (_, paths) = look(
            &[b"node", b"/a/b/c/d/e/f/g/h/i/j/index.js"],
            b"",
            Language::NodeJs,
        );
        assert_eq!(paths.len(), MAX_LEVELS);
    }
}
