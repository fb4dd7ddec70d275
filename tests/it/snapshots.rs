//! What users see, as snapshots (tests/it/snapshots/): tables, `error:`/`hint:`
//! lines and help text. Ports, tokens and times are replaced by placeholders, so a
//! snapshot changes only when the output does. Review changes with `cargo insta
//! review` (or accept them with `INSTA_UPDATE=always cargo test`).

use crate::common::{bare_cmd, run, TestEnv};

/// Snapshot settings that hide what changes from run to run.
fn stable() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT");
    settings.add_filter(r"/tmp/[^\s']+", "TMPDIR");
    settings.add_filter(r"\b\d{2}:\d{2}:\d{2}\b", "HH:MM:SS");
    settings.add_filter(r"\b[0-9a-f]{32,}\b", "HEX");
    settings.set_prepend_module_to_snapshot(false);
    settings
}

#[test]
fn bindings_table_for_a_pipe() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", "https://hooks.example.com/deal"]);
    env.json(&["bind", "ONTASKADD", "--offline"]);
    let (code, stdout, _) = run(env.cmd().args(["list"]));
    assert_eq!(code, 0);
    stable().bind(|| insta::assert_snapshot!("list_table", stdout));
}

#[test]
fn apply_plan_lines() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALUPDATE", "https://hooks.example.com/old"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("subscriptions.toml");
    std::fs::write(
        &file,
        "[[subscription]]\nevent = \"ONCRMDEALADD\"\nhandler = \"https://hooks.example.com/deal\"\n",
    )
    .unwrap();
    let (code, stdout, _) = run(env.cmd().args(["diff", "--prune", "-f"]).arg(&file));
    assert_eq!(code, 0);
    stable().bind(|| insta::assert_snapshot!("diff_plan", stdout));
}

#[test]
fn usage_errors_name_the_problem_and_the_fix() {
    let env = TestEnv::new();
    let (code, _, stderr) = run(env
        .cmd()
        .args(["bind", "ONCRMDEALADD", "http://localhost/hook"]));
    assert_eq!(code, 2);
    stable().bind(|| insta::assert_snapshot!("error_local_handler", stderr));
}

#[test]
fn missing_credentials_error_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(bare_cmd()
        .env("BX_EVENTS_CONFIG_DIR", dir.path())
        .args(["list"]));
    assert_eq!(code, 4);
    stable().bind(|| insta::assert_snapshot!("error_no_credentials", stderr));
}

#[test]
fn unknown_profile_error_and_hint() {
    let env = TestEnv::new();
    let (code, _, stderr) = run(env.cmd().args(["-p", "nope", "list"]));
    assert_eq!(code, 4);
    stable().bind(|| insta::assert_snapshot!("error_unknown_profile", stderr));
}

#[test]
fn top_level_help() {
    let (code, stdout, _) = run(bare_cmd().arg("--help"));
    assert_eq!(code, 0);
    stable().bind(|| insta::assert_snapshot!("help", stdout));
}

#[test]
fn bind_help() {
    let (code, stdout, _) = run(bare_cmd().args(["bind", "--help"]));
    assert_eq!(code, 0);
    stable().bind(|| insta::assert_snapshot!("help_bind", stdout));
}

/// A command whose stderr carries a warning: binding a loopback handler.
fn warning_run(configure: impl FnOnce(&mut assert_cmd::Command)) -> String {
    let env = TestEnv::new();
    let mut cmd = env.cmd();
    cmd.env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .args([
            "bind",
            "ONCRMDEALADD",
            "http://127.0.0.1:9/hook",
            "--dry-run",
        ]);
    configure(&mut cmd);
    let (code, _, stderr) = run(&mut cmd);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("warning:"), "{stderr}");
    stderr
}

#[test]
fn colour_follows_the_flag_and_the_environment_through_a_pipe() {
    let coloured = |stderr: &str| stderr.contains("\x1b[");
    assert!(
        !coloured(&warning_run(|_| {})),
        "a pipe gets no colour by default"
    );
    assert!(
        coloured(&warning_run(|cmd| {
            cmd.args(["--color", "always"]);
        })),
        "--color always colours a pipe"
    );
    assert!(
        coloured(&warning_run(|cmd| {
            cmd.env("CLICOLOR_FORCE", "1");
        })),
        "CLICOLOR_FORCE colours a pipe"
    );
    assert!(
        !coloured(&warning_run(|cmd| {
            cmd.env("CLICOLOR_FORCE", "1").args(["--color", "never"]);
        })),
        "--color never wins over the environment"
    );
}

#[test]
fn sandbox_prints_its_throwaway_credentials_in_full() {
    // They are the way into the emulator, unlike any real secret, which prints as
    // `***`: the line must carry a token the sandbox accepts.
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bx-events"))
        .env("BX_EVENTS_CONFIG_DIR", dir.path())
        .env("NO_COLOR", "1")
        .args(["sandbox", "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut token = None;
    let mut portal = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(value) = line.trim().strip_prefix("access token") {
            token = Some(value.trim().to_string());
        }
        if let Some(value) = line.trim().strip_prefix("portal") {
            portal = Some(value.trim().to_string());
        }
        if line.starts_with("Log in with:") {
            break;
        }
    }
    let (token, portal) = (token.unwrap(), portal.unwrap());
    assert!(!token.contains('*'), "{token}");
    let (code, stdout, stderr) = run(bare_cmd()
        .env("BX_EVENTS_CONFIG_DIR", dir.path())
        .env("BX_EVENTS_PORTAL", &portal)
        .env("BX_EVENTS_ACCESS_TOKEN", &token)
        .args(["list", "-o", "json"]));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "[]");
}
