//! Real message systems for the `--publish` tests, each a private server this
//! test process starts from the distribution's binaries on a free local port
//! (`.ci/run` installs them) and stops when its handle is dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What the publishing tests need when a server's binary is missing.
fn missing(binary: &str, package: &str) -> String {
    format!("the --publish tests need {binary}: apt-get install {package} (.ci/run does)")
}

/// A server's process, killed when stopped or dropped.
#[derive(Default)]
struct Process(Option<Child>);

impl Process {
    fn spawn(command: &mut Command, binary: &str, package: &str) -> Self {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|_| panic!("{}", missing(binary, package)));
        Self(Some(child))
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` to the process (SIGSTOP makes a server hang, SIGCONT
    /// brings it back).
    fn signal(&self, signal: libc::c_int) {
        let pid = self.0.as_ref().expect("the server runs").id();
        // SAFETY: a signal to our own child.
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, signal) }, 0);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits (bounded) until `ready` says the server answers.
fn wait_until(what: &str, seconds: u64, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A free loopback port a server can be started on by number and keep across
/// a restart (see postgres.rs).
fn port() -> u16 {
    super::postgres::port_for_a_server()
}

/// A Redis server of its own: no persistence, on a free port.
pub struct Redis {
    process: Process,
    pub port: u16,
}

impl Redis {
    pub fn start() -> Self {
        let mut redis = Self {
            process: Process::default(),
            port: port(),
        };
        redis.run();
        redis
    }

    fn run(&mut self) {
        self.process = Process::spawn(
            Command::new("redis-server").args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ]),
            "redis-server",
            "redis-server",
        );
        wait_until("redis-server", 20, || {
            self.cli(&["PING"]).as_deref() == Some("PONG")
        });
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
        self.process.stop();
    }

    /// Starts it again on the same port.
    pub fn start_again(&mut self) {
        self.run();
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn hang(&self) {
        self.process.signal(libc::SIGSTOP);
    }

    /// Lets a frozen server go on (SIGCONT).
    pub fn wake(&self) {
        self.process.signal(libc::SIGCONT);
    }
}

/// A NATS server with JetStream of its own, on a free port, its store in a
/// temporary directory kept across a restart.
pub struct Nats {
    process: Process,
    pub port: u16,
    store: tempfile::TempDir,
}

impl Nats {
    pub fn start() -> Self {
        let mut nats = Self {
            process: Process::default(),
            port: port(),
            store: tempfile::tempdir().unwrap(),
        };
        nats.run();
        nats
    }

    fn run(&mut self) {
        self.process = Process::spawn(
            Command::new("nats-server")
                .args([
                    "-a",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-js",
                    "-sd",
                ])
                .arg(self.store.path()),
            "nats-server",
            "nats-server",
        );
        wait_until("nats-server", 20, || {
            std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        });
    }

    /// `nats://127.0.0.1:PORT` and a query.
    pub fn url(&self, query: &str) -> String {
        format!("nats://127.0.0.1:{}{query}", self.port)
    }

    /// Runs `work` with a JetStream context on this server.
    pub fn with_jetstream<R>(
        &self,
        work: impl AsyncFnOnce(async_nats::jetstream::Context) -> R,
    ) -> R {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let client = async_nats::connect(self.url(""))
                .await
                .expect("connects to NATS");
            work(async_nats::jetstream::new(client)).await
        })
    }

    /// How many messages the stream holds.
    pub fn messages(&self, stream: &str) -> u64 {
        let stream = stream.to_string();
        self.with_jetstream(async move |jetstream| {
            let mut stream = jetstream
                .get_stream(stream)
                .await
                .expect("the stream exists");
            stream.info().await.expect("stream info").state.messages
        })
    }

    pub fn stop(&mut self) {
        self.process.stop();
    }

    pub fn start_again(&mut self) {
        self.run();
    }
}

/// A RabbitMQ node of its own, on free ports, its files in a temporary
/// directory (the package's start script runs it as the `rabbitmq` user).
pub struct Rabbit {
    process: Process,
    pub port: u16,
    dist_port: u16,
    node: String,
    dir: tempfile::TempDir,
}

