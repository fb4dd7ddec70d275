//! `doctor`: each broken condition reported with its mark and fix; exit 0 when healthy.

use std::io::{Read, Write};
use std::process::{Child, Stdio};

use crate::common::{recorder, run, TestEnv};
use serde_json::{json, Value};

const APP_TOKEN: &str = "doctor-application-token";

fn sandbox() -> TestEnv {
    TestEnv::with_application_token(APP_TOKEN)
}

/// `doctor -o json`: exit code and the checks by name.
fn doctor(env: &TestEnv, args: &[&str]) -> (i32, Vec<Value>) {
    let (code, stdout, stderr) = run(env.cmd().args(["doctor", "-o", "json"]).args(args));
    let checks: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("doctor printed no JSON ({e}): {stdout}\n{stderr}"));
    (code, checks.as_array().unwrap().clone())
}

fn find<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| c["check"].as_str().unwrap().starts_with(name))
        .unwrap_or_else(|| panic!("no check {name}: {checks:?}"))
}

/// `listen` checking the application token, as a well-written handler does.
struct Handler {
    child: Child,
    url: String,
}

impl Handler {
    fn start(env: &TestEnv) -> Self {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("bx-events"))
            .env("BX_EVENTS_CONFIG_DIR", env.config_dir())
            .args(["listen", "--port", "0", "--application-token", APP_TOKEN])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let url = crate::common::listening_url(child.stderr.take().unwrap());
        Self { child, url }
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_healthy_setup_passes() {
    let env = sandbox();
    let handler = Handler::start(&env);
    env.json(&["bind", "ONCRMDEALADD", &handler.url]);
    let (code, checks) = doctor(&env, &["--event", "ONCRMDEALADD"]);
    assert_eq!(code, 0, "{checks:?}");
    assert!(checks.iter().all(|c| c["status"] != "fail"), "{checks:?}");
    assert_eq!(find(&checks, "installation")["status"], "ok");
    assert_eq!(find(&checks, "administrator")["status"], "ok");
    assert_eq!(find(&checks, "event ONCRMDEALADD")["status"], "ok");
    let token = checks
        .iter()
        .find(|c| c["check"].as_str().unwrap().ends_with("(token)"))
        .expect("the token check ran");
    assert_eq!(token["status"], "ok", "the handler refuses a wrong token");
}

#[test]
fn an_unfinished_installation_fails() {
    let env = sandbox();
    env.sandbox.portal.set_installed(false);
    let (code, checks) = doctor(&env, &[]);
    assert_eq!(code, 1);
    let check = find(&checks, "installation");
    assert_eq!(check["status"], "fail");
    assert!(check["fix"].as_str().unwrap().contains("installFinish"));
}

#[test]
fn a_non_administrator_is_warned() {
    let env = sandbox();
    let (access, refresh) = env.sandbox.portal.issue_tokens(2);
    env.save_oauth_profile("user", &access, &refresh, None);
    let (_, checks) = doctor(&env, &["-p", "user"]);
    assert_eq!(find(&checks, "administrator")["status"], "warn");
}

#[test]
fn failing_unreachable_and_careless_handlers_are_named() {
    let env = sandbox();
    let (failing, _) = recorder(|_| 500);
    let (careless, _) = recorder(|_| 200);
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", listener.local_addr().unwrap())
    };
    env.json(&["bind", "ONCRMDEALADD", &format!("{failing}/f")]);
    env.json(&["bind", "ONCRMDEALADD", &closed]);
    env.json(&["bind", "ONTASKADD", &format!("{careless}/c")]);
    let (code, checks) = doctor(&env, &[]);
    assert_eq!(code, 1);
    let failing_check = checks
        .iter()
        .find(|c| c["check"] == format!("handler {failing}/f"))
        .unwrap();
    assert_eq!(failing_check["status"], "fail");
    assert!(failing_check["detail"]
        .as_str()
        .unwrap()
        .contains("HTTP 500"));
    let closed_check = checks
        .iter()
        .find(|c| c["check"] == format!("handler {closed}"))
        .unwrap();
    assert_eq!(closed_check["status"], "fail");
    assert!(closed_check["detail"]
        .as_str()
        .unwrap()
        .contains("unreachable"));
    assert!(
        !closed_check["fix"].as_str().unwrap().contains("TLS"),
        "no TLS advice for an http:// handler: {closed_check}"
    );
    let local = find(&checks, &format!("handler {closed} (address)"));
    assert!(
        !local["detail"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1 is 127.0.0.1"),
        "{local}"
    );
    let careless_check = find(&checks, &format!("handler {careless}/c (token)"));
    assert_eq!(careless_check["status"], "warn", "accepts a wrong token");
}

#[test]
fn a_slow_handler_is_warned() {
    let env = sandbox();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut buffer = [0u8; 65536];
            let _ = stream.read(&mut buffer);
            // The workload of a slow handler, not a synchronisation.
            std::thread::sleep(std::time::Duration::from_millis(2_500));
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let (_, checks) = doctor(&env, &["--handler", &url, "--application-token", ""]);
    let check = checks
        .iter()
        .find(|c| c["check"] == format!("handler {url}"))
        .unwrap();
    assert_eq!(check["status"], "warn", "{check}");
    assert!(check["fix"].as_str().unwrap().contains("slow"));
}

#[test]
fn events_and_the_queue_are_checked() {
    let env = sandbox();
    let (code, checks) = doctor(&env, &["--event", "ONCRMDEALUPDATE"]);
    assert_eq!(code, 1);
    assert_eq!(
        find(&checks, "event ONCRMDEALUPDATE")["status"],
        "fail",
        "not bound"
    );
    let (_, checks) = doctor(&env, &["--event", "ONCRMDEALUPDAT"]);
    assert!(find(&checks, "event ONCRMDEALUPDAT")["fix"]
        .as_str()
        .unwrap()
        .contains("ONCRMDEALUPDATE"));
    env.json(&["bind", "ONCRMDEALUPDATE", "--offline"]);
    for n in 1..=3 {
        env.sandbox
            .portal
            .enqueue("ONCRMDEALUPDATE", &json!({"FIELDS": {"ID": n}}));
    }
    env.json(&["offline", "get", "--limit", "1"]);
    env.sandbox.portal.age_offline(26 * 86_400);
    let (code, checks) = doctor(&env, &["--event", "ONCRMDEALUPDATE"]);
    assert_eq!(code, 1);
    let queued: Vec<&Value> = checks
        .iter()
        .filter(|c| c["check"] == "event ONCRMDEALUPDATE")
        .collect();
    assert!(
        queued
            .iter()
            .any(|c| c["status"] == "warn" && c["detail"].as_str().unwrap().contains("3 record")),
        "{queued:?}"
    );
    assert!(
        queued.iter().any(|c| c["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("--event ONCRMDEALUPDATE ")),
        "the fix names the event, not a placeholder: {queued:?}"
    );
    let age = find(&checks, "queue age");
    assert_eq!(age["status"], "fail");
    assert!(age["fix"].as_str().unwrap().contains("--errors"), "{age}");
    let reservations = find(&checks, "reservations");
    assert_eq!(reservations["status"], "warn");
    assert!(reservations["fix"]
        .as_str()
        .unwrap()
        .contains("--process-id"));
}

#[test]
fn a_webhook_profile_fails_with_the_fix() {
    let env = sandbox();
    env.save_webhook_profile("hook");
    let (code, checks) = doctor(&env, &["-p", "hook"]);
    assert_eq!(code, 1);
    assert!(find(&checks, "credentials")["fix"]
        .as_str()
        .unwrap()
        .contains("local application"));
}
