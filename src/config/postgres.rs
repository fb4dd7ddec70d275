//! The shared store on PostgreSQL (`--store postgres://...`): profiles and their
//! secrets, the per-portal rate-limit buckets and the consume journals of every
//! process and machine that uses it (docs/fleet.md).
//!
//! - Profiles are rows; an update locks the table against other writers, reads
//!   every row, and writes back only the rows it changed, so a token refreshed
//!   meanwhile by another machine is never overwritten with an older one.
//! - A token refresh holds a session advisory lock on its profile, on a
//!   connection of its own: a process that dies lets go with its connection.
//! - A consume journal is a list of rows, held by a session advisory lock that a
//!   consumer takes without waiting (another holder means another consumer).
//! - Secrets are stored as JSON, or sealed with AES-256-GCM when
//!   `BX_EVENTS_STORE_KEY` holds a 32-byte key (64 hex digits); the profile name is
//!   the additional data, so a sealed value cannot be moved to another row.
//!
//! - A lost or hung connection (a server restart, a terminated backend, a
//!   frozen network) is replaced with backoff, announced once; each operation
//!   waits up to the store's patience and is then an error. The first
//!   connection of a process fails at once, so a wrong URL is not waited out.
//! - A row that cannot be opened is its own profile's failure: reads and writes
//!   of the other profiles go on.
//!
//! The store's calls are synchronous like the file store's; they run on a
//! runtime of the store's own (see [`store_runtime`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio_postgres::types::Type;
use tokio_postgres::Client;

use super::error::ConfigError;
use super::model::{ConfigFile, CredentialsFile, ProfileSettings, Secrets};
use crate::bitrix::ratelimit::BucketStore;
use crate::bitrix::Secret;

use super::env::STORE_KEY;
use super::seal::{row_binding, Sealer, SEALED, SEALED_NAME_ONLY};

/// Advisory lock class of bx-events (the first of the two-integer lock keys).
const LOCK_CLASS: i32 = 0x6278_6576; // "bxev"

/// What the current schema version is, and how to get there from each older one.
const MIGRATIONS: &[&str] = &[
    // 1: profiles, the current profile, buckets, journals.
    "CREATE TABLE bx_events_profiles (
        name text PRIMARY KEY,
        settings text NOT NULL,
        secrets text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE bx_events_settings (key text PRIMARY KEY, value text NOT NULL);
    CREATE TABLE bx_events_buckets (key text PRIMARY KEY, state text NOT NULL);
    CREATE TABLE bx_events_journal (
        journal text NOT NULL,
        seq bigserial NOT NULL,
        entry text NOT NULL,
        PRIMARY KEY (journal, seq)
    );",
];

/// How long one statement may take before its connection is taken for hung and
/// replaced (a frozen server or a silent network must not freeze the command).
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a refresh waits for another process's refresh of the same profile.
const LOCK_WAIT: Duration = Duration::from_secs(120);
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an operation keeps reconnecting after the store was lost, by default
/// (a server restart takes seconds; a failover, a minute or two).
const DEFAULT_PATIENCE: Duration = Duration::from_secs(180);
/// The longest pause between two reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Pauses between reconnection attempts: 0.1 s, doubling up to [`MAX_BACKOFF`],
/// for as long as the store's patience lasts.
struct Backoff {
    deadline: Instant,
    pause: Duration,
}

impl Backoff {
    fn new(patience: Duration) -> Self {
        Self {
            deadline: Instant::now() + patience,
            pause: Duration::from_millis(100),
        }
    }

    /// The next pause, or `None` once waiting it would pass the deadline.
    fn next(&mut self) -> Option<Duration> {
        if Instant::now() + self.pause > self.deadline {
            return None;
        }
        let pause = self.pause;
        self.pause = (self.pause * 2).min(MAX_BACKOFF);
        Some(pause)
    }
}

/// The store's own runtime: every connection's driver task and every statement
/// runs on it, never on the caller's runtime. Store calls are synchronous and
/// block their caller's thread; the connections they wait on must not depend on
/// that thread (or on its runtime's other tasks) to make progress, or a fleet's
/// concurrent turns can park each other for good.
fn store_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bx-events-store")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the store's runtime: {e}"))
    })
}

/// Runs a future to completion with the store's runtime as its context (its
/// connections' tasks and timers live there), from synchronous code. Timers
/// must be made inside the future (`async { sleep(d).await }`): one made before
/// the call would belong to the caller's runtime, or panic where there is none.
///
/// It never uses `Handle::block_on` on a thread that is already inside a tokio
/// `block_on` (the command's main thread is): both would park on the same
/// per-thread parker, and the inner wait would consume a wake-up meant for the
/// outer one, which then sleeps for ever (a fleet's drain stopped mid-turn that
/// way, with no timer pending). Here the caller parks on a waker of its own.
fn wait<F: Future>(future: F) -> F::Output {
    let store = store_runtime().handle();
    match tokio::runtime::Handle::try_current() {
        // A worker hands its other tasks over first.
        Ok(_) => tokio::task::block_in_place(|| {
            let _context = store.enter();
            park_until_ready(future)
        }),
        Err(_) => store.block_on(future),
    }
}

/// Polls `future` on this thread, parking the thread (`std::thread::park`, not
/// tokio's parker) until its waker is called.
fn park_until_ready<F: Future>(future: F) -> F::Output {
    struct ThreadWaker(std::thread::Thread);
    impl std::task::Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut context = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}

/// PostgreSQL's own reason for a failure: its message and SQLSTATE for a server
/// error (a wrong password, a missing database), else the driver's error and its
/// cause.
pub(crate) fn reason(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}

fn failed(what: &str, error: &tokio_postgres::Error) -> ConfigError {
    ConfigError::Shared(format!("{what}: {}", reason(error)))
}

/// Whether an error means the connection is gone (closed, reset, the server
/// shutting down or the session terminated), so a new one may succeed.
fn is_connection_loss(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    if let Some(db) = error.as_db_error() {
        let code = db.code().code();
        // 08: connection exceptions; 57P01-57P03: admin shutdown, crash shutdown,
        // cannot connect now (starting up).
        return code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03");
    }
    std::error::Error::source(error).is_some_and(|cause| cause.is::<std::io::Error>())
}

/// Why one attempt of an operation did not succeed.
enum Attempt {
    /// The connection is gone or hung: reconnect and try again.
    Lost(String),
    /// A failure a new connection would not change.
    Failed(ConfigError),
}

impl Attempt {
    fn of(what: &str, error: tokio_postgres::Error) -> Self {
        if is_connection_loss(&error) {
            Self::Lost(reason(&error))
        } else {
            Self::Failed(failed(what, &error))
        }
    }
}

impl From<ConfigError> for Attempt {
    fn from(error: ConfigError) -> Self {
        Self::Failed(error)
    }
}

