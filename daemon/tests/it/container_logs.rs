//! Container stdout/stderr logs through the whole pipeline: files laid out and written exactly
//! as the kubelet writes them (CRI lines, `P`/`F` pieces, rotation by rename then gzip,
//! container restarts as `<n+1>.log`) and Docker's json-file logs, exported with the real
//! OTLP/HTTP exporter to the test receiver; plus a seeded model test of rotation, container
//! restart and pipeline restart.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use oneagent::config::Compression;
use oneagent::logs::container::Reason;
use oneagent::logs::discover::DiscoveryConfig;
use oneagent::logs::export::OtlpHttp;
use oneagent::logs::pipeline::{
    ContainerDirs, Pipeline, PipelineConfig, PipelineStats, reason_index,
};

use crate::logs_model::{MemoryHost, Rng, Running, halt};
use crate::otlp_receiver::{Received, Receiver};

const UID: &str = "8f1c2d3e-1a2b-4c5d-8e9f-0a1b2c3d4e5f";
/// 2026-12-03T12:13:37Z.
const BASE_SECS: u64 = 1_796_300_017;

struct Layout {
    _dir: tempfile::TempDir,
    pods: PathBuf,
    docker: PathBuf,
}

impl Layout {
    fn new() -> Layout {
        let dir = tempfile::tempdir().unwrap();
        let pods = dir.path().join("var/log/pods");
        let docker = dir.path().join("var/lib/docker/containers");
        std::fs::create_dir_all(&pods).unwrap();
        std::fs::create_dir_all(&docker).unwrap();
        Layout {
            _dir: dir,
            pods,
            docker,
        }
    }

    /// `<pods>/<ns>_<pod>_<uid>/<container>/`, as the kubelet creates it.
    fn container_dir(&self, ns: &str, pod: &str, container: &str) -> PathBuf {
        let d = self.pods.join(format!("{ns}_{pod}_{UID}")).join(container);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

fn start(
    layout: &Layout,
    host: &Arc<MemoryHost>,
    endpoint: &str,
    multiline: bool,
) -> (Running, Arc<PipelineStats>) {
    let config = PipelineConfig {
        discovery: DiscoveryConfig {
            roots: vec![layout.pods.clone(), layout.docker.clone()],
            include: vec!["*.log".into()],
            exclude: vec![],
            max_depth: 3,
            ignore: vec![],
        },
        multiline,
        start_at_end: false,
        rate_limit_per_service: 0,
        containers: Some(ContainerDirs {
            pods_dir: layout.pods.clone(),
            docker_dir: layout.docker.clone(),
        }),
    };
    let exporter = Box::new(OtlpHttp::new(endpoint, Compression::None));
    let pipeline = Pipeline::new(config, host.clone(), exporter).unwrap();
    let stats = pipeline.stats.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let (wake, wake_rx) = UnixStream::pair().unwrap();
    let s = stop.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        pipeline.run(s, wake_rx, move || {
            let _ = ready_tx.send(());
        })
    });
    ready_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    (Running { stop, wake, thread }, stats)
}

/// `2026-12-03T12:13:<37+s>.<nanos>Z`-style CRI time for second `s` after the base.
fn cri_time(s: u64, nanos: u32) -> String {
    let t = BASE_SECS + s;
    let (h, m, sec) = ((t / 3600) % 24, (t / 60) % 60, t % 60);
    let days = t / 86_400 - 20_790; // 2026-12-03 is day 20790 after 1970-01-01.
    assert_eq!(days, 0, "tests stay within one day");
    format!("2026-12-03T{h:02}:{m:02}:{sec:02}.{nanos:09}Z")
}

fn append(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

fn cri(path: &Path, s: u64, nanos: u32, stream: &str, tag: &str, content: &str) {
    append(
        path,
        format!("{} {stream} {tag} {content}\n", cri_time(s, nanos)).as_bytes(),
    );
}

/// Waits until every body in `want` arrived (or 60 s passed), then a little longer so that
/// duplicates would have time to show; returns what arrived.
fn wait_for(receiver: &Receiver, want: &[String]) -> Vec<Received> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = receiver.bodies();
        if want.iter().all(|w| got.contains(w)) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(700));
    receiver.records.lock().unwrap().clone()
}

