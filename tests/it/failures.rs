//! Exit codes and messages for network failures, odd answers, rate limits and signals.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::common::{bare_cmd, canned_server, json_error, run, TestEnv};
use bx_events::bitrix::{ApiError, Client, ClientOptions, Credentials, Secret};
use bx_events::bitrix::{RateLimit, RatePreset};
use bx_events::sandbox::SandboxOptions;

fn env_cmd(portal: &str) -> assert_cmd::Command {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut cmd = bare_cmd();
    cmd.env("BX_EVENTS_CONFIG_DIR", dir)
        .env("BX_EVENTS_PORTAL", portal)
        .env("BX_EVENTS_ACCESS_TOKEN", "token-value-123");
    cmd
}

#[test]
fn html_gateway_pages_are_named_and_temporary() {
    let portal = canned_server("HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 62\r\nConnection: close\r\n\r\n<html><head><title>502 Bad Gateway</title></head><body></body>".as_bytes().to_vec());
    let (code, _, stderr) = run(env_cmd(&portal).args(["list", "-o", "json"]));
    assert_eq!(code, 5, "{stderr}");
    let error = json_error(&stderr);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("HTML page titled \"502 Bad Gateway\""),
        "{error}"
    );
    assert_eq!(error["http_status"], 502);
}

