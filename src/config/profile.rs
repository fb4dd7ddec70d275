//! Choosing the active profile (environment or stored) and building its API client.

use std::sync::Arc;

use url::Url;

use super::env;
use super::error::ConfigError;
use super::model::{ConfigFile, ProfileKind, ProfileSettings, Secrets};
use super::store::Store;
use crate::bitrix::auth::{
    parse_portal_url, parse_webhook_url, Credentials, OAuthApp, OAuthTokens, StoreGuard,
    TokenStore, DEFAULT_OAUTH_SERVER,
};
use crate::bitrix::ratelimit::RatePreset;
use crate::bitrix::{ApiError, MemoryTokenStore, Secret};

/// Name shown for credentials that come from `BX_EVENTS_*` variables.
pub(crate) const ENV_PROFILE_NAME: &str = "environment";

/// The profile a command runs with.
#[derive(Debug, Clone)]
pub(crate) struct ActiveProfile {
    pub name: String,
    pub from_env: bool,
    pub settings: ProfileSettings,
    pub credentials: Credentials,
    pub rate_limit: RatePreset,
}

/// Picks the active profile: environment credentials win; otherwise the requested
/// profile, the current one, or the only one.
pub(crate) fn resolve(
    store: &Store,
    requested: Option<&str>,
) -> Result<ActiveProfile, ConfigError> {
    if let Some(profile) = from_environment()? {
        return Ok(profile);
    }
    // A store of thousands of profiles: read only the chosen one's table.
    if let Some((name, settings)) = store.indexed_settings(requested)? {
        return load_settings(store, &name, settings);
    }
    let config = store.read_config()?;
    let name = selected_name(&config, requested)?;
    load_stored(store, &config, &name)
}

/// The stored profile a command means: the requested one, the current one, or the only one.
pub(crate) fn selected_name(
    config: &ConfigFile,
    requested: Option<&str>,
) -> Result<String, ConfigError> {
    match requested.filter(|n| !n.is_empty()) {
        Some(name) => Ok(name.to_string()),
        None => match (&config.current, config.profiles.len()) {
            (Some(current), _) if config.profiles.contains_key(current) => Ok(current.clone()),
            (_, 1) => Ok(config.profiles.keys().next().cloned().unwrap_or_default()),
            (_, 0) => Err(ConfigError::NoCredentials),
            _ => Err(ConfigError::Invalid(format!(
                "several profiles exist ({}) and none is current: pick one with -p NAME or `bx-events auth switch NAME`",
                config.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
            ))),
        },
    }
}

/// Loads one stored profile by name.
pub(crate) fn load_stored(
    store: &Store,
    config: &ConfigFile,
    name: &str,
) -> Result<ActiveProfile, ConfigError> {
    let Some(settings) = config.profiles.get(name).cloned() else {
        return Err(ConfigError::UnknownProfile {
            name: name.to_string(),
            known: config.profiles.keys().cloned().collect(),
        });
    };
    load_settings(store, name, settings)
}

/// [`load_stored`] for a fleet, whose secrets may have been read for every
/// profile at once ([`Store::secrets_of_all`]); a profile missing there (a
/// row that cannot be opened, a pair kept on this machine) is read alone.
pub(crate) fn load_stored_from(
    store: &Store,
    config: &ConfigFile,
    all_secrets: Option<&super::model::CredentialsFile>,
    name: &str,
) -> Result<ActiveProfile, ConfigError> {
    match all_secrets.and_then(|all| all.profiles.get(name)) {
        Some(secrets) => match config.profiles.get(name) {
            Some(settings) => {
                load_with_secrets(store, name, settings.clone(), Some(secrets.clone()))
            }
            None => load_stored(store, config, name),
        },
        None => load_stored(store, config, name),
    }
}

/// Loads one stored profile whose settings are read already.
fn load_settings(
    store: &Store,
    name: &str,
    settings: ProfileSettings,
) -> Result<ActiveProfile, ConfigError> {
    load_with_secrets(store, name, settings, None)
}

