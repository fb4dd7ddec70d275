//! A real PostgreSQL server for the shared-store tests: the one named by
//! `BX_EVENTS_TEST_POSTGRES` (`.ci/run` starts one), else a private server this
//! test process starts from the distribution's binaries on a free local port and
//! that dies with it. Every test gets a database of its own.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The server's base URL (ending in `/`): tests append a database name.
fn server() -> &'static str {
    static SERVER: OnceLock<String> = OnceLock::new();
    SERVER.get_or_init(|| match std::env::var("BX_EVENTS_TEST_POSTGRES") {
        Ok(url) if !url.trim().is_empty() => {
            let url = url.trim();
            // postgres://user@host:port/db -> postgres://user@host:port/
            match url.rfind('/') {
                Some(at) if at > "postgres://".len() => format!("{}/", &url[..at]),
                _ => format!("{}/", url.trim_end_matches('/')),
            }
        }
        _ => start_private_server(None),
    })
}

/// A private server of its own that speaks TLS with this certificate and key
/// (PEM), for the store's TLS tests; its base URL (ending in `/`).
pub fn tls_server(cert_pem: &str, key_pem: &str) -> String {
    start_private_server(Some((cert_pem, key_pem)))
}

/// A new, empty database on the server; its URL.
pub fn database() -> String {
    let name = format!("bx_test_{:016x}", rand::random::<u64>());
    psql(
        &format!("{}postgres", server()),
        &format!("CREATE DATABASE {name}"),
    );
    format!("{}{name}", server())
}

