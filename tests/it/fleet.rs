//! Fleets of portals: `sandbox --portals N`, install capture, and the commands
//! that run across every stored portal.

use std::process::Stdio;
use std::time::Duration;

use crate::common::{bare_cmd, http_request, run, ListenChild};
use bx_events::internal::{env, Store};
use bx_events::sandbox::{SandboxOptions, SandboxThread};
use serde_json::{json, Value};

/// A sandbox serving `n` portals, without request limits.
fn fleet(n: usize) -> SandboxThread {
    SandboxThread::spawn(SandboxOptions {
        portals: n,
        rate_limit: None,
        ..SandboxOptions::default()
    })
    .expect("sandbox starts")
}

/// A config directory of its own (a vendor's machine), and commands for it.
struct Vendor {
    dir: tempfile::TempDir,
    /// `--store`: profiles in a shared PostgreSQL store instead of the files.
    store: Option<String>,
}

impl Vendor {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            store: None,
        }
    }

    fn with_store(url: &str) -> Self {
        Self {
            store: Some(url.to_string()),
            ..Self::new()
        }
    }

    fn config_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("config")
    }

    fn store(&self) -> Store {
        Store::new(self.config_dir())
    }

    fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = bare_cmd();
        cmd.env(env::CONFIG_DIR, self.config_dir());
        if let Some(store) = &self.store {
            cmd.env(env::STORE, store);
        }
        cmd
    }

    /// Writes the application's secret where `--secrets-from` reads it.
    fn app_env(&self, sandbox: &SandboxThread) -> std::path::PathBuf {
        let path = self.dir.path().join("app.env");
        std::fs::write(
            &path,
            format!(
                "client_secret={}\n",
                sandbox.credentials.client_secret.expose()
            ),
        )
        .unwrap();
        path
    }

    /// `listen --capture-installs` for the sandbox's application.
    fn capture(&self, sandbox: &SandboxThread) -> ListenChild {
        let creds = &sandbox.credentials;
        self.capture_at(sandbox, &creds.client_id, &creds.oauth_server)
    }

    /// `listen --capture-installs` with the sandbox application's secret, for
    /// `client_id` verified at `oauth_server`.
    fn capture_at(
        &self,
        sandbox: &SandboxThread,
        client_id: &str,
        oauth_server: &str,
    ) -> ListenChild {
        let app_env = self.app_env(sandbox);
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("bx-events"));
        command
            .env(env::CONFIG_DIR, self.config_dir())
            .env_remove(env::APPLICATION_TOKEN)
            .env_remove(env::CLIENT_SECRET)
            .args([
                "listen",
                "--port",
                "0",
                "-o",
                "ndjson",
                "--capture-installs",
            ])
            .args(["--client-id", client_id])
            .arg("--secrets-from")
            .arg(&app_env)
            .args(["--oauth-server", oauth_server]);
        if let Some(store) = &self.store {
            command.env(env::STORE, store);
        }
        ListenChild::spawn(command)
    }

    /// The stored profiles' names by member id.
    fn profiles_by_member(&self) -> std::collections::BTreeMap<String, String> {
        self.store()
            .read_config()
            .unwrap()
            .profiles
            .into_iter()
            .filter_map(|(name, s)| s.member_id.map(|m| (m, name)))
            .collect()
    }
}

