//! The shared store on a real PostgreSQL server (`--store postgres://`): several
//! config directories stand for several machines of one fleet.

use std::process::Stdio;

use crate::common::{bare_cmd, bare_process, eventually, record_ids, run, stop};
use crate::postgres::{database, psql, RestartableServer};
use bx_events::internal::env;
use bx_events::sandbox::{Fault, FaultKind, SandboxOptions, SandboxThread};
use serde_json::{json, Value};

/// A machine: its own config directory, the shared store's URL.
struct Machine {
    dir: tempfile::TempDir,
    store: String,
    key: Option<String>,
}

impl Machine {
    fn new(store: &str) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            store: store.to_string(),
            key: None,
        }
    }

    fn with_key(store: &str, key: &str) -> Self {
        Self {
            key: Some(key.to_string()),
            ..Self::new(store)
        }
    }

    fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = bare_cmd();
        cmd.env(env::CONFIG_DIR, self.dir.path().join("config"))
            .env(env::STORE, &self.store)
            .env_remove(env::STORE_KEY);
        if let Some(key) = &self.key {
            cmd.env(env::STORE_KEY, key);
        }
        cmd
    }

    fn process(&self) -> std::process::Command {
        let mut cmd = bare_process();
        cmd.env(env::CONFIG_DIR, self.dir.path().join("config"))
            .env(env::STORE, &self.store);
        if let Some(key) = &self.key {
            cmd.env(env::STORE_KEY, key);
        }
        cmd
    }

    /// `offline consume ARGS --stdout` running in the background, writing
    /// records to a file of its own.
    fn consumer(&self, args: &[&str]) -> (std::process::Child, std::path::PathBuf) {
        let out = self
            .dir
            .path()
            .join(format!("out-{:x}.jsonl", rand::random::<u32>()));
        let child = self
            .process()
            .args(["offline", "consume", "--stdout"])
            .args(args)
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        (child, out)
    }
}

fn fleet(n: usize) -> SandboxThread {
    SandboxThread::spawn(SandboxOptions {
        portals: n,
        rate_limit: None,
        ..SandboxOptions::default()
    })
    .unwrap()
}

/// A fleet whose portals keep the standard plan's rate limit.
fn limited_fleet(n: usize) -> SandboxThread {
    SandboxThread::spawn(SandboxOptions {
        portals: n,
        ..SandboxOptions::default()
    })
    .unwrap()
}

