//! Limits, retries, faults, refresh races, TLS and hostile input, against the sandbox.

use std::sync::Arc;

use crate::common::{bare_cmd, canned_server, http_answer, json_error, run, TestEnv, PROFILE};
use bx_events::bitrix::RateLimit;
use bx_events::sandbox::SandboxOptions;
use bx_events::sandbox::{Fault, FaultKind};
use serde_json::json;

#[test]
fn a_hundred_calls_from_parallel_processes_stay_under_the_standard_limit() {
    let env = TestEnv::with_options(SandboxOptions {
        rate_limit: Some(RateLimit {
            burst: 50.0,
            per_second: 2.0,
        }),
        ..SandboxOptions::default()
    });
    let env = Arc::new(env);
    let loops: Vec<_> = (0..4)
        .map(|_| {
            let env = env.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|_| run(env.cmd().args(["list", "-o", "json"])).0)
                    .collect::<Vec<i32>>()
            })
        })
        .collect();
    let codes: Vec<i32> = loops.into_iter().flat_map(|l| l.join().unwrap()).collect();
    assert_eq!(codes.len(), 100);
    assert!(
        codes.iter().all(|c| *c == 0),
        "every call succeeded: {codes:?}"
    );
    let stats = env.sandbox.portal.stats();
    assert_eq!(
        stats.query_limit_exceeded, 0,
        "the shared bucket kept every process under the limit"
    );
    assert_eq!(stats.methods["event.get"], 100);
}

