//! The sandbox against the portal's rules, one test per rule of docs/portal.md
//! (sections 1, 8 and 9), named after it: raw HTTP, no bx-events client in between,
//! so these say what a real portal does and the client must cope with.

use crate::common::{http_request, TestEnv};
use serde_json::{json, Value};

/// A raw POST to the sandbox: status and parsed body.
fn post(
    env: &TestEnv,
    path: &str,
    headers: &[(&str, &str)],
    content_type: &str,
    body: &str,
) -> (u16, Value) {
    let mut all = vec![("Content-Type", content_type)];
    all.extend_from_slice(headers);
    let url = format!("{}{path}", env.sandbox.url);
    let (status, _, body) = http_request("POST", &url, &all, body.as_bytes());
    (
        status,
        serde_json::from_str(body.trim()).unwrap_or(Value::Null),
    )
}

/// Calls a method with the admin's token in a JSON body.
fn call(env: &TestEnv, method: &str, mut params: Value) -> (u16, Value) {
    params["auth"] = json!(env.sandbox.credentials.access_token.expose());
    post(
        env,
        &format!("/rest/{method}"),
        &[],
        "application/json",
        &params.to_string(),
    )
}

fn result(env: &TestEnv, method: &str, params: Value) -> Value {
    let (status, body) = call(env, method, params);
    assert_eq!(status, 200, "{method}: {body}");
    body["result"].clone()
}

/// An offline binding and `count` queued records.
fn queue(count: usize) -> TestEnv {
    let env = TestEnv::new();
    result(
        &env,
        "event.bind",
        json!({"event": "ONCRMDEALADD", "event_type": "offline"}),
    );
    for n in 1..=count {
        env.sandbox
            .portal
            .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": n}}));
    }
    env
}

fn reserve(env: &TestEnv, params: Value) -> (String, usize) {
    let mut params = params;
    params["clear"] = json!(0);
    let answer = result(env, "event.offline.get", params);
    (
        answer["process_id"]
            .as_str()
            .expect("a process id")
            .to_string(),
        answer["events"].as_array().expect("events").len(),
    )
}

fn events(answer: &Value) -> usize {
    answer["events"].as_array().map_or(0, Vec::len)
}

// ---- Section 8: the offline queue -------------------------------------------------

#[test]
fn offline_get_rereads_at_most_limit_rows_default_50() {
    let env = queue(80);
    let (process_id, taken) = reserve(&env, json!({"limit": 80}));
    assert_eq!(taken, 80);
    let reread = result(
        &env,
        "event.offline.get",
        json!({"process_id": process_id, "clear": 0}),
    );
    assert_eq!(events(&reread), 50, "a re-read without limit returns 50");
    let reread = result(
        &env,
        "event.offline.get",
        json!({"process_id": process_id, "clear": 0, "limit": 80}),
    );
    assert_eq!(events(&reread), 80);
}

#[test]
fn offline_get_rereads_only_rows_of_its_error_flag() {
    let env = queue(10);
    let (process_id, _) = reserve(&env, json!({}));
    let ids: Vec<String> = env
        .sandbox
        .portal
        .offline_rows()
        .iter()
        .map(|r| r.message_id.clone())
        .collect();
    result(
        &env,
        "event.offline.error",
        json!({"process_id": process_id, "message_id": ids}),
    );
    let (errors_id, taken) = reserve(&env, json!({"error": 1}));
    assert_eq!(taken, 10);
    let without = result(
        &env,
        "event.offline.get",
        json!({"process_id": errors_id, "clear": 0, "limit": 10}),
    );
    assert_eq!(events(&without), 0, "re-read without error=1 sees nothing");
    let with = result(
        &env,
        "event.offline.get",
        json!({"process_id": errors_id, "clear": 0, "limit": 10, "error": 1}),
    );
    assert_eq!(events(&with), 10);
}

#[test]
fn offline_get_clear_deletes_the_whole_reservation() {
    let env = queue(80);
    let (process_id, _) = reserve(&env, json!({"limit": 80}));
    let answer = result(&env, "event.offline.get", json!({"process_id": process_id}));
    assert_eq!(events(&answer), 50, "50 returned");
    assert_eq!(env.sandbox.portal.offline_count(), 0, "all 80 deleted");
}

