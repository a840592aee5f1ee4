//! Model test of the log pipeline: random sequences of write, rename-rotate, copytruncate, delete
//! and pipeline restart, compared with an in-memory model of what must arrive. The pipeline runs
//! in-process with an in-memory host (checkpoints survive "restarts" like the database does) and
//! a capturing exporter; every line written must arrive exactly once: a restart here is a clean
//! stop (the exporter acknowledges everything), so nothing may be sent twice across it either.
//!
//! The operation sequence of each seed is fixed (a seeded xorshift); a failure names its seed, and
//! `ONEAGENT_MODEL_SEED=0x… cargo test -p oneagent --test it logs_model` replays that one seed.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oneagent::logs::attribute::{AttributionEngine, Writer};
use oneagent::logs::discover::DiscoveryConfig;
use oneagent::logs::export::{ExportError, Exporter};
use oneagent::logs::pipeline::{LogsHost, Pipeline, PipelineConfig};
use oneagent::logs::tail::Checkpoint;

#[derive(Default)]
pub struct MemoryHost {
    checkpoints: Mutex<Vec<Checkpoint>>,
}

impl LogsHost for MemoryHost {
    fn load_checkpoints(&self) -> Vec<Checkpoint> {
        self.checkpoints.lock().unwrap().clone()
    }
    fn save_checkpoints(&self, checkpoints: &[Checkpoint]) -> Result<(), String> {
        let mut all = self.checkpoints.lock().unwrap();
        for c in checkpoints {
            all.retain(|x| x.key != c.key);
            all.push(c.clone());
        }
        Ok(())
    }
    fn host_attributes(&self) -> Vec<(String, String)> {
        vec![("host.name".into(), "model".into())]
    }
    fn attribution(&self) -> Option<AttributionEngine> {
        None
    }
    fn save_attribution(&self, _engine: &mut AttributionEngine) {}
    fn writer_by_scan(&self, _path: &Path) -> Option<Writer> {
        None
    }
}

/// Decodes just enough of our own OTLP encoding to get the bodies back: the pipeline's encoder is
/// checked against independent prost messages in `logs.rs`; here only the lines matter.
struct Capture(Arc<Mutex<Vec<Vec<u8>>>>);

impl Exporter for Capture {
    fn export(&mut self, request: &[u8], _records: usize) -> Result<(), ExportError> {
        use prost::Message;
        let req = crate::otlp_receiver::ExportLogsServiceRequest::decode(request)
            .map_err(|e| ExportError::Rejected(e.to_string()))?;
        let mut got = self.0.lock().unwrap();
        for rl in req.resource_logs {
            for sl in rl.scope_logs {
                for r in sl.log_records {
                    let b = r.body.unwrap_or_default();
                    got.push(
                        b.string_value
                            .map(String::into_bytes)
                            .or(b.bytes_value)
                            .unwrap_or_default(),
                    );
                }
            }
        }
        Ok(())
    }
}

pub struct Running {
    pub stop: Arc<AtomicBool>,
    pub wake: UnixStream,
    pub thread: std::thread::JoinHandle<()>,
}

fn start(root: &Path, host: &Arc<MemoryHost>, sink: &Arc<Mutex<Vec<Vec<u8>>>>) -> Running {
    let config = PipelineConfig {
        discovery: DiscoveryConfig {
            roots: vec![root.to_owned()],
            include: vec!["*.log".into()],
            exclude: vec![],
            max_depth: 2,
            ignore: vec![],
        },
        multiline: false,
        start_at_end: false,
        rate_limit_per_service: 0,
        containers: None,
    };
    let pipeline = Pipeline::new(config, host.clone(), Box::new(Capture(sink.clone()))).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (wake, wake_rx) = UnixStream::pair().unwrap();
    let s = stop.clone();
    let thread = std::thread::spawn(move || pipeline.run(s, wake_rx, || {}));
    Running { stop, wake, thread }
}

pub fn halt(r: Running) {
    r.stop.store(true, Ordering::Relaxed);
    let _ = (&r.wake).write_all(&[1]);
    r.thread.join().unwrap();
}

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn append(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    writeln!(f, "{line}").unwrap();
}

