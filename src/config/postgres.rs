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
//! The store's calls are synchronous like the file store's; each one runs on the
//! async runtime with `block_in_place`, which the CLI's multi-threaded runtime
//! allows.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use tokio_postgres::Client;

use super::error::ConfigError;
use super::store::{ConfigFile, CredentialsFile, ProfileSettings, Secrets};
use crate::bitrix::ratelimit::BucketStore;
use crate::bitrix::Secret;

use super::env::STORE_KEY;
use super::seal::{Sealer, SEALED};

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

/// Runs a future to completion from synchronous store code.
fn wait<F: Future>(future: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => tokio::task::block_in_place(|| handle.block_on(future)),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|runtime| runtime.block_on(future))
            .unwrap_or_else(|e| panic!("cannot start a runtime for the store: {e}")),
    }
}

fn failed(what: &str, error: impl std::fmt::Display) -> ConfigError {
    ConfigError::Shared(format!("{what}: {error}"))
}

/// A connection to the shared store.
pub struct PgStore {
    /// The URL as given: it may hold a password, so it is never shown.
    url: Secret,
    /// `postgres://HOST:PORT/DB`, without user or password, for messages.
    described: String,
    /// `--ca-cert`: a private CA the server's certificate may come from.
    extra_roots: ExtraRoots,
    /// The connection for plain queries and updates, made on first use (so
    /// commands that never read a profile never connect).
    client: std::sync::Mutex<Option<Shared>>,
    /// What the first connection's migration did (schema versions before, after).
    first_migration: std::sync::Mutex<Option<(usize, usize)>>,
    key: Option<Sealer>,
}

type Shared = Arc<tokio::sync::Mutex<Client>>;

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