#[test]
fn offline_get_new_reservation_returns_its_id_even_when_empty() {
    let env = queue(0);
    let answer = result(&env, "event.offline.get", json!({"clear": 0}));
    assert!(
        answer["process_id"].as_str().is_some_and(|p| p.len() == 32),
        "{answer}"
    );
    assert_eq!(events(&answer), 0);
    let answer = result(&env, "event.offline.get", json!({}));
    assert!(
        answer["process_id"].is_null(),
        "clear=1 without process_id: null"
    );
}

#[test]
fn offline_get_empty_process_id_deletes_every_unreserved_row() {
    let env = queue(30);
    let (_, reserved) = reserve(&env, json!({"limit": 10}));
    assert_eq!(reserved, 10);
    let answer = result(&env, "event.offline.get", json!({"process_id": ""}));
    assert_eq!(events(&answer), 20, "the unreserved rows are read");
    assert_eq!(
        env.sandbox.portal.offline_count(),
        10,
        "and deleted: only the reservation is left"
    );
}

#[test]
fn offline_get_reads_integers_with_intval() {
    let env = queue(20);
    // "true" is 0 to intval: this is a reservation, not a destructive read.
    let answer = result(
        &env,
        "event.offline.get",
        json!({"clear": "true", "limit": "5abc"}),
    );
    assert_eq!(events(&answer), 5, "limit 5abc is 5");
    assert!(answer["process_id"].is_string());
    assert_eq!(env.sandbox.portal.offline_count(), 20, "nothing deleted");
    let (status, body) = call(&env, "event.offline.get", json!({"limit": "none"}));
    assert_eq!(
        (status, body["argument"].clone()),
        (400, json!("LIMIT")),
        "{body}"
    );
    // error=yes is 0: ordinary records are taken.
    let answer = result(
        &env,
        "event.offline.get",
        json!({"clear": 0, "error": "yes"}),
    );
    assert_eq!(events(&answer), 15);
}

#[test]
fn offline_get_refuses_timestamp_and_array_filters_when_reserving() {
    let env = queue(5);
    let (status, body) = call(
        &env,
        "event.offline.get",
        json!({"clear": 0, "filter": {">TIMESTAMP_X": "2024-01-01T00:00:00+00:00"}}),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error_description"],
        "The value of an argument '>TIMESTAMP_X' has an invalid type"
    );
    let (status, _) = call(
        &env,
        "event.offline.get",
        json!({"clear": 0, "filter": {"@ID": [1, 2]}}),
    );
    assert_eq!(status, 400);
    let listed = result(
        &env,
        "event.offline.list",
        json!({"filter": {">TIMESTAMP_X": "2000-01-01T00:00:00+00:00"}}),
    );
    assert_eq!(
        listed.as_array().unwrap().len(),
        5,
        "offline.list accepts it"
    );
    let (process_id, _) = reserve(&env, json!({}));
    let reread = result(
        &env,
        "event.offline.get",
        json!({"process_id": process_id, "clear": 0, "filter": {">TIMESTAMP_X": "2000-01-01T00:00:00+00:00"}}),
    );
    assert_eq!(events(&reread), 5, "a re-read does not check value types");
}

#[test]
fn offline_error_deletes_other_copies_and_leaves_error_rows_reserved() {
    let env = queue(2);
    let (first, _) = reserve(&env, json!({}));
    // The same object state again: a new row, since the first is reserved.
    env.sandbox
        .portal
        .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": 1}}));
    assert_eq!(env.sandbox.portal.offline_count(), 3);
    let message_id = env.sandbox.portal.offline_rows()[0].message_id.clone();
    result(
        &env,
        "event.offline.error",
        json!({"process_id": first, "message_id": [message_id]}),
    );
    let rows = env.sandbox.portal.offline_rows();
    assert_eq!(rows.len(), 2, "the unreserved copy was deleted");
    let marked = rows.iter().find(|r| r.message_id == message_id).unwrap();
    assert!(
        marked.error && marked.process_id.is_none(),
        "released as an error"
    );
    // Error rows reserved with error=1 are not touched by another error call.
    let (second, _) = reserve(&env, json!({"error": 1}));
    result(
        &env,
        "event.offline.error",
        json!({"process_id": second, "message_id": [message_id]}),
    );
    let row = env
        .sandbox
        .portal
        .offline_rows()
        .into_iter()
        .find(|r| r.message_id == message_id)
        .unwrap();
    assert_eq!(
        row.process_id.as_deref(),
        Some(second.as_str()),
        "stays reserved"
    );
    let (status, body) = call(
        &env,
        "event.offline.error",
        json!({"process_id": second, "message_id": "x"}),
    );
    assert_eq!(
        (status, body["argument"].clone()),
        (400, json!("message_id"))
    );
    assert_eq!(
        result(
            &env,
            "event.offline.error",
            json!({"process_id": second, "message_id": []})
        ),
        json!(true)
    );
}