/// Loads one stored profile from its settings and, when read already, its secrets.
fn load_with_secrets(
    store: &Store,
    name: &str,
    settings: ProfileSettings,
    secrets: Option<Secrets>,
) -> Result<ActiveProfile, ConfigError> {
    if let Some(at) = &settings.uninstalled_at {
        return Err(ConfigError::Uninstalled {
            portal: settings.portal.clone(),
            at: at.clone(),
        });
    }
    let credentials = stored_credentials(store, name, &settings, secrets)?;
    let rate_limit = rate_limit_for(Some(&settings))?;
    Ok(ActiveProfile {
        name: name.to_string(),
        from_env: false,
        settings,
        credentials,
        rate_limit,
    })
}

/// The rate-limit preset: `BX_EVENTS_RATE_LIMIT`, else the profile's, else standard.
pub(crate) fn rate_limit_for(
    settings: Option<&ProfileSettings>,
) -> Result<RatePreset, ConfigError> {
    let from_env = std::env::var(env::RATE_LIMIT)
        .ok()
        .filter(|v| !v.is_empty());
    let text = from_env.or_else(|| settings.and_then(|s| s.rate_limit.clone()));
    match text {
        Some(text) => text.parse().map_err(|e: String| ConfigError::Invalid(e)),
        None => Ok(RatePreset::default()),
    }
}

fn stored_credentials(
    store: &Store,
    name: &str,
    settings: &ProfileSettings,
    read: Option<Secrets>,
) -> Result<Credentials, ConfigError> {
    let secrets = match read {
        Some(secrets) => secrets,
        None => store.recent_secrets_of(name)?.unwrap_or_default(),
    };
    match settings.kind {
        ProfileKind::Webhook => {
            let raw = secrets
                .webhook_url
                .ok_or_else(|| missing_secret(store, name, "webhook URL"))?;
            let webhook = parse_webhook_url(raw.expose())
                .map_err(|e| ConfigError::Invalid(format!("profile '{name}': {e}")))?;
            Ok(Credentials::Webhook { base: webhook.base })
        }
        ProfileKind::Oauth => {
            if secrets.access_token.is_none() {
                return Err(missing_secret(store, name, "access token"));
            }
            let app = match (&settings.client_id, &secrets.client_secret) {
                (Some(id), Some(secret)) => Some(OAuthApp {
                    client_id: id.clone(),
                    client_secret: secret.clone(),
                    oauth_server: oauth_server(settings.oauth_server.as_deref())?,
                }),
                _ => None,
            };
            Ok(Credentials::OAuth {
                endpoint: rest_endpoint(&settings.portal)?,
                app,
                store: Arc::new(ProfileTokenStore::new(
                    store.clone(),
                    name.to_string(),
                    Some(secrets),
                )),
            })
        }
    }
}

fn missing_secret(store: &Store, name: &str, what: &str) -> ConfigError {
    ConfigError::Corrupt {
        path: store.credentials_path(),
        detail: format!("profile '{name}' has no {what}"),
        kind: super::error::FileKind::Credentials,
    }
}

/// `https://PORTAL/rest/` for a portal URL.
pub(crate) fn rest_endpoint(portal: &str) -> Result<Url, ConfigError> {
    let origin = parse_portal_url(portal).map_err(ConfigError::Invalid)?;
    origin
        .join("/rest/")
        .map_err(|e| ConfigError::Invalid(format!("bad portal URL '{portal}': {e}")))
}

/// The OAuth server URL, defaulting to Bitrix24's.
pub(crate) fn oauth_server(raw: Option<&str>) -> Result<Url, ConfigError> {
    let text = raw
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_OAUTH_SERVER);
    parse_portal_url(text).map_err(|e| ConfigError::Invalid(format!("OAuth server: {e}")))
}