/// A connection to the shared store.
pub struct PgStore {
    /// The URL as given: it may hold a password, so it is never shown.
    url: Secret,
    /// `postgres://HOST:PORT/DB`, without user or password, for messages.
    described: String,
    /// `--ca-cert` (a private CA the server's certificate may come from) and
    /// the TLS set-up made from it.
    tls: Tls,
    /// The connection for plain queries and updates, made on first use (so
    /// commands that never read a profile never connect), and made again when
    /// it is lost.
    client: std::sync::Mutex<Option<Shared>>,
    /// Whether a connection was ever made: the first connection fails fast (a
    /// wrong URL is not waited out); a lost one is waited for.
    connected_once: AtomicBool,
    /// Whether the loss of the store has been reported and not yet its return:
    /// a long outage is announced once, not per statement.
    outage_reported: AtomicBool,
    /// How long an operation keeps reconnecting before it fails.
    patience: Duration,
    /// What the first connection's migration did (schema versions before, after).
    first_migration: std::sync::Mutex<Option<(usize, usize)>>,
    /// Connections of closed journals, their locks released, for the next
    /// journals to use: a fleet's drain opens a journal per portal turn, and a
    /// new connection costs the server a process of its own.
    idle_journal_connections: IdleConnections,
    key: Option<Sealer>,
}

/// The shared connection. Single statements share it (`read`): tokio-postgres
/// pipelines them, so a fleet's concurrent requests do not queue behind one
/// another's round trips; a transaction needs it alone (`write`).
type Shared = Arc<tokio::sync::RwLock<Client>>;

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("store", &self.described)
            .field("sealed", &self.key.is_some())
            .finish()
    }
}

/// Certificates trusted beside the system's for the store's TLS (`--ca-cert`).
type ExtraRoots = Vec<rustls::pki_types::CertificateDer<'static>>;

/// The TLS set-up every connection of one store shares, made on first use:
/// reading the system's trust store takes milliseconds, too long to repeat per
/// connection (a fleet's drain opens one per portal for its journal).
#[derive(Clone)]
struct Tls {
    extra_roots: Arc<ExtraRoots>,
    /// `None` inside when no certificate store is usable: only servers without
    /// TLS can be reached then.
    made: Arc<OnceLock<Option<tokio_postgres_rustls::MakeRustlsConnect>>>,
}

impl Tls {
    fn new(extra_roots: ExtraRoots) -> Self {
        Self {
            extra_roots: Arc::new(extra_roots),
            made: Arc::new(OnceLock::new()),
        }
    }

    fn connector(&self) -> Option<tokio_postgres_rustls::MakeRustlsConnect> {
        self.made
            .get_or_init(|| {
                tls_config(&self.extra_roots)
                    .ok()
                    .map(tokio_postgres_rustls::MakeRustlsConnect::new)
            })
            .clone()
    }
}

/// The TLS set-up: the system's trust store, and the extra roots.
fn tls_config(extra_roots: &ExtraRoots) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots.clone(), provider)?;
    Ok(rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// Opens one connection (TLS as the URL's `sslmode` says), bounded in time and
/// with TCP keepalives so a vanished server is noticed; its driver task runs on
/// the store's runtime.
async fn connect(url: &str, tls: &Tls) -> Result<Client, tokio_postgres::Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config: tokio_postgres::Config = url.parse()?;
    if config.get_password().is_none() {
        if let Some(password) = password_from_file(&config) {
            config.password(password);
        }
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30));
    let client = match tls.connector() {
        Some(tls) => {
            let (client, connection) = config.connect(tls).await?;
            store_runtime().spawn(async move {
                let _ = connection.await;
            });
            client
        }
        // No usable certificate store: only servers without TLS can be reached.
        None => {
            let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
            store_runtime().spawn(async move {
                let _ = connection.await;
            });
            client
        }
    };
    Ok(client)
}

/// A connection to a database other than the store (`offline consume
/// --publish postgres://...`), made as the store's are: the password file,
/// the time limit, keepalives, and TLS as the URL's `sslmode` says.
pub(crate) async fn connect_to(url: &str) -> Result<Client, tokio_postgres::Error> {
    connect(url, &Tls::new(Vec::new())).await
}

/// The password for a URL without one, from `PGPASSFILE` or `~/.pgpass` (the
/// form libpq reads), so it need not be on a command line.
fn password_from_file(config: &tokio_postgres::Config) -> Option<String> {
    let path = super::pgpass::location()?;
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(name)) => name.clone(),
        // libpq matches a socket connection as `localhost`.
        _ => "localhost".to_string(),
    };
    let user = config
        .get_user()
        .map(str::to_string)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_default();
    let target = super::pgpass::Target {
        host: &host,
        port: config.get_ports().first().copied().unwrap_or(5432),
        database: config.get_dbname().unwrap_or(&user),
        user: &user,
    };
    match super::pgpass::lookup(&path, &target) {
        Ok(password) => password,
        Err(reason) => {
            tracing::warn!("{reason}");
            None
        }
    }
}

/// Creates or upgrades the schema, one version at a time, under a lock so that
/// processes starting together migrate once. Returns the versions before and after.
async fn migrate_on(client: &mut Client) -> Result<(usize, usize), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1, 0)", &[&LOCK_CLASS])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS bx_events_schema (version integer NOT NULL)")
        .await?;
    let rows = tx
        .query("SELECT version FROM bx_events_schema", &[])
        .await?;
    let before = rows
        .first()
        .map(|row| row.get::<_, i32>(0).max(0) as usize)
        .unwrap_or(0);
    for migration in MIGRATIONS.iter().skip(before) {
        tx.batch_execute(migration).await?;
    }
    let after = MIGRATIONS.len().max(before);
    if rows.is_empty() {
        tx.execute(
            "INSERT INTO bx_events_schema (version) VALUES ($1)",
            &[&(after as i32)],
        )
        .await?;
    } else if after != before {
        tx.execute(
            "UPDATE bx_events_schema SET version = $1",
            &[&(after as i32)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok((before, after))
}

/// `postgres://HOST:PORT/DB` of a URL, or why it is not one.
fn describe(url: &str) -> Result<String, ConfigError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(ConfigError::Invalid(
            "--store takes a PostgreSQL URL: postgres://USER@HOST:PORT/DATABASE".into(),
        ));
    }
    let config: tokio_postgres::Config = url.parse().map_err(|e| {
        ConfigError::Invalid(format!("--store is not a usable PostgreSQL URL: {e}"))
    })?;
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("");
    Ok(format!("postgres://{host}:{port}/{db}"))
}

impl PgStore {
    /// A store at `url`: checked now, connected (and its schema brought up to
    /// date) on first use. `extra_ca_pem` is trusted beside the system's
    /// certificates, for a server behind a private CA.
    pub fn open(url: &str, extra_ca_pem: Option<&[u8]>) -> Result<Arc<Self>, ConfigError> {
        use rustls::pki_types::pem::PemObject;
        let extra_roots = match extra_ca_pem {
            Some(pem) => rustls::pki_types::CertificateDer::pem_slice_iter(pem)
                .collect::<Result<ExtraRoots, _>>()
                .map_err(|e| ConfigError::Invalid(format!("--ca-cert: {e}")))?,
            None => Vec::new(),
        };
        Ok(Arc::new(Self {
            url: Secret::new(url.to_string()),
            described: describe(url)?,
            tls: Tls::new(extra_roots),
            key: Sealer::from_env()?,
            client: std::sync::Mutex::new(None),
            connected_once: AtomicBool::new(false),
            outage_reported: AtomicBool::new(false),
            patience: DEFAULT_PATIENCE,
            first_migration: std::sync::Mutex::new(None),
            idle_journal_connections: IdleConnections::default(),
        }))
    }

    /// `postgres://HOST:PORT/DB`, for messages.
    pub fn describe(&self) -> &str {
        &self.described
    }