#[test]
fn offline_clear_checks_its_arguments_like_the_portal() {
    let env = queue(3);
    let (process_id, _) = reserve(&env, json!({}));
    let (status, body) = call(&env, "event.offline.clear", json!({}));
    assert_eq!(
        (status, body["argument"].clone()),
        (400, json!("PROCESS_ID"))
    );
    let (_, body) = call(
        &env,
        "event.offline.clear",
        json!({"process_id": process_id, "message_id": "abc"}),
    );
    assert_eq!(body["argument"], "message_id");
    let (_, body) = call(
        &env,
        "event.offline.clear",
        json!({"process_id": process_id, "message_id": ["short"]}),
    );
    assert_eq!(body["argument"], "messsage_id", "the portal's spelling");
    let (_, body) = call(
        &env,
        "event.offline.clear",
        json!({"process_id": process_id, "id": 5}),
    );
    assert_eq!(body["argument"], "id");
    assert_eq!(env.sandbox.portal.offline_count(), 3);
    let first = env.sandbox.portal.offline_rows()[0].id;
    result(
        &env,
        "event.offline.clear",
        json!({"process_id": process_id, "id": [first]}),
    );
    assert_eq!(env.sandbox.portal.offline_count(), 2);
    result(
        &env,
        "event.offline.clear",
        json!({"process_id": process_id, "message_id": []}),
    );
    assert_eq!(
        env.sandbox.portal.offline_count(),
        0,
        "an empty list clears the whole reservation"
    );
}

#[test]
fn offline_list_shows_unreserved_process_id_as_empty_string() {
    let env = queue(2);
    reserve(&env, json!({"limit": 1}));
    let listed = result(&env, "event.offline.list", json!({}));
    let rows = listed.as_array().unwrap();
    assert_eq!(rows[1]["PROCESS_ID"], "", "not null");
    assert_eq!(rows[0]["PROCESS_ID"].as_str().map(str::len), Some(32));
    assert_eq!(rows[0]["ERROR"], "0");
}

#[test]
fn cleanup_deletes_rows_older_than_the_retention_reserved_or_not() {
    let env = queue(4);
    reserve(&env, json!({"limit": 2}));
    env.sandbox
        .portal
        .age_offline(bx_events::sandbox::RETENTION_SECS - 60);
    assert_eq!(
        result(&env, "event.offline.list", json!({}))
            .as_array()
            .unwrap()
            .len(),
        4
    );
    env.sandbox.portal.age_offline(120);
    assert_eq!(
        result(&env, "event.offline.list", json!({}))
            .as_array()
            .unwrap()
            .len(),
        0,
        "reserved rows go too"
    );
}

// ---- Section 1: calling a method ------------------------------------------------

#[test]
fn unknown_method_is_404_before_any_auth_check() {
    let env = TestEnv::new();
    let (status, body) = post(&env, "/rest/no.such.method", &[], "application/json", "{}");
    assert_eq!(
        (status, body["error"].clone()),
        (404, json!("ERROR_METHOD_NOT_FOUND"))
    );
    let (status, body) = post(&env, "/rest/event.get", &[], "application/json", "{}");
    assert_eq!(
        (status, body["error"].clone()),
        (401, json!("NO_AUTH_FOUND"))
    );
}

#[test]
fn access_token_parameter_works_and_bearer_wins() {
    let env = TestEnv::new();
    let token = env.sandbox.credentials.access_token.expose().clone();
    let body = json!({"access_token": token}).to_string();
    let (status, _) = post(&env, "/rest/event.get", &[], "application/json", &body);
    assert_eq!(status, 200);
    let bearer = format!("Bearer {token}");
    let wrong = json!({"auth": "not-a-token"}).to_string();
    let (status, _) = post(
        &env,
        "/rest/event.get",
        &[("Authorization", &bearer)],
        "application/json",
        &wrong,
    );
    assert_eq!(status, 200, "the header wins over a wrong parameter");
}

