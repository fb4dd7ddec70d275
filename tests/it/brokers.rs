//! Real message systems for the `--publish` tests, each a private server this
//! test process starts from the distribution's binaries on a free local port
//! (`.ci/run` installs them) and stops when its handle is dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What the publishing tests need when a server's binary is missing.
fn missing(binary: &str, package: &str) -> String {
    format!("the --publish tests need {binary}: apt-get install {package} (.ci/run does)")
}

/// A free loopback port a server can be started on by number and keep across
/// a restart (see postgres.rs).
fn port() -> u16 {
    super::postgres::port_for_a_server()
}

/// A Redis server of its own: no persistence, on a free port.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
}

impl Redis {
    pub fn start() -> Self {
        let mut redis = Self {
            child: None,
            port: port(),
        };
        redis.run();
        redis
    }

    fn run(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|_| panic!("{}", missing("redis-server", "redis-server")));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.cli(&["PING"]).as_deref() != Some("PONG") {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:PORT/0` and a query.
    pub fn url(&self, query: &str) -> String {
        format!("redis://127.0.0.1:{}/0{query}", self.port)
    }

    /// A command through redis-cli; its output, or `None` when the server does
    /// not answer.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--no-auth-warning"])
            .args(args)
            .output()
            .unwrap_or_else(|_| panic!("{}", missing("redis-cli", "redis-tools")));
        let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
        (output.status.success() && !text.starts_with("Could not connect")).then_some(text)
    }

    /// Stops the server (its data is gone: it keeps none).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn start_again(&mut self) {
        self.run();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
