//! What a new user meets first: results, exit codes and messages at the edges.

use crate::common::{run, TestEnv, PROFILE};
use bx_events::sandbox::{Fault, FaultKind};
use serde_json::{json, Value};

#[test]
fn call_keeps_operators_inside_brackets() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    for n in 1..=12 {
        env.sandbox
            .portal
            .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": n}}));
    }
    let answer = env.json(&["call", "event.offline.list", "filter[>=ID]=10"]);
    let ids: Vec<&str> = answer["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["10", "11", "12"], "{answer}");
}

#[test]
fn bind_dry_run_checks_the_event_name_without_binding() {
    let env = TestEnv::new();
    let (code, _, stderr) = run(env.cmd().args([
        "bind",
        "ONCRMDEALAD",
        "https://hooks.example.com/h",
        "--dry-run",
    ]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("ERROR_EVENT_NOT_FOUND"), "{stderr}");
    assert!(stderr.contains("did you mean ONCRMDEALADD"), "{stderr}");
    assert_eq!(env.sandbox.portal.binding_count(), 0);
    let planned = env.json(&[
        "bind",
        "ONCRMDEALADD",
        "https://hooks.example.com/h",
        "--dry-run",
    ]);
    assert_eq!(planned["status"], "would_bind");
}

#[test]
fn unbind_suggestions_hold_no_duplicates_nor_the_typed_name() {
    let env = TestEnv::new();
    for handler in ["https://a.example.com/1", "https://a.example.com/2"] {
        env.json(&["bind", "ONCRMDEALUPDATE", handler]);
    }
    env.json(&["bind", "ONCRMDEALADD", "https://a.example.com/3"]);
    let (code, _, stderr) =
        run(env
            .cmd()
            .args(["unbind", "ONCRMDEALUPDAT", "https://a.example.com/1"]));
    assert_eq!(code, 0, "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("similar names"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(line.matches("ONCRMDEALUPDATE").count(), 1, "{line}");
    let (code, _, stderr) = run(env.cmd().args(["unbind", "ONCRMDEALADD"]));
    assert_eq!(code, 2);
    assert!(!stderr.contains("to queue the event"), "{stderr}");
}

#[test]
fn list_and_events_match_patterns_by_one_rule_and_json_stays_quiet() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", "https://a.example.com/1"]);
    let events = env.json(&["events", "crmdeal"]);
    assert!(events
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "ONCRMDEALADD"));
    let listed = env.json(&["list", "--event", "crmdeal"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "substring, as events");
    let (code, stdout, stderr) = run(env.cmd().args(["list", "--event", "nomatch", "-o", "json"]));
    assert_eq!(code, 0);
    assert_eq!(stdout.trim(), "[]");
    assert!(stderr.is_empty(), "machine formats stay quiet: {stderr}");
    let (_, _, stderr) = run(env.cmd().args(["events", "--scope", "nosuch"]));
    assert!(
        stderr.contains("not one of the application's scopes"),
        "{stderr}"
    );
}

#[test]
fn offline_clear_counts_what_it_cleared() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    for n in 1..=3 {
        env.sandbox
            .portal
            .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": n}}));
    }
    let taken = env.json(&["offline", "get", "--limit", "3"]);
    let process_id = taken["process_id"].as_str().unwrap().to_string();
    let first_id = taken["events"][0]["id"].to_string();
    let missing = "A".repeat(32);
    let (code, _, stderr) = run(env
        .cmd()
        .args(["offline", "clear", "--process-id", &missing]));
    assert_eq!(code, 0);
    assert!(
        stderr.contains("holds no records") && stderr.contains("nothing was cleared"),
        "{stderr}"
    );
    let (code, _, stderr) = run(env.cmd().args([
        "offline",
        "clear",
        "--process-id",
        &process_id,
        "--id",
        "99",
    ]));
    assert_eq!(code, 0);
    assert!(stderr.contains("None of the selected records"), "{stderr}");
    let cleared = env.json(&[
        "offline",
        "clear",
        "--process-id",
        &process_id,
        "--id",
        &first_id,
    ]);
    assert_eq!(cleared["cleared"], 1);
    assert_eq!(env.sandbox.portal.offline_count(), 2);
    let (code, _, _) = run(env.cmd().args(["offline", "list", "--filter", "ID>=abc"]));
    assert_eq!(code, 2);
}