#[test]
fn auth_keys_are_lower_case_only() {
    let env = TestEnv::new();
    let body = json!({"AUTH": env.sandbox.credentials.access_token.expose()}).to_string();
    let (status, body) = post(&env, "/rest/event.get", &[], "application/json", &body);
    assert_eq!(
        (status, body["error"].clone()),
        (401, json!("NO_AUTH_FOUND"))
    );
}

#[test]
fn json_body_is_read_only_under_a_json_content_type() {
    let env = TestEnv::new();
    let body = json!({"auth": env.sandbox.credentials.access_token.expose()}).to_string();
    let (status, _) = post(&env, "/rest/event.get", &[], "text/plain", &body);
    assert_eq!(status, 401, "a JSON body sent as text/plain is not read");
    let (status, body) = post(
        &env,
        "/rest/event.get",
        &[],
        "application/json",
        "{not json",
    );
    assert_eq!(
        (status, body["error"].clone()),
        (401, json!("NO_AUTH_FOUND")),
        "an unparsable body is ignored, not refused"
    );
}

// ---- Section 9: batch ---------------------------------------------------------

#[test]
fn batch_commands_use_the_outer_auth_connector() {
    let env = TestEnv::new();
    let cmd = json!({"a": "event.bind?event=ONCRMDEALADD&event_type=offline&auth_connector=inner"});
    result(&env, "batch", json!({"cmd": cmd}));
    result(
        &env,
        "batch",
        json!({"cmd": {"b": "event.bind?event=ONCRMDEALUPDATE&event_type=offline"}, "auth_connector": "outer"}),
    );
    let bound = result(&env, "event.get", json!({}));
    let connectors: Vec<&str> = bound
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["connector_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        connectors,
        ["", "outer"],
        "the inner key is ignored, the outer one applies"
    );
}

#[test]
fn batch_commands_past_50_each_fail_in_result_error() {
    let env = TestEnv::new();
    let cmd: serde_json::Map<String, Value> = (0..53)
        .map(|i| (format!("c{i}"), json!("events")))
        .collect();
    let answer = result(&env, "batch", json!({"cmd": cmd}));
    assert_eq!(answer["result"].as_object().unwrap().len(), 50);
    let errors = answer["result_error"].as_object().unwrap();
    assert_eq!(errors.len(), 3);
    assert_eq!(errors["c52"]["error"], "ERROR_BATCH_LENGTH_EXCEEDED");
}

#[test]
fn batch_replaces_result_references() {
    let env = TestEnv::new();
    let cmd = json!({
        "list": "events?SCOPE=crm",
        "bind": "event.bind?event=$result[list][0]&event_type=offline",
    });
    let answer = result(&env, "batch", json!({"cmd": cmd}));
    assert_eq!(answer["result"]["bind"], true, "{answer}");
    let first = answer["result"]["list"][0].as_str().unwrap().to_string();
    let bound = result(&env, "event.get", json!({}));
    assert_eq!(bound[0]["event"], first.as_str());
}

#[test]
fn batch_halt_uses_php_truthiness() {
    let env = TestEnv::new();
    let cmd = json!({"bad": "event.bind", "next": "events"});
    let answer = result(&env, "batch", json!({"cmd": cmd, "halt": "false"}));
    assert!(
        answer["result"].get("next").is_none(),
        "the string \"false\" halts"
    );
    let answer = result(&env, "batch", json!({"cmd": cmd, "halt": 0}));
    assert!(answer["result"].get("next").is_some());
}

