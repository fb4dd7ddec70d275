//! What a new user meets first: results, exit codes and messages at the edges.

mod common;

use common::{run, TestEnv, PROFILE};
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
