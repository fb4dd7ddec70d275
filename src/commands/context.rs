//! What every command gets: the global options, output, the profile store, the
//! prompt policy and portal clients; and reading stdin and prompts alike.

use std::io::IsTerminal;
use std::time::Duration;

use super::errors::{self, CliError};
use super::shutdown::Shutdown;
use crate::bitrix::{Client, ClientOptions};
use crate::cli::GlobalArgs;
use crate::config::{ActiveProfile, Store};
use crate::output::Output;

/// What every command gets: the global options, output, store and prompt policy.
pub(crate) struct Context {
    pub(crate) global: GlobalArgs,
    pub(crate) out: Output,
    pub(crate) store: Store,
    /// Prompts are allowed: not `--no-input`, not CI, stdin is a terminal.
    pub(crate) input_allowed: bool,
    /// Ctrl-C / SIGTERM, for commands that stop gracefully.
    pub(crate) shutdown: Shutdown,
    /// The `--ca-cert` file's contents, checked to be PEM.
    ca_pem: Option<Vec<u8>>,
    /// The profile in use once resolved, for the hints of a failure.
    profile_hint: std::sync::Mutex<Option<errors::ProfileHint>>,
    /// The HTTP client every portal client of this command shares.
    http: std::sync::OnceLock<reqwest::Client>,
}

impl Context {
    pub(crate) fn new(global: GlobalArgs, shutdown: Shutdown) -> anyhow::Result<Self> {
        let from_env = std::env::var_os(crate::config::env::CONFIG_DIR)
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from);
        let dir = match global.config_dir.clone().or(from_env) {
            Some(dir) => dir,
            None => Store::default_dir().ok_or_else(|| {
                CliError::Usage(
                    "cannot find a home directory for the configuration: pass --config-dir DIR"
                        .into(),
                )
            })?,
        };
        let ca_pem = match &global.ca_cert {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    CliError::Usage(format!("cannot read --ca-cert {}: {e}", path.display()))
                })?;
                let not_pem = |detail: String| {
                    CliError::Usage(format!(
                        "--ca-cert {} is not a PEM certificate{detail}",
                        path.display()
                    ))
                };
                // reqwest parses lazily; a file without a certificate block is caught here.
                if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                    return Err(not_pem(" (no BEGIN CERTIFICATE block)".into()).into());
                }
                reqwest::Certificate::from_pem(&pem).map_err(|e| not_pem(format!(": {e}")))?;
                Some(pem)
            }
            None => None,
        };
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
        let input_allowed = !global.no_input && !ci && std::io::stdin().is_terminal();
        let out = Output::new(global.output, global.color, global.quiet);
        let store = match global.store.as_ref().filter(|url| !url.is_empty()) {
            Some(url) => Store::with_shared(
                dir,
                crate::config::postgres::PgStore::open(url.expose(), ca_pem.as_deref())?,
            ),
            None => Store::new(dir),
        };
        if let Some(url) = &global.store {
            warn_password_on_command_line(&out, url.expose());
        }
        Ok(Self {
            out,
            store,
            input_allowed,
            global,
            shutdown,
            ca_pem,
            profile_hint: std::sync::Mutex::new(None),
            http: std::sync::OnceLock::new(),
        })
    }

    /// The active profile (environment, `-p`, current or only).
    pub(crate) fn profile(&self) -> anyhow::Result<ActiveProfile> {
        let profile = crate::config::resolve(&self.store, self.global.profile.as_deref())?;
        if let Some(warning) = self.store.credentials_warning() {
            self.out.warn(&warning);
        }
        *self
            .profile_hint
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Some(errors::ProfileHint::of(&profile));
        Ok(profile)
    }

    /// Makes hints about the failure name this profile (its portal and client id
    /// filled into the login command), for commands that work on several.
    pub(crate) fn blame_profile(&self, profile: &ActiveProfile) {
        *self
            .profile_hint
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Some(errors::ProfileHint::of(profile));
    }

    /// The profile a failure's hints should name, once the command has ended.
    pub(crate) fn blamed_profile(&self) -> Option<errors::ProfileHint> {
        self.profile_hint
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    /// Client options from the global flags and a profile's rate limit, with the
    /// bucket shared by every bx-events process talking to the same portal.
    pub(crate) fn client_options(&self, profile: &ActiveProfile) -> ClientOptions {
        match self.store.shared() {
            // With a shared store, one bucket per portal for every machine.
            Some(shared) => ClientOptions {
                rate_limit: profile.rate_limit,
                bucket_store: bucket_key(&profile.settings.portal).map(|key| shared.bucket(&key)),
                ..self.client_options_default()
            },
            None => ClientOptions {
                rate_limit: profile.rate_limit,
                shared_bucket: self.bucket_file(&profile.settings.portal),
                ..self.client_options_default()
            },
        }
    }

    /// `<config dir>/state/ratelimit-HOST_PORT.bucket` for a portal URL (dots and
    /// other punctuation of the host become `_`).
    pub(crate) fn bucket_file(&self, portal: &str) -> Option<std::path::PathBuf> {
        let key = bucket_key(portal)?;
        let dir = self.store.dir().join("state");
        crate::config::files::ensure_state_dir(&dir).ok()?;
        Some(dir.join(format!("ratelimit-{key}.bucket")))
    }

    /// Client options from the global flags, with the default rate limit.
    pub(crate) fn client_options_default(&self) -> ClientOptions {
        ClientOptions {
            timeout: Duration::from_secs(self.global.timeout.max(1)),
            extra_root_pem: self.ca_pem.clone(),
            ..ClientOptions::default()
        }
    }

    /// A client for a profile.
    pub(crate) fn client_for(&self, profile: &ActiveProfile) -> anyhow::Result<Client> {
        let options = self.client_options(profile);
        // One HTTP client (pool, TLS set-up) for every portal of a command: a
        // fleet run makes a thousand portal clients.
        let http = match self.http.get() {
            Some(http) => http.clone(),
            None => {
                let http = crate::bitrix::client::http_client(&options)?;
                self.http.get_or_init(|| http).clone()
            }
        };
        Ok(Client::with_http(
            http,
            profile.credentials.clone(),
            options,
        ))
    }

    /// The active profile and a client for it.
    pub(crate) fn connect(&self) -> anyhow::Result<(ActiveProfile, Client)> {
        let profile = self.profile()?;
        let client = self.client_for(&profile)?;
        tracing::debug!(
            "profile '{}' ({}), portal {}",
            profile.name,
            profile.settings.kind,
            profile.settings.portal
        );
        Ok((profile, client))
    }

    /// Asks a yes/no question; `--yes` answers yes; without input it is a usage error.
    pub(crate) fn confirm(&self, question: &str) -> anyhow::Result<bool> {
        if self.global.yes {
            return Ok(true);
        }
        if !self.input_allowed {
            return Err(CliError::Usage(format!(
                "{question} needs confirmation: pass --yes to proceed without a prompt"
            ))
            .into());
        }
        dialoguer::Confirm::new()
            .with_prompt(question)
            .default(false)
            .interact()
            .map_err(prompt_error)
    }
}

