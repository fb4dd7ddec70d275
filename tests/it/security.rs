//! Hostile portals and senders: redirects, escape sequences, floods (docs/reliability.md,
//! "Security").

use crate::common::{bare_cmd, canned_server, http_answer, json_error, recorder, run};

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

use crate::common::TestEnv;
use bx_events::sandbox::SandboxOptions;
use serde_json::json;

fn sandbox() -> TestEnv {
    TestEnv::with_options(SandboxOptions {
        rate_limit: None,
        ..SandboxOptions::default()
    })
}

#[cfg(unix)]
#[test]
fn exec_children_do_not_inherit_secret_variables() {
    let env = sandbox();
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    env.sandbox
        .portal
        .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": "1"}}));
    let seen = env.config_dir().join("env.txt");
    let creds = &env.sandbox.credentials;
    let (code, _, stderr) = run(env
        .cmd()
        .env("BX_EVENTS_PORTAL", &creds.portal)
        .env("BX_EVENTS_ACCESS_TOKEN", creds.access_token.expose())
        .env("BX_EVENTS_REFRESH_TOKEN", creds.refresh_token.expose())
        .env("BX_EVENTS_CLIENT_ID", &creds.client_id)
        .env("BX_EVENTS_CLIENT_SECRET", creds.client_secret.expose())
        .args([
            "offline",
            "consume",
            "--exec",
            &format!("env > '{}'", seen.display()),
        ]));
    assert_eq!(code, 0, "{stderr}");
    let environment = std::fs::read_to_string(&seen).unwrap();
    assert!(environment.contains("BX_EVENT_NAME=ONCRMDEALADD"));
    for secret in [
        creds.access_token.expose(),
        creds.refresh_token.expose(),
        creds.client_secret.expose(),
    ] {
        assert!(
            !environment.contains(secret.as_str()),
            "a secret reached the handler"
        );
    }
}

/// Every file bx-events creates under the config directory is 0600 (directories
/// 0700), even under `umask 000`.
#[cfg(unix)]
#[test]
fn files_under_the_config_directory_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let env = sandbox();
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    env.sandbox
        .portal
        .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": "1"}}));
    let binary = assert_cmd::cargo::cargo_bin("bx-events");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000; '{}' offline consume --stdout >/dev/null",
            binary.display()
        ))
        .env("BX_EVENTS_CONFIG_DIR", env.config_dir())
        .status()
        .unwrap();
    assert!(status.success());
    let mut checked = 0;
    let mut stack = vec![env.config_dir()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let mode = std::fs::symlink_metadata(&path)
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            if path.is_dir() {
                assert_eq!(mode, 0o700, "{}", path.display());
                stack.push(path);
            } else {
                assert_eq!(mode, 0o600, "{}", path.display());
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 4,
        "credentials, lock, journal and limiter files checked"
    );
}

#[cfg(unix)]
#[test]
fn files_under_the_config_directory_are_never_opened_through_a_symlink() {
    let env = sandbox();
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    let state = env.config_dir().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let victim = env.dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, state.join("consume-sb-default.journal")).unwrap();
    let (code, _, stderr) = run(env.cmd().args(["offline", "consume", "--stdout"]));
    assert_ne!(code, 0, "{stderr}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let dangling = env.dir.path().join("created-by-a-link");
    std::fs::remove_file(env.config_dir().join("credentials.lock")).ok();
    std::os::unix::fs::symlink(&dangling, env.config_dir().join("credentials.lock")).unwrap();
    env.sandbox.portal.expire_tokens();
    let (code, _, _) = run(env.cmd().args(["list"]));
    assert_ne!(code, 0);
    assert!(
        !dangling.exists(),
        "a dangling link did not create its target"
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_in_place_of_the_credentials_is_refused_not_waited_on() {
    let env = sandbox();
    let path = env.credentials_path();
    std::fs::remove_file(&path).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    let output = env
        .cmd()
        .args(["list"])
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.code().is_some(), "ended by itself: {stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
}

/// A refresh is asked for only when its result can be stored: otherwise the
/// portal rotates the pair and the only valid refresh token is lost.
#[cfg(unix)]
#[test]
fn a_refresh_that_could_not_be_stored_is_never_asked_for() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let env = sandbox();
    // The config directory must exist and be readable; then made read-only.
    env.json(&["list"]);
    let dir = env.config_dir();
    let as_root = unsafe { libc::geteuid() } == 0;
    let nobody = 65_534;
    if as_root {
        // Root ignores permission bits: run bx-events as an ordinary user.
        for path in [env.dir.path().to_path_buf(), dir.clone()] {
            std::os::unix::fs::chown(&path, Some(nobody), Some(nobody)).unwrap();
        }
        for entry in std::fs::read_dir(&dir).unwrap() {
            std::os::unix::fs::chown(entry.unwrap().path(), Some(nobody), Some(nobody)).unwrap();
        }
        std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();
    env.sandbox.portal.expire_tokens();
    let binary = assert_cmd::cargo::cargo_bin("bx-events");
    let run_list = || {
        let mut command = std::process::Command::new(&binary);
        command
            .env_clear()
            .env("BX_EVENTS_CONFIG_DIR", &dir)
            .env("NO_COLOR", "1")
            .args(["list"]);
        if as_root {
            command.uid(nobody).gid(nobody);
        }
        command.output().unwrap()
    };
    let output = run_list();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("cannot be written"), "{stderr}");
    assert_eq!(
        env.sandbox.portal.stats().refreshes,
        0,
        "nothing was refreshed"
    );
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let output = run_list();
    assert_eq!(
        output.status.code(),
        Some(0),
        "after the fix the stored refresh token still works: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(env.sandbox.portal.stats().refreshes, 1);
}

#[test]
fn auth_login_takes_secrets_from_stdin() {
    let env = sandbox();
    let creds = &env.sandbox.credentials;
    let secrets = format!(
        "# kept out of the process list\naccess_token={}\nrefresh_token={}\nclient_secret={}\n",
        creds.access_token.expose(),
        creds.refresh_token.expose(),
        creds.client_secret.expose()
    );
    let (code, _, stderr) = run(env
        .cmd()
        .args([
            "auth",
            "login",
            "-p",
            "piped",
            "--portal",
            &creds.portal,
            "--client-id",
            &creds.client_id,
            "--oauth-server",
            &creds.portal,
            "--secrets-from",
            "-",
        ])
        .write_stdin(secrets));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        env.secrets("piped")
            .refresh_token
            .as_ref()
            .map(|s| s.expose().as_str()),
        Some(creds.refresh_token.expose().as_str())
    );
    let (code, _, stderr) = run(env
        .cmd()
        .args([
            "auth",
            "login",
            "--portal",
            &creds.portal,
            "--secrets-from",
            "-",
        ])
        .write_stdin("password=x\n"));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown name 'password'"), "{stderr}");
}
