//! `make bench`, second part: bx-events beside the official Python SDK (b24pysdk,
//! installed by scripts/sdk-venv.sh into target/sdk-venv) and beside each
//! scenario's floor, against the same in-process sandbox, runs interleaved. Also
//! the manifest parser beside Python's `tomllib`, and the `--parallel` delivery
//! curve. Writes the "Beside the official SDK" section of docs/benchmarks.md.
//! `BENCH_QUICK=1` scales the scenarios down tenfold and writes nothing.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bx_events::bitrix::RateLimit;
use bx_events::internal::save_profile;
use bx_events::internal::Store;
use bx_events::sandbox::{SandboxOptions, SandboxThread};
use serde_json::json;

const HEADING: &str = "## Beside the official SDK";

/// One measured process.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    rss_kb: u64,
    requests: u64,
}

/// Samples of one tool in one scenario.
#[derive(Default)]
struct Series(Vec<Sample>);

impl Series {
    fn median(&self) -> Duration {
        let mut walls: Vec<Duration> = self.0.iter().map(|s| s.wall).collect();
        walls.sort();
        walls.get(walls.len() / 2).copied().unwrap_or_default()
    }

    fn text(&self) -> String {
        if self.0.is_empty() {
            return "–".into();
        }
        let min = self.0.iter().map(|s| s.wall).min().unwrap_or_default();
        let max = self.0.iter().map(|s| s.wall).max().unwrap_or_default();
        let rss = self.0.iter().map(|s| s.rss_kb).max().unwrap_or(0);
        let requests = self.0.iter().map(|s| s.requests).max().unwrap_or(0);
        format!(
            "{} ({}–{}), {:.1} MB, {requests} req",
            human(self.median()),
            human(min),
            human(max),
            rss as f64 / 1024.0
        )
    }
}

fn human(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// Runs a command under GNU time: wall time, peak RSS, success.
fn timed(command: Command) -> (Duration, u64, bool) {
    let run = common::measured(command, common::gnu_time());
    (run.wall, run.rss_kib, run.ok)
}

/// A sandbox with the standard limit and a stored profile for bx-events.
struct Portal {
    sandbox: SandboxThread,
    config: tempfile::TempDir,
}

impl Portal {
    fn new() -> Self {
        let sandbox = SandboxThread::spawn(SandboxOptions {
            rate_limit: Some(RateLimit::STANDARD),
            ..SandboxOptions::default()
        })
        .expect("sandbox");
        let config = tempfile::tempdir().expect("temp dir");
        let (settings, secrets) = bx_events::internal::sandbox_profile(&sandbox.credentials);
        save_profile(&Store::new(config.path()), "bench", settings, secrets).expect("profile");
        Self { sandbox, config }
    }

    fn measure(&self, command: Command) -> Sample {
        let before = self.sandbox.portal.stats().requests;
        let (wall, rss_kb, ok) = timed(command);
        assert!(ok, "a measured run failed");
        Sample {
            wall,
            rss_kb,
            requests: self.sandbox.portal.stats().requests - before,
        }
    }

    fn bx(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bx-events"));
        command
            .env("BX_EVENTS_CONFIG_DIR", self.config.path())
            .env("CI", "1")
            .env_remove("BX_EVENTS_RATE_LIMIT")
            .args(args);
        command
    }

    fn sdk(&self, python: &Path, scenario: &str, arg: usize) -> Command {
        let creds = &self.sandbox.credentials;
        let mut command = Command::new(python);
        command
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/sdk_peer.py"))
            .arg(&creds.portal)
            .arg(creds.access_token.expose())
            .arg(&creds.client_id)
            .arg(creds.client_secret.expose())
            .arg(scenario)
            .arg(arg.to_string());
        command
    }

    /// `count` online handlers, bound with the limit off (set-up, not measured).
    fn with_bindings(&self, count: usize) {
        self.sandbox.portal.set_rate_limit(None);
        let file = common::manifest(self.config.path(), count);
        // The set-up must not fill this profile's own rate-limit bucket: a measured
        // run would wait for it to drain.
        let status = self
            .bx(&["apply", "-f", file.to_str().unwrap(), "-q"])
            .env("BX_EVENTS_RATE_LIMIT", "off")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        self.sandbox
            .portal
            .set_rate_limit(Some(RateLimit::STANDARD));
    }

    fn with_records(&self, count: usize) {
        self.sandbox.portal.set_rate_limit(None);
        let status = self
            .bx(&["bind", "ONCRMDEALADD", "--offline", "-q"])
            .env("BX_EVENTS_RATE_LIMIT", "off")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        for n in 0..count {
            self.sandbox
                .portal
                .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": n.to_string()}}));
        }
        self.sandbox
            .portal
            .set_rate_limit(Some(RateLimit::STANDARD));
    }
}

/// target/sdk-venv/bin/python when the SDK imports there.
fn sdk_python() -> Option<PathBuf> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/sdk-venv/bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import b24pysdk"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(python)
}

