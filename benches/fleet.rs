//! `make bench`, third part: fleets. One sandbox process serves 10, 100 and 1,000
//! portals (each with the standard request limit); bx-events applies a
//! 20-subscription file to all of them, applies it again, and drains every
//! portal's queue, and a shell loop of one `apply -p NAME` per portal stands beside
//! it. Then the same apply and drain with the profiles in a PostgreSQL store
//! (`--store`, a private server this benchmark starts when PostgreSQL is
//! installed), beside the credentials file. Writes the "Fleets" section at the
//! end of docs/benchmarks.md. `BENCH_QUICK=1` stops at 100 portals and writes
//! nothing.

mod common;
// The private PostgreSQL server the store tests use; the benchmark needs only
// a database from it.
#[allow(dead_code)]
#[path = "../tests/it/postgres.rs"]
mod postgres;

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
    /// `--store URL` when the profiles live in a PostgreSQL store.
    store: Option<String>,
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
        Self {
            sandbox,
            config,
            store: None,
        }
    }

    /// The same fleet with its profiles copied into a new database of the
    /// store: every command then reads tokens and shares rate-limit buckets
    /// there.
    fn in_store(portals: usize, url: String) -> Self {
        let mut fleet = Self::new(portals);
        fleet.store = Some(url);
        let status = fleet
            .bx(&["store", "init", "--copy-profiles", "-q"])
            .status()
            .expect("store init runs");
        assert!(status.success(), "store init --copy-profiles failed");
        fleet
    }

    fn bx(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bx-events"));
        command
            .env("BX_EVENTS_CONFIG_DIR", self.config.path())
            .env("CI", "1")
            .env_remove("BX_EVENTS_RATE_LIMIT")
            .env_remove("BX_EVENTS_STORE");
        if let Some(url) = &self.store {
            command.args(["--store", url]);
        }
        command.args(args);
        command
    }

    /// Requests and `QUERY_LIMIT_EXCEEDED` answers over every portal so far.
    fn counters(&self) -> (u64, u64) {
        self.sandbox.fleet.iter().fold((0, 0), |(r, q), member| {
            let stats = member.portal.stats();
            (r + stats.requests, q + stats.query_limit_exceeded)
        })
    }

    /// Stops the sandbox and hands back the config directory, to be removed later.
    fn retire(self) -> tempfile::TempDir {
        drop(self.sandbox);
        self.config
    }

    /// Runs a command under GNU time: wall, peak RSS, CPU, requests, limit errors.
    fn measure(&self, command: Command) -> Run {
        let (requests, limited) = self.counters();
        let run = common::measured(command, common::gnu_time());
        assert!(run.ok, "a measured fleet run failed");
        let (after_requests, after_limited) = self.counters();
        Run {
            wall: run.wall,
            cpu: run.cpu,
            rss_mb: run.rss_kib as f64 / 1024.0,
            requests: after_requests - requests,
            limited: after_limited - limited,
        }
    }

    /// The median wall time of a one-portal command (`list -p p0`, one request)
    /// in this fleet's config directory, over `runs` runs.
    fn one_profile_command(&self, runs: usize) -> Duration {
        let mut walls: Vec<Duration> = (0..runs)
            .map(|_| {
                let run = common::measured(self.bx(&["-p", "p0", "list", "-o", "json"]), false);
                assert!(run.ok, "list -p p0 failed");
                run.wall
            })
            .collect();
        walls.sort();
        walls[runs / 2]
    }
}

