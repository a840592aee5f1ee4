//! `oneagentctl agents install java|skywalking`: the OpenTelemetry Java agent
//! (`io.opentelemetry.javaagent:opentelemetry-javaagent`) and the Apache SkyWalking Java agent
//! (`org.apache.skywalking:apm-agent`) from a Maven repository.
//!
//! Where the machine has `mvn`, Maven fetches the jar (`dependency:get` + `dependency:copy`
//! with strict checksums, so the user's `settings.xml` — mirrors, proxies, credentials — applies);
//! where it has not, the jar is downloaded over HTTPS from the repository's standard layout and
//! checked against the repository's `.sha256` (or `.sha1`) file. `--from DIR` takes the jar from
//! a directory filled by `mvn dependency:copy` on a connected host. Whatever the source, the jar
//! must be a Java agent (a `Premain-Class` in its manifest, the expected one) of the requested
//! version before it is swapped into place.
//!
//! SkyWalking's directory also gets `config/agent.config`, whose values come from the
//! environment the preload library sets (`SW_AGENT_NAME`, `SW_AGENT_COLLECTOR_BACKEND_SERVICES`),
//! and a `plugins/` directory. Maven Central carries SkyWalking's core agent but not its plugin
//! jars (they ship only in Apache's release archive), so the plugins come from `--from DIR`
//! (the `skywalking-agent/` directory of the release, or a directory with a `plugins/` of it).

#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{
    ErrorKind, InstallError, InstallOptions, InstallSummary, Progress, Staging, absolute, capture,
    check_version, complete, describe_status, find_in_path, io_failure, looks_unreachable,
    run_streaming,
};
use oneagent::config::Config;

/// The Maven repository used when `--repository` is not given.
pub const DEFAULT_REPOSITORY: &str = "https://repo.maven.apache.org/maven2";

/// A Java agent published to a Maven repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JavaAgent {
    /// `java` or `skywalking` (the CLI's name).
    pub language: &'static str,
    /// Maven groupId.
    pub group: &'static str,
    /// Maven artifactId.
    pub artifact: &'static str,
    /// The version installed when `--version` is not given (the one the end-to-end tests run).
    pub default_version: &'static str,
    /// The `Premain-Class` its manifest must name.
    pub premain: &'static str,
}

/// The OpenTelemetry Java agent.
pub const OTEL_JAVA: JavaAgent = JavaAgent {
    language: "java",
    group: "io.opentelemetry.javaagent",
    artifact: "opentelemetry-javaagent",
    default_version: "2.33.1",
    premain: "io.opentelemetry.javaagent.OpenTelemetryAgent",
};

/// The Apache SkyWalking Java agent (its core jar, `skywalking-agent.jar` in the release).
pub const SKYWALKING: JavaAgent = JavaAgent {
    language: "skywalking",
    group: "org.apache.skywalking",
    artifact: "apm-agent",
    default_version: "9.4.0",
    premain: "org.apache.skywalking.apm.agent.SkyWalkingAgent",
};

/// The plugin families a SkyWalking installation must have when plugins are installed: JDK
/// HTTP, servlet containers (Tomcat), Spring MVC, JDBC. Matched as substrings of the plugin jar
/// names of the release's `plugins/` (and `bootstrap-plugins/` for the JDK's own HTTP clients).
pub const SKYWALKING_PLUGIN_FAMILIES: &[(&str, &[&str])] = &[
    ("JDK HTTP", &["jdk-http"]),
    ("Tomcat", &["tomcat-"]),
    ("Spring MVC", &["springmvc-annotation"]),
    ("JDBC", &["jdbc-commons"]),
];

/// `config/agent.config` for SkyWalking: every value from the environment, with the defaults
/// SkyWalking's own file has.
pub fn skywalking_agent_config() -> String {
    "# Written by `oneagentctl agents install skywalking`.\n\
         # Every value comes from the environment; oneagent's preload library sets SW_AGENT_NAME\n\
         # (the derived service name) and SW_AGENT_COLLECTOR_BACKEND_SERVICES ([exporter]\n\
         # skywalking_backend) for each Java process it instruments. Values a process sets win.\n\
         agent.namespace=${SW_AGENT_NAMESPACE:}\n\
         agent.service_name=${SW_AGENT_NAME:Your_ApplicationName}\n\
         agent.instance_name=${SW_AGENT_INSTANCE_NAME:}\n\
         agent.sample_n_per_3_secs=${SW_AGENT_SAMPLE:-1}\n\
         agent.span_limit_per_segment=${SW_AGENT_SPAN_LIMIT:300}\n\
         agent.ignore_suffix=${SW_AGENT_IGNORE_SUFFIX:.jpg,.jpeg,.js,.css,.png,.bmp,.gif,.ico,.mp3,.mp4,.html,.svg}\n\
         collector.backend_service=${SW_AGENT_COLLECTOR_BACKEND_SERVICES:127.0.0.1:11800}\n\
         logging.level=${SW_LOGGING_LEVEL:INFO}\n\
         logging.dir=${SW_LOGGING_DIR:/tmp/skywalking-agent-logs}\n\
         logging.file_name=${SW_LOGGING_FILE_NAME:skywalking-api.log}\n\
         logging.max_file_size=${SW_LOGGING_MAX_FILE_SIZE:31457280}\n\
         logging.max_history_files=${SW_LOGGING_MAX_HISTORY_FILES:3}\n\
         plugin.exclude_plugins=${SW_EXCLUDE_PLUGINS:}\n\
         plugin.mount=${SW_MOUNT_FOLDERS:plugins,activations}\n"
        .to_owned()
}

/// Where `artifact` lives in a repository with the standard layout.
pub fn repository_path(agent: &JavaAgent, version: &str) -> String {
    format!(
        "{}/{}/{version}/{}-{version}.jar",
        agent.group.replace('.', "/"),
        agent.artifact,
        agent.artifact
    )
}

fn coordinates(agent: &JavaAgent, version: &str) -> String {
    format!("{}:{}:{version}:jar", agent.group, agent.artifact)
}