    /// The shared connection: the current one while it lives, else a new one
    /// (its schema migrated). Connecting again after a loss is waited for with
    /// backoff up to the store's patience; the very first connection, and
    /// failures a retry cannot fix (a wrong password, a missing database), fail
    /// at once.
    async fn live(&self, what: &str, backoff: &mut Backoff) -> Result<Shared, ConfigError> {
        loop {
            {
                let slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(client) = slot.as_ref() {
                    if !client.try_read().is_ok_and(|c| c.is_closed()) {
                        return Ok(client.clone());
                    }
                }
            }
            match self.connect_fresh().await {
                Ok(client) => {
                    let client = Arc::new(tokio::sync::RwLock::new(client));
                    *self.client.lock().unwrap_or_else(|p| p.into_inner()) = Some(client.clone());
                    self.connected_once.store(true, Ordering::SeqCst);
                    return Ok(client);
                }
                Err(Attempt::Lost(why)) if self.connected_once.load(Ordering::SeqCst) => {
                    self.report_outage(&why);
                    let pause = backoff.next().ok_or_else(|| self.gave_up(what, &why))?;
                    tokio::time::sleep(pause).await;
                }
                Err(Attempt::Lost(why)) => {
                    return Err(ConfigError::Shared(format!(
                        "cannot connect to the store {}: {why}",
                        self.described
                    )))
                }
                Err(Attempt::Failed(error)) => return Err(error),
            }
        }
    }

    async fn connect_fresh(&self) -> Result<Client, Attempt> {
        let what = format!("cannot connect to the store {}", self.described);
        let mut client = match tokio::time::timeout(
            CONNECT_TIMEOUT + Duration::from_secs(1),
            connect(self.url.expose(), &self.tls),
        )
        .await
        {
            Ok(Ok(client)) => client,
            Ok(Err(error)) => return Err(Attempt::of(&what, error)),
            Err(_) => return Err(Attempt::Lost("no answer in time".into())),
        };
        let migrated = tokio::time::timeout(STATEMENT_TIMEOUT, migrate_on(&mut client))
            .await
            .map_err(|_| Attempt::Lost("no answer in time".into()))?
            .map_err(|e| Attempt::of(&format!("cannot prepare the store {}", self.described), e))?;
        let mut first = self
            .first_migration
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !self.connected_once.load(Ordering::SeqCst) {
            *first = Some(migrated);
        }
        Ok(client)
    }

