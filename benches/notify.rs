//! `make bench`, fourth part: a consumer woken by the portal's ONOFFLINEEVENT
//! notifications (`--notify-listen`) against one that polls (the default
//! `--poll-interval` of 5 s, backing off to 8x while idle), for one portal and
//! for 1,000. Six consumers run side by side through one window, each against
//! its own sandbox (the standard request limit): two idle single portals and
//! two idle fleets for the requests an idle portal costs, and two single
//! portals into which a change is fired now and then for the latency from
//! `sandbox fire` to the record on the consumer's stdout (in the fleets, the
//! portals fired into are left out of the idle count). Writes the "Woken by the
//! portal" section at the end of docs/benchmarks.md. `BENCH_QUICK=1` uses 100
//! portals and a one-minute window and writes nothing.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bx_events::bitrix::RateLimit;
use bx_events::internal::Store;
use bx_events::sandbox::{PortalHandle, SandboxOptions, SandboxThread};

const HEADING: &str = "## Woken by the portal";

/// A sandbox of `portals` portals, a config directory with one profile per
/// portal (each with its application token), and an offline binding on each.
struct Setup {
    sandbox: SandboxThread,
    config: tempfile::TempDir,
}

impl Setup {
    fn new(portals: usize) -> Self {
        let sandbox = SandboxThread::spawn(SandboxOptions {
            portals,
            rate_limit: Some(RateLimit::STANDARD),
            ..SandboxOptions::default()
        })
        .expect("sandbox");
        let config = tempfile::tempdir().expect("temp dir");
        Store::new(config.path())
            .update(|config, credentials| {
                for (index, member) in sandbox.fleet.iter().enumerate() {
                    let (settings, secrets) =
                        bx_events::internal::sandbox_profile(&member.credentials);
                    config.profiles.insert(format!("p{index}"), settings);
                    credentials.profiles.insert(format!("p{index}"), secrets);
                }
                Ok(())
            })
            .expect("profiles saved");
        let setup = Self { sandbox, config };
        let manifest = setup.config.path().join("offline.toml");
        std::fs::write(
            &manifest,
            "[[subscription]]\nevent = \"ONCRMDEALADD\"\ntype = \"offline\"\n",
        )
        .expect("manifest written");
        let manifest = manifest.to_string_lossy().into_owned();
        let bound = setup
            .bx(&["apply", "-f", &manifest, "--all-profiles", "--yes", "-q"])
            .stdout(Stdio::null())
            .status()
            .expect("apply runs");
        assert!(bound.success(), "binding the offline queues failed");
        setup
    }

    fn bx(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bx-events"));
        command
            .env("BX_EVENTS_CONFIG_DIR", self.config.path())
            .env("CI", "1")
            .env_remove("BX_EVENTS_RATE_LIMIT")
            .env_remove("BX_EVENTS_STORE")
            .env_remove("BX_EVENTS_APPLICATION_TOKEN")
            .args(args);
        command
    }

    fn portals(&self) -> &[bx_events::sandbox::FleetMember] {
        &self.sandbox.fleet
    }

    /// Requests so far to the portals not in `except`.
    fn requests(&self, except: &[usize]) -> u64 {
        self.portals()
            .iter()
            .enumerate()
            .filter(|(index, _)| !except.contains(index))
            .map(|(_, member)| member.portal.stats().requests)
            .sum()
    }
}

/// A `consume --follow --stdout` child, and a thread that stamps each record
/// it prints with the time it arrived, keyed by `FIELDS.ID`.
struct Consumer {
    child: Child,
    arrivals: mpsc::Receiver<(String, Instant)>,
}

impl Consumer {
    fn start(setup: &Setup, notified: bool) -> Self {
        let mut args = vec!["offline", "consume", "--follow", "--stdout"];
        if setup.portals().len() > 1 {
            args.push("--all-profiles");
        } else {
            args.extend(["-p", "p0"]);
        }
        if notified {
            args.extend(["--notify-listen", "127.0.0.1:0"]);
        }
        let mut child = setup
            .bx(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("consume starts");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || for _ in stderr.lines() {});
        let (arrived, arrivals) = mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let at = Instant::now();
                let record: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                let id = record["data"]["FIELDS"]["ID"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if arrived.send((id, at)).is_err() {
                    break;
                }
            }
        });
        Self { child, arrivals }
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn gets(portal: &PortalHandle) -> u64 {
    portal
        .stats()
        .methods
        .get("event.offline.get")
        .copied()
        .unwrap_or(0)
}