fn offline_hint(agent: &JavaAgent, version: &str) -> String {
    let mut text = format!(
        "To install without access to a Maven repository:\n\
         \x20 1. on a host that can reach one, with Maven:\n\
         \x20      mvn dependency:copy -Dartifact={} -DoutputDirectory=oneagent-{}-agent\n",
        coordinates(agent, version),
        agent.language
    );
    if agent.language == "skywalking" {
        text.push_str(&format!(
            "\x20     and unpack Apache's release archive (apache-skywalking-java-agent-{version}.tgz, \
             from https://skywalking.apache.org/downloads/) there, for its plugins/\n"
        ));
    }
    text.push_str(&format!(
        "\x20 2. copy the directory oneagent-{0}-agent to this host and run:\n\
         \x20      sudo oneagentctl agents install {0} --version {version} --from oneagent-{0}-agent\n\
         To use a mirror, give --repository URL (or configure it in Maven's settings.xml).",
        agent.language
    ));
    text
}

// ---------------------------------------------------------------------------------------------
// Reading a jar's manifest (a zip's central directory, bounded)

/// The largest manifest read.
const MAX_MANIFEST: u64 = 256 * 1024;

fn le16(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 2)
        .map(|s| u64::from(u16::from_le_bytes([s[0], s[1]])))
}

fn le32(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 4)
        .map(|s| u64::from(u32::from_le_bytes([s[0], s[1], s[2], s[3]])))
}

/// The text of `META-INF/MANIFEST.MF` in the zip `bytes`, or why there is none.
pub fn jar_manifest(bytes: &[u8]) -> Result<String, &'static str> {
    // End of central directory: 22 bytes plus a comment of up to 64 KiB, at the end.
    let tail_start = bytes.len().saturating_sub(22 + 65_535);
    let tail = bytes.get(tail_start..).ok_or("not a zip file")?;
    let eocd = tail
        .windows(4)
        .rposition(|w| w == b"PK\x05\x06")
        .ok_or("not a zip file (no end of central directory)")?;
    let eocd = tail.get(eocd..).ok_or("not a zip file")?;
    let entries = le16(eocd, 10).ok_or("truncated zip file")?;
    let cd_offset = le32(eocd, 16).ok_or("truncated zip file")?;
    let mut at = usize::try_from(cd_offset).map_err(|_| "truncated zip file")?;
    for _ in 0..entries {
        let h = bytes
            .get(at..at + 46)
            .ok_or("truncated zip central directory")?;
        if h.get(0..4) != Some(b"PK\x01\x02") {
            return Err("corrupt zip central directory");
        }
        let method = le16(h, 10).ok_or("truncated zip file")?;
        let compressed = le32(h, 20).ok_or("truncated zip file")?;
        let size = le32(h, 24).ok_or("truncated zip file")?;
        let name_len = le16(h, 28).ok_or("truncated zip file")? as usize;
        let extra_len = le16(h, 30).ok_or("truncated zip file")? as usize;
        let comment_len = le16(h, 32).ok_or("truncated zip file")? as usize;
        let local = le32(h, 42).ok_or("truncated zip file")? as usize;
        let name = bytes
            .get(at + 46..at + 46 + name_len)
            .ok_or("truncated zip central directory")?;
        if name.eq_ignore_ascii_case(b"META-INF/MANIFEST.MF") {
            if size > MAX_MANIFEST || compressed > MAX_MANIFEST {
                return Err("the manifest is too large");
            }
            let lh = bytes.get(local..local + 30).ok_or("truncated zip file")?;
            if lh.get(0..4) != Some(b"PK\x03\x04") {
                return Err("corrupt zip local header");
            }
            let start = local
                + 30
                + le16(lh, 26).ok_or("truncated zip file")? as usize
                + le16(lh, 28).ok_or("truncated zip file")? as usize;
            let data = bytes
                .get(start..start + compressed as usize)
                .ok_or("truncated zip file (manifest data)")?;
            let mut out = Vec::with_capacity(size as usize);
            match method {
                0 => out.extend_from_slice(data),
                8 => {
                    flate2::read::DeflateDecoder::new(data)
                        .take(MAX_MANIFEST)
                        .read_to_end(&mut out)
                        .map_err(|_| "corrupt zip file (manifest does not inflate)")?;
                }
                _ => return Err("unsupported zip compression for the manifest"),
            }
            if out.len() as u64 != size {
                return Err("corrupt zip file (manifest size)");
            }
            return String::from_utf8(out).map_err(|_| "the manifest is not UTF-8");
        }
        at += 46 + name_len + extra_len + comment_len;
    }
    Err("no META-INF/MANIFEST.MF")
}

/// The value of a main-section attribute of a manifest (continuation lines joined).
pub fn manifest_attribute(manifest: &str, key: &str) -> Option<String> {
    let mut value: Option<String> = None;
    for line in manifest.lines() {
        if line.is_empty() {
            break; // end of the main section
        }
        if let Some(rest) = line.strip_prefix(' ') {
            if let Some(v) = value.as_mut() {
                v.push_str(rest);
            }
            continue;
        }
        if value.is_some() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case(key)
        {
            value = Some(v.trim_start().to_owned());
        }
    }
    value.map(|v| v.trim_end().to_owned())
}

/// Checks that `jar` is the Java agent `agent` of `version`; returns the version it declares.
pub fn check_agent_jar(jar: &Path, agent: &JavaAgent, version: &str) -> Result<String, String> {
    let meta = std::fs::metadata(jar).map_err(|e| format!("{}: {e}", jar.display()))?;
    if meta.len() > 512 * 1024 * 1024 {
        return Err(format!("{} is larger than 512 MiB", jar.display()));
    }
    let bytes = std::fs::read(jar).map_err(|e| format!("{}: {e}", jar.display()))?;
    let manifest =
        jar_manifest(&bytes).map_err(|why| format!("{} is not a jar: {why}", jar.display()))?;
    let premain = manifest_attribute(&manifest, "Premain-Class").ok_or_else(|| {
        format!(
            "{} is not a Java agent: its manifest has no Premain-Class",
            jar.display()
        )
    })?;
    if premain != agent.premain {
        return Err(format!(
            "{} is not the {} agent: its Premain-Class is {premain}, expected {}",
            jar.display(),
            agent.artifact,
            agent.premain
        ));
    }
    let declared = manifest_attribute(&manifest, "Implementation-Version").unwrap_or_default();
    if !declared.is_empty() && declared != version {
        return Err(format!(
            "{} declares version {declared}, expected {version}",
            jar.display()
        ));
    }
    Ok(if declared.is_empty() {
        version.to_owned()
    } else {
        declared
    })
}