    /// Forgets `lost` as the shared connection (unless another caller replaced it
    /// already), so the next statement connects again.
    fn drop_connection(&self, lost: &Shared) {
        let mut slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if slot
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, lost))
        {
            *slot = None;
        }
    }

    /// Says once per outage that the store was lost and is being waited for.
    fn report_outage(&self, why: &str) {
        if !self.outage_reported.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                "lost the connection to the store {} ({why}); reconnecting with backoff for up to {} s",
                self.described,
                self.patience.as_secs()
            );
        }
    }

    fn report_recovery(&self) {
        if self.outage_reported.swap(false, Ordering::SeqCst) {
            tracing::warn!("the store {} is reachable again", self.described);
        }
    }

    fn gave_up(&self, what: &str, why: &str) -> ConfigError {
        ConfigError::Shared(format!(
            "{what}: the store stayed unreachable for {} s ({why})",
            self.patience.as_secs()
        ))
    }

    /// Runs `op` on the shared connection; a lost or hung connection is replaced
    /// and `op` run again, with backoff, up to the store's patience. `op` must be
    /// safe to repeat: its first run may have taken effect before the connection
    /// was lost.
    async fn run<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, ConfigError>
    where
        F: FnMut(Shared) -> Fut,
        Fut: Future<Output = Result<T, Attempt>>,
    {
        let mut backoff = Backoff::new(self.patience);
        loop {
            let client = self.live(what, &mut backoff).await?;
            let why = match tokio::time::timeout(STATEMENT_TIMEOUT, op(client.clone())).await {
                Ok(Ok(value)) => {
                    self.report_recovery();
                    return Ok(value);
                }
                Ok(Err(Attempt::Failed(error))) => return Err(error),
                Ok(Err(Attempt::Lost(why))) => why,
                Err(_) => format!("no answer within {} s", STATEMENT_TIMEOUT.as_secs()),
            };
            self.drop_connection(&client);
            self.report_outage(&why);
            let pause = backoff.next().ok_or_else(|| self.gave_up(what, &why))?;
            tokio::time::sleep(pause).await;
        }
    }

    /// Creates or upgrades the schema (as the first use does), seals again what
    /// earlier versions left unbound to its settings (when a key is set), and
    /// returns the schema versions before and after.
    pub fn migrate(&self) -> Result<(usize, usize), ConfigError> {
        wait(async {
            let what = format!("cannot prepare the store {}", self.described);
            let conn = self.live(&what, &mut Backoff::new(self.patience)).await?;
            let first = self
                .first_migration
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            let versions = match first {
                Some(first) => first,
                None => migrate_on(&mut *conn.write().await).await.map_err(|e| {
                    failed(&format!("cannot prepare the store {}", self.described), &e)
                })?,
            };
            Ok(versions)
        })
    }

    /// Seals every row that an earlier version sealed without its settings, or
    /// that holds plain secrets, with the key (`store init`, run by an operator
    /// who checked the rows). Returns the names of the rows sealed.
    pub fn reseal(&self) -> Result<Vec<String>, ConfigError> {
        let Some(key) = &self.key else {
            return Ok(Vec::new());
        };
        wait(self.run("cannot seal the store's rows", |conn| async move {
            let mut client = conn.write().await;
            let what = format!("cannot write the store {}", self.described);
            let tx = client
                .transaction()
                .await
                .map_err(|e| Attempt::of(&what, e))?;
            let rows = tx
                .query(
                    "SELECT name, settings, secrets FROM bx_events_profiles FOR UPDATE",
                    &[],
                )
                .await
                .map_err(|e| Attempt::of(&what, e))?;
            let mut sealed = Vec::new();
            for row in &rows {
                let (name, settings, stored): (String, String, String) =
                    (row.get(0), row.get(1), row.get(2));
                let plain = if let Some(old) = stored.strip_prefix(SEALED_NAME_ONLY) {
                    key.open(&name, &name, old)?
                } else if stored.starts_with(SEALED) {
                    continue;
                } else {
                    stored.clone()
                };
                let resealed = key.seal(&row_binding(&name, &settings), &plain)?;
                tx.execute(
                    "UPDATE bx_events_profiles SET secrets = $2 WHERE name = $1",
                    &[&name, &resealed],
                )
                .await
                .map_err(|e| Attempt::of(&what, e))?;
                sealed.push(name);
            }
            tx.commit().await.map_err(|e| Attempt::of(&what, e))?;
            Ok(sealed)
        }))
    }

    /// Every usable profile's settings, and the current profile. A row whose
    /// settings are damaged is left out (and named in a warning).
    pub fn read_config(&self) -> Result<ConfigFile, ConfigError> {
        let (config, _) = self.read_all(false)?;
        Ok(config)
    }

    /// Every usable profile's secrets; rows that cannot be opened are left out
    /// (and named in a warning): they are their own profiles' failures.
    pub fn read_credentials(&self) -> Result<CredentialsFile, ConfigError> {
        let (_, credentials) = self.read_all(true)?;
        Ok(credentials)
    }

    fn read_all(&self, secrets: bool) -> Result<(ConfigFile, CredentialsFile), ConfigError> {
        let what = format!("cannot read the store {}", self.described);
        let (profiles, current) = wait(self.run(&what, |conn| {
            let what = what.clone();
            async move {
                let client = conn.read().await;
                let profiles = client
                    .query(
                        if secrets {
                            "SELECT name, settings, secrets FROM bx_events_profiles"
                        } else {
                            "SELECT name, settings, '' FROM bx_events_profiles"
                        },
                        &[],
                    )
                    .await
                    .map_err(|e| Attempt::of(&what, e))?;
                let current = client
                    .query(
                        "SELECT value FROM bx_events_settings WHERE key = 'current'",
                        &[],
                    )
                    .await
                    .map_err(|e| Attempt::of(&what, e))?;
                Ok((profiles, current))
            }
        }))?;
        let mut config = ConfigFile {
            current: current.first().map(|row| row.get(0)),
            profiles: BTreeMap::new(),
        };
        let mut credentials = CredentialsFile::default();
        for row in profiles {
            let (name, settings_text, stored): (String, String, String) =
                (row.get(0), row.get(1), row.get(2));
            match self.open_row(&name, &settings_text, secrets.then_some(stored.as_str())) {
                Ok((settings, opened)) => {
                    config.profiles.insert(name.clone(), settings);
                    if let Some(opened) = opened {
                        credentials.profiles.insert(name, opened);
                    }
                }
                Err(error) => {
                    tracing::warn!("{error}; other profiles are not affected");
                    // Settings that parse are still listed (so the profile can be
                    // named and replaced); its secrets are not used.
                    if let Ok(settings) = serde_json::from_str(&settings_text) {
                        config.profiles.insert(name, settings);
                    }
                }
            }
        }
        Ok((config, credentials))
    }

    /// One row's settings and (when `stored` is given) its opened secrets.
    fn open_row(
        &self,
        name: &str,
        settings_text: &str,
        stored: Option<&str>,
    ) -> Result<(ProfileSettings, Option<Secrets>), ConfigError> {
        let settings: ProfileSettings = serde_json::from_str(settings_text).map_err(|e| {
            self.damaged(
                name,
                &format!("its settings are not what bx-events writes ({e})"),
            )
        })?;
        let secrets = stored
            .map(|stored| self.unseal(name, settings_text, stored))
            .transpose()?;
        Ok((settings, secrets))
    }

    fn damaged(&self, name: &str, detail: &str) -> ConfigError {
        ConfigError::Damaged {
            profile: name.to_string(),
            detail: format!("{detail} (store {})", self.described),
        }
    }

    /// Reads both halves under a lock that keeps other writers out, applies
    /// `change`, and writes back the rows it changed (and deletes the removed).
    /// Rows that cannot be opened are not given to `change` and are left as
    /// they are, unless `change` writes a profile of that name anew.
    ///
    /// When the connection is lost after `change` ran, the same writes are made
    /// again on a new connection, provided the rows they touch still hold what
    /// was read (or already hold the writes: the first commit went through).
    pub fn update<R>(
        &self,
        change: impl FnOnce(&mut ConfigFile, &mut CredentialsFile) -> Result<R, ConfigError>,
    ) -> Result<R, ConfigError> {
        let what = format!("cannot write the store {}", self.described);
        let change = std::sync::Mutex::new(Some(change));
        let planned: std::sync::Mutex<Option<(Plan, R)>> = std::sync::Mutex::new(None);
        wait(self.run(&what, |conn| {
            let (what, change, planned) = (what.clone(), &change, &planned);
            async move {
                let mut client = conn.write().await;
                let tx = client.transaction().await.map_err(|e| Attempt::of(&what, e))?;
                tx.batch_execute("LOCK TABLE bx_events_profiles IN SHARE ROW EXCLUSIVE MODE")
                    .await
                    .map_err(|e| Attempt::of(&what, e))?;
                let snapshot = Snapshot::read(&tx)
                    .await
                    .map_err(|e| Attempt::of(&what, e))?;
                let replay = planned
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .map(|(plan, _)| plan.clone());
                let plan = match replay {
                    Some(plan) => {
                        if plan.already_applied(&snapshot) {
                            return Ok(());
                        }
                        if !plan.still_applies(&snapshot) {
                            return Err(Attempt::Failed(ConfigError::Shared(format!(
                                "{what}: the connection was lost while writing, and another machine changed the same profiles meanwhile; nothing of this change was kept: run the command again"
                            ))));
                        }
                        plan
                    }
                    None => {
                        let Some(change) = change.lock().unwrap_or_else(|p| p.into_inner()).take() else {
                            return Err(Attempt::Failed(ConfigError::Shared(format!("{what}: the change was lost"))));
                        };
                        let (plan, result) = self.plan(&snapshot, change)?;
                        let plan_copy = plan.clone();
                        *planned.lock().unwrap_or_else(|p| p.into_inner()) = Some((plan, result));
                        plan_copy
                    }
                };
                plan.apply(&tx).await.map_err(|e| Attempt::of(&what, e))?;
                tx.commit().await.map_err(|e| Attempt::of(&what, e))?;
                Ok(())
            }
        }))?;
        let (_, result) = planned
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .ok_or_else(|| ConfigError::Shared(format!("{what}: nothing was planned")))?;
        Ok(result)
    }

    /// Runs `change` on the usable rows of `snapshot` and works out the writes.
    fn plan<R>(
        &self,
        snapshot: &Snapshot,
        change: impl FnOnce(&mut ConfigFile, &mut CredentialsFile) -> Result<R, ConfigError>,
    ) -> Result<(Plan, R), ConfigError> {
        let mut config = ConfigFile {
            current: snapshot.current.clone(),
            profiles: BTreeMap::new(),
        };
        let mut credentials = CredentialsFile::default();
        for (name, (settings_text, stored)) in &snapshot.rows {
            match self.open_row(name, settings_text, Some(stored)) {
                Ok((settings, secrets)) => {
                    config.profiles.insert(name.clone(), settings);
                    credentials
                        .profiles
                        .insert(name.clone(), secrets.unwrap_or_default());
                }
                Err(error) => tracing::warn!("{error}; other profiles are not affected"),
            }
        }
        let (before_config, before_credentials) = (config.clone(), credentials.clone());
        let result = change(&mut config, &mut credentials)?;
        let mut plan = Plan {
            expected: BTreeMap::new(),
            upserts: Vec::new(),
            deletes: Vec::new(),
            current: None,
            expected_current: snapshot.current.clone(),
        };
        for (name, settings) in &config.profiles {
            let secrets = credentials.profiles.get(name).cloned().unwrap_or_default();
            let unchanged = before_config.profiles.get(name) == Some(settings)
                && before_credentials.profiles.get(name) == Some(&secrets);
            if unchanged {
                continue;
            }
            let settings_text =
                serde_json::to_string(settings).map_err(|e| ConfigError::Invalid(e.to_string()))?;
            let sealed = self.seal(name, &settings_text, &secrets)?;
            plan.expected
                .insert(name.clone(), snapshot.rows.get(name).cloned());
            plan.upserts.push((name.clone(), settings_text, sealed));
        }
        for name in before_config.profiles.keys() {
            if !config.profiles.contains_key(name) {
                plan.expected
                    .insert(name.clone(), snapshot.rows.get(name).cloned());
                plan.deletes.push(name.clone());
            }
        }
        if config.current != before_config.current {
            plan.current = Some(config.current.clone());
        }
        Ok((plan, result))
    }

    /// One profile's secrets, read now.
    pub fn secrets_of(&self, name: &str) -> Result<Option<Secrets>, ConfigError> {
        let what = format!("cannot read the store {}", self.described);
        let row = wait(self.run(&what, |conn| {
            let what = what.clone();
            async move {
                let client = conn.read().await;
                client
                    .query_typed_opt(
                        "SELECT settings, secrets FROM bx_events_profiles WHERE name = $1",
                        &[(&name, Type::TEXT)],
                    )
                    .await
                    .map_err(|e| Attempt::of(&what, e))
            }
        }))?;
        row.map(|row| self.unseal(name, row.get(0), row.get(1)))
            .transpose()
    }

    /// Replaces one profile's secrets (a refreshed token pair), nothing else,
    /// provided the row still holds `replaces` as its refresh token (when given):
    /// a pair written back after an outage must not overwrite a newer one (a
    /// reinstall captured meanwhile). Returns whether the row was written.
    pub fn save_secrets(
        &self,
        name: &str,
        secrets: &Secrets,
        replaces: Option<&Secret>,
    ) -> Result<bool, ConfigError> {
        let what = format!("cannot write the store {}", self.described);
        wait(self.run(&what, |conn| {
            let what = what.clone();
            async move {
                let mut client = conn.write().await;
                let tx = client.transaction().await.map_err(|e| Attempt::of(&what, e))?;
                let Some(row) = tx
                    .query_opt(
                        "SELECT settings, secrets FROM bx_events_profiles WHERE name = $1 FOR UPDATE",
                        &[&name],
                    )
                    .await
                    .map_err(|e| Attempt::of(&what, e))?
                else {
                    return Ok(false);
                };
                let (settings_text, stored): (String, String) = (row.get(0), row.get(1));
                let sealed = self.seal(name, &settings_text, secrets)?;
                if stored == sealed {
                    return Ok(true);
                }
                if let Some(replaces) = replaces {
                    let current = self.unseal(name, &settings_text, &stored)?;
                    if current.refresh_token.as_ref() == secrets.refresh_token.as_ref() {
                        return Ok(true);
                    }
                    if current.refresh_token.as_ref() != Some(replaces) {
                        return Ok(false);
                    }
                }
                tx.execute(
                    "UPDATE bx_events_profiles SET secrets = $2, updated_at = now() WHERE name = $1",
                    &[&name, &sealed],
                )
                .await
                .map_err(|e| Attempt::of(&what, e))?;
                tx.commit().await.map_err(|e| Attempt::of(&what, e))?;
                Ok(true)
            }
        }))
    }

    /// Makes sure the store answers now (reconnecting if it must): asked before
    /// spending something only the store can keep, such as a refresh token.
    pub fn ensure_reachable(&self) -> Result<(), ConfigError> {
        let what = format!("cannot reach the store {}", self.described);
        wait(self.run(&what, |conn| {
            let what = what.clone();
            async move {
                conn.read()
                    .await
                    .simple_query("SELECT 1")
                    .await
                    .map_err(|e| Attempt::of(&what, e))?;
                Ok(())
            }
        }))
    }

    /// Waits for the exclusive right to refresh a profile's tokens, across every
    /// process using the store. Released when the guard is dropped, or when the
    /// holder dies (its connection ends).
    pub fn lock_profile(&self, name: &str) -> Result<PgLock, ConfigError> {
        let key = format!("profile {name}");
        let what = format!("cannot lock profile '{name}' in {}", self.described);
        let mut backoff = Backoff::new(self.patience);
        loop {
            let attempt = wait(async {
                let client = connect(self.url.expose(), &self.tls)
                    .await
                    .map_err(|e| Attempt::of(&what, e))?;
                match tokio::time::timeout(
                    LOCK_WAIT,
                    client.execute(
                        "SELECT pg_advisory_lock($1, hashtext($2))",
                        &[&LOCK_CLASS, &key],
                    ),
                )
                .await
                {
                    Ok(Ok(_)) => Ok(client),
                    Ok(Err(error)) => Err(Attempt::of(&what, error)),
                    Err(_) => Err(Attempt::Failed(ConfigError::Shared(format!(
                        "{what}: another process has been refreshing it for over {} s",
                        LOCK_WAIT.as_secs()
                    )))),
                }
            });
            match attempt {
                Ok(client) => {
                    self.report_recovery();
                    return Ok(PgLock { _client: client });
                }
                Err(Attempt::Lost(why)) if self.connected_once.load(Ordering::SeqCst) => {
                    self.report_outage(&why);
                    let pause = backoff.next().ok_or_else(|| self.gave_up(&what, &why))?;
                    // Through the store's runtime: the caller may be an async task.
                    wait(async { tokio::time::sleep(pause).await });
                }
                Err(Attempt::Lost(why)) => {
                    return Err(ConfigError::Shared(format!("{what}: {why}")))
                }
                Err(Attempt::Failed(error)) => return Err(error),
            }
        }
    }

    /// A consume journal, when no other consumer holds it.
    pub fn open_journal(&self, journal: &str) -> Result<Option<PgJournal>, ConfigError> {
        // The journal table exists once the shared connection has migrated.
        if !self.connected_once.load(Ordering::SeqCst) {
            self.ensure_reachable()?;
        }
        let mut opened = PgJournal {
            client: None,
            idle: self.idle_journal_connections.clone(),
            url: self.url.clone(),
            tls: self.tls.clone(),
            journal: journal.to_string(),
            described: format!("{} (journal {journal})", self.described),
            patience: self.patience,
            read_with_lock: None,
            clear_pending: false,
        };
        Ok(opened.take_lock()?.then_some(opened))
    }

    /// A rate-limit bucket every process using the store shares.
    pub fn bucket(self: &Arc<Self>, key: &str) -> Arc<dyn BucketStore> {
        Arc::new(PgBucket::new(self.clone(), key))
    }

    fn seal(
        &self,
        name: &str,
        settings_text: &str,
        secrets: &Secrets,
    ) -> Result<String, ConfigError> {
        let text = serde_json::to_string(&secrets.without_storage())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        match &self.key {
            Some(key) => key.seal(&row_binding(name, settings_text), &text),
            None => Ok(text),
        }
    }

    fn unseal(
        &self,
        name: &str,
        settings_text: &str,
        stored: &str,
    ) -> Result<Secrets, ConfigError> {
        let text = match (&self.key, stored.strip_prefix(SEALED)) {
            (Some(key), Some(sealed)) => {
                key.open(name, &row_binding(name, settings_text), sealed)?
            }
            (None, Some(_)) => {
                return Err(self.damaged(
                    name,
                    &format!("its secrets are sealed: set {STORE_KEY} to the key they were sealed with"),
                ))
            }
            (Some(_), None) if stored.starts_with(SEALED_NAME_ONLY) => {
                return Err(self.damaged(
                    name,
                    "its secrets were sealed by an earlier bx-events that did not bind the row's settings (portal, OAuth server) to them: check them with `bx-events auth status`, then run `bx-events store init` once to seal them again",
                ))
            }
            (None, None) if stored.starts_with(SEALED_NAME_ONLY) => {
                return Err(self.damaged(
                    name,
                    &format!("its secrets are sealed: set {STORE_KEY} to the key they were sealed with"),
                ))
            }
            (Some(_), None) => {
                return Err(self.damaged(
                    name,
                    &format!("its secrets are stored unsealed although {STORE_KEY} is set (written by a machine without the key, or by someone who has none): check the row with `bx-events auth status`, then run `bx-events store init` to seal it, or log in again"),
                ))
            }
            (None, None) => stored.to_string(),
        };
        // The parser's message could quote a secret: name only the profile.
        serde_json::from_str(&text).map_err(|_| self.damaged(name, "its secrets are not JSON"))
    }
}