fn sdk_version(python: &Path) -> String {
    Command::new(python)
        .args(["-c", "import b24pysdk; print(b24pysdk.__version__)"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

struct Row {
    scenario: String,
    floor: String,
    bx: Series,
    sdk: Series,
    /// Third figure: curl for lists, tomllib for manifests.
    other: Option<(String, Series)>,
}

fn ratio(a: &Series, b: &Series) -> String {
    if a.0.is_empty() || b.0.is_empty() {
        return "–".into();
    }
    format!(
        "{:.2}×",
        b.median().as_secs_f64() / a.median().as_secs_f64().max(1e-9)
    )
}

fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let scale = if quick { 10 } else { 1 };
    let runs = if quick { 2 } else { 5 };
    let python = sdk_python();
    if python.is_none() {
        eprintln!("the SDK is not installed (scripts/sdk-venv.sh); its columns stay empty");
    }
    let mut rows = Vec::new();

    // Apply, re-apply and prune: interleaved, each run on fresh portals.
    let n = 1000 / scale;
    let (mut apply, mut reapply, mut prune) = (
        (Series::default(), Series::default()),
        (Series::default(), Series::default()),
        (Series::default(), Series::default()),
    );
    let reapply_n = 5000 / scale;
    for _ in 0..runs {
        let portal = Portal::new();
        let file = common::manifest(portal.config.path(), n);
        apply
            .0
             .0
            .push(portal.measure(portal.bx(&["apply", "-f", file.to_str().unwrap()])));
        if let Some(python) = &python {
            let portal = Portal::new();
            apply
                .1
                 .0
                .push(portal.measure(portal.sdk(python, "apply", n)));
        }
        let portal = Portal::new();
        portal.with_bindings(reapply_n);
        let file = common::manifest(portal.config.path(), reapply_n);
        reapply
            .0
             .0
            .push(portal.measure(portal.bx(&["apply", "-f", file.to_str().unwrap()])));
        if let Some(python) = &python {
            reapply
                .1
                 .0
                .push(portal.measure(portal.sdk(python, "reapply", reapply_n)));
        }
        let empty = portal.config.path().join("empty.toml");
        std::fs::write(&empty, "").unwrap();
        let portal = Portal::new();
        portal.with_bindings(n);
        prune.0 .0.push(portal.measure(portal.bx(&[
            "apply",
            "--prune",
            "--yes",
            "-f",
            empty.to_str().unwrap(),
        ])));
        if let Some(python) = &python {
            let portal = Portal::new();
            portal.with_bindings(n);
            prune
                .1
                 .0
                .push(portal.measure(portal.sdk(python, "prune", n)));
        }
    }
    let batches = n.div_ceil(50);
    rows.push(Row {
        scenario: format!("apply {n} subscriptions"),
        floor: format!("{} requests", 1 + batches),
        bx: apply.0,
        sdk: apply.1,
        other: None,
    });
    rows.push(Row {
        scenario: format!("re-apply {reapply_n} unchanged"),
        floor: "1 request".into(),
        bx: reapply.0,
        sdk: reapply.1,
        other: None,
    });
    rows.push(Row {
        scenario: format!("prune {n} handlers"),
        floor: format!("{} requests", 1 + batches),
        bx: prune.0,
        sdk: prune.1,
        other: None,
    });

    // Drain: consume --stdout beside the SDK's get/clear loop, 500 per reservation,
    // into /dev/null and into a pipe whose reader keeps up (`| cat >/dev/null`).
    let records = 10_000 / scale;
    for piped in [false, true] {
        let through = |command: Command| if piped { into_pipe(command) } else { command };
        let mut drain = (Series::default(), Series::default());
        for _ in 0..runs {
            let portal = Portal::new();
            portal.with_records(records);
            drain
                .0
                 .0
                .push(portal.measure(through(portal.bx(&["offline", "consume", "--stdout"]))));
            assert_eq!(portal.sandbox.portal.offline_count(), 0);
            if let Some(python) = &python {
                let portal = Portal::new();
                portal.with_records(records);
                drain
                    .1
                     .0
                    .push(portal.measure(through(portal.sdk(python, "drain", 0))));
                assert_eq!(portal.sandbox.portal.offline_count(), 0);
            }
        }
        let into = if piped {
            "a pipe that cat reads"
        } else {
            "/dev/null"
        };
        rows.push(Row {
            scenario: format!("drain {records} offline records to stdout, into {into}"),
            floor: format!("{} requests", 2 * records.div_ceil(500) + 1),
            bx: drain.0,
            sdk: drain.1,
            other: None,
        });
    }

    // Lists as JSON, beside curl fetching the same answer.
    for handlers in [500, 5000, 20_000] {
        let handlers = handlers / scale;
        let portal = Portal::new();
        portal.with_bindings(handlers);
        let (mut bx, mut sdk, mut curl) = (Series::default(), Series::default(), Series::default());
        let url = format!("{}/rest/event.get", portal.sandbox.url);
        let auth = format!("auth={}", portal.sandbox.credentials.access_token.expose());
        for _ in 0..runs {
            bx.0.push(portal.measure(portal.bx(&["list", "-o", "json"])));
            if let Some(python) = &python {
                sdk.0.push(portal.measure(portal.sdk(python, "list", 0)));
            }
            let mut command = Command::new("curl");
            command.args(["-s", "-o", "/dev/null", "-d", &auth, &url]);
            curl.0.push(portal.measure(command));
        }
        rows.push(Row {
            scenario: format!("list {handlers} handlers as JSON"),
            floor: "1 request".into(),
            bx,
            sdk,
            other: Some(("curl".into(), curl)),
        });
    }

    // Start-up: the version, and importing the SDK.
    let (mut bx, mut sdk) = (Series::default(), Series::default());
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..runs * 2 {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bx-events"));
        command
            .arg("--version")
            .env("BX_EVENTS_CONFIG_DIR", dir.path());
        let (wall, rss_kb, _) = timed(command);
        bx.0.push(Sample {
            wall,
            rss_kb,
            requests: 0,
        });
        if let Some(python) = &python {
            let mut command = Command::new(python);
            command.args(["-c", "import b24pysdk"]);
            let (wall, rss_kb, _) = timed(command);
            sdk.0.push(Sample {
                wall,
                rss_kb,
                requests: 0,
            });
        }
    }
    rows.push(Row {
        scenario: "start-up (`--version`; `import b24pysdk`)".into(),
        floor: "–".into(),
        bx,
        sdk,
        other: None,
    });

    // Manifest parsing in process: bx-events' parser beside Python's tomllib.
    let entries = 20_000 / scale;
    let file = common::manifest(dir.path(), entries);
    let text = std::fs::read_to_string(&file).unwrap();
    let mut ours = Series::default();
    for _ in 0..runs {
        let started = Instant::now();
        let parsed = bx_events::internal::parse_manifest("m.toml", &text, &|_| None).unwrap();
        assert_eq!(parsed.subscriptions.len(), entries);
        ours.0.push(Sample {
            wall: started.elapsed(),
            rss_kb: 0,
            requests: 0,
        });
    }
    let mut toml = Series::default();
    for _ in 0..runs {
        let output = Command::new("python3")
            .arg("-c")
            .arg("import sys,time,tomllib\nt=time.perf_counter()\nd=tomllib.load(open(sys.argv[1],'rb'))\nprint(time.perf_counter()-t)")
            .arg(&file)
            .output();
        if let Some(seconds) = output.ok().and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        }) {
            toml.0.push(Sample {
                wall: Duration::from_secs_f64(seconds),
                rss_kb: 0,
                requests: 0,
            });
        }
    }
    rows.push(Row {
        scenario: format!("parse a {entries}-entry subscriptions file (in process)"),
        floor: "–".into(),
        bx: ours,
        sdk: Series::default(),
        other: Some(("tomllib".into(), toml)),
    });

    let curve = parallel_curve(scale);

    let mut section = format!(
        "{HEADING}\n\nThe official Python SDK ({}) runs the same scenarios against the same sandbox\n(standard limit), interleaved with bx-events, each scenario as an integrator would write it with\nthe SDK (`benches/sdk_peer.py`: its client for single calls, `call_batches` for many, a get/clear\nloop of 500 for the queue). Medians of {runs} runs (min–max), peak RSS, requests; the floor is\nthe portal's arithmetic. The third column is curl fetching the same `event.get` answer, or\nPython's `tomllib` parsing the same file. Ratio = SDK time / bx-events time. Both tools' state\n(bx-events' config directory and journal) is on {}.\n\n| scenario | floor | bx-events | official SDK | ratio | other |\n|---|---|---|---|---|---|\n",
        python
            .as_deref()
            .map(|p| format!("b24pysdk {}", sdk_version(p)))
            .unwrap_or_else(|| "not installed".into()),
        common::filesystem_of(&std::env::temp_dir()),
    );
    for row in &rows {
        let other = match &row.other {
            Some((name, series)) => format!("{name}: {}", series.text()),
            None => "–".into(),
        };
        section.push_str(&format!(
            "| {} | {} | {} | {} | {} | {other} |\n",
            row.scenario,
            row.floor,
            row.bx.text(),
            row.sdk.text(),
            ratio(&row.bx, &row.sdk)
        ));
    }
    section.push_str(&curve);
    println!("{section}");
    if !quick {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/benchmarks.md");
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let kept = match old.find(HEADING) {
            Some(at) => old[..at].to_string(),
            None => old.clone() + "\n",
        };
        // The fleet section (benches/fleet.rs) follows this one: keep it.
        let after = old
            .find("## Fleets")
            .map(|at| format!("\n{}", &old[at..]))
            .unwrap_or_default();
        std::fs::write(&path, kept + &section + &after).expect("docs/benchmarks.md written");
        eprintln!("wrote {}", path.display());
    }
}