// ---------------------------------------------------------------------------------------------
// Fetching

/// Hex of a digest.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a file, hex.
fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hex(ctx.finish().as_ref()))
}

/// The first hex word of a checksum file (`<hex>` or `<hex>  <name>`), lower-cased.
pub fn checksum_word(text: &str) -> Option<String> {
    let word = text.split_whitespace().next()?.to_ascii_lowercase();
    (word.len() >= 40 && word.chars().all(|c| c.is_ascii_hexdigit())).then_some(word)
}

/// Downloads `url` to `dest` (at most `limit` bytes) and returns the SHA-256 and SHA-1 digests.
fn download(
    agent: &ureq::Agent,
    url: &str,
    dest: &Path,
    limit: u64,
    progress: &mut Progress<'_>,
) -> Result<(String, String), DownloadError> {
    let response = agent.get(url).call().map_err(DownloadError::Transport)?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(DownloadError::Status(status));
    }
    let mut body = response.into_body();
    let mut reader = body.as_reader();
    let mut file = std::fs::File::create(dest).map_err(DownloadError::Io)?;
    let mut sha256 = ring::digest::Context::new(&ring::digest::SHA256);
    let mut sha1 = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    let mut buf = vec![0u8; 1 << 16];
    let mut total: u64 = 0;
    let mut shown = Instant::now();
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| DownloadError::Transport(ureq::Error::Io(e)))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > limit {
            return Err(DownloadError::TooLarge);
        }
        let chunk = buf.get(..n).unwrap_or_default();
        sha256.update(chunk);
        sha1.update(chunk);
        file.write_all(chunk).map_err(DownloadError::Io)?;
        if shown.elapsed() > Duration::from_secs(1) {
            progress.line(&format!("{:.1} MiB", total as f64 / 1048576.0));
            shown = Instant::now();
        }
    }
    file.sync_all().map_err(DownloadError::Io)?;
    progress.line(&format!("{:.1} MiB from {url}", total as f64 / 1048576.0));
    Ok((hex(sha256.finish().as_ref()), hex(sha1.finish().as_ref())))
}

#[derive(Debug)]
enum DownloadError {
    Transport(ureq::Error),
    Status(u16),
    TooLarge,
    Io(std::io::Error),
}

impl std::fmt::Display for DownloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownloadError::Transport(e) => write!(f, "{e}"),
            DownloadError::Status(s) => write!(f, "HTTP status {s}"),
            DownloadError::TooLarge => f.write_str("larger than 512 MiB"),
            DownloadError::Io(e) => write!(f, "{e}"),
        }
    }
}

fn small_get(agent: &ureq::Agent, url: &str) -> Result<Option<String>, DownloadError> {
    let response = agent.get(url).call().map_err(DownloadError::Transport)?;
    match response.status().as_u16() {
        200 => {}
        404 => return Ok(None),
        s => return Err(DownloadError::Status(s)),
    }
    let mut text = String::new();
    response
        .into_body()
        .as_reader()
        .take(4096)
        .read_to_string(&mut text)
        .map_err(DownloadError::Io)?;
    Ok(Some(text))
}

/// The system's CA bundle (what curl and Maven's JDK trust here, a company's proxy CA included),
/// or Mozilla's roots where no bundle is found.
fn system_roots() -> ureq::tls::RootCerts {
    const BUNDLES: &[&str] = &[
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/ca-bundle.pem",
        "/etc/ssl/cert.pem",
    ];
    for path in BUNDLES {
        let Ok(pem) = std::fs::read(path) else {
            continue;
        };
        let certs: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if !certs.is_empty() {
            return ureq::tls::RootCerts::new_with_certs(&certs);
        }
    }
    ureq::tls::RootCerts::WebPki
}

/// Fetches the jar over HTTPS and verifies it against the repository's checksum file.
fn fetch_https(
    agent_def: &JavaAgent,
    version: &str,
    repository: &str,
    dest: &Path,
    progress: &mut Progress<'_>,
) -> Result<String, InstallError> {
    let url = format!(
        "{}/{}",
        repository.trim_end_matches('/'),
        repository_path(agent_def, version)
    );
    let http: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(system_roots())
                .build(),
        )
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_body(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into();
    let unreachable = |e: &DownloadError| {
        InstallError::new(
            ErrorKind::Unreachable,
            format!(
                "cannot download {url}: {e}. Nothing was changed.\n{}",
                offline_hint(agent_def, version)
            ),
        )
    };
    // The checksum first: a repository that has the jar has one of these.
    let mut expected = None;
    for (ext, len) in [("sha256", 64), ("sha1", 40)] {
        match small_get(&http, &format!("{url}.{ext}")) {
            Ok(Some(text)) => {
                if let Some(word) = checksum_word(&text).filter(|w| w.len() == len) {
                    expected = Some((ext, word));
                    break;
                }
            }
            Ok(None) => {}
            Err(e @ DownloadError::Transport(_)) => return Err(unreachable(&e)),
            Err(e) => {
                return Err(InstallError::new(
                    ErrorKind::Failed,
                    format!("cannot download {url}.{ext}: {e}. Nothing was changed."),
                ));
            }
        }
    }
    let Some((kind, expected)) = expected else {
        return Err(InstallError::new(
            ErrorKind::Failed,
            format!(
                "{url}: the repository has no .sha256 or .sha1 file for it (is the version right? \
                 see {}/{}/{}/maven-metadata.xml); nothing is installed unverified. Nothing was \
                 changed.",
                repository.trim_end_matches('/'),
                agent_def.group.replace('.', "/"),
                agent_def.artifact
            ),
        ));
    };
    progress.note(&format!("expected {kind} {expected}"));
    let (sha256, sha1) =
        download(&http, &url, dest, 512 * 1024 * 1024, progress).map_err(|e| match e {
            DownloadError::Transport(_) => unreachable(&e),
            _ => InstallError::new(
                ErrorKind::Failed,
                format!("cannot download {url}: {e}. Nothing was changed."),
            ),
        })?;
    let got = if kind == "sha256" { &sha256 } else { &sha1 };
    if *got != expected {
        return Err(InstallError::new(
            ErrorKind::Failed,
            format!(
                "{url}: checksum mismatch ({kind} {got}, the repository says {expected}): a corrupt \
                 or partial download. Nothing was changed."
            ),
        ));
    }
    progress.note(&format!("{kind} verified"));
    Ok(sha256)
}