#[test]
fn query_limit_and_5xx_on_read_only_methods_are_retried() {
    let env = TestEnv::new();
    env.sandbox
        .portal
        .inject(Fault::on(FaultKind::QueryLimit, 2, None));
    env.sandbox
        .portal
        .inject(Fault::on(FaultKind::ServerError, 1, Some("event.get")));
    env.sandbox
        .portal
        .inject(Fault::on(FaultKind::Drop, 1, Some("event.get")));
    let (code, stdout, stderr) = run(env.cmd().args(["list", "-v", "-o", "json"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "[]");
    assert!(
        stderr.contains("QUERY_LIMIT_EXCEEDED") && stderr.contains("retry"),
        "-v shows retries: {stderr}"
    );
    assert_eq!(env.sandbox.portal.stats().faults_applied, 4);
}

#[test]
fn unbind_is_not_retried_after_a_server_error() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", "https://h.example.com/x"]);
    env.sandbox
        .portal
        .inject(Fault::on(FaultKind::ServerError, 3, Some("event.unbind")));
    let before = env.sandbox.portal.stats().requests;
    let (code, _, stderr) =
        run(env
            .cmd()
            .args(["unbind", "ONCRMDEALADD", "https://h.example.com/x"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("INTERNAL_SERVER_ERROR"), "{stderr}");
    assert_eq!(env.sandbox.portal.stats().requests - before, 1, "sent once");
}

#[test]
fn bind_is_retried_after_a_dropped_connection_and_stays_idempotent() {
    let env = TestEnv::new();
    env.sandbox
        .portal
        .inject(Fault::on(FaultKind::Drop, 1, Some("event.bind")));
    let bound = env.json(&["bind", "ONCRMDEALADD", "https://h.example.com/x"]);
    assert_eq!(bound["status"], "bound");
    assert_eq!(env.sandbox.portal.binding_count(), 1);
}

#[test]
fn gateway_pages_until_retries_run_out_exit_5() {
    let env = TestEnv::new();
    env.sandbox
        .portal
        .inject(Fault::on(FaultKind::BadGateway, 50, None));
    let (code, _, stderr) = run(env.cmd().args(["list", "-o", "json"]));
    assert_eq!(code, 5, "{stderr}");
    let error = json_error(&stderr);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("502 Bad Gateway"),
        "{error}"
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("gave up after 5 attempts"),
        "{error}"
    );
}

/// docs/portal.md, "429 without time": the portal's OPERATION_TIME_LIMIT body has no
/// `time`, so no `operating_reset_at`; the client backs off on its own.
#[test]
fn operation_time_limit_without_reset_time_is_retried_with_backoff() {
    let env = TestEnv::new();
    env.sandbox.portal.inject(Fault::on(
        FaultKind::OperationTimeLimit,
        1,
        Some("event.get"),
    ));
    let (code, _, stderr) = run(env.cmd().args(["list", "-v"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("OPERATION_TIME_LIMIT") && stderr.contains("retry 1/"),
        "{stderr}"
    );
    env.sandbox.portal.inject(Fault::on(
        FaultKind::OperationTimeLimit,
        10,
        Some("event.get"),
    ));
    let (code, _, stderr) = run(env.cmd().args(["list", "-o", "json"]));
    assert_eq!(
        code, 5,
        "a method blocked for good ends as rate limited: {stderr}"
    );
    let error = crate::common::json_error(&stderr);
    assert_eq!(error["code"], "OPERATION_TIME_LIMIT", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("gave up after"),
        "{error}"
    );
}

#[test]
fn slow_answers_time_out_and_read_only_calls_try_again() {
    let env = TestEnv::new();
    env.sandbox
        .portal
        .inject(Fault::on(FaultKind::Slow, 1, Some("event.get")).delayed(3000));
    let (code, _, stderr) = run(env.cmd().args(["list", "--timeout", "1", "-v"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("timed out"), "{stderr}");
}

#[test]
fn an_expired_token_answer_triggers_one_refresh() {
    let env = TestEnv::new();
    env.sandbox
        .portal
        .inject(Fault::on(FaultKind::ExpiredToken, 1, None));
    env.json(&["list"]);
    assert_eq!(env.sandbox.portal.stats().refreshes, 1);
}

#[test]
fn twenty_processes_refresh_an_expired_profile_exactly_once() {
    let env = Arc::new(TestEnv::new());
    env.sandbox.portal.expire_tokens();
    let children: Vec<_> = (0..20)
        .map(|_| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("bx-events"))
                .env("BX_EVENTS_CONFIG_DIR", env.config_dir())
                .args(["list", "-o", "json"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stats = env.sandbox.portal.stats();
    assert_eq!(stats.refreshes, 1, "the portal saw exactly one refresh");
    assert_eq!(stats.token_errors, 0);
    env.json(&["list"]);
    assert_eq!(
        env.sandbox.portal.stats().refreshes,
        1,
        "the stored pair is valid"
    );
}

#[test]
fn confirmation_lost_to_a_dropped_connection_is_redone_by_the_next_run() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    for n in 0..5 {
        env.sandbox
            .portal
            .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": n.to_string()}}));
    }
    env.sandbox
        .portal
        .inject(Fault::on(FaultKind::Drop, 1, Some("event.offline.clear")));
    let (code, first, stderr) = run(env.cmd().args(["offline", "consume", "--stdout"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("nothing is lost"), "{stderr}");
    assert_eq!(first.lines().count(), 5);
    assert_eq!(
        env.sandbox.portal.offline_count(),
        5,
        "not cleared, still reserved"
    );
    let (code, second, stderr) = run(env.cmd().args(["offline", "consume", "--stdout"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        second.lines().count(),
        0,
        "the journal prevents a second delivery"
    );
    assert_eq!(env.sandbox.portal.offline_count(), 0);
}

/// A TLS front for the sandbox with a certificate no system trusts; returns the
/// https URL and the certificate's PEM.
fn tls_front(backend: &str) -> (String, String) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert_pem = certified.cert.pem();
    let key_der =
        rustls::pki_types::PrivateKeyDer::try_from(certified.key_pair.serialize_der()).unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key_der)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let backend = backend.trim_start_matches("http://").to_string();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let (acceptor, backend) = (acceptor.clone(), backend.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let Ok(mut upstream) = tokio::net::TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                });
            }
        });
    });
    (format!("https://127.0.0.1:{}", address.port()), cert_pem)
}

#[test]
fn private_certificate_authorities_are_explained_and_accepted_with_ca_cert() {
    let env = TestEnv::new();
    let (https, pem) = tls_front(&env.sandbox.url);
    let ca = env.config_dir().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token = env.sandbox.credentials.access_token.expose().clone();
    let cmd = || {
        let mut cmd = bare_cmd();
        cmd.env("BX_EVENTS_CONFIG_DIR", dir.path())
            .env("BX_EVENTS_PORTAL", &https)
            .env("BX_EVENTS_ACCESS_TOKEN", &token);
        cmd
    };
    let (code, _, stderr) = run(cmd().args(["list"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("certificate") && stderr.contains("--ca-cert"),
        "{stderr}"
    );
    let (code, stdout, stderr) =
        run(cmd().args(["list", "-o", "json", "--ca-cert", ca.to_str().unwrap()]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "[]");
    let (code, _, stderr) = run(cmd()
        .env("BX_EVENTS_CA_CERT", env.config_dir().join("config.toml"))
        .args(["list"]));
    assert_eq!(code, 2, "a file that is not PEM is a usage error: {stderr}");
}

fn against(portal: &str, args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    run(bare_cmd()
        .env("BX_EVENTS_CONFIG_DIR", dir.path())
        .env("BX_EVENTS_PORTAL", portal)
        .env("BX_EVENTS_ACCESS_TOKEN", "t")
        .args(args))
}

#[test]
fn hostile_answers_get_clear_errors_not_panics() {
    let ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n";
    let huge = canned_server(http_answer(ok, &vec![b' '; 65 * 1024 * 1024]));
    let (code, _, stderr) = against(&huge, &["list"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("larger than 64 MiB"), "{stderr}");

    let deep = format!("{{\"result\":{}{}}}", "[".repeat(5000), "]".repeat(5000));
    let nested = canned_server(http_answer(ok, deep.as_bytes()));
    let (code, _, stderr) = against(&nested, &["call", "scope"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let wrong_types = canned_server(http_answer(
        ok,
        br#"{"result":[{"event":5,"offline":"x"}]}"#,
    ));
    let (code, _, stderr) = against(&wrong_types, &["list"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("without an event name"), "{stderr}");

    let not_utf8 = canned_server(http_answer(ok, &[0xff, 0xfe, 0x7b]));
    let (code, _, stderr) = against(&not_utf8, &["list"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("UTF-8"), "{stderr}");
}

#[test]
fn odd_urls_are_refused() {
    let env = TestEnv::new();
    for portal in [
        "https://user:pass@example.bitrix24.com",
        "ftp://example.bitrix24.com",
        "javascript:alert(1)",
    ] {
        let (code, _, stderr) = run(env.cmd().args([
            "auth",
            "login",
            "-p",
            "x",
            "--portal",
            portal,
            "--access-token",
            "t",
        ]));
        assert_eq!(code, 2, "{portal}: {stderr}");
    }
    let (code, _, stderr) = run(env.cmd().args([
        "auth",
        "login",
        "-p",
        "x",
        "--webhook",
        "https://example.bitrix24.com/rest/abc/def/",
    ]));
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = run(env.cmd().args([
        "bind",
        "ONCRMDEALADD",
        "https://user:pw@hooks.example.com/x",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("user name or password"),
        "a warning: {stderr}"
    );
}

#[test]
fn damaged_config_is_reported_with_its_path_and_left_alone() {
    let env = TestEnv::new();
    let path = env.config_dir().join("config.toml");
    std::fs::write(&path, "current = \"sb\"\n[profiles.sb\n").unwrap();
    let (code, _, stderr) = run(env.cmd().args(["list"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("config.toml") && stderr.contains("line"),
        "{stderr}"
    );
    let (code, _, _) = run(env.cmd().args(["auth", "logout", "--all"]));
    assert_eq!(code, 2);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "current = \"sb\"\n[profiles.sb\n"
    );
    std::fs::write(env.credentials_path(), [0xff, 0x00, 0x12]).unwrap();
    std::fs::remove_file(&path).unwrap();
    let (code, _, stderr) = run(env.cmd().args(["auth", "status"]));
    assert_eq!(code, 4, "{stderr}");
}

#[test]
fn a_damaged_credentials_file_is_reported_without_quoting_its_values() {
    let env = TestEnv::new();
    // A token written as a number: the parser would quote it in its message.
    std::fs::write(
        env.credentials_path(),
        "[profiles.sb]\naccess_token = 918273645\n",
    )
    .unwrap();
    let (code, _, stderr) = run(env.cmd().args(["list"]));
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("credentials.toml") && stderr.contains("line 2"),
        "{stderr}"
    );
    assert!(!stderr.contains("918273645"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn a_credentials_file_others_can_read_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    std::fs::set_permissions(
        env.credentials_path(),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let (code, _, stderr) = run(env.cmd().args(["list", "-p", PROFILE]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("chmod 600"), "{stderr}");
}

#[test]
fn sandbox_fault_command_injects_and_clears() {
    let env = TestEnv::new();
    let (code, _, stderr) = run(env.cmd().args([
        "sandbox",
        "fault",
        "server_error",
        "--count",
        "9",
        "--method",
        "event.unbind",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let (code, _, _) = run(env
        .cmd()
        .args(["unbind", "ONCRMDEALADD", "https://h.example.com/x"]));
    assert_eq!(code, 1);
    let (code, _, _) = run(env.cmd().args(["sandbox", "fault", "--clear"]));
    assert_eq!(code, 0);
    let (code, _, stderr) =
        run(env
            .cmd()
            .args(["unbind", "ONCRMDEALADD", "https://h.example.com/x"]));
    assert_eq!(code, 0, "{stderr}");
}

/// A store whose pair is replaced behind the client's back after `switch_after`
/// loads, as a writer that does not share the lock would do.
struct ChangingStore {
    loads: std::sync::atomic::AtomicUsize,
    switch_after: usize,
    before: bx_events::bitrix::OAuthTokens,
    after: bx_events::bitrix::OAuthTokens,
    saved: std::sync::Mutex<Vec<bx_events::bitrix::OAuthTokens>>,
}

impl bx_events::bitrix::TokenStore for ChangingStore {
    fn load(&self) -> Result<bx_events::bitrix::OAuthTokens, bx_events::bitrix::ApiError> {
        let n = self.loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(if n < self.switch_after {
            self.before.clone()
        } else {
            self.after.clone()
        })
    }
    fn lock(&self) -> Result<bx_events::bitrix::StoreGuard, bx_events::bitrix::ApiError> {
        Ok(Box::new(()))
    }
    fn save(
        &self,
        tokens: &bx_events::bitrix::OAuthTokens,
    ) -> Result<(), bx_events::bitrix::ApiError> {
        self.saved.lock().unwrap().push(tokens.clone());
        Ok(())
    }
}

#[test]
fn invalid_grant_rereads_the_store_before_giving_up() {
    use bx_events::bitrix::{Client, ClientOptions, Credentials, OAuthApp, OAuthTokens};
    let env = TestEnv::new();
    let creds = env.sandbox.credentials.clone();
    // The old pair: expired, and its refresh token already spent by someone else.
    let (old_access, old_refresh) = env.sandbox.portal.issue_tokens(1);
    env.spend_refresh_token(&old_refresh);
    // The pair that other writer stored meanwhile.
    let (new_access, new_refresh) = env.sandbox.portal.issue_tokens(1);
    let store = Arc::new(ChangingStore {
        loads: Default::default(),
        switch_after: 2,
        before: OAuthTokens {
            access_token: old_access.into(),
            refresh_token: Some(old_refresh.into()),
            expires_at: Some(1),
        },
        after: OAuthTokens {
            access_token: new_access.clone().into(),
            refresh_token: Some(new_refresh.into()),
            expires_at: None,
        },
        saved: Default::default(),
    });
    let app = OAuthApp {
        client_id: creds.client_id.clone(),
        client_secret: creds.client_secret.clone(),
        oauth_server: url::Url::parse(&creds.portal).unwrap(),
    };
    let client = Client::new(
        Credentials::OAuth {
            endpoint: url::Url::parse(&format!("{}/rest/", creds.portal)).unwrap(),
            app: Some(app),
            store: store.clone(),
        },
        ClientOptions::default(),
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let token = runtime.block_on(client.access_token()).unwrap();
    assert_eq!(
        token.as_ref().map(|t| t.expose().as_str()),
        Some(new_access.as_str()),
        "the other writer's token is used"
    );
    assert_eq!(
        env.sandbox.portal.stats().token_errors,
        1,
        "one refused refresh, then no second try"
    );
    assert!(
        store.saved.lock().unwrap().is_empty(),
        "nothing of ours was stored over theirs"
    );
}

#[test]
fn clients_that_cannot_see_each_other_slow_down_on_the_portals_signal() {
    // Two config directories stand for two machines: each bucket believes it has
    // the portal's whole budget (burst 6, 10/s), so together they ask for twice
    // the rate. The portal's QUERY_LIMIT_EXCEEDED makes each halve its rate: every
    // command succeeds, and the refusals stop instead of recurring all along.
    let env = TestEnv::with_options(SandboxOptions {
        rate_limit: Some(RateLimit {
            burst: 6.0,
            per_second: 10.0,
        }),
        ..SandboxOptions::default()
    });
    let creds = env.sandbox.credentials.clone();
    let machines: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let calls_per_worker = 15;
    let outcomes: Vec<(i32, String)> = std::thread::scope(|scope| {
        let workers: Vec<_> = machines
            .iter()
            .flat_map(|dir| [dir, dir])
            .map(|dir| {
                let creds = &creds;
                scope.spawn(move || {
                    (0..calls_per_worker)
                        .map(|_| {
                            let (code, _, stderr) = run(bare_cmd()
                                .env("BX_EVENTS_CONFIG_DIR", dir.path())
                                .env("BX_EVENTS_PORTAL", &creds.portal)
                                .env("BX_EVENTS_ACCESS_TOKEN", creds.access_token.expose())
                                .env("BX_EVENTS_RATE_LIMIT", "6/10")
                                .args(["call", "app.info"]));
                            (code, stderr)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    });
    let total = outcomes.len() as u64;
    let failed: Vec<&(i32, String)> = outcomes.iter().filter(|(code, _)| *code != 0).collect();
    assert!(
        failed.is_empty(),
        "{} of {total} gave up: {failed:?}",
        failed.len()
    );
    let refused = env.sandbox.portal.stats().query_limit_exceeded;
    // Slowing down, they meet about 3 refusals in all; without, 8 to 16.
    assert!(
        refused * 10 < total,
        "{refused} refusals for {total} commands: the clients did not slow down"
    );
}