/// Opens one connection (TLS as the URL's `sslmode` says); its driver task runs
/// on the current runtime.
async fn connect(url: &str, extra_roots: &ExtraRoots) -> Result<Client, tokio_postgres::Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = tls_config(extra_roots).map(tokio_postgres_rustls::MakeRustlsConnect::new);
    let (client, connection) = match tls {
        Ok(tls) => tokio_postgres::connect(url, tls).await?,
        // No usable certificate store: only servers without TLS can be reached.
        Err(_) => {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            return Ok(client);
        }
    };
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
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
            extra_roots,
            key: Sealer::from_env()?,
            client: std::sync::Mutex::new(None),
            first_migration: std::sync::Mutex::new(None),
        }))
    }

    /// The shared connection, made (and the schema migrated) on first use.
    fn conn(&self) -> Result<Shared, ConfigError> {
        let mut slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let mut client = wait(connect(self.url.expose(), &self.extra_roots)).map_err(|e| {
            failed(
                &format!("cannot connect to the store {}", self.described),
                e,
            )
        })?;
        let migrated = wait(migrate_on(&mut client))
            .map_err(|e| failed(&format!("cannot prepare the store {}", self.described), e))?;
        *self
            .first_migration
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(migrated);
        let client = Arc::new(tokio::sync::Mutex::new(client));
        *slot = Some(client.clone());
        Ok(client)
    }

    /// `postgres://HOST:PORT/DB`, for messages.
    pub fn describe(&self) -> &str {
        &self.described
    }

    /// Creates or upgrades the schema (as the first use does); returns the
    /// versions before and after.
    pub fn migrate(&self) -> Result<(usize, usize), ConfigError> {
        let conn = self.conn()?;
        let first = self
            .first_migration
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(first) = first {
            return Ok(first);
        }
        wait(async { migrate_on(&mut *conn.lock().await).await })
            .map_err(|e| failed(&format!("cannot prepare the store {}", self.described), e))
    }

    /// Every profile's settings, and the current profile.
    pub fn read_config(&self) -> Result<ConfigFile, ConfigError> {
        let (config, _) = self.read_all(false)?;
        Ok(config)
    }

    /// Every profile's secrets.
    pub fn read_credentials(&self) -> Result<CredentialsFile, ConfigError> {
        let (_, credentials) = self.read_all(true)?;
        Ok(credentials)
    }

    fn read_all(&self, secrets: bool) -> Result<(ConfigFile, CredentialsFile), ConfigError> {
        let conn = self.conn()?;
        let rows = wait(async {
            let client = conn.lock().await;
            let profiles = client
                .query(
                    if secrets {
                        "SELECT name, settings, secrets FROM bx_events_profiles"
                    } else {
                        "SELECT name, settings, '' FROM bx_events_profiles"
                    },
                    &[],
                )
                .await?;
            let current = client
                .query(
                    "SELECT value FROM bx_events_settings WHERE key = 'current'",
                    &[],
                )
                .await?;
            Ok::<_, tokio_postgres::Error>((profiles, current))
        })
        .map_err(|e| failed(&format!("cannot read the store {}", self.described), e))?;
        let (profiles, current) = rows;
        let mut config = ConfigFile {
            current: current.first().map(|row| row.get(0)),
            profiles: BTreeMap::new(),
        };
        let mut credentials = CredentialsFile::default();
        for row in profiles {
            let name: String = row.get(0);
            let settings: ProfileSettings =
                serde_json::from_str(row.get(1)).map_err(|e| self.damaged(&name, "settings", e))?;
            config.profiles.insert(name.clone(), settings);
            if secrets {
                let sealed: String = row.get(2);
                credentials
                    .profiles
                    .insert(name.clone(), self.unseal(&name, &sealed)?);
            }
        }
        Ok((config, credentials))
    }

    fn damaged(&self, name: &str, what: &str, error: impl std::fmt::Display) -> ConfigError {
        ConfigError::Shared(format!(
            "profile '{name}' in the store {} has damaged {what} ({error})",
            self.described
        ))
    }

    /// Reads both halves under a lock that keeps other writers out, applies
    /// `change`, and writes back the rows it changed (and deletes the removed).
    pub fn update<R>(
        &self,
        change: impl FnOnce(&mut ConfigFile, &mut CredentialsFile) -> Result<R, ConfigError>,
    ) -> Result<R, ConfigError> {
        let conn = self.conn()?;
        wait(async {
            let mut client = conn.lock().await;
            let tx = client
                .transaction()
                .await
                .map_err(|e| self.write_failed(e))?;
            tx.batch_execute("LOCK TABLE bx_events_profiles IN SHARE ROW EXCLUSIVE MODE")
                .await
                .map_err(|e| self.write_failed(e))?;
            let rows = tx
                .query(
                    "SELECT name, settings, secrets FROM bx_events_profiles",
                    &[],
                )
                .await
                .map_err(|e| self.write_failed(e))?;
            let current = tx
                .query(
                    "SELECT value FROM bx_events_settings WHERE key = 'current'",
                    &[],
                )
                .await
                .map_err(|e| self.write_failed(e))?;
            let mut config = ConfigFile {
                current: current.first().map(|row| row.get(0)),
                profiles: BTreeMap::new(),
            };
            let mut credentials = CredentialsFile::default();
            for row in &rows {
                let name: String = row.get(0);
                let settings: ProfileSettings = serde_json::from_str(row.get(1))
                    .map_err(|e| self.damaged(&name, "settings", e))?;
                config.profiles.insert(name.clone(), settings);
                let secrets = self.unseal(&name, row.get(2))?;
                credentials.profiles.insert(name, secrets);
            }
            let (before_config, before_credentials) = (config.clone(), credentials.clone());
            let result = change(&mut config, &mut credentials)?;
            for (name, settings) in &config.profiles {
                let secrets = credentials.profiles.get(name).cloned().unwrap_or_default();
                let unchanged = before_config.profiles.get(name) == Some(settings)
                    && before_credentials.profiles.get(name) == Some(&secrets);
                if unchanged {
                    continue;
                }
                let settings_text = serde_json::to_string(settings)
                    .map_err(|e| ConfigError::Invalid(e.to_string()))?;
                let sealed = self.seal(name, &secrets)?;
                tx.execute(
                    "INSERT INTO bx_events_profiles (name, settings, secrets) VALUES ($1, $2, $3)
                     ON CONFLICT (name) DO UPDATE SET settings = $2, secrets = $3, updated_at = now()",
                    &[name, &settings_text, &sealed],
                )
                .await
                .map_err(|e| self.write_failed(e))?;
            }
            let removed: Vec<String> = before_config
                .profiles
                .keys()
                .filter(|name| !config.profiles.contains_key(*name))
                .cloned()
                .collect();
            if !removed.is_empty() {
                tx.execute(
                    "DELETE FROM bx_events_profiles WHERE name = ANY($1)",
                    &[&removed],
                )
                .await
                .map_err(|e| self.write_failed(e))?;
            }
            if config.current != before_config.current {
                match &config.current {
                    Some(current) => {
                        tx.execute(
                            "INSERT INTO bx_events_settings (key, value) VALUES ('current', $1)
                             ON CONFLICT (key) DO UPDATE SET value = $1",
                            &[current],
                        )
                        .await
                    }
                    None => {
                        tx.execute("DELETE FROM bx_events_settings WHERE key = 'current'", &[])
                            .await
                    }
                }
                .map_err(|e| self.write_failed(e))?;
            }
            tx.commit().await.map_err(|e| self.write_failed(e))?;
            Ok(result)
        })
    }

    fn write_failed(&self, error: tokio_postgres::Error) -> ConfigError {
        failed(&format!("cannot write the store {}", self.described), error)
    }

    /// One profile's secrets, read now.
    pub fn secrets_of(&self, name: &str) -> Result<Option<Secrets>, ConfigError> {
        let conn = self.conn()?;
        let row = wait(async {
            let client = conn.lock().await;
            client
                .query_opt(
                    "SELECT secrets FROM bx_events_profiles WHERE name = $1",
                    &[&name],
                )
                .await
        })
        .map_err(|e| failed(&format!("cannot read the store {}", self.described), e))?;
        row.map(|row| self.unseal(name, row.get(0))).transpose()
    }

    /// Replaces one profile's secrets (a refreshed token pair), nothing else.
    pub fn save_secrets(&self, name: &str, secrets: &Secrets) -> Result<(), ConfigError> {
        let sealed = self.seal(name, secrets)?;
        let conn = self.conn()?;
        wait(async {
            let client = conn.lock().await;
            client
                .execute(
                    "UPDATE bx_events_profiles SET secrets = $2, updated_at = now() WHERE name = $1",
                    &[&name, &sealed],
                )
                .await
        })
        .map_err(|e| self.write_failed(e))?;
        Ok(())
    }

    /// Waits for the exclusive right to refresh a profile's tokens, across every
    /// process using the store. Released when the guard is dropped, or when the
    /// holder dies (its connection ends).
    pub fn lock_profile(&self, name: &str) -> Result<PgLock, ConfigError> {
        let key = format!("profile {name}");
        let client = wait(async {
            let client = connect(self.url.expose(), &self.extra_roots).await?;
            client
                .execute(
                    "SELECT pg_advisory_lock($1, hashtext($2))",
                    &[&LOCK_CLASS, &key],
                )
                .await?;
            Ok::<_, tokio_postgres::Error>(client)
        })
        .map_err(|e| {
            failed(
                &format!("cannot lock profile '{name}' in {}", self.described),
                e,
            )
        })?;
        Ok(PgLock { _client: client })
    }

    /// A consume journal, when no other consumer holds it.
    pub fn open_journal(&self, journal: &str) -> Result<Option<PgJournal>, ConfigError> {
        // The journal table exists once the shared connection has migrated.
        self.conn()?;
        let key = format!("journal {journal}");
        let opened = wait(async {
            let client = connect(self.url.expose(), &self.extra_roots).await?;
            let row = client
                .query_one(
                    "SELECT pg_try_advisory_lock($1, hashtext($2))",
                    &[&LOCK_CLASS, &key],
                )
                .await?;
            Ok::<_, tokio_postgres::Error>(row.get::<_, bool>(0).then_some(client))
        })
        .map_err(|e| {
            failed(
                &format!("cannot open journal {journal} in {}", self.described),
                e,
            )
        })?;
        Ok(opened.map(|client| PgJournal {
            client,
            journal: journal.to_string(),
            described: format!("{} (journal {journal})", self.described),
        }))
    }

    /// A rate-limit bucket every process using the store shares.
    pub fn bucket(self: &Arc<Self>, key: &str) -> Arc<dyn BucketStore> {
        Arc::new(PgBucket {
            store: self.clone(),
            key: key.to_string(),
        })
    }

    fn seal(&self, name: &str, secrets: &Secrets) -> Result<String, ConfigError> {
        let text =
            serde_json::to_string(secrets).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        match &self.key {
            Some(key) => key.seal(name, &text),
            None => Ok(text),
        }
    }

    fn unseal(&self, name: &str, stored: &str) -> Result<Secrets, ConfigError> {
        let text = match (stored.strip_prefix(SEALED), &self.key) {
            (Some(sealed), Some(key)) => key.open(name, sealed)?,
            (Some(_), None) => {
                return Err(ConfigError::Shared(format!(
                    "the secrets of profile '{name}' are sealed: set {STORE_KEY} to the key they were sealed with"
                )))
            }
            (None, _) => stored.to_string(),
        };
        // The parser's message could quote a secret: name only the profile.
        serde_json::from_str(&text).map_err(|_| self.damaged(name, "secrets", "not JSON"))
    }
}