/// The profile rows and the current profile, as one transaction read them.
struct Snapshot {
    /// name -> (settings, secrets) as stored.
    rows: BTreeMap<String, (String, String)>,
    current: Option<String>,
}

impl Snapshot {
    async fn read(tx: &tokio_postgres::Transaction<'_>) -> Result<Self, tokio_postgres::Error> {
        let rows = tx
            .query(
                "SELECT name, settings, secrets FROM bx_events_profiles",
                &[],
            )
            .await?;
        let current = tx
            .query(
                "SELECT value FROM bx_events_settings WHERE key = 'current'",
                &[],
            )
            .await?;
        Ok(Self {
            rows: rows
                .iter()
                .map(|row| (row.get(0), (row.get(1), row.get(2))))
                .collect(),
            current: current.first().map(|row| row.get(0)),
        })
    }
}

/// The writes of one update, and what the rows held when they were planned.
#[derive(Clone)]
struct Plan {
    /// The rows touched, as read (None: absent).
    expected: BTreeMap<String, Option<(String, String)>>,
    /// (name, settings, sealed secrets) to insert or replace.
    upserts: Vec<(String, String, String)>,
    deletes: Vec<String>,
    /// The new current profile, when it changes.
    current: Option<Option<String>>,
    expected_current: Option<String>,
}