#[test]
fn sandbox_fire_refuses_unknown_events() {
    let env = TestEnv::new();
    let (code, _, stderr) = run(env.cmd().args(["sandbox", "fire", "ONCRMDEALAD"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("did you mean ONCRMDEALADD"), "{stderr}");
}

#[test]
fn a_profile_listed_twice_runs_once() {
    let env = TestEnv::new();
    let file = env.config_dir().join("m.toml");
    std::fs::write(
        &file,
        "[[subscription]]\nevent = \"ONCRMDEALADD\"\nhandler = \"https://a.example.com/x\"\n",
    )
    .unwrap();
    let profiles = format!("{PROFILE},{PROFILE}");
    let (code, stdout, stderr) = run(env.cmd().args([
        "apply",
        "-f",
        file.to_str().unwrap(),
        "--profiles",
        &profiles,
        "-o",
        "json",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("listed twice"), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["changes"].as_array().unwrap().len(), 1);
}

// ---- Exit codes and machine output ----------------------------------------------

#[test]
fn a_rejected_webhook_secret_is_a_credentials_failure() {
    let env = TestEnv::new();
    let wrong = env
        .sandbox
        .credentials
        .webhook_url
        .expose()
        .replace("/rest/1/", "/rest/1/x");
    let (code, _, stderr) = run(crate::common::bare_cmd()
        .env("BX_EVENTS_CONFIG_DIR", env.dir.path().join("empty"))
        .env("BX_EVENTS_WEBHOOK_URL", &wrong)
        .args(["call", "scope", "-o", "json"]));
    assert_eq!(code, 4, "{stderr}");
    let error = crate::common::json_error(&stderr);
    assert_eq!(error["code"], "INVALID_CREDENTIALS");
    let hint = error["hint"].as_str().unwrap_or_default();
    assert!(
        hint.contains("webhook's secret is wrong") && !hint.contains("--client-id"),
        "the fix for a webhook, not an OAuth login: {stderr}"
    );
}

#[test]
fn server_errors_that_outlast_the_retries_end_like_limits() {
    let env = TestEnv::new();
    env.sandbox
        .portal
        .inject(Fault::on(FaultKind::ServerError, 5, Some("event.get")));
    let (code, _, stderr) = run(env.cmd().args(["list", "-o", "json"]));
    assert_eq!(code, 5, "{stderr}");
    let error = crate::common::json_error(&stderr);
    assert!(
        error["message"].as_str().unwrap().contains("gave up after"),
        "{error}"
    );
    assert_eq!(error["code"], "INTERNAL_SERVER_ERROR");
    env.sandbox
        .portal
        .inject(Fault::on(FaultKind::BadGateway, 5, Some("event.get")));
    let (code, _, stderr) = run(env.cmd().args(["list", "-o", "json"]));
    assert_eq!(code, 5);
    assert_eq!(
        crate::common::json_error(&stderr)["code"],
        "BAD_RESPONSE",
        "never a bare ERROR"
    );
}

#[test]
fn a_second_consumer_exits_busy() {
    let env = TestEnv::new();
    let state = env.config_dir().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(state.join("consume-sb-default.lock"))
        .unwrap();
    lock.lock().unwrap();
    let (code, _, stderr) = run(env
        .cmd()
        .args(["offline", "consume", "--stdout", "-o", "json"]));
    assert_eq!(code, 75, "{stderr}");
    assert_eq!(crate::common::json_error(&stderr)["code"], "BUSY");
}

#[test]
fn argument_errors_are_json_with_o_json() {
    let env = TestEnv::new();
    for args in [
        vec!["-o", "json", "offline", "clear"],
        vec!["-o", "json", "nosuchcmd"],
        vec!["--output=ndjson", "bind", "--no-such-flag"],
    ] {
        let (code, stdout, stderr) = run(env.cmd().args(&args));
        assert_eq!(code, 2, "{args:?}");
        assert!(stdout.is_empty());
        let error = crate::common::json_error(&stderr);
        assert_eq!(error["code"], "USAGE", "{args:?}: {stderr}");
    }
    let (code, _, stderr) = run(env.cmd().args(["nosuchcmd"]));
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("error:"),
        "plain text without -o json: {stderr}"
    );
}

#[cfg(unix)]
#[test]
fn a_closed_stdout_ends_any_command_quietly() {
    let binary = assert_cmd::cargo::cargo_bin("bx-events");
    for command in [
        "completions bash",
        "help bind",
        "--help",
        "help environment",
    ] {
        for _ in 0..5 {
            let output = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "'{}' {command} | head -c 1 >/dev/null; echo ${{PIPESTATUS:-}}",
                    binary.display()
                ))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
                "{command}: {stderr}"
            );
        }
    }
}