/// An advisory lock held on a connection of its own.
pub struct PgLock {
    _client: Client,
}

/// A consume journal in the store, held (by a session advisory lock) for as long
/// as this value lives.
pub struct PgJournal {
    client: Client,
    journal: String,
    described: String,
}

impl PgJournal {
    /// Where the journal is, for messages.
    pub fn describe(&self) -> &str {
        &self.described
    }

    /// Every entry, oldest first, one per line.
    pub fn read(&self) -> Result<String, ConfigError> {
        let rows = wait(self.client.query(
            "SELECT entry FROM bx_events_journal WHERE journal = $1 ORDER BY seq",
            &[&self.journal],
        ))
        .map_err(|e| failed(&format!("cannot read {}", self.described), e))?;
        let mut text = String::new();
        for row in rows {
            text.push_str(row.get(0));
            text.push('\n');
        }
        Ok(text)
    }

    /// Appends the lines of `text`, all or none; committed (durable) on return.
    pub fn append(&self, text: &str) -> Result<(), ConfigError> {
        let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        if lines.is_empty() {
            return Ok(());
        }
        wait(self.client.execute(
            "INSERT INTO bx_events_journal (journal, entry) SELECT $1, unnest($2::text[])",
            &[&self.journal, &lines],
        ))
        .map_err(|e| failed(&format!("cannot write {}", self.described), e))?;
        Ok(())
    }