/// Environment-only credentials, when `BX_EVENTS_WEBHOOK_URL` or `BX_EVENTS_ACCESS_TOKEN` is set.
pub(crate) fn from_environment() -> Result<Option<ActiveProfile>, ConfigError> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let secret = |name: &str| var(name).map(Secret::new);
    if let Some(raw) = var(env::WEBHOOK_URL) {
        let webhook = parse_webhook_url(&raw)
            .map_err(|e| ConfigError::Invalid(format!("{}: {e}", env::WEBHOOK_URL)))?;
        let settings = ProfileSettings {
            portal: webhook.portal.as_str().trim_end_matches('/').to_string(),
            kind: ProfileKind::Webhook,
            client_id: None,
            oauth_server: None,
            rate_limit: None,
            user_id: Some(webhook.user_id),
            scope: None,
            member_id: None,
            uninstalled_at: None,
        };
        return Ok(Some(ActiveProfile {
            name: ENV_PROFILE_NAME.into(),
            from_env: true,
            rate_limit: rate_limit_for(None)?,
            settings,
            credentials: Credentials::Webhook { base: webhook.base },
        }));
    }
    let Some(access_token) = secret(env::ACCESS_TOKEN) else {
        return Ok(None);
    };
    let portal = var(env::PORTAL).ok_or_else(|| {
        ConfigError::Invalid(format!(
            "{} is set but {} is not: set it to the portal URL",
            env::ACCESS_TOKEN,
            env::PORTAL
        ))
    })?;
    let endpoint = rest_endpoint(&portal)
        .map_err(|e| ConfigError::Invalid(format!("{}: {e}", env::PORTAL)))?;
    let server_text = var(env::OAUTH_SERVER);
    let app = match (var(env::CLIENT_ID), secret(env::CLIENT_SECRET)) {
        (Some(client_id), Some(client_secret)) => Some(OAuthApp {
            client_id,
            client_secret,
            oauth_server: oauth_server(server_text.as_deref())?,
        }),
        _ => None,
    };
    let settings = ProfileSettings {
        portal: endpoint.origin().ascii_serialization(),
        kind: ProfileKind::Oauth,
        client_id: var(env::CLIENT_ID),
        oauth_server: server_text,
        rate_limit: None,
        user_id: None,
        scope: None,
        member_id: None,
        uninstalled_at: None,
    };
    let tokens = OAuthTokens {
        access_token,
        refresh_token: secret(env::REFRESH_TOKEN),
        expires_at: None,
    };
    Ok(Some(ActiveProfile {
        name: ENV_PROFILE_NAME.into(),
        from_env: true,
        rate_limit: rate_limit_for(None)?,
        settings,
        credentials: Credentials::OAuth {
            endpoint,
            app,
            store: Arc::new(MemoryTokenStore::new(tokens)),
        },
    }))
}

/// Token store backed by `credentials.toml` or the shared store, shared by every
/// process using the profile.
#[derive(Debug)]
pub(crate) struct ProfileTokenStore {
    store: Store,
    profile: String,
    /// The refresh token the last [`TokenStore::load`] found: the one a refresh
    /// spends, which a pair kept for the shared store may only replace.
    loaded_refresh: std::sync::Mutex<Option<Secret>>,
    /// Secrets read just before the client was built, which its first request
    /// uses instead of reading them again (a round trip per portal with a
    /// shared store).
    first: std::sync::Mutex<Option<Secrets>>,
}

impl ProfileTokenStore {
    pub(crate) fn new(store: Store, profile: String, first: Option<Secrets>) -> Self {
        Self {
            store,
            profile,
            loaded_refresh: std::sync::Mutex::new(None),
            first: std::sync::Mutex::new(first),
        }
    }
}

fn store_error(error: ConfigError) -> ApiError {
    ApiError::Store(Box::new(error))
}