/// Runs SQL with psql and returns its unaligned, tuples-only output.
pub fn psql(url: &str, sql: &str) -> String {
    let output = Command::new("psql")
        .args([url, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql runs (install postgresql-client)");
    assert!(
        output.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The directory of initdb and postgres: `pg_config --bindir`, else Debian's
/// `/usr/lib/postgresql/VERSION/bin`.
fn binaries() -> PathBuf {
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.sort();
    versions
        .into_iter()
        .rev()
        .find(|dir| dir.join("initdb").exists())
        .unwrap_or_else(|| panic!("{MISSING}"))
}

/// What the store tests need when no server is named, said instead of a panic
/// deep inside a helper.
const MISSING: &str = "the shared-store tests need PostgreSQL: install the server and psql \
(apt-get install postgresql postgresql-client; .ci/run does), or name a running server \
with BX_EVENTS_TEST_POSTGRES=postgres://USER@127.0.0.1:PORT/DB";

/// Stops with [`MISSING`] unless psql is there (every test runs SQL with it).
fn require_psql() {
    let found = Command::new("psql")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(found, "{MISSING}");
}

/// Data directories of servers whose test process has ended (a process-long
/// server cannot remove its own): removed before a new one is made, so runs do
/// not pile up ~50 MB each.
fn remove_abandoned_data_directories(parent: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let named = entry
            .file_name()
            .to_string_lossy()
            .starts_with("bx-events-pg");
        let owner = std::fs::read_to_string(path.join("owner.pid"))
            .ok()
            .and_then(|pid| pid.trim().parse::<i32>().ok());
        // SAFETY: signal 0 only asks whether the process exists.
        let gone = owner.is_some_and(|pid| unsafe { libc::kill(pid, 0) } != 0);
        if named && gone {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// A server's files and settings, ready to start.
struct Prepared {
    bin: PathBuf,
    dir: PathBuf,
    data: PathBuf,
    ids: Option<(u32, u32)>,
    settings: Vec<String>,
    port: u16,
}

impl Prepared {
    /// A fresh data directory (initdb) on a free port. PostgreSQL refuses to run
    /// as root, so as root it runs as the `postgres` user the package creates.
    fn new(tls: Option<(&str, &str)>) -> Self {
        require_psql();
        let bin = binaries();
        let parent = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        remove_abandoned_data_directories(&parent);
        // Kept when this process ends: the server may outlive every test's
        // handle. The next run removes it (owner.pid names a process gone).
        let dir = tempfile::Builder::new()
            .prefix("bx-events-pg")
            .tempdir_in(&parent)
            .unwrap()
            .keep();
        std::fs::write(dir.join("owner.pid"), std::process::id().to_string()).unwrap();
        let data = dir.join("data");
        std::fs::create_dir(&data).unwrap();
        let ids = run_as_postgres();
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
            std::os::unix::fs::chown(&data, Some(uid), Some(gid)).unwrap();
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .stdout(Stdio::null());
        as_user(&mut initdb, ids);
        let status = initdb.status().expect("initdb runs");
        assert!(status.success(), "initdb failed");
        let mut settings = vec![
            "listen_addresses=127.0.0.1".to_string(),
            "fsync=off".to_string(),
            "max_connections=300".to_string(),
        ];
        if let Some((cert, key)) = tls {
            // The server reads its key only when the key file is private to it.
            for (name, text) in [("server.crt", cert), ("server.key", key)] {
                let path = data.join(name);
                std::fs::write(&path, text).unwrap();
                std::fs::set_permissions(
                    &path,
                    std::os::unix::fs::PermissionsExt::from_mode(0o600),
                )
                .unwrap();
                if let Some((uid, gid)) = ids {
                    std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
                }
            }
            settings.push("ssl=on".into());
        }
        let port = port_for_a_server();
        Self {
            bin,
            dir,
            data,
            ids,
            settings,
            port,
        }
    }

    /// The server process; it is killed when the thread that started it ends
    /// (PR_SET_PDEATHSIG).
    fn spawn(&self) -> std::process::Child {
        let mut postgres = Command::new(self.bin.join("postgres"));
        postgres
            .arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(&self.dir)
            .args(self.settings.iter().flat_map(|s| ["-c", s.as_str()]))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        as_user(&mut postgres, self.ids);
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut postgres, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        postgres.spawn().expect("postgres starts")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/", self.port)
    }

    /// Returns once the server answers a query (bounded: a broken server fails
    /// the test).
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let probe = Command::new("psql")
                .args([&format!("{}postgres", self.url()), "-X", "-c", "SELECT 1"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if probe.is_ok_and(|s| s.success()) {
                return;
            }
            assert!(Instant::now() < deadline, "PostgreSQL did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Starts a throwaway server and returns its base URL.
fn start_private_server(tls: Option<(&str, &str)>) -> String {
    let prepared = Prepared::new(tls);
    let (started, ready) = std::sync::mpsc::channel();
    let url = prepared.url();
    // Started from a thread that lives as long as the process, so the server
    // lives as long as the test process.
    std::thread::spawn(move || {
        let child = prepared.spawn();
        started.send(prepared).unwrap();
        let _child = child;
        loop {
            std::thread::park();
        }
    });
    ready.recv().unwrap().wait_ready();
    url
}

/// A private server a test may restart: the faults a fleet's store meets.
pub struct RestartableServer {
    prepared: Prepared,
    child: std::process::Child,
}

impl RestartableServer {
    pub fn start() -> Self {
        let prepared = Prepared::new(None);
        let child = prepared.spawn();
        prepared.wait_ready();
        Self { prepared, child }
    }

    /// A new, empty database on this server; its URL.
    pub fn database(&self) -> String {
        let name = format!("bx_test_{:016x}", rand::random::<u64>());
        psql(
            &format!("{}postgres", self.prepared.url()),
            &format!("CREATE DATABASE {name}"),
        );
        format!("{}{name}", self.prepared.url())
    }

    /// Stops the server as `pg_ctl restart -m fast` does (SIGINT: every session
    /// is ended), and starts it again on the same port and data.
    pub fn restart(&mut self) {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let _ = self.child.wait();
        self.child = self.prepared.spawn();
        self.prepared.wait_ready();
    }
}

impl Drop for RestartableServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.prepared.dir);
    }
}

/// The `postgres` user's ids when this process is root.
fn run_as_postgres() -> Option<(u32, u32)> {
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = std::ffi::CString::new("postgres").unwrap();
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(
        !entry.is_null(),
        "running as root needs the `postgres` user that Debian's postgresql package creates"
    );
    let entry = unsafe { &*entry };
    Some((entry.pw_uid, entry.pw_gid))
}

fn as_user(command: &mut Command, ids: Option<(u32, u32)>) {
    if let Some((uid, gid)) = ids {
        std::os::unix::process::CommandExt::gid(command, gid);
        std::os::unix::process::CommandExt::uid(command, uid);
    }
}

/// A free loopback port below the kernel's ephemeral range, for a server that
/// must be started by number (PostgreSQL) and keep it across a restart: ports
/// handed out for port 0 (every sandbox, listener and client connection of the
/// other tests) never come from there, so none of them can take it meanwhile.
pub fn port_for_a_server() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static TRIED: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low: u32 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    const LOW: u32 = 20000;
    let span = ephemeral_low.saturating_sub(LOW).max(1000);
    // Another test process (a parallel `cargo test`) starts elsewhere in the span.
    let start = std::process::id().wrapping_mul(7919);
    for _ in 0..span {
        let offset = start.wrapping_add(TRIED.fetch_add(1, Ordering::Relaxed)) % span;
        let Ok(port) = u16::try_from(LOW + offset) else {
            continue;
        };
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {LOW} and {ephemeral_low}");
}