/// `command` with its stdout piped into `cat >/dev/null`, through `sh`: a
/// reader that keeps up, as `| jq` or `| another-tool` would.
fn into_pipe(command: Command) -> Command {
    common::wrapped("sh", ["-c", "\"$0\" \"$@\" | cat >/dev/null"], &command)
}

/// Records per second of `consume --parallel N` for N = 1, 2, 4, 8: to a shell
/// command, and to an HTTP endpoint that takes 5 ms per request; then
/// `--forward-to` an endpoint that answers at once, beside that endpoint's own
/// floor (the most a minimal client gets from it over N connections).
fn parallel_curve(scale: usize) -> String {
    let sink = Sink::start(Duration::from_millis(5));
    let mut table = String::from(
        "\n### `--parallel` delivery\n\nRecords per second of `offline consume --parallel N` on this 2-core machine: `--exec 'cat >/dev/null'`\n(a process per record), and `--forward-to` an HTTP endpoint that takes 5 ms per request (kept-alive\nconnections). Throughput grows with N until the CPU (exec) or the endpoint's concurrency is the limit.\n\n| N | --exec records/s | --forward-to records/s |\n|---|---|---|\n",
    );
    for parallel in [1, 2, 4, 8] {
        let n = parallel.to_string();
        let exec_records = 1000 / scale;
        let portal = Portal::new();
        portal.with_records(exec_records);
        let exec = portal.measure(portal.bx(&[
            "offline",
            "consume",
            "--exec",
            "cat >/dev/null",
            "--parallel",
            &n,
        ]));
        let forward_records = 4000 / scale;
        let portal = Portal::new();
        portal.with_records(forward_records);
        let forward = portal.measure(portal.bx(&[
            "offline",
            "consume",
            "--forward-to",
            &sink.url,
            "--parallel",
            &n,
        ]));
        table.push_str(&format!(
            "| {parallel} | {:.0} | {:.0} |\n",
            exec_records as f64 / exec.wall.as_secs_f64(),
            forward_records as f64 / forward.wall.as_secs_f64()
        ));
    }
    table.push_str(&fast_forwarding(scale));
    table
}

