//! `make bench`, third part: fleets. One sandbox process serves 10, 100 and 1,000
//! portals (each with the standard request limit); bx-events applies a
//! 20-subscription file to all of them, applies it again, and drains every
//! portal's queue, and a shell loop of one `apply -p NAME` per portal stands beside
//! it. Writes the "Fleets" section at the end of docs/benchmarks.md.
//! `BENCH_QUICK=1` stops at 100 portals and writes nothing.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bx_events::bitrix::RateLimit;
use bx_events::internal::Store;
use bx_events::sandbox::{SandboxOptions, SandboxThread};
use serde_json::json;

const HEADING: &str = "## Fleets";

/// Records queued per portal for the drain.
const RECORDS_PER_PORTAL: usize = 100;

/// Portals worked on at once by `apply` and `consume`.
const CONCURRENCY: &str = "32";

/// A fleet sandbox and a config directory holding one profile per portal.
struct Fleet {
    sandbox: SandboxThread,
    config: tempfile::TempDir,
}

impl Fleet {
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
        Self { sandbox, config }
    }

    fn bx(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bx-events"));
        command
            .env("BX_EVENTS_CONFIG_DIR", self.config.path())
            .env("CI", "1")
            .env_remove("BX_EVENTS_RATE_LIMIT")
            .env_remove("BX_EVENTS_STORE")
            .args(args);
        command
    }

    /// Requests and `QUERY_LIMIT_EXCEEDED` answers over every portal so far.
    fn counters(&self) -> (u64, u64) {
        self.sandbox.fleet.iter().fold((0, 0), |(r, q), member| {
            let stats = member.portal.stats();
            (r + stats.requests, q + stats.query_limit_exceeded)
        })
    }

    /// Runs a command under GNU time: wall, peak RSS (KiB), requests, limit errors.
    fn measure(&self, command: Command) -> (Duration, u64, u64, u64) {
        let (requests, limited) = self.counters();
        let (wall, rss, ok) = common::timed(command, common::gnu_time());
        assert!(ok, "a measured fleet run failed");
        let (after_requests, after_limited) = self.counters();
        (
            wall,
            rss,
            after_requests - requests,
            after_limited - limited,
        )
    }
}

/// The subscriptions file: 19 online handlers and one offline queue.
fn manifest(dir: &Path) -> String {
    let path = common::manifest(dir, 19);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("[[subscription]]\nevent = \"ONCRMDEALUPDATE\"\ntype = \"offline\"\n");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn human(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let sizes: &[usize] = if quick { &[10, 100] } else { &[10, 100, 1000] };
    let mut rows = String::new();
    for &portals in sizes {
        eprintln!("fleet of {portals} portals");
        let fleet = Fleet::new(portals);
        let file = manifest(fleet.config.path());
        let apply = [
            "apply",
            "--all-profiles",
            "-f",
            &file,
            "--concurrency",
            CONCURRENCY,
            "--yes",
            "-q",
        ];
        let (wall, rss, requests, limited) = fleet.measure(fleet.bx(&apply));
        let (again_wall, _, again_requests, again_limited) = fleet.measure(fleet.bx(&apply));
        // Beside it: what a vendor's script does without fleet support, one
        // process per portal (on a fresh fleet, so it has the same work to do).
        let looped = Fleet::new(portals);
        let looped_file = manifest(looped.config.path());
        let script = format!(
            "for p in $(seq 0 {}); do \"$BX\" -p p$p apply -f {looped_file} --yes -q || exit 1; done",
            portals - 1
        );
        let mut shell = Command::new("sh");
        shell
            .args(["-c", &script])
            .env("BX", env!("CARGO_BIN_EXE_bx-events"))
            .env("BX_EVENTS_CONFIG_DIR", looped.config.path())
            .env("CI", "1");
        let (loop_wall, _, loop_requests, loop_limited) = looped.measure(shell);
        drop(looped);
        // The drain: every portal's queue filled, then consumed in fair turns.
        for member in &fleet.sandbox.fleet {
            for n in 0..RECORDS_PER_PORTAL {
                member
                    .portal
                    .enqueue("ONCRMDEALUPDATE", &json!({"FIELDS": {"ID": n.to_string()}}));
            }
        }
        let consume = [
            "offline",
            "consume",
            "--all-profiles",
            "--stdout",
            "--concurrency",
            CONCURRENCY,
            "-q",
        ];
        let (drain_wall, drain_rss, drain_requests, drain_limited) =
            fleet.measure(fleet.bx(&consume));
        let left: usize = fleet
            .sandbox
            .fleet
            .iter()
            .map(|m| m.portal.offline_count())
            .sum();
        assert_eq!(left, 0, "the drain left records behind");
        let records = portals * RECORDS_PER_PORTAL;
        rows.push_str(&format!(
            "| {portals} | {}, {:.1} MB, {requests} req ({:.1}/portal), {limited} limit errors | {}, {again_requests} req, {again_limited} limit errors | {}, {loop_requests} req, {loop_limited} limit errors | {records} records: {}, {:.0} records/s, {:.1} MB, {drain_requests} req, {drain_limited} limit errors |\n",
            human(wall),
            rss as f64 / 1024.0,
            requests as f64 / portals as f64,
            human(again_wall),
            human(loop_wall),
            human(drain_wall),
            records as f64 / drain_wall.as_secs_f64(),
            drain_rss as f64 / 1024.0,
        ));
    }
    let section = format!(
        "{HEADING}\n\nOne sandbox process serves every portal, each on its own port with the standard limit (burst 50,\n2/s). `apply --all-profiles --concurrency {CONCURRENCY}` of a 20-subscription file (19 handlers, one offline queue);\nthe same again (nothing to change); beside it, a shell loop of one `bx-events -p NAME apply` per portal\non a fresh fleet; then `offline consume --all-profiles --stdout --concurrency {CONCURRENCY}` of {RECORDS_PER_PORTAL} records\nper portal. Wall time, peak RSS, requests over all portals, `QUERY_LIMIT_EXCEEDED` answers.\nMeasured by `make bench` (benches/fleet.rs) on this 2-core machine.\n\nCosts grow linearly with the portals: one process shares one HTTP client (one TLS set-up) between its\nportal clients and parses the credentials file once, not per request; a loop of processes pays the\nstart-up per portal. Requests stay at two per portal for an apply, one for a re-apply, and three for a\ndrain of one reservation (reserve, confirm, find the queue empty).\n\n| portals | apply --all-profiles | apply again | one process per portal | drain |\n|---|---|---|---|---|\n{rows}"
    );
    println!("{section}");
    if !quick {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/benchmarks.md");
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let kept = match old.find(HEADING) {
            Some(at) => old[..at].to_string(),
            None => old + "\n",
        };
        std::fs::write(&path, kept + &section).expect("docs/benchmarks.md written");
        eprintln!("wrote {}", path.display());
    }
}