/// Fetches the jar with Maven (strict checksums) into `dir`; returns the jar's path.
fn fetch_mvn(
    mvn: &Path,
    agent: &JavaAgent,
    version: &str,
    repository: Option<&str>,
    dir: &Path,
    opts: &InstallOptions,
    progress: &mut Progress<'_>,
) -> Result<PathBuf, InstallError> {
    let mut cmd = Command::new(mvn);
    cmd.env("PATH", &opts.search_path)
        .args(["-B", "-C", "--no-transfer-progress"])
        .args(["dependency:get", "dependency:copy"])
        .arg(format!("-Dartifact={}", coordinates(agent, version)))
        .arg("-Dtransitive=false")
        .arg(format!("-DoutputDirectory={}", dir.display()))
        .arg("-Dmdep.overWriteReleases=true");
    if let Some(url) = repository {
        cmd.arg(format!("-DremoteRepositories=oneagent::default::{url}"));
    }
    let run = run_streaming(progress, &mut cmd).map_err(|e| {
        InstallError::new(
            ErrorKind::Failed,
            format!("cannot run {}: {e}", mvn.display()),
        )
    })?;
    if !run.status.success() {
        let status = describe_status(run.status);
        let not_found = run.tail.iter().any(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("could not find artifact") || l.contains("was not found in")
        });
        return Err(
            if looks_unreachable(&run.tail) || mvn_unreachable(&run.tail) {
                InstallError::new(
                    ErrorKind::Unreachable,
                    format!(
                        "Maven could not reach the repository ({status}). Nothing was changed.\n{}",
                        offline_hint(agent, version)
                    ),
                )
            } else if not_found {
                InstallError::new(
                    ErrorKind::Failed,
                    format!(
                        "Maven found no {} {version} ({status}): is the version right? Nothing was \
                     changed.",
                        coordinates(agent, version)
                    ),
                )
            } else {
                InstallError::new(
                    ErrorKind::Failed,
                    format!(
                        "mvn failed ({status}); its last lines are above. Nothing was changed."
                    ),
                )
            },
        );
    }
    let jar = dir.join(format!("{}-{version}.jar", agent.artifact));
    if !jar.is_file() {
        return Err(InstallError::new(
            ErrorKind::Failed,
            format!(
                "mvn succeeded but {} is missing. Nothing was changed.",
                jar.display()
            ),
        ));
    }
    Ok(jar)
}

fn mvn_unreachable(tail: &[String]) -> bool {
    tail.iter().any(|l| {
        let l = l.to_ascii_lowercase();
        l.contains("unknownhostexception")
            || l.contains("could not transfer artifact")
            || l.contains("connect timed out")
            || l.contains("no route to host")
            || l.contains("offline mode")
    })
}

/// The jar for `version` in a `--from` directory: `ARTIFACT-VERSION.jar` at its top (what
/// `mvn dependency:copy` writes) or in the Maven repository layout below it.
fn find_in_from(from: &Path, agent: &JavaAgent, version: &str) -> Option<PathBuf> {
    let flat = from.join(format!("{}-{version}.jar", agent.artifact));
    if flat.is_file() {
        return Some(flat);
    }
    let layout = from.join(repository_path(agent, version));
    layout.is_file().then_some(layout)
}

/// Verifies a sidecar checksum (`JAR.sha256` or `JAR.sha1`) when one is beside the jar.
fn check_sidecar(jar: &Path) -> Result<Option<&'static str>, String> {
    for (ext, algo) in [
        ("sha256", &ring::digest::SHA256),
        ("sha1", &ring::digest::SHA1_FOR_LEGACY_USE_ONLY),
    ] {
        let side = PathBuf::from(format!("{}.{ext}", jar.display()));
        let Ok(text) = std::fs::read_to_string(&side) else {
            continue;
        };
        let expected =
            checksum_word(&text).ok_or_else(|| format!("{} holds no checksum", side.display()))?;
        let bytes = std::fs::read(jar).map_err(|e| format!("{}: {e}", jar.display()))?;
        let got = hex(ring::digest::digest(algo, &bytes).as_ref());
        if got != expected {
            return Err(format!(
                "{}: checksum mismatch ({ext} {got}, {} says {expected}): a corrupt or partial copy",
                jar.display(),
                side.display()
            ));
        }
        return Ok(Some(ext));
    }
    Ok(None)
}