/// Imports every portal of the sandbox as `p1` ... `pN` through `machine`.
fn import_fleet(machine: &Machine, sandbox: &SandboxThread) {
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
    let file = machine.dir.path().join("installs.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let (code, _, stderr) = run(machine.cmd().arg("auth").arg("import").arg(&file));
    assert_eq!(code, 0, "{stderr}");
}

/// Binds ONCRMDEALADD offline on every portal (profiles `p1` ... `pN`).
fn bind_fleet(machine: &Machine, sandbox: &SandboxThread) {
    for index in 0..sandbox.fleet.len() {
        let name = format!("p{}", index + 1);
        let (code, _, stderr) =
            run(machine
                .cmd()
                .args(["-p", &name, "bind", "ONCRMDEALADD", "--offline"]));
        assert_eq!(code, 0, "{stderr}");
    }
}

/// Queues `records` ONCRMDEALADD records on every portal, numbered from `first`.
fn queue_on_fleet(sandbox: &SandboxThread, first: usize, records: usize) {
    for member in &sandbox.fleet {
        for n in first..first + records {
            member
                .portal
                .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": n.to_string()}}));
        }
    }
}

#[test]
fn three_machines_sharing_a_store_refresh_each_portal_once() {
    const PORTALS: usize = 5;
    const CALLS: usize = 60;
    let store = database();
    let sandbox = fleet(PORTALS);
    let machines: Vec<Machine> = (0..3).map(|_| Machine::new(&store)).collect();
    import_fleet(&machines[0], &sandbox);
    for member in &sandbox.fleet {
        member.portal.expire_tokens();
    }
    // 60 calls at once, spread over three machines and five portals; every
    // stored token is expired, and a refresh token works once.
    let children: Vec<std::process::Child> = (0..CALLS)
        .map(|i| {
            machines[i % 3]
                .process()
                .args(["-p", &format!("p{}", i % PORTALS + 1), "list", "-q"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    for member in &sandbox.fleet {
        let stats = member.portal.stats();
        assert_eq!(stats.refreshes, 1, "one refresh per portal: {stats:?}");
        assert_eq!(stats.token_errors, 0, "no invalid_grant: {stats:?}");
    }
}

// Dies at a test failpoint: built with `--features failpoints` (make test).
#[cfg(feature = "failpoints")]
#[test]
fn a_consumer_on_another_machine_finishes_a_dead_consumers_reservation() {
    let store = database();
    let sandbox = fleet(1);
    let (first, second) = (Machine::new(&store), Machine::new(&store));
    import_fleet(&first, &sandbox);
    let (code, _, stderr) =
        run(first
            .cmd()
            .args(["-p", "p1", "bind", "ONCRMDEALADD", "--offline"]));
    assert_eq!(code, 0, "{stderr}");
    let portal = &sandbox.fleet[0].portal;
    for n in 0..30 {
        portal.enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": n.to_string()}}));
    }
    // The first machine dies (as kill -9 would) right after the portal reserved
    // ten records for it, before its journal heard of the reservation.
    let (code, _, _) = run(first
        .cmd()
        .env(env::TEST_FAILPOINT, "consume-after-get")
        .args([
            "-p", "p1", "offline", "consume", "--stdout", "--limit", "10",
        ]));
    assert_ne!(code, 0);
    assert_eq!(portal.offline_count(), 30);
    // The second machine shares the journal: it finds the dead one's intent,
    // adopts the reservation, and delivers everything.
    let (code, stdout, stderr) = run(second.cmd().args([
        "-p", "p1", "offline", "consume", "--stdout", "--limit", "10",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("found it"), "{stderr}");
    let mut ids: Vec<u64> = stdout
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 30);
    assert_eq!(portal.offline_count(), 0, "nothing left reserved");
}

#[test]
fn sealed_secrets_need_their_key_and_never_show() {
    let store = database();
    let sandbox = fleet(1);
    let key = "7f".repeat(32);
    let machine = Machine::with_key(&store, &key);
    import_fleet(&machine, &sandbox);
    let token = sandbox.fleet[0].credentials.access_token.expose().clone();
    let stored = psql(&store, "SELECT secrets FROM bx_events_profiles");
    assert!(stored.starts_with("sealed2:"), "{stored}");
    assert!(!stored.contains(&token));
    let (code, _, stderr) = run(machine.cmd().args(["-p", "p1", "list"]));
    assert_eq!(code, 0, "{stderr}");

    let keyless = Machine::new(&store);
    let (code, _, stderr) = run(keyless.cmd().args(["-p", "p1", "list"]));
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("sealed") && stderr.contains(env::STORE_KEY),
        "{stderr}"
    );
    assert!(!stderr.contains(&token));

    let wrong = Machine::with_key(&store, &"01".repeat(32));
    let (code, _, stderr) = run(wrong.cmd().args(["-p", "p1", "list"]));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("do not open"), "{stderr}");

    let short = Machine::with_key(&store, "abc");
    let (code, _, stderr) = run(short.cmd().args(["-p", "p1", "list"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("64 hex digits"), "{stderr}");
}

#[test]
fn store_init_prepares_once_and_copies_file_profiles() {
    let store = database();
    let machine = Machine::new(&store);
    // A profile in the machine's files, from before the fleet had a store.
    let sandbox = fleet(1);
    let (settings, secrets) = bx_events::internal::sandbox_profile(&sandbox.credentials);
    bx_events::internal::save_profile(
        &bx_events::internal::Store::new(machine.dir.path().join("config")),
        "local",
        settings,
        secrets,
    )
    .unwrap();
    let (code, stdout, stderr) =
        run(machine
            .cmd()
            .args(["store", "init", "--copy-profiles", "-o", "json"]));
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["previous_version"], 0);
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["copied"], json!(["local"]));
    assert!(
        stderr.contains(env::STORE_KEY),
        "says secrets are not sealed: {stderr}"
    );
    let (code, stdout, stderr) =
        run(machine
            .cmd()
            .args(["store", "init", "--copy-profiles", "-o", "json"]));
    assert_eq!(code, 0, "{stderr}");
    let again: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(again["previous_version"], 1);
    assert_eq!(again["kept"], json!(["local"]));
    // Another machine, without any files, works with the copied profile.
    let other = Machine::new(&store);
    let (code, _, stderr) = run(other.cmd().args(["-p", "local", "list"]));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn an_unusable_store_is_named_with_its_fix() {
    let (code, _, stderr) = run(bare_cmd()
        .env(env::STORE, "mysql://somewhere/db")
        .args(["auth", "status"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("postgres://"), "{stderr}");
    let refused = crate::common::refused_port();
    let (code, _, stderr) = run(bare_cmd()
        .env(
            env::STORE,
            format!("postgres://bx:secretpw@127.0.0.1:{}/db", refused.port),
        )
        .args(["auth", "status", "-o", "json"]));
    assert_eq!(code, 1, "{stderr}");
    let error = crate::common::json_error(&stderr);
    assert_eq!(error["code"], "STORE");
    assert!(error["hint"].as_str().unwrap().contains("--store"));
    assert!(
        !stderr.contains("secretpw"),
        "the password never shows: {stderr}"
    );
}

// Dies at a test failpoint: built with `--features failpoints` (make test).
#[cfg(feature = "failpoints")]
#[test]
fn two_machines_drain_a_fleet_through_the_store_and_one_finishes_a_killed_ones_work() {
    const PORTALS: usize = 30;
    const RECORDS: usize = 100;
    let store = database();
    let sandbox = fleet(PORTALS);
    let (first, second) = (Machine::new(&store), Machine::new(&store));
    import_fleet(&first, &sandbox);
    bind_fleet(&first, &sandbox);
    queue_on_fleet(&sandbox, 0, RECORDS);
    let spawn = |machine: &Machine, name: &str, failpoint: Option<&str>| {
        let out = machine.dir.path().join(format!("{name}.jsonl"));
        let mut cmd = machine.process();
        cmd.args(["offline", "consume", "--all-profiles", "--stdout", "-q"])
            .args([
                "--limit",
                "25",
                "--concurrency",
                "4",
                "--poll-interval",
                "0.2",
            ])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::piped());
        if let Some(failpoint) = failpoint {
            cmd.env(env::TEST_FAILPOINT, failpoint);
        }
        (cmd.spawn().unwrap(), out)
    };
    // The first machine dies on its 20th reservation, after the portal answered
    // and before the shared journal heard of it.
    let (mut doomed, doomed_out) = spawn(&first, "first", Some("consume-after-get:20"));
    let (mut survivor, survivor_out) = spawn(&second, "second", None);
    // Both stderr pipes are drained as they fill, and both runs are bounded: a
    // drain that stops making progress (the open bug in docs/fleet.md) fails
    // here with what the consumers said, instead of hanging the suite.
    let drain = |child: &mut std::process::Child| {
        let mut pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
            text
        })
    };
    let (doomed_err, survivor_err) = (drain(&mut doomed), drain(&mut survivor));
    let finish = |child: &mut std::process::Child| {
        let mut status = None;
        crate::common::eventually(300, || {
            status = child.try_wait().unwrap();
            status.is_some()
        });
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        status
    };
    let doomed_status = finish(&mut doomed);
    let status = finish(&mut survivor);
    let (doomed_err, stderr) = (doomed_err.join().unwrap(), survivor_err.join().unwrap());
    let doomed_status = doomed_status.unwrap_or_else(|| {
        panic!("the doomed consumer neither died nor finished in 300 s: {doomed_err}")
    });
    assert!(!doomed_status.success());
    let status = status.unwrap_or_else(|| panic!("the survivor did not finish in 300 s: {stderr}"));
    assert!(status.success(), "{stderr}");
    let read = |path: &std::path::Path| -> Vec<(String, u64)> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|line| {
                let record: Value = serde_json::from_str(line).unwrap();
                (
                    record["profile"].as_str().unwrap().to_string(),
                    record["id"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let (doomed_lines, survivor_lines) = (read(&doomed_out), read(&survivor_out));
    assert!(
        !doomed_lines.is_empty() && !survivor_lines.is_empty(),
        "both machines worked"
    );
    let mut all: Vec<(String, u64)> = doomed_lines.into_iter().chain(survivor_lines).collect();
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(
        all.len(),
        PORTALS * RECORDS,
        "every record delivered at least once"
    );
    assert!(total - all.len() <= 4 * 25, "{} repeats", total - all.len());
    for member in &sandbox.fleet {
        assert_eq!(member.portal.offline_count(), 0, "nothing left reserved");
    }
}

#[test]
fn the_store_speaks_tls_and_trusts_a_private_ca_given_with_ca_cert() {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let base =
        crate::postgres::tls_server(&certified.cert.pem(), &certified.key_pair.serialize_pem());
    // sslmode=require: a connection without TLS is refused by the driver.
    let url = format!("{base}postgres?sslmode=require");
    let machine = Machine::new(&url);
    let ca = machine.dir.path().join("ca.pem");
    std::fs::write(&ca, certified.cert.pem()).unwrap();
    let (code, stdout, stderr) = run(machine
        .cmd()
        .arg("--ca-cert")
        .arg(&ca)
        .args(["store", "init", "-o", "json"]));
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["schema_version"], 1);
    // The same server without its CA: the certificate is not trusted.
    let (code, _, stderr) = run(machine.cmd().args(["store", "init", "-o", "json"]));
    assert_eq!(code, 1, "{stderr}");
    let error = crate::common::json_error(&stderr);
    assert_eq!(error["code"], "STORE");
    let message = error["message"].as_str().unwrap().to_lowercase();
    assert!(
        message.contains("tls") || message.contains("certificate"),
        "{message}"
    );
}

/// Every connection of the database behind `store` but psql's own is ended.
fn terminate_backends(store: &str) {
    let db = store.rsplit('/').next().unwrap();
    psql(
        store,
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"),
    );
}

#[test]
fn a_lost_store_connection_is_replaced_and_the_consumer_goes_on() {
    // Both faults the store meets: its connections terminated, and the server
    // itself restarted (pg_ctl restart -m fast) while a consumer follows.
    let mut server = RestartableServer::start();
    let store = server.database();
    let sandbox = fleet(1);
    let machine = Machine::new(&store);
    import_fleet(&machine, &sandbox);
    bind_fleet(&machine, &sandbox);
    queue_on_fleet(&sandbox, 0, 5);
    let portal = &sandbox.fleet[0].portal;
    let (consumer, out) = machine.consumer(&["-p", "p1", "--follow", "--poll-interval", "0.2"]);
    assert!(
        eventually(60, || record_ids(&out).len() == 5),
        "first five delivered"
    );
    // The consumer's shared connection and its journal's (whose lock goes with
    // it) are ended.
    terminate_backends(&store);
    queue_on_fleet(&sandbox, 5, 5);
    let after_terminate = eventually(60, || {
        record_ids(&out).len() == 10 && portal.offline_count() == 0
    });
    server.restart();
    queue_on_fleet(&sandbox, 10, 5);
    let after_restart = eventually(60, || {
        record_ids(&out).len() == 15 && portal.offline_count() == 0
    });
    let stderr = stop(consumer);
    assert!(
        after_terminate,
        "delivered after the terminated connections: {stderr}"
    );
    assert!(after_restart, "delivered after the restart: {stderr}");
    assert!(
        stderr.contains("reconnecting"),
        "the outage was said: {stderr}"
    );
}

#[test]
fn a_fleet_consumes_through_the_store_four_portals_at_once_to_the_end() {
    const PORTALS: usize = 8;
    const RECORDS: usize = 50;
    let store = database();
    let sandbox = limited_fleet(PORTALS);
    let machine = Machine::new(&store);
    import_fleet(&machine, &sandbox);
    bind_fleet(&machine, &sandbox);
    queue_on_fleet(&sandbox, 0, RECORDS);
    let (mut consumer, out) = machine.consumer(&[
        "--all-profiles",
        "-q",
        "--limit",
        "10",
        "--concurrency",
        "4",
    ]);
    let finished = eventually(120, || matches!(consumer.try_wait(), Ok(Some(_))));
    let status = consumer.try_wait().ok().flatten();
    let stderr = stop(consumer);
    assert!(finished, "the fleet run ended by itself: {stderr}");
    assert!(status.is_some_and(|s| s.success()), "{stderr}");
    let lines = std::fs::read_to_string(&out).unwrap().lines().count();
    assert_eq!(lines, PORTALS * RECORDS);
    for member in &sandbox.fleet {
        assert_eq!(member.portal.offline_count(), 0);
    }
}

#[test]
fn one_damaged_row_is_its_profiles_failure_alone() {
    let store = database();
    let sandbox = fleet(2);
    let machine = Machine::with_key(&store, &"5a".repeat(32));
    import_fleet(&machine, &sandbox);
    psql(
        &store,
        "UPDATE bx_events_profiles SET secrets = 'sealed2:00ff' WHERE name = 'p1'",
    );
    let (code, _, stderr) = run(machine.cmd().args(["-p", "p2", "list"]));
    assert_eq!(code, 0, "the other profile works: {stderr}");
    // Writes go on too: switching the current profile rewrites the store.
    let (code, _, stderr) = run(machine.cmd().args(["auth", "switch", "p2"]));
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run(machine.cmd().args(["-p", "p1", "list", "-o", "json"]));
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
    let sandbox = fleet(1);
    let machine = Machine::with_key(&store, &"6b".repeat(32));
    import_fleet(&machine, &sandbox);
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
        &format!("UPDATE bx_events_profiles SET settings = '{rewritten}' WHERE name = 'p1'"),
    );
    let (code, _, stderr) = run(machine.cmd().args(["-p", "p1", "list"]));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("without the key"), "{stderr}");
    assert!(
        received.lock().unwrap().is_empty(),
        "nothing reached the collector"
    );
    // Plain secrets beside a key are refused too, until `store init` seals them.
    let plain = json!({"access_token": "planted-token-1234"}).to_string();
    psql(
        &store,
        &format!("UPDATE bx_events_profiles SET settings = '{settings}', secrets = '{plain}' WHERE name = 'p1'"),
    );
    let (code, _, stderr) = run(machine.cmd().args(["-p", "p1", "list"]));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("unsealed"), "{stderr}");
    let (code, _, stderr) = run(machine.cmd().args(["store", "init", "-o", "json"]));
    assert_eq!(code, 0, "{stderr}");
    let stored = psql(
        &store,
        "SELECT secrets FROM bx_events_profiles WHERE name = 'p1'",
    );
    assert!(
        stored.starts_with("sealed2:"),
        "sealed by store init: {stored}"
    );
}

#[test]
fn a_refresh_whose_store_connections_die_keeps_the_new_pair() {
    // The OAuth server takes 3 s to rotate the pair; meanwhile every connection
    // of the store (the refresh lock's and the shared one) is terminated. The
    // rotated pair must reach the store, or this and every other machine is left
    // with a spent refresh token.
    let store = database();
    let sandbox = fleet(1);
    let (machine, other) = (Machine::new(&store), Machine::new(&store));
    import_fleet(&machine, &sandbox);
    let portal = &sandbox.fleet[0].portal;
    portal.expire_tokens();
    portal.inject(Fault::on(FaultKind::Slow, 1, Some("oauth.token")).delayed(3000));
    let refreshing = machine
        .process()
        .args(["-p", "p1", "list"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The refresh holds its profile's advisory lock while the OAuth server thinks.
    let locked = eventually(30, || {
        psql(
            &store,
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        ) == "1"
    });
    assert!(locked, "the refresh took its lock");
    terminate_backends(&store);
    let mut refreshing = refreshing;
    let finished = eventually(60, || matches!(refreshing.try_wait(), Ok(Some(_))));
    let status = refreshing.try_wait().ok().flatten();
    let stderr = stop(refreshing);
    assert!(finished, "{stderr}");
    assert!(status.is_some_and(|s| s.success()), "{stderr}");
    // Another machine finds the new pair in the store: it works, and it does
    // not refresh again (the sandbox would refuse the spent refresh token).
    assert_eq!(portal.stats().refreshes, 1);
    let (code, _, stderr) = run(other.cmd().args(["-p", "p1", "list"]));
    assert_eq!(code, 0, "{stderr}");
    let stats = portal.stats();
    assert_eq!(
        (stats.refreshes, stats.token_errors),
        (1, 0),
        "no second refresh"
    );
}

#[test]
fn a_store_password_on_the_command_line_is_warned_about_and_never_shown() {
    let mut with_password = url::Url::parse(&database()).unwrap();
    if with_password.password().is_none() {
        // The test servers trust local connections: the password is not checked.
        with_password.set_password(Some("hunter2-secret")).unwrap();
    }
    let password = with_password.password().unwrap().to_string();
    let url = with_password.to_string();
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(bare_cmd()
        .env(env::CONFIG_DIR, dir.path())
        .args(["--store", &url, "store", "init"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("the password in --store can be read by other users")
            && stderr.contains(env::STORE),
        "{stderr}"
    );
    assert!(!stderr.contains(&password), "{stderr}");
    let (code, _, stderr) = run(bare_cmd()
        .env(env::CONFIG_DIR, dir.path())
        .env(env::STORE, &url)
        .args(["store", "init"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("can be read by other users"), "{stderr}");
}

/// The rate-limit buckets that machines share through the store: updates from
/// two stores (two machines) and several threads each, all at once, none lost.
#[test]
fn concurrent_bucket_updates_through_the_store_lose_none() {
    use bx_events::internal::PgStore;
    let url = database();
    let machines = [
        PgStore::open(&url, None).unwrap(),
        PgStore::open(&url, None).unwrap(),
    ];
    const UPDATES: usize = 40;
    std::thread::scope(|scope| {
        for machine in &machines {
            for _ in 0..2 {
                let bucket = machine.bucket("portal.example");
                scope.spawn(move || {
                    for _ in 0..UPDATES {
                        bucket
                            .update(&mut |text| {
                                let count: usize = text.parse().unwrap_or(0);
                                (count + 1).to_string()
                            })
                            .unwrap();
                    }
                });
            }
        }
    });
    let stored = psql(
        &url,
        "SELECT state FROM bx_events_buckets WHERE key = 'portal.example'",
    );
    assert_eq!(stored, (4 * UPDATES).to_string(), "updates were lost");
}

/// A fleet's turn lets go of its portal's journal when it ends: another
/// consumer (or the same portal's next turn) can take it at once, and the next
/// journal reuses the connection instead of making one.
#[test]
fn a_released_journal_is_free_at_once_and_its_connection_serves_the_next() {
    use bx_events::internal::PgStore;
    let url = database();
    let db = url.rsplit('/').next().unwrap().to_string();
    let backends = || {
        psql(
            &url,
            &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"),
        )
    };
    let (here, elsewhere) = (
        PgStore::open(&url, None).unwrap(),
        PgStore::open(&url, None).unwrap(),
    );
    let mut first = here.open_journal("p1").unwrap().expect("a free journal");
    assert!(
        elsewhere.open_journal("p1").unwrap().is_none(),
        "a held journal was given to a second consumer"
    );
    let connections = backends();
    first.release();
    // `first` is still alive: only the release can have let go of the lock.
    let taken = elsewhere.open_journal("p1").unwrap();
    assert!(taken.is_some(), "the released journal stayed locked");
    drop(taken);
    let before_next = backends();
    let next = here.open_journal("p2").unwrap().expect("a free journal");
    assert_eq!(
        backends(),
        before_next,
        "the next journal made a new connection instead of reusing the released one"
    );
    drop((next, first));
    assert!(!connections.is_empty());
}

/// Emptying a journal costs no round trip of its own: it happens with the next
/// append or at the release. Whichever carries it, the next holder sees only
/// what came after the clear; a journal dropped before either (as a kill
/// would leave it) still holds its entries, which the journal only allows for
/// entries whose loss a kill allows.
#[test]
fn a_cleared_journal_is_emptied_by_the_next_append_or_the_release() {
    use bx_events::internal::PgStore;
    let url = database();
    let store = PgStore::open(&url, None).unwrap();
    let reopen = |name: &str| {
        let mut journal = store.open_journal(name).unwrap().expect("a free journal");
        let text = journal.read().unwrap();
        (journal, text)
    };
    let (mut journal, text) = reopen("cleared");
    assert_eq!(text, "");
    journal.append("one\ntwo\n").unwrap();
    journal.clear().unwrap();
    journal.append("three\n").unwrap();
    journal.release();
    let (mut journal, text) = reopen("cleared");
    assert_eq!(text, "three\n", "the append did not carry the clear");
    journal.clear().unwrap();
    journal.release();
    let (mut journal, text) = reopen("cleared");
    assert_eq!(text, "", "the release did not carry the clear");
    journal.append("four\n").unwrap();
    journal.clear().unwrap();
    drop(journal);
    // Read beside the lock, which the server lets go of when it sees the
    // dropped connection close.
    let left = psql(
        &url,
        "SELECT string_agg(entry, ',' ORDER BY seq) FROM bx_events_journal WHERE journal = 'cleared'",
    );
    assert_eq!(left, "four", "a journal dropped unreleased lost entries");
}

/// Distinct (profile, record id) pairs a fleet consumer wrote.
fn fleet_records(path: &std::path::Path) -> std::collections::BTreeSet<(String, u64)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|r| Some((r["profile"].as_str()?.to_string(), r["id"].as_u64()?)))
        .collect()
}

/// A fleet's consumer keeps idle journal connections between turns and shares
/// its buckets through the store: both must survive the store's connections
/// being ended and the server restarting, with every record delivered and the
/// queues empty. Ended connections, with the server up, must cost no turn (a
/// dead idle connection is replaced at once, not reported as a failure).
#[test]
fn a_fleet_consumer_goes_on_through_ended_connections_and_a_store_restart() {
    const PORTALS: usize = 3;
    let mut server = RestartableServer::start();
    let store = server.database();
    let sandbox = fleet(PORTALS);
    let machine = Machine::new(&store);
    import_fleet(&machine, &sandbox);
    bind_fleet(&machine, &sandbox);
    let queued_empty = || sandbox.fleet.iter().all(|m| m.portal.offline_count() == 0);
    let follow = ["--all-profiles", "--follow", "--poll-interval", "0.2"];
    queue_on_fleet(&sandbox, 0, 5);
    let (consumer, out) = machine.consumer(&follow);
    let first = eventually(60, || {
        fleet_records(&out).len() == PORTALS * 5 && queued_empty()
    });
    terminate_backends(&store);
    queue_on_fleet(&sandbox, 5, 5);
    let after_terminate = eventually(60, || {
        fleet_records(&out).len() == PORTALS * 10 && queued_empty()
    });
    let stderr = stop(consumer);
    assert!(first, "first records delivered: {stderr}");
    assert!(
        after_terminate,
        "delivered after the ended connections: {stderr}"
    );
    assert!(
        !stderr.contains("trying again"),
        "a turn failed although the server was up: {stderr}"
    );
    // The server restarts under a running consumer whose journal connections
    // sit idle between turns.
    let (consumer, out) = machine.consumer(&follow);
    queue_on_fleet(&sandbox, 10, 5);
    let before_restart = eventually(60, || fleet_records(&out).len() == PORTALS * 5);
    server.restart();
    queue_on_fleet(&sandbox, 15, 5);
    let after_restart = eventually(90, || {
        fleet_records(&out).len() == PORTALS * 10 && queued_empty()
    });
    let stderr = stop(consumer);
    assert!(before_restart, "delivered before the restart: {stderr}");
    assert!(after_restart, "delivered after the restart: {stderr}");
}

/// A consumer that drained its queue through the store leaves its journal
/// empty: the clear its last step asked for reaches the store when it stops, so
/// the next run finds no reservation or intent to recover.
#[test]
fn a_drained_queue_leaves_no_journal_rows_in_the_store() {
    let store = database();
    let sandbox = fleet(1);
    let machine = Machine::new(&store);
    import_fleet(&machine, &sandbox);
    bind_fleet(&machine, &sandbox);
    queue_on_fleet(&sandbox, 0, 5);
    for _ in 0..2 {
        let (code, stdout, stderr) = run(machine
            .cmd()
            .args(["-p", "p1", "offline", "consume", "--stdout", "-q"]));
        assert_eq!(code, 0, "{stderr}");
        assert!(
            !stderr.contains("Resuming") && !stderr.contains("recover"),
            "{stderr}"
        );
        let _ = stdout;
        let rows = psql(&store, "SELECT count(*) FROM bx_events_journal");
        assert_eq!(rows, "0", "journal rows left after the run: {stderr}");
    }
}
