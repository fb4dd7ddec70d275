//! bind / list / unbind / events / call against the in-process sandbox.

use crate::common::{json_error, run, TestEnv};
use serde_json::json;

const DEAL_HOOK: &str = "https://hooks.example.com/deal";

#[test]
fn bind_is_idempotent_and_list_shows_the_contract_shape() {
    let env = TestEnv::new();
    let first = env.json(&["bind", "ONCRMDEALADD", DEAL_HOOK]);
    assert_eq!(first["status"], "bound");
    let second = env.json(&["bind", "oncrmdealadd", DEAL_HOOK]);
    assert_eq!(second["status"], "already_bound");
    assert_eq!(env.sandbox.portal.binding_count(), 1);
    let listed = env.json(&["list"]);
    assert_eq!(
        listed,
        json!([{"event":"ONCRMDEALADD","handler":DEAL_HOOK,"auth_type":0,"type":"online","connector":null}])
    );
}

#[test]
fn dry_run_binds_nothing() {
    let env = TestEnv::new();
    let planned = env.json(&["bind", "ONCRMDEALADD", DEAL_HOOK, "--dry-run"]);
    assert_eq!(planned["status"], "would_bind");
    assert_eq!(env.sandbox.portal.binding_count(), 0);
    env.json(&["bind", "ONCRMDEALADD", DEAL_HOOK]);
    let again = env.json(&["bind", "ONCRMDEALADD", DEAL_HOOK, "--dry-run"]);
    assert_eq!(again["status"], "already_bound");
}

