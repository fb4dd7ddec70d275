//! listen / trigger / sandbox delivery: the local loop for handler developers.

use std::io::{Read, Write};
use std::time::Duration;

use crate::common::{run, ListenChild, TestEnv};
use serde_json::{json, Value};

const APP_TOKEN: &str = "test-application-token-0123";

/// A running `listen` checking [`APP_TOKEN`], with its URL and printed events.
type Listen = ListenChild;

/// Starts `listen` for `env`'s config directory with `extra` arguments.
fn start_listen(env: &TestEnv, extra: &[&str]) -> Listen {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("bx-events"));
    command
        .env("BX_EVENTS_CONFIG_DIR", env.config_dir())
        .env_remove("BX_EVENTS_APPLICATION_TOKEN")
        .args([
            "listen",
            "--port",
            "0",
            "-o",
            "ndjson",
            "--application-token",
            APP_TOKEN,
        ])
        .args(extra);
    ListenChild::spawn(command)
}

/// `sandbox fire` whose handler calls fail: exit 1, the report still on stdout.
fn fire_failing(env: &TestEnv, event: &str) -> Value {
    let (code, stdout, stderr) = run(env.cmd().args(["sandbox", "fire", event, "-o", "json"]));
    assert_eq!(code, 1, "a failed handler call fails the command: {stderr}");
    assert!(stderr.contains("handler call(s) failed"), "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn sandbox_with_token() -> TestEnv {
    TestEnv::with_application_token(APP_TOKEN)
}

#[test]
fn fired_events_reach_listen_decoded_and_verified() {
    let env = sandbox_with_token();
    let listen = start_listen(&env, &[]);
    env.json(&["bind", "ONCRMDEALADD", &listen.url]);
    let fired = env.json(&[
        "sandbox",
        "fire",
        "ONCRMDEALADD",
        "--data",
        "FIELDS.ID=7405",
    ]);
    assert_eq!(fired["deliveries"][0]["status"], 200);
    let event = listen.next_json();
    assert_eq!(event["event"], "ONCRMDEALADD");
    assert_eq!(event["verdict"], "accepted");
    assert_eq!(event["data"], json!({"FIELDS": {"ID": "7405"}}));
    assert_eq!(event["event_handler_id"], "1");
    assert_eq!(
        event["auth"]["domain"],
        env.sandbox.url.trim_start_matches("http://")
    );
    assert_eq!(event["auth"]["member_id"].as_str().unwrap().len(), 32);
    assert_eq!(
        event["auth"]["application_token"], "****",
        "tokens are masked in output"
    );
    assert_eq!(event["auth"]["access_token"], "****");
    let log = env.json(&["sandbox", "log"]);
    assert_eq!(log[0]["handler"], listen.url);
    assert_eq!(log[0]["status"], 200);
}

#[test]
fn a_wrong_application_token_is_rejected_with_401() {
    let env = sandbox_with_token();
    let listen = start_listen(&env, &[]);
    let (code, _, stderr) = run(env.cmd().args([
        "trigger",
        "ONCRMDEALADD",
        "--to",
        &listen.url,
        "--application-token",
        "forged",
    ]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    assert_eq!(listen.next_json()["verdict"], "rejected");
    let (code, _, stderr) = run(env
        .cmd()
        .args(["trigger", "ONCRMDEALADD", "--to", &listen.url]));
    assert_eq!(code, 1, "a missing token is rejected too: {stderr}");
    assert_eq!(listen.next_json()["verdict"], "rejected");
}

#[test]
fn trigger_round_trips_nested_data_through_listen() {
    let env = sandbox_with_token();
    let listen = start_listen(&env, &[]);
    for extra in [&[][..], &["--json"][..]] {
        let mut args = vec![
            "trigger",
            "ONTASKUPDATE",
            "--to",
            &listen.url,
            "--application-token",
            APP_TOKEN,
            "--handler-id",
            "42",
        ];
        args.extend([
            "--data",
            "FIELDS_AFTER.ID=17",
            "--data",
            "FIELDS_AFTER.TAGS.0=a b&c",
            "--data",
            "FIELDS_BEFORE.TITLE=Ünïcode = ok",
        ]);
        args.extend(extra);
        let (code, stdout, stderr) = run(env.cmd().args(&args));
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(stdout.trim(), "OK");
        let event = listen.next_json();
        assert_eq!(event["verdict"], "accepted");
        assert_eq!(event["event_handler_id"], "42");
        assert_eq!(
            event["data"],
            json!({"FIELDS_AFTER": {"ID": "17", "TAGS": ["a b&c"]}, "FIELDS_BEFORE": {"TITLE": "Ünïcode = ok"}})
        );
    }
}

#[test]
fn forward_to_passes_the_body_and_content_type_unchanged() {
    let env = sandbox_with_token();
    let (base, seen) = crate::common::recorder(|_| 202);
    let target = format!("{base}/hook");
    let listen = start_listen(&env, &["--forward-to", &target]);
    let body = format!("event=ONCRMDEALADD&data%5BFIELDS%5D%5BID%5D=5&auth%5Bapplication_token%5D={APP_TOKEN}&odd=%E2%9C%93");
    let url = url::Url::parse(&listen.url).unwrap();
    let mut stream =
        std::net::TcpStream::connect((url.host_str().unwrap(), url.port().unwrap())).unwrap();
    write!(
        stream,
        "POST /any/path HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let event = listen.next_json();
    assert_eq!(event["forward"]["status"], 202);
    assert_eq!(event["path"], "/any/path");
    let received = seen.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/hook");
    assert_eq!(
        received[0].content_type,
        "application/x-www-form-urlencoded"
    );
    assert_eq!(received[0].body, body.as_bytes());
}

#[test]
fn saved_requests_replay_with_trigger_and_hide_secrets() {
    let env = sandbox_with_token();
    let saved = env.config_dir().join("captured");
    let listen = start_listen(&env, &["--save", saved.to_str().unwrap()]);
    env.json(&["bind", "ONCRMLEADADD", &listen.url]);
    env.json(&["sandbox", "fire", "ONCRMLEADADD", "--data", "FIELDS.ID=3"]);
    listen.next_json();
    let files: Vec<_> = std::fs::read_dir(&saved)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        !text.contains(APP_TOKEN),
        "saved files do not hold the application token"
    );
    let (code, _, stderr) = run(env.cmd().args([
        "trigger",
        "--from-file",
        files[0].to_str().unwrap(),
        "--to",
        &listen.url,
        "--application-token",
        APP_TOKEN,
    ]));
    assert_eq!(code, 0, "{stderr}");
    let replayed = listen.next_json();
    assert_eq!(replayed["event"], "ONCRMLEADADD");
    assert_eq!(replayed["data"]["FIELDS"]["ID"], "3");
    assert_eq!(replayed["verdict"], "accepted");
}

#[test]
fn event_test_sends_onapptest_and_queue_changes_notify_onofflineevent() {
    let env = sandbox_with_token();
    let listen = start_listen(&env, &[]);
    env.json(&["bind", "ONAPPTEST", &listen.url]);
    env.json(&["call", "event.test", "any=thing"]);
    let test_event = listen.next_json();
    assert_eq!(test_event["event"], "ONAPPTEST");
    assert_eq!(test_event["data"]["any"], "thing");

    env.json(&[
        "bind",
        "ONOFFLINEEVENT",
        &listen.url,
        "--min-timeout",
        "3600",
    ]);
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    env.json(&["sandbox", "fire", "ONCRMDEALADD", "--data", "FIELDS.ID=1"]);
    let notified = listen.next_json();
    assert_eq!(notified["event"], "ONOFFLINEEVENT");
    let second = env.json(&["sandbox", "fire", "ONCRMDEALADD", "--data", "FIELDS.ID=2"]);
    assert_eq!(second["queued"], 1);
    assert_eq!(
        second["deliveries"],
        json!([]),
        "minTimeout holds back a second notification"
    );
}

#[test]
fn failed_deliveries_are_logged_and_not_retried() {
    let env = sandbox_with_token();
    let refused = crate::common::refused_port();
    let handler = format!("http://127.0.0.1:{}/gone", refused.port);
    env.json(&["bind", "ONTASKADD", &handler]);
    let fired = fire_failing(&env, "ONTASKADD");
    assert!(fired["deliveries"][0]["status"].is_null());
    assert!(fired["deliveries"][0]["error"].is_string());
    let log = env.json(&["sandbox", "log"]);
    assert_eq!(log.as_array().unwrap().len(), 1, "one attempt, no retry");
}

#[test]
fn listen_exec_runs_a_command_with_the_decoded_event() {
    let env = sandbox_with_token();
    let out = env.config_dir().join("exec.json");
    let command = format!(
        "cat > '{}'; [ \"$BX_EVENT_NAME\" = ONCRMDEALADD ]",
        out.display()
    );
    let listen = start_listen(&env, &["--exec", &command]);
    let (code, _, stderr) = run(env.cmd().args([
        "trigger",
        "ONCRMDEALADD",
        "--to",
        &listen.url,
        "--application-token",
        APP_TOKEN,
        "--data",
        "FIELDS.ID=5",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let event = listen.next_json();
    assert_eq!(event["exec"]["exit_code"], 0, "{event}");
    let received: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(received["data"]["FIELDS"]["ID"], "5");
    assert_eq!(received["event"], "ONCRMDEALADD");
}

#[test]
fn listen_exec_kills_a_handler_that_outlives_its_timeout() {
    // The same runner as `consume --exec`: a timeout and the handler's whole
    // process group killed, so a stuck handler cannot pile up processes.
    let env = sandbox_with_token();
    let pid_file = env.config_dir().join("child.pid");
    let command = format!("sleep 300 & echo $! > '{}'; wait", pid_file.display());
    let listen = start_listen(&env, &["--exec", &command, "--handler-timeout", "1"]);
    let (code, _, stderr) = run(env.cmd().args([
        "trigger",
        "ONCRMDEALADD",
        "--to",
        &listen.url,
        "--application-token",
        APP_TOKEN,
    ]));
    assert_eq!(code, 0, "{stderr}");
    let event = listen.next_json();
    assert!(
        event["exec"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out")),
        "{event}"
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    // Gone, or a zombie waiting for a reaper: either way no longer running. A
    // SIGKILL is delivered when the process next runs, which on a loaded machine
    // can be after listen printed the event: wait for it, within a bound far
    // beyond a delivery and far below the handler's 300 s.
    let stat_path = format!("/proc/{}/stat", pid.trim());
    let running = || {
        let state = std::fs::read_to_string(&stat_path).unwrap_or_default();
        let alive = state
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|s| s != "Z" && s != "X");
        (alive, state)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while running().0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (alive, state) = running();
    assert!(
        !alive,
        "the handler's background child was killed too: {state}"
    );
}

#[test]
fn handlers_off_this_machine_are_not_called_by_default() {
    let env = sandbox_with_token();
    env.json(&["bind", "ONTASKADD", "https://hooks.example.com/t"]);
    let fired = fire_failing(&env, "ONTASKADD");
    assert!(fired["deliveries"][0]["error"]
        .as_str()
        .unwrap()
        .contains("--external-delivery"));
    assert_eq!(fired["deliveries"][0]["duration_ms"], 0, "nothing was sent");
}

// ---- Hostile traffic (docs/reliability.md, "Security") ----------------------------

/// A raw POST to `listen`: the status code.
fn post_raw(url: &str, content_type: Option<&str>, body: &[u8]) -> u16 {
    let mut headers = Vec::new();
    if let Some(kind) = content_type {
        headers.push(("Content-Type", kind));
    }
    crate::common::http_request("POST", url, &headers, body).0
}

fn form_with_token(token: &str, extra: &str) -> String {
    format!("event=ONCRMDEALADD&data[FIELDS][ID]=9&auth[application_token]={token}{extra}")
}

#[test]
fn form_floods_are_refused_before_decoding_and_the_token_is_checked_first() {
    let env = sandbox_with_token();
    let listen = start_listen(&env, &[]);
    let form = Some("application/x-www-form-urlencoded");
    let too_many = "a[]=x&".repeat(25_000);
    assert_eq!(post_raw(&listen.url, form, too_many.as_bytes()), 413);
    let flood = form_with_token("wrong", &"&a[]=x".repeat(15_000));
    assert_eq!(post_raw(&listen.url, form, flood.as_bytes()), 401);
    assert_eq!(listen.next_json()["verdict"], "rejected");
    let legit = form_with_token(APP_TOKEN, &"&list[]=x".repeat(15_000));
    assert_eq!(post_raw(&listen.url, form, legit.as_bytes()), 200);
    let event = listen.next_json();
    assert_eq!(event["verdict"], "accepted");
    assert_eq!(event["data"]["FIELDS"]["ID"], "9");
}

#[test]
fn idle_and_slow_connections_are_closed() {
    let env = sandbox_with_token();
    let listen = start_listen(&env, &["--header-timeout", "1"]);
    let address = listen
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut idle: Vec<std::net::TcpStream> = (0..50)
        .map(|_| std::net::TcpStream::connect(&address).unwrap())
        .collect();
    // A slow client: half a request line, then nothing.
    idle[0]
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    for stream in &mut idle {
        // Guard only: a server without the timeout keeps the read waiting.
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        // Reads until the server closes the connection (perhaps after a 408 answer).
        let mut answer = Vec::new();
        match stream.read_to_end(&mut answer) {
            Ok(_) => {}
            Err(e) => assert!(
                e.kind() == std::io::ErrorKind::ConnectionReset,
                "the connection was left open: {e}"
            ),
        }
    }
    let body = form_with_token(APP_TOKEN, "");
    assert_eq!(
        post_raw(
            &listen.url,
            Some("application/x-www-form-urlencoded"),
            body.as_bytes()
        ),
        200,
        "still serving"
    );
}

#[test]
fn rejected_requests_are_saved_only_on_request_and_within_a_budget() {
    let env = sandbox_with_token();
    let saved = env.config_dir().join("captured");
    let big = "x".repeat(600_000);
    let body = form_with_token("wrong", &format!("&data[BLOB]={big}"));
    let form = Some("application/x-www-form-urlencoded");
    {
        let listen = start_listen(&env, &["--save", saved.to_str().unwrap()]);
        for _ in 0..3 {
            assert_eq!(post_raw(&listen.url, form, body.as_bytes()), 401);
            listen.next_json();
        }
    }
    let count = || std::fs::read_dir(&saved).map_or(0, |d| d.count());
    assert_eq!(count(), 0, "rejected requests are not saved by default");
    let listen = start_listen(
        &env,
        &[
            "--save",
            saved.to_str().unwrap(),
            "--save-rejected",
            "--save-budget",
            "1",
        ],
    );
    for _ in 0..3 {
        assert_eq!(post_raw(&listen.url, form, body.as_bytes()), 401);
        listen.next_json();
    }
    assert_eq!(count(), 1, "the 1 MB budget holds one 600 KB request");
}

#[test]
fn saved_requests_are_masked_whatever_their_declared_type() {
    let env = sandbox_with_token();
    let saved = env.config_dir().join("captured");
    let listen = start_listen(&env, &["--save", saved.to_str().unwrap()]);
    let json = format!(
        r#"{{"event":"ONCRMDEALADD","auth":{{"application_token":"{APP_TOKEN}","access_token":"access-secret-123","refresh_token":"refresh-secret-456"}}}}"#
    );
    for kind in [Some("text/plain"), None, Some("application/json")] {
        assert_eq!(post_raw(&listen.url, kind, json.as_bytes()), 200);
        listen.next_json();
    }
    let form = form_with_token(APP_TOKEN, "&auth%5Baccess_token%5D=access-secret-123");
    assert_eq!(
        post_raw(&listen.url, Some("text/plain"), form.as_bytes()),
        200
    );
    listen.next_json();
    for file in std::fs::read_dir(&saved).unwrap() {
        let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
        for secret in [APP_TOKEN, "access-secret-123", "refresh-secret-456"] {
            assert!(!text.contains(secret), "{secret} saved in {text}");
        }
    }
}

#[cfg(unix)]
#[test]
fn listen_exec_runs_a_bounded_number_of_commands_at_once() {
    let env = sandbox_with_token();
    let trace = env.config_dir().join("trace.txt");
    // Each command records its start and end around a short piece of work.
    let command = format!(
        "echo start >> '{t}'; sleep 0.3; echo end >> '{t}'",
        t = trace.display()
    );
    let listen = start_listen(&env, &["--exec", &command, "--max-exec", "2"]);
    let body = form_with_token(APP_TOKEN, "");
    for _ in 0..8 {
        assert_eq!(
            post_raw(
                &listen.url,
                Some("application/x-www-form-urlencoded"),
                body.as_bytes()
            ),
            200
        );
    }
    for _ in 0..8 {
        assert_eq!(listen.next_json()["exec"]["exit_code"], 0);
    }
    let (mut running, mut most) = (0i32, 0i32);
    for line in std::fs::read_to_string(&trace).unwrap().lines() {
        running += if line == "start" { 1 } else { -1 };
        most = most.max(running);
    }
    assert_eq!(most, 2, "at most two at once, and the limit is used");
}

#[test]
fn saved_file_names_stay_inside_the_directory() {
    let env = sandbox_with_token();
    let saved = env.config_dir().join("captured");
    let listen = start_listen(&env, &["--save", saved.to_str().unwrap()]);
    for name in ["../../escape", "/etc/passwd", "..\\..\\x", "a/../../b"] {
        let body = format!(
            "event={}&auth[application_token]={APP_TOKEN}",
            url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()
        );
        assert_eq!(
            post_raw(
                &listen.url,
                Some("application/x-www-form-urlencoded"),
                body.as_bytes()
            ),
            200
        );
        listen.next_json();
    }
    let inside = std::fs::read_dir(&saved).unwrap().count();
    assert_eq!(inside, 4, "every request saved inside the directory");
    let outside: Vec<_> = std::fs::read_dir(env.config_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("escape") || name.ends_with(".json"))
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
}
