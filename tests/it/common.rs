//! Shared harness: an in-process sandbox, a temporary config dir, and the built binary.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;

use assert_cmd::Command;
use bx_events::internal::save_profile;
use bx_events::internal::{env, ProfileKind, ProfileSettings, Secrets, Store};
use bx_events::sandbox::{SandboxOptions, SandboxThread};
use serde_json::Value;

pub const PROFILE: &str = "sb";

/// A sandbox plus a config dir holding an admin OAuth profile `sb` for it.
pub struct TestEnv {
    pub sandbox: SandboxThread,
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    /// A sandbox without a request limit, and the `sb` profile.
    pub fn new() -> Self {
        Self::with_options(SandboxOptions {
            rate_limit: None,
            ..SandboxOptions::default()
        })
    }

    /// A sandbox without a request limit whose portal sends handlers `token` as
    /// `auth[application_token]`, and the `sb` profile (which knows it).
    pub fn with_application_token(token: &str) -> Self {
        Self::with_options(SandboxOptions {
            rate_limit: None,
            application_token: Some(token.into()),
            ..SandboxOptions::default()
        })
    }

    pub fn with_options(options: SandboxOptions) -> Self {
        let sandbox = SandboxThread::spawn(options).expect("sandbox starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let env = Self { sandbox, dir };
        let creds = env.sandbox.credentials.clone();
        env.save_oauth_profile(
            PROFILE,
            creds.access_token.expose(),
            creds.refresh_token.expose(),
            Some(creds.expires_at),
        );
        env
    }

    /// The config directory: created by bx-events itself, as on a first run.
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    pub fn store(&self) -> Store {
        Store::new(self.config_dir())
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.config_dir().join("credentials.toml")
    }

    /// Stores an OAuth profile for the sandbox with the given tokens.
    pub fn save_oauth_profile(
        &self,
        name: &str,
        access: &str,
        refresh: &str,
        expires_at: Option<i64>,
    ) {
        let creds = &self.sandbox.credentials;
        let settings = ProfileSettings {
            portal: creds.portal.clone(),
            kind: ProfileKind::Oauth,
            client_id: Some(creds.client_id.clone()),
            oauth_server: Some(creds.portal.clone()),
            rate_limit: None,
            user_id: Some(1),
            scope: None,
            member_id: Some(creds.member_id.clone()),
            uninstalled_at: None,
        };
        let secrets = Secrets {
            client_secret: Some(creds.client_secret.clone()),
            access_token: Some(access.into()),
            refresh_token: Some(refresh.into()),
            expires_at,
            webhook_url: None,
            application_token: Some(creds.application_token.clone()),
            storage: None,
        };
        save_profile(&self.store(), name, settings, secrets).expect("profile saved");
    }

    /// Stores a webhook profile for the sandbox's admin webhook.
    pub fn save_webhook_profile(&self, name: &str) {
        let creds = &self.sandbox.credentials;
        let settings = ProfileSettings {
            portal: creds.portal.clone(),
            kind: ProfileKind::Webhook,
            client_id: None,
            oauth_server: None,
            rate_limit: None,
            user_id: Some(1),
            scope: None,
            member_id: Some(creds.member_id.clone()),
            uninstalled_at: None,
        };
        let secrets = Secrets {
            webhook_url: Some(creds.webhook_url.clone()),
            ..Secrets::default()
        };
        save_profile(&self.store(), name, settings, secrets).expect("profile saved");
    }

    /// The binary with this env's config dir and no inherited `BX_EVENTS_*` variables.
    pub fn cmd(&self) -> Command {
        let mut cmd = bare_cmd();
        cmd.env(env::CONFIG_DIR, self.config_dir());
        cmd
    }

    /// Runs a command that must succeed with `-o json` and parses its stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let output = self
            .cmd()
            .args(args)
            .args(["-o", "json"])
            .output()
            .expect("runs");
        assert!(
            output.status.success(),
            "{args:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?} printed invalid JSON ({e}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }

    /// The stored secrets of a profile.
    pub fn secrets(&self, name: &str) -> Secrets {
        self.store()
            .read_credentials()
            .expect("credentials readable")
            .profiles
            .get(name)
            .cloned()
            .expect("profile stored")
    }
}

/// The binary with no inherited `BX_EVENTS_*` variables, no CI prompts.
pub fn bare_cmd() -> Command {
    let mut cmd = Command::cargo_bin("bx-events").expect("binary built");
    for (name, _) in env::ALL {
        cmd.env_remove(name);
    }
    cmd.env_remove(env::TEST_FAILPOINT);
    cmd.env_remove(env::TEST_KEYRING);
    cmd.env("NO_COLOR", "1");
    cmd
}

/// [`bare_cmd`] as a plain process, for a child a test starts, watches and stops.
pub fn bare_process() -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("bx-events"));
    for (name, _) in env::ALL {
        cmd.env_remove(name);
    }
    cmd.env_remove(env::TEST_FAILPOINT)
        .env_remove(env::TEST_KEYRING)
        .env("NO_COLOR", "1");
    cmd
}

