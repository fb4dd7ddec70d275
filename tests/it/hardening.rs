//! The last ways to lose records or the receiver: each test forces its race or
//! fault (a lost answer, a reader that takes everything and exits, hostile
//! senders beside an honest one). The shared store's faults are in store.rs;
//! docs/reliability.md names them all.

use std::io::{Read, Write};
use std::process::Stdio;

use crate::common::{bare_process, eventually, http_request, record_ids, run, stop, TestEnv};
use bx_events::internal::env;
use bx_events::sandbox::{Fault, FaultKind};
use serde_json::json;

/// The binary as a plain process, with `config_dir`.
fn process(config_dir: &std::path::Path) -> std::process::Command {
    let mut cmd = bare_process();
    cmd.env(env::CONFIG_DIR, config_dir);
    cmd
}

fn queued(count: usize) -> TestEnv {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    for n in 1..=count {
        env.sandbox
            .portal
            .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": n.to_string()}}));
    }
    env
}

#[test]
fn follow_adopts_the_reservation_whose_get_answer_was_lost() {
    let env = queued(5);
    // The portal reserves the records and the answer never arrives.
    env.sandbox.portal.inject(Fault::on(
        FaultKind::LoseAnswer,
        1,
        Some("event.offline.get"),
    ));
    let out = env.config_dir().join("out.jsonl");
    let consumer = process(&env.config_dir())
        .args([
            "offline",
            "consume",
            "--follow",
            "--stdout",
            "--poll-interval",
            "0.2",
        ])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drained = eventually(60, || env.sandbox.portal.offline_count() == 0);
    let stderr = stop(consumer);
    assert!(
        drained,
        "the lost reservation was adopted and confirmed: {stderr}"
    );
    assert_eq!(
        record_ids(&out).len(),
        5,
        "every record delivered: {stderr}"
    );
}

/// Tests that time a child's reaction in milliseconds: `make test` runs them
/// on their own, after the others (a busy machine would blur the timing).
mod alone {
    use super::*;

    #[test]
    fn a_reader_that_takes_every_line_in_one_read_and_exits_confirms_nothing() {
        let env = queued(20);
        // The reader is waiting in read() before anything is written, takes the
        // whole reservation with that one read, and exits 12 ms later without using
        // it. The pipe is empty the moment the consumer looks: an empty pipe was
        // all the consumer used to wait for (polling every 10 ms), and it confirmed.
        let mut reader = std::process::Command::new("python3")
            .args([
                "-c",
                "import os, sys, time\n\
                 sys.stderr.write('ready\\n'); sys.stderr.flush()\n\
                 os.read(0, 1 << 20)\n\
                 time.sleep(0.012)\n\
                 os._exit(0)",
            ])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(reader.stderr.take().unwrap()),
            &mut ready,
        )
        .unwrap();
        assert_eq!(ready.trim(), "ready");
        let output = process(&env.config_dir())
            .args(["offline", "consume", "--stdout"])
            .stdout(Stdio::from(reader.stdin.take().unwrap()))
            .output()
            .unwrap();
        reader.wait().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(
            env.sandbox.portal.offline_count(),
            20,
            "nothing was confirmed: {stderr}"
        );
        assert!(
            stderr.contains("Delivered 0,")
                && stderr.contains("20 written to stdout but not confirmed")
                && !stderr.contains("] ok "),
            "the summary says what was confirmed: {stderr}"
        );
        // A reader that reads everything keeps it all: the next run delivers all 20.
        let (code, stdout, stderr) = run(env.cmd().args(["offline", "consume", "--stdout"]));
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(stdout.lines().count(), 20);
        assert_eq!(env.sandbox.portal.offline_count(), 0);
    }
}

