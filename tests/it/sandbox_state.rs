//! `sandbox --state FILE`: credentials, bindings and the offline queue survive a restart.

use crate::common::TestEnv;
use bx_events::sandbox::{SandboxOptions, SandboxThread};
use serde_json::json;

#[test]
fn a_restarted_sandbox_keeps_tokens_bindings_and_queue() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sandbox.json");
    let options = || SandboxOptions {
        rate_limit: None,
        state_file: Some(state.clone()),
        ..SandboxOptions::default()
    };
    let env = TestEnv::with_options(options());
    env.json(&["bind", "ONCRMDEALADD", "https://hooks.example.com/deal"]);
    env.json(&["bind", "ONTASKADD", "--offline"]);
    env.json(&["call", "event.offline.list"]);
    env.sandbox
        .portal
        .enqueue("ONTASKADD", &json!({"FIELDS": {"ID": "1"}}));
    env.json(&["bind", "ONTASKUPDATE", "https://hooks.example.com/t"]);
    let token = env.sandbox.credentials.access_token.expose().clone();
    let client_id = env.sandbox.credentials.client_id.clone();
    drop(env);

    let restarted = SandboxThread::spawn(options()).unwrap();
    assert_eq!(
        restarted.credentials.client_id, client_id,
        "same application"
    );
    assert_eq!(restarted.portal.binding_count(), 3);
    assert_eq!(restarted.portal.offline_count(), 1);
    let dir = tempfile::tempdir().unwrap();
    let output = crate::common::bare_cmd()
        .env("BX_EVENTS_CONFIG_DIR", dir.path())
        .env("BX_EVENTS_PORTAL", &restarted.url)
        .env("BX_EVENTS_ACCESS_TOKEN", &token)
        .args(["list", "-o", "json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "old tokens still work: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3);
}

#[test]
fn a_damaged_state_file_stops_the_sandbox_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sandbox.json");
    std::fs::write(&state, "{not json").unwrap();
    let error = SandboxThread::spawn(SandboxOptions {
        state_file: Some(state.clone()),
        ..SandboxOptions::default()
    })
    .err()
    .expect("refused");
    assert!(error.to_string().contains("sandbox.json"), "{error}");
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        "{not json",
        "left untouched"
    );
}