#[test]
fn data_that_cannot_be_written_fails_the_command() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", "https://hooks.example.com/deal"]);
    let to_full = |args: &[&str]| {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        crate::common::bare_process()
            .env("BX_EVENTS_CONFIG_DIR", env.config_dir())
            .args(args)
            .stdout(full)
            .output()
            .unwrap()
    };
    let commands: [&[&str]; 8] = [
        &["export"],
        &["list"],
        &["list", "-o", "json"],
        &["list", "-o", "ndjson"],
        &["completions", "bash"],
        &["help", "bind"],
        &["--help"],
        &["--version"],
    ];
    for args in commands {
        let output = to_full(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot write to stdout: No space left on device"),
            "{args:?}: {stderr}"
        );
    }
    let output = to_full(&["-o", "json", "list"]);
    let error = crate::common::json_error(&String::from_utf8_lossy(&output.stderr));
    assert_eq!(error["code"], "FAILED");
}

#[test]
fn a_requested_stop_prints_no_error_line() {
    use std::io::{BufRead, Read};
    // A command that stops gracefully (listen) ends with the Interrupted outcome;
    // in JSON formats that once printed an INTERRUPTED error object.
    for format in ["table", "json", "ndjson"] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("bx-events"))
            .env("BX_EVENTS_CONFIG_DIR", dir.path())
            .args(["-o", format, "listen", "--port", "0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut printed = String::new();
        while !printed.contains("Listening on") {
            assert_ne!(stderr.read_line(&mut printed).unwrap(), 0, "{printed}");
        }
        let killed = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        stderr.read_to_string(&mut printed).unwrap();
        assert_eq!(
            child.wait().unwrap().code(),
            Some(130),
            "{format}: {printed}"
        );
        assert!(
            !printed.contains("error") && !printed.contains("INTERRUPTED"),
            "{format}: {printed}"
        );
    }
}

// ---- Messages ----------------------------------------------------------------

#[test]
fn hints_name_the_known_portal_and_a_copyable_login() {
    let env = TestEnv::new();
    env.sandbox
        .portal
        .inject(Fault::on(FaultKind::ExpiredToken, 10, Some("event.get")));
    let (code, _, stderr) = run(env.cmd().args(["list", "-o", "json"]));
    assert_eq!(code, 4, "{stderr}");
    let hint = crate::common::json_error(&stderr)["hint"]
        .as_str()
        .unwrap()
        .to_string();
    let portal = &env.sandbox.credentials.portal;
    assert!(hint.contains(&format!("--portal {portal}")), "{hint}");
    assert!(hint.contains(&format!("--oauth-server {portal}")), "{hint}");
    assert!(hint.contains(&env.sandbox.credentials.client_id), "{hint}");
    assert!(!hint.contains("YOUR.bitrix24.com"), "{hint}");
    assert!(
        !hint.contains("log in with --client-id"),
        "the profile has them: {hint}"
    );
}

#[test]
fn a_reused_authorization_code_is_explained_as_such() {
    let env = TestEnv::new();
    let creds = &env.sandbox.credentials;
    let (code, _, stderr) = run(env.cmd().args([
        "auth",
        "login",
        "-p",
        "again",
        "--portal",
        &creds.portal,
        "--client-id",
        &creds.client_id,
        "--client-secret",
        creds.client_secret.expose(),
        "--oauth-server",
        &creds.portal,
        "--code",
        "not-a-valid-code",
        "-o",
        "json",
    ]));
    assert_ne!(code, 0, "{stderr}");
    let hint = crate::common::json_error(&stderr)["hint"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(hint.contains("authorization code"), "{hint}");
    assert!(!hint.contains("refresh token"), "{hint}");
}

#[test]
fn help_keeps_global_options_apart_and_shows_the_number_placeholder() {
    let env = TestEnv::new();
    let (_, stdout, _) = run(env.cmd().args(["bind", "-h"]));
    let (own, global) = stdout
        .split_once("Global options:")
        .expect("a heading of its own");
    assert!(
        own.contains("--dry-run") && !own.contains("--config-dir"),
        "{stdout}"
    );
    assert!(global.contains("--config-dir"));
    let (_, stdout, _) = run(env.cmd().args(["sandbox", "fire", "--help"]));
    assert!(stdout.contains("{N}"), "{stdout}");
}

#[test]
fn config_toml_says_it_is_rewritten_whole() {
    let env = TestEnv::new();
    let (code, _, stderr) = run(env.cmd().args(["auth", "switch", PROFILE]));
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(env.config_dir().join("config.toml")).unwrap();
    assert!(text.starts_with("# Written by bx-events"), "{text}");
    assert!(text.contains("comments are not"), "{text}");
}

#[test]
fn usage_lines_do_not_show_the_config_dir_set_by_the_environment() {
    let env = TestEnv::new();
    let (code, _, stderr) = run(env.cmd().args(["offline", "clear"]));
    assert_eq!(code, 2);
    let usage = stderr
        .lines()
        .find(|l| l.starts_with("Usage:"))
        .unwrap_or_default();
    assert!(!usage.contains("--config-dir"), "{usage}");
}