/// A change on one portal (the record's `FIELDS.ID` names the sample).
fn fire(portal: &PortalHandle, id: &str) -> Instant {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let at = Instant::now();
    runtime.block_on(portal.fire("ONCRMDEALADD", &serde_json::json!({"FIELDS": {"ID": id}})));
    at
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn show(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let fleet_size = if quick { 100 } else { 1_000 };
    let window = Duration::from_secs(if quick { 60 } else { 600 });
    // Settling: every consumer has made its first pass (and the notified
    // fleet its bindings) before the window opens.
    let settle = Duration::from_secs(20);
    let samples = if quick { 2 } else { 6 };

    let idle_poll = Setup::new(1);
    let idle_notify = Setup::new(1);
    let fleet_poll = Setup::new(fleet_size);
    let fleet_notify = Setup::new(fleet_size);
    let latency_poll = Setup::new(1);
    let latency_notify = Setup::new(1);
    let setups = [
        &idle_poll,
        &idle_notify,
        &fleet_poll,
        &fleet_notify,
        &latency_poll,
        &latency_notify,
    ];
    let consumers: Vec<Consumer> = setups
        .iter()
        .enumerate()
        .map(|(index, setup)| Consumer::start(setup, index % 2 == 1))
        .collect();
    // Started: every portal's queue was looked at once.
    let started = Instant::now();
    for setup in setups {
        while !setup.portals().iter().all(|m| gets(&m.portal) >= 1) {
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "a consumer never looked at every queue"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    std::thread::sleep(settle);
    // The fleets' portals fired into: left out of their idle counts.
    let fired_in_fleet: Vec<usize> = (0..samples).collect();
    let idle_only = |setup: &Setup| -> &[usize] {
        if setup.portals().len() > 1 {
            &fired_in_fleet
        } else {
            &[]
        }
    };
    let before: Vec<u64> = setups
        .iter()
        .map(|setup| setup.requests(idle_only(setup)))
        .collect();
    let opened = Instant::now();
    // Changes at evenly spread moments of the window: one per sample into
    // each latency portal and into one portal of each fleet.
    let mut fired: HashMap<(usize, String), Instant> = HashMap::new();
    let spacing = window / (samples as u32 + 1);
    for sample in 0..samples {
        let due = opened + spacing * (sample as u32 + 1);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let id = format!("s{sample}");
        for &(consumer, portal) in &[(2usize, sample), (3, sample), (4, 0), (5, 0)] {
            let member = &setups[consumer].portals()[portal];
            fired.insert((consumer, id.clone()), fire(&member.portal, &id));
        }
    }
    std::thread::sleep((opened + window).saturating_duration_since(Instant::now()));
    let measured_for = opened.elapsed();
    let after: Vec<u64> = setups
        .iter()
        .map(|setup| setup.requests(idle_only(setup)))
        .collect();
    // The last sample may still be on its way to a polling consumer.
    let mut latencies: HashMap<usize, Vec<Duration>> = HashMap::new();
    for (index, consumer) in consumers.iter().enumerate().skip(2) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut got = Vec::new();
        while got.len() < samples {
            let Ok((id, at)) = consumer
                .arrivals
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            else {
                break;
            };
            if let Some(sent) = fired.get(&(index, id)) {
                got.push(at.duration_since(*sent));
            }
        }
        assert_eq!(
            got.len(),
            samples,
            "consumer {index} delivered every sample"
        );
        latencies.insert(index, got);
    }
    for consumer in consumers {
        consumer.stop();
    }

    let hours = measured_for.as_secs_f64() / 3600.0;
    let per_portal_hour = |index: usize, portals: usize| {
        (after[index] - before[index]) as f64 / portals as f64 / hours
    };
    let idle_fleet = fleet_size - samples;
    let mut rows = String::new();
    for (label, polled, notified) in [
        ("1 portal", per_portal_hour(0, 1), per_portal_hour(1, 1)),
        (
            &*format!("{fleet_size} portals"),
            per_portal_hour(2, idle_fleet),
            per_portal_hour(3, idle_fleet),
        ),
    ] {
        rows.push_str(&format!("| {label} | {polled:.1} | {notified:.1} |\n"));
    }
    let mut latency_rows = String::new();
    for (label, polled, notified) in [
        ("1 portal", 4, 5),
        (&*format!("{fleet_size} portals"), 2, 3),
    ] {
        let mut polled = latencies[&polled].clone();
        let mut notified = latencies[&notified].clone();
        let worst = |values: &[Duration]| values.iter().max().copied().unwrap_or_default();
        latency_rows.push_str(&format!(
            "| {label} | {} (worst {}) | {} (worst {}) |\n",
            show(median(&mut polled)),
            show(worst(&polled)),
            show(median(&mut notified)),
            show(worst(&notified)),
        ));
    }
    let section = format!(
        "{HEADING}\n\n`offline consume --follow --stdout` polling (`--poll-interval` 5 s, the default, backing off to 8x\nwhile idle) against the same woken by the portal's ONOFFLINEEVENT (`--notify-listen`; safety poll every\n300 s, the default), for one portal and for a fleet (`--all-profiles`). Six consumers ran side by side for\n{:.0} s, each against its own sandbox (standard limit), after {} s to settle. Requests per idle portal-hour:\nevery request to the portals of an idle consumer over the window, per portal, scaled to an hour (in the\nfleets, the {samples} portals fired into are left out). Latency: {samples} changes fired at evenly spread moments\ninto a quiet portal (`sandbox fire` to the record on the consumer's stdout); median and worst.\nMeasured by `make bench` (benches/notify.rs) on this 2-core machine.\n\n| requests per idle portal-hour | polling | woken by the portal |\n|---|---|---|\n{rows}\n| latency, fire to delivery | polling | woken by the portal |\n|---|---|---|\n{latency_rows}\nWith notifications an idle portal costs its safety polls alone (3600 / 300 = 12 an hour; a window\nshorter than two safety intervals catches fewer), and a record arrives within the notification's round trip\nplus the drain's; polling's latency is wherever the change falls in its backed-off interval (up to 40 s).\n",
        measured_for.as_secs_f64(),
        settle.as_secs(),
    );
    println!("{section}");
    if !quick {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/benchmarks.md");
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let kept = match old.find(HEADING) {
            Some(at) => old[..at].to_string(),
            None => old.trim_end().to_string() + "\n\n",
        };
        // The publishing section (benches/publish.rs) follows this one: keep it.
        let after = old
            .find("## Publishing")
            .map(|at| format!("\n{}", &old[at..]))
            .unwrap_or_default();
        std::fs::write(&path, kept + &section + &after).expect("docs/benchmarks.md written");
        eprintln!("wrote {}", path.display());
    }
}