/// `--forward-to` an endpoint that answers at once, against what a minimal
/// client gets from the same endpoint: how far the reservations, the journal
/// and the HTTP client keep bx-events from the endpoint's own speed.
fn fast_forwarding(scale: usize) -> String {
    let mut table = String::from(
        "\nThe same `--forward-to` to an endpoint that answers at once (a thread per connection), beside that\nendpoint's floor: a minimal client in the benchmark's process sending bodies of the same size over N\nkept-alive connections, as fast as the endpoint answers. Both share the 2 cores with the endpoint; the\nbx-events figure also includes reserving, journaling and confirming every record with the sandbox.\n\n| N | --forward-to records/s | endpoint floor, requests/s | floor / bx-events |\n|---|---|---|---|\n",
    );
    // 41 requests: inside the standard limit's burst, so the portal never paces.
    let records = 10_000 / scale;
    for parallel in [1, 8, 32] {
        let sink = Sink::start(Duration::ZERO);
        let portal = Portal::new();
        portal.with_records(records);
        let n = parallel.to_string();
        let forward = portal.measure(portal.bx(&[
            "offline",
            "consume",
            "--forward-to",
            &sink.url,
            "--parallel",
            &n,
            "-q",
        ]));
        let delivered = sink.requests.load(Ordering::Relaxed).max(1);
        let body = (sink.body_bytes.load(Ordering::Relaxed) / delivered) as usize;
        let ours = records as f64 / forward.wall.as_secs_f64();
        let floor = sink.floor(parallel, records, body);
        table.push_str(&format!(
            "| {parallel} | {ours:.0} | {floor:.0} | {:.2}× |\n",
            floor / ours
        ));
    }
    table
}