#[test]
fn non_json_answers_are_explained() {
    let portal = canned_server("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot json!".as_bytes().to_vec());
    let (code, _, stderr) = run(env_cmd(&portal).args(["call", "scope"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("not JSON") && !stderr.contains("expected value"),
        "{stderr}"
    );
}

#[test]
fn dropped_connections_are_reported_clearly() {
    let portal = canned_server(Vec::new());
    let (code, _, stderr) = run(env_cmd(&portal).args(["list"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("event.get"), "{stderr}");
    assert!(stderr.contains("connection"), "{stderr}");
}

#[test]
fn unreachable_portal_hints_at_the_url() {
    let refused = crate::common::refused_port();
    let (code, _, stderr) =
        run(env_cmd(&format!("http://127.0.0.1:{}", refused.port)).args(["list"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("connection failed") && stderr.contains("hint:"),
        "{stderr}"
    );
}

#[test]
fn query_limit_after_all_retries_is_exit_5() {
    let env = TestEnv::with_options(SandboxOptions {
        rate_limit: Some(RateLimit {
            burst: 1.0,
            per_second: 0.01,
        }),
        ..SandboxOptions::default()
    });
    env.json(&["list"]);
    let (code, _, stderr) = run(env.cmd().env("BX_EVENTS_RATE_LIMIT", "off").args(["list"]));
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("QUERY_LIMIT_EXCEEDED"), "{stderr}");
    assert!(
        env.sandbox.portal.stats().query_limit_exceeded >= 2,
        "it retried"
    );
}

#[test]
fn client_retries_query_limit_until_the_bucket_drains() {
    let env = TestEnv::with_options(SandboxOptions {
        rate_limit: Some(RateLimit {
            burst: 1.0,
            per_second: 2.0,
        }),
        ..SandboxOptions::default()
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let creds = env.sandbox.credentials.clone();
    let credentials = Credentials::OAuth {
        endpoint: url::Url::parse(&format!("{}/rest/", creds.portal)).unwrap(),
        app: None,
        store: std::sync::Arc::new(bx_events::bitrix::MemoryTokenStore::new(
            bx_events::bitrix::OAuthTokens {
                access_token: creds.access_token.clone(),
                refresh_token: None,
                expires_at: None,
            },
        )),
    };
    let client = Client::new(
        credentials,
        ClientOptions {
            rate_limit: RatePreset::Off,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    runtime.block_on(async {
        for _ in 0..3 {
            client
                .call("event.get", &serde_json::json!({}))
                .await
                .expect("retried until admitted");
        }
    });
    let stats = env.sandbox.portal.stats();
    assert!(
        stats.query_limit_exceeded >= 1,
        "the burst of 1 was exceeded: {stats:?}"
    );
    assert!(client.request_count() > 3);
}

#[test]
fn client_side_limiter_keeps_under_the_portal_limit() {
    let env = TestEnv::with_options(SandboxOptions {
        rate_limit: Some(RateLimit {
            burst: 6.0,
            per_second: 20.0,
        }),
        ..SandboxOptions::default()
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let creds = env.sandbox.credentials.clone();
    let client = Client::new(
        Credentials::Webhook {
            base: Secret::url(url::Url::parse(creds.webhook_url.expose()).unwrap()),
        },
        ClientOptions {
            rate_limit: RatePreset::Limited(RateLimit {
                burst: 6.0,
                per_second: 20.0,
            }),
            ..ClientOptions::default()
        },
    )
    .unwrap();
    runtime.block_on(async {
        for _ in 0..20 {
            client.call("scope", &serde_json::json!({})).await.unwrap();
        }
    });
    assert_eq!(env.sandbox.portal.stats().query_limit_exceeded, 0);
    assert_eq!(client.request_count(), 20);
}

#[test]
fn destructive_methods_are_not_retried_after_a_dropped_connection() {
    let portal = canned_server(Vec::new());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = Client::new(
        Credentials::Webhook {
            base: Secret::url(url::Url::parse(&format!("{portal}/rest/1/secret/")).unwrap()),
        },
        ClientOptions {
            rate_limit: RatePreset::Off,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let error = runtime
        .block_on(client.call(
            "event.offline.clear",
            &serde_json::json!({"process_id": "x"}),
        ))
        .unwrap_err();
    assert!(matches!(error, ApiError::Network { .. }), "{error}");
    assert_eq!(client.request_count(), 1, "sent once, never repeated");
    let error = runtime
        .block_on(client.call("event.get", &serde_json::json!({})))
        .unwrap_err();
    assert!(
        matches!(
            error,
            ApiError::RetriesExhausted { .. } | ApiError::Network { .. }
        ),
        "{error}"
    );
    assert!(client.request_count() > 2, "read-only calls are retried");
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_sandbox_with_exit_130() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("bx-events"))
        .env("BX_EVENTS_CONFIG_DIR", dir.path())
        .args(["sandbox", "--port", "0", "--save-profile", "local"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("listening on http://127.0.0.1:"), "{first}");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(130));
}

#[test]
fn bad_flags_are_usage_errors() {
    let (code, _, stderr) = run(bare_cmd().args(["bind", "--no-such-flag"]));
    assert_eq!(code, 2, "{stderr}");
    let (code, _, _) = run(bare_cmd().args(["list", "-o", "xml"]));
    assert_eq!(code, 2);
}

#[test]
fn https_to_a_plain_http_server_says_so() {
    let env = TestEnv::new();
    let plain = env.sandbox.url.trim_end_matches('/').to_string();
    let tls = plain.replacen("http://", "https://", 1);
    let (code, _, stderr) = run(env.cmd().args([
        "auth",
        "login",
        "-p",
        "tls",
        "--webhook",
        &format!("{tls}/rest/1/abcdefgh/"),
    ]));
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("the server speaks plain HTTP") && stderr.contains("use http://"),
        "{stderr}"
    );
}

#[test]
fn an_expired_token_without_an_application_to_refresh_it_names_the_next_step() {
    let env = TestEnv::new();
    let (access, _) = env.sandbox.portal.issue_tokens(1);
    let (code, _, stderr) = run(env.cmd().args([
        "auth",
        "login",
        "-p",
        "bare",
        "--portal",
        &env.sandbox.url,
        "--access-token",
        &access,
    ]));
    assert_eq!(code, 0, "{stderr}");
    env.sandbox.portal.expire_tokens();
    let (code, _, stderr) = run(env.cmd().args(["-o", "json", "-p", "bare", "list"]));
    assert_eq!(code, 4, "{stderr}");
    let error = json_error(&stderr);
    assert_eq!(error["code"], "CREDENTIALS", "{stderr}");
    let hint = error["hint"].as_str().unwrap_or_default();
    assert!(
        hint.contains("bx-events auth login -p bare") && hint.contains("--client-id"),
        "{stderr}"
    );
}

#[test]
fn auth_status_hints_name_the_failing_profile_not_placeholders() {
    let env = TestEnv::new();
    env.sandbox.portal.revoke_tokens();
    let (code, _, stderr) = run(env.cmd().args(["-o", "json", "auth", "status"]));
    assert_ne!(code, 0, "{stderr}");
    let error = json_error(&stderr);
    let hint = error["hint"].as_str().unwrap_or_default();
    assert!(
        hint.contains(&format!(
            "--portal {}",
            env.sandbox.url.trim_end_matches('/')
        )) && !hint.contains("YOUR.bitrix24.com"),
        "{stderr}"
    );
}
