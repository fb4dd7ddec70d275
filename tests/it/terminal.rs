//! The first hour at a terminal: commands run under a real pseudo-terminal, so
//! prompts, Ctrl-C and reads of the terminal behave as they do for a person.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{bare_process, TestEnv};
use bx_events::internal::env;

/// A command on a pseudo-terminal of its own: its output collected, keys typed.
struct OnTerminal {
    child: std::process::Child,
    master: std::fs::File,
    slave: OwnedFd,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl OnTerminal {
    fn start(mut cmd: std::process::Command) -> Self {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes the two descriptors; the other arguments may be null.
        let opened = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(opened, 0, "openpty");
        // A 100 x 24 terminal.
        let size = libc::winsize {
            ws_row: 24,
            ws_col: 100,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads the struct it is given.
        unsafe {
            libc::ioctl(master, libc::TIOCSWINSZ, &size);
        }
        // SAFETY: both descriptors were just opened and are owned here.
        let (master, slave) = unsafe {
            (
                std::fs::File::from_raw_fd(master),
                OwnedFd::from_raw_fd(slave),
            )
        };
        let stdio = |fd: &OwnedFd| Stdio::from(fd.try_clone().unwrap());
        cmd.stdin(stdio(&slave))
            .stdout(stdio(&slave))
            .stderr(stdio(&slave));
        // SAFETY: setsid and the ioctl are async-signal-safe; they make the
        // terminal the child's controlling one, so Ctrl-C reaches it as SIGINT.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (mut reader, sink) = (master.try_clone().unwrap(), seen.clone());
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read) = reader.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buffer[..read]);
            }
        });
        Self {
            child,
            master,
            slave,
            seen,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    /// Waits (bounded) until the terminal shows `wanted`.
    fn expect(&self, wanted: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.text().contains(wanted) {
            assert!(
                Instant::now() < deadline,
                "never shown {wanted:?}: {:?}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn type_keys(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
    }

    /// The exit code, waiting at most 30 s.
    fn exit_code(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("still running: {:?}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the terminal echoes typed keys (a hidden prompt turns it off).
    fn echoes(&self) -> bool {
        // SAFETY: tcgetattr writes the zeroed struct it is given.
        let mut settings: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(
            unsafe { libc::tcgetattr(self.slave.as_raw_fd(), &mut settings) },
            0
        );
        settings.c_lflag & libc::ECHO != 0
    }
}

fn on_terminal(env: &TestEnv, args: &[&str]) -> OnTerminal {
    let mut cmd = bare_process();
    cmd.env(env::CONFIG_DIR, env.config_dir())
        .env("TERM", "xterm")
        .env_remove("CI")
        .args(args);
    OnTerminal::start(cmd)
}

#[test]
fn ctrl_c_at_the_hidden_secret_prompt_ends_login_and_restores_echo() {
    let env = TestEnv::new();
    let mut login = on_terminal(
        &env,
        &[
            "auth",
            "login",
            "-p",
            "typed",
            "--portal",
            "https://acme.bitrix24.com",
            "--client-id",
            "local.x",
        ],
    );
    login.expect("Client secret");
    assert!(!login.echoes(), "the prompt hides what is typed");
    login.type_keys(b"\x03");
    assert_eq!(login.exit_code(), Some(130), "{}", login.text());
    assert!(login.echoes(), "echo is back on");
    assert!(!login.text().contains("error:"), "{}", login.text());
}

#[test]
fn ctrl_c_at_a_confirmation_ends_the_command_quietly_and_shows_the_cursor() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    let mut unbind = on_terminal(&env, &["unbind", "--all"]);
    unbind.expect("[y/N]");
    unbind.type_keys(b"\x03");
    assert_eq!(unbind.exit_code(), Some(130), "{}", unbind.text());
    // The output is read as it comes: wait for the last of it.
    unbind.expect("\x1b[?25h");
    assert!(!unbind.text().contains("error:"), "{}", unbind.text());
    assert_eq!(env.sandbox.portal.binding_count(), 1, "nothing removed");
}

#[test]
fn reading_a_file_from_the_terminal_says_so_and_ctrl_c_ends_it() {
    let env = TestEnv::new();
    let mut diff = on_terminal(&env, &["diff", "-f", "-"]);
    diff.expect("Reading the subscriptions file from the terminal: end with Ctrl-D");
    diff.type_keys(b"\x03");
    assert_eq!(diff.exit_code(), Some(130), "{}", diff.text());
}

#[test]
fn logout_asks_before_deleting_a_profiles_secrets() {
    let env = TestEnv::new();
    let mut logout = on_terminal(&env, &["auth", "logout"]);
    logout.expect("[y/N]");
    logout.type_keys(b"n");
    assert_ne!(logout.exit_code(), Some(0), "{}", logout.text());
    assert!(
        env.secrets(crate::common::PROFILE).refresh_token.is_some(),
        "declined: nothing deleted"
    );
}

#[test]
fn an_argument_that_is_not_utf8_is_a_usage_error_not_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let env = TestEnv::new();
    let event = std::ffi::OsStr::from_bytes(b"ONCRM\xffDEALADD");
    for format in ["table", "json"] {
        let (code, _, stderr) = crate::common::run(
            env.cmd()
                .args(["-o", format, "bind"])
                .arg(event)
                .arg("https://h.example.com/x"),
        );
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("invalid UTF-8"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn auth_words_at_the_top_point_to_auth() {
    let env = TestEnv::new();
    for word in ["login", "logout", "status"] {
        let (code, _, stderr) = crate::common::run(env.cmd().arg(word));
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(&format!("`bx-events auth {word}`")),
            "{stderr}"
        );
    }
}

#[test]
fn a_table_too_wide_for_the_terminal_keeps_urls_whole() {
    let env = TestEnv::new();
    let long = format!("https://hooks.example.com/{}", "segment/".repeat(12));
    env.json(&["bind", "ONCRMDEALADD", &long]);
    env.json(&["bind", "ONCRMDEALUPDATE", "https://hooks.example.com/x"]);
    let mut list = on_terminal(&env, &["list"]);
    assert_eq!(list.exit_code(), Some(0), "{}", list.text());
    list.expect("ONCRMDEALUPDATE");
    list.expect(&long);
    let mut short = on_terminal(&env, &["list", "--handler", "https://hooks.example.com/x"]);
    assert_eq!(short.exit_code(), Some(0));
    short.expect("┌");
}