    /// Forgets every entry.
    pub fn clear(&self) -> Result<(), ConfigError> {
        wait(self.client.execute(
            "DELETE FROM bx_events_journal WHERE journal = $1",
            &[&self.journal],
        ))
        .map_err(|e| failed(&format!("cannot write {}", self.described), e))?;
        Ok(())
    }
}

/// A leaky bucket's state in the store, changed in a transaction that holds its
/// row.
#[derive(Debug)]
struct PgBucket {
    store: Arc<PgStore>,
    key: String,
}

impl BucketStore for PgBucket {
    fn update(&self, change: &mut dyn FnMut(&str) -> String) -> std::io::Result<()> {
        let conn = self.store.conn().map_err(std::io::Error::other)?;
        wait(async {
            let mut client = conn.lock().await;
            let tx = client.transaction().await?;
            tx.execute(
                "INSERT INTO bx_events_buckets (key, state) VALUES ($1, '') ON CONFLICT DO NOTHING",
                &[&self.key],
            )
            .await?;
            let row = tx
                .query_one(
                    "SELECT state FROM bx_events_buckets WHERE key = $1 FOR UPDATE",
                    &[&self.key],
                )
                .await?;
            let state = change(row.get(0));
            tx.execute(
                "UPDATE bx_events_buckets SET state = $2 WHERE key = $1",
                &[&self.key, &state],
            )
            .await?;
            tx.commit().await
        })
        .map_err(std::io::Error::other)
    }
}
