//! diff / apply / export of a subscriptions file, on one portal and several.

use crate::common::{run, TestEnv};
use bx_events::bitrix::RateLimit;
use bx_events::internal::save_profile;
use bx_events::internal::{ProfileKind, ProfileSettings, Secrets};
use bx_events::sandbox::{SandboxOptions, SandboxThread};
use serde_json::Value;

fn manifest_of(count: usize) -> String {
    let mut text =
        String::from("[defaults]\nhandler_base = \"${HOOKS_URL:-https://hooks.example.com}\"\n");
    for i in 0..count {
        text.push_str(&format!(
            "\n[[subscription]]\nevent = \"ONCRMDEALADD\"\nhandler = \"/h{i}\"\n"
        ));
    }
    text
}

fn write(env: &TestEnv, name: &str, text: &str) -> String {
    let path = env.config_dir().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn applying_200_subscriptions_takes_five_requests_and_a_second_apply_changes_nothing() {
    let env = TestEnv::with_options(SandboxOptions {
        rate_limit: Some(RateLimit {
            burst: 50.0,
            per_second: 2.0,
        }),
        ..SandboxOptions::default()
    });
    let file = write(&env, "m.toml", &manifest_of(200));
    let before = env.sandbox.portal.stats().requests;
    let applied = env.json(&["apply", "-f", &file]);
    assert_eq!(applied["summary"]["bind"], 200);
    assert_eq!(applied["summary"]["failed"], 0);
    let stats = env.sandbox.portal.stats();
    assert!(
        stats.requests - before <= 1 + 4,
        "made {} requests",
        stats.requests - before
    );
    assert_eq!(stats.query_limit_exceeded, 0);
    assert_eq!(env.sandbox.portal.binding_count(), 200);

    let before = env.sandbox.portal.stats().requests;
    let (code, stdout, stderr) = run(env.cmd().args(["apply", "-f", &file]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("No changes: 200 subscription(s) already in sync"),
        "{stderr}"
    );
    assert!(stdout.lines().all(|l| l.starts_with("= keep")), "{stdout}");
    assert_eq!(
        env.sandbox.portal.stats().requests - before,
        1,
        "only event.get"
    );
}

#[test]
fn removed_entries_are_drift_and_prune_removes_exactly_them() {
    let env = TestEnv::new();
    let full = write(&env, "full.toml", &manifest_of(6));
    env.json(&["apply", "-f", &full]);
    let smaller = write(&env, "small.toml", &manifest_of(4));
    let (code, _, stderr) = run(env.cmd().args(["diff", "-f", &smaller, "--exit-code"]));
    assert_eq!(
        code, 0,
        "without --prune extra bindings are not drift: {stderr}"
    );
    let (code, stdout, stderr) =
        run(env
            .cmd()
            .args(["diff", "-f", &smaller, "--prune", "--exit-code"]));
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("- unbind")).count(),
        2,
        "{stdout}"
    );
    let plan = env.json(&["diff", "-f", &smaller, "--prune"]);
    assert_eq!(plan["summary"]["unbind"], 2);
    assert!(plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["result"] == "planned"));

    let (code, _, stderr) = run(env.cmd().args(["apply", "-f", &smaller, "--prune"]));
    assert_eq!(
        code, 2,
        "pruning without --yes and without input is refused: {stderr}"
    );
    assert_eq!(env.sandbox.portal.binding_count(), 6);
    let dry = env.json(&["apply", "-f", &smaller, "--prune", "--dry-run"]);
    assert_eq!(dry["summary"]["unbind"], 2);
    assert_eq!(env.sandbox.portal.binding_count(), 6);

    let applied = env.json(&["apply", "-f", &smaller, "--prune", "--yes"]);
    assert_eq!(applied["summary"]["unbind"], 2);
    let left = env.json(&["list"]);
    let handlers: Vec<&str> = left
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["handler"].as_str().unwrap())
        .collect();
    assert_eq!(
        handlers,
        (0..4)
            .map(|i| format!("https://hooks.example.com/h{i}"))
            .collect::<Vec<_>>()
    );
    let (code, _, _) = run(env
        .cmd()
        .args(["diff", "-f", &smaller, "--prune", "--exit-code"]));
    assert_eq!(code, 0);
}