/// Waits, polling for at most `seconds`, until `done` holds; whether it did.
pub fn eventually(seconds: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while std::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    done()
}

/// Kills a child (if still running) and returns what it wrote on its piped
/// stderr.
pub fn stop(mut child: std::process::Child) -> String {
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    stderr
}

/// The distinct record ids of an NDJSON file `consume --stdout` wrote.
pub fn record_ids(path: &std::path::Path) -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|record| record["id"].as_u64())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The run's exit code, stdout and stderr.
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let output = cmd.output().expect("runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Parses the `{"error":{...}}` object printed on stderr with `-o json`.
pub fn json_error(stderr: &str) -> Value {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("{\"error\""))
        .unwrap_or_else(|| panic!("no JSON error on stderr: {stderr}"));
    serde_json::from_str::<Value>(line).expect("error is JSON")["error"].clone()
}

/// A minimal HTTP/1.1 request on loopback: status, raw head and body.
pub fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    let parsed = url::Url::parse(url).expect("url");
    let host = parsed.host_str().expect("host");
    let port = parsed.port().expect("port");
    let mut stream = TcpStream::connect((host, port)).expect("connects");
    // A server that never answers fails the test instead of hanging it.
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("sets a read timeout");
    let path = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_string(),
    };
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("writes");
    stream.write_all(body).expect("writes");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reads");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// A minimal HTTP/1.1 GET on loopback, returning status, the Location header and body.
pub fn http_get(url: &str) -> (u16, Option<String>, String) {
    let (status, head, body) = http_request("GET", url, &[], b"");
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .map(str::to_string);
    (status, location, body)
}

/// One request a [`recorder`] received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// Requests received so far.
pub type Received = std::sync::Arc<std::sync::Mutex<Vec<Recorded>>>;

/// A loopback HTTP server that records every request and answers with the status
/// `status_for(path)` returns; gives its base URL.
pub fn recorder(status_for: fn(&str) -> u16) -> (String, Received) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let address = listener.local_addr().expect("address");
    let received: Received = Default::default();
    let store = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut data = Vec::new();
            let mut buffer = [0u8; 8192];
            loop {
                let n = stream.read(&mut buffer).unwrap_or(0);
                if n == 0 {
                    break;
                }
                data.extend_from_slice(&buffer[..n]);
                let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&data[..end]).to_string();
                let header = |name: &str| {
                    head.lines().find_map(|l| {
                        let (key, value) = l.split_once(':')?;
                        key.eq_ignore_ascii_case(name)
                            .then(|| value.trim().to_string())
                    })
                };
                let length: usize = header("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if data.len() < end + 4 + length {
                    continue;
                }
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let status = status_for(&path);
                store.lock().unwrap().push(Recorded {
                    path,
                    content_type: header("content-type").unwrap_or_default(),
                    body: data[end + 4..end + 4 + length].to_vec(),
                });
                let _ = stream.write_all(
                    format!("HTTP/1.1 {status} Recorded\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
                );
                break;
            }
        }
    });
    (format!("http://{address}"), received)
}