impl Plan {
    /// Whether every row touched (and the current profile) holds what was read.
    fn still_applies(&self, snapshot: &Snapshot) -> bool {
        self.expected
            .iter()
            .all(|(name, expected)| snapshot.rows.get(name) == expected.as_ref())
            && (self.current.is_none() || snapshot.current == self.expected_current)
    }

    /// Whether the rows already hold this plan's writes (its commit went through
    /// before the connection was lost).
    fn already_applied(&self, snapshot: &Snapshot) -> bool {
        let written = self.upserts.iter().all(|(name, settings, secrets)| {
            snapshot.rows.get(name) == Some(&(settings.clone(), secrets.clone()))
        });
        let deleted = self
            .deletes
            .iter()
            .all(|name| !snapshot.rows.contains_key(name));
        let current = match &self.current {
            Some(current) => snapshot.current == *current,
            None => true,
        };
        written
            && deleted
            && current
            && !(self.upserts.is_empty() && self.deletes.is_empty() && self.current.is_none())
    }

    async fn apply(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
    ) -> Result<(), tokio_postgres::Error> {
        for (name, settings, sealed) in &self.upserts {
            tx.execute(
                "INSERT INTO bx_events_profiles (name, settings, secrets) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET settings = $2, secrets = $3, updated_at = now()",
                &[name, settings, sealed],
            )
            .await?;
        }
        if !self.deletes.is_empty() {
            tx.execute(
                "DELETE FROM bx_events_profiles WHERE name = ANY($1)",
                &[&self.deletes],
            )
            .await?;
        }
        match &self.current {
            Some(Some(current)) => {
                tx.execute(
                    "INSERT INTO bx_events_settings (key, value) VALUES ('current', $1)
                     ON CONFLICT (key) DO UPDATE SET value = $1",
                    &[current],
                )
                .await?;
            }
            Some(None) => {
                tx.execute("DELETE FROM bx_events_settings WHERE key = 'current'", &[])
                    .await?;
            }
            None => {}
        }
        Ok(())
    }
}

/// An advisory lock held on a connection of its own.
pub struct PgLock {
    _client: Client,
}

/// Tries a journal's advisory lock on `client` and reads the journal's entries
/// in the same round trip (the two statements are pipelined and run in order,
/// so the entries are read under the lock when it was taken): whether it was
/// taken and, if so, the entries oldest first, one per line; the error, or
/// `None` when the server did not answer in time.
async fn try_journal_lock(
    client: &Client,
    key: &str,
    journal: &str,
) -> Result<Option<String>, Option<tokio_postgres::Error>> {
    let lock_params = [(&LOCK_CLASS as _, Type::INT4), (&key as _, Type::TEXT)];
    let read_params = [(&journal as _, Type::TEXT)];
    let lock = client.query_typed_one(
        "SELECT pg_try_advisory_lock($1, hashtext($2))",
        &lock_params,
    );
    let read = client.query_typed(
        "SELECT entry FROM bx_events_journal WHERE journal = $1 ORDER BY seq",
        &read_params,
    );
    let (lock, rows) = tokio::time::timeout(STATEMENT_TIMEOUT, async { tokio::join!(lock, read) })
        .await
        .map_err(|_| None)?;
    if !lock.map_err(Some)?.get::<_, bool>(0) {
        return Ok(None);
    }
    Ok(Some(entries_text(rows.map_err(Some)?)))
}

/// Journal rows as the text of a journal file: one entry per line.
fn entries_text(rows: Vec<tokio_postgres::Row>) -> String {
    let mut text = String::new();
    for row in rows {
        text.push_str(row.get(0));
        text.push('\n');
    }
    text
}

/// Connections that hold no lock, waiting to serve another journal.
#[derive(Clone, Default)]
struct IdleConnections(Arc<std::sync::Mutex<Vec<Client>>>);

/// Idle connections kept at most; more are closed.
const MOST_IDLE_CONNECTIONS: usize = 32;

impl IdleConnections {
    /// An idle connection that is still open, if there is one.
    fn take(&self) -> Option<Client> {
        let mut idle = self.0.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(client) = idle.pop() {
            if !client.is_closed() {
                return Some(client);
            }
        }
        None
    }

    fn put(&self, client: Client) {
        let mut idle = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MOST_IDLE_CONNECTIONS && !client.is_closed() {
            idle.push(client);
        }
    }
}

/// A consume journal in the store, held (by a session advisory lock) for as long
/// as this value lives. A lost connection lets go of the lock: the journal
/// reconnects and takes it again, and when another consumer took it meanwhile,
/// says so instead of writing beside it.
pub struct PgJournal {
    client: Option<Client>,
    /// Where [`PgJournal::release`] leaves the connection, and where opening
    /// looks for one first.
    idle: IdleConnections,
    url: Secret,
    tls: Tls,
    journal: String,
    described: String,
    patience: Duration,
    /// The entries read when the lock was taken, until [`PgJournal::read`].
    read_with_lock: Option<String>,
    /// [`PgJournal::clear`] was asked for and not yet done: the next append or
    /// the release does it in the same round trip.
    clear_pending: bool,
}

impl PgJournal {
    /// Where the journal is, for messages.
    pub fn describe(&self) -> &str {
        &self.described
    }

