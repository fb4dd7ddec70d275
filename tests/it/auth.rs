//! auth login / status / logout / token / switch, environment credentials, and the
//! credential store's guarantees (mode, crash safety, refresh races).

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::common::{bare_cmd, http_get, json_error, run, TestEnv, PROFILE};
use serde_json::{json, Value};

#[test]
fn login_with_tokens_verifies_then_saves() {
    let env = TestEnv::new();
    let (access, refresh) = env.sandbox.portal.issue_tokens(1);
    let (code, _, stderr) = run(env
        .cmd()
        .args(env.token_login_args("second", &access, &refresh)));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        env.secrets("second")
            .access_token
            .as_ref()
            .map(|s| s.expose().as_str()),
        Some(access.as_str())
    );
    let status = env.json(&["auth", "status"]);
    let second = status
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "second")
        .unwrap();
    assert_eq!(second["current"], true, "login makes the profile current");
    assert_eq!(second["kind"], "oauth");
    assert_eq!(second["status"], "ok");
}

#[test]
fn login_with_rejected_tokens_saves_nothing() {
    let env = TestEnv::new();
    let portal = env.sandbox.credentials.portal.clone();
    let before = std::fs::read_to_string(env.credentials_path()).unwrap();
    let (code, _, stderr) = run(env.cmd().args([
        "auth",
        "login",
        "-p",
        "bad",
        "--portal",
        &portal,
        "--access-token",
        "nope",
    ]));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("invalid_token"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(env.credentials_path()).unwrap(),
        before
    );
}