fn kubelet_rotate(log: &Path, stamp: &str) -> PathBuf {
    let rotated = log.with_file_name(format!(
        "{}.{stamp}",
        log.file_name().unwrap().to_str().unwrap()
    ));
    std::fs::rename(log, &rotated).unwrap();
    // The runtime reopens the log at the kubelet's request: a new, empty file.
    std::fs::File::create(log).unwrap();
    rotated
}

/// The kubelet compresses rotated files but the newest: `<name>.gz`, then the original goes.
fn kubelet_gzip(rotated: &Path) {
    let data = std::fs::read(rotated).unwrap();
    let gz = rotated.with_file_name(format!(
        "{}.gz",
        rotated.file_name().unwrap().to_str().unwrap()
    ));
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&data).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    std::fs::remove_file(rotated).unwrap();
}

#[test]
fn kubelet_cri_logs_arrive_with_pod_attributes_line_times_joined_pieces_once() {
    let layout = Layout::new();
    let receiver = Receiver::start();
    let host = Arc::new(MemoryHost::default());
    let (running, stats) = start(&layout, &host, &receiver.endpoint(), true);
    let app = layout.container_dir("shop", "web-7d9f8-abcde", "app");
    let log0 = app.join("0.log");
    cri(&log0, 0, 1, "stdout", "F", "INFO hello");
    cri(&log0, 1, 2, "stdout", "P", "a line the runtime ");
    cri(
        &log0,
        1,
        3,
        "stderr",
        "F",
        "Traceback (most recent call last):",
    );
    cri(&log0, 1, 4, "stdout", "P", "cut in ");
    cri(
        &log0,
        1,
        5,
        "stderr",
        "F",
        "  File \"app.py\", line 3, in <module>",
    );
    cri(&log0, 1, 6, "stderr", "F", "ValueError: boom");
    cri(&log0, 2, 7, "stdout", "F", "three pieces");
    append(&log0, b"no timestamp at all\n");
    let mut bytes = format!("{} stdout F bytes ", cri_time(3, 8)).into_bytes();
    bytes.extend_from_slice(b"\xff\xfe here\n");
    append(&log0, &bytes);
    cri(&log0, 4, 9, "stdout", "F", "INFO before rotation");
    let want = [
        "INFO hello",
        "a line the runtime cut in three pieces",
        "Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\nValueError: boom",
        "no timestamp at all",
        "INFO before rotation",
    ]
    .map(str::to_owned);
    let got = wait_for(&receiver, &want);
    // The kubelet rotates (rename), the runtime writes on in a new file; a piece written
    // before the rotation is finished after it.
    cri(&log0, 5, 0, "stdout", "P", "spans the ");
    let rotated1 = kubelet_rotate(&log0, "20261203-121342");
    cri(&log0, 5, 1, "stdout", "F", "rotation");
    cri(&log0, 6, 0, "stderr", "F", "WARN after rotation");
    // The kubelet checks sizes every 10 s: the next rotation comes after this file was read.
    let mut between = want.to_vec();
    between.extend(["spans the rotation", "WARN after rotation"].map(str::to_owned));
    wait_for(&receiver, &between);
    let rotated2 = kubelet_rotate(&log0, "20261203-121343");
    cri(&log0, 7, 0, "stdout", "F", "INFO after second rotation");
    // The container restarts: the kubelet's next file is 1.log.
    let log1 = app.join("1.log");
    cri(&log1, 8, 0, "stdout", "F", "INFO restarted");
    // Docker json-file, one line in two pieces.
    let id = "c".repeat(64);
    let docker_dir = layout.docker.join(&id);
    std::fs::create_dir_all(&docker_dir).unwrap();
    append(
        &docker_dir.join(format!("{id}-json.log")),
        format!(
            "{{\"log\":\"docker \",\"stream\":\"stderr\",\"time\":\"{t}\"}}\n{{\"log\":\"line\\n\",\"stream\":\"stderr\",\"time\":\"{t}\"}}\n",
            t = cri_time(9, 0)
        )
        .as_bytes(),
    );
    let mut want2: Vec<String> = want.to_vec();
    want2.extend(
        [
            "spans the rotation",
            "WARN after rotation",
            "INFO after second rotation",
            "INFO restarted",
            "docker line",
        ]
        .map(str::to_owned),
    );
    let got2 = wait_for(&receiver, &want2);
    // The kubelet compresses the older rotated file once a newer one exists.
    kubelet_gzip(&rotated1);
    let _ = rotated2;
    cri(&log1, 10, 0, "stdout", "F", "INFO last");
    want2.push("INFO last".to_owned());
    let all = wait_for(&receiver, &want2);
    halt(running);
    let _ = (got, got2);

    let mut counts: HashMap<String, usize> = HashMap::new();
    for r in &all {
        *counts.entry(r.text()).or_default() += 1;
    }
    for w in &want2 {
        assert_eq!(
            counts.get(w),
            Some(&1),
            "{w:?} arrived once; got {counts:#?}"
        );
    }
    let by = |body: &str| all.iter().find(|r| r.text() == body).unwrap().clone();
    let hello = by("INFO hello");
    for (k, v) in [
        ("k8s.namespace.name", "shop"),
        ("k8s.pod.name", "web-7d9f8-abcde"),
        ("k8s.pod.uid", UID),
        ("k8s.container.name", "app"),
        ("k8s.container.restart_count", "0"),
        ("log.iostream", "stdout"),
        ("service.name", "app"),
    ] {
        assert_eq!(hello.attr(k), Some(v), "{k} of {hello:?}");
    }
    assert_eq!(
        hello.time,
        (BASE_SECS) * 1_000_000_000 + 1,
        "time from the line"
    );
    assert_eq!(hello.severity, "INFO");
    let joined = by("a line the runtime cut in three pieces");
    assert_eq!(
        joined.time,
        (BASE_SECS + 1) * 1_000_000_000 + 2,
        "time of its first piece"
    );
    let tb = all
        .iter()
        .find(|r| r.text().starts_with("Traceback"))
        .unwrap();
    assert_eq!(tb.attr("log.iostream"), Some("stderr"));
    let raw = by("no timestamp at all");
    assert_eq!(
        (raw.time, raw.attr("log.iostream")),
        (0, None),
        "raw, no time, no stream"
    );
    assert_eq!(raw.attr("k8s.pod.name"), Some("web-7d9f8-abcde"));
    let bytes = all
        .iter()
        .find(|r| r.body.windows(2).any(|w| w == b"\xff\xfe"))
        .expect("the non-UTF-8 line arrived as bytes");
    assert_eq!(bytes.body, b"bytes \xff\xfe here");
    assert_eq!(
        by("spans the rotation").attr("log.iostream"),
        Some("stdout")
    );
    assert_eq!(
        by("INFO restarted").attr("k8s.container.restart_count"),
        Some("1")
    );
    let docker = by("docker line");
    assert_eq!(docker.attr("container.id"), Some(id.as_str()));
    assert_eq!(docker.attr("log.iostream"), Some("stderr"));
    let bad = |r: Reason| stats.container_bad_input[reason_index(r)].load(Ordering::Relaxed);
    assert_eq!(bad(Reason::BadTimestamp), 1, "\"no timestamp at all\"");
    assert_eq!(bad(Reason::InvalidUtf8), 1);
    assert_eq!(bad(Reason::MissingFields), 0);
}