/// A running `listen` whose stdout is kept as a raw pipe.
fn listen(args: &[&str]) -> (std::process::Child, String) {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut child = process(&dir)
        .args(["listen", "--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = crate::common::listening_url(child.stderr.take().unwrap());
    (child, url)
}

#[test]
fn a_line_feed_in_an_event_name_cannot_forge_a_line() {
    let (mut child, url) = listen(&[]);
    let forged = "ONX\n12:00:00  ONCRMDEALADD  id=7405  accepted";
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("event", forged)
        .finish();
    let (status, _, _) = http_request(
        "POST",
        &url,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    assert_eq!(status, 200);
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.contains("ONX\\n12:00:00"),
        "escaped in place: {line:?}"
    );
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    assert!(!rest.contains("id=7405"), "no forged line: {rest:?}");
}

#[test]
fn listen_stops_accepting_once_its_reader_is_gone() {
    let (mut child, url) = listen(&["-o", "ndjson"]);
    let post = |id: &str| {
        http_request(
            "POST",
            &url,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            format!("event=ONCRMDEALADD&data[FIELDS][ID]={id}").as_bytes(),
        )
        .0
    };
    assert_eq!(post("1"), 200);
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert!(line.contains("ONCRMDEALADD"));
    // `| head -1` exits.
    drop(stdout);
    // The next sender is told the event was not taken, and listen ends.
    assert_eq!(post("2"), 503, "refused, not printed nowhere");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
}

#[test]
fn slow_bodies_do_not_hold_up_an_honest_delivery() {
    let (mut child, url) = listen(&["-o", "ndjson"]);
    let address = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    // 600 senders promise a body and send one byte of it.
    let mut slow = Vec::new();
    for _ in 0..600 {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream
            .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ne")
            .unwrap();
        slow.push(stream);
    }
    let (status, _, _) = http_request(
        "POST",
        &url,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"event=ONCRMDEALADD&data[FIELDS][ID]=1",
    );
    assert_eq!(status, 200, "answered beside 600 slow senders");
    // ... while they still hold their connections: the honest sender did not
    // wait for them to time out.
    let first = &mut slow[0];
    first.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let still_open =
        matches!(first.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        still_open,
        "the slow senders were still connected and unanswered"
    );
}

#[test]
fn a_file_size_limit_stops_the_consumer_with_a_message_and_loses_nothing() {
    let env = queued(200);
    let binary = assert_cmd::cargo::cargo_bin("bx-events");
    // 1 KiB: the journal passes it within the first reservation.
    let limited = std::process::Command::new("sh")
        .env(env::CONFIG_DIR, env.config_dir())
        .args(["-c", "ulimit -f 1 && exec \"$0\" offline consume --stdout"])
        .arg(&binary)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&limited.stderr);
    assert_eq!(
        limited.status.code(),
        Some(1),
        "an exit with a message, not death by SIGXFSZ: {stderr}"
    );
    assert!(
        stderr.contains("cannot write the consume journal"),
        "{stderr}"
    );
    let out = env.config_dir().join("out.jsonl");
    let drained = process(&env.config_dir())
        .args(["offline", "consume", "--stdout"])
        .stdout(std::fs::File::create(&out).unwrap())
        .output()
        .unwrap();
    assert!(
        drained.status.success(),
        "{}",
        String::from_utf8_lossy(&drained.stderr)
    );
    assert_eq!(record_ids(&out), (1..=200).collect::<Vec<u64>>());
    assert_eq!(env.sandbox.portal.offline_count(), 0);
}

/// The most memory the process has held so far (VmHWM), in KiB.
fn peak_memory_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn deeply_nested_form_keys_are_refused_within_a_small_multiple_of_their_size() {
    let (mut child, url) = listen(&["-o", "ndjson"]);
    let honest = |id: &str| {
        http_request(
            "POST",
            &url,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            format!("event=ONCRMDEALADD&data[FIELDS][ID]={id}").as_bytes(),
        )
        .0
    };
    assert_eq!(honest("1"), 200);
    let before = peak_memory_kib(child.id());
    // 19,000 keys 32 levels deep: 1.3 MB that built 600 MB of tree.
    let key = format!("a{}=&", "[]".repeat(32));
    let hostile = format!("event=ONAPPINSTALL&{}", key.repeat(19_000));
    for _ in 0..7 {
        let (status, _, body) = http_request(
            "POST",
            &url,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            hostile.as_bytes(),
        );
        assert_eq!(status, 413, "{body}");
    }
    let grown_mib = (peak_memory_kib(child.id()) - before) / 1024;
    assert_eq!(honest("2"), 200, "honest deliveries go on");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        grown_mib < 64,
        "7 hostile forms of {} KiB grew the peak by {grown_mib} MiB",
        hostile.len() / 1024
    );
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_config_directory_others_can_write_is_refused_like_ssh_does() {
    let env = TestEnv::new();
    set_mode(&env.config_dir(), 0o777);
    let (code, _, stderr) = run(env.cmd().args(["list"]));
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("can be written by other users (mode 777)") && stderr.contains("chmod 700"),
        "{stderr}"
    );
    set_mode(&env.config_dir(), 0o700);
    let (code, _, stderr) = run(env.cmd().args(["list"]));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_symlinked_state_directory_is_never_followed() {
    let env = queued(3);
    let elsewhere = tempfile::tempdir().unwrap();
    let state = env.config_dir().join("state");
    let _ = std::fs::remove_dir_all(&state);
    std::os::unix::fs::symlink(elsewhere.path(), &state).unwrap();
    let (code, _, stderr) = run(env.cmd().args(["offline", "consume", "--stdout"]));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("is a symbolic link"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "nothing was written where the link points"
    );
    assert_eq!(env.sandbox.portal.offline_count(), 3, "nothing reserved");
}

#[test]
fn a_config_file_owned_by_another_user_is_not_trusted() {
    let env = TestEnv::new();
    let config = env.config_dir().join("config.toml");
    assert!(config.exists());
    // Only root can give a file away; CI runs the suite as root.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: giving a file to another user needs root");
        return;
    }
    std::os::unix::fs::chown(&config, Some(4242), None).unwrap();
    let (code, _, stderr) = run(env.cmd().args(["list"]));
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("belongs to another user (uid 4242)"),
        "{stderr}"
    );
}

