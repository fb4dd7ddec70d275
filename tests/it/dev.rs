//! `dev`: real portal events on a local handler, as the portal's online request.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::{bare_process, eventually, recorder, run, stop, Received, TestEnv};
use bx_events::bitrix::form;
use bx_events::sandbox::{Fault, FaultKind};
use serde_json::Value;

const APP_TOKEN: &str = "dev-test-application-token";

fn sandbox() -> TestEnv {
    TestEnv::with_application_token(APP_TOKEN)
}

/// A running `dev`, stopped with SIGINT (as Ctrl-C) when dropped.
struct Dev {
    child: Child,
}

impl Dev {
    /// Starts `dev` and waits until it says it is delivering.
    fn start(env: &TestEnv, args: &[&str]) -> Self {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("bx-events"))
            .env("BX_EVENTS_CONFIG_DIR", env.config_dir())
            .env("NO_COLOR", "1")
            .env_remove("BX_EVENTS_APPLICATION_TOKEN")
            .args(["dev", "--poll-interval", "0.2"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let mut seen = String::new();
        loop {
            line.clear();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "dev ended early: {seen}"
            );
            seen.push_str(&line);
            if line.starts_with("Delivering") {
                break;
            }
        }
        std::thread::spawn(move || for _ in stderr.lines() {});
        Self { child }
    }

    /// Ctrl-C; the exit code.
    fn stop(mut self) -> Option<i32> {
        let sent = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        self.child.wait().unwrap().code()
    }
}