/// A rotation where the runtime makes the next file a while after the kubelet renamed the old
/// one (ReopenContainerLog comes later): for that while the path has no file, and the piece
/// written before the rename still waits for its end in the next file.
#[test]
fn a_piece_before_a_rotation_joins_its_end_when_the_next_file_comes_late() {
    let layout = Layout::new();
    let receiver = Receiver::start();
    let host = Arc::new(MemoryHost::default());
    let (running, stats) = start(&layout, &host, &receiver.endpoint(), true);
    let log = layout.container_dir("shop", "web", "app").join("0.log");
    cri(&log, 0, 0, "stdout", "F", "INFO first");
    wait_for(&receiver, &["INFO first".to_owned()]);
    cri(&log, 1, 0, "stdout", "P", "begun before ");
    // The pipeline reads the piece, then sees the path without a file for a while.
    std::thread::sleep(Duration::from_millis(600));
    let rotated = log.with_file_name("0.log.20261203-121342");
    std::fs::rename(&log, &rotated).unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    cri(&log, 1, 1, "stdout", "F", "the rotation");
    let all = wait_for(
        &receiver,
        &[
            "INFO first".to_owned(),
            "begun before the rotation".to_owned(),
        ],
    );
    halt(running);
    let bodies: Vec<String> = all.iter().map(Received::text).collect();
    assert_eq!(
        bodies,
        ["INFO first", "begun before the rotation"],
        "the piece joined its end once"
    );
    let bad = |r: Reason| stats.container_bad_input[reason_index(r)].load(Ordering::Relaxed);
    assert_eq!(
        (bad(Reason::DeletedMidRecord), bad(Reason::PartialTimeout)),
        (0, 0)
    );
}

