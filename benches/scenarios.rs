//! `make bench`: whole-process scenarios against the sandbox with the standard rate
//! limit, each beside a naive baseline (one request per operation, API defaults, no
//! `batch`, wait a second on QUERY_LIMIT_EXCEEDED like a curl loop would). Prints a
//! Markdown table and writes it to docs/benchmarks.md. `BENCH_QUICK=1` scales the
//! scenarios down tenfold for a fast check.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bx_events::bitrix::RateLimit;
use bx_events::internal::save_profile;
use bx_events::internal::Store;
use bx_events::sandbox::{SandboxOptions, SandboxThread};
use serde_json::{json, Value};

const STANDARD: RateLimit = RateLimit {
    burst: 50.0,
    per_second: 2.0,
};

/// One measured process run.
struct Run {
    wall: Duration,
    peak_rss_kb: u64,
    requests: u64,
    limit_errors: u64,
}

/// Figures of several runs.
#[derive(Default)]
struct Figures {
    walls: Vec<Duration>,
    rss: Vec<u64>,
    requests: Vec<u64>,
    limit_errors: Vec<u64>,
}

impl Figures {
    fn push(&mut self, run: Run) {
        self.walls.push(run.wall);
        self.rss.push(run.peak_rss_kb);
        self.requests.push(run.requests);
        self.limit_errors.push(run.limit_errors);
    }

    fn median_wall(&self) -> Duration {
        let mut walls = self.walls.clone();
        walls.sort();
        walls[walls.len() / 2]
    }

    fn wall_text(&self) -> String {
        let min = self.walls.iter().min().copied().unwrap_or_default();
        let max = self.walls.iter().max().copied().unwrap_or_default();
        format!(
            "{} ({}–{}, n={})",
            human(self.median_wall()),
            human(min),
            human(max),
            self.walls.len()
        )
    }

    fn rss_text(&self) -> String {
        match self.rss.iter().max() {
            Some(kb) if *kb > 0 => format!("{:.1} MB", *kb as f64 / 1024.0),
            _ => "n/a".into(),
        }
    }

    fn requests(&self) -> u64 {
        self.requests.iter().max().copied().unwrap_or(0)
    }

    fn limit_errors(&self) -> u64 {
        self.limit_errors.iter().sum()
    }
}

fn human(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.2} ms", d.as_secs_f64() * 1000.0)
    } else if d < Duration::from_secs(2) {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

fn run_tool(config: &Path, args: &[&str]) -> (Duration, u64, bool) {
    run_tool_with(config, args, common::gnu_time())
}

/// Like [`run_tool`]; `gnu_time` false runs the binary directly (no RSS figure),
/// for timings in the millisecond range where the wrapper's own start-up shows.
fn run_tool_with(config: &Path, args: &[&str], gnu_time: bool) -> (Duration, u64, bool) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bx-events"));
    command
        .env("BX_EVENTS_CONFIG_DIR", config)
        .env("CI", "1")
        .env_remove("BX_EVENTS_RATE_LIMIT")
        .args(args);
    let run = common::measured(command, gnu_time);
    (run.wall, run.rss_kib, run.ok)
}

/// A fresh sandbox (standard limit) with a stored admin profile.
struct Portal {
    sandbox: SandboxThread,
    config: tempfile::TempDir,
}

impl Portal {
    fn new() -> Self {
        let sandbox = SandboxThread::spawn(SandboxOptions {
            rate_limit: Some(STANDARD),
            ..SandboxOptions::default()
        })
        .expect("sandbox");
        let config = tempfile::tempdir().expect("temp dir");
        let (settings, secrets) = bx_events::internal::sandbox_profile(&sandbox.credentials);
        save_profile(&Store::new(config.path()), "bench", settings, secrets).expect("profile");
        Self { sandbox, config }
    }

    /// Measures one tool run: requests and limit errors it caused on the portal.
    fn measure(&self, args: &[&str]) -> Run {
        let before = self.sandbox.portal.stats();
        let (wall, rss, ok) = run_tool(self.config.path(), args);
        assert!(ok, "bx-events {args:?} failed");
        let after = self.sandbox.portal.stats();
        Run {
            wall,
            peak_rss_kb: rss,
            requests: after.requests - before.requests,
            limit_errors: after.query_limit_exceeded - before.query_limit_exceeded,
        }
    }

    /// Runs `body` as the naive client and measures it from the portal's side.
    fn measure_naive(&self, body: impl FnOnce(&Naive)) -> Run {
        let naive = Naive::new(&self.sandbox);
        let before = self.sandbox.portal.stats();
        let started = Instant::now();
        body(&naive);
        let wall = started.elapsed();
        let after = self.sandbox.portal.stats();
        Run {
            wall,
            peak_rss_kb: 0,
            requests: after.requests - before.requests,
            limit_errors: after.query_limit_exceeded - before.query_limit_exceeded,
        }
    }