/// Reads all of stdin. On a terminal it first says what it reads and how to end
/// (a bare wait looks like a hang); Ctrl-C then ends the command with 130.
pub(crate) fn read_stdin(what: &str) -> std::io::Result<String> {
    use std::io::{IsTerminal, Read};
    if std::io::stdin().is_terminal() {
        anstream::eprintln!(
            "Reading {what} from the terminal: end with Ctrl-D, cancel with Ctrl-C"
        );
    }
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    Ok(text)
}

/// A prompt's error: an interrupted read (Ctrl-C) is the user's stop, exit 130,
/// not a failure to report.
pub(crate) fn prompt_error(error: dialoguer::Error) -> anyhow::Error {
    match error {
        dialoguer::Error::IO(io) if io.kind() == std::io::ErrorKind::Interrupted => {
            CliError::Interrupted.into()
        }
        other => anyhow::Error::new(other).context("reading the answer"),
    }
}

/// The name of a portal's rate-limit bucket: `HOST_PORT`, punctuation made `_`.
fn bucket_key(portal: &str) -> Option<String> {
    let url = url::Url::parse(portal).ok()?;
    let host = url.host_str()?;
    Some(crate::support::files::safe_file_name(&format!(
        "{host}_{}",
        url.port_or_known_default().unwrap_or(0)
    )))
}

/// A `--store` URL with a password, given as an argument, is readable by every
/// user of the machine (`ps`, /proc/PID/cmdline); the environment and a password
/// file are not. Said once, the command goes on.
fn warn_password_on_command_line(out: &Output, url: &str) {
    let from_environment = std::env::var(crate::config::env::STORE).is_ok_and(|env| env == url);
    let has_password = url::Url::parse(url).is_ok_and(|u| u.password().is_some());
    if has_password && !from_environment {
        out.warn(&format!(
            "the password in --store can be read by other users of this machine (ps); set {} instead, or keep the password in ~/.pgpass (docs/fleet.md)",
            crate::config::env::STORE
        ));
    }
}
