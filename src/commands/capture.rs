//! `listen --capture-installs`: the application lifecycle events a portal sends
//! (`ONAPPINSTALL`, `ONAPPUPDATE`, `ONAPPUNINSTALL`) become stored profiles keyed
//! by the portal's `member_id`, each one verified before anything is written.
//!
//! An install carries tokens but nothing that proves who sent them: anyone can
//! POST a form. So the refresh token is exchanged at the OAuth server the
//! application trusts, with the application's own client id and secret. Only a
//! token the server issued to this application passes, and the server's answer
//! (not the request) names the portal. An uninstall carries no tokens; it must
//! present the application token stored when the portal was captured.

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
    #[error("cannot reach the OAuth server to verify the install: {0}")]
    Unreachable(String),
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
            Self::Unreachable(_) => 502,
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
        if name == "ONAPPUNINSTALL" {
            return self.uninstall(name, member_id, application_token).await;
        }
        let refresh_token =
            auth_field(event, "refresh_token").ok_or(Refused::Missing("refresh_token"))?;
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
        .map_err(|e| match e {
            ApiError::Network { .. } | ApiError::RetriesExhausted { .. } => {
                Refused::Unreachable(e.to_string())
            }
            other => Refused::NotOurs(other.to_string()),
        })?;
        if answer.member_id.as_deref() != Some(member_id.as_str()) {
            return Err(Refused::WrongPortal);
        }
        let endpoint = answer
            .client_endpoint
            .clone()
            .or_else(|| auth_field(event, "client_endpoint").map(str::to_string))
            .ok_or(Refused::Missing("client_endpoint"))?;
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
        };
        let store = self.store.clone();
        let member = member_id.clone();
        let (profile, existed) = tokio::task::spawn_blocking(move || {
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
        .map_err(|e| Refused::Store(e.to_string()))?
        .map_err(|e| Refused::Store(e.to_string()))?;
        Ok(Captured {
            event: name,
            profile,
            portal,
            member_id,
            outcome: if existed { "updated" } else { "installed" },
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
        let done = tokio::task::spawn_blocking(move || {
            store.update(|config, credentials| {
                let Some(profile) = profile_of_member(config, &member) else {
                    return Ok(Err(Refused::UnknownPortal(member.clone())));
                };
                let stored = credentials
                    .profiles
                    .get(&profile)
                    .and_then(|s| s.application_token.clone());
                let matches = stored.is_some_and(|stored| {
                    bool::from(
                        stored
                            .expose()
                            .as_bytes()
                            .ct_eq(presented.expose().as_bytes()),
                    )
                });
                if !matches {
                    return Ok(Err(Refused::TokenMismatch));
                }
                let Some(settings) = config.profiles.get_mut(&profile) else {
                    return Ok(Err(Refused::UnknownPortal(member.clone())));
                };
                settings.uninstalled_at = Some(chrono::Utc::now().to_rfc3339());
                let portal = settings.portal.clone();
                // The portal revoked the tokens with the application; keep none.
                if let Some(secrets) = credentials.profiles.get_mut(&profile) {
                    secrets.access_token = None;
                    secrets.refresh_token = None;
                    secrets.expires_at = None;
                }
                Ok(Ok((profile, portal)))
            })
        })
        .await
        .map_err(|e| Refused::Store(e.to_string()))?
        .map_err(|e| Refused::Store(e.to_string()))?;
        let (profile, portal) = done?;
        Ok(Captured {
            event,
            profile,
            portal,
            member_id,
            outcome: "uninstalled",
        })
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
