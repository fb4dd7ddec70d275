//! The event catalogue: built from the documentation by the repository's
//! script, listed and described without a portal, and the sandbox's deliveries
//! held to what it says about tokens.

use serde_json::Value;

use crate::common::{bare_cmd, run, TestEnv};

/// Runs a command in an empty config directory (no profile, no credentials)
/// and parses its JSON.
fn offline_json(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(bare_cmd()
        .env("BX_EVENTS_CONFIG_DIR", dir.path())
        .args(args)
        .args(["-o", "json"]));
    assert_eq!(code, 0, "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

/// The `name` of each event a JSON list holds.
fn names(listed: &Value) -> Vec<&str> {
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect()
}

/// The committed data is what `scripts/catalog.py build` makes of the committed
/// documentation pages and the hand table: neither can change without the other.
#[test]
fn the_committed_catalogue_is_what_the_script_builds_from_its_sources() {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = std::process::Command::new("python3")
        .arg(format!("{root}/scripts/catalog.py"))
        .arg("check")
        .output()
        .expect("python3 runs the catalogue script");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn events_catalog_lists_the_documented_events_without_credentials() {
    let listed = offline_json(&["events", "--catalog"]);
    let events = listed.as_array().unwrap();
    let current: Vec<&Value> = events.iter().filter(|e| e["outdated"] == false).collect();
    assert!(current.len() >= 160, "{} current events", current.len());
    let with_payload = current.iter().filter(|e| e["data"].is_object()).count();
    assert!(with_payload >= 150, "{with_payload} with a payload");
    let deal = events.iter().find(|e| e["name"] == "ONCRMDEALADD").unwrap();
    assert_eq!(deal["scope"], "crm");
    assert_eq!(deal["fetch"]["method"], "crm.deal.get");
    assert_eq!(deal["fetch"]["id_path"], "FIELDS.ID");
    // A real, documented event the first sandbox lacked.
    assert!(events
        .iter()
        .any(|e| e["name"] == "ONCRMDEALMOVETOCATEGORY"));
}

#[test]
fn events_catalog_filters_by_scope_and_pattern() {
    let tasks = offline_json(&["events", "--catalog", "--scope", "task"]);
    let task_names = names(&tasks);
    assert!(task_names.contains(&"ONTASKUPDATE") && task_names.contains(&"ONTASKCOMMENTADD"));
    assert!(
        task_names.iter().all(|n| n.starts_with("ONTASK")),
        "{task_names:?}"
    );
    let deals = offline_json(&["events", "--catalog", "ONCRMDEAL*ADD"]);
    assert_eq!(
        names(&deals),
        [
            "ONCRMDEALADD",
            "ONCRMDEALRECURRINGADD",
            "ONCRMDEALUSERFIELDADD"
        ]
    );
    // An unknown scope says which exist instead of printing nothing silently.
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(bare_cmd().env("BX_EVENTS_CONFIG_DIR", dir.path()).args([
        "events",
        "--catalog",
        "--scope",
        "nosuch",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !stdout.contains("ONCRM"),
        "an unknown scope listed events: {stdout}"
    );
    assert!(
        stderr.contains("scope 'nosuch'") && stderr.contains("crm"),
        "{stderr}"
    );
}

#[test]
fn describe_shows_an_event_its_request_and_how_to_fetch_its_object() {
    let deal = offline_json(&["describe", "oncrmdealadd"]);
    assert_eq!(deal["name"], "ONCRMDEALADD");
    assert_eq!(deal["request"]["event"], "ONCRMDEALADD");
    assert_eq!(deal["request"]["data"]["FIELDS"]["ID"], "6641");
    assert_eq!(deal["call"], "bx-events call crm.deal.get id=6641");
    // Ordinary events arrive with an access token alone.
    assert!(deal["request"]["auth"]["access_token"].is_string());
    assert!(deal["request"]["auth"].get("refresh_token").is_none());
    let install = offline_json(&["describe", "ONAPPINSTALL"]);
    assert!(install["request"]["auth"]["refresh_token"].is_string());
    let uninstall = offline_json(&["describe", "ONAPPUNINSTALL"]);
    assert!(uninstall["request"]["auth"].get("access_token").is_none());
    // Two parameters, one from the comment and one from its task.
    let comment = offline_json(&["describe", "ONTASKCOMMENTADD"]);
    assert_eq!(
        comment["call"],
        "bx-events call task.commentitem.get ITEMID=123 TASKID=555"
    );
    assert!(offline_json(&["describe", "ONCRMDEALDELETE"])["call"].is_null());

    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(bare_cmd()
        .env("BX_EVENTS_CONFIG_DIR", dir.path())
        .args(["describe", "ONTASKUPDATE"]));
    assert_eq!(code, 0, "{stderr}");
    for expected in [
        "tasks.task.get",
        "FIELDS_AFTER",
        "data.FIELDS_BEFORE",
        "task",
    ] {
        assert!(stdout.contains(expected), "{expected} missing:\n{stdout}");
    }
}

#[test]
fn describe_works_for_every_current_event_of_the_catalogue() {
    let listed = offline_json(&["events", "--catalog"]);
    let names: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outdated"] == false)
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    let mut args = vec!["describe"];
    args.extend(names.iter().map(String::as_str));
    let described = offline_json(&args);
    let described = described.as_array().unwrap();
    assert_eq!(described.len(), names.len());
    for (event, name) in described.iter().zip(&names) {
        assert_eq!(&event["name"], name);
        assert_eq!(&event["request"]["event"], name);
        assert!(event["request"]["auth"]["application_token"].is_string());
    }
}

#[test]
fn describe_names_the_closest_events_for_a_typo() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(bare_cmd()
        .env("BX_EVENTS_CONFIG_DIR", dir.path())
        .args(["describe", "ONCRMDEALADDD"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("did you mean ONCRMDEALADD"), "{stderr}");
}

/// What a delivery's auth carries (docs/portal.md): an access token for every
/// event a handler is bound to, a refresh token only for the few events the
/// portal sends one with (ONOFFLINEEVENT among them).
#[test]
fn a_delivery_carries_a_refresh_token_only_for_the_events_the_portal_sends_it_with() {
    let env = TestEnv::new();
    let (handler, received) = crate::common::recorder(|_| 200);
    env.json(&["bind", "ONCRMDEALADD", &format!("{handler}/deal")]);
    env.json(&["bind", "ONOFFLINEEVENT", &format!("{handler}/queue")]);
    env.json(&["bind", "ONCRMDEALUPDATE", "--offline"]);
    env.json(&["sandbox", "fire", "ONCRMDEALADD", "--data", "FIELDS.ID=5"]);
    env.json(&[
        "sandbox",
        "fire",
        "ONCRMDEALUPDATE",
        "--data",
        "FIELDS.ID=5",
    ]);
    let requests = received.lock().unwrap().clone();
    let auth_for = |path: &str| {
        let request = requests
            .iter()
            .find(|r| r.path == path)
            .unwrap_or_else(|| panic!("nothing reached {path}: {requests:?}"));
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let has = |key: &str| pairs.iter().any(|(k, _)| k == &format!("auth[{key}]"));
        (has("access_token"), has("refresh_token"))
    };
    assert_eq!(auth_for("/deal"), (true, false), "ONCRMDEALADD");
    assert_eq!(auth_for("/queue"), (true, true), "ONOFFLINEEVENT");
}

/// The sandbox knows the catalogue's events (a real one the first sandbox lacked
/// binds), and a change without `--data` carries the documented payload: a task
/// update its `FIELDS_BEFORE`/`FIELDS_AFTER`, each change of `--count` its own task.
#[test]
fn the_sandbox_fires_documented_events_with_their_documented_payload() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALMOVETOCATEGORY", "--offline"]);
    env.json(&["bind", "ONTASKUPDATE", "--offline"]);
    let fired = env.json(&["sandbox", "fire", "ONTASKUPDATE", "--count", "2"]);
    assert_eq!(fired["queued"], 2, "{fired}");
    env.json(&["sandbox", "fire", "ONCRMDEALMOVETOCATEGORY"]);
    let listed = env.json(&["offline", "list"]);
    let records = listed.as_array().unwrap();
    let tasks: Vec<&Value> = records
        .iter()
        .filter(|r| r["event"] == "ONTASKUPDATE")
        .collect();
    let ids: Vec<&Value> = tasks
        .iter()
        .map(|r| &r["data"]["FIELDS_AFTER"]["ID"])
        .collect();
    assert_eq!(ids, [&Value::from(123), &Value::from(124)], "{listed}");
    assert!(tasks.iter().all(|r| r["data"]["FIELDS_BEFORE"].is_object()));
    let moved = records
        .iter()
        .find(|r| r["event"] == "ONCRMDEALMOVETOCATEGORY")
        .expect("the documented event was queued");
    assert_eq!(moved["data"]["FIELDS"]["STAGE_ID"], "C1:NEW", "{moved}");
}

/// With every scope (`sandbox --scopes all`), every current event of the
/// catalogue but the global ones binds (one `apply`) and fires, and its queued
/// record carries exactly the catalogue's documented `data`; `scope` with
/// `full` lists the catalogue's scopes.
#[test]
fn every_current_catalogue_event_binds_and_fires_with_its_documented_payload() {
    let scopes = bx_events::bitrix::catalog::scopes();
    let env = TestEnv::with_options(bx_events::sandbox::SandboxOptions {
        rate_limit: None,
        scopes: Some(scopes.iter().map(|s| s.to_string()).collect()),
        ..bx_events::sandbox::SandboxOptions::default()
    });
    let listed = offline_json(&["events", "--catalog"]);
    // The application's lifecycle (scope basic) and the unscoped events
    // (ONOFFLINEEVENT, ONAPPTEST) are global: not bound offline here.
    let events: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["outdated"] == false && !["", "basic"].contains(&e["scope"].as_str().unwrap())
        })
        .collect();
    assert!(events.len() >= 150, "{} events", events.len());
    let manifest: String = events
        .iter()
        .map(|e| {
            format!(
                "[[subscription]]\nevent = \"{}\"\ntype = \"offline\"\n\n",
                e["name"].as_str().unwrap()
            )
        })
        .collect();
    let file = env.dir.path().join("all.toml");
    std::fs::write(&file, manifest).unwrap();
    let (code, _, stderr) =
        run(env
            .cmd()
            .args(["apply", "-f", file.to_str().unwrap(), "--yes", "-q"]));
    assert_eq!(code, 0, "{stderr}");
    for event in &events {
        let name = event["name"].as_str().unwrap();
        let (code, _, stderr) = run(env.cmd().args(["sandbox", "fire", name, "-q"]));
        assert_eq!(code, 0, "{name}: {stderr}");
    }
    let queued = env.json(&["offline", "list", "--all"]);
    let queued = queued.as_array().unwrap();
    assert_eq!(queued.len(), events.len(), "one record per event");
    for event in &events {
        let record = queued
            .iter()
            .find(|r| r["event"] == event["name"])
            .unwrap_or_else(|| panic!("no record of {}", event["name"]));
        if event["data"].is_object() {
            assert_eq!(record["data"], event["data"], "{}", event["name"]);
        }
    }
    let scopes = env.json(&["call", "scope", "full=1"]);
    for scope in ["crm", "task", "booking", "catalog", "sale", "imbot"] {
        assert!(
            scopes["result"]
                .as_array()
                .unwrap()
                .contains(&Value::from(scope)),
            "{scopes}"
        );
    }
}

/// A documented event the application's scopes do not cover is named as such,
/// by `bind` (after the portal refuses it) and by `diff` (before any bind),
/// and a typo gets the closest names of the portal's list.
#[test]
fn an_event_outside_the_scopes_is_named_with_its_scope_and_a_typo_gets_suggestions() {
    let env = TestEnv::new();
    let (code, _, stderr) = run(env.cmd().args(["bind", "ONBOOKINGADD", "--offline"]));
    assert_ne!(code, 0);
    assert!(
        stderr.contains("ONBOOKINGADD is a documented event of scope booking"),
        "{stderr}"
    );
    let file = env.dir.path().join("subscriptions.toml");
    std::fs::write(
        &file,
        "[[subscription]]\nevent = \"ONBOOKINGADD\"\ntype = \"offline\"\n\n[[subscription]]\nevent = \"ONCRMDEALUPDAT\"\ntype = \"offline\"\n",
    )
    .unwrap();
    let (_, stdout, stderr) = run(env.cmd().args(["diff", "-f", file.to_str().unwrap()]));
    let said = format!("{stdout}{stderr}");
    assert!(said.contains("documented event of scope booking"), "{said}");
    assert!(said.contains("did you mean ONCRMDEALUPDATE"), "{said}");
    assert_eq!(env.sandbox.portal.binding_count(), 0);
}

#[test]
fn sandbox_scopes_are_checked_against_the_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(bare_cmd().env("BX_EVENTS_CONFIG_DIR", dir.path()).args([
        "sandbox",
        "--scopes",
        "crm,nosuch",
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no scope 'nosuch'") && stderr.contains("booking"),
        "{stderr}"
    );
}

/// Lines of a `consume --stdout` as JSON.
fn consumed(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// `offline consume --stdout --hydrate`, which must succeed: its records.
fn drain_hydrated(env: &TestEnv) -> Vec<Value> {
    let (code, stdout, stderr) =
        run(env
            .cmd()
            .args(["offline", "consume", "--stdout", "--hydrate", "-q"]));
    assert_eq!(code, 0, "{stderr}");
    consumed(&stdout)
}

/// `--hydrate`: each record arrives with the object its event is about, fetched
/// with the catalogue's method in one `batch` request per reservation; a
/// deleted object is `object_error`, a delete record carries neither, and an
/// object two methods' parameters identify (a task's comment) is found too.
#[test]
fn consume_hydrate_delivers_each_record_with_its_object() {
    let env = TestEnv::new();
    for event in ["ONCRMDEALADD", "ONCRMDEALDELETE", "ONTASKCOMMENTADD"] {
        env.json(&["bind", event, "--offline"]);
    }
    env.json(&["sandbox", "fire", "ONCRMDEALADD", "--count", "3"]);
    env.json(&[
        "sandbox",
        "fire",
        "ONCRMDEALDELETE",
        "--data",
        "FIELDS.ID=6642",
    ]);
    env.json(&["sandbox", "fire", "ONTASKCOMMENTADD"]);
    let records = drain_hydrated(&env);
    assert_eq!(records.len(), 5, "{records:?}");
    let deal = |id: &str| {
        records
            .iter()
            .find(|r| r["event"] == "ONCRMDEALADD" && r["data"]["FIELDS"]["ID"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(deal("6641")["object"]["ID"], "6641");
    assert_eq!(deal("6643")["object"]["ID"], "6643");
    assert!(deal("6642").get("object").is_none());
    assert_eq!(deal("6642")["object_error"], "Not found.");
    let deleted = records
        .iter()
        .find(|r| r["event"] == "ONCRMDEALDELETE")
        .unwrap();
    assert!(deleted.get("object").is_none() && deleted.get("object_error").is_none());
    let comment = records
        .iter()
        .find(|r| r["event"] == "ONTASKCOMMENTADD")
        .unwrap();
    assert_eq!(comment["object"]["TASK_ID"], 555, "{comment}");
    let stats = env.sandbox.portal.stats();
    assert_eq!(stats.methods.get("batch"), Some(&1), "{:?}", stats.methods);
    // Without --hydrate nothing is fetched.
    env.json(&["sandbox", "fire", "ONCRMDEALADD"]);
    let (_, stdout, _) = run(env.cmd().args(["offline", "consume", "--stdout", "-q"]));
    assert!(consumed(&stdout)[0].get("object").is_none());
    assert_eq!(env.sandbox.portal.stats().methods.get("batch"), Some(&1));
}

/// The request budget of hydration: 1,000 records of 10 events cost at most 20
/// `batch` requests more than the drain itself (50 objects to a request).
#[test]
fn hydrating_a_thousand_records_of_ten_events_costs_at_most_twenty_requests() {
    let env = TestEnv::new();
    let events = [
        "ONCRMDEALADD",
        "ONCRMDEALUPDATE",
        "ONCRMLEADADD",
        "ONCRMLEADUPDATE",
        "ONCRMCONTACTADD",
        "ONCRMCONTACTUPDATE",
        "ONCRMCOMPANYADD",
        "ONCRMCOMPANYUPDATE",
        "ONTASKADD",
        "ONTASKUPDATE",
    ];
    for event in events {
        env.json(&["bind", event, "--offline"]);
        env.json(&["sandbox", "fire", event, "--count", "100"]);
    }
    assert_eq!(env.sandbox.portal.offline_count(), 1000);
    let before = env.sandbox.portal.stats().requests;
    let records = drain_hydrated(&env);
    assert_eq!(records.len(), 1000);
    assert!(
        records.iter().all(|r| r["object"].is_object()),
        "a record came without its object"
    );
    let stats = env.sandbox.portal.stats();
    let batches = *stats.methods.get("batch").unwrap_or(&0);
    assert!(batches <= 20, "{batches} batch requests");
    // The drain itself: two reservations of 500, their confirmations, the empty look.
    assert_eq!(stats.requests - before, batches + 5, "{:?}", stats.methods);
}