#[test]
fn failing_commands_in_a_batch_are_reported_and_exit_1() {
    let env = TestEnv::new();
    let file = write(
        &env,
        "m.toml",
        "[[subscription]]\nevent = \"ONCRMDEALADD\"\nhandler = \"https://h.example.com/a\"\n\n[[subscription]]\nevent = \"ONCALENDARENTRYADD\"\nhandler = \"https://h.example.com/b\"\n\n[[subscription]]\nevent = \"ONTASKADD\"\nhandler = \"https://h.example.com/c\"\n",
    );
    let (code, stdout, stderr) = run(env.cmd().args(["apply", "-f", &file, "-o", "json"]));
    assert_eq!(code, 1, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let changes = report["changes"].as_array().unwrap();
    let failed: Vec<&Value> = changes.iter().filter(|c| c["result"] == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["event"], "ONCALENDARENTRYADD");
    assert!(failed[0]["error"]
        .as_str()
        .unwrap()
        .contains("ERROR_EVENT_NOT_FOUND"));
    assert_eq!(report["summary"]["failed"], 1);
    assert_eq!(
        report["summary"]["bind"], 2,
        "failed changes are not counted as bound"
    );
    assert!(stderr.contains("Applied: 2 bound"), "{stderr}");
    assert_eq!(
        env.sandbox.portal.binding_count(),
        2,
        "the other entries were applied"
    );
}

#[test]
fn manifest_errors_name_file_line_and_column() {
    let env = TestEnv::new();
    let cases = [
        ("[[subscription]]\nevent = \"ONCRMDEALADD\"\nhandler = \"${NOT_SET_ANYWHERE}/x\"\n", ":3:11:", "NOT_SET_ANYWHERE"),
        ("[[subscription]]\nevent = \"ONCRMDEALADD\"\nhandlr = \"https://a.example.com/x\"\n", ":3:", "handlr"),
        ("[[subscription]]\nevent = \"ON CRM\"\nhandler = \"https://a.example.com/x\"\n", ":2:9:", "not an event name"),
        ("[[subscription]]\nevent = \"ONCRMDEALADD\"\nhandler = \"ftp://a.example.com/x\"\n", ":3:11:", "ERROR_UNSUPPORTED_PROTOCOL"),
        ("[[subscription]]\nevent = \"A\"\nhandler = \"https://a.example.com/x\"\n[[subscription]]\nevent = \"A\"\nhandler = \"https://a.example.com/x\"\n", ":4:", "duplicate"),
        ("[[subscription]\n", ":1:", ""),
    ];
    for (text, location, words) in cases {
        let file = write(&env, "bad.toml", text);
        let (code, _, stderr) = run(env.cmd().args(["diff", "-f", &file]));
        assert_eq!(code, 2, "{text}: {stderr}");
        assert!(
            stderr.contains(&format!("bad.toml{location}")),
            "{text}: {stderr}"
        );
        assert!(stderr.contains(words), "{text}: {stderr}");
    }
    assert_eq!(
        env.sandbox.portal.stats().requests,
        0,
        "no request for a bad file"
    );
    let (code, _, stderr) = run(env.cmd().args(["diff", "-f", "/nonexistent/bx.toml"]));
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn export_round_trips_through_apply() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", "https://hooks.example.com/deal"]);
    env.json(&[
        "bind",
        "ONCRMLEADADD",
        "https://hooks.example.com/lead",
        "--auth-type",
        "1",
    ]);
    env.json(&["bind", "ONCRMDEALUPDATE", "--offline", "--connector", "erp"]);
    let (code, exported, stderr) = run(env.cmd().args(["export"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        exported.contains("connector = \"erp\"") && exported.contains("auth_type = 1"),
        "{exported}"
    );
    let (code, stdout, stderr) = run(env
        .cmd()
        .args(["apply", "-f", "-", "--prune", "--yes", "-o", "json"])
        .write_stdin(exported));
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["summary"]["keep"], 3);
    assert_eq!(report["summary"]["bind"], 0);
    assert_eq!(report["summary"]["unbind"], 0);
    let as_json = env.json(&["export"]);
    assert_eq!(as_json.as_array().unwrap().len(), 3);
}

fn save_profile_for(env: &TestEnv, name: &str, portal: &str, access: &str) {
    let settings = ProfileSettings {
        portal: portal.to_string(),
        kind: ProfileKind::Oauth,
        client_id: None,
        oauth_server: None,
        rate_limit: None,
        user_id: None,
        scope: None,
        member_id: None,
        uninstalled_at: None,
    };
    let secrets = Secrets {
        access_token: Some(access.into()),
        ..Secrets::default()
    };
    save_profile(&env.store(), name, settings, secrets).unwrap();
}

#[test]
fn fan_out_applies_to_every_portal_and_reports_the_one_that_fails() {
    let env = TestEnv::new();
    let second = SandboxThread::spawn(SandboxOptions {
        rate_limit: None,
        ..SandboxOptions::default()
    })
    .unwrap();
    save_profile_for(
        &env,
        "second",
        &second.credentials.portal,
        second.credentials.access_token.expose(),
    );
    let refused = crate::common::refused_port();
    save_profile_for(
        &env,
        "broken",
        &format!("http://127.0.0.1:{}", refused.port),
        "whatever",
    );
    let file = write(&env, "m.toml", &manifest_of(3));

    let (code, stdout, stderr) = run(env.cmd().args([
        "apply",
        "-f",
        &file,
        "--all-profiles",
        "--concurrency",
        "3",
        "-o",
        "json",
    ]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("broken"), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["summary"]["bind"], 6);
    assert_eq!(report["errors"][0]["profile"], "broken");
    let profiles: std::collections::BTreeSet<&str> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["profile"].as_str().unwrap())
        .collect();
    assert_eq!(profiles.into_iter().collect::<Vec<_>>(), ["sb", "second"]);
    assert_eq!(env.sandbox.portal.binding_count(), 3);
    assert_eq!(second.portal.binding_count(), 3);

    let (code, stdout, _) = run(env.cmd().args([
        "diff",
        "-f",
        &file,
        "--profiles",
        "sb,second",
        "--exit-code",
    ]));
    assert_eq!(code, 0);
    assert!(
        stdout.contains("sb (") && stdout.contains("second ("),
        "grouped by profile: {stdout}"
    );
}

/// docs/portal.md, "batch auth": a connector inside a batch command is ignored, so
/// offline subscriptions with connectors go in batches of their own with the
/// connector on the batch request; then `diff` converges and `--prune` removes them.
#[test]
fn connectors_travel_on_the_batch_request_so_apply_converges() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.config_dir()).unwrap();
    let file = write(
        &env,
        "c.toml",
        "[[subscription]]\nevent = \"ONCRMDEALADD\"\ntype = \"offline\"\nconnector = \"erp\"\n\n[[subscription]]\nevent = \"ONCRMDEALUPDATE\"\ntype = \"offline\"\nconnector = \"crm2\"\n\n[[subscription]]\nevent = \"ONCRMDEALDELETE\"\ntype = \"offline\"\n",
    );
    let applied = env.json(&["apply", "-f", &file]);
    assert_eq!(applied["summary"]["bind"], 3, "{applied}");
    let bound = env.json(&["list"]);
    let mut connectors: Vec<Value> = bound
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["connector"].clone())
        .collect();
    connectors.sort_by_key(|c| c.to_string());
    assert_eq!(
        connectors,
        [Value::from("crm2"), Value::from("erp"), Value::Null]
    );
    let (code, _, stderr) = run(env.cmd().args(["diff", "-f", &file, "--exit-code"]));
    assert_eq!(code, 0, "in sync: {stderr}");
    let empty = write(&env, "empty.toml", "");
    let pruned = env.json(&["apply", "-f", &empty, "--prune", "--yes"]);
    assert_eq!(pruned["summary"]["unbind"], 3, "{pruned}");
    assert_eq!(env.sandbox.portal.binding_count(), 0);
}

