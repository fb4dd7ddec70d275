//! No token, refresh token, client secret, webhook secret or application token ever
//! appears in stdout or stderr, even with `-vv` traces and forced errors.

use crate::common::{run, TestEnv, PROFILE};
use bx_events::sandbox::{Fault, FaultKind};

#[test]
fn secrets_never_appear_in_output_even_with_traces() {
    let env = TestEnv::new();
    let creds = env.sandbox.credentials.clone();
    env.save_webhook_profile("hook");
    let webhook_secret = creds
        .webhook_url
        .expose()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let mut secrets = vec![
        creds.access_token.expose().clone(),
        creds.refresh_token.expose().clone(),
        creds.client_secret.expose().clone(),
        creds.application_token.expose().clone(),
        webhook_secret,
    ];
    let (spare_access, spare_refresh) = env.sandbox.portal.issue_tokens(1);
    secrets.push(spare_access.clone());
    secrets.push(spare_refresh.clone());

    let hook = "https://hooks.example.com/deal";
    let mut transcripts = Vec::new();
    let mut record = |args: Vec<String>, env: &TestEnv, secrets: &mut Vec<String>| {
        let mut cmd = env.cmd();
        cmd.args(&args).args(["-vv", "-o", "json"]);
        let (code, stdout, stderr) = run(&mut cmd);
        transcripts.push((args.join(" "), code, stdout, stderr));
        // Refreshes replace the stored pair: those new secrets must not leak either.
        if let Some(profile) = env
            .store()
            .read_credentials()
            .unwrap()
            .profiles
            .get(PROFILE)
        {
            secrets.extend(profile.access_token.as_ref().map(|s| s.expose().clone()));
            secrets.extend(profile.refresh_token.as_ref().map(|s| s.expose().clone()));
        }
    };
    let s = |items: &[&str]| items.iter().map(|i| i.to_string()).collect::<Vec<_>>();

    env.sandbox.portal.expire_tokens();
    record(s(&["list"]), &env, &mut secrets);
    record(s(&["bind", "ONCRMDEALADD", hook]), &env, &mut secrets);
    record(s(&["bind", "ONCRMDEALAD", hook]), &env, &mut secrets);
    record(s(&["events", "deal"]), &env, &mut secrets);
    record(s(&["call", "app.info"]), &env, &mut secrets);
    record(s(&["auth", "status"]), &env, &mut secrets);
    record(s(&["list", "-p", "hook"]), &env, &mut secrets);
    record(s(&["call", "scope", "-p", "hook"]), &env, &mut secrets);
    record(s(&["unbind", "--all", "--yes"]), &env, &mut secrets);
    record(
        s(&[
            "auth",
            "login",
            "-p",
            "hook2",
            "--webhook",
            creds.webhook_url.expose(),
        ]),
        &env,
        &mut secrets,
    );
    record(
        s(&[
            "auth",
            "login",
            "-p",
            "tok",
            "--portal",
            &creds.portal,
            "--access-token",
            &spare_access,
            "--refresh-token",
            &spare_refresh,
            "--client-id",
            &creds.client_id,
            "--client-secret",
            creds.client_secret.expose(),
            "--oauth-server",
            &creds.portal,
        ]),
        &env,
        &mut secrets,
    );
    record(
        s(&[
            "auth",
            "login",
            "-p",
            "bad",
            "--portal",
            &creds.portal,
            "--access-token",
            creds.client_secret.expose(),
        ]),
        &env,
        &mut secrets,
    );
    // Faults, the offline queue, manifests and the handler tools, all traced.
    env.sandbox
        .portal
        .inject(Fault::on(FaultKind::BadGateway, 2, Some("event.get")));
    env.sandbox.portal.inject(Fault::on(
        FaultKind::ExpiredToken,
        1,
        Some("event.offline.list"),
    ));
    let manifest = env.config_dir().join("m.toml");
    std::fs::write(&manifest, "[[subscription]]\nevent = \"ONCRMDEALADD\"\nhandler = \"https://h.example.com/x\"\n[[subscription]]\nevent = \"ONTASKADD\"\ntype = \"offline\"\n").unwrap();
    let manifest = manifest.display().to_string();
    record(s(&["apply", "-f", &manifest]), &env, &mut secrets);
    record(s(&["diff", "-f", &manifest, "--prune"]), &env, &mut secrets);
    record(s(&["export"]), &env, &mut secrets);
    record(
        s(&["sandbox", "fire", "ONTASKADD", "--data", "FIELDS.ID=1"]),
        &env,
        &mut secrets,
    );
    record(s(&["offline", "list"]), &env, &mut secrets);
    record(s(&["offline", "consume", "--stdout"]), &env, &mut secrets);
    record(s(&["sandbox", "log"]), &env, &mut secrets);
    record(s(&["auth", "token", "-p", "hook"]), &env, &mut secrets);
    // A refresh that fails (the refresh token was used above) with everything traced.
    env.save_oauth_profile("stale", &spare_access, &spare_refresh, Some(1));
    record(s(&["list", "-p", "stale"]), &env, &mut secrets);

    assert!(
        transcripts.iter().any(|(_, code, _, _)| *code != 0),
        "errors were forced"
    );
    assert!(
        transcripts
            .iter()
            .any(|(_, _, _, stderr)| stderr.contains("--> POST")),
        "traces were on"
    );
    for (command, _, stdout, stderr) in &transcripts {
        for secret in &secrets {
            assert!(
                !stdout.contains(secret.as_str()) && !stderr.contains(secret.as_str()),
                "`{command}` leaked a secret:\nstdout: {stdout}\nstderr: {stderr}"
            );
        }
    }
}