/// One measured whole-process run over a fleet.
#[derive(Clone, Copy)]
struct Run {
    wall: Duration,
    cpu: Duration,
    rss_mb: f64,
    requests: u64,
    limited: u64,
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

/// One fleet's apply, re-apply and drain.
struct Runs {
    apply: Run,
    again: Run,
    drain: Run,
}

fn apply_args(file: &str) -> Vec<String> {
    [
        "apply",
        "--all-profiles",
        "-f",
        file,
        "--concurrency",
        CONCURRENCY,
        "--yes",
        "-q",
    ]
    .map(String::from)
    .to_vec()
}

impl Fleet {
    fn run_all(&self) -> Runs {
        let file = manifest(self.config.path());
        let apply = apply_args(&file);
        let apply: Vec<&str> = apply.iter().map(String::as_str).collect();
        let first = self.measure(self.bx(&apply));
        let again = self.measure(self.bx(&apply));
        // The drain: every portal's queue filled, then consumed in fair turns.
        for member in &self.sandbox.fleet {
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
        let drain = self.measure(self.bx(&consume));
        let left: usize = self
            .sandbox
            .fleet
            .iter()
            .map(|m| m.portal.offline_count())
            .sum();
        assert_eq!(left, 0, "the drain left records behind");
        Runs {
            apply: first,
            again,
            drain,
        }
    }
}

/// Whether PostgreSQL's server binaries are here (or a server is named), so
/// the store half can run.
fn postgres_available() -> bool {
    std::env::var_os("BX_EVENTS_TEST_POSTGRES").is_some()
        || Command::new("pg_config").arg("--bindir").output().is_ok()
        || std::fs::read_dir("/usr/lib/postgresql").is_ok_and(|mut d| d.next().is_some())
}

/// Fleets larger than this skip the loop of one process per portal (about
/// 50 ms each: 8 minutes at 10,000) and the PostgreSQL store.
const LARGEST_LOOPED: usize = 1000;

/// Runs of the one-profile command whose median is published.
const ONE_PROFILE_RUNS: usize = 15;

fn per_portal(run: &Run, portals: usize) -> (f64, f64) {
    (
        run.wall.as_secs_f64() / portals as f64,
        run.cpu.as_secs_f64() / portals as f64,
    )
}

fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let sizes: &[usize] = if quick {
        &[10, 100]
    } else {
        &[10, 100, 1000, 5000, 10000]
    };
    let with_store = postgres_available();
    if !with_store {
        eprintln!(
            "PostgreSQL is not installed: the store half is skipped (apt-get install postgresql)"
        );
    }
    let mut rows = String::new();
    let mut store_rows = String::new();
    let mut one_profile_rows = String::new();
    let mut measured: Vec<(usize, Runs)> = Vec::new();
    // Config directories are removed only at the end: a fleet's first apply
    // creates a rate-limit state file per portal, and on ext4 creating files
    // right after tens of thousands were deleted costs far more (the inode
    // allocator passes over recently deleted inodes), which would charge one
    // fleet for the clean-up of the one before.
    let mut kept = Vec::new();
    // A one-profile command with nothing else stored, the reference for the
    // same command in the fleets' stores.
    let alone = Fleet::new(1).one_profile_command(ONE_PROFILE_RUNS);
    one_profile_rows.push_str(&format!("| 1 | {} | 1.00× |\n", human(alone)));
    for &portals in sizes {
        eprintln!("fleet of {portals} portals");
        let fleet = Fleet::new(portals);
        let files = fleet.run_all();
        let one = fleet.one_profile_command(ONE_PROFILE_RUNS);
        one_profile_rows.push_str(&format!(
            "| {portals} | {} | {:.2}× |\n",
            human(one),
            one.as_secs_f64() / alone.as_secs_f64()
        ));
        kept.push(fleet.retire());
        // Beside it: what a vendor's script does without fleet support, one
        // process per portal (on a fresh fleet, so it has the same work to do).
        let looped = if portals <= LARGEST_LOOPED {
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
            let run = looped.measure(shell);
            kept.push(looped.retire());
            format!(
                "{}, {} req, {} limit errors",
                human(run.wall),
                run.requests,
                run.limited
            )
        } else {
            "–".to_string()
        };
        let (apply, again, drain) = (files.apply, files.again, files.drain);
        let records = portals * RECORDS_PER_PORTAL;
        rows.push_str(&format!(
            "| {portals} | {} (CPU {}), {:.1} MB, {} req ({:.1}/portal), {} limit errors | {} (CPU {}), {} req, {} limit errors | {looped} | {records} records: {} (CPU {}), {:.0} records/s, {:.1} MB, {} req, {} limit errors |\n",
            human(apply.wall),
            human(apply.cpu),
            apply.rss_mb,
            apply.requests,
            apply.requests as f64 / portals as f64,
            apply.limited,
            human(again.wall),
            human(again.cpu),
            again.requests,
            again.limited,
            human(drain.wall),
            human(drain.cpu),
            records as f64 / drain.wall.as_secs_f64(),
            drain.rss_mb,
            drain.requests,
            drain.limited,
        ));
        if with_store && portals <= LARGEST_LOOPED {
            eprintln!("fleet of {portals} portals through the PostgreSQL store");
            let fleet = Fleet::in_store(portals, postgres::database());
            let store = fleet.run_all();
            kept.push(fleet.retire());
            let ratio = |stored: Duration, filed: Duration| {
                stored.as_secs_f64() / filed.as_secs_f64().max(1e-9)
            };
            store_rows.push_str(&format!(
                "| {portals} | {} ({:.2}× files), {:.1} MB, {} req, {} limit errors | {} ({:.2}×), {} req | {} ({:.2}×), {:.0} records/s, {} req, {} limit errors |\n",
                human(store.apply.wall),
                ratio(store.apply.wall, apply.wall),
                store.apply.rss_mb,
                store.apply.requests,
                store.apply.limited,
                human(store.again.wall),
                ratio(store.again.wall, again.wall),
                store.again.requests,
                human(store.drain.wall),
                ratio(store.drain.wall, drain.wall),
                records as f64 / store.drain.wall.as_secs_f64(),
                store.drain.requests,
                store.drain.limited,
            ));
        }
        measured.push((portals, files));
    }
    // Growth per portal from 1,000 portals to each larger fleet: 1.00× is
    // exactly proportional.
    let mut growth = String::new();
    if let Some((base_portals, base)) = measured.iter().find(|(p, _)| *p == 1000) {
        for (portals, runs) in measured.iter().filter(|(p, _)| p > base_portals) {
            let cell = |of: fn(&Runs) -> &Run| {
                let (wall, cpu) = per_portal(of(runs), *portals);
                let (base_wall, base_cpu) = per_portal(of(base), *base_portals);
                format!("{:.2}× / {:.2}×", wall / base_wall, cpu / base_cpu)
            };
            growth.push_str(&format!(
                "| {base_portals} → {portals} | {} | {} | {} |\n",
                cell(|r| &r.apply),
                cell(|r| &r.again),
                cell(|r| &r.drain),
            ));
        }
    }
    let growth_section = if growth.is_empty() {
        String::new()
    } else {
        format!(
            "\nWall time and CPU per portal against the 1,000-portal fleet (1.00× is exactly proportional):\n\n| portals | apply (wall / CPU) | apply again | drain |\n|---|---|---|---|\n{growth}"
        )
    };
    let store_section = if with_store {
        format!(
            "\n### Through the PostgreSQL store\n\nThe same apply, re-apply and drain with every profile in a PostgreSQL store (`--store`; a private\nPostgreSQL server on this machine, started by the benchmark), against the credentials file above: each\nrequest shares its portal's rate-limit bucket through the store (one compare-and-set statement), and\nthe fleet reads every portal's secrets in one query when it starts. The drain keeps its journal in the store.\n\n| portals | apply --all-profiles | apply again | drain |\n|---|---|---|---|\n{store_rows}"
        )
    } else {
        String::new()
    };
    let section = format!(
        "{HEADING}\n\nOne sandbox process serves every portal, each on its own port with the standard limit (burst 50,\n2/s). `apply --all-profiles --concurrency {CONCURRENCY}` of a 20-subscription file (19 handlers, one offline queue);\nthe same again (nothing to change); beside it (up to {LARGEST_LOOPED} portals), a shell loop of one `bx-events -p NAME apply` per portal\non a fresh fleet; then `offline consume --all-profiles --stdout --concurrency {CONCURRENCY}` of {RECORDS_PER_PORTAL} records\nper portal. Wall time, CPU time of the bx-events process (user + system; the sandbox runs in the benchmark's own process),\npeak RSS, requests over all portals, `QUERY_LIMIT_EXCEEDED` answers. The config directory is on {}.\nMeasured by `make bench` (benches/fleet.rs) on this 2-core machine.\n\nWhat keeps the cost per portal flat: one process shares one HTTP client (one TLS set-up) between its\nportal clients, reads each profile's own table of `config.toml` and `credentials.toml` (docs/credentials.md)\nand keeps what it read while the file is unchanged; a loop of processes pays the\nstart-up per portal. Requests stay at two per portal for an apply, one for a re-apply, and three for a\ndrain of one reservation (reserve, confirm, find the queue empty). How flat it stays is the growth\ntable under the first one; at 5,000 and 10,000 portals it varies from run to run on this machine.\n\n| portals | apply --all-profiles | apply again | one process per portal | drain |\n|---|---|---|---|---|\n{rows}{growth_section}\n### One command in a large store\n\n`bx-events -p p0 list -o json` (one request) with the config directory holding N profiles: median wall time of\n{ONE_PROFILE_RUNS} runs, against the same command with one profile stored.\n\n| profiles stored | wall | against one profile |\n|---|---|---|\n{one_profile_rows}{store_section}",
        common::filesystem_of(std::env::temp_dir().as_path()),
    );
    println!("{section}");
    if !quick {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/benchmarks.md");
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let kept = match old.find(HEADING) {
            Some(at) => old[..at].to_string(),
            None => old.clone() + "\n",
        };
        // The notification section (benches/notify.rs) follows this one: keep it.
        let after = old
            .find("## Woken by the portal")
            .map(|at| format!("\n{}", &old[at..]))
            .unwrap_or_default();
        std::fs::write(&path, kept + &section + &after).expect("docs/benchmarks.md written");
        eprintln!("wrote {}", path.display());
    }
}