impl ProfileTokenStore {
    fn load_with(
        &self,
        read: impl FnOnce(&Store, &str) -> Result<Option<Secrets>, ConfigError>,
    ) -> Result<OAuthTokens, ApiError> {
        let secrets = read(&self.store, &self.profile)
            .map_err(store_error)?
            .unwrap_or_default();
        *self
            .loaded_refresh
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = secrets.refresh_token.clone();
        let access_token = secrets.access_token.ok_or_else(|| {
            ApiError::Credentials(format!(
                "profile '{}' has no access token stored",
                self.profile
            ))
        })?;
        Ok(OAuthTokens {
            access_token,
            refresh_token: secrets.refresh_token,
            expires_at: secrets.expires_at,
        })
    }
}

impl TokenStore for ProfileTokenStore {
    fn load(&self) -> Result<OAuthTokens, ApiError> {
        self.load_with(Store::secrets_of)
    }

    fn load_recent(&self) -> Result<OAuthTokens, ApiError> {
        let first = self.first.lock().unwrap_or_else(|p| p.into_inner()).take();
        match first {
            Some(secrets) => self.load_with(|_, _| Ok(Some(secrets))),
            None => self.load_with(Store::recent_secrets_of),
        }
    }

    fn lock(&self) -> Result<StoreGuard, ApiError> {
        match self.store.shared() {
            // One refresh per expiry across every machine using the store.
            Some(shared) => Ok(Box::new(
                shared.lock_profile(&self.profile).map_err(store_error)?,
            )),
            None => Ok(Box::new(self.store.lock().map_err(store_error)?)),
        }
    }

    fn check_writable(&self) -> Result<(), ApiError> {
        if let Some(shared) = self.store.shared() {
            // The OAuth server rotates the pair at once: ask only while the
            // store answers (the profile's refresh lock is held already).
            return shared.ensure_reachable().map_err(|error| {
                ApiError::Credentials(format!(
                    "the access token of profile '{}' needs a refresh, but {error}; nothing was refreshed, so the stored refresh token is still valid: run again once the store is back",
                    self.profile
                ))
            });
        }
        self.store.check_writable().map_err(|error| {
            ApiError::Credentials(format!(
                "the access token of profile '{}' needs a refresh, but {error}; nothing was refreshed, so the stored refresh token is still valid: fix the directory's permissions (or free space) and run again",
                self.profile
            ))
        })
    }

    fn save(&self, tokens: &OAuthTokens) -> Result<(), ApiError> {
        if self.store.shared().is_some() {
            let spent = self
                .loaded_refresh
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            return self
                .store
                .save_rotated(&self.profile, tokens, spent)
                .map_err(store_error);
        }
        // The caller holds the lock already; taking it again here would deadlock.
        let mut credentials = self.store.read_credentials().map_err(store_error)?;
        let secrets = credentials
            .profiles
            .entry(self.profile.clone())
            .or_default();
        secrets.access_token = Some(tokens.access_token.clone());
        secrets.refresh_token = tokens.refresh_token.clone();
        secrets.expires_at = tokens.expires_at;
        self.store
            .write_credentials(&credentials)
            .map_err(store_error)
    }
}

/// A sandbox's admin OAuth credentials as a stored profile's settings and secrets
/// (`sandbox --save-profile`).
pub fn sandbox_profile(
    credentials: &crate::sandbox::SandboxCredentials,
) -> (ProfileSettings, Secrets) {
    let settings = ProfileSettings {
        portal: credentials.portal.clone(),
        kind: ProfileKind::Oauth,
        client_id: Some(credentials.client_id.clone()),
        oauth_server: Some(credentials.oauth_server.clone()),
        rate_limit: None,
        user_id: Some(1),
        scope: Some("crm,task,user".into()),
        member_id: Some(credentials.member_id.clone()),
        uninstalled_at: None,
    };
    let secrets = Secrets {
        client_secret: Some(credentials.client_secret.clone()),
        access_token: Some(credentials.access_token.clone()),
        refresh_token: Some(credentials.refresh_token.clone()),
        expires_at: Some(credentials.expires_at),
        webhook_url: None,
        application_token: Some(credentials.application_token.clone()),
        storage: None,
    };
    (settings, secrets)
}
