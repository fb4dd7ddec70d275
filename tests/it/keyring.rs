//! Secrets kept in the OS keyring (`auth login --keyring`, `auth keyring`): the
//! kernel's keyutils keyring stands in for the desktop's, through the same
//! keyring-core interface the macOS, Windows and Secret Service stores serve.

use std::path::Path;

use assert_cmd::Command;
use bx_events::internal::env;
use keyring_core::Entry;
use serde_json::Value;

use crate::common::{json_error, run, TestEnv, PROFILE};

/// Gives this test's thread, and every process it starts from now on, a new
/// empty session keyring: tests cannot see each other's entries, and none
/// depends on the session keyring the machine's login left behind (in a
/// container it is often one this user may not search). `false` when the
/// kernel refuses keyrings to this process altogether (a seccomp profile).
fn fresh_session_keyring() -> bool {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: joining an anonymous session keyring takes one pointer, a null
    // name, and changes only the credentials of this thread.
    let id = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    if id >= 0 {
        return true;
    }
    let error = std::io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::ENOSYS) | Some(libc::EPERM) => {
            eprintln!("SKIPPED: this kernel refuses keyrings to the tests ({error})");
            false
        }
        _ => panic!("cannot join a new session keyring: {error}"),
    }
}

/// The environment's command with the keyutils keyring as the OS keyring.
fn cmd(env: &TestEnv) -> Command {
    let mut cmd = env.cmd();
    cmd.env(env::TEST_KEYRING, "1");
    cmd
}

/// The secrets bx-events keeps in a profile's keyring entry, read as the
/// desktop's own tools would read them.
fn entry_of(dir: &Path, profile: &str) -> Option<Value> {
    match entry(dir, profile).get_secret() {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).expect("bx-events writes JSON")),
        Err(keyring_core::Error::NoEntry) => None,
        Err(other) => panic!("keyring unreadable: {other}"),
    }
}

fn delete_entry(dir: &Path, profile: &str) {
    entry(dir, profile)
        .delete_credential()
        .expect("entry deleted");
}

/// The entry of `profile` in config directory `dir`: service `bx-events`,
/// account `PROFILE in DIR` (docs/credentials.md).
fn entry(dir: &Path, profile: &str) -> Entry {
    let store = linux_keyutils_keyring_store::Store::new().expect("keyutils store");
    let dir = std::fs::canonicalize(dir).expect("config dir exists");
    let account = format!("{profile} in {}", dir.display());
    Entry::new_in_store(&(store as _), "bx-events", &account).expect("entry")
}

fn succeeds(cmd: &mut Command) -> String {
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    stdout + &stderr
}

#[test]
fn secrets_moved_to_the_keyring_leave_a_marker_in_the_file_and_still_work() {
    if !fresh_session_keyring() {
        return;
    }
    let env = TestEnv::new();
    let secrets = env.secrets(PROFILE);
    let access = secrets.access_token.clone().unwrap().expose().clone();
    let refresh = secrets.refresh_token.clone().unwrap().expose().clone();
    let client_secret = secrets.client_secret.clone().unwrap().expose().clone();

    let said = succeeds(cmd(&env).args(["auth", "keyring"]));
    assert!(said.contains("Moved the secrets of 'sb'"), "{said}");

    let file = std::fs::read_to_string(env.credentials_path()).unwrap();
    assert!(file.contains("storage = \"keyring\""), "{file}");
    for secret in [&access, &refresh, &client_secret] {
        assert!(
            !file.contains(secret.as_str()),
            "a secret stayed in the file"
        );
    }
    let entry = entry_of(&env.config_dir(), PROFILE).expect("an entry in the keyring");
    assert_eq!(entry["access_token"], access.as_str());
    assert_eq!(entry["refresh_token"], refresh.as_str());
    assert_eq!(entry["client_secret"], client_secret.as_str());

    // Commands read it from there; status says where it lives, never what.
    let (code, stdout, stderr) = run(cmd(&env).args(["auth", "status", "-o", "json"]));
    assert_eq!(code, 0, "{stderr}");
    for secret in [&access, &refresh, &client_secret] {
        assert!(!stdout.contains(secret.as_str()) && !stderr.contains(secret.as_str()));
    }
    let rows: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        rows[0]["storage"].as_str().unwrap().contains("keyring"),
        "{rows}"
    );
    succeeds(cmd(&env).args(["list"]));
    // A second move has nothing to do.
    let said = succeeds(cmd(&env).args(["auth", "keyring"]));
    assert!(said.contains("Nothing to move"), "{said}");
}

#[test]
fn a_refreshed_pair_is_stored_in_the_keyring_not_the_file() {
    if !fresh_session_keyring() {
        return;
    }
    let env = TestEnv::new();
    let old = env.secrets(PROFILE);
    succeeds(cmd(&env).args(["auth", "keyring"]));
    env.sandbox.portal.expire_tokens();

    succeeds(cmd(&env).args(["list"]));
    assert_eq!(env.sandbox.portal.stats().refreshes, 1);
    let entry = entry_of(&env.config_dir(), PROFILE).expect("entry kept");
    let new_refresh = entry["refresh_token"].as_str().unwrap();
    assert_ne!(new_refresh, old.refresh_token.unwrap().expose());
    let file = std::fs::read_to_string(env.credentials_path()).unwrap();
    assert!(!file.contains(new_refresh), "the new pair went to the file");
    // The stored pair is the valid one: the next run needs no refresh.
    succeeds(cmd(&env).args(["list"]));
    assert_eq!(env.sandbox.portal.stats().refreshes, 1);
}

