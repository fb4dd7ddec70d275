//! Hostile portals and senders: redirects, escape sequences, floods (docs/reliability.md,
//! "Security").

mod common;

use common::{bare_cmd, canned_server, http_answer, json_error, recorder, run};

fn env_cmd(portal: &str) -> assert_cmd::Command {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut cmd = bare_cmd();
    cmd.env("BX_EVENTS_CONFIG_DIR", dir)
        .env("BX_EVENTS_PORTAL", portal)
        .env("BX_EVENTS_ACCESS_TOKEN", "token-value-123");
    cmd
}

#[test]
fn tokens_never_follow_a_redirect_to_another_origin() {
    let (elsewhere, received) = recorder(|_| 200);
    for status in [
        "301 Moved Permanently",
        "302 Found",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        let head = format!("HTTP/1.1 {status}\r\nLocation: {elsewhere}/rest/event.get\r\n");
        let portal = canned_server(http_answer(&head, b""));
        let (code, _, stderr) = run(env_cmd(&portal).args(["list", "-o", "json"]));
        assert_eq!(code, 1, "{stderr}");
        let error = json_error(&stderr);
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("redirecting to") && message.contains(&elsewhere),
            "{message}"
        );
        assert!(!stderr.contains("token-value-123"), "{stderr}");
    }
    assert!(
        received.lock().unwrap().is_empty(),
        "the other origin received nothing"
    );
}

#[test]
fn token_refreshes_never_follow_a_redirect() {
    let (elsewhere, received) = recorder(|_| 200);
    let head = format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: {elsewhere}/oauth/token/\r\n");
    let oauth = canned_server(http_answer(&head, b""));
    let portal = canned_server(http_answer(
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n",
        br#"{"error":"expired_token","error_description":"The access token provided has expired"}"#,
    ));
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(bare_cmd()
        .env("BX_EVENTS_CONFIG_DIR", dir.path())
        .env("BX_EVENTS_PORTAL", &portal)
        .env("BX_EVENTS_OAUTH_SERVER", &oauth)
        .env("BX_EVENTS_ACCESS_TOKEN", "expired-token-1")
        .env("BX_EVENTS_REFRESH_TOKEN", "refresh-token-1")
        .env("BX_EVENTS_CLIENT_ID", "app.1")
        .env("BX_EVENTS_CLIENT_SECRET", "secret-1")
        .args(["auth", "token"]));
    let _ = code;
    assert!(
        received.lock().unwrap().is_empty(),
        "the other origin received nothing: {stderr}"
    );
    assert!(
        !stderr.contains("secret-1") && !stderr.contains("refresh-token-1"),
        "{stderr}"
    );
}

#[test]
fn portal_text_cannot_drive_the_terminal() {
    let body = br#"{"error":"ERR\u001b[31m","error_description":"\u001b[2J\u001b[1;1Hforged\rline\u0007"}"#;
    let portal = canned_server(http_answer(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n",
        body,
    ));
    let (code, stdout, stderr) = run(env_cmd(&portal).args(["list"]));
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(
        !stderr.contains('\x1b') && !stderr.contains('\r') && !stderr.contains('\x07'),
        "{stderr:?}"
    );
    assert!(stderr.contains("\\u{1b}[2J"), "shown escaped: {stderr:?}");
    // With -o json the text stays exact (JSON escapes it itself).
    let (_, _, stderr) = run(env_cmd(&portal).args(["list", "-o", "json"]));
    assert!(json_error(&stderr)["message"]
        .as_str()
        .unwrap()
        .contains("\u{1b}[2J"));
}

#[test]
fn table_cells_from_the_portal_are_shown_escaped() {
    let body = br#"{"result":[{"event":"ONCRMDEALADD\u001b[2J","handler":"https://a.example.com/\r\u001b[1;1Hx","auth_type":"0","offline":0}],"time":{}}"#;
    let portal = canned_server(http_answer(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n",
        body,
    ));
    let (code, stdout, stderr) = run(env_cmd(&portal).args(["list"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !stdout.contains('\x1b') && !stdout.contains('\r'),
        "{stdout:?}"
    );
    assert!(stdout.contains("\\u{1b}[2J"), "{stdout:?}");
    let (_, stdout, _) = run(env_cmd(&portal).args(["list", "-o", "json"]));
    let parsed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        parsed[0]["event"], "ONCRMDEALADD\u{1b}[2J",
        "JSON stays exact"
    );
}