impl Rabbit {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = port();
        let mut rabbit = Self {
            process: Process::default(),
            port,
            dist_port: super::postgres::port_for_a_server(),
            node: format!("bxtest{port}@localhost"),
            dir,
        };
        std::fs::write(rabbit.dir.path().join("plugins"), "[].\n").unwrap();
        if unsafe { libc::geteuid() } == 0 {
            for path in [
                rabbit.dir.path().to_path_buf(),
                rabbit.dir.path().join("plugins"),
            ] {
                let chowned = Command::new("chown").arg("rabbitmq").arg(&path).status();
                assert!(
                    chowned.is_ok_and(|s| s.success()),
                    "{}",
                    missing("the rabbitmq user", "rabbitmq-server")
                );
            }
        }
        rabbit.run();
        rabbit
    }

    fn run(&mut self) {
        let dir = self.dir.path();
        self.process = Process::spawn(
            Command::new("rabbitmq-server")
                .env("RABBITMQ_NODE_PORT", self.port.to_string())
                .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
                .env("RABBITMQ_NODENAME", &self.node)
                .env("RABBITMQ_MNESIA_BASE", dir)
                .env("RABBITMQ_LOG_BASE", dir)
                .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("plugins")),
            "rabbitmq-server",
            "rabbitmq-server",
        );
        wait_until("rabbitmq-server", 90, || self.answers());
    }

    /// Whether an AMQP client can open a connection now.
    fn answers(&self) -> bool {
        if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            return false;
        }
        self.with_channel(async |_| ()).is_some()
    }

    /// `amqp://guest:guest@127.0.0.1:PORT/%2f` and a query.
    pub fn url(&self, query: &str) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f{query}", self.port)
    }

    /// Runs `work` on a channel of a new connection; `None` when none opens.
    pub fn with_channel<R>(&self, work: impl AsyncFnOnce(lapin::Channel) -> R) -> Option<R> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let connection =
                lapin::Connection::connect(&self.url(""), lapin::ConnectionProperties::default())
                    .await
                    .ok()?;
            let channel = connection.create_channel().await.ok()?;
            let result = work(channel).await;
            let _ = connection.close(200, "done".into()).await;
            Some(result)
        })
    }

    /// A durable queue bound to `exchange` (declared as bx-events declares it)
    /// for every routing key: what a worker would read.
    pub fn bound_queue(&self, exchange: &str, queue: &str) {
        let (exchange, queue) = (exchange.to_string(), queue.to_string());
        self.with_channel(async move |channel| {
            use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
            use lapin::types::FieldTable;
            channel
                .exchange_declare(
                    exchange.clone().into(),
                    lapin::ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        durable: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .unwrap();
            channel
                .queue_declare(
                    queue.clone().into(),
                    QueueDeclareOptions {
                        durable: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .unwrap();
            channel
                .queue_bind(
                    queue.into(),
                    exchange.into(),
                    "#".into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .unwrap();
        })
        .expect("RabbitMQ answers");
    }

    /// Takes every message of a queue: (routing key, message id, bx-identity, body).
    pub fn drain(&self, queue: &str) -> Vec<(String, String, String, String)> {
        let queue = queue.to_string();
        self.with_channel(async move |channel| {
            let mut taken = Vec::new();
            while let Some(message) = channel
                .basic_get(
                    queue.clone().into(),
                    lapin::options::BasicGetOptions { no_ack: true },
                )
                .await
                .unwrap()
            {
                let properties = &message.delivery.properties;
                let identity = properties
                    .headers()
                    .as_ref()
                    .and_then(|h| h.inner().get("bx-identity").cloned())
                    .map(|v| match v {
                        lapin::types::AMQPValue::LongString(s) => s.to_string(),
                        other => format!("{other:?}"),
                    })
                    .unwrap_or_default();
                taken.push((
                    message.delivery.routing_key.to_string(),
                    properties
                        .message_id()
                        .as_ref()
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    identity,
                    String::from_utf8_lossy(&message.delivery.data).into_owned(),
                ));
            }
            taken
        })
        .expect("RabbitMQ answers")
    }

    /// Stops the node (`rabbitmqctl stop`, as its service would be stopped).
    pub fn stop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-n", &self.node, "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        self.process.stop();
    }

    pub fn start_again(&mut self) {
        self.run();
    }
}

impl Drop for Rabbit {
    fn drop(&mut self) {
        self.stop();
    }
}