/// An HTTP/1.1 endpoint answering 200 after a delay, a thread per connection,
/// counting what it receives.
struct Sink {
    url: String,
    address: std::net::SocketAddr,
    requests: Arc<AtomicU64>,
    body_bytes: Arc<AtomicU64>,
}

impl Sink {
    fn start(delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicU64::new(0));
        let body_bytes = Arc::new(AtomicU64::new(0));
        let (count, bytes) = (requests.clone(), body_bytes.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (count, bytes) = (count.clone(), bytes.clone());
                std::thread::spawn(move || serve(stream, delay, &count, &bytes));
            }
        });
        Self {
            url: format!("http://{address}/"),
            address,
            requests,
            body_bytes,
        }
    }

    /// Requests per second a minimal client gets over `connections` kept-alive
    /// connections, `total` requests with `body`-byte bodies in all.
    fn floor(&self, connections: usize, total: usize, body: usize) -> f64 {
        let request = format!(
            "POST / HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {body}\r\n\r\n{}",
            self.address,
            "x".repeat(body)
        );
        let per_connection = total / connections;
        let started = Instant::now();
        let workers: Vec<_> = (0..connections)
            .map(|_| {
                let (address, request) = (self.address, request.clone());
                std::thread::spawn(move || {
                    let stream = std::net::TcpStream::connect(address).unwrap();
                    stream.set_nodelay(true).unwrap();
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut writer = stream;
                    for _ in 0..per_connection {
                        writer.write_all(request.as_bytes()).unwrap();
                        // The answer is headers alone (content-length: 0).
                        loop {
                            let mut line = String::new();
                            reader.read_line(&mut line).unwrap();
                            if line == "\r\n" {
                                break;
                            }
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        (per_connection * connections) as f64 / started.elapsed().as_secs_f64()
    }
}

/// One connection of a [`Sink`]: read a request, wait, answer 200, again.
fn serve(stream: std::net::TcpStream, delay: Duration, count: &AtomicU64, bytes: &AtomicU64) {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        count.fetch_add(1, Ordering::Relaxed);
        bytes.fetch_add(length as u64, Ordering::Relaxed);
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}