    /// Binds `count` online handlers with the limit off (set-up, not measured).
    fn with_bindings(&self, count: usize) {
        self.sandbox.portal.set_rate_limit(None);
        let naive = Naive::new(&self.sandbox);
        for chunk in (0..count).collect::<Vec<_>>().chunks(50) {
            let cmd: serde_json::Map<String, Value> = chunk
                .iter()
                .map(|i| (format!("c{i}"), json!(format!("event.bind?event=ONCRMDEALADD&handler=https%3A%2F%2Fhooks.example.com%2Fh{i}"))))
                .collect();
            naive.call("batch", json!({"halt": 0, "cmd": cmd}));
        }
        self.sandbox.portal.set_rate_limit(Some(STANDARD));
    }
}

/// The hand-written client of the baseline: one blocking request at a time, waiting a
/// second and trying again on QUERY_LIMIT_EXCEEDED.
struct Naive {
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Naive {
    fn new(sandbox: &SandboxThread) -> Self {
        Self {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            http: bx_events::bitrix::http_client(&bx_events::bitrix::ClientOptions::default())
                .unwrap(),
            base: format!("{}/rest/", sandbox.url),
            token: sandbox.credentials.access_token.expose().clone(),
        }
    }

    fn call(&self, method: &str, mut params: Value) -> Value {
        params["auth"] = json!(self.token);
        loop {
            let answer: Value = self.runtime.block_on(async {
                let response = self
                    .http
                    .post(format!("{}{method}", self.base))
                    .json(&params)
                    .send()
                    .await
                    .unwrap();
                response.json().await.unwrap()
            });
            if answer["error"] == "QUERY_LIMIT_EXCEEDED" {
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            return answer;
        }
    }
}

struct Row {
    scenario: String,
    tool: Figures,
    baseline: Option<Figures>,
    goal: String,
    met: bool,
}

fn main() {
    // `cargo bench` passes flags such as --bench; this runner has no options.
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let scale = if quick { 10 } else { 1 };
    let runs = if quick { 2 } else { 5 };
    let mut rows = Vec::new();

    // 1. apply of 1,000 subscriptions from an empty portal.
    let subscriptions = 1000 / scale;
    let mut tool = Figures::default();
    for _ in 0..runs {
        let portal = Portal::new();
        let file = common::manifest(portal.config.path(), subscriptions);
        tool.push(portal.measure(&["apply", "-f", file.to_str().unwrap()]));
    }
    let portal = Portal::new();
    let mut baseline = Figures::default();
    baseline.push(portal.measure_naive(|naive| {
        for i in 0..subscriptions {
            naive.call("event.bind", json!({"event": "ONCRMDEALADD", "handler": format!("https://hooks.example.com/h{i}")}));
        }
    }));
    let max_requests = 1 + subscriptions.div_ceil(50) as u64;
    rows.push(Row {
        met: tool.requests() <= max_requests
            && tool.limit_errors() == 0
            && tool.median_wall() < Duration::from_secs(2),
        goal: format!("≤ {max_requests} requests, 0 limit errors, < 2 s"),
        scenario: format!("apply {subscriptions} subscriptions"),
        tool,
        baseline: Some(baseline),
    });

    // 2. offline consume --stdout of 10,000 queued records.
    let records = 10_000 / scale;
    let setup = |portal: &Portal| {
        portal.sandbox.portal.set_rate_limit(None);
        Naive::new(&portal.sandbox).call(
            "event.bind",
            json!({"event": "ONCRMDEALADD", "event_type": "offline"}),
        );
        for n in 0..records {
            portal
                .sandbox
                .portal
                .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": n.to_string()}}));
        }
        portal.sandbox.portal.set_rate_limit(Some(STANDARD));
    };
    let mut tool = Figures::default();
    for _ in 0..runs.min(3) {
        let portal = Portal::new();
        setup(&portal);
        tool.push(portal.measure(&["offline", "consume", "--stdout"]));
        assert_eq!(portal.sandbox.portal.offline_count(), 0);
    }
    let portal = Portal::new();
    setup(&portal);
    let mut baseline = Figures::default();
    baseline.push(portal.measure_naive(|naive| loop {
        let answer = naive.call("event.offline.get", json!({}));
        if answer["result"]["events"]
            .as_array()
            .is_none_or(|e| e.is_empty())
        {
            break;
        }
    }));
    let max_requests = 2 * records.div_ceil(500) as u64 + 1;
    rows.push(Row {
        met: tool.requests() <= max_requests && tool.limit_errors() == 0,
        goal: format!("≤ {max_requests} requests, 0 limit errors"),
        scenario: format!("offline consume --stdout, {records} records"),
        tool,
        baseline: Some(baseline),
    });

    // 3. list of 5,000 bound handlers, as a table and as JSON.
    let handlers = 5000 / scale;
    let portal = Portal::new();
    portal.with_bindings(handlers);
    for (label, args) in [
        ("table", vec!["list"]),
        ("JSON", vec!["list", "-o", "json"]),
    ] {
        let mut tool = Figures::default();
        for _ in 0..runs {
            tool.push(portal.measure(&args));
        }
        rows.push(Row {
            met: tool.median_wall() < Duration::from_millis(100)
                && tool.rss.iter().max().copied().unwrap_or(0) < 30 * 1024,
            goal: "< 100 ms, peak RSS < 30 MB".into(),
            scenario: format!("list {handlers} handlers as {label}"),
            tool,
            baseline: None,
        });
    }

    // 4. start-up.
    for args in [vec!["--version"], vec!["list", "--help"]] {
        let mut tool = Figures::default();
        let dir = tempfile::tempdir().unwrap();
        let (_, rss, _) = run_tool(dir.path(), &args);
        for _ in 0..runs * 4 {
            let (wall, _, ok) = run_tool_with(dir.path(), &args, false);
            assert!(ok);
            tool.push(Run {
                wall,
                peak_rss_kb: rss,
                requests: 0,
                limit_errors: 0,
            });
        }
        rows.push(Row {
            met: tool.median_wall() < Duration::from_millis(5),
            goal: "< 5 ms".into(),
            scenario: format!("bx-events {}", args.join(" ")),
            tool,
            baseline: None,
        });
    }

    // 5. 100 sequential `bx-events bind` processes against one portal.
    let binds = 100 / scale;
    let portal = Portal::new();
    let started = Instant::now();
    let mut per_process = Figures::default();
    for i in 0..binds {
        let handler = format!("https://hooks.example.com/seq{i}");
        per_process.push(portal.measure(&["bind", "ONCRMDEALADD", &handler]));
    }
    let total = started.elapsed();
    // Arithmetic: the first (burst − 2) requests pass at once, the rest at 2 per second.
    let arithmetic = Duration::from_secs_f64(
        (binds as f64 - (STANDARD.burst - 2.0)).max(0.0) / STANDARD.per_second,
    );
    let mut tool = Figures::default();
    tool.push(Run {
        wall: total,
        peak_rss_kb: per_process.rss.iter().max().copied().unwrap_or(0),
        requests: per_process.requests.iter().sum(),
        limit_errors: per_process.limit_errors(),
    });
    let portal = Portal::new();
    let mut baseline = Figures::default();
    baseline.push(portal.measure_naive(|naive| {
        for i in 0..binds {
            naive.call("event.bind", json!({"event": "ONCRMDEALADD", "handler": format!("https://hooks.example.com/seq{i}")}));
        }
    }));
    let within = arithmetic.is_zero()
        || (total.as_secs_f64() - arithmetic.as_secs_f64()).abs() <= arithmetic.as_secs_f64() * 0.1;
    rows.push(Row {
        met: tool.limit_errors() == 0 && within,
        goal: format!("0 limit errors, within 10 % of {}", human(arithmetic)),
        scenario: format!("{binds} sequential `bind` processes"),
        tool,
        baseline: Some(baseline),
    });

    let table = render(&rows);
    println!("{table}");
    if !quick {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/benchmarks.md");
        // The micro-benchmark section is written by hand from `cargo bench --bench micro`; keep it.
        let kept = std::fs::read_to_string(&path)
            .ok()
            .and_then(|old| old.find(MICRO_HEADING).map(|at| old[at..].to_string()))
            .unwrap_or_default();
        std::fs::write(&path, document(&table) + "\n" + &kept).expect("docs/benchmarks.md written");
        eprintln!("wrote {}", path.display());
    }
}

fn render(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | requests | limit errors | wall time, median (min–max) | peak RSS | baseline requests | baseline limit errors | baseline wall | ratio (time, requests) | goal | met |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let (b_req, b_err, b_wall, ratio) = match &row.baseline {
            Some(b) => (
                b.requests().to_string(),
                b.limit_errors().to_string(),
                b.wall_text(),
                format!(
                    "{:.1}× the time, {:.1}× the requests",
                    b.median_wall().as_secs_f64() / row.tool.median_wall().as_secs_f64().max(1e-9),
                    b.requests() as f64 / row.tool.requests().max(1) as f64
                ),
            ),
            None => ("–".into(), "–".into(), "–".into(), "–".into()),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {b_req} | {b_err} | {b_wall} | {ratio} | {} | {} |\n",
            row.scenario,
            row.tool.requests(),
            row.tool.limit_errors(),
            row.tool.wall_text(),
            row.tool.rss_text(),
            row.goal,
            if row.met { "yes" } else { "**no**" }
        ));
    }
    out
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let kernel = Command::new("uname")
        .arg("-sr")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {kernel}")
}

const MICRO_HEADING: &str = "## Micro-benchmarks";

fn document(table: &str) -> String {
    format!(
        "# Benchmarks\n\nProduced by `make bench` on {} ({}), release build, against the in-process sandbox with the\n**standard** rate limit (50 burst, 2/s). Requests and limit errors are counted by the sandbox.\nThe baseline is a naive client: one request per operation, API defaults (offline `limit` 50,\ndestructive reads), no `batch`, and a one-second wait after each `QUERY_LIMIT_EXCEEDED`, as a\ncurl loop would do. Baselines take minutes, so they run once; the tool's figures are medians of\nseveral runs with min and max. Wall times of whole processes include the sandbox's own work.\nConfig directories (and with them the offline journal, synced before each confirmation) are on\n{}.\n\n{table}",
        chrono::Local::now().format("%Y-%m-%d"),
        machine(),
        common::filesystem_of(&std::env::temp_dir()),
    )
}