#[test]
fn a_connector_on_an_online_binding_is_refused() {
    let env = TestEnv::new();
    let (code, _, stderr) = run(env.cmd().args([
        "bind",
        "ONCRMDEALADD",
        "https://hooks.example.com/h",
        "--connector",
        "erp",
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--offline"), "{stderr}");
    assert_eq!(env.sandbox.portal.binding_count(), 0);
}

/// `export | apply --prune` without `-f`: the file read is named, with how to read
/// stdin, and without a terminal nothing is unbound unless `--yes` says so.
#[test]
fn apply_without_a_file_names_the_one_it_reads() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", "https://hooks.example.com/a"]);
    let exported = env.cmd().args(["export"]).output().unwrap().stdout;
    let dir = env.config_dir();
    std::fs::write(dir.join("bx-events.toml"), "").unwrap();
    let (code, _, stderr) = run(env
        .cmd()
        .current_dir(&dir)
        .args(["apply", "--prune"])
        .write_stdin(exported.clone()));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("Reading bx-events.toml") && stderr.contains("-f -"),
        "{stderr}"
    );
    assert_eq!(env.sandbox.portal.binding_count(), 1, "nothing unbound");
    let (code, _, stderr) = run(env
        .cmd()
        .args(["apply", "-f", "-", "--prune", "--yes"])
        .write_stdin(exported));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(env.sandbox.portal.binding_count(), 1, "a no-op");
}

/// The portal stores a non-administrator's own user id on every online handler
/// they bind; `apply` and `diff` must still see the file's entry as in sync.
#[test]
fn a_non_administrators_apply_converges_and_prunes() {
    let env = TestEnv::new();
    let (access, refresh) = env.sandbox.portal.issue_tokens(2);
    env.save_oauth_profile("user", &access, &refresh, None);
    let file = write(
        &env,
        "u.toml",
        "[[subscription]]\nevent = \"ONCRMDEALADD\"\nhandler = \"https://hooks.example.com/mine\"\n",
    );
    let applied = env.json(&["apply", "-p", "user", "-f", &file]);
    assert_eq!(applied["summary"]["bind"], 1, "{applied}");
    let (code, _, stderr) = run(env
        .cmd()
        .args(["diff", "-p", "user", "-f", &file, "--exit-code"]));
    assert_eq!(code, 0, "converged: {stderr}");
    let again = env.json(&["apply", "-p", "user", "-f", &file]);
    assert_eq!(again["summary"]["keep"], 1, "{again}");
    let empty = write(&env, "none.toml", "");
    let pruned = env.json(&["apply", "-p", "user", "-f", &empty, "--prune", "--yes"]);
    assert_eq!(pruned["summary"]["unbind"], 1, "{pruned}");
    assert_eq!(env.sandbox.portal.binding_count(), 0);
}

/// Drift the file does not list is named with the command that removes it.
#[test]
fn bindings_the_file_does_not_list_are_named_with_the_command_that_removes_them() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALUPDATE", "https://hooks.example.com/old"]);
    let file = write(
        &env,
        "s.toml",
        "[[subscription]]\nevent = \"ONCRMDEALADD\"\nhandler = \"https://hooks.example.com/x\"\n",
    );
    let (code, _, stderr) = run(env.cmd().args(["apply", "-f", &file]));
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run(env.cmd().args(["apply", "-f", &file]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("No changes")
            && stderr.contains("1 binding(s) on the portal are not in the file")
            && stderr.contains(&format!("bx-events apply -f {file} --prune")),
        "{stderr}"
    );
    let (code, _, stderr) = run(env
        .cmd()
        .args(["diff", "-f", &file, "--prune", "--exit-code"]));
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains(&format!("run `bx-events apply -f {file} --prune`")),
        "{stderr}"
    );
    assert_eq!(env.sandbox.portal.binding_count(), 2, "nothing removed");
}

/// A file's event typo is caught by `diff` (the `events` list comes in the same
/// batch as the bindings), with the names the portal does know.
#[test]
fn diff_catches_an_event_typo_with_a_suggestion_and_apply_sends_nothing_for_it() {
    let env = TestEnv::new();
    let file = write(
        &env,
        "typo.toml",
        "[[subscription]]\nevent = \"ONCRMDEALADDD\"\nhandler = \"https://hooks.example.com/x\"\n",
    );
    let before = env.sandbox.portal.stats().requests;
    let (code, stdout, stderr) = run(env.cmd().args(["diff", "-f", &file]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stdout.contains("did you mean ONCRMDEALADD")
            || stderr.contains("did you mean ONCRMDEALADD"),
        "{stdout}{stderr}"
    );
    assert_eq!(
        env.sandbox.portal.stats().requests - before,
        1,
        "bindings, role and events in one batch"
    );
    let (code, _, stderr) = run(env.cmd().args(["apply", "-f", &file]));
    assert_eq!(code, 1, "{stderr}");
    let stats = env.sandbox.portal.stats();
    assert_eq!(stats.methods.get("event.bind"), None, "nothing sent for it");
}