#[test]
fn moving_back_and_logging_out_delete_the_keyring_entry() {
    if !fresh_session_keyring() {
        return;
    }
    let env = TestEnv::new();
    let access = env.secrets(PROFILE).access_token.unwrap().expose().clone();
    succeeds(cmd(&env).args(["auth", "keyring"]));

    succeeds(cmd(&env).args(["auth", "keyring", "--off"]));
    let file = std::fs::read_to_string(env.credentials_path()).unwrap();
    assert!(
        file.contains(access.as_str()),
        "the secrets are back in the file"
    );
    assert!(!file.contains("keyring"), "{file}");
    assert_eq!(entry_of(&env.config_dir(), PROFILE), None);

    succeeds(cmd(&env).args(["auth", "keyring"]));
    assert!(entry_of(&env.config_dir(), PROFILE).is_some());
    let said = succeeds(cmd(&env).args(["auth", "logout", "--yes"]));
    assert!(said.contains("kernel keyutils keyring"), "{said}");
    assert_eq!(entry_of(&env.config_dir(), PROFILE), None);
    let file = std::fs::read_to_string(env.credentials_path()).unwrap();
    assert!(!file.contains("[profiles.sb]"), "{file}");
}

#[test]
fn an_entry_deleted_from_the_keyring_fails_clearly_and_blocks_nothing_else() {
    if !fresh_session_keyring() {
        return;
    }
    let env = TestEnv::new();
    env.save_webhook_profile("hook");
    succeeds(cmd(&env).args(["auth", "keyring", "-p", PROFILE]));
    delete_entry(&env.config_dir(), PROFILE);

    let (code, _, stderr) = run(cmd(&env).args(["list", "-p", PROFILE, "-o", "json"]));
    assert_eq!(code, 4, "{stderr}");
    let error = json_error(&stderr);
    assert_eq!(error["code"], "KEYRING");
    assert!(
        error["message"].as_str().unwrap().contains("profile 'sb'"),
        "{error}"
    );
    assert!(
        error["hint"].as_str().unwrap().contains("auth login -p sb"),
        "{error}"
    );

    // The overview still shows every profile: this one failing, the other checked.
    let (code, stdout, stderr) = run(cmd(&env).args(["auth", "status", "-o", "json"]));
    assert_eq!(code, 4, "{stderr}");
    let rows: Value = serde_json::from_str(&stdout).unwrap();
    let status_of = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|row| row["name"] == name)
            .map(|row| row["status"].as_str().unwrap().to_string())
    };
    assert_eq!(
        status_of(PROFILE).as_deref(),
        Some("error: KEYRING"),
        "{rows}"
    );
    assert_eq!(status_of("hook").as_deref(), Some("ok"), "{rows}");

    // Moving secrets that cannot be read out of the keyring would store none.
    let before = std::fs::read_to_string(env.credentials_path()).unwrap();
    let (code, _, stderr) = run(cmd(&env).args(["auth", "keyring", "--off", "-p", PROFILE]));
    assert_eq!(code, 4, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(env.credentials_path()).unwrap(),
        before
    );

    // The other profile is untouched and still changes; this one can go.
    succeeds(cmd(&env).args(["auth", "switch", "hook"]));
    succeeds(cmd(&env).args(["call", "scope"]));
    succeeds(cmd(&env).args(["auth", "logout", "-p", PROFILE, "--yes"]));
    let file = std::fs::read_to_string(env.credentials_path()).unwrap();
    assert!(!file.contains("[profiles.sb]") && file.contains("[profiles.hook]"));
}

#[test]
fn login_with_keyring_never_writes_the_secrets_to_the_file() {
    if !fresh_session_keyring() {
        return;
    }
    let env = TestEnv::new();
    let (access, refresh) = env.sandbox.portal.issue_tokens(1);
    let args = env.token_login_args("fresh", &access, &refresh);
    succeeds(cmd(&env).args(&args).arg("--keyring"));

    let file = std::fs::read_to_string(env.credentials_path()).unwrap();
    assert!(!file.contains(access.as_str()) && !file.contains(refresh.as_str()));
    let entry = entry_of(&env.config_dir(), "fresh").expect("entry");
    assert!(entry["access_token"].is_string());
    // A later login without the flag keeps the profile where it is.
    let (access, refresh) = env.sandbox.portal.issue_tokens(1);
    let args = env.token_login_args("fresh", &access, &refresh);
    succeeds(cmd(&env).args(&args));
    let file = std::fs::read_to_string(env.credentials_path()).unwrap();
    assert!(!file.contains(access.as_str()), "{file}");
    assert_eq!(
        entry_of(&env.config_dir(), "fresh").unwrap()["access_token"],
        access.as_str()
    );
}