/// `sandbox install` of `event` on every portal (or one), sent to `to`.
fn install(vendor: &Vendor, sandbox: &SandboxThread, to: &str, extra: &[&str]) -> Value {
    let (code, stdout, stderr) = run(vendor
        .cmd()
        .args([
            "sandbox",
            "install",
            "--url",
            &sandbox.url,
            "--to",
            to,
            "-o",
            "json",
        ])
        .args(extra));
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// A fleet whose installs were captured by a vendor's `listen --capture-installs`,
/// then the given portals (1-based) uninstalled the application.
fn captured(portals: usize, uninstalled: &[usize]) -> (SandboxThread, Vendor) {
    let sandbox = fleet(portals);
    let vendor = Vendor::new();
    let capture = vendor.capture(&sandbox);
    install(&vendor, &sandbox, &capture.url, &[]);
    for k in uninstalled {
        let k = k.to_string();
        install(
            &vendor,
            &sandbox,
            &capture.url,
            &["--event", "uninstall", "--portal", &k],
        );
    }
    drop(capture);
    (sandbox, vendor)
}

/// A form body as a portal sends it.
fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

fn post_form(url: &str, body: &str) -> (u16, String) {
    let (status, _, text) = http_request(
        "POST",
        url,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    (status, text)
}

#[test]
fn fleet_portals_are_independent_and_share_one_application_and_oauth_server() {
    let sandbox = fleet(3);
    assert_eq!(sandbox.fleet.len(), 3);
    let members: std::collections::BTreeSet<_> = sandbox
        .fleet
        .iter()
        .map(|m| m.credentials.member_id.clone())
        .collect();
    assert_eq!(members.len(), 3, "every portal has its own member id");
    let urls: std::collections::BTreeSet<_> = sandbox
        .fleet
        .iter()
        .map(|m| m.credentials.portal.clone())
        .collect();
    assert_eq!(urls.len(), 3, "every portal has its own origin");
    for member in &sandbox.fleet {
        assert_eq!(member.credentials.client_id, sandbox.credentials.client_id);
        assert_eq!(member.credentials.oauth_server, sandbox.url);
    }
    let vendor = Vendor::new();
    // Three profiles, one per portal, through the fleet's own --save-profile path
    // would need a server process; the library saves them the same way.
    for (index, member) in sandbox.fleet.iter().enumerate() {
        let (settings, secrets) = bx_events::internal::sandbox_profile(&member.credentials);
        bx_events::internal::save_profile(
            &vendor.store(),
            &format!("p{}", index + 1),
            settings,
            secrets,
        )
        .unwrap();
    }
    let (code, _, stderr) =
        run(vendor
            .cmd()
            .args(["-p", "p2", "bind", "ONCRMDEALADD", "--offline"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(sandbox.fleet[0].portal.binding_count(), 0);
    assert_eq!(sandbox.fleet[1].portal.binding_count(), 1);
    assert_eq!(sandbox.fleet[2].portal.binding_count(), 0);
    // Portal 3's expired token is refreshed at the one OAuth server (portal 1's
    // address), which finds the portal that issued the refresh token.
    sandbox.fleet[2].portal.expire_tokens();
    let (code, _, stderr) = run(vendor.cmd().args(["-p", "p3", "list"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(sandbox.fleet[2].portal.stats().refreshes, 1);
    assert_eq!(sandbox.fleet[0].portal.stats().refreshes, 0);
    // The answer names the portal in client_endpoint and member_id; its domain is
    // the OAuth server's host.
    let third = &sandbox.fleet[2].credentials;
    let (_, refresh) = sandbox.fleet[2].portal.issue_tokens(1);
    let query = form(&[
        ("grant_type", "refresh_token"),
        ("client_id", &third.client_id),
        ("client_secret", third.client_secret.expose()),
        ("refresh_token", &refresh),
    ]);
    let (status, _, body) = http_request(
        "GET",
        &format!("{}/oauth/token/?{query}", sandbox.url),
        &[],
        b"",
    );
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        answer["client_endpoint"],
        json!(format!("{}/rest/", third.portal))
    );
    assert_eq!(answer["member_id"], json!(third.member_id));
    assert_eq!(
        answer["domain"],
        json!(sandbox.url.trim_start_matches("http://"))
    );
    // sandbox fire --portal K changes only that portal.
    let (code, _, stderr) = run(vendor.cmd().args([
        "sandbox",
        "fire",
        "ONCRMDEALADD",
        "--url",
        &sandbox.url,
        "--portal",
        "2",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(sandbox.fleet[1].portal.offline_count(), 1);
    let (code, _, stderr) = run(vendor.cmd().args([
        "sandbox",
        "fire",
        "ONCRMDEALADD",
        "--url",
        &sandbox.url,
        "--portal",
        "4",
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("serves 3 portal(s)"), "{stderr}");
}

#[test]
fn installs_become_profiles_keyed_by_member_id_and_work() {
    let sandbox = fleet(5);
    let vendor = Vendor::new();
    let capture = vendor.capture(&sandbox);
    let report = install(&vendor, &sandbox, &capture.url, &[]);
    assert_eq!(report.as_array().unwrap().len(), 5, "{report}");
    let mut outcomes: Vec<String> = (0..5)
        .map(|_| {
            capture.next_json()["capture"]["outcome"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    outcomes.dedup();
    assert_eq!(outcomes, ["installed"]);
    let stored = vendor.profiles_by_member();
    assert_eq!(stored.len(), 5);
    for member in &sandbox.fleet {
        let name = &stored[&member.credentials.member_id];
        assert_eq!(
            name,
            member.credentials.portal.trim_start_matches("http://")
        );
        let settings = &vendor.store().read_config().unwrap().profiles[name];
        assert_eq!(settings.portal, member.credentials.portal);
        let secrets = &vendor.store().read_credentials().unwrap().profiles[name];
        assert_eq!(
            secrets.application_token.as_ref().unwrap().expose(),
            member.credentials.application_token.expose()
        );
        // The stored pair is the one the verification exchange gave: it works.
        let (code, _, stderr) =
            run(vendor
                .cmd()
                .args(["-p", name, "bind", "ONCRMDEALADD", "--offline"]));
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(member.portal.binding_count(), 1);
    }
    // An update of one portal replaces that profile's tokens; no new profile.
    install(
        &vendor,
        &sandbox,
        &capture.url,
        &["--event", "update", "--portal", "3"],
    );
    let record = capture.next_json();
    assert_eq!(record["capture"]["outcome"], "updated", "{record}");
    assert_eq!(
        sandbox.fleet[2].portal.binding_count(),
        0,
        "an update removes the application's handlers"
    );
    assert_eq!(vendor.profiles_by_member().len(), 5);
}

#[test]
fn a_forged_install_is_refused_and_stores_nothing() {
    let sandbox = fleet(2);
    let vendor = Vendor::new();
    let capture = vendor.capture(&sandbox);
    let victim = &sandbox.fleet[1].credentials;
    // A made-up refresh token: the OAuth server knows nothing of it.
    let forged = form(&[
        ("event", "ONAPPINSTALL"),
        ("auth[access_token]", "a"),
        ("auth[refresh_token]", "made-up"),
        ("auth[member_id]", &victim.member_id),
        ("auth[application_token]", "attacker"),
        ("auth[client_endpoint]", "https://evil.example.com/rest/"),
    ]);
    let (status, _) = post_form(&capture.url, &forged);
    assert_eq!(status, 403);
    // A real refresh token of portal 1 presented as portal 2's install.
    let (_, refresh) = sandbox.fleet[0].portal.issue_tokens(1);
    let mismatched = form(&[
        ("event", "ONAPPINSTALL"),
        ("auth[refresh_token]", &refresh),
        ("auth[member_id]", &victim.member_id),
        ("auth[application_token]", "attacker"),
    ]);
    let (status, text) = post_form(&capture.url, &mismatched);
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("another portal"), "{text}");
    // Missing fields are named.
    let (status, text) = post_form(&capture.url, &form(&[("event", "ONAPPINSTALL")]));
    assert_eq!(status, 400);
    assert!(text.contains("auth[member_id]"), "{text}");
    for _ in 0..3 {
        assert!(capture.next_json()["refused"].is_string());
    }
    assert!(vendor.store().read_config().unwrap().profiles.is_empty());
}

#[test]
fn captures_go_on_through_a_restarted_store_and_keep_every_token() {
    // After `pg_ctl restart`, a capture used to answer 500 "connection closed"
    // after spending the install's refresh token.
    let mut server = crate::postgres::RestartableServer::start();
    let vendor = Vendor::with_store(&server.database());
    let sandbox = fleet(3);
    let capture = vendor.capture(&sandbox);
    install(&vendor, &sandbox, &capture.url, &["--portal", "1"]);
    assert_eq!(capture.next_json()["capture"]["outcome"], "installed");
    server.restart();
    for portal in ["2", "3"] {
        install(&vendor, &sandbox, &capture.url, &["--portal", portal]);
        assert_eq!(capture.next_json()["capture"]["outcome"], "installed");
    }
    // Each stored pair is the one the exchange gave: every portal answers.
    for index in 1..=3 {
        let member = &sandbox.fleet[index - 1].credentials.member_id;
        let (code, stdout, stderr) = run(vendor.cmd().args(["auth", "status", "-o", "json"]));
        assert_eq!(code, 0, "{stderr}");
        let statuses: Value = serde_json::from_str(&stdout).unwrap();
        let name = statuses
            .as_array()
            .unwrap()
            .iter()
            .find(|row| {
                row["portal"]
                    .as_str()
                    .is_some_and(|p| p == sandbox.fleet[index - 1].credentials.portal)
            })
            .map(|row| row["name"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("portal {index} ({member}) captured: {stdout}"));
        let (code, _, stderr) = run(vendor.cmd().args(["-p", &name, "list"]));
        assert_eq!(code, 0, "portal {index}: {stderr}");
    }
}

#[test]
fn a_forged_uninstall_with_a_seen_application_token_drops_nothing() {
    // The application token travels with every event the portal sends, so a
    // sender who saw one event can present it; the portal still accepts the
    // application's tokens, so the uninstall is not confirmed.
    let sandbox = fleet(1);
    let vendor = Vendor::new();
    let capture = vendor.capture(&sandbox);
    install(&vendor, &sandbox, &capture.url, &[]);
    capture.next_json();
    let member = &sandbox.fleet[0].credentials;
    let name = vendor.profiles_by_member()[&member.member_id].clone();
    let forged = form(&[
        ("event", "ONAPPUNINSTALL"),
        ("auth[member_id]", &member.member_id),
        ("auth[application_token]", member.application_token.expose()),
    ]);
    let (status, text) = post_form(&capture.url, &forged);
    assert_eq!(status, 409, "{text}");
    assert!(capture.next_json()["refused"]
        .as_str()
        .unwrap()
        .contains("still accepts"));
    assert!(vendor.store().read_config().unwrap().profiles[&name]
        .uninstalled_at
        .is_none());
    assert!(vendor.store().read_credentials().unwrap().profiles[&name]
        .refresh_token
        .is_some());
    let (code, _, stderr) = run(vendor.cmd().args(["-p", &name, "list"]));
    assert_eq!(code, 0, "the profile still works: {stderr}");
}

#[test]
fn an_oauth_answer_that_names_no_portal_stores_nothing() {
    // An OAuth server (or something posing as one) that vouches for the token
    // but does not say which portal it belongs to: the request's own
    // auth[client_endpoint] must not name the stored portal.
    let answer = serde_json::json!({
        "access_token": "a".repeat(32),
        "refresh_token": "r".repeat(32),
        "expires_in": 3600,
        "member_id": "0123456789abcdef0123456789abcdef",
    })
    .to_string();
    let oauth = crate::common::canned_server(crate::common::http_answer(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json",
        answer.as_bytes(),
    ));
    let sandbox = fleet(1);
    let vendor = Vendor::new();
    let capture = vendor.capture_at(&sandbox, "app.1", &oauth);
    let install = form(&[
        ("event", "ONAPPINSTALL"),
        ("auth[member_id]", "0123456789abcdef0123456789abcdef"),
        ("auth[application_token]", "apptoken1234"),
        ("auth[refresh_token]", "refresh1234"),
        ("auth[client_endpoint]", "https://evil.example.com/rest/"),
    ]);
    let (status, text) = post_form(&capture.url, &install);
    assert_eq!(status, 502, "{text}");
    assert!(capture.next_json()["refused"]
        .as_str()
        .unwrap()
        .contains("client_endpoint"));
    assert!(vendor.store().read_config().unwrap().profiles.is_empty());
}

#[test]
fn uninstall_needs_the_stored_application_token_and_marks_the_profile() {
    let sandbox = fleet(2);
    let vendor = Vendor::new();
    let capture = vendor.capture(&sandbox);
    install(&vendor, &sandbox, &capture.url, &[]);
    capture.next_json();
    capture.next_json();
    let member = &sandbox.fleet[0].credentials;
    let name = vendor.profiles_by_member()[&member.member_id].clone();
    let wrong = form(&[
        ("event", "ONAPPUNINSTALL"),
        ("auth[member_id]", &member.member_id),
        ("auth[application_token]", "not-the-token"),
    ]);
    let (status, _) = post_form(&capture.url, &wrong);
    assert_eq!(status, 401);
    capture.next_json();
    let unknown = form(&[
        ("event", "ONAPPUNINSTALL"),
        ("auth[member_id]", "0123456789abcdef"),
        ("auth[application_token]", member.application_token.expose()),
    ]);
    assert_eq!(post_form(&capture.url, &unknown).0, 404);
    capture.next_json();
    assert!(vendor.store().read_config().unwrap().profiles[&name]
        .uninstalled_at
        .is_none());
    // The portal's own uninstall, with the real token.
    install(
        &vendor,
        &sandbox,
        &capture.url,
        &["--event", "uninstall", "--portal", "1"],
    );
    assert_eq!(capture.next_json()["capture"]["outcome"], "uninstalled");
    let config = vendor.store().read_config().unwrap();
    assert!(config.profiles[&name].uninstalled_at.is_some());
    assert!(vendor.store().read_credentials().unwrap().profiles[&name]
        .refresh_token
        .is_none());
    let statuses = {
        let (code, stdout, stderr) = run(vendor.cmd().args(["auth", "status", "-o", "json"]));
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stderr.contains("1 ok, 0 failing, 1 uninstalled"),
            "{stderr}"
        );
        serde_json::from_str::<Value>(&stdout).unwrap()
    };
    let row = statuses
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == json!(name))
        .unwrap()
        .clone();
    assert!(
        row["status"].as_str().unwrap().starts_with("uninstalled"),
        "{row}"
    );
    let (code, _, stderr) = run(vendor.cmd().args(["-p", &name, "list"]));
    assert_eq!(code, 1, "a failed portal, as docs/fleet.md says: {stderr}");
    assert!(stderr.contains("uninstalled"), "{stderr}");
    let empty = vendor.dir.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let (code, _, stderr) = run(vendor.cmd().args([
        "-o",
        "json",
        "apply",
        "--profiles",
        &name,
        "-f",
        empty.to_str().unwrap(),
    ]));
    assert_eq!(code, 1, "{stderr}");
    let error = crate::common::json_error(&stderr);
    assert_eq!(error["code"], "APP_UNINSTALLED", "{stderr}");
    assert_eq!(
        error["message"]
            .as_str()
            .unwrap()
            .matches("profile '")
            .count(),
        1,
        "the profile is named once: {stderr}"
    );
}

/// A subscriptions file of `n` offline subscriptions.
fn manifest_of(vendor: &Vendor, n: usize) -> String {
    let events = bx_events_catalog(n);
    let mut text = String::new();
    for event in events {
        text.push_str(&format!(
            "[[subscription]]\nevent = \"{event}\"\ntype = \"offline\"\n\n"
        ));
    }
    let path = vendor.dir.path().join("subscriptions.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// `n` distinct event names the sandbox knows.
fn bx_events_catalog(n: usize) -> Vec<String> {
    let names = [
        "ONCRMDEALADD",
        "ONCRMDEALUPDATE",
        "ONCRMDEALDELETE",
        "ONCRMLEADADD",
        "ONCRMLEADUPDATE",
        "ONCRMLEADDELETE",
        "ONCRMCONTACTADD",
        "ONCRMCONTACTUPDATE",
        "ONCRMCONTACTDELETE",
        "ONCRMCOMPANYADD",
        "ONCRMCOMPANYUPDATE",
        "ONCRMCOMPANYDELETE",
        "ONTASKADD",
        "ONTASKUPDATE",
        "ONTASKDELETE",
        "ONUSERADD",
        "ONCRMACTIVITYADD",
        "ONCRMACTIVITYUPDATE",
        "ONCRMACTIVITYDELETE",
        "ONCRMINVOICEADD",
    ];
    names.iter().take(n).map(|s| s.to_string()).collect()
}

#[test]
fn apply_all_profiles_converges_a_captured_fleet_in_two_requests_per_portal() {
    const PORTALS: usize = 200;
    let (sandbox, vendor) = captured(PORTALS, &[]);
    assert_eq!(vendor.profiles_by_member().len(), PORTALS);
    let file = manifest_of(&vendor, 20);
    let before: Vec<u64> = sandbox
        .fleet
        .iter()
        .map(|m| m.portal.stats().requests)
        .collect();
    let apply = || -> Value {
        let (code, stdout, stderr) = run(vendor.cmd().args([
            "apply",
            "--all-profiles",
            "-f",
            &file,
            "--concurrency",
            "16",
            "-o",
            "json",
        ]));
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str(&stdout).unwrap()
    };
    let report = apply();
    assert_eq!(report["summary"]["bind"], 20 * PORTALS);
    assert_eq!(report["summary"]["portals"], PORTALS);
    assert_eq!(report["portals"].as_array().unwrap().len(), PORTALS);
    for (member, before) in sandbox.fleet.iter().zip(before) {
        assert_eq!(member.portal.binding_count(), 20);
        let requests = member.portal.stats().requests - before;
        assert!(
            requests <= 2,
            "{requests} requests to {}",
            member.credentials.portal
        );
    }
    let again = apply();
    assert_eq!(again["summary"]["bind"], 0);
    assert_eq!(again["summary"]["keep"], 20 * PORTALS);
}

#[test]
fn one_portals_failure_never_stops_the_others_and_comes_with_its_fix() {
    // Portal 2 is uninstalled and captured as such; portal 3 loses its tokens
    // without the vendor hearing of it (the app removed while listen was down).
    let (sandbox, vendor) = captured(4, &[2]);
    sandbox.fleet[2].portal.revoke_tokens();
    let by_member = vendor.profiles_by_member();
    let name = |k: usize| by_member[&sandbox.fleet[k].credentials.member_id].clone();
    let file = manifest_of(&vendor, 3);
    let (code, stdout, stderr) =
        run(vendor
            .cmd()
            .args(["apply", "--all-profiles", "-f", &file, "-o", "json"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("Passing by 1 profile(s)"), "{stderr}");
    assert!(stderr.contains("1 of 3 portal(s) failed"), "{stderr}");
    assert!(stderr.contains(&name(2)), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["summary"]["portals"], 3);
    assert_eq!(report["summary"]["portals_failed"], 1);
    let failed = &report["errors"][0];
    assert_eq!(failed["profile"], json!(name(2)));
    assert!(failed["hint"].is_string(), "a fix comes with it: {failed}");
    for k in [0, 3] {
        assert_eq!(sandbox.fleet[k].portal.binding_count(), 3);
    }
    // --profiles-from picks a subset, comments and blank lines aside.
    let list = vendor.dir.path().join("portals.txt");
    std::fs::write(&list, format!("# one portal\n{}\n\n", name(0))).unwrap();
    let (code, stdout, stderr) = run(vendor
        .cmd()
        .args(["diff", "--prune", "-f", &file, "--profiles-from"])
        .arg(&list));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("= keep"),
        "one portal: every line shown: {stdout}"
    );
    // Naming the uninstalled portal explicitly is that portal's failure, with why.
    std::fs::write(&list, format!("{}\n{}\n", name(0), name(1))).unwrap();
    let (code, stdout, stderr) = run(vendor
        .cmd()
        .args(["diff", "-f", &file, "--profiles-from"])
        .arg(&list));
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains(&format!("{} (", name(0))), "{stdout}");
    assert!(stdout.contains("uninstalled"), "{stdout}");
}

/// A vendor with one saved profile per portal (`p1` ... `pN`), each portal with
/// an offline binding and `records` queued records.
fn queued_fleet(portals: usize, records: usize) -> (SandboxThread, Vendor) {
    let sandbox = fleet(portals);
    let vendor = Vendor::new();
    vendor
        .store()
        .update(|config, credentials| {
            for (index, member) in sandbox.fleet.iter().enumerate() {
                let (settings, secrets) = bx_events::internal::sandbox_profile(&member.credentials);
                config.profiles.insert(format!("p{}", index + 1), settings);
                credentials
                    .profiles
                    .insert(format!("p{}", index + 1), secrets);
            }
            Ok(())
        })
        .unwrap();
    for (index, member) in sandbox.fleet.iter().enumerate() {
        let profile = format!("p{}", index + 1);
        let (code, _, stderr) =
            run(vendor
                .cmd()
                .args(["-p", &profile, "bind", "ONCRMDEALADD", "--offline"]));
        assert_eq!(code, 0, "{stderr}");
        for n in 0..records {
            member
                .portal
                .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": n.to_string()}}));
        }
    }
    (sandbox, vendor)
}

/// (profile, record id) of every JSON line in a consume output file.
fn delivered(path: &std::path::Path) -> Vec<(String, u64)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).unwrap();
            (
                record["profile"].as_str().unwrap().to_string(),
                record["id"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn consume_all_profiles_takes_turns_so_a_deep_queue_does_not_starve_the_rest() {
    let (sandbox, vendor) = queued_fleet(3, 0);
    for n in 0..300 {
        sandbox.fleet[0]
            .portal
            .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": n.to_string()}}));
    }
    for k in [1, 2] {
        sandbox.fleet[k]
            .portal
            .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": "1"}}));
    }
    let out = vendor.dir.path().join("out.jsonl");
    let (code, stdout, stderr) = run(vendor.cmd().args([
        "offline",
        "consume",
        "--all-profiles",
        "--stdout",
        "--limit",
        "50",
        "--concurrency",
        "1",
    ]));
    assert_eq!(code, 0, "{stderr}");
    std::fs::write(&out, stdout).unwrap();
    let lines = delivered(&out);
    assert_eq!(lines.len(), 302);
    // One reservation per turn, in rotation: the small queues come right after
    // the deep queue's first reservation, not after all six.
    let first_other = lines.iter().position(|(p, _)| p != "p1").unwrap();
    assert_eq!(first_other, 50, "{:?}", &lines[..60]);
    let mut profiles: Vec<&str> = lines[50..52].iter().map(|(p, _)| p.as_str()).collect();
    profiles.sort();
    assert_eq!(profiles, ["p2", "p3"]);
    for member in &sandbox.fleet {
        assert_eq!(member.portal.offline_count(), 0);
    }
    assert!(stderr.contains("from 3 portal(s)"), "{stderr}");
}

/// A portal whose queue fits in one reservation is drained in one turn: the
/// look that finds its queue empty follows the short reservation at once,
/// instead of waiting for a turn of its own that opens the journal again.
/// The process would die at the third turn; two portals need only two.
#[cfg(feature = "failpoints")]
#[test]
fn a_queue_that_fits_one_reservation_is_drained_in_one_turn() {
    let (sandbox, vendor) = queued_fleet(2, 3);
    let (code, stdout, stderr) = run(vendor
        .cmd()
        .env("BX_EVENTS_TEST_FAILPOINT", "fleet-turn:3")
        .args([
            "offline",
            "consume",
            "--all-profiles",
            "--stdout",
            "--concurrency",
            "1",
        ]));
    assert_eq!(code, 0, "a third turn was started: {stderr}");
    assert_eq!(stdout.lines().count(), 6, "{stdout}");
    for member in &sandbox.fleet {
        assert_eq!(member.portal.offline_count(), 0);
    }
}

// Dies at a test failpoint: built with `--features failpoints` (make test).
#[cfg(feature = "failpoints")]
#[test]
fn two_fleet_consumers_split_the_portals_and_one_finishes_what_a_killed_one_left() {
    const PORTALS: usize = 100;
    const RECORDS: usize = 200;
    const LIMIT: usize = 50;
    const CONCURRENCY: usize = 4;
    let (sandbox, vendor) = queued_fleet(PORTALS, RECORDS);
    let spawn = |name: &str, failpoint: Option<&str>| {
        let out = vendor.dir.path().join(format!("{name}.jsonl"));
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("bx-events"));
        cmd.env(env::CONFIG_DIR, vendor.config_dir())
            .env("NO_COLOR", "1")
            .args(["offline", "consume", "--all-profiles", "--stdout", "-q"])
            .args(["--limit", &LIMIT.to_string()])
            .args(["--concurrency", &CONCURRENCY.to_string()])
            .args(["--poll-interval", "0.2"])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::piped());
        if let Some(failpoint) = failpoint {
            cmd.env(env::TEST_FAILPOINT, failpoint);
        }
        (cmd.spawn().unwrap(), out)
    };
    // The doomed one dies (as kill -9 would) on its 60th reservation, after the
    // portal answered and before its journal heard of it: the hardest moment.
    let (mut doomed, doomed_out) = spawn("doomed", Some("consume-after-get:60"));
    let (mut survivor, survivor_out) = spawn("survivor", None);
    let doomed_status = doomed.wait().unwrap();
    assert!(!doomed_status.success(), "the failpoint stopped it");
    let survivor_status = survivor.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut survivor.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(survivor_status.success(), "{stderr}");

    let doomed_lines = delivered(&doomed_out);
    let survivor_lines = delivered(&survivor_out);
    assert!(
        !doomed_lines.is_empty(),
        "the doomed consumer did part of the work"
    );
    assert!(!survivor_lines.is_empty(), "the work was split");
    let mut all: Vec<(String, u64)> = doomed_lines
        .iter()
        .chain(&survivor_lines)
        .cloned()
        .collect();
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(
        all.len(),
        PORTALS * RECORDS,
        "every record delivered at least once"
    );
    // Repeats come only from the reservations the killed process had in hand.
    assert!(
        total - all.len() <= CONCURRENCY * LIMIT,
        "{} records delivered twice",
        total - all.len()
    );
    for member in &sandbox.fleet {
        // Reserved rows count too: none is left behind.
        assert_eq!(
            member.portal.offline_count(),
            0,
            "every queue drained and confirmed"
        );
    }
}

#[test]
fn consume_all_profiles_follow_keeps_polling_every_portal_until_stopped() {
    let (sandbox, vendor) = queued_fleet(3, 2);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("bx-events"))
        .env(env::CONFIG_DIR, vendor.config_dir())
        .env("NO_COLOR", "1")
        .args([
            "offline",
            "consume",
            "--all-profiles",
            "--follow",
            "--stdout",
        ])
        .args(["--poll-interval", "0.1", "--concurrency", "1", "-q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = crate::common::line_channel(child.stdout.take().unwrap());
    let next = || -> Value {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("consume printed a record");
        serde_json::from_str(&line).unwrap()
    };
    for _ in 0..6 {
        next();
    }
    // A record that arrives while every queue is idle is still picked up.
    sandbox.fleet[2]
        .portal
        .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": "late"}}));
    let late = next();
    assert_eq!(late["profile"], "p3");
    assert_eq!(late["data"]["FIELDS"]["ID"], "late");
    // Printed records are confirmed once the pipe is read: wait for that (a stop
    // before it would rightly leave the record reserved for the next run).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sandbox.fleet.iter().any(|m| m.portal.offline_count() > 0) {
        assert!(
            std::time::Instant::now() < deadline,
            "records were not confirmed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
}

#[test]
fn auth_status_ndjson_ends_with_the_counts() {
    let (_sandbox, vendor) = captured(2, &[2]);
    let (code, stdout, stderr) = run(vendor.cmd().args(["auth", "status", "-o", "ndjson"]));
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    // Failing first (none here), then uninstalled, then the rest.
    assert!(lines[0]["status"]
        .as_str()
        .unwrap()
        .starts_with("uninstalled"));
    assert_eq!(lines[1]["status"], "ok");
    assert_eq!(
        lines[2],
        json!({"summary": {"profiles": 2, "ok": 1, "failing": 0, "uninstalled": 1}})
    );
}

#[test]
fn consume_all_profiles_max_events_stops_at_exactly_that_many() {
    let (sandbox, vendor) = queued_fleet(4, 30);
    let (code, stdout, stderr) = run(vendor.cmd().args([
        "offline",
        "consume",
        "--all-profiles",
        "--stdout",
        "--limit",
        "7",
        "--max-events",
        "45",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 45);
    let left: usize = sandbox.fleet.iter().map(|m| m.portal.offline_count()).sum();
    assert_eq!(
        left,
        4 * 30 - 45,
        "what was printed is confirmed, the rest stays"
    );
}
