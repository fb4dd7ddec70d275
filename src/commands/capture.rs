//! `listen --capture-installs`: the application lifecycle events a portal sends
//! (`ONAPPINSTALL`, `ONAPPUPDATE`, `ONAPPUNINSTALL`) become stored profiles keyed
//! by the portal's `member_id`, each one verified before anything is written.
//!
//! An install carries tokens but nothing that proves who sent them: anyone can
//! POST a form. So the refresh token is exchanged at the OAuth server the
//! application trusts, with the application's own client id and secret. Only a
//! token the server issued to this application passes, and the server's answer
//! (not the request) names the portal. An uninstall carries no tokens; it must
//! present the application token stored when the portal was captured, and that
//! token travels with every ordinary event too, so the uninstall is confirmed
//! with the portal (the stored tokens no longer work) before anything is dropped.
//!
//! Verification spends the OAuth server's and the portal's time with the
//! application's secret: it is bounded in concurrency and rate, and the excess
//! is refused with 429 before any request is made. Nothing is asked of the OAuth
//! server while the store cannot take what it answers.

use serde_json::Value;
use subtle::ConstantTimeEq;
use url::Url;

use crate::bitrix::auth::{now_unix, DEFAULT_OAUTH_SERVER};
use crate::bitrix::client::token_request;
use crate::bitrix::{ApiError, Secret};
use crate::config::{ProfileKind, ProfileSettings, Secrets, Store};

/// What the listener needs to verify and store installs.
pub(crate) struct Capture {
    pub client_id: String,
    pub client_secret: Secret,
    pub oauth_server: Url,
    pub http: reqwest::Client,
    pub store: Store,
    /// Options of the client that confirms an uninstall with the portal.
    pub options: crate::bitrix::ClientOptions,
    pub throttle: Throttle,
}

/// Verifications at once, and started per second, that capture allows: an
/// honest fleet installs in bursts of a few dozen; a flood of forged installs
/// must not become a flood of requests carrying the client secret. A burst
/// waits its turn in a bounded queue; beyond it, senders are answered 429 before
/// any request is made.
pub(crate) struct Throttle {
    running: std::sync::Arc<tokio::sync::Semaphore>,
    waiting: std::sync::atomic::AtomicUsize,
    most_waiting: usize,
    window: std::sync::Mutex<(std::time::Instant, u32)>,
    per_second: u32,
}

/// Leaves the waiting queue when dropped.
struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Throttle {
    pub(crate) fn new(at_once: usize, most_waiting: usize, per_second: u32) -> Self {
        Self {
            running: std::sync::Arc::new(tokio::sync::Semaphore::new(at_once)),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            most_waiting,
            window: std::sync::Mutex::new((std::time::Instant::now(), 0)),
            per_second: per_second.max(1),
        }
    }

    /// A permit for one verification once one is free and this second's
    /// allowance has room; `Busy` at once when the queue is full.
    async fn admit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Refused> {
        use std::sync::atomic::Ordering;
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.most_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Refused::Busy);
        }
        let _waiting = Waiting(&self.waiting);
        let permit = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Refused::Busy)?;
        loop {
            let pause = {
                let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
                let elapsed = window.0.elapsed();
                if elapsed >= std::time::Duration::from_secs(1) {
                    *window = (std::time::Instant::now(), 0);
                }
                if window.1 < self.per_second {
                    window.1 += 1;
                    None
                } else {
                    Some(std::time::Duration::from_secs(1).saturating_sub(elapsed))
                }
            };
            match pause {
                None => return Ok(permit),
                Some(pause) => tokio::time::sleep(pause).await,
            }
        }
    }
}

/// The lifecycle events capture handles.
pub(crate) fn is_lifecycle(event: &str) -> bool {
    matches!(
        event.to_ascii_uppercase().as_str(),
        "ONAPPINSTALL" | "ONAPPUPDATE" | "ONAPPUNINSTALL"
    )
}

/// What a captured event did to the store.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Captured {
    pub event: String,
    pub profile: String,
    pub portal: String,
    pub member_id: String,
    /// `installed`, `updated` (an existing profile's tokens replaced) or `uninstalled`.
    pub outcome: &'static str,
}

/// Why an event was not captured; each maps to the HTTP answer the sender gets.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    #[error("the request has no auth[{0}]")]
    Missing(&'static str),
    #[error("the OAuth server did not accept the refresh token for this application ({0}): not an install of this application")]
    NotOurs(String),
    #[error("the OAuth server says the token belongs to another portal than auth[member_id]")]
    WrongPortal,
    #[error("no captured portal has member id {0}")]
    UnknownPortal(String),
    #[error("auth[application_token] is not the one stored for this portal")]
    TokenMismatch,
    #[error("cannot verify the install at the OAuth server: {0}")]
    Unreachable(String),
    #[error(
        "the OAuth server's answer does not name the portal (client_endpoint); nothing was stored"
    )]
    NoEndpoint,
    #[error("the portal still accepts this application's tokens: the uninstall is not confirmed and nothing changed")]
    StillInstalled,
    #[error("cannot confirm the uninstall with the portal, so nothing changed: {0}")]
    Unconfirmed(String),
    #[error("too many installs to verify at once; try again in a second")]
    Busy,
    #[error("the store cannot be reached, so the install was not verified (its refresh token is still unspent): {0}")]
    StoreDown(String),
    #[error("cannot store the profile: {0}")]
    Store(String),
}