#[test]
fn login_without_a_method_and_without_input_names_the_flags() {
    let env = TestEnv::new();
    let (code, _, stderr) =
        run(env
            .cmd()
            .args(["auth", "login", "--portal", "https://example.bitrix24.com"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--client-id") && stderr.contains("--webhook"),
        "{stderr}"
    );
    let (code, _, stderr) = run(env.cmd().args(["auth", "login", "--access-token", "x"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--portal is required"), "{stderr}");
    let (code, _, stderr) = run(env.cmd().args(["auth", "login", "--client-id", "x"]));
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn plain_http_is_refused_for_remote_portals() {
    let env = TestEnv::new();
    let (code, _, stderr) = run(env.cmd().args([
        "auth",
        "login",
        "--portal",
        "http://example.bitrix24.com",
        "--access-token",
        "x",
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("https://"), "{stderr}");
}

#[test]
fn webhook_login_works_but_event_methods_explain_wrong_auth_type() {
    let env = TestEnv::new();
    let webhook = env.sandbox.credentials.webhook_url.expose().clone();
    let (code, _, stderr) =
        run(env
            .cmd()
            .args(["auth", "login", "-p", "hook", "--webhook", &webhook]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("cannot call event methods"), "{stderr}");
    let status = env.json(&["auth", "status"]);
    let hook = status
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "hook")
        .unwrap();
    assert_eq!(hook["kind"], "webhook");
    assert_eq!(hook["scope"], "crm,task,user");
    let (code, _, stderr) = run(env.cmd().args(["list", "-p", "hook"]));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("WRONG_AUTH_TYPE"), "{stderr}");
    assert!(stderr.contains("OAuth application"), "{stderr}");
    // Other methods still work through the webhook.
    let info = env.json(&["call", "scope", "-p", "hook"]);
    assert_eq!(info["result"][0], "crm");
}

#[test]
fn authorization_code_flow_catches_the_loopback_redirect() {
    let env = TestEnv::new();
    let creds = env.sandbox.credentials.clone();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("bx-events"))
        .env("BX_EVENTS_CONFIG_DIR", env.config_dir())
        .env("NO_COLOR", "1")
        .args([
            "auth",
            "login",
            "-p",
            "browser",
            "--no-input",
            "--portal",
            &creds.portal,
            "--client-id",
            &creds.client_id,
            "--client-secret",
            creds.client_secret.expose(),
            "--oauth-server",
            &creds.portal,
            // 0: the login picks a free port and names it in the redirect URI.
            "--redirect-port",
            "0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut authorize = None;
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        if let Some(url) = line
            .trim()
            .strip_prefix("http")
            .filter(|l| l.contains("/oauth/authorize/"))
        {
            authorize = Some(format!("http{url}"));
            break;
        }
        line.clear();
    }
    let authorize = authorize.expect("the authorize URL is printed");
    // The "browser": the portal approves and redirects to the loopback catcher.
    let (status, location, _) = http_get(&authorize);
    assert_eq!(status, 303, "sandbox redirects");
    let (status, _, body) = http_get(&location.expect("redirect target"));
    assert_eq!(status, 200, "{body}");
    let exit = child.wait().unwrap();
    assert!(exit.success());
    let stored = env.secrets("browser");
    assert!(
        stored.access_token.is_some()
            && stored.refresh_token.is_some()
            && stored.expires_at.is_some()
    );
    let listed = env.json(&["list", "-p", "browser"]);
    assert!(listed.is_array());
}

#[test]
fn authorization_code_can_be_given_by_hand() {
    let env = TestEnv::new();
    let creds = env.sandbox.credentials.clone();
    let authorize = format!(
        "{}/oauth/authorize/?client_id={}&state=s&redirect_uri=http://127.0.0.1:1/",
        creds.portal, creds.client_id
    );
    let (_, location, _) = http_get(&authorize);
    let location = url::Url::parse(&location.unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let (exit, _, stderr) = run(env.cmd().args([
        "auth",
        "login",
        "-p",
        "manual",
        "--portal",
        &creds.portal,
        "--client-id",
        &creds.client_id,
        "--client-secret",
        creds.client_secret.expose(),
        "--oauth-server",
        &creds.portal,
        "--code",
        &code,
    ]));
    assert_eq!(exit, 0, "{stderr}");
    // Codes are single-use.
    let (exit, _, stderr) = run(env.cmd().args([
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
        &code,
    ]));
    assert_eq!(exit, 4, "{stderr}");
    assert!(stderr.contains("invalid_grant"), "{stderr}");
}

#[test]
fn switch_logout_and_unknown_profiles() {
    let env = TestEnv::new();
    let (access, refresh) = env.sandbox.portal.issue_tokens(1);
    env.save_oauth_profile("other", &access, &refresh, None);
    let (code, _, stderr) = run(env.cmd().args(["auth", "switch", PROFILE]));
    assert_eq!(code, 0, "{stderr}");
    let status = env.json(&["auth", "status"]);
    let current: Vec<&Value> = status
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["current"] == true)
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["name"], PROFILE);

    let (code, _, stderr) = run(env.cmd().args(["auth", "switch", "missing"]));
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("other") && stderr.contains(PROFILE),
        "lists known profiles: {stderr}"
    );

    let (code, _, stderr) = run(env.cmd().args(["auth", "logout", "-p", "other"]));
    assert_eq!(code, 2, "without input, logout needs --yes: {stderr}");
    assert!(stderr.contains("--yes"), "{stderr}");
    let (code, _, stderr) = run(env.cmd().args(["auth", "logout", "-p", "other", "--yes"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(!std::fs::read_to_string(env.credentials_path())
        .unwrap()
        .contains(&access));
    let (code, _, stderr) = run(env.cmd().args(["list", "-p", "other"]));
    assert_eq!(code, 4, "{stderr}");

    let (code, _, stderr) = run(env.cmd().args(["auth", "logout", "--all"]));
    assert_eq!(code, 2, "without input, --all needs --yes: {stderr}");
    assert!(stderr.contains("--yes"), "{stderr}");
    assert!(
        env.secrets(PROFILE).access_token.is_some(),
        "nothing deleted"
    );
    let (code, _, _) = run(env.cmd().args(["auth", "logout", "--all", "--yes"]));
    assert_eq!(code, 0);
    let (code, _, stderr) = run(env.cmd().args(["list"]));
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("auth login") && stderr.contains("sandbox"),
        "{stderr}"
    );
}

#[test]
fn no_credentials_is_exit_4_with_a_json_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(bare_cmd()
        .env("BX_EVENTS_CONFIG_DIR", dir.path())
        .args(["list", "-o", "json"]));
    assert_eq!(code, 4);
    let error = json_error(&stderr);
    assert_eq!(error["code"], "NO_CREDENTIALS");
    assert!(error["hint"].as_str().unwrap().contains("auth login"));
}

#[test]
fn environment_credentials_need_no_files() {
    let env = TestEnv::new();
    let dir = tempfile::tempdir().unwrap();
    let (access, _) = env.sandbox.portal.issue_tokens(1);
    let (code, stdout, stderr) = run(bare_cmd()
        .env("BX_EVENTS_CONFIG_DIR", dir.path())
        .env("BX_EVENTS_PORTAL", &env.sandbox.credentials.portal)
        .env("BX_EVENTS_ACCESS_TOKEN", &access)
        .args(["bind", "ONTASKADD", "https://t.example.com/x", "-o", "json"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()["status"],
        "bound"
    );
    assert!(
        !dir.path().join("credentials.toml").exists() && !dir.path().join("config.toml").exists(),
        "no credentials written"
    );

    let (code, stdout, stderr) = run(bare_cmd()
        .env("BX_EVENTS_CONFIG_DIR", dir.path())
        .env(
            "BX_EVENTS_WEBHOOK_URL",
            env.sandbox.credentials.webhook_url.expose(),
        )
        .args(["call", "scope", "-o", "json"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("crm"));
}

#[test]
fn auth_token_prints_a_valid_token_refreshing_when_expired() {
    let env = TestEnv::new();
    let before = env.secrets(PROFILE).access_token.unwrap().expose().clone();
    let (code, stdout, _) = run(env.cmd().args(["auth", "token"]));
    assert_eq!(code, 0);
    assert_eq!(stdout.trim(), before);
    // A stored expiry in the past makes the token known-expired.
    let (access, refresh) = env.sandbox.portal.issue_tokens(1);
    env.save_oauth_profile(PROFILE, &access, &refresh, Some(1));
    let (code, stdout, stderr) = run(env.cmd().args(["auth", "token"]));
    assert_eq!(code, 0, "{stderr}");
    assert_ne!(stdout.trim(), access);
    assert_eq!(
        env.secrets(PROFILE)
            .access_token
            .as_ref()
            .map(|s| s.expose().as_str()),
        Some(stdout.trim())
    );
    assert_eq!(env.sandbox.portal.stats().refreshes, 1);
}

#[test]
fn expired_token_is_refreshed_once_and_the_call_retried() {
    let env = TestEnv::new();
    let old = env.secrets(PROFILE);
    env.sandbox.portal.expire_tokens();
    let listed = env.json(&["list"]);
    assert!(listed.is_array());
    let new = env.secrets(PROFILE);
    assert_ne!(new.access_token, old.access_token);
    assert_ne!(
        new.refresh_token, old.refresh_token,
        "refresh tokens are single-use: the new one is stored"
    );
    assert_eq!(env.sandbox.portal.stats().refreshes, 1);
    env.json(&["list"]);
    assert_eq!(
        env.sandbox.portal.stats().refreshes,
        1,
        "the stored pair is valid afterwards"
    );
}

#[test]
fn used_refresh_token_means_exit_4_and_login_advice() {
    let env = TestEnv::new();
    let (access, refresh) = env.sandbox.portal.issue_tokens(1);
    env.save_oauth_profile(PROFILE, &access, &refresh, Some(1));
    env.spend_refresh_token(&refresh);
    env.sandbox.portal.expire_tokens();
    let (code, _, stderr) = run(env.cmd().args(["list"]));
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("invalid_grant") && stderr.contains("log in again"),
        "{stderr}"
    );
}

#[test]
fn non_admin_users_get_access_denied_explained() {
    let env = TestEnv::new();
    let (access, refresh) = env.sandbox.portal.issue_tokens(2);
    env.save_oauth_profile("employee", &access, &refresh, None);
    let (code, _, stderr) =
        run(env
            .cmd()
            .args(["bind", "ONCRMDEALADD", "--offline", "-p", "employee"]));
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("ACCESS_DENIED") && stderr.contains("administrator"),
        "{stderr}"
    );
    let own = env.json(&[
        "bind",
        "ONCRMDEALADD",
        "https://h.example.com/x",
        "-p",
        "employee",
    ]);
    assert_eq!(own["status"], "bound");
}

#[cfg(unix)]
// Dies at a test failpoint: built with `--features failpoints` (make test).
#[cfg(feature = "failpoints")]
#[test]
fn credentials_file_is_private_and_survives_a_crash_mid_write() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let mode = std::fs::metadata(env.credentials_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(env.config_dir())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o077, 0, "config dir must not be open to others");

    let before = std::fs::read_to_string(env.credentials_path()).unwrap();
    let (access, refresh) = env.sandbox.portal.issue_tokens(1);
    let (code, _, _) = run(env
        .cmd()
        .env("BX_EVENTS_TEST_FAILPOINT", "credentials-mid-write")
        .args(env.token_login_args(PROFILE, &access, &refresh)));
    assert_ne!(code, 0, "the failpoint aborts the process");
    assert_eq!(
        std::fs::read_to_string(env.credentials_path()).unwrap(),
        before,
        "old file intact"
    );
    let listed = env.json(&["list"]);
    assert!(listed.is_array(), "the old credentials still work");
}

#[test]
fn corrupt_credentials_are_reported_and_left_alone() {
    let env = TestEnv::new();
    std::fs::write(env.credentials_path(), "[profiles.sb\naccess_token = ").unwrap();
    let (code, _, stderr) = run(env.cmd().args(["list"]));
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("credentials.toml") && stderr.contains("left untouched"),
        "{stderr}"
    );
    let (code, _, _) = run(env.cmd().args(["auth", "switch", PROFILE]));
    assert_eq!(code, 4);
    assert_eq!(
        std::fs::read_to_string(env.credentials_path()).unwrap(),
        "[profiles.sb\naccess_token = "
    );
}

/// Another process refreshed the pair: the stored token (still "unexpired" by its
/// stored expiry) is stale. `auth token` proves it with a call and prints a token
/// the portal accepts.
#[test]
fn auth_token_never_prints_a_token_the_portal_rejects() {
    let env = TestEnv::new();
    let (access, refresh) = env.sandbox.portal.issue_tokens(1);
    env.save_oauth_profile(PROFILE, &access, &refresh, Some(i64::MAX / 2));
    env.sandbox.portal.expire_tokens();
    let (code, stdout, stderr) = run(env.cmd().args(["auth", "token", "-o", "json"]));
    assert_eq!(code, 0, "{stderr}");
    let printed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let token = printed["access_token"].as_str().unwrap();
    assert_ne!(token, access, "the stale token is not printed");
    assert!(printed["expires_at"].as_i64().is_some(), "{printed}");
    let (code, _, stderr) = run(crate::common::bare_cmd()
        .env("BX_EVENTS_CONFIG_DIR", env.dir.path().join("empty"))
        .env("BX_EVENTS_PORTAL", &env.sandbox.credentials.portal)
        .env("BX_EVENTS_ACCESS_TOKEN", token)
        .args(["call", "app.info"]));
    assert_eq!(code, 0, "the printed token works: {stderr}");
}

#[test]
fn auth_import_stores_many_portals_from_install_lines() {
    let env = TestEnv::new();
    let creds = env.sandbox.credentials.clone();
    let (first, first_refresh) = env.sandbox.portal.issue_tokens(1);
    let (second, _) = env.sandbox.portal.issue_tokens(1);
    let lines = [
        // As ONAPPINSTALL's auth[...] arrives: client_endpoint names the portal.
        json!({"access_token": first, "refresh_token": first_refresh, "expires_in": "3600",
               "client_endpoint": format!("{}/rest/", creds.portal), "server_endpoint": format!("{}/rest/", creds.portal),
               "member_id": creds.member_id, "application_token": creds.application_token.expose(),
               "scope": "crm", "user_id": "1", "profile": "acme"}),
        json!({"access_token": second, "client_endpoint": creds.portal, "profile": "globex"}),
        // The domain alone means an https portal, named after its host.
        json!({"access_token": "t3", "domain": "example.bitrix24.com"}),
    ];
    let file = env.config_dir().join("installs.jsonl");
    std::fs::create_dir_all(env.config_dir()).unwrap();
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&file, text).unwrap();
    let secret_file = env.config_dir().join("app.env");
    std::fs::write(
        &secret_file,
        format!("client_secret={}\n", creds.client_secret.expose()),
    )
    .unwrap();
    let imported = env.json(&[
        "auth",
        "import",
        file.to_str().unwrap(),
        "--client-id",
        &creds.client_id,
        "--secrets-from",
        secret_file.to_str().unwrap(),
    ]);
    assert_eq!(imported.as_array().map(Vec::len), Some(3), "{imported}");
    assert_eq!(imported[0]["member_id"], creds.member_id.as_str());
    assert_eq!(imported[2]["profile"], "example.bitrix24.com");
    assert_eq!(imported[2]["portal"], "https://example.bitrix24.com");
    let acme = env.secrets("acme");
    assert_eq!(acme.client_secret.as_ref(), Some(&creds.client_secret));
    assert!(acme.expires_at.is_some_and(|at| at > 0));
    // Both profiles work against the portal; the current one did not change.
    assert_eq!(env.json(&["-p", "acme", "list"]), json!([]));
    assert_eq!(env.json(&["-p", "globex", "list"]), json!([]));
    let config = env.store().read_config().unwrap();
    assert_eq!(config.current.as_deref(), Some(PROFILE));
}

#[test]
fn auth_import_names_every_bad_line_and_imports_nothing() {
    let env = TestEnv::new();
    let before = std::fs::read(env.credentials_path()).unwrap();
    let file = env.config_dir().join("installs.jsonl");
    let good = json!({"access_token": "t1", "domain": "acme.bitrix24.com"});
    let no_token = json!({"domain": "globex.bitrix24.com"});
    let twice = json!({"access_token": "t3", "domain": "acme.bitrix24.com"});
    let existing = json!({"access_token": "t4", "domain": "x.bitrix24.com", "profile": PROFILE});
    let numeric = json!({"access_token": 987654321, "domain": "y.bitrix24.com"});
    let clear_oauth = json!({"access_token": "t5", "domain": "z.bitrix24.com",
                             "server_endpoint": "http://oauth.example.com/rest/"});
    std::fs::write(
        &file,
        format!("{good}\n{no_token}\nnot json\n{twice}\n{existing}\n{numeric}\n{clear_oauth}\n"),
    )
    .unwrap();
    let (code, _, stderr) = run(env.cmd().args(["auth", "import", file.to_str().unwrap()]));
    assert_eq!(code, 2, "{stderr}");
    for wanted in [
        "line 2: no access_token",
        "line 3: not a JSON object",
        "line 4: profile 'acme.bitrix24.com' appears twice",
        &format!("line 5: profile '{PROFILE}' already exists"),
        "line 6: not a JSON object of auth data (a field has the wrong type",
        "line 7: server_endpoint: 'oauth.example.com' must be reached over https://",
        "nothing was imported",
    ] {
        assert!(stderr.contains(wanted), "{wanted}: {stderr}");
    }
    assert!(
        !stderr.contains("t1") && !stderr.contains("t3") && !stderr.contains("987654321"),
        "no token is quoted: {stderr}"
    );
    assert_eq!(
        std::fs::read(env.credentials_path()).unwrap(),
        before,
        "not half imported"
    );
}

#[test]
fn auth_status_lists_failing_profiles_first_with_a_count() {
    let env = TestEnv::new();
    env.save_oauth_profile("zz-broken", "not-a-token", "not-a-refresh-token", None);
    env.save_oauth_profile(
        "aa-fine",
        &env.sandbox.credentials.access_token.expose().clone(),
        "r",
        None,
    );
    let (code, stdout, stderr) = run(env.cmd().args(["auth", "status", "-o", "json"]));
    assert_eq!(code, 4, "{stderr}");
    let rows: Value = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "zz-broken", "{names:?}");
    assert!(stderr.contains("3 profile(s): 2 ok, 1 failing"), "{stderr}");
}

#[test]
fn a_login_to_a_portal_on_this_machine_uses_it_as_the_oauth_server() {
    let env = TestEnv::new();
    let creds = &env.sandbox.credentials;
    let (access, refresh) = env.sandbox.portal.issue_tokens(1);
    let (code, _, stderr) = run(env.cmd().args([
        "auth",
        "login",
        "-p",
        "local",
        "--portal",
        &creds.portal,
        "--access-token",
        &access,
        "--refresh-token",
        &refresh,
        "--client-id",
        &creds.client_id,
        "--client-secret",
        creds.client_secret.expose(),
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("serves as the OAuth server too"),
        "{stderr}"
    );
    let config = env.store().read_config().unwrap();
    assert_eq!(
        config.profiles["local"].oauth_server.as_deref(),
        Some(creds.portal.trim_end_matches('/'))
    );
    // A refresh then goes to the sandbox, never to the public OAuth server.
    env.sandbox.portal.expire_tokens();
    let (code, _, stderr) = run(env.cmd().args(["-p", "local", "list"]));
    assert_eq!(code, 0, "{stderr}");
}