/// Waits (bounded) until the recorder holds `count` requests.
fn wait_for(received: &Received, count: usize) -> Vec<crate::common::Recorded> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = received.lock().unwrap().clone();
        if got.len() >= count {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "only {} request(s) arrived",
            got.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn decoded(body: &[u8]) -> Value {
    form::decode(&String::from_utf8_lossy(body))
}

#[test]
fn dev_delivers_what_the_portal_would_have_sent_online_and_cleans_up() {
    let env = sandbox();
    let (online, online_received) = recorder(|_| 200);
    let (local, local_received) = recorder(|_| 200);
    env.json(&["bind", "ONCRMDEALADD", &format!("{online}/online")]);
    let before = env.sandbox.portal.binding_count();
    let dev = Dev::start(
        &env,
        &["ONCRMDEALADD", "--forward-to", &format!("{local}/hook")],
    );
    assert_eq!(
        env.sandbox.portal.binding_count(),
        before + 1,
        "dev bound it offline"
    );
    env.json(&[
        "sandbox",
        "fire",
        "ONCRMDEALADD",
        "--data",
        "FIELDS.ID=7405",
    ]);
    let local_got = wait_for(&local_received, 1);
    let online_got = wait_for(&online_received, 1);
    assert_eq!(dev.stop(), Some(130));
    assert_eq!(
        env.sandbox.portal.binding_count(),
        before,
        "Ctrl-C removed what dev made"
    );
    assert_eq!(
        local_got[0].content_type,
        "application/x-www-form-urlencoded"
    );
    let (mine, portal) = (decoded(&local_got[0].body), decoded(&online_got[0].body));
    assert_eq!(mine["event"], portal["event"]);
    assert_eq!(mine["data"], portal["data"]);
    for key in [
        "domain",
        "client_endpoint",
        "server_endpoint",
        "member_id",
        "application_token",
    ] {
        assert_eq!(mine["auth"][key], portal["auth"][key], "auth[{key}]");
    }
    assert!(mine["ts"].as_str().unwrap().parse::<i64>().is_ok());
    assert!(
        mine["auth"].get("access_token").is_none(),
        "no tokens without --with-tokens"
    );
    assert_eq!(env.sandbox.portal.offline_count(), 0, "confirmed");
}

#[test]
fn a_handler_that_checks_the_application_token_accepts_dev_requests() {
    let env = sandbox();
    let mut listen = std::process::Command::new(assert_cmd::cargo::cargo_bin("bx-events"))
        .env("BX_EVENTS_CONFIG_DIR", env.config_dir())
        .args([
            "listen",
            "--port",
            "0",
            "-o",
            "ndjson",
            "--application-token",
            APP_TOKEN,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = crate::common::listening_url(listen.stderr.take().unwrap());
    let dev = Dev::start(&env, &["ONCRMDEALADD", "--forward-to", &url]);
    env.json(&["sandbox", "fire", "ONCRMDEALADD", "--data", "FIELDS.ID=9"]);
    let mut printed = String::new();
    BufReader::new(listen.stdout.take().unwrap())
        .read_line(&mut printed)
        .unwrap();
    dev.stop();
    let _ = listen.kill();
    let _ = listen.wait();
    let event: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(event["verdict"], "accepted", "{event}");
    assert_eq!(event["data"]["FIELDS"]["ID"], "9");
}

#[test]
fn failed_deliveries_come_back_on_replay_and_existing_bindings_stay() {
    let env = sandbox();
    env.json(&["bind", "ONCRMDEALUPDATE", "--offline"]);
    let (failing, failing_received) = recorder(|_| 500);
    let dev = Dev::start(
        &env,
        &["ONCRMDEAL*", "ONCRMDEALADD", "--forward-to", &failing],
    );
    env.json(&["sandbox", "fire", "ONCRMDEALADD", "--data", "FIELDS.ID=1"]);
    wait_for(&failing_received, 1);
    dev.stop();
    let bound = env.json(&["list"]);
    let events: Vec<&str> = bound
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["ONCRMDEALUPDATE"],
        "only the binding dev made went"
    );
    let rows = env.sandbox.portal.offline_rows();
    assert!(
        rows.len() == 1 && rows[0].error,
        "the failed delivery is kept as an error"
    );
    let (fixed, fixed_received) = recorder(|_| 200);
    let (code, _, stderr) =
        run(env
            .cmd()
            .args(["dev", "ONCRMDEALADD", "--forward-to", &fixed, "--replay"]));
    assert_eq!(code, 0, "{stderr}");
    let got = wait_for(&fixed_received, 1);
    assert_eq!(decoded(&got[0].body)["data"]["FIELDS"]["ID"], "1");
    assert_eq!(env.sandbox.portal.offline_count(), 0);
}

#[test]
fn unknown_events_are_refused_before_binding() {
    let env = sandbox();
    let (code, _, stderr) =
        run(env
            .cmd()
            .args(["dev", "ONCRMDEALAD", "--forward-to", "http://127.0.0.1:9/"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("did you mean ONCRMDEALADD"), "{stderr}");
    assert_eq!(env.sandbox.portal.binding_count(), 0);
}

#[test]
fn a_non_administrator_is_told_why_dev_cannot_bind() {
    let env = sandbox();
    let (access, refresh) = env.sandbox.portal.issue_tokens(2);
    env.save_oauth_profile("user", &access, &refresh, None);
    let (code, _, stderr) = run(env.cmd().args([
        "dev",
        "-p",
        "user",
        "ONCRMDEALADD",
        "--forward-to",
        "http://127.0.0.1:9/",
    ]));
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("ACCESS_DENIED") && stderr.contains("administrator"),
        "{stderr}"
    );
    assert_eq!(env.sandbox.portal.binding_count(), 0);
}

fn lose_bind_answer(env: &TestEnv, held_ms: u64) {
    env.sandbox
        .portal
        .inject(Fault::on(FaultKind::LoseAnswer, 1, Some("event.bind")).delayed(held_ms));
}

#[test]
fn a_dev_killed_between_the_bind_and_its_state_file_has_the_binding_removed_next_time() {
    let env = sandbox();
    // The portal binds, then holds its answer: dev is killed in that window.
    lose_bind_answer(&env, 60_000);
    let first = bare_process()
        .env("BX_EVENTS_CONFIG_DIR", env.config_dir())
        .args(["dev", "ONCRMDEALADD", "--forward-to", "http://127.0.0.1:9/"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let bound = eventually(30, || env.sandbox.portal.binding_count() == 1);
    let stderr = stop(first);
    assert!(bound, "the portal bound it: {stderr}");
    let (local, _) = recorder(|_| 200);
    let dev = Dev::start(&env, &["ONCRMDEALADD", "--forward-to", &local]);
    assert_eq!(dev.stop(), Some(130));
    assert_eq!(
        env.sandbox.portal.binding_count(),
        0,
        "the killed session's binding was on record and removed"
    );
}

#[test]
fn a_bind_whose_answer_was_lost_and_retried_is_still_removed_by_ctrl_c() {
    let env = sandbox();
    env.json(&["bind", "ONCRMDEALUPDATE", "--offline"]);
    // The retried bind meets the binding its lost first attempt made.
    lose_bind_answer(&env, 0);
    let (local, _) = recorder(|_| 200);
    let dev = Dev::start(
        &env,
        &["ONCRMDEALADD", "ONCRMDEALUPDATE", "--forward-to", &local],
    );
    assert_eq!(env.sandbox.portal.binding_count(), 2);
    assert_eq!(dev.stop(), Some(130));
    let events: Vec<String> = env
        .json(&["list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        events,
        ["ONCRMDEALUPDATE"],
        "dev removed its own binding and kept the one that was there"
    );
}