    /// Connects (or takes an idle connection) and tries the journal's lock:
    /// false when another consumer holds it. The entries are read with the lock
    /// and kept for [`PgJournal::read`].
    fn take_lock(&mut self) -> Result<bool, ConfigError> {
        let key = format!("journal {}", self.journal);
        let what = format!("cannot open {}", self.described);
        let idle = self.idle.take();
        let journal = self.journal.clone();
        let taken = wait(async {
            // An idle connection may have died unnoticed (a restarted server):
            // then a new one is made.
            if let Some(client) = idle {
                if let Ok(read) = try_journal_lock(&client, &key, &journal).await {
                    return Ok(self.keep_if(read, client));
                }
            }
            let client = connect(self.url.expose(), &self.tls)
                .await
                .map_err(|e| failed(&what, &e))?;
            match try_journal_lock(&client, &key, &journal).await {
                Ok(read) => Ok(self.keep_if(read, client)),
                Err(Some(error)) => Err(failed(&what, &error)),
                Err(None) => Err(ConfigError::Shared(format!("{what}: no answer in time"))),
            }
        })?;
        let held = taken.is_some();
        if let Some((client, text)) = taken {
            self.client = Some(client);
            self.read_with_lock = Some(text);
        } else {
            self.client = None;
        }
        Ok(held)
    }

    /// The connection when it took the lock; else it goes back to the idle ones
    /// (it holds no lock, so another journal may use it).
    fn keep_if(&self, read: Option<String>, client: Client) -> Option<(Client, String)> {
        match read {
            Some(text) => Some((client, text)),
            None => {
                self.idle.put(client);
                None
            }
        }
    }

    /// Lets go of the journal now (its lock released, its connection kept for
    /// the next journal), instead of when this value is dropped: a dropped
    /// connection's lock is released only once the server has seen it close, and
    /// the same portal's next turn could find its own journal busy until then.
    /// Nothing can be written afterwards.
    pub fn release(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let key = format!("journal {}", self.journal);
        let journal = self.journal.clone();
        let clear = self.clear_pending;
        // The timer is made inside the store's runtime (the caller may have none).
        let released = wait(async {
            tokio::time::timeout(STATEMENT_TIMEOUT, async {
                // A pending clear goes first, in the same round trip: the
                // statements run in order, so no other consumer can take the
                // lock and see entries this one meant to forget.
                let cleared = async {
                    if clear {
                        client
                            .query_typed(
                                "DELETE FROM bx_events_journal WHERE journal = $1",
                                &[(&journal, Type::TEXT)],
                            )
                            .await
                            .map(|_| ())
                    } else {
                        Ok(())
                    }
                };
                let unlock_params = [(&LOCK_CLASS as _, Type::INT4), (&key as _, Type::TEXT)];
                let unlocked = client.query_typed_one(
                    "SELECT pg_advisory_unlock($1, hashtext($2))",
                    &unlock_params,
                );
                tokio::join!(cleared, unlocked)
            })
            .await
        });
        match released {
            Ok((Ok(()), Ok(row))) if row.get::<_, bool>(0) => {
                self.clear_pending = false;
                self.idle.put(client);
            }
            // Not released for certain: closing the connection releases it. An
            // unfinished clear leaves the entries as a kill before it would.
            _ => tracing::debug!("closing the connection of {}", self.described),
        }
    }

    /// Runs one statement; a lost connection is replaced (the lock taken again)
    /// with backoff up to the store's patience. Every statement here is safe to
    /// repeat: the journal's entries replay the same way when written twice.
    fn run<T>(
        &mut self,
        what: &str,
        statement: impl for<'c> Fn(
            &'c Client,
        ) -> std::pin::Pin<
            Box<dyn Future<Output = Result<T, tokio_postgres::Error>> + 'c>,
        >,
    ) -> Result<T, ConfigError> {
        let mut backoff = Backoff::new(self.patience);
        let mut reported = false;
        loop {
            let why = match self.client.as_ref() {
                Some(client) => {
                    match wait(async {
                        tokio::time::timeout(STATEMENT_TIMEOUT, statement(client)).await
                    }) {
                        Ok(Ok(value)) => {
                            if reported {
                                tracing::warn!("{} is reachable again", self.described);
                            }
                            return Ok(value);
                        }
                        Ok(Err(error)) if is_connection_loss(&error) => reason(&error),
                        Ok(Err(error)) => return Err(failed(what, &error)),
                        Err(_) => format!("no answer within {} s", STATEMENT_TIMEOUT.as_secs()),
                    }
                }
                None => "not connected".into(),
            };
            self.client = None;
            if !reported {
                tracing::warn!(
                    "lost the connection to {} ({why}); reconnecting with backoff for up to {} s",
                    self.described,
                    self.patience.as_secs()
                );
                reported = true;
            }
            let Some(pause) = backoff.next() else {
                return Err(ConfigError::Shared(format!(
                    "{what}: the store stayed unreachable for {} s ({why})",
                    self.patience.as_secs()
                )));
            };
            // Through the store's runtime: the journal is used from async tasks.
            wait(async { tokio::time::sleep(pause).await });
            match self.take_lock() {
                // The entries were read at open; these are not wanted.
                Ok(true) => self.read_with_lock = None,
                Ok(false) => {
                    return Err(ConfigError::Shared(format!(
                        "{what}: while the connection was lost another consumer took over {}; this one leaves the reservation to it",
                        self.described
                    )))
                }
                Err(_) => self.client = None,
            }
        }
    }

    /// Every entry, oldest first, one per line.
    pub fn read(&mut self) -> Result<String, ConfigError> {
        if let Some(text) = self.read_with_lock.take() {
            return Ok(text);
        }
        let journal = self.journal.clone();
        let what = format!("cannot read {}", self.described);
        let rows = self.run(&what, |client| {
            let journal = journal.clone();
            Box::pin(async move {
                client
                    .query_typed(
                        "SELECT entry FROM bx_events_journal WHERE journal = $1 ORDER BY seq",
                        &[(&journal, Type::TEXT)],
                    )
                    .await
            })
        })?;
        Ok(entries_text(rows))
    }

    /// Appends the lines of `text`, all or none, after doing a pending
    /// [`PgJournal::clear`] in the same statement; committed (durable) on return.
    pub fn append(&mut self, text: &str) -> Result<(), ConfigError> {
        let lines: Vec<String> = text
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        if lines.is_empty() {
            return Ok(());
        }
        let journal = self.journal.clone();
        let what = format!("cannot write {}", self.described);
        // Repeating either statement after a lost answer ends the same way.
        let statement = if self.clear_pending {
            "WITH forgotten AS (DELETE FROM bx_events_journal WHERE journal = $1) \
             INSERT INTO bx_events_journal (journal, entry) SELECT $1, unnest($2::text[])"
        } else {
            "INSERT INTO bx_events_journal (journal, entry) SELECT $1, unnest($2::text[])"
        };
        self.run(&what, |client| {
            let (journal, lines) = (journal.clone(), lines.clone());
            Box::pin(async move {
                client
                    .query_typed(
                        statement,
                        &[(&journal, Type::TEXT), (&lines, Type::TEXT_ARRAY)],
                    )
                    .await
            })
        })?;
        self.clear_pending = false;
        Ok(())
    }

    /// Forgets every entry: with the next append (in the same statement) or at
    /// the release (in the same round trip), whichever comes first, so that
    /// emptying the journal costs no round trip of its own. Until then the
    /// entries are still there, as they would be after a kill just before the
    /// clear; the caller only clears entries whose loss such a kill allows.
    pub fn clear(&mut self) -> Result<(), ConfigError> {
        self.read_with_lock = None;
        self.clear_pending = true;
        Ok(())
    }
}