/// The seeds to run: the fixed ones, or the one `ONEAGENT_MODEL_SEED` names (hex, `0x` optional).
fn seeds() -> Vec<u64> {
    match std::env::var("ONEAGENT_MODEL_SEED") {
        Ok(v) => {
            let hex = v.trim().trim_start_matches("0x").replace('_', "");
            vec![u64::from_str_radix(&hex, 16).unwrap_or_else(|e| {
                panic!("ONEAGENT_MODEL_SEED={v:?} is not a hexadecimal u64: {e}")
            })]
        }
        Err(_) => vec![
            0x9e37_79b9_7f4a_7c15u64,
            0xdead_beef_cafe_f00d,
            0x0123_4567_89ab_cdef,
        ],
    }
}

#[test]
fn random_write_rotate_truncate_delete_restart_sequences_lose_nothing() {
    for seed in seeds() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("logs");
        std::fs::create_dir_all(&root).unwrap();
        let host = Arc::new(MemoryHost::default());
        let sink = Arc::new(Mutex::new(Vec::new()));
        let mut running = Some(start(&root, &host, &sink));
        let mut rng = Rng(seed);
        let files: Vec<PathBuf> = (0..3).map(|i| root.join(format!("app{i}.log"))).collect();
        let mut expected: Vec<String> = Vec::new();
        let mut restarts = 0;
        let mut n = 0u64;
        for step in 0..120 {
            let f = &files[rng.below(files.len() as u64) as usize];
            match rng.below(20) {
                // Mostly writes.
                0..=13 => {
                    for _ in 0..=rng.below(5) {
                        let line =
                            format!("s{seed:x} n{n} {}", "x".repeat(rng.below(200) as usize));
                        append(f, &line);
                        expected.push(line);
                        n += 1;
                    }
                }
                // rename + create: the old file keeps everything written to it.
                14 | 15 => {
                    if f.exists() {
                        std::fs::rename(f, f.with_extension(format!("log.{step}"))).unwrap();
                        append(f, &format!("s{seed:x} n{n} after rotate"));
                        expected.push(format!("s{seed:x} n{n} after rotate"));
                        n += 1;
                    }
                }
                // copytruncate, done atomically here (no writer between copy and truncate).
                16 => {
                    if f.exists() {
                        std::fs::copy(f, f.with_extension(format!("log.{step}"))).unwrap();
                        std::fs::OpenOptions::new()
                            .write(true)
                            .truncate(true)
                            .open(f)
                            .unwrap();
                    }
                }
                // Delete: what the pipeline already opened is still read to its end.
                17 => {
                    std::thread::sleep(Duration::from_millis(150));
                    let _ = std::fs::remove_file(f);
                }
                // Restart the pipeline.
                _ => {
                    if let Some(r) = running.take() {
                        halt(r);
                    }
                    restarts += 1;
                    running = Some(start(&root, &host, &sink));
                }
            }
            std::thread::sleep(Duration::from_millis(10 + rng.below(30)));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let counts = loop {
            let mut counts: HashMap<String, usize> = HashMap::new();
            for b in sink.lock().unwrap().iter() {
                *counts
                    .entry(String::from_utf8_lossy(b).into_owned())
                    .or_default() += 1;
            }
            if expected.iter().all(|e| counts.contains_key(e)) || Instant::now() > deadline {
                break counts;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        if let Some(r) = running.take() {
            halt(r);
        }
        let missing: Vec<&String> = expected
            .iter()
            .filter(|e| !counts.contains_key(*e))
            .collect();
        assert!(
            missing.is_empty(),
            "seed {seed:x}: {} of {} lines lost, e.g. {:?}",
            missing.len(),
            expected.len(),
            missing.iter().take(3).collect::<Vec<_>>()
        );
        let duplicated = expected
            .iter()
            .filter(|e| counts.get(*e).copied().unwrap_or(0) > 1)
            .count();
        assert_eq!(
            duplicated, 0,
            "seed {seed:x}: {duplicated} lines sent twice ({restarts} clean restarts)"
        );
        eprintln!(
            "seed {seed:x}: {} lines, {restarts} restarts, {duplicated} duplicated",
            expected.len()
        );
    }
}