#[test]
fn a_pod_directory_that_does_not_parse_is_read_raw_and_counted_and_the_rest_goes_on() {
    let layout = Layout::new();
    let receiver = Receiver::start();
    let host = Arc::new(MemoryHost::default());
    let (running, stats) = start(&layout, &host, &receiver.endpoint(), false);
    let odd = layout.pods.join("not-a-pod-dir/app");
    std::fs::create_dir_all(&odd).unwrap();
    cri(&odd.join("0.log"), 0, 0, "stdout", "F", "from an odd dir");
    let good = layout.container_dir("shop", "web", "app").join("0.log");
    cri(&good, 0, 0, "stdout", "F", "from a good dir");
    // A container log deleted while a piece is open: the piece still goes out, counted.
    let gone = layout.container_dir("shop", "web", "gone").join("0.log");
    cri(&gone, 0, 0, "stdout", "F", "before delete");
    let want = ["from an odd dir", "from a good dir", "before delete"].map(str::to_owned);
    wait_for(&receiver, &want);
    cri(&gone, 0, 1, "stdout", "P", "never finished");
    std::thread::sleep(Duration::from_millis(500));
    std::fs::remove_file(&gone).unwrap();
    let mut want = want.to_vec();
    want.push("never finished".to_owned());
    let all = wait_for(&receiver, &want);
    halt(running);
    let odd_rec = all.iter().find(|r| r.text() == "from an odd dir").unwrap();
    assert_eq!(odd_rec.attr("k8s.pod.name"), None);
    assert_eq!(odd_rec.attr("log.iostream"), Some("stdout"));
    assert!(all.iter().any(|r| r.text() == "never finished"));
    let bad = |r: Reason| stats.container_bad_input[reason_index(r)].load(Ordering::Relaxed);
    assert_eq!(bad(Reason::BadPath), 1);
    assert!(
        bad(Reason::DeletedMidRecord) + bad(Reason::PartialTimeout) == 1,
        "the open piece went out once, counted"
    );
}