/// Copies the SkyWalking plugins of a release directory (`plugins/`, plus the JDK HTTP plugins
/// of `bootstrap-plugins/`) into `dest`; every family of [`SKYWALKING_PLUGIN_FAMILIES`] must be
/// there. Returns how many jars were copied.
pub fn copy_skywalking_plugins(from: &Path, dest: &Path) -> Result<usize, String> {
    let mut names = Vec::new();
    for (sub, only) in [("plugins", None), ("bootstrap-plugins", Some("jdk-http"))] {
        let Ok(entries) = std::fs::read_dir(from.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".jar") || only.is_some_and(|o| !name.contains(o)) {
                continue;
            }
            names.push((e.path(), name));
        }
    }
    if names.is_empty() {
        return Err(format!(
            "{} has no plugins/ directory with plugin jars (give the skywalking-agent directory \
             of Apache's release archive)",
            from.display()
        ));
    }
    let missing: Vec<&str> = SKYWALKING_PLUGIN_FAMILIES
        .iter()
        .filter(|(_, pats)| {
            !names
                .iter()
                .any(|(_, n)| pats.iter().any(|p| n.contains(p)))
        })
        .map(|(what, _)| *what)
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} lacks the plugins for {} (jars named like {})",
            from.join("plugins").display(),
            missing.join(", "),
            SKYWALKING_PLUGIN_FAMILIES
                .iter()
                .filter(|(w, _)| missing.contains(w))
                .flat_map(|(_, p)| p.iter())
                .map(|p| format!("*{p}*.jar"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    std::fs::create_dir_all(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    for (path, name) in &names {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if jar_manifest(&bytes).is_err() {
            return Err(format!("{} is not a jar (corrupt copy?)", path.display()));
        }
        std::fs::write(dest.join(name), bytes)
            .map_err(|e| format!("{}: {e}", dest.join(name).display()))?;
    }
    Ok(names.len())
}

const STEPS: usize = 4;

/// Installs a Java agent (`agent`) where the configuration (or `--dir`) says.
pub fn install_java(
    opts: &InstallOptions,
    config: &Config,
    agent: &JavaAgent,
    progress: &mut Progress<'_>,
) -> Result<InstallSummary, InstallError> {
    let started = Instant::now();
    let configured = if agent.language == "java" {
        &config.agents.java
    } else {
        &config.agents.java_skywalking
    };
    let file_name = configured
        .file_name()
        .map(|n| n.to_owned())
        .unwrap_or_else(|| format!("{}.jar", agent.artifact).into());
    let entry = match &opts.dir {
        Some(dir) => absolute(dir).join(&file_name),
        None => absolute(configured),
    };
    let Some(target) = entry.parent().map(Path::to_path_buf) else {
        return Err(InstallError::new(
            ErrorKind::Usage,
            format!("{} has no directory", entry.display()),
        ));
    };
    let version = opts
        .version
        .clone()
        .unwrap_or_else(|| agent.default_version.to_owned());
    check_version(&version)?;
    let from = super::check_from(opts.from.as_deref())?;
    let repository = match &opts.repository {
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
            Some(url.trim_end_matches('/').to_owned())
        }
        Some(url) => {
            return Err(InstallError::new(
                ErrorKind::Usage,
                format!("--repository `{url}` is not an http:// or https:// URL"),
            ));
        }
        None => None,
    };

    progress.step(STEPS, "checking java and mvn");
    let java = find_in_path("java", &opts.search_path);
    let java_version = java.as_ref().and_then(|j| {
        let out = Command::new(j)
            .env("PATH", &opts.search_path)
            .env_remove("JAVA_TOOL_OPTIONS")
            .arg("-version")
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        text.lines().next().map(|l| l.trim().to_owned())
    });
    match (&java, &java_version) {
        (Some(j), Some(v)) => progress.note(&format!("{} ({v})", j.display())),
        _ => progress.note(
            "no java in PATH: the agent is installed, but no Java program runs here until a JDK or \
             JRE is installed (Debian/Ubuntu: `apt install default-jre-headless`; RHEL/Fedora: \
             `dnf install java-17-openjdk-headless`)",
        ),
    }
    let mvn = if from.is_some() {
        None
    } else {
        find_in_path("mvn", &opts.search_path)
    };
    let mvn_version = match &mvn {
        Some(m) => Some(
            capture(
                Command::new(m)
                    .env("PATH", &opts.search_path)
                    .args(["-B", "--version"]),
            )
            .map_err(|e| {
                InstallError::new(
                    ErrorKind::MissingTool,
                    format!(
                        "{} does not run: {e}; fix Maven (it needs a JDK: `apt install maven \
                         default-jdk-headless`) or take it out of PATH to download over HTTPS",
                        m.display()
                    ),
                )
            })?
            .lines()
            .next()
            .map(super::clean_line)
            .unwrap_or_default(),
        ),
        None => None,
    };
    let repo_url = repository
        .clone()
        .unwrap_or_else(|| DEFAULT_REPOSITORY.to_owned());
    let (tool, source) = match (&from, &mvn, &mvn_version) {
        (Some(dir), _, _) => (
            "a local directory".to_owned(),
            format!("{} (offline)", dir.display()),
        ),
        (None, Some(m), Some(v)) => (
            format!("{} ({v})", m.display()),
            match &repository {
                Some(u) => format!("Maven, repository {u}"),
                None => "Maven (its settings; Maven Central by default)".to_owned(),
            },
        ),
        _ => (
            "HTTPS download (no mvn in PATH)".to_owned(),
            format!("{repo_url} (HTTPS, checksum-verified)"),
        ),
    };
    progress.note(&tool);

    let staging = Staging::new(&target)?;
    let download_dir = staging.tmp.join(".download");
    std::fs::create_dir(&download_dir)
        .map_err(|e| io_failure("cannot create", &download_dir, &e))?;
    progress.step(
        STEPS,
        &format!(
            "fetching {} from {source}",
            coordinates(agent, &version).trim_end_matches(":jar")
        ),
    );
    let fetched = if let Some(dir) = &from {
        let jar = find_in_from(dir, agent, &version).ok_or_else(|| {
            InstallError::new(
                ErrorKind::Usage,
                format!(
                    "--from {}: no {}-{version}.jar there. Nothing was changed.\n{}",
                    dir.display(),
                    agent.artifact,
                    offline_hint(agent, &version)
                ),
            )
        })?;
        match check_sidecar(&jar) {
            Ok(Some(kind)) => progress.note(&format!("{kind} verified")),
            Ok(None) => progress.note("no .sha256/.sha1 beside the jar: checked as a jar only"),
            Err(e) => {
                return Err(InstallError::new(
                    ErrorKind::Failed,
                    format!("{e}. Nothing was changed."),
                ));
            }
        }
        jar
    } else if let Some(m) = &mvn {
        fetch_mvn(
            m,
            agent,
            &version,
            repository.as_deref(),
            &download_dir,
            opts,
            progress,
        )?
    } else {
        let dest = download_dir.join(format!("{}-{version}.jar", agent.artifact));
        fetch_https(agent, &version, &repo_url, &dest, progress)?;
        dest
    };

    progress.step(STEPS, "checking the agent");
    let installed = check_agent_jar(&fetched, agent, &version).map_err(|e| {
        InstallError::new(
            ErrorKind::Failed,
            format!("{e}. Nothing was changed in {}.", target.display()),
        )
    })?;
    let jar = staging.tmp.join(&file_name);
    std::fs::copy(&fetched, &jar).map_err(|e| io_failure("cannot write", &jar, &e))?;
    let _ = std::fs::set_permissions(&jar, std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let _ = std::fs::remove_dir_all(&download_dir);
    let sha256 = sha256_file(&jar).map_err(|e| io_failure("cannot read", &jar, &e))?;
    progress.note(&format!(
        "{} {installed}: Premain-Class {}, sha256 {sha256}",
        agent.artifact, agent.premain
    ));
    let mut packages = 1;
    if agent.language == "skywalking" {
        let config_dir = staging.tmp.join("config");
        std::fs::create_dir_all(&config_dir)
            .map_err(|e| io_failure("cannot create", &config_dir, &e))?;
        let path = config_dir.join("agent.config");
        std::fs::write(&path, skywalking_agent_config())
            .map_err(|e| io_failure("cannot write", &path, &e))?;
        let plugins = staging.tmp.join("plugins");
        match &from {
            Some(dir) if dir.join("plugins").is_dir() => {
                let n = copy_skywalking_plugins(dir, &plugins).map_err(|e| {
                    InstallError::new(
                        ErrorKind::Failed,
                        format!("{e}. Nothing was changed in {}.", target.display()),
                    )
                })?;
                packages += n;
                progress.note(&format!(
                    "{n} plugins from {}",
                    dir.join("plugins").display()
                ));
            }
            _ => {
                std::fs::create_dir_all(&plugins)
                    .map_err(|e| io_failure("cannot create", &plugins, &e))?;
                progress.note(
                    "no plugins: Maven Central carries SkyWalking's core agent, not its plugin jars; \
                     the agent loads and reports the service, but traces no library until the \
                     plugins/ of Apache's release archive is given with --from",
                );
            }
        }
    }
    complete(
        staging,
        progress,
        STEPS,
        &format!("{source}; sha256 {sha256}"),
        InstallSummary {
            language: agent.language.to_owned(),
            configured: entry == absolute(configured),
            entry,
            dir: target,
            package: format!("{}:{}", agent.group, agent.artifact),
            version: installed,
            packages,
            tool,
            source,
            replaced: false,
            config: opts.config.clone(),
            seconds: 0.0,
        },
        started,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::super::tests::Fixture;
    use super::*;
    use crate::cli::AgentLanguage;
    use std::os::unix::fs::PermissionsExt;

    /// A zip with stored (method 0) or deflated (method 8) entries.
    fn zip(entries: &[(&str, &[u8])], deflate: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in entries {
            let mut crc = flate2::Crc::new();
            crc.update(data);
            let body = if deflate {
                let mut e =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            } else {
                data.to_vec()
            };
            let offset = out.len() as u32;
            let method: u16 = if deflate { 8 } else { 0 };
            out.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00");
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&[0, 0, 0, 0]);
            out.extend_from_slice(&crc.sum().to_le_bytes());
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&body);
            central.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00");
            central.extend_from_slice(&method.to_le_bytes());
            central.extend_from_slice(&[0, 0, 0, 0]);
            central.extend_from_slice(&crc.sum().to_le_bytes());
            central.extend_from_slice(&(body.len() as u32).to_le_bytes());
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 12]);
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00");
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    fn agent_jar(premain: Option<&str>, version: &str) -> Vec<u8> {
        let mut m = format!("Manifest-Version: 1.0\r\nImplementation-Version: {version}\r\n");
        if let Some(p) = premain {
            // Split over a continuation line, as jar tools do at 72 bytes.
            let (a, b) = p.split_at(10);
            m.push_str(&format!("Premain-Class: {a}\r\n {b}\r\n"));
        }
        m.push_str("\r\nName: x\r\nPremain-Class: wrong\r\n");
        zip(
            &[
                ("META-INF/", b""),
                ("META-INF/MANIFEST.MF", m.as_bytes()),
                ("a/B.class", b"\xca\xfe\xba\xbe"),
            ],
            true,
        )
    }

    #[test]
    fn manifests_are_read_from_stored_and_deflated_jars() {
        for deflate in [false, true] {
            let z = zip(
                &[("META-INF/MANIFEST.MF", b"Premain-Class: a.B\n Cd\nX: y\n")],
                deflate,
            );
            let m = jar_manifest(&z).unwrap();
            assert_eq!(
                manifest_attribute(&m, "premain-class").as_deref(),
                Some("a.BCd")
            );
            assert_eq!(manifest_attribute(&m, "X").as_deref(), Some("y"));
        }
        let jar = agent_jar(Some(OTEL_JAVA.premain), "2.33.1");
        let m = jar_manifest(&jar).unwrap();
        assert_eq!(
            manifest_attribute(&m, "Premain-Class").as_deref(),
            Some(OTEL_JAVA.premain)
        );
        // Per-entry sections are not the main section.
        let jar = agent_jar(None, "2.33.1");
        assert_eq!(
            manifest_attribute(&jar_manifest(&jar).unwrap(), "Premain-Class"),
            None
        );
    }

    #[test]
    fn broken_jars_are_errors_not_panics() {
        let good = agent_jar(Some(OTEL_JAVA.premain), "2.33.1");
        assert!(jar_manifest(b"").is_err());
        assert!(jar_manifest(b"not a zip at all").is_err());
        assert!(jar_manifest(&zip(&[("a.txt", b"x")], false)).is_err());
        // Every truncation, and every single-byte corruption, is an error or a manifest: never
        // a panic.
        for len in 0..good.len() {
            let _ = jar_manifest(&good[..len]);
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0xff;
            let _ = jar_manifest(&bad);
        }
        assert!(jar_manifest(&good[..good.len() - 30]).is_err());
    }

    #[test]
    fn the_end_to_end_tests_run_the_agent_config_we_write() {
        assert_eq!(
            include_str!("../../../../tests/e2e/skywalking-agent.config"),
            skywalking_agent_config(),
            "tests/e2e/skywalking-agent.config must be what `agents install skywalking` writes"
        );
    }

    #[test]
    fn checksum_files_are_read_in_both_forms() {
        let sha1 = "a".repeat(40);
        assert_eq!(checksum_word(&format!("{sha1}\n")), Some(sha1.clone()));
        assert_eq!(
            checksum_word(&format!("{}  x.jar\n", sha1.to_uppercase())),
            Some(sha1)
        );
        assert_eq!(checksum_word("<html>not found</html>"), None);
        assert_eq!(checksum_word("abc"), None);
    }

    /// A fake `mvn`: `--version`, and `dependency:get dependency:copy` copying `jar` (beside it)
    /// into `-DoutputDirectory`, by `mode`: ok, offline, missing.
    const FAKE_MVN: &str = r#"#!/bin/sh
here=$(dirname "$0")
mode=$(cat "$here/mode")
for a in "$@"; do echo "$a" >>"$here/args"; done
[ "$2" = "--version" ] && { echo "Apache Maven 3.8.7"; exit 0; }
out=; art=
for a in "$@"; do
    case "$a" in
    -DoutputDirectory=*) out=${a#-DoutputDirectory=} ;;
    -Dartifact=*) art=${a#-Dartifact=} ;;
    esac
done
echo "[INFO] Resolving $art"
case "$mode" in
offline)
    echo "[ERROR] Failed to execute goal: Could not transfer artifact $art from/to central: repo.maven.apache.org: java.net.UnknownHostException" >&2
    exit 1 ;;
missing)
    echo "[ERROR] Could not find artifact $art in central" >&2
    exit 1 ;;