#[test]
fn tokens_are_never_forwarded_in_clear_off_this_machine() {
    let env = queued(2);
    let (code, _, stderr) = run(env.cmd().args([
        "offline",
        "consume",
        "--format",
        "portal",
        "--with-tokens",
        "--forward-to",
        "http://handler.example.com/bitrix",
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr
            .contains("--with-tokens would send the access token in clear to handler.example.com"),
        "{stderr}"
    );
    assert_eq!(env.sandbox.portal.offline_count(), 2);
    assert!(
        env.sandbox
            .portal
            .offline_rows()
            .iter()
            .all(|row| row.process_id.is_none()),
        "nothing reserved"
    );
}

#[test]
fn an_empty_variable_means_unset() {
    let env = TestEnv::new();
    let (code, _, stderr) = run(env
        .cmd()
        .env(env::CA_CERT, "")
        .env(env::OUTPUT, "")
        .args(["list"]));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_secret_given_twice_is_named_with_where_it_was_given() {
    let env = TestEnv::new();
    let file = env.config_dir().join("app.env");
    std::fs::write(&file, "client_secret=one\n# note\nclient_secret=two\n").unwrap();
    let login = |extra: &[&str]| {
        let mut cmd = env.cmd();
        cmd.args([
            "auth",
            "login",
            "-p",
            "other",
            "--portal",
            "https://acme.bitrix24.com",
            "--client-id",
            "local.x",
            "--secrets-from",
        ])
        .arg(&file)
        .args(extra);
        run(&mut cmd)
    };
    let (code, _, stderr) = login(&[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--secrets-from line 3: client_secret was already given on line 1"),
        "{stderr}"
    );
    std::fs::write(&file, "client_secret=one\n").unwrap();
    let (code, _, stderr) = login(&["--client-secret", "other-value"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--secrets-from line 1: client_secret is also given by --client-secret"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("other-value") && !stderr.contains("one"),
        "{stderr}"
    );
}

#[test]
fn listen_advises_an_address_a_sender_can_use_and_names_a_wrong_host() {
    let (mut child, url) = listen(&["--host", "0.0.0.0"]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let output = bare_process()
        .args(["listen", "--host", "10.99.99.99", "--port", "0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("10.99.99.99 is not an address of this machine")
            && !stderr.contains("pick another --port"),
        "{stderr}"
    );
}