/// Section 10: what each lifecycle event sends the install handler, and what it
/// does to the application's handlers, queue and tokens.
#[test]
fn lifecycle_events_send_their_auth_and_uninstall_removes_handlers_queue_and_tokens() {
    let env = TestEnv::new();
    let (code, _, stderr) =
        crate::common::run(env.cmd().args(["bind", "ONCRMDEALADD", "--offline"]));
    assert_eq!(code, 0, "{stderr}");
    env.sandbox
        .portal
        .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": "1"}}));
    let (handler, received) = crate::common::recorder(|_| 200);
    let lifecycle = |event: &str| {
        let body = json!({"to": format!("{handler}/install"), "event": event}).to_string();
        post(&env, "/_sandbox/install", &[], "application/json", &body)
    };
    let auth_of = |index: usize| {
        let recorded = received.lock().unwrap()[index].body.clone();
        let form = bx_events_form(&recorded);
        (form["event"].clone(), form["auth"].clone())
    };
    // An update removes the application's handlers (they must be bound again)
    // but not its queued records, and brings a fresh pair with its refresh token.
    assert_eq!(lifecycle("update").0, 200);
    let (event, auth) = auth_of(0);
    assert_eq!(event, "ONAPPUPDATE");
    assert!(auth["access_token"].is_string() && auth["refresh_token"].is_string());
    assert_eq!(auth["member_id"], json!(env.sandbox.credentials.member_id));
    assert_eq!(env.sandbox.portal.binding_count(), 0);
    assert_eq!(env.sandbox.portal.offline_count(), 1);
    let (code, _, stderr) =
        crate::common::run(env.cmd().args(["bind", "ONCRMDEALADD", "--offline"]));
    assert_eq!(code, 0, "{stderr}");
    // An uninstall sends no tokens: the domain, the member id and the application token.
    assert_eq!(lifecycle("uninstall").0, 200);
    let (event, auth) = auth_of(1);
    assert_eq!(event, "ONAPPUNINSTALL");
    let mut keys: Vec<&str> = auth
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["application_token", "domain", "member_id"]);
    assert_eq!(env.sandbox.portal.binding_count(), 0);
    assert_eq!(env.sandbox.portal.offline_count(), 0);
    let (status, body) = call(&env, "event.get", json!({}));
    assert_eq!(status, 401, "the application's tokens are revoked: {body}");
    // A new install brings a new application token.
    assert_eq!(lifecycle("install").0, 200);
    let (event, auth) = auth_of(2);
    assert_eq!(event, "ONAPPINSTALL");
    assert_ne!(
        auth["application_token"],
        json!(env.sandbox.credentials.application_token.expose())
    );
}

/// The portal's PHP-style form as JSON.
fn bx_events_form(body: &[u8]) -> Value {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut form = json!({"auth": {}});
    for (key, value) in pairs {
        match key.strip_prefix("auth[").and_then(|k| k.strip_suffix(']')) {
            Some(name) => form["auth"][name] = json!(value),
            None => form[key] = json!(value),
        }
    }
    form
}

/// `POST /_sandbox/fire`: the handlers the change was sent to.
fn fire_to(env: &TestEnv, event: &str, id: u64) -> Vec<String> {
    let (status, body) = post(
        env,
        "/_sandbox/fire",
        &[],
        "application/json",
        &json!({"event": event, "data": {"FIELDS": {"ID": id}}}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["handler"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn onofflineevent_is_sent_at_most_once_a_second_without_a_min_timeout() {
    let env = TestEnv::new();
    let (handler, _) = crate::common::recorder(|_| 200);
    let handler = format!("{handler}/queue");
    result(
        &env,
        "event.bind",
        json!({"event": "ONOFFLINEEVENT", "handler": handler}),
    );
    assert!(
        fire_to(&env, "ONCRMDEALADD", 1).is_empty(),
        "a change that queues nothing notifies nobody"
    );
    result(
        &env,
        "event.bind",
        json!({"event": "ONCRMDEALADD", "event_type": "offline"}),
    );
    let first = std::time::Instant::now();
    assert_eq!(fire_to(&env, "ONCRMDEALADD", 2), vec![handler.clone()]);
    assert!(
        fire_to(&env, "ONCRMDEALADD", 3).is_empty(),
        "inside the pause the notification is dropped, not delayed"
    );
    let mut n = 4;
    let notified_again = crate::common::eventually(10, || {
        n += 1;
        !fire_to(&env, "ONCRMDEALADD", n).is_empty()
    });
    assert!(notified_again, "a change after the pause notifies again");
    assert!(first.elapsed() >= std::time::Duration::from_secs(1));
}

#[test]
fn onofflineevent_with_min_timeout_zero_tells_only_the_first_handler_per_change() {
    let env = TestEnv::new();
    let (handler, _) = crate::common::recorder(|_| 200);
    for path in ["/a", "/b"] {
        result(
            &env,
            "event.bind",
            json!({"event": "ONOFFLINEEVENT", "handler": format!("{handler}{path}"), "options": {"minTimeout": 0}}),
        );
    }
    result(
        &env,
        "event.bind",
        json!({"event": "ONCRMDEALADD", "event_type": "offline"}),
    );
    for id in 1..=3 {
        assert_eq!(
            fire_to(&env, "ONCRMDEALADD", id),
            vec![format!("{handler}/a")],
            "no pause, but one handler per change"
        );
    }
}