/// A loopback server answering every connection with the same raw bytes (or just
/// closing it when they are empty); gives its base URL.
pub fn canned_server(response: Vec<u8>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            if !response.is_empty() {
                let _ = stream.write_all(&response);
            }
        }
    });
    format!("http://{address}")
}

/// An HTTP/1.1 answer: `head` (status line and headers, each ending in CRLF) and a body.
pub fn http_answer(head: &str, body: &[u8]) -> Vec<u8> {
    let mut answer = format!(
        "{head}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(body);
    answer
}

impl TestEnv {
    /// `auth login` arguments for tokens of this sandbox, as profile `name`.
    pub fn token_login_args(&self, name: &str, access: &str, refresh: &str) -> Vec<String> {
        let creds = &self.sandbox.credentials;
        [
            "auth",
            "login",
            "-p",
            name,
            "--portal",
            &creds.portal,
            "--access-token",
            access,
            "--refresh-token",
            refresh,
            "--client-id",
            &creds.client_id,
            "--client-secret",
            creds.client_secret.expose(),
            "--oauth-server",
            &creds.portal,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Exchanges a refresh token at the sandbox, as another client would, so it is spent.
    pub fn spend_refresh_token(&self, refresh: &str) {
        let creds = &self.sandbox.credentials;
        let url = format!(
            "{}/oauth/token/?grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={refresh}",
            creds.portal, creds.client_id, creds.client_secret.expose()
        );
        assert_eq!(http_get(&url).0, 200, "the refresh token was spent");
    }
}

/// The address a `listen` child announces on stderr ("Listening on URL"); the
/// rest of its stderr keeps being drained, since a closed pipe would end it.
pub fn listening_url(stderr: std::process::ChildStderr) -> String {
    use std::io::{BufRead, BufReader};
    let mut stderr = BufReader::new(stderr);
    let mut line = String::new();
    let url = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "listen ended before announcing its address"
        );
        if let Some(rest) = line.trim().strip_prefix("Listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in stderr.lines() {});
    url
}

/// The lines a child prints on stdout, as they come (read on a thread of their
/// own, so the child never blocks on a full pipe).
pub fn line_channel(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    use std::io::{BufRead, BufReader};
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// A running `listen` child: the address it announced, and the JSON lines it
/// prints on stdout. Killed when dropped.
pub struct ListenChild {
    child: std::process::Child,
    pub url: String,
    lines: std::sync::mpsc::Receiver<String>,
}

impl ListenChild {
    /// Spawns `command` (a `listen ... -o ndjson`) and waits for its address.
    pub fn spawn(mut command: std::process::Command) -> Self {
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("listen starts");
        let url = listening_url(child.stderr.take().unwrap());
        let lines = line_channel(child.stdout.take().unwrap());
        Self { child, url, lines }
    }

    /// The next JSON line it printed (guarded so a broken feature fails instead
    /// of hanging).
    pub fn next_json(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("listen printed a line");
        serde_json::from_str(&line).unwrap()
    }
}

impl Drop for ListenChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that refuses connections for as long as this lives: bound but
/// not listening, so no other test's server can be given it meanwhile (a port
/// freed by dropping a listener can be, and then answers).
pub struct RefusedPort {
    _socket: socket2::Socket,
    pub port: u16,
}

pub fn refused_port() -> RefusedPort {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("binds");
    let port = socket
        .local_addr()
        .expect("address")
        .as_socket()
        .expect("an IP address")
        .port();
    RefusedPort {
        _socket: socket,
        port,
    }
}