/// A leaky bucket's state in the store, changed by compare-and-set: the change
/// is computed from the state this process last saw and written only if the row
/// still holds it, in one statement that also returns what the row held. With
/// one writer (the common case) every update is one round trip and holds no
/// lock between round trips; a write by another process costs one more.
#[derive(Debug)]
struct PgBucket {
    store: Arc<PgStore>,
    key: String,
    /// The state as this process last read or wrote it; `None` before the first
    /// read.
    last_seen: std::sync::Mutex<Option<String>>,
}

/// Writes `$3` where the row still holds `$2`, or creates the row with `$3`
/// when there is none (`$3` was then computed from an empty state), and returns
/// what the row held before (NULL when there was no row) and whether the write
/// happened. Under READ COMMITTED the UPDATE re-checks `state = $2` on the newest
/// row version, so two writers that start from the same state cannot both
/// succeed; of two that create the row, one inserts and the other is told the
/// state it must start from.
const BUCKET_COMPARE_AND_SET: &str = "WITH created AS (INSERT INTO bx_events_buckets (key, state) SELECT $1, $3 WHERE $2::text IS NULL ON CONFLICT (key) DO NOTHING RETURNING 1), \
     seen AS (SELECT state FROM bx_events_buckets WHERE key = $1), \
     written AS (UPDATE bx_events_buckets SET state = $3 WHERE key = $1 AND state = $2 RETURNING 1) \
     SELECT (SELECT state FROM seen), EXISTS (SELECT 1 FROM created) OR EXISTS (SELECT 1 FROM written)";

/// Compare-and-set attempts before an update takes the row's lock instead:
/// under contention a writer could otherwise lose every race (each failed
/// attempt learns the state from its statement's snapshot, which another
/// writer may already have replaced), while the lock always gets through.
const OPTIMISTIC_ATTEMPTS: usize = 2;

impl PgBucket {
    fn new(store: Arc<PgStore>, key: &str) -> Self {
        Self {
            store,
            key: key.to_string(),
            last_seen: std::sync::Mutex::new(None),
        }
    }

    /// One compare-and-set of `expected` (`None`: no row yet) to `proposed`:
    /// `Ok(true)` when written, else `Ok(false)` with `expected` set to what the
    /// row holds now (`None` when there is no row).
    async fn compare_and_set(
        &self,
        expected: &mut Option<String>,
        proposed: &str,
    ) -> Result<bool, ConfigError> {
        let what = format!(
            "cannot update a rate-limit bucket in {}",
            self.store.described
        );
        let compared = expected.as_deref();
        let (written, current) = self
            .store
            .run(&what, |conn| {
                let what = what.clone();
                async move {
                    let client = conn.read().await;
                    let row = client
                        .query_typed_one(
                            BUCKET_COMPARE_AND_SET,
                            &[
                                (&self.key, Type::TEXT),
                                (&compared, Type::TEXT),
                                (&proposed, Type::TEXT),
                            ],
                        )
                        .await
                        .map_err(|e| Attempt::of(&what, e))?;
                    Ok::<(bool, Option<String>), Attempt>((row.get(1), row.get(0)))
                }
            })
            .await?;
        if !written {
            *expected = current;
        }
        Ok(written)
    }

    /// The update under the row's lock, in a transaction that has the shared
    /// connection to itself: it cannot lose a race. Returns the state written.
    async fn update_locked(
        &self,
        change: &mut dyn FnMut(&str) -> String,
    ) -> Result<String, ConfigError> {
        let what = format!(
            "cannot update a rate-limit bucket in {}",
            self.store.described
        );
        let change = std::sync::Mutex::new(change);
        self.store
            .run(&what, |conn| {
                let (what, key, change) = (what.clone(), &self.key, &change);
                async move {
                    let mut client = conn.write().await;
                    let tx = client.transaction().await.map_err(|e| Attempt::of(&what, e))?;
                    tx.execute(
                        "INSERT INTO bx_events_buckets (key, state) VALUES ($1, '') ON CONFLICT DO NOTHING",
                        &[key],
                    )
                    .await
                    .map_err(|e| Attempt::of(&what, e))?;
                    let row = tx
                        .query_one(
                            "SELECT state FROM bx_events_buckets WHERE key = $1 FOR UPDATE",
                            &[key],
                        )
                        .await
                        .map_err(|e| Attempt::of(&what, e))?;
                    let state = (change.lock().unwrap_or_else(|p| p.into_inner()))(row.get(0));
                    tx.execute(
                        "UPDATE bx_events_buckets SET state = $2 WHERE key = $1",
                        &[key, &state],
                    )
                    .await
                    .map_err(|e| Attempt::of(&what, e))?;
                    tx.commit().await.map_err(|e| Attempt::of(&what, e))?;
                    Ok(state)
                }
            })
            .await
    }

    fn remember(&self, state: Option<String>) {
        *self.last_seen.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }
}

impl BucketStore for PgBucket {
    fn update(&self, change: &mut dyn FnMut(&str) -> String) -> std::io::Result<()> {
        let mut expected = self
            .last_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            let proposed = change(expected.as_deref().unwrap_or(""));
            match wait(self.compare_and_set(&mut expected, &proposed)) {
                Ok(true) => {
                    self.remember(Some(proposed));
                    return Ok(());
                }
                Ok(false) => {}
                Err(error) => {
                    self.remember(None);
                    return Err(std::io::Error::other(error));
                }
            }
        }
        match wait(self.update_locked(change)) {
            Ok(written) => {
                self.remember(Some(written));
                Ok(())
            }
            Err(error) => {
                self.remember(None);
                Err(std::io::Error::other(error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command's main thread is inside tokio's `block_on` when a store call
    /// waits. A wake-up that arrives for the command meanwhile must still reach
    /// it: waited for with a second `block_on` on the same thread, the two shared
    /// one parker, the store's wait swallowed the wake-up, and the command slept
    /// for ever (a fleet drain stopped that way).
    #[test]
    fn a_store_wait_does_not_swallow_the_commands_wake_up() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let (wake, woken) = tokio::sync::oneshot::channel::<()>();
                let mut woken = std::pin::pin!(woken);
                let mut wake = Some(wake);
                let mut waited = false;
                std::future::poll_fn(|cx| {
                    // The command's other work, pending first (its waker kept).
                    let ready = woken.as_mut().poll(cx).is_ready();
                    if !waited {
                        waited = true;
                        // The wake-up for that work arrives while the store waits.
                        let sender = wake.take();
                        std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_millis(50));
                            if let Some(sender) = sender {
                                let _ = sender.send(());
                            }
                        });
                        wait(tokio::time::sleep(Duration::from_millis(300)));
                    }
                    if ready {
                        std::task::Poll::Ready(())
                    } else {
                        std::task::Poll::Pending
                    }
                })
                .await;
            });
            let _ = done.send(());
        });
        assert!(
            finished.recv_timeout(Duration::from_secs(20)).is_ok(),
            "the command never woke up after a store wait"
        );
    }
}