impl Refused {
    /// The status the sender is answered with.
    pub(crate) fn status(&self) -> u16 {
        match self {
            Self::Missing(_) => 400,
            Self::NotOurs(_) | Self::WrongPortal => 403,
            Self::TokenMismatch => 401,
            Self::UnknownPortal(_) => 404,
            Self::StillInstalled => 409,
            Self::Busy => 429,
            Self::Unreachable(_) | Self::NoEndpoint | Self::Unconfirmed(_) => 502,
            Self::StoreDown(_) => 503,
            Self::Store(_) => 500,
        }
    }
}

/// The `auth[...]` text field `name`, when present and not empty.
fn auth_field<'a>(event: &'a Value, name: &str) -> Option<&'a str> {
    event["auth"][name].as_str().filter(|v| !v.is_empty())
}

impl Capture {
    /// Verifies and stores one decoded lifecycle event.
    pub(crate) async fn handle(&self, event: &Value) -> Result<Captured, Refused> {
        let name = event["event"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let member_id = auth_field(event, "member_id")
            .ok_or(Refused::Missing("member_id"))?
            .to_string();
        let application_token =
            auth_field(event, "application_token").ok_or(Refused::Missing("application_token"))?;
        let application_token = Secret::new(application_token.to_string());
        let refresh_token = if name == "ONAPPUNINSTALL" {
            None
        } else {
            Some(auth_field(event, "refresh_token").ok_or(Refused::Missing("refresh_token"))?)
        };
        let _permit = self.throttle.admit().await?;
        let Some(refresh_token) = refresh_token else {
            return self.uninstall(name, member_id, application_token).await;
        };
        // The exchange spends the request's refresh token: ask only while the
        // store can take the pair it gives.
        if let Some(shared) = self.store.shared().cloned() {
            tokio::task::spawn_blocking(move || shared.ensure_reachable())
                .await
                .map_err(|e| Refused::StoreDown(e.to_string()))?
                .map_err(|e| Refused::StoreDown(e.to_string()))?;
        }
        // The exchange is the proof, and it also gives the pair this profile keeps
        // (the request's refresh token is spent by it).
        let answer = token_request(
            &self.http,
            &self.oauth_server,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &self.client_id),
                ("client_secret", self.client_secret.expose()),
                ("refresh_token", refresh_token),
            ],
        )
        .await
        .map_err(refusal_of_exchange)?;
        if answer.member_id.as_deref() != Some(member_id.as_str()) {
            return Err(Refused::WrongPortal);
        }
        // Only the OAuth server's word names the portal: the request's own
        // auth[client_endpoint] is whatever its sender wrote.
        let endpoint = answer.client_endpoint.clone().ok_or(Refused::NoEndpoint)?;
        let portal = super::auth::import::portal_from_endpoint(&endpoint)
            .map_err(|e| Refused::NotOurs(format!("client_endpoint: {e}")))?;
        let tokens = answer.tokens(now_unix());
        let oauth_server = self.oauth_server.as_str().trim_end_matches('/').to_string();
        let settings = ProfileSettings {
            portal: portal.clone(),
            kind: ProfileKind::Oauth,
            client_id: Some(self.client_id.clone()),
            oauth_server: (oauth_server != DEFAULT_OAUTH_SERVER).then_some(oauth_server),
            rate_limit: None,
            user_id: answer.user_id,
            scope: answer.scope.clone(),
            member_id: Some(member_id.clone()),
            uninstalled_at: None,
        };
        let secrets = Secrets {
            client_secret: Some(self.client_secret.clone()),
            access_token: Some(tokens.access_token),
            refresh_token: tokens.refresh_token,
            expires_at: tokens.expires_at,
            webhook_url: None,
            application_token: Some(application_token),
            storage: None,
        };
        let store = self.store.clone();
        let member = member_id.clone();
        let kept = (settings.clone(), secrets.clone());
        let stored = tokio::task::spawn_blocking(move || {
            store.update(|config, credentials| {
                let (profile, existed) = match profile_of_member(config, &member) {
                    Some(name) => (name, true),
                    None => (free_name(config, &settings.portal), false),
                };
                // An existing profile keeps its own choices (its rate limit).
                let rate_limit = config
                    .profiles
                    .get(&profile)
                    .and_then(|s| s.rate_limit.clone());
                config.profiles.insert(
                    profile.clone(),
                    ProfileSettings {
                        rate_limit,
                        ..settings
                    },
                );
                credentials.profiles.insert(profile.clone(), secrets);
                Ok((profile, existed))
            })
        })
        .await
        .map_err(|e| Refused::Store(e.to_string()))?;
        let (profile, outcome) = match stored {
            Ok((profile, existed)) => (profile, if existed { "updated" } else { "installed" }),
            // The request's refresh token is spent: the pair the exchange gave is
            // the portal's only one. Keep it on this machine until the shared
            // store takes it (the config directory's own files have no later).
            Err(error) if self.store.shared().is_some() => {
                let store = self.store.clone();
                let name = super::auth::import::profile_name_for(&portal)
                    .unwrap_or_else(|| format!("member-{member_id}"));
                let (settings, secrets) = kept;
                let keep_name = name.clone();
                tokio::task::spawn_blocking(move || {
                    store.keep_pending_profile(&keep_name, settings, secrets)
                })
                .await
                .map_err(|e| Refused::Store(e.to_string()))?
                .map_err(|e| {
                    Refused::Store(format!(
                        "{error}; and keeping it on this machine failed too: {e}"
                    ))
                })?;
                tracing::warn!(
                    "the store could not take the captured portal {portal} ({error}): its tokens are kept on this machine and written to the store when it answers again"
                );
                (name, "kept")
            }
            Err(error) => return Err(Refused::Store(error.to_string())),
        };
        Ok(Captured {
            event: name,
            profile,
            portal,
            member_id,
            outcome,
        })
    }

    async fn uninstall(
        &self,
        event: String,
        member_id: String,
        presented: Secret,
    ) -> Result<Captured, Refused> {
        let store = self.store.clone();
        let member = member_id.clone();
        let found = tokio::task::spawn_blocking(move || -> Result<_, Refused> {
            let config = store
                .read_config()
                .map_err(|e| Refused::Store(e.to_string()))?;
            let Some(profile) = profile_of_member(&config, &member) else {
                return Err(Refused::UnknownPortal(member));
            };
            let stored = store
                .secrets_of(&profile)
                .map_err(|e| Refused::Store(e.to_string()))?
                .and_then(|s| s.application_token);
            let matches = stored.is_some_and(|stored| {
                bool::from(
                    stored
                        .expose()
                        .as_bytes()
                        .ct_eq(presented.expose().as_bytes()),
                )
            });
            if !matches {
                return Err(Refused::TokenMismatch);
            }
            let settings = config.profiles[&profile].clone();
            let active = (settings.uninstalled_at.is_none())
                .then(|| crate::config::profile::load_stored(&store, &config, &profile))
                .transpose()
                .map_err(|e| Refused::Store(e.to_string()))?;
            Ok((profile, settings.portal, active))
        })
        .await
        .map_err(|e| Refused::Store(e.to_string()))??;
        let (profile, portal, active) = found;
        let Some(active) = active else {
            // Captured as uninstalled already: the portal's repeat changes nothing.
            return Ok(Captured {
                event,
                profile,
                portal,
                member_id,
                outcome: "uninstalled",
            });
        };
        // The application token travels with every event the portal sends, so it
        // proves little: the portal itself must no longer accept the tokens.
        let client = crate::bitrix::Client::with_http(
            self.http.clone(),
            active.credentials.clone(),
            self.options.clone(),
        );
        match client.call("app.info", &serde_json::json!({})).await {
            Ok(_) => return Err(Refused::StillInstalled),
            Err(error) if error.is_credentials_problem() => {}
            Err(error) => return Err(Refused::Unconfirmed(error.to_string())),
        }
        let store = self.store.clone();
        let marked = profile.clone();
        tokio::task::spawn_blocking(move || {
            store.update(|config, credentials| {
                if let Some(settings) = config.profiles.get_mut(&marked) {
                    settings.uninstalled_at = Some(chrono::Utc::now().to_rfc3339());
                }
                // The portal revoked the tokens with the application; keep none.
                if let Some(secrets) = credentials.profiles.get_mut(&marked) {
                    secrets.access_token = None;
                    secrets.refresh_token = None;
                    secrets.expires_at = None;
                }
                Ok(())
            })
        })
        .await
        .map_err(|e| Refused::Store(e.to_string()))?
        .map_err(|e| Refused::Store(e.to_string()))?;
        Ok(Captured {
            event,
            profile,
            portal,
            member_id,
            outcome: "uninstalled",
        })
    }
}

/// What a failed token exchange tells the sender: the OAuth server refused the
/// token (403), or it could not be asked properly (502: unreachable, a 5xx, a
/// redirect, an answer that is not the OAuth server's).
fn refusal_of_exchange(error: ApiError) -> Refused {
    match &error {
        ApiError::OAuth { status, .. } if *status < 500 => Refused::NotOurs(error.to_string()),
        _ => Refused::Unreachable(error.to_string()),
    }
}

/// The profile already holding this portal, found by its member id (a portal
/// keeps its member id when its address changes).
fn profile_of_member(config: &crate::config::ConfigFile, member_id: &str) -> Option<String> {
    config
        .profiles
        .iter()
        .find(|(_, s)| s.member_id.as_deref() == Some(member_id))
        .map(|(name, _)| name.clone())
}

/// A profile name for a new portal: its host (and port), with a number added
/// when another portal already has that name.
fn free_name(config: &crate::config::ConfigFile, portal: &str) -> String {
    let base = super::auth::import::profile_name_for(portal).unwrap_or_else(|| "portal".into());
    if !config.profiles.contains_key(&base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|name| !config.profiles.contains_key(name))
        .unwrap_or(base)
}
