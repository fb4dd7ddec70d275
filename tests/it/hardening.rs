//! The last ways to lose records, tokens or the receiver: each test forces its
//! race or fault (a lost answer, a reader that takes everything and exits, a
//! terminated database connection, a damaged or rewritten store row, hostile
//! senders beside an honest one). docs/reliability.md names them.

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{bare_cmd, http_request, run, TestEnv};
use crate::postgres::{database, psql};
use bx_events::config::env;
use bx_events::sandbox::{Fault, FaultKind, SandboxOptions, SandboxThread};
use serde_json::{json, Value};

/// The binary as a plain process, with `env`'s config directory.
fn process(config_dir: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("bx-events"));
    for (name, _) in env::ALL {
        cmd.env_remove(name);
    }
    cmd.env_remove(env::TEST_FAILPOINT)
        .env("NO_COLOR", "1")
        .env(env::CONFIG_DIR, config_dir);
    cmd
}

/// Waits (bounded) until `done` holds; false when the deadline passed.
fn eventually(seconds: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

fn queued(count: usize) -> TestEnv {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    for n in 1..=count {
        env.sandbox
            .portal
            .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": n.to_string()}}));
    }
    env
}

fn ids_in(path: &std::path::Path) -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|record| record["id"].as_u64())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[test]
fn follow_adopts_the_reservation_whose_get_answer_was_lost() {
    let env = queued(5);
    // The portal reserves the records and the answer never arrives.
    env.sandbox.portal.inject(Fault {
        kind: FaultKind::LoseAnswer,
        count: 1,
        method: Some("event.offline.get".into()),
        delay_ms: None,
    });
    let out = env.config_dir().join("out.jsonl");
    let mut consumer = process(&env.config_dir())
        .args([
            "offline",
            "consume",
            "--follow",
            "--stdout",
            "--poll-interval",
            "0.2",
        ])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drained = eventually(60, || env.sandbox.portal.offline_count() == 0);
    let _ = consumer.kill();
    let _ = consumer.wait();
    let mut stderr = String::new();
    let _ = consumer.stderr.take().unwrap().read_to_string(&mut stderr);
    assert!(
        drained,
        "the lost reservation was adopted and confirmed: {stderr}"
    );
    assert_eq!(ids_in(&out).len(), 5, "every record delivered: {stderr}");
}