/// Random sequences of CRI writes (lines in `P`/`F` pieces, stdout and stderr interleaved),
/// kubelet rotations (rename, and gzip of the older rotated file once read), container
/// restarts and pipeline restarts: every line arrives, with its container's restart count;
/// without pipeline restarts nothing is duplicated.
#[test]
fn random_cri_write_rotate_restart_sequences_lose_nothing() {
    for (seed, pipeline_restarts) in [
        (0x9e37_79b9_7f4a_7c15u64, false),
        (0xdead_beef_cafe_f00d, true),
        (0x0123_4567_89ab_cdef, true),
    ] {
        let layout = Layout::new();
        let receiver = Receiver::start();
        let host = Arc::new(MemoryHost::default());
        let mut running = Some(start(&layout, &host, &receiver.endpoint(), false).0);
        let mut rng = Rng(seed);
        let containers = ["app", "sidecar"];
        let dirs: Vec<PathBuf> = containers
            .iter()
            .map(|c| layout.container_dir("shop", "web", c))
            .collect();
        let mut restart_count = [0u32; 2];
        let mut rotated: Vec<Vec<PathBuf>> = vec![Vec::new(), Vec::new()];
        // Expected body → (container, restart count, stream).
        let mut expected: Vec<(String, &str, u32, &str)> = Vec::new();
        let mut restarts = 0;
        let mut n = 0u64;
        for step in 0..80u64 {
            let c = rng.below(2) as usize;
            let log = dirs[c].join(format!("{}.log", restart_count[c]));
            match rng.below(20) {
                0..=12 => {
                    // A burst: every line complete by its end, pieces interleaved.
                    let mut bytes = Vec::new();
                    for _ in 0..=rng.below(6) {
                        let stream = if rng.below(3) == 0 {
                            "stderr"
                        } else {
                            "stdout"
                        };
                        let other = if stream == "stdout" {
                            "stderr"
                        } else {
                            "stdout"
                        };
                        let body =
                            format!("s{seed:x} n{n} {}", "x".repeat(rng.below(120) as usize));
                        n += 1;
                        let pieces = 1 + rng.below(3) as usize;
                        let cut = body.len().div_ceil(pieces);
                        let chunks: Vec<&str> = body
                            .as_bytes()
                            .chunks(cut)
                            .map(|c| std::str::from_utf8(c).unwrap())
                            .collect();
                        for (i, piece) in chunks.iter().enumerate() {
                            let tag = if i + 1 == chunks.len() { "F" } else { "P" };
                            bytes.extend_from_slice(
                                format!("{} {stream} {tag} {piece}\n", cri_time(step, i as u32))
                                    .as_bytes(),
                            );
                            if tag == "P" && rng.below(2) == 0 {
                                // A whole line of the other stream between two pieces.
                                let b = format!("s{seed:x} n{n} between");
                                n += 1;
                                bytes.extend_from_slice(
                                    format!("{} {other} F {b}\n", cri_time(step, 0)).as_bytes(),
                                );
                                expected.push((b, containers[c], restart_count[c], other));
                            }
                        }
                        expected.push((body, containers[c], restart_count[c], stream));
                    }
                    append(&log, &bytes);
                }
                13..=15 => {
                    if log.exists() {
                        rotated[c].push(kubelet_rotate(&log, &format!("2026120312{step:04}")));
                        if rotated[c].len() >= 2 {
                            // The kubelet compresses the older one; here only once the
                            // pipeline has read it (a kubelet that compresses a file nobody
                            // read yet loses it for every tailer).
                            let want: Vec<String> = expected.iter().map(|e| e.0.clone()).collect();
                            wait_for(&receiver, &want);
                            let old = rotated[c].remove(0);
                            kubelet_gzip(&old);
                        }
                    }
                }
                16 | 17 => {
                    restart_count[c] += 1;
                    rotated[c].clear();
                }
                _ => {
                    if pipeline_restarts {
                        if let Some(r) = running.take() {
                            halt(r);
                        }
                        restarts += 1;
                        running = Some(start(&layout, &host, &receiver.endpoint(), false).0);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(5 + rng.below(25)));
        }
        let want: Vec<String> = expected.iter().map(|e| e.0.clone()).collect();
        let all = wait_for(&receiver, &want);
        if let Some(r) = running.take() {
            halt(r);
        }
        let mut counts: HashMap<String, Vec<&Received>> = HashMap::new();
        for r in &all {
            counts.entry(r.text()).or_default().push(r);
        }
        let missing: Vec<&String> = want.iter().filter(|w| !counts.contains_key(*w)).collect();
        assert!(
            missing.is_empty(),
            "seed {seed:x}: {} of {} lines lost, e.g. {:?}",
            missing.len(),
            want.len(),
            missing.iter().take(3).collect::<Vec<_>>()
        );
        for (body, container, restart, stream) in &expected {
            let r = counts[body][0];
            assert_eq!(r.attr("k8s.container.name"), Some(*container), "{body}");
            assert_eq!(
                r.attr("k8s.container.restart_count"),
                Some(restart.to_string().as_str()),
                "{body}"
            );
            assert_eq!(r.attr("log.iostream"), Some(*stream), "{body}");
        }
        assert_eq!(all.len(), counts.values().map(Vec::len).sum::<usize>());
        assert!(
            all.iter().all(|r| want.contains(&r.text())),
            "seed {seed:x}: nothing arrives that was not written whole (no stray pieces)"
        );
        let duplicated = counts.values().filter(|v| v.len() > 1).count();
        if restarts == 0 {
            assert_eq!(duplicated, 0, "seed {seed:x}: duplicates without a restart");
        }
        eprintln!(
            "seed {seed:x}: {} lines, {restarts} pipeline restarts, {duplicated} duplicated",
            want.len()
        );
    }
}