#[test]
fn handler_urls_are_checked_before_any_request() {
    let env = TestEnv::new();
    let (code, _, stderr) = run(env
        .cmd()
        .args(["bind", "ONCRMDEALADD", "http://localhost/hook"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("ERROR_WRONG_HANDLER_URL"), "{stderr}");
    let (code, _, stderr) =
        run(env
            .cmd()
            .args(["bind", "ONCRMDEALADD", "ftp://hooks.example.com/x"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("ERROR_UNSUPPORTED_PROTOCOL"), "{stderr}");
    let (code, _, stderr) = run(env.cmd().args(["bind", "ONCRMDEALADD"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--offline"), "{stderr}");
    let (code, _, stderr) = run(env.cmd().args(["bind", "ON CRM", DEAL_HOOK]));
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(
        env.sandbox.portal.stats().requests,
        0,
        "no request may be sent for bad input"
    );
}

#[test]
fn loopback_handlers_bind_with_a_warning() {
    let env = TestEnv::new();
    let (code, stdout, stderr) = run(env.cmd().args([
        "bind",
        "ONCRMDEALADD",
        "http://127.0.0.1:9/hook",
        "-o",
        "json",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("cannot reach"), "{stderr}");
    let printed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(printed["status"], "bound");
}

#[test]
fn unknown_events_get_suggestions() {
    let env = TestEnv::new();
    let (code, _, stderr) = run(env.cmd().args(["bind", "ONCRMDEALAD", DEAL_HOOK]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("ERROR_EVENT_NOT_FOUND"), "{stderr}");
    assert!(stderr.contains("did you mean ONCRMDEALADD"), "{stderr}");
    let (_, _, stderr) = run(env
        .cmd()
        .args(["bind", "ONCRMDEALAD", DEAL_HOOK, "-o", "json"]));
    let error = json_error(&stderr);
    assert_eq!(error["code"], "ERROR_EVENT_NOT_FOUND");
    assert_eq!(error["http_status"], 400);
    assert!(error["hint"].as_str().unwrap().contains("ONCRMDEALADD"));
}

#[test]
fn offline_bindings_have_no_handler() {
    let env = TestEnv::new();
    let bound = env.json(&["bind", "ONCRMDEALUPDATE", "--offline", "--connector", "erp"]);
    assert_eq!(bound["type"], "offline");
    assert_eq!(bound["handler"], serde_json::Value::Null);
    assert_eq!(bound["connector"], "erp");
    let listed = env.json(&["list", "--offline"]);
    assert_eq!(
        listed,
        json!([{"event":"ONCRMDEALUPDATE","handler":null,"auth_type":0,"type":"offline","connector":"erp"}])
    );
    let (code, _, stderr) = run(env.cmd().args(["bind", "ONOFFLINEEVENT", "--offline"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("Offline event cannot be registered"),
        "{stderr}"
    );
}

#[test]
fn list_filters_by_event_glob_handler_and_type() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", DEAL_HOOK]);
    env.json(&[
        "bind",
        "ONCRMDEALUPDATE",
        "https://hooks.example.com/update",
    ]);
    env.json(&["bind", "ONTASKADD", "https://tasks.example.com/t"]);
    env.json(&["bind", "ONCRMLEADADD", "--offline"]);
    let deals = env.json(&["list", "--event", "oncrmdeal*"]);
    assert_eq!(deals.as_array().unwrap().len(), 2);
    let tasks = env.json(&["ls", "--handler", "*tasks.example*"]);
    assert_eq!(tasks[0]["event"], "ONTASKADD");
    assert_eq!(tasks.as_array().unwrap().len(), 1);
    let online = env.json(&["get", "--online"]);
    assert_eq!(online.as_array().unwrap().len(), 3);
    let exact = env.json(&["list", "--event", "ONCRMDEALADD"]);
    assert_eq!(exact.as_array().unwrap().len(), 1);
    let output = env.cmd().args(["list", "-o", "ndjson"]).output().unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
}

#[test]
fn table_output_lists_bindings_in_columns() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", DEAL_HOOK]);
    let (code, stdout, _) = run(env.cmd().args(["list"]));
    assert_eq!(code, 0);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("EVENT"), "{stdout}");
    assert!(
        lines[1].contains("ONCRMDEALADD") && lines[1].contains(DEAL_HOOK),
        "{stdout}"
    );
    assert!(
        !stdout.contains('│'),
        "no box drawing off a terminal: {stdout}"
    );
}

#[test]
fn unbind_removes_and_reports_zero_matches_as_success() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", DEAL_HOOK]);
    let removed = env.json(&["unbind", "ONCRMDEALADD", DEAL_HOOK]);
    assert_eq!(removed["count"], 1);
    assert_eq!(removed["type"], "online");
    let again = env.json(&["unbind", "ONCRMDEALADD", DEAL_HOOK]);
    assert_eq!(again["count"], 0);
    assert_eq!(env.sandbox.portal.binding_count(), 0);
}

#[test]
fn unbind_dry_run_counts_without_removing() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", DEAL_HOOK]);
    let planned = env.json(&["unbind", "ONCRMDEALADD", DEAL_HOOK, "--dry-run"]);
    assert_eq!(planned["count"], 1);
    assert_eq!(env.sandbox.portal.binding_count(), 1);
}

#[test]
fn unbind_all_needs_confirmation_and_uses_batch() {
    let env = TestEnv::new();
    for event in ["ONCRMDEALADD", "ONCRMDEALUPDATE", "ONCRMLEADADD"] {
        env.json(&["bind", event, DEAL_HOOK]);
    }
    env.json(&["bind", "ONTASKADD", "https://other.example.com/x"]);
    let (code, _, stderr) = run(env.cmd().args(["unbind", "--all", "--handler", DEAL_HOOK]));
    assert_eq!(code, 2, "without input and --yes it must refuse: {stderr}");
    assert!(stderr.contains("--yes"), "{stderr}");
    assert_eq!(env.sandbox.portal.binding_count(), 4);

    let removed = env.json(&["unbind", "--all", "--handler", DEAL_HOOK, "--yes"]);
    let removed = removed.as_array().unwrap();
    assert_eq!(removed.len(), 3);
    assert!(removed
        .iter()
        .all(|r| r["count"] == 1 && r["auth_type"] == 0));
    let stats = env.sandbox.portal.stats();
    // Each run lists the bindings with the caller's role in one batch (the
    // refused run too); the confirmed one removes them in one more.
    assert_eq!(stats.methods.get("batch"), Some(&3));
    assert_eq!(stats.methods.get("event.unbind"), Some(&3));
    let left = env.json(&["list"]);
    assert_eq!(left.as_array().unwrap().len(), 1);
    assert_eq!(left[0]["event"], "ONTASKADD");

    let nothing = env.json(&["unbind", "--all", "--event", "ONCRM*", "--yes"]);
    assert_eq!(nothing, json!([]));
}

#[test]
fn events_filter_by_pattern_scope_and_full() {
    let env = TestEnv::new();
    // The sandbox knows every deal event of the catalogue, not only the first three.
    let deals = env.json(&["events", "crmdeal"]);
    let deals: Vec<&str> = deals
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    for expected in [
        "ONCRMDEALADD",
        "ONCRMDEALUPDATE",
        "ONCRMDEALDELETE",
        "ONCRMDEALMOVETOCATEGORY",
    ] {
        assert!(deals.contains(&expected), "{expected} missing: {deals:?}");
    }
    assert!(
        deals.iter().all(|e| e.starts_with("ONCRMDEAL")),
        "{deals:?}"
    );
    let tasks = env.json(&["events", "ONTASK*ADD"]);
    assert_eq!(tasks, json!(["ONTASKADD", "ONTASKCOMMENTADD"]));
    let scoped = env.json(&["events", "--scope", "task"]);
    assert!(scoped
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e.as_str().unwrap().starts_with("ONTASK")));
    let default = env.json(&["events"]);
    assert!(!default
        .as_array()
        .unwrap()
        .contains(&json!("ONCALENDARENTRYADD")));
    let full = env.json(&["events", "--full"]);
    assert!(full
        .as_array()
        .unwrap()
        .contains(&json!("ONCALENDARENTRYADD")));
}

#[test]
fn call_prints_the_raw_envelope_and_nests_php_keys() {
    let env = TestEnv::new();
    let info = env.json(&["call", "app.info"]);
    assert_eq!(info["result"]["INSTALLED"], true);
    assert!(info["time"]["duration"].is_number());
    let scoped = env.json(&["call", "events", "SCOPE=user"]);
    assert_eq!(scoped["result"], json!(["ONUSERADD"]));
    env.json(&[
        "call",
        "event.bind",
        "event=ONTASKADD",
        "handler=https://t.example.com/x",
    ]);
    assert_eq!(env.sandbox.portal.binding_count(), 1);
    let from_data = env.json(&["call", "events", "--data", r#"{"SCOPE":"user"}"#]);
    assert_eq!(from_data["result"], json!(["ONUSERADD"]));
    let (code, _, stderr) = run(env.cmd().args(["call", "events", "--data", "[1]"]));
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = run(env.cmd().args(["call", "no.such.method"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("ERROR_METHOD_NOT_FOUND"), "{stderr}");
}

#[test]
fn unbind_all_dry_run_lists_without_removing() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", DEAL_HOOK]);
    let planned = env.json(&["unbind", "--all", "--dry-run"]);
    assert_eq!(planned.as_array().unwrap().len(), 1);
    assert_eq!(env.sandbox.portal.binding_count(), 1);
}

#[test]
fn unbinding_nothing_points_at_what_is_bound() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", DEAL_HOOK]);
    let (code, _, stderr) =
        run(env
            .cmd()
            .args(["unbind", "ONCRMDEALADD", "https://hooks.example.com/other"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("Nothing matched") && stderr.contains(DEAL_HOOK),
        "{stderr}"
    );
    let (_, _, stderr) = run(env.cmd().args(["unbind", "ONCRMDEALAD", DEAL_HOOK]));
    assert!(stderr.contains("similar names: ONCRMDEALADD"), "{stderr}");
}

/// A non-administrator's `unbind --all` goes through `batch`, where every value is
/// text: the portal refuses an AUTH_TYPE text from them (it compares with `!==`
/// against their integer id), so none may be sent.
#[test]
fn a_non_administrators_unbind_all_sends_no_auth_type() {
    let env = TestEnv::new();
    let (access, refresh) = env.sandbox.portal.issue_tokens(2);
    env.save_oauth_profile("user", &access, &refresh, None);
    env.json(&[
        "-p",
        "user",
        "bind",
        "ONCRMDEALADD",
        "https://hooks.example.com/mine",
    ]);
    env.json(&[
        "-p",
        "user",
        "bind",
        "ONCRMDEALUPDATE",
        "https://hooks.example.com/mine",
    ]);
    // The sandbox refuses what the portal refuses.
    let (code, _, stderr) = run(env.cmd().args([
        "-p",
        "user",
        "call",
        "batch",
        "cmd[a]=event.unbind?event=ONCRMDEALADD&handler=https://hooks.example.com/mine&auth_type=2",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        env.sandbox.portal.binding_count(),
        2,
        "text auth_type refused"
    );
    let (code, _, stderr) = run(env.cmd().args(["-p", "user", "unbind", "--all", "--yes"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(env.sandbox.portal.binding_count(), 0, "{stderr}");
}

/// The portal reads handlers with PHP's parse_url (the scheme keeps its case; a
/// host only after `//`) and stores them in a varchar(255): the client refuses
/// what it would refuse, and the sandbox refuses it as the portal does.
#[test]
fn handlers_the_portal_refuses_are_refused_before_sending_and_by_the_sandbox() {
    let env = TestEnv::new();
    let long = format!("https://hooks.example.com/{}", "x".repeat(300));
    let cases = [
        (
            "HTTPS://HOOKS.EXAMPLE.COM/x",
            "only in lower case",
            "ERROR_UNSUPPORTED_PROTOCOL",
        ),
        (
            "http:/hooks.example.com/x",
            "needs '//'",
            "ERROR_WRONG_HANDLER_URL",
        ),
        (long.as_str(), "at most 255", "ERROR_CORE"),
    ];
    for (handler, said, portal_code) in cases {
        let (code, _, stderr) = run(env.cmd().args(["bind", "ONCRMDEALADD", handler]));
        assert_eq!(code, 2, "{handler}: {stderr}");
        assert!(stderr.contains(said), "{handler}: {stderr}");
        let (code, _, stderr) = run(env.cmd().args([
            "call",
            "event.bind",
            "event=ONCRMDEALADD",
            &format!("handler={handler}"),
        ]));
        assert_eq!(code, 1, "{handler}: {stderr}");
        assert!(stderr.contains(portal_code), "{handler}: {stderr}");
    }
    let manifest = env.config_dir().join("long.toml");
    std::fs::write(
        &manifest,
        format!("[[subscription]]\nevent = \"ONCRMDEALADD\"\nhandler = \"{long}\"\n"),
    )
    .unwrap();
    let (code, _, stderr) = run(env.cmd().args(["diff", "-f", manifest.to_str().unwrap()]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("at most 255"), "{stderr}");
    assert_eq!(env.sandbox.portal.binding_count(), 0);
}

/// `list --handler` and `unbind --all --handler` read a handler pattern the same
/// way: the exact URL, or a glob; never a substring (it would unbind `/x2` too).
#[test]
fn list_and_unbind_all_share_one_handler_rule() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", "https://hooks.example.com/x"]);
    env.json(&["bind", "ONCRMDEALUPDATE", "https://hooks.example.com/x2"]);
    let exact = env.json(&["list", "--handler", "https://hooks.example.com/x"]);
    assert_eq!(exact.as_array().unwrap().len(), 1);
    let glob = env.json(&["list", "--handler", "https://hooks.example.com/x*"]);
    assert_eq!(glob.as_array().unwrap().len(), 2);
    // Text that is part of URLs but none of them: said, with the glob that works.
    let (code, stdout, stderr) = run(env.cmd().args(["list", "--handler", "hooks.example"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("2 contain it: `--handler '*hooks.example*'`"),
        "{stderr}"
    );
    let removed = env.json(&[
        "unbind",
        "--all",
        "--handler",
        "https://hooks.example.com/x",
        "--yes",
    ]);
    assert_eq!(removed.as_array().unwrap().len(), 1);
    let left = env.json(&["list"]);
    assert_eq!(left[0]["handler"], "https://hooks.example.com/x2");
}

/// Off a terminal a table never wraps: one binding, one line, whatever its length
/// (scripts cut columns with awk).
#[test]
fn tables_off_a_terminal_never_wrap() {
    let env = TestEnv::new();
    let long = format!("https://hooks.example.com/{}", "segment/".repeat(28));
    env.json(&["bind", "ONCRMDEALADD", &long]);
    let (code, stdout, stderr) = run(env.cmd().env("COLUMNS", "40").args(["list"]));
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one row: {stdout}");
    assert!(lines[1].contains(&long), "{stdout}");
}
