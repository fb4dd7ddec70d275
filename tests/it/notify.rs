//! `offline consume --follow --notify-listen`: the portal's ONOFFLINEEVENT
//! notifications wake the drain; polling is a slow safety net.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use crate::common::{bare_process, eventually, http_request, line_channel, TestEnv};
use bx_events::internal::{env, Store};
use bx_events::sandbox::{PortalHandle, SandboxOptions, SandboxThread};
use serde_json::Value;

const APP_TOKEN: &str = "notify-test-application-token";

fn sandbox() -> TestEnv {
    TestEnv::with_application_token(APP_TOKEN)
}

/// A running consumer: the notification URL it announced and the records it
/// prints.
struct Consumer {
    child: Child,
    url: String,
    records: Receiver<String>,
}

impl Consumer {
    /// Starts `offline consume --follow --notify-listen 127.0.0.1:0 --stdout`
    /// with a 300-second safety poll, and waits until it says it is woken.
    fn start(config_dir: &std::path::Path, extra: &[&str]) -> Self {
        Self::start_on(config_dir, "127.0.0.1:0", extra)
    }

    /// The same, listening on `address`.
    fn start_on(config_dir: &std::path::Path, address: &str, extra: &[&str]) -> Self {
        let mut child = bare_process()
            .env(env::CONFIG_DIR, config_dir)
            .args([
                "offline",
                "consume",
                "--follow",
                "--stdout",
                "--notify-listen",
                address,
                "--poll-interval",
                "300",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("consume starts");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let mut seen = String::new();
        let url = loop {
            line.clear();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "consume ended before listening: {seen}"
            );
            seen.push_str(&line);
            if let Some(rest) = line
                .trim()
                .strip_prefix("Woken by ONOFFLINEEVENT notifications at ")
            {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        std::thread::spawn(move || for _ in stderr.lines() {});
        let records = line_channel(child.stdout.take().unwrap());
        Self {
            child,
            url,
            records,
        }
    }

    /// The next record it delivered, within `seconds`.
    fn next_record(&self, seconds: u64) -> Option<Value> {
        self.records
            .recv_timeout(Duration::from_secs(seconds))
            .ok()
            .map(|line| serde_json::from_str(&line).unwrap())
    }

    /// Ctrl-C, and the exit code.
    fn interrupt(mut self) -> Option<i32> {
        let sent = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        self.child.wait().unwrap().code()
    }

    /// kill -9.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
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

/// Waits until the consumer has looked at the queue and found it empty: from
/// then on it rests until woken.
fn resting(portal: &PortalHandle) -> u64 {
    assert!(
        eventually(10, || gets(portal) >= 1),
        "the consumer never looked at the queue"
    );
    gets(portal)
}

/// The ONOFFLINEEVENT handlers bound on the portal.
fn notification_handlers(env: &TestEnv) -> Vec<String> {
    env.json(&["-p", "sb", "list"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["event"] == "ONOFFLINEEVENT")
        .map(|b| b["handler"].as_str().unwrap().to_string())
        .collect()
}

/// A notification as the portal sends it, with the given auth.
fn notify(url: &str, member_id: &str, token: &str, event: &str) -> u16 {
    let body = format!(
        "event={event}&data=&ts=1&auth%5Bdomain%5D=x&auth%5Bmember_id%5D={member_id}&auth%5Bapplication_token%5D={token}"
    );
    http_request(
        "POST",
        url,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
    .0
}

#[test]
fn a_record_fired_while_the_consumer_rests_is_delivered_at_once_and_an_idle_one_makes_no_requests()
{
    let env = sandbox();
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    let consumer = Consumer::start(&env.config_dir(), &[]);
    assert_eq!(
        notification_handlers(&env),
        vec![consumer.url.clone()],
        "the consumer bound ONOFFLINEEVENT to its address"
    );
    let portal = &env.sandbox.portal;
    let looked = resting(portal);
    // An observation window: a polling consumer would have asked several times.
    assert!(
        consumer.next_record(2).is_none(),
        "nothing was queued, nothing delivered"
    );
    assert_eq!(gets(portal), looked, "an idle consumer makes no requests");
    let fired = Instant::now();
    env.json(&["sandbox", "fire", "ONCRMDEALADD", "--data", "FIELDS.ID=7"]);
    let record = consumer
        .next_record(2)
        .expect("the record arrived within 2 s, not at the 300-second poll");
    assert!(fired.elapsed() < Duration::from_secs(2));
    assert_eq!(record["event"], "ONCRMDEALADD");
    assert_eq!(record["data"]["FIELDS"]["ID"], "7");
    assert!(
        eventually(10, || portal.offline_count() == 0),
        "the record was confirmed"
    );
    assert_eq!(consumer.interrupt(), Some(130));
    assert!(
        notification_handlers(&env).is_empty(),
        "the binding it made is removed when it stops"
    );
}

#[test]
fn records_queued_in_the_portals_pause_are_found_by_the_look_after_it() {
    let env = sandbox();
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    // A three-second pause: the second change below falls inside it.
    let consumer = Consumer::start(&env.config_dir(), &["--min-timeout", "3"]);
    resting(&env.sandbox.portal);
    let first = env.json(&["sandbox", "fire", "ONCRMDEALADD", "--data", "FIELDS.ID=1"]);
    assert_eq!(first["deliveries"].as_array().unwrap().len(), 1, "notified");
    assert_eq!(
        consumer.next_record(2).unwrap()["data"]["FIELDS"]["ID"],
        "1"
    );
    let second = env.json(&["sandbox", "fire", "ONCRMDEALADD", "--data", "FIELDS.ID=2"]);
    assert_eq!(
        second["deliveries"],
        serde_json::json!([]),
        "inside the pause the portal sends no notification"
    );
    let record = consumer.next_record(10).expect(
        "the change the pause hid is delivered by the look after it, not the 300-second poll",
    );
    assert_eq!(record["data"]["FIELDS"]["ID"], "2");
    consumer.interrupt();
}

#[test]
fn a_forged_or_foreign_notification_wakes_nothing() {
    let env = sandbox();
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    let consumer = Consumer::start(&env.config_dir(), &[]);
    let portal = &env.sandbox.portal;
    let looked = resting(portal);
    // Queued without a notification (as if the portal's had been lost).
    portal.enqueue("ONCRMDEALADD", &serde_json::json!({"FIELDS": {"ID": "5"}}));
    let member = env.sandbox.credentials.member_id.clone();
    assert_eq!(
        notify(&consumer.url, &member, "wrong", "ONOFFLINEEVENT"),
        401
    );
    assert_eq!(
        notify(&consumer.url, "another-portal", APP_TOKEN, "ONOFFLINEEVENT"),
        403
    );
    assert_eq!(
        notify(&consumer.url, &member, APP_TOKEN, "ONCRMDEALADD"),
        400
    );
    assert!(
        consumer.next_record(2).is_none(),
        "a refused notification wakes nothing"
    );
    assert_eq!(gets(portal), looked);
    assert_eq!(
        notify(&consumer.url, &member, APP_TOKEN, "ONOFFLINEEVENT"),
        200
    );
    let record = consumer
        .next_record(2)
        .expect("a verified one wakes the drain");
    assert_eq!(record["data"]["FIELDS"]["ID"], "5");
    consumer.interrupt();
}

#[test]
fn a_killed_consumers_binding_is_removed_by_the_next_run() {
    let env = sandbox();
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    let killed = Consumer::start(&env.config_dir(), &[]);
    let old_url = killed.url.clone();
    killed.kill();
    assert_eq!(
        notification_handlers(&env),
        vec![old_url.clone()],
        "kill -9 removes nothing"
    );
    let next = Consumer::start(&env.config_dir(), &[]);
    assert_ne!(next.url, old_url);
    assert_eq!(
        notification_handlers(&env),
        vec![next.url.clone()],
        "the next run removed the dead address's binding and bound its own"
    );
    assert_eq!(next.interrupt(), Some(130));
    assert!(notification_handlers(&env).is_empty());
}

#[test]
fn an_existing_binding_is_used_and_never_removed() {
    let env = sandbox();
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    // Someone else's binding to the same address: bound before the consumer
    // runs (a port outside the ephemeral range, so the URL is known and no
    // other test is handed it meanwhile).
    let port = crate::postgres::port_for_a_server();
    let url = format!("http://127.0.0.1:{port}/");
    env.json(&["bind", "ONOFFLINEEVENT", &url]);
    let consumer = Consumer::start_on(&env.config_dir(), &format!("127.0.0.1:{port}"), &[]);
    assert_eq!(consumer.url, url);
    resting(&env.sandbox.portal);
    env.json(&["sandbox", "fire", "ONCRMDEALADD", "--data", "FIELDS.ID=9"]);
    assert!(
        consumer.next_record(2).is_some(),
        "woken through the existing binding"
    );
    assert_eq!(consumer.interrupt(), Some(130));
    assert_eq!(
        notification_handlers(&env),
        vec![url],
        "not the consumer's to remove"
    );
}

#[test]
fn notify_listen_needs_an_application_token_and_a_reachable_address() {
    let env = sandbox();
    // A webhook profile knows no application token.
    env.save_webhook_profile("hook");
    let output = bare_process()
        .env(env::CONFIG_DIR, env.config_dir())
        .args([
            "-p",
            "hook",
            "offline",
            "consume",
            "--follow",
            "--stdout",
            "--notify-listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--application-token"), "{stderr}");
    let output = bare_process()
        .env(env::CONFIG_DIR, env.config_dir())
        .args([
            "-p",
            "sb",
            "offline",
            "consume",
            "--follow",
            "--stdout",
            "--notify-listen",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--notify-url"), "{stderr}");
    // A URL the portal would refuse as a handler is refused before binding.
    let (code, _, stderr) = crate::common::run(env.cmd().args([
        "-p",
        "sb",
        "offline",
        "consume",
        "--follow",
        "--stdout",
        "--notify-listen",
        "127.0.0.1:0",
        "--notify-url",
        "http://intranet/bx",
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--notify-url"), "{stderr}");
    assert!(notification_handlers(&env).is_empty(), "nothing was bound");
    let (code, _, stderr) = crate::common::run(env.cmd().args([
        "-p",
        "sb",
        "offline",
        "consume",
        "--stdout",
        "--notify-listen",
        "127.0.0.1:0",
    ]));
    assert_eq!(code, 2, "--notify-listen needs --follow: {stderr}");
}

#[test]
fn a_fleet_routes_each_notification_to_its_portal() {
    let sandbox = SandboxThread::spawn(SandboxOptions {
        portals: 3,
        rate_limit: None,
        ..SandboxOptions::default()
    })
    .expect("sandbox starts");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    for (index, member) in sandbox.fleet.iter().enumerate() {
        let (settings, secrets) = bx_events::internal::sandbox_profile(&member.credentials);
        bx_events::internal::save_profile(
            &Store::new(&config),
            &format!("p{}", index + 1),
            settings,
            secrets,
        )
        .unwrap();
        let status = bare_process()
            .env(env::CONFIG_DIR, &config)
            .args([
                "-p",
                &format!("p{}", index + 1),
                "bind",
                "ONCRMDEALADD",
                "--offline",
                "-q",
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let consumer = Consumer::start(&config, &["--all-profiles"]);
    for member in &sandbox.fleet {
        resting(&member.portal);
    }
    let before: Vec<u64> = sandbox.fleet.iter().map(|m| gets(&m.portal)).collect();
    let fired = bare_process()
        .env(env::CONFIG_DIR, &config)
        .args([
            "-p",
            "p2",
            "sandbox",
            "fire",
            "ONCRMDEALADD",
            "--data",
            "FIELDS.ID=2",
            "-q",
        ])
        .status()
        .unwrap();
    assert!(fired.success());
    let record = consumer.next_record(2).expect("portal 2's record, at once");
    assert_eq!(record["profile"], "p2");
    assert_eq!(record["data"]["FIELDS"]["ID"], "2");
    let after: Vec<u64> = sandbox.fleet.iter().map(|m| gets(&m.portal)).collect();
    assert_eq!(after[0], before[0], "portal 1 was not woken");
    assert_eq!(after[2], before[2], "portal 3 was not woken");
    assert!(after[1] > before[1]);
    assert_eq!(consumer.interrupt(), Some(130));
    for member in &sandbox.fleet {
        assert_eq!(
            member.portal.binding_count(),
            1,
            "only the offline binding is left"
        );
    }
}