esac
a=$(echo "$art" | cut -d: -f2); v=$(echo "$art" | cut -d: -f3)
cp "$here/jar" "$out/$a-$v.jar"
echo "[INFO] BUILD SUCCESS"
"#;

    fn fixture(mode: &str, jar: &[u8]) -> Fixture {
        Fixture::with_tools(mode, &[("mvn", FAKE_MVN.as_bytes()), ("jar", jar)])
    }

    #[test]
    fn java_install_with_maven_lands_a_checked_agent_atomically() {
        let jar = agent_jar(Some(OTEL_JAVA.premain), "2.33.1");
        let f = fixture("ok", &jar);
        let opts = f.options(AgentLanguage::Java);
        let dir = opts.dir.clone().unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("old-marker"), "old").unwrap();
        let (result, out) = f.run(&opts);
        let s = result.unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert_eq!((s.version.as_str(), s.replaced), ("2.33.1", true));
        assert_eq!(s.entry, dir.join("opentelemetry-javaagent.jar"));
        assert_eq!(std::fs::read(&s.entry).unwrap(), jar);
        assert!(!dir.join("old-marker").exists());
        assert!(!dir.join(".download").exists());
        let stamp = std::fs::read_to_string(dir.join(crate::agents::STAMP_FILE)).unwrap();
        assert!(stamp.contains("sha256 "), "{stamp}");
        assert!(f.leftovers().is_empty(), "{:?}", f.leftovers());
        assert!(
            out.contains(
                "[INFO] Resolving io.opentelemetry.javaagent:opentelemetry-javaagent:2.33.1:jar"
            ),
            "{out}"
        );
        let args = std::fs::read_to_string(f.bin.join("args")).unwrap();
        // Strict checksums, both goals, no transitive dependencies.
        for a in [
            "-C",
            "dependency:get",
            "dependency:copy",
            "-Dtransitive=false",
        ] {
            assert!(args.lines().any(|l| l == a), "{a}: {args}");
        }
        assert_eq!(
            std::fs::metadata(&s.entry).unwrap().permissions().mode() & 0o777,
            0o644
        );
    }

    #[test]
    fn a_bad_download_keeps_the_previous_agent() {
        let not_agent = agent_jar(None, "2.33.1");
        let wrong_agent = agent_jar(Some("com.example.Other"), "2.33.1");
        let wrong_version = agent_jar(Some(OTEL_JAVA.premain), "2.0.0");
        let good = agent_jar(Some(OTEL_JAVA.premain), "2.33.1");
        let truncated = good[..good.len() / 2].to_vec();
        for (mode, jar, says) in [
            ("ok", not_agent, "no Premain-Class"),
            ("ok", wrong_agent, "com.example.Other"),
            ("ok", wrong_version, "declares version 2.0.0"),
            ("ok", truncated, "is not a jar"),
            ("offline", good.clone(), "could not reach"),
            ("missing", good.clone(), "is the version right?"),
        ] {
            let f = fixture(mode, &jar);
            let opts = f.options(AgentLanguage::Java);
            let dir = opts.dir.clone().unwrap();
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("opentelemetry-javaagent.jar"), "previous").unwrap();
            let (result, _) = f.run(&opts);
            let e = result.unwrap_err();
            assert!(e.message.contains(says), "{says}: {e}");
            assert!(e.message.contains("Nothing was changed"), "{e}");
            assert_eq!(
                std::fs::read_to_string(dir.join("opentelemetry-javaagent.jar")).unwrap(),
                "previous"
            );
            assert!(f.leftovers().is_empty(), "{:?}", f.leftovers());
            if mode == "offline" {
                assert_eq!(e.kind, ErrorKind::Unreachable);
                assert!(e.message.contains("mvn dependency:copy -Dartifact=io.opentelemetry.javaagent:opentelemetry-javaagent:2.33.1:jar"), "{e}");
                assert!(e.message.contains("--from oneagent-java-agent"), "{e}");
            }
        }
    }

    #[test]
    fn from_a_directory_checks_the_sidecar_checksum() {
        let jar = agent_jar(Some(OTEL_JAVA.premain), "2.33.1");
        let f = fixture("offline", &jar);
        let from = f.root.join("from");
        std::fs::create_dir(&from).unwrap();
        std::fs::write(from.join("opentelemetry-javaagent-2.33.1.jar"), &jar).unwrap();
        let mut opts = f.options(AgentLanguage::Java);
        opts.from = Some(from.clone());
        // Right checksum: installed, and Maven is never asked.
        let sum = hex(ring::digest::digest(&ring::digest::SHA256, &jar).as_ref());
        std::fs::write(from.join("opentelemetry-javaagent-2.33.1.jar.sha256"), &sum).unwrap();
        let (result, out) = f.run(&opts);
        assert!(result.unwrap().source.contains("offline"), "{out}");
        assert!(out.contains("sha256 verified"), "{out}");
        assert!(!f.bin.join("args").exists(), "mvn ran");
        // A corrupt copy: refused, the installed one stays.
        let mut bad = jar.clone();
        let n = bad.len();
        bad[n / 3] ^= 1;
        std::fs::write(from.join("opentelemetry-javaagent-2.33.1.jar"), &bad).unwrap();
        let (result, _) = f.run(&opts);
        let e = result.unwrap_err();
        assert!(e.message.contains("checksum mismatch"), "{e}");
        let installed = opts
            .dir
            .clone()
            .unwrap()
            .join("opentelemetry-javaagent.jar");
        assert_eq!(std::fs::read(installed).unwrap(), jar);
        // No jar of that version there: the error says how to fill the directory.
        opts.from = Some(from);
        opts.version = Some("2.30.0".to_owned());
        let (result, _) = f.run(&opts);
        let e = result.unwrap_err();
        assert!(e.message.contains("mvn dependency:copy"), "{e}");
    }

    /// A one-shot HTTP server for the HTTPS-fallback code path (plain HTTP on loopback): serves
    /// `files` by path, 404 otherwise.
    fn serve(files: Vec<(String, Vec<u8>)>) -> String {
        use std::io::BufRead;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/maven2", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                let _ = reader.read_line(&mut first);
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" {
                        break;
                    }
                }
                let path = first.split_whitespace().nth(1).unwrap_or("").to_owned();
                let body = files
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map(|(_, b)| b.clone());
                let (status, body) = match body {
                    Some(b) => ("200 OK", b),
                    None => ("404 Not Found", b"not found".to_vec()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        });
        url
    }

    #[test]
    fn without_maven_the_jar_is_downloaded_and_verified() {
        let jar = agent_jar(Some(SKYWALKING.premain), "9.4.0");
        let path = format!("/maven2/{}", repository_path(&SKYWALKING, "9.4.0"));
        let sha1 =
            hex(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &jar).as_ref());
        let url = serve(vec![
            (path.clone(), jar.clone()),
            (
                format!("{path}.sha1"),
                format!("{sha1}  apm-agent-9.4.0.jar\n").into_bytes(),
            ),
        ]);
        let f = fixture("ok", &jar);
        std::fs::remove_file(f.bin.join("mvn")).unwrap();
        let mut opts = f.options(AgentLanguage::Skywalking);
        opts.search_path = f.bin.clone().into_os_string();
        opts.repository = Some(url.clone());
        let (result, out) = f.run(&opts);
        let s = result.unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert!(out.contains("sha1 verified"), "{out}");
        assert!(out.contains("no java in PATH"), "{out}");
        let dir = opts.dir.clone().unwrap();
        assert_eq!(s.entry, dir.join("skywalking-agent.jar"));
        let config = std::fs::read_to_string(dir.join("config/agent.config")).unwrap();
        assert!(
            config.contains("agent.service_name=${SW_AGENT_NAME:"),
            "{config}"
        );
        assert!(
            config.contains("collector.backend_service=${SW_AGENT_COLLECTOR_BACKEND_SERVICES:"),
            "{config}"
        );
        assert!(dir.join("plugins").is_dir());
        assert!(out.contains("no plugins"), "{out}");

        // A corrupt download (the checksum file disagrees): refused, previous agent kept.
        let url = serve(vec![
            (path.clone(), jar[..jar.len() - 7].to_vec()),
            (format!("{path}.sha1"), format!("{sha1}\n").into_bytes()),
        ]);
        opts.repository = Some(url);
        let (result, _) = f.run(&opts);
        let e = result.unwrap_err();
        assert!(e.message.contains("checksum mismatch"), "{e}");
        assert_eq!(
            std::fs::read(dir.join("skywalking-agent.jar")).unwrap(),
            jar
        );
        assert!(f.leftovers().is_empty(), "{:?}", f.leftovers());

        // No checksum file at all: nothing is installed unverified.
        let url = serve(vec![(path, jar.clone())]);
        opts.repository = Some(url);
        let (result, _) = f.run(&opts);
        assert!(
            result
                .unwrap_err()
                .message
                .contains("nothing is installed unverified")
        );

        // An unreachable repository: the offline recipe.
        opts.repository = Some("http://127.0.0.1:9/maven2".to_owned());
        let (result, _) = f.run(&opts);
        let e = result.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unreachable, "{e}");
        assert!(
            e.message.contains("--from oneagent-skywalking-agent"),
            "{e}"
        );
    }

    #[test]
    fn skywalking_plugins_come_from_the_release_directory_and_must_be_complete() {
        let jar = agent_jar(Some(SKYWALKING.premain), "9.4.0");
        let plugin = zip(
            &[("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n")],
            false,
        );
        let f = fixture("offline", &jar);
        let from = f.root.join("skywalking-agent");
        std::fs::create_dir_all(from.join("plugins")).unwrap();
        std::fs::create_dir_all(from.join("bootstrap-plugins")).unwrap();
        std::fs::write(from.join("apm-agent-9.4.0.jar"), &jar).unwrap();
        for name in [
            "plugins/tomcat-7.x-8.x-plugin-9.4.0.jar",
            "plugins/apm-springmvc-annotation-5.x-plugin-9.4.0.jar",
            "plugins/apm-jdbc-commons-9.4.0.jar",
            "bootstrap-plugins/apm-jdk-threading-plugin-9.4.0.jar",
        ] {
            std::fs::write(from.join(name), &plugin).unwrap();
        }
        let mut opts = f.options(AgentLanguage::Skywalking);
        opts.from = Some(from.clone());
        // No JDK HTTP plugin: a clear error naming it, nothing installed.
        let (result, _) = f.run(&opts);
        let e = result.unwrap_err();
        assert!(
            e.message.contains("JDK HTTP") && e.message.contains("*jdk-http*.jar"),
            "{e}"
        );
        assert!(!opts.dir.clone().unwrap().exists());
        // With it: plugins/ holds the release's plugins plus the JDK HTTP bootstrap plugin only.
        std::fs::write(
            from.join("bootstrap-plugins/apm-jdk-http-plugin-9.4.0.jar"),
            &plugin,
        )
        .unwrap();
        let (result, out) = f.run(&opts);
        let s = result.unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert_eq!(s.packages, 5);
        let plugins = opts.dir.clone().unwrap().join("plugins");
        assert!(plugins.join("apm-jdk-http-plugin-9.4.0.jar").is_file());
        assert!(!plugins.join("apm-jdk-threading-plugin-9.4.0.jar").exists());
        // A corrupt plugin jar is refused.
        std::fs::write(
            from.join("plugins/apm-jdbc-commons-9.4.0.jar"),
            b"PK garbage",
        )
        .unwrap();
        let (result, _) = f.run(&opts);
        assert!(result.unwrap_err().message.contains("is not a jar"));
    }
}
