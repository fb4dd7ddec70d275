//! The offline queue: list/get/clear/error and the at-least-once `consume`.

use std::collections::HashSet;

use crate::common::{run, TestEnv};
use bx_events::sandbox::{Fault, FaultKind, Plan, SandboxOptions};
use serde_json::{json, Value};

/// A sandbox with an offline binding of ONCRMDEALADD and `count` queued records.
fn queued(count: usize) -> TestEnv {
    queued_on(TestEnv::new(), count)
}

fn queued_on(env: TestEnv, count: usize) -> TestEnv {
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    for n in 1..=count {
        env.sandbox
            .portal
            .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": n.to_string()}}));
    }
    env
}

fn queued_message_ids(env: &TestEnv) -> HashSet<String> {
    env.sandbox
        .portal
        .offline_rows()
        .into_iter()
        .map(|row| row.message_id)
        .collect()
}

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn consume_delivers_a_thousand_records_once_each_and_empties_the_queue() {
    let env = queued(1000);
    let expected = queued_message_ids(&env);
    let log = env.config_dir().join("delivered.txt");
    let handler = format!(
        "cat > /dev/null; echo \"$BX_MESSAGE_ID $BX_EVENT_NAME\" >> '{}'",
        log.display()
    );
    let before = env.sandbox.portal.stats().requests;
    let (code, stdout, stderr) = run(env.cmd().args(["offline", "consume", "--exec", &handler]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "stdout stays clean: {stdout}");
    assert!(stderr.contains("Delivered 1000, failed 0"), "{stderr}");
    let delivered = lines(&log);
    assert_eq!(delivered.len(), 1000, "each record exactly once");
    let ids: HashSet<String> = delivered
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(ids, expected);
    assert!(delivered.iter().all(|l| l.ends_with(" ONCRMDEALADD")));
    assert_eq!(env.sandbox.portal.offline_count(), 0);
    let requests = env.sandbox.portal.stats().requests - before;
    assert!(
        requests <= 2 * 2 + 1,
        "at most 2 x ceil(1000/500) + 1 requests, made {requests}"
    );
}

#[test]
fn every_record_written_to_stdout_is_logged_once_with_its_reservation() {
    // The log's lines of a reservation go to stderr together, when its records
    // are written out: none may be dropped or repeated on the way.
    let env = queued(1200);
    let expected = queued_message_ids(&env);
    let (code, stdout, stderr) = run(env.cmd().args(["offline", "consume", "--stdout"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 1200);
    let logged: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains(" --> ") && line.ends_with(" written"))
        .collect();
    assert_eq!(logged.len(), 1200, "{stderr}");
    let ids: HashSet<String> = logged
        .iter()
        .filter_map(|line| line.split('[').nth(1)?.split(']').next())
        .map(str::to_string)
        .collect();
    assert_eq!(ids, expected);
    // The summary comes after every record's line.
    let summary = stderr.find("Delivered 1200").expect("summary");
    assert!(stderr.rfind(" written").unwrap() < summary);
}

#[test]
fn failing_records_are_marked_as_errors_and_can_be_reprocessed() {
    let env = queued(10);
    // Fail the records whose deal ID is even.
    let handler = "id=$(sed -n 's/.*\"ID\":\"\\([0-9]*\\)\".*/\\1/p'); [ $((id % 2)) -eq 1 ]";
    let (code, _, stderr) = run(env.cmd().args(["offline", "consume", "--exec", handler]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("Delivered 5, failed 5"), "{stderr}");
    let rows = env.sandbox.portal.offline_rows();
    assert_eq!(rows.len(), 5);
    for row in &rows {
        let id: u64 = row.event_data["FIELDS"]["ID"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(id % 2, 0, "only failed records remain");
        assert!(
            row.error && row.process_id.is_none(),
            "marked as error and released"
        );
    }
    let listed = env.json(&["offline", "list", "--errors"]);
    assert_eq!(listed.as_array().unwrap().len(), 5);
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["error"] == true && r["process_id"].is_null()));
    let (code, stdout, stderr) = run(env
        .cmd()
        .args(["offline", "consume", "--errors", "--stdout"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 5);
    assert_eq!(env.sandbox.portal.offline_count(), 0);
}

#[cfg(unix)]
#[test]
fn a_consumer_killed_mid_batch_resumes_and_loses_nothing() {
    let env = queued(1000);
    let expected = queued_message_ids(&env);
    let (handler, log) = killing_handler(&env, 300, "9");
    let marker = env.config_dir().join("killed");
    let (code, _, _) = run(env.cmd().args(["offline", "consume", "--exec", &handler]));
    assert_ne!(code, 0, "the first consumer was killed");
    assert!(marker.exists());
    assert!(
        env.sandbox.portal.offline_count() > 0,
        "it died before finishing"
    );
    let (code, _, stderr) = run(env.cmd().args(["offline", "consume", "--exec", &handler]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("Resuming reservation"), "{stderr}");
    let delivered: HashSet<String> = lines(&log).into_iter().collect();
    assert_eq!(delivered, expected, "every record delivered at least once");
    assert!(
        lines(&log).len() <= 1001,
        "at most the record in hand is repeated"
    );
    assert_eq!(
        env.sandbox.portal.offline_count(),
        0,
        "the queue ends empty"
    );
}

#[cfg(unix)]
#[test]
fn a_parallel_consumer_killed_mid_batch_repeats_at_most_one_record_per_worker() {
    // Outcomes that finish together are journaled in one write, before any new
    // delivery starts: a kill repeats at most what the N workers had in hand.
    let env = queued(1000);
    let expected = queued_message_ids(&env);
    let (handler, log) = killing_handler(&env, 300, "9");
    let marker = env.config_dir().join("killed");
    let consume = ["offline", "consume", "--exec", &handler, "--parallel", "4"];
    let (code, _, _) = run(env.cmd().args(consume));
    assert_ne!(code, 0, "the first consumer was killed");
    assert!(marker.exists());
    assert!(
        env.sandbox.portal.offline_count() > 0,
        "it died before finishing"
    );
    let (code, _, stderr) = run(env.cmd().args(consume));
    assert_eq!(code, 0, "{stderr}");
    let delivered: HashSet<String> = lines(&log).into_iter().collect();
    assert_eq!(delivered, expected, "every record delivered at least once");
    assert!(
        lines(&log).len() <= 1000 + 4,
        "{} deliveries: more than one repeat per worker",
        lines(&log).len()
    );
    assert_eq!(
        env.sandbox.portal.offline_count(),
        0,
        "the queue ends empty"
    );
}

#[cfg(unix)]
#[test]
fn interrupt_finishes_the_record_in_hand_confirms_and_exits_130() {
    let env = queued(50);
    let log = env.config_dir().join("delivered.txt");
    let marker = env.config_dir().join("interrupted");
    // The first handler run interrupts the consumer once, as a Ctrl-C would.
    let handler = format!(
        "echo \"$BX_MESSAGE_ID\" >> '{log}'; if [ ! -e '{marker}' ]; then touch '{marker}'; kill -INT $PPID; fi",
        log = log.display(),
        marker = marker.display()
    );
    let (code, _, stderr) = run(env
        .cmd()
        .args(["offline", "consume", "--follow", "--exec", &handler]));
    assert_eq!(code, 130, "{stderr}");
    let delivered = lines(&log).len();
    // The signal reaches the consumer asynchronously, so the record in hand and at
    // most a next one are delivered; everything delivered is confirmed, the rest stays.
    assert!(
        (1..=2).contains(&delivered),
        "stopped soon after the interrupt: {delivered}"
    );
    assert_eq!(
        env.sandbox.portal.offline_count(),
        50 - delivered,
        "delivered records were confirmed"
    );
    let (code, stdout, stderr) = run(env.cmd().args(["offline", "consume", "--stdout"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout.lines().count(),
        50 - delivered,
        "the next run delivers the rest"
    );
    assert_eq!(env.sandbox.portal.offline_count(), 0);
}

#[test]
fn basic_plan_refuses_reservations_and_nothing_is_lost() {
    let env = queued_on(
        TestEnv::with_options(SandboxOptions {
            rate_limit: None,
            plan: Plan::Basic,
            ..SandboxOptions::default()
        }),
        5,
    );
    let (code, stdout, stderr) = run(env.cmd().args(["offline", "consume", "--stdout"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("WRONG_LICENSE") && stderr.contains("--allow-loss"),
        "{stderr}"
    );
    assert_eq!(env.sandbox.portal.offline_count(), 5, "nothing lost");
    let (code, _, stderr) = run(env.cmd().args(["offline", "get"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("--clear"), "{stderr}");
    let (code, stdout, stderr) =
        run(env
            .cmd()
            .args(["offline", "consume", "--stdout", "--allow-loss"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 5);
    assert_eq!(env.sandbox.portal.offline_count(), 0);
}

#[test]
fn bad_filters_and_ids_are_usage_errors_before_any_request() {
    let env = queued(1);
    let requests = env.sandbox.portal.stats().requests;
    for args in [
        vec!["offline", "list", "--filter", "FOO=1"],
        vec!["offline", "list", "--filter", "ID!=1"],
        vec!["offline", "get", "--filter", "PROCESS_ID=x"],
        vec!["offline", "list", "--order", "ID:sideways"],
        vec![
            "offline",
            "clear",
            "--process-id",
            "abc",
            "--message-id",
            "short",
        ],
        vec![
            "offline",
            "error",
            "--process-id",
            "abc",
            "--message-id",
            "zz",
        ],
        vec!["offline", "clear", "--process-id", "abc", "--id", "0"],
        vec!["offline", "get", "--limit", "0"],
    ] {
        let (code, _, stderr) = run(env.cmd().args(&args));
        assert_eq!(code, 2, "{args:?}: {stderr}");
    }
    assert_eq!(
        env.sandbox.portal.stats().requests,
        requests,
        "no request was made"
    );
}

#[test]
fn list_follows_pages_and_filters() {
    let env = queued(120);
    let first = env.json(&["offline", "list"]);
    assert_eq!(first.as_array().unwrap().len(), 50);
    let calls = env
        .sandbox
        .portal
        .stats()
        .methods
        .get("event.offline.list")
        .copied()
        .unwrap_or(0);
    let all = env.json(&["offline", "list", "--all"]);
    assert_eq!(all.as_array().unwrap().len(), 120);
    let pages = env.sandbox.portal.stats().methods["event.offline.list"] - calls;
    assert_eq!(pages, 3);
    let ids: Vec<u64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (1..=120).collect::<Vec<_>>());
    let filtered = env.json(&[
        "offline",
        "list",
        "--filter",
        "ID>=100",
        "--filter",
        "EVENT_NAME~deal",
        "--order",
        "ID:desc",
    ]);
    let filtered = filtered.as_array().unwrap();
    assert_eq!(filtered.len(), 21);
    assert_eq!(filtered[0]["id"], 120);
    let second_page = env.json(&["offline", "list", "--start", "100"]);
    assert_eq!(second_page.as_array().unwrap().len(), 20);
    let record = &all[0];
    for key in [
        "id",
        "message_id",
        "event",
        "timestamp",
        "data",
        "additional",
        "process_id",
        "error",
    ] {
        assert!(record.get(key).is_some(), "missing {key}: {record}");
    }
}

#[test]
fn get_reserves_rereads_and_clear_and_error_confirm() {
    let env = queued(4);
    let reserved = env.json(&["offline", "get", "--limit", "3"]);
    let process_id = reserved["process_id"].as_str().unwrap().to_string();
    assert_eq!(process_id.len(), 32);
    let events = reserved["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["data"], json!({"FIELDS": {"ID": "1"}}));
    let again = env.json(&["offline", "get", "--process-id", &process_id]);
    assert_eq!(
        again["events"], reserved["events"],
        "a reservation can be read again"
    );
    let others = env.json(&["offline", "get"]);
    assert_eq!(
        others["events"].as_array().unwrap().len(),
        1,
        "parallel readers get disjoint sets"
    );

    let first = events[0]["message_id"].as_str().unwrap();
    let second = events[1]["message_id"].as_str().unwrap();
    env.json(&[
        "offline",
        "clear",
        "--process-id",
        &process_id,
        "--message-id",
        first,
    ]);
    env.json(&[
        "offline",
        "error",
        "--process-id",
        &process_id,
        "--message-id",
        second,
    ]);
    let rows = env.sandbox.portal.offline_rows();
    assert!(!rows.iter().any(|r| r.message_id == first), "cleared");
    assert!(
        rows.iter()
            .any(|r| r.message_id == second && r.error && r.process_id.is_none()),
        "marked and released"
    );
    env.json(&["offline", "clear", "--process-id", &process_id]);
    assert_eq!(
        env.sandbox
            .portal
            .offline_rows()
            .iter()
            .filter(|r| r.process_id.as_deref() == Some(process_id.as_str()))
            .count(),
        0
    );
    let unknown = env.json(&[
        "offline",
        "get",
        "--process-id",
        "0123456789abcdef0123456789abcdef",
    ]);
    assert_eq!(
        unknown["events"],
        json!([]),
        "an unknown reservation is empty, not an error"
    );
}

#[test]
fn destructive_get_warns_and_deletes() {
    let env = queued(2);
    let (code, stdout, stderr) = run(env.cmd().args(["offline", "get", "--clear", "-o", "json"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("destructive"), "{stderr}");
    let taken: Value = serde_json::from_str(&stdout).unwrap();
    assert!(taken["process_id"].is_null());
    assert_eq!(taken["events"].as_array().unwrap().len(), 2);
    assert_eq!(env.sandbox.portal.offline_count(), 0);
}

#[test]
fn repeats_merge_into_unreserved_rows_but_not_reserved_ones() {
    let env = queued(1);
    env.sandbox
        .portal
        .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": "1"}}));
    assert_eq!(
        env.sandbox.portal.offline_count(),
        1,
        "same object state: one row"
    );
    env.json(&["offline", "get"]);
    env.sandbox
        .portal
        .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": "1"}}));
    assert_eq!(
        env.sandbox.portal.offline_count(),
        2,
        "a reserved row is not touched"
    );
}

#[test]
fn max_events_reserves_only_what_it_delivers() {
    let env = queued(10);
    let (code, stdout, stderr) =
        run(env
            .cmd()
            .args(["offline", "consume", "--stdout", "--max-events", "4"]));
    assert_eq!(code, 0, "{stderr}");
    let records: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 4);
    assert_eq!(records[0]["event"], "ONCRMDEALADD");
    assert!(records[0]["message_id"].as_str().unwrap().len() == 32);
    let rows = env.sandbox.portal.offline_rows();
    assert_eq!(rows.len(), 6);
    assert!(
        rows.iter().all(|r| r.process_id.is_none()),
        "nothing left reserved"
    );
}

#[test]
fn forward_to_posts_json_and_treats_non_2xx_as_failure() {
    let env = queued(3);
    let (url, bodies) =
        crate::common::recorder(|path| if path.starts_with("/ok") { 200 } else { 500 });
    let (code, _, stderr) =
        run(env
            .cmd()
            .args(["offline", "consume", "--forward-to", &format!("{url}/ok")]));
    assert_eq!(code, 0, "{stderr}");
    let received = bodies.lock().unwrap().clone();
    assert_eq!(received.len(), 3);
    assert!(
        received[0].content_type.starts_with("application/json"),
        "{:?}",
        received[0].content_type
    );
    let first: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(first["event"], "ONCRMDEALADD");
    assert_eq!(first["data"]["FIELDS"]["ID"], "1");

    env.sandbox
        .portal
        .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": "99"}}));
    let (code, _, stderr) =
        run(env
            .cmd()
            .args(["offline", "consume", "--forward-to", &format!("{url}/fail")]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("HTTP 500"), "{stderr}");
    assert!(env.sandbox.portal.offline_rows()[0].error);
}

#[test]
fn offline_methods_need_an_administrator() {
    let env = queued(1);
    let (access, refresh) = env.sandbox.portal.issue_tokens(2);
    env.save_oauth_profile("employee", &access, &refresh, None);
    let (code, _, stderr) = run(env.cmd().args(["offline", "list", "-p", "employee"]));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("administrator"), "{stderr}");
}

#[test]
fn sandbox_checks_offline_arguments_like_the_portal() {
    let env = queued(1);
    let (code, _, stderr) =
        run(env
            .cmd()
            .args(["call", "event.offline.get", "limit=0", "-o", "json"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("Value must be positive integer"),
        "{stderr}"
    );
    let (_, _, stderr) = run(env
        .cmd()
        .args(["call", "event.offline.get", "filter[FOO]=1"]));
    assert!(stderr.contains("Filter field not allowed: FOO"), "{stderr}");
    let (_, _, stderr) = run(env
        .cmd()
        .args(["call", "event.offline.get", "filter[!ID]=1"]));
    assert!(
        stderr.contains("Filter operation not allowed: !"),
        "{stderr}"
    );
    let (_, _, stderr) = run(env.cmd().args(["call", "event.offline.clear"]));
    assert!(stderr.contains("PROCESS_ID"), "{stderr}");
    let listed = env.json(&["call", "event.offline.list"]);
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["result"][0]["ERROR"], "0");
}

#[test]
fn sandbox_fire_command_queues_numbered_records() {
    let env = TestEnv::new();
    env.json(&["bind", "ONTASKADD", "--offline"]);
    let fired = env.json(&[
        "sandbox",
        "fire",
        "ONTASKADD",
        "--data",
        "FIELDS.ID={N}",
        "--count",
        "3",
    ]);
    assert_eq!(fired["queued"], 3);
    let rows = env.sandbox.portal.offline_rows();
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r.event_data["FIELDS"]["ID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["1", "2", "3"]);
}

#[test]
fn handlers_that_never_read_their_input_do_not_disturb_the_consumer() {
    // A handler may exit before reading the record from stdin; writing to its closed
    // pipe must not stop bx-events.
    let env = queued(300);
    let (code, _, stderr) = run(env.cmd().args(["offline", "consume", "--exec", "exit 0"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("Delivered 300, failed 0"), "{stderr}");
    assert_eq!(env.sandbox.portal.offline_count(), 0);
}

#[test]
fn follow_says_loudly_when_the_portal_goes_away_and_comes_back() {
    let env = queued(3);
    env.sandbox.portal.inject(Fault::on(
        FaultKind::BadGateway,
        2,
        Some("event.offline.get"),
    ));
    let marker = env.config_dir().join("interrupted");
    let handler = format!(
        "cat > /dev/null; if [ ! -e '{marker}' ]; then touch '{marker}'; kill -INT $PPID; fi",
        marker = marker.display()
    );
    // -q hides the per-record lines but not these.
    let (code, _, stderr) = run(env
        .cmd()
        .args(["-q", "offline", "consume", "--follow", "--exec", &handler]));
    assert_eq!(code, 130, "{stderr}");
    assert!(
        stderr.contains("portal unreachable") && stderr.contains("502"),
        "{stderr}"
    );
    assert!(stderr.contains("portal reachable again"), "{stderr}");
    assert!(
        !stderr.contains("-->"),
        "per-record lines are quiet: {stderr}"
    );
}

// ---- Losing nothing on a real portal (docs/offline.md, "What can interrupt a run") ----

/// One line per delivered MESSAGE_ID, as a handler that kills its consumer at the
/// `kill_at`-th delivery (once).
fn killing_handler(env: &TestEnv, kill_at: usize, signal: &str) -> (String, std::path::PathBuf) {
    let log = env.config_dir().join("delivered.txt");
    let marker = env.config_dir().join("killed");
    let handler = format!(
        "echo \"$BX_MESSAGE_ID\" >> '{log}'; if [ $(wc -l < '{log}') -ge {kill_at} ] && [ ! -e '{marker}' ]; then touch '{marker}'; kill -{signal} $PPID; fi",
        log = log.display(),
        marker = marker.display()
    );
    (handler, log)
}

#[cfg(unix)]
#[test]
fn a_consumer_killed_inside_an_error_reservation_resumes_with_the_error_flag() {
    let env = queued(120);
    // Make every record an error record first.
    let (code, _, _) = run(env.cmd().args(["offline", "consume", "--exec", "exit 1"]));
    assert_eq!(code, 1);
    let expected = queued_message_ids(&env);
    assert!(env.sandbox.portal.offline_rows().iter().all(|r| r.error));
    let (handler, log) = killing_handler(&env, 5, "9");
    let (code, _, _) = run(env
        .cmd()
        .args(["offline", "consume", "--errors", "--exec", &handler]));
    assert_ne!(code, 0, "killed");
    let (code, _, stderr) = run(env
        .cmd()
        .args(["offline", "consume", "--errors", "--exec", &handler]));
    assert_eq!(code, 0, "{stderr}");
    let delivered: HashSet<String> = lines(&log).into_iter().collect();
    assert_eq!(delivered, expected, "all 120 delivered");
    assert_eq!(env.sandbox.portal.offline_count(), 0, "none stranded");
}

#[cfg(unix)]
// Dies at a test failpoint: built with `--features failpoints` (make test).
#[cfg(feature = "failpoints")]
#[test]
fn a_kill_between_the_portals_answer_and_the_journal_is_recovered() {
    let env = queued(30);
    let expected = queued_message_ids(&env);
    let (code, _, _) = run(env
        .cmd()
        .env("BX_EVENTS_TEST_FAILPOINT", "consume-after-get")
        .args(["offline", "consume", "--limit", "10", "--stdout"]));
    assert_ne!(code, 0, "died after the get");
    let reserved = env
        .sandbox
        .portal
        .offline_rows()
        .iter()
        .filter(|r| r.process_id.is_some())
        .count();
    assert_eq!(reserved, 10, "a reservation no journal knows");
    let (code, stdout, stderr) = run(env.cmd().args(["offline", "consume", "--stdout"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("found it"), "{stderr}");
    let delivered: HashSet<String> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["message_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(delivered, expected);
    assert_eq!(env.sandbox.portal.offline_count(), 0);
}

#[cfg(unix)]
// Dies at a test failpoint: built with `--features failpoints` (make test).
#[cfg(feature = "failpoints")]
#[test]
fn an_unrecorded_reservation_is_not_adopted_when_another_is_also_unknown() {
    let env = queued(30);
    let manual = env.json(&["offline", "get", "--limit", "5"]);
    let manual_id = manual["process_id"].as_str().unwrap().to_string();
    let (code, _, _) = run(env
        .cmd()
        .env("BX_EVENTS_TEST_FAILPOINT", "consume-after-get")
        .args(["offline", "consume", "--limit", "5", "--stdout"]));
    assert_ne!(code, 0);
    let (code, _, stderr) = run(env.cmd().args(["offline", "consume", "--stdout"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&manual_id) && stderr.contains("--process-id"),
        "{stderr}"
    );
    assert_eq!(
        env.sandbox.portal.offline_count(),
        10,
        "both reservations left alone"
    );
}

#[test]
fn a_forgotten_reservation_is_listed_and_adopted_with_process_id() {
    let env = queued(80);
    let taken = env.json(&["offline", "get", "--limit", "80"]);
    let process_id = taken["process_id"].as_str().unwrap().to_string();
    let listed = env.json(&["offline", "list", "--all"]);
    let row = &listed.as_array().unwrap()[0];
    assert_eq!(row["process_id"], process_id.as_str());
    assert!(row["age_seconds"].as_i64().is_some(), "{row}");
    let (code, _, stderr) = run(env.cmd().args(["offline", "list"]));
    assert_eq!(code, 0);
    assert!(
        stderr.contains(&process_id) && stderr.contains("consume --process-id"),
        "{stderr}"
    );
    let (code, stdout, stderr) = run(env.cmd().args([
        "offline",
        "consume",
        "--process-id",
        &process_id,
        "--stdout",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 80, "all of it, not 50");
    assert_eq!(env.sandbox.portal.offline_count(), 0);
}

#[test]
fn records_near_the_cleanup_are_warned_about() {
    let env = queued(2);
    env.sandbox.portal.age_offline(29 * 86_400);
    let (code, _, stderr) = run(env.cmd().args(["offline", "list"]));
    assert_eq!(code, 0);
    assert!(stderr.contains("34 days"), "{stderr}");
}

#[test]
fn offline_get_rereads_a_whole_reservation_and_clears_only_what_it_printed() {
    let env = queued(80);
    let taken = env.json(&["offline", "get", "--limit", "80"]);
    let process_id = taken["process_id"].as_str().unwrap().to_string();
    let reread = env.json(&["offline", "get", "--process-id", &process_id]);
    assert_eq!(reread["events"].as_array().unwrap().len(), 80);
    env.sandbox
        .portal
        .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": "new"}}));
    let (code, stdout, stderr) = run(env.cmd().args([
        "offline",
        "get",
        "--process-id",
        &process_id,
        "--clear",
        "-o",
        "json",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let printed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(printed["events"].as_array().unwrap().len(), 80);
    assert!(
        stderr.contains("Re-read 80") && stderr.contains("Cleared the 80"),
        "{stderr}"
    );
    assert_eq!(
        env.sandbox.portal.offline_count(),
        1,
        "only the printed records went"
    );
}

#[test]
fn empty_or_malformed_process_ids_and_timestamp_filters_make_no_request() {
    let env = queued(3);
    let requests = env.sandbox.portal.stats().requests;
    for args in [
        vec!["offline", "get", "--process-id", ""],
        vec!["offline", "get", "--process-id", "abc"],
        vec!["offline", "get", "--clear", "--process-id", " "],
        vec!["offline", "clear", "--process-id", ""],
        vec!["offline", "consume", "--stdout", "--process-id", "short"],
        vec![
            "offline",
            "get",
            "--filter",
            "TIMESTAMP_X>2024-01-01T00:00:00+00:00",
        ],
    ] {
        let (code, _, stderr) = run(env.cmd().args(&args));
        assert_eq!(code, 2, "{args:?}: {stderr}");
    }
    let (_, _, stderr) = run(env.cmd().args([
        "offline",
        "get",
        "--filter",
        "TIMESTAMP_X>2024-01-01T00:00:00+00:00",
    ]));
    assert!(stderr.contains("offline list"), "{stderr}");
    assert_eq!(env.sandbox.portal.stats().requests, requests);
    assert_eq!(env.sandbox.portal.offline_count(), 3);
}

#[test]
fn records_failing_again_under_errors_go_to_the_dead_letter_file_and_replay() {
    let env = queued(4);
    let (code, _, _) = run(env.cmd().args(["offline", "consume", "--exec", "exit 1"]));
    assert_eq!(code, 1);
    let (code, _, stderr) = run(env
        .cmd()
        .args(["offline", "consume", "--errors", "--exec", "exit 3"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("dead-letter"), "{stderr}");
    assert_eq!(
        env.sandbox.portal.offline_count(),
        0,
        "nothing left reserved for ever"
    );
    let kept = env.json(&["offline", "dead-letter", "list"]);
    assert_eq!(kept.as_array().unwrap().len(), 4);
    assert_eq!(kept[0]["reason"], "exit code 3");
    let (code, stdout, stderr) =
        run(env
            .cmd()
            .args(["offline", "dead-letter", "replay", "--stdout"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 4);
    assert!(env
        .json(&["offline", "dead-letter", "list"])
        .as_array()
        .unwrap()
        .is_empty());
}

/// `offline consume --stdout` with its stdout a pipe this test holds.
fn consume_to_a_pipe(env: &TestEnv) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("bx-events"))
        .env("BX_EVENTS_CONFIG_DIR", env.config_dir())
        .env("NO_COLOR", "1")
        .args(["offline", "consume", "--stdout"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[cfg(unix)]
#[test]
fn a_closed_stdout_stops_the_consumer_without_clearing_or_marking_anything() {
    use std::io::BufRead;
    let env = queued(300);
    let mut child = consume_to_a_pipe(&env);
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    drop(reader);
    let status = child.wait().unwrap();
    assert!(status.code().is_some(), "ended by itself, not by SIGPIPE");
    let rows = env.sandbox.portal.offline_rows();
    assert_eq!(rows.len(), 300, "nothing cleared");
    assert!(rows.iter().all(|r| !r.error), "nothing marked as an error");
    let (code, stdout, stderr) = run(env.cmd().args(["offline", "consume", "--stdout"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout.lines().count(),
        300,
        "the next run delivers them all"
    );
    assert_eq!(env.sandbox.portal.offline_count(), 0);
}

#[cfg(unix)]
#[test]
fn handler_timeout_covers_the_input_and_kills_the_process_group() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    let big = "x".repeat(1_000_000);
    env.sandbox
        .portal
        .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": "1", "BLOB": big}}));
    let pids = env.config_dir().join("children.txt");
    // Never reads its input; leaves a child behind in its group.
    let handler = format!("sleep 30 & echo $! > '{}'; sleep 30", pids.display());
    let started = std::time::Instant::now();
    let (code, _, stderr) = run(env.cmd().args([
        "offline",
        "consume",
        "--handler-timeout",
        "1",
        "--exec",
        &handler,
    ]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("timed out"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let child: String = std::fs::read_to_string(&pids).unwrap().trim().to_string();
    // Dead, or a zombie waiting for a reaper (the machine's init may not reap).
    let state = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
    let running = state
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .is_some_and(|s| s != "Z" && s != "X");
    assert!(!running, "the handler's child was killed with it: {state}");
}

#[test]
fn follow_rides_out_an_outage_while_confirming() {
    let env = queued(5);
    env.sandbox.portal.inject(Fault::on(
        FaultKind::ServerError,
        3,
        Some("event.offline.clear"),
    ));
    let (code, stdout, stderr) = run(env.cmd().args([
        "offline",
        "consume",
        "--follow",
        "--max-events",
        "5",
        "--stdout",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("portal unreachable while confirming"),
        "{stderr}"
    );
    assert_eq!(stdout.lines().count(), 5);
    assert_eq!(env.sandbox.portal.offline_count(), 0);
}

#[test]
fn an_unwritable_journal_stops_the_consumer_before_it_reserves() {
    let env = queued(5);
    let state = env.config_dir().join("state");
    std::fs::create_dir_all(state.join("consume-sb-default.journal")).unwrap();
    let (code, stdout, stderr) = run(env.cmd().args(["offline", "consume", "--stdout"]));
    assert_ne!(code, 0);
    assert!(stdout.is_empty());
    assert!(stderr.contains("journal"), "{stderr}");
    assert!(
        env.sandbox
            .portal
            .offline_rows()
            .iter()
            .all(|r| r.process_id.is_none()),
        "nothing reserved"
    );
}

/// Many interrupted runs in a row — kill -9, SIGTERM, Ctrl-C at varying points, and
/// deaths between the portal's answer and the journal — then one clean run: every
/// record is delivered at least once and the queue ends empty.
#[cfg(unix)]
// Dies at a test failpoint: built with `--features failpoints` (make test).
#[cfg(feature = "failpoints")]
#[test]
fn an_adversarial_series_of_interruptions_loses_nothing() {
    let env = queued(600);
    let expected = queued_message_ids(&env);
    let log = env.config_dir().join("delivered.txt");
    let counter = env.config_dir().join("count.txt");
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    };
    for round in 0..40 {
        let _ = std::fs::remove_file(&counter);
        let mut cmd = env.cmd();
        cmd.args(["offline", "consume", "--limit", &(5 + next(40)).to_string()]);
        if round % 5 == 4 {
            cmd.env("BX_EVENTS_TEST_FAILPOINT", "consume-after-get");
            cmd.arg("--stdout");
        } else {
            let signal = ["9", "TERM", "INT"][round % 3];
            let handler = format!(
                "echo \"$BX_MESSAGE_ID\" >> '{log}'; echo x >> '{counter}'; if [ $(wc -l < '{counter}') -eq {at} ]; then kill -{signal} $PPID; fi",
                log = log.display(),
                counter = counter.display(),
                at = 1 + next(30),
            );
            cmd.args(["--exec", &handler]);
        }
        let (code, stdout, _) = run(&mut cmd);
        for line in stdout.lines() {
            let record: Value = serde_json::from_str(line).unwrap();
            let id = record["message_id"].as_str().unwrap();
            std::fs::write(
                &log,
                format!(
                    "{}{id}\n",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ),
            )
            .unwrap();
        }
        if code == 0 && env.sandbox.portal.offline_count() == 0 {
            break;
        }
    }
    let handler = format!("echo \"$BX_MESSAGE_ID\" >> '{}'", log.display());
    let (code, _, stderr) = run(env.cmd().args(["offline", "consume", "--exec", &handler]));
    assert_eq!(code, 0, "{stderr}");
    let delivered: HashSet<String> = lines(&log).into_iter().collect();
    assert_eq!(
        expected.difference(&delivered).count(),
        0,
        "every record delivered at least once"
    );
    assert_eq!(env.sandbox.portal.offline_count(), 0, "nothing stranded");
}

#[cfg(unix)]
#[test]
fn a_stdout_that_cannot_be_written_fails_without_confirming_anything() {
    let env = queued(20);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("bx-events"))
        .env("BX_EVENTS_CONFIG_DIR", env.config_dir())
        .env("NO_COLOR", "1")
        .args(["offline", "consume", "--stdout"])
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot write stdout"), "{stderr}");
    let rows = env.sandbox.portal.offline_rows();
    assert_eq!(rows.len(), 20, "nothing cleared");
    assert!(rows.iter().all(|r| !r.error), "nothing marked as an error");
    let (code, stdout, stderr) = run(env.cmd().args(["offline", "consume", "--stdout"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 20);
}

#[test]
fn parallel_delivery_runs_handlers_at_once_and_keeps_each_objects_order() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    env.json(&["bind", "ONCRMDEALUPDATE", "--offline"]);
    // Deals 1-4 are added, then deal 1 is updated: four objects.
    for id in 1..=4 {
        env.sandbox.portal.enqueue(
            "ONCRMDEALADD",
            &serde_json::json!({"FIELDS": {"ID": id.to_string()}}),
        );
    }
    env.sandbox.portal.enqueue(
        "ONCRMDEALUPDATE",
        &serde_json::json!({"FIELDS": {"ID": "1"}}),
    );
    let dir = env.config_dir().join("running");
    std::fs::create_dir_all(&dir).unwrap();
    let log = env.config_dir().join("order.txt");
    // A barrier: each ADD handler waits until four handlers have started, which only
    // four deliveries at once can satisfy (one at a time, the first times out).
    let handler = format!(
        "cat > /dev/null; touch '{dir}/'$BX_MESSAGE_ID; \
         if [ \"$BX_EVENT_NAME\" = ONCRMDEALADD ]; then \
           while [ $(ls '{dir}' | wc -l) -lt 4 ]; do sleep 0.02; done; fi; \
         echo \"$BX_EVENT_NAME $BX_EVENT_ID\" >> '{log}'",
        dir = dir.display(),
        log = log.display()
    );
    let (code, _, stderr) = run(env.cmd().args([
        "offline",
        "consume",
        "--exec",
        &handler,
        "--parallel",
        "4",
        "--handler-timeout",
        "20",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("Delivered 5, failed 0"), "{stderr}");
    let order = lines(&log);
    assert_eq!(order.len(), 5);
    // Deal 1's add is the first record queued; its update started only after the
    // add had finished and logged.
    let id_of = |line: &String| line.split(' ').nth(1).unwrap().parse::<u64>().unwrap();
    let first_add = order
        .iter()
        .filter(|l| l.starts_with("ONCRMDEALADD "))
        .map(id_of)
        .min()
        .unwrap();
    let position = |wanted: &dyn Fn(&String) -> bool| order.iter().position(wanted).unwrap();
    assert!(
        position(&|l| l.starts_with("ONCRMDEALUPDATE "))
            > position(&|l| l.starts_with("ONCRMDEALADD ") && id_of(l) == first_add),
        "{order:?}"
    );
    assert_eq!(env.sandbox.portal.offline_count(), 0);
}

#[test]
fn parallel_delivery_is_refused_for_stdout() {
    let env = TestEnv::new();
    let (code, _, stderr) =
        run(env
            .cmd()
            .args(["offline", "consume", "--stdout", "--parallel", "2"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--parallel"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn lines_a_reader_has_not_read_are_not_confirmed_and_a_stop_still_ends_the_wait() {
    // stdout's reader is alive but reads nothing: the lines sit in the pipe, so the
    // reservation must not be confirmed; SIGTERM ends the wait with exit 130.
    let env = queued(10);
    let mut child = consume_to_a_pipe(&env);
    let stdout = child.stdout.take().unwrap();
    // Wait (bounded) for the reservation: the lines are then written or being written.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while env
        .sandbox
        .portal
        .offline_rows()
        .iter()
        .all(|row| row.process_id.is_none())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no reservation was made"
        );
        std::thread::yield_now();
    }
    let rows = env.sandbox.portal.offline_rows();
    assert_eq!(
        rows.len(),
        10,
        "nothing confirmed while the lines are unread"
    );
    // SAFETY: a signal to our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    // Bounded: a consumer that ignored the stop would wait for the reader for ever.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("SIGTERM did not end the wait for stdout's reader");
        }
        std::thread::yield_now();
    };
    assert_eq!(status.code(), Some(130));
    drop(stdout);
    assert_eq!(
        env.sandbox.portal.offline_rows().len(),
        10,
        "still nothing confirmed"
    );
    let (code, out, stderr) = run(env.cmd().args(["offline", "consume", "--stdout"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out.lines().count(), 10, "the next run delivers them all");
    assert_eq!(env.sandbox.portal.offline_count(), 0);
}

#[test]
fn substring_filters_reserve_nothing() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    env.sandbox
        .portal
        .enqueue("ONCRMDEALADD", &serde_json::json!({"FIELDS": {"ID": "1"}}));
    let (code, _, stderr) = run(env
        .cmd()
        .args(["offline", "get", "--filter", "EVENT_NAME~DEAL"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("cannot reserve records by a substring")
            && stderr.contains("offline list --filter"),
        "{stderr}"
    );
    // The sandbox refuses the portal's `%` on a reservation as the portal does,
    // and takes it on a listing.
    for op in ["%", "@"] {
        let (code, _, stderr) = run(env.cmd().args([
            "call",
            "event.offline.get",
            &format!("filter[{op}EVENT_NAME]=DEAL"),
            "clear=0",
        ]));
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains("Unknown operator"), "{stderr}");
    }
    assert!(env
        .sandbox
        .portal
        .offline_rows()
        .iter()
        .all(|row| row.process_id.is_none()));
    let listed = env.json(&["offline", "list", "--filter", "EVENT_NAME~DEAL"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
}

#[test]
fn sandbox_fire_reports_identical_changes_as_merged_not_queued() {
    let env = TestEnv::new();
    env.json(&["bind", "ONTASKADD", "--offline"]);
    let (code, stdout, stderr) = run(env.cmd().args([
        "-o",
        "json",
        "sandbox",
        "fire",
        "ONTASKADD",
        "--data",
        "FIELDS.ID=7",
        "--count",
        "50",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let fired: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(fired["queued"], 1, "one row holds them: {fired}");
    assert_eq!(fired["merged"], 49);
    assert_eq!(env.sandbox.portal.offline_count(), 1);
    let (_, _, stderr) = run(env.cmd().args([
        "sandbox",
        "fire",
        "ONTASKADD",
        "--data",
        "FIELDS.ID=7",
        "--count",
        "2",
    ]));
    assert!(
        stderr.contains("merged into a queued record") && stderr.contains("{N}"),
        "{stderr}"
    );
}

#[test]
fn reservation_counts_say_when_they_cover_one_page_only() {
    let env = queued(120);
    let (code, _, stderr) = run(env.cmd().args(["offline", "get", "--limit", "120"]));
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run(env.cmd().args(["offline", "list"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("Reserved (records among the 50 shown; --all counts every page)"),
        "{stderr}"
    );
    let (code, _, stderr) = run(env.cmd().args(["offline", "list", "--all"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("(120)."), "{stderr}");
}

#[test]
fn an_exec_command_that_cannot_run_stops_before_marking_anything() {
    let env = queued(3);
    let (code, _, stderr) = run(env.cmd().args([
        "offline",
        "consume",
        "--exec",
        "no-such-handler-command-xyz",
    ]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("the --exec command cannot be run"),
        "{stderr}"
    );
    let rows = env.sandbox.portal.offline_rows();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|row| !row.error), "none marked as an error");
    let (code, _, stderr) = run(env
        .cmd()
        .args(["offline", "consume", "--exec", "cat >/dev/null"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(env.sandbox.portal.offline_count(), 0, "{stderr}");
}

#[test]
fn a_plain_run_mentions_the_error_records_waiting_in_the_queue() {
    let env = queued(2);
    let (code, _, stderr) = run(env.cmd().args(["offline", "consume", "--exec", "exit 1"]));
    assert_eq!(code, 1, "{stderr}");
    let (code, _, stderr) = run(env
        .cmd()
        .args(["offline", "consume", "--exec", "cat >/dev/null"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("Delivered 0")
            && stderr.contains("2 error record(s) wait in the queue")
            && stderr.contains("--errors"),
        "{stderr}"
    );
}