#[test]
fn a_reader_that_takes_every_line_in_one_read_and_exits_confirms_nothing() {
    let env = queued(20);
    let bin = assert_cmd::cargo::cargo_bin("bx-events");
    // The reader takes the whole reservation with one read() and exits at once,
    // leaving an empty pipe behind: the lines it read were not used.
    let pipeline = format!(
        "'{}' offline consume --stdout | python3 -c 'import os; os.read(0, 1 << 20); os._exit(0)'",
        bin.display()
    );
    let mut shell = std::process::Command::new("bash");
    for (name, _) in env::ALL {
        shell.env_remove(name);
    }
    shell
        .env(env::CONFIG_DIR, env.config_dir())
        .args(["-c", &pipeline]);
    let output = shell.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        env.sandbox.portal.offline_count(),
        20,
        "nothing was confirmed: {stderr}"
    );
    // A reader that reads everything keeps it all: the next run delivers all 20.
    let (code, stdout, stderr) = run(env.cmd().args(["offline", "consume", "--stdout"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 20);
    assert_eq!(env.sandbox.portal.offline_count(), 0);
}

/// A running `listen` whose stdout is kept as a raw pipe.
fn listen(args: &[&str]) -> (std::process::Child, String) {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut child = process(&dir)
        .args(["listen", "--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = crate::common::listening_url(child.stderr.take().unwrap());
    (child, url)
}

#[test]
fn a_line_feed_in_an_event_name_cannot_forge_a_line() {
    let (mut child, url) = listen(&[]);
    let forged = "ONX\n12:00:00  ONCRMDEALADD  id=7405  accepted";
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("event", forged)
        .finish();
    let (status, _, _) = http_request(
        "POST",
        &url,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    assert_eq!(status, 200);
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.contains("ONX\\n12:00:00"),
        "escaped in place: {line:?}"
    );
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    assert!(!rest.contains("id=7405"), "no forged line: {rest:?}");
}

#[test]
fn listen_stops_accepting_once_its_reader_is_gone() {
    let (mut child, url) = listen(&["-o", "ndjson"]);
    let post = |id: &str| {
        http_request(
            "POST",
            &url,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            format!("event=ONCRMDEALADD&data[FIELDS][ID]={id}").as_bytes(),
        )
        .0
    };
    assert_eq!(post("1"), 200);
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert!(line.contains("ONCRMDEALADD"));
    drop(stdout); // `| head -1` exits.
                  // The next sender is told the event was not taken, and listen ends.
    assert_eq!(post("2"), 503, "refused, not printed nowhere");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    let mut stderr = String::new();
    let _ = child
        .stderr
        .take()
        .map(|mut e| e.read_to_string(&mut stderr));
}

#[test]
fn slow_bodies_do_not_hold_up_an_honest_delivery() {
    let (mut child, url) = listen(&["-o", "ndjson"]);
    let address = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    // 600 senders promise a body and send one byte of it.
    let mut slow = Vec::new();
    for _ in 0..600 {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream
            .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ne")
            .unwrap();
        slow.push(stream);
    }
    let started = Instant::now();
    let (status, _, _) = http_request(
        "POST",
        &url,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"event=ONCRMDEALADD&data[FIELDS][ID]=1",
    );
    let took = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200);
    assert!(
        took < Duration::from_secs(5),
        "answered beside 600 slow senders, in {took:?}"
    );
    drop(slow);
}

/// A machine of the shared store: its own config directory.
fn machine(
    store: &str,
    key: Option<&str>,
) -> (tempfile::TempDir, impl Fn() -> assert_cmd::Command) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let (store, key) = (store.to_string(), key.map(str::to_string));
    (dir, move || {
        let mut cmd = bare_cmd();
        cmd.env(env::CONFIG_DIR, &config).env(env::STORE, &store);
        if let Some(key) = &key {
            cmd.env(env::STORE_KEY, key);
        }
        cmd
    })
}

fn import(cmd: &dyn Fn() -> assert_cmd::Command, sandbox: &SandboxThread, dir: &std::path::Path) {
    let lines: Vec<String> = sandbox
        .fleet
        .iter()
        .enumerate()
        .map(|(index, member)| {
            let creds = &member.credentials;
            json!({
                "profile": format!("p{}", index + 1),
                "access_token": creds.access_token.expose(),
                "refresh_token": creds.refresh_token.expose(),
                "expires_in": 3600,
                "client_endpoint": format!("{}/rest/", creds.portal),
                "server_endpoint": format!("{}/rest/", creds.oauth_server),
                "member_id": creds.member_id,
                "application_token": creds.application_token.expose(),
                "client_id": creds.client_id,
                "client_secret": creds.client_secret.expose(),
            })
            .to_string()
        })
        .collect();
    let file = dir.join("installs.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let (code, _, stderr) = run(cmd().arg("auth").arg("import").arg(&file));
    assert_eq!(code, 0, "{stderr}");
}

fn fleet(portals: usize, rate_limited: bool) -> SandboxThread {
    let defaults = SandboxOptions::default();
    SandboxThread::spawn(SandboxOptions {
        portals,
        rate_limit: if rate_limited {
            defaults.rate_limit
        } else {
            None
        },
        ..defaults
    })
    .unwrap()
}

#[test]
fn a_terminated_store_connection_is_replaced_and_the_consumer_goes_on() {
    let store = database();
    let sandbox = fleet(1, false);
    let (dir, cmd) = machine(&store, None);
    import(&cmd, &sandbox, dir.path());
    let (code, _, stderr) = run(cmd().args(["-p", "p1", "bind", "ONCRMDEALADD", "--offline"]));
    assert_eq!(code, 0, "{stderr}");
    let portal = &sandbox.fleet[0].portal;
    let enqueue = |from: usize| {
        for n in from..from + 5 {
            portal.enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": n.to_string()}}));
        }
    };
    enqueue(1);
    let out = dir.path().join("out.jsonl");
    let mut consumer = process(&dir.path().join("config"))
        .env(env::STORE, &store)
        .args([
            "-p",
            "p1",
            "offline",
            "consume",
            "--follow",
            "--stdout",
            "--poll-interval",
            "0.2",
        ])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        eventually(60, || ids_in(&out).len() == 5),
        "first five delivered"
    );
    // Every connection of this database is terminated (the consumer's shared
    // connection and its journal's, whose lock goes with it).
    let db = store.rsplit('/').next().unwrap();
    psql(
        &store,
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"),
    );
    enqueue(6);
    let delivered = eventually(60, || {
        ids_in(&out).len() == 10 && portal.offline_count() == 0
    });
    let _ = consumer.kill();
    let _ = consumer.wait();
    let mut stderr = String::new();
    let _ = consumer.stderr.take().unwrap().read_to_string(&mut stderr);
    assert!(
        delivered,
        "the records after the fault were delivered: {stderr}"
    );
    assert!(stderr.contains("reconnecting"), "said once: {stderr}");
}

#[test]
fn a_fleet_consumes_through_the_store_four_portals_at_once_to_the_end() {
    const PORTALS: usize = 8;
    const RECORDS: usize = 50;
    let store = database();
    let sandbox = fleet(PORTALS, true);
    let (dir, cmd) = machine(&store, None);
    import(&cmd, &sandbox, dir.path());
    for (index, member) in sandbox.fleet.iter().enumerate() {
        let name = format!("p{}", index + 1);
        let (code, _, stderr) = run(cmd().args(["-p", &name, "bind", "ONCRMDEALADD", "--offline"]));
        assert_eq!(code, 0, "{stderr}");
        for n in 0..RECORDS {
            member
                .portal
                .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": n.to_string()}}));
        }
    }
    let out = dir.path().join("out.jsonl");
    let mut consumer = process(&dir.path().join("config"))
        .env(env::STORE, &store)
        .args(["offline", "consume", "--all-profiles", "--stdout", "-q"])
        .args(["--limit", "10", "--concurrency", "4"])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let finished = eventually(120, || matches!(consumer.try_wait(), Ok(Some(_))));
    if !finished {
        let _ = consumer.kill();
    }
    let status = consumer.wait().unwrap();
    let mut stderr = String::new();
    let _ = consumer.stderr.take().unwrap().read_to_string(&mut stderr);
    assert!(finished, "the fleet run ended by itself: {stderr}");
    assert!(status.success(), "{stderr}");
    let lines = std::fs::read_to_string(&out).unwrap().lines().count();
    assert_eq!(lines, PORTALS * RECORDS);
    for member in &sandbox.fleet {
        assert_eq!(member.portal.offline_count(), 0);
    }
}

#[test]
fn one_damaged_row_is_its_profiles_failure_alone() {
    let store = database();
    let sandbox = fleet(2, false);
    let key = "5a".repeat(32);
    let (dir, cmd) = machine(&store, Some(&key));
    import(&cmd, &sandbox, dir.path());
    psql(
        &store,
        "UPDATE bx_events_profiles SET secrets = 'sealed2:00ff' WHERE name = 'p1'",
    );
    let (code, _, stderr) = run(cmd().args(["-p", "p2", "list"]));
    assert_eq!(code, 0, "the other profile works: {stderr}");
    // Writes go on too: switching the current profile rewrites the store.
    let (code, _, stderr) = run(cmd().args(["auth", "switch", "p2"]));
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run(cmd().args(["-p", "p1", "list", "-o", "json"]));
    assert_eq!(code, 4, "{stderr}");
    let error = crate::common::json_error(&stderr);
    assert_eq!(error["code"], "STORE_ROW_DAMAGED");
    assert!(
        !error["hint"].as_str().unwrap().contains("create tables"),
        "{stderr}"
    );
}

#[test]
fn settings_rewritten_without_the_key_send_no_secret_anywhere() {
    let store = database();
    let sandbox = fleet(1, false);
    let key = "6b".repeat(32);
    let (dir, cmd) = machine(&store, Some(&key));
    import(&cmd, &sandbox, dir.path());
    // An attacker who can write the table but has no key points the profile at
    // his collector.
    let (collector, received) = crate::common::recorder(|_| 200);
    let settings = psql(
        &store,
        "SELECT settings FROM bx_events_profiles WHERE name = 'p1'",
    );
    let mut rewritten: Value = serde_json::from_str(&settings).unwrap();
    rewritten["portal"] = json!(collector.trim_end_matches('/'));
    rewritten["oauth_server"] = json!(collector.trim_end_matches('/'));
    psql(
        &store,
        &format!(
            "UPDATE bx_events_profiles SET settings = '{}' WHERE name = 'p1'",
            rewritten
        ),
    );
    let (code, _, stderr) = run(cmd().args(["-p", "p1", "list"]));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("without the key"), "{stderr}");
    assert!(
        received.lock().unwrap().is_empty(),
        "nothing reached the collector"
    );
    // Plain secrets beside a key are refused too.
    let plain = json!({"access_token": "planted-token-1234"}).to_string();
    psql(
        &store,
        &format!("UPDATE bx_events_profiles SET settings = '{settings}', secrets = '{plain}' WHERE name = 'p1'"),
    );
    let (code, _, stderr) = run(cmd().args(["-p", "p1", "list"]));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("unsealed"), "{stderr}");
}
