//! Credentials for calls: incoming webhooks, OAuth tokens, and the token refresh protocol.

use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::error::ApiError;
use super::secret::Secret;

/// The default OAuth server of Bitrix24 cloud portals.
pub const DEFAULT_OAUTH_SERVER: &str = "https://oauth.bitrix.info";

/// A pair of OAuth tokens and when the access token expires (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthTokens {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub expires_at: Option<i64>,
}

impl OAuthTokens {
    /// True when the stored expiry says the token is already (or nearly) expired.
    pub fn is_expired(&self, now: i64) -> bool {
        // A token with under 30 s left would likely expire in flight.
        self.expires_at.is_some_and(|at| at <= now + 30)
    }
}

/// The OAuth application whose secret makes refreshes possible.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: Secret,
    pub oauth_server: Url,
}

/// Guard of an exclusive lock on a token store; released on drop.
pub type StoreGuard = Box<dyn Send>;

/// Where OAuth tokens live between calls. The client uses it as a lock-then-reread
/// protocol so that parallel processes refresh a shared pair only once.
pub trait TokenStore: Send + Sync {
    /// Reads the current pair.
    fn load(&self) -> Result<OAuthTokens, ApiError>;
    /// Reads the pair for a client's first request, where a store may answer
    /// from what it read a moment ago: a pair that has changed meanwhile is
    /// only refused by the portal, and the client then calls [`TokenStore::load`].
    fn load_recent(&self) -> Result<OAuthTokens, ApiError> {
        self.load()
    }
    /// Takes the store's exclusive lock (blocking).
    fn lock(&self) -> Result<StoreGuard, ApiError>;
    /// Persists a new pair; called while holding the lock.
    fn save(&self, tokens: &OAuthTokens) -> Result<(), ApiError>;
    /// Proves that [`TokenStore::save`] can succeed before a refresh is asked for:
    /// the OAuth server rotates the pair at once, so a pair that cannot be stored
    /// is lost together with the only valid refresh token.
    fn check_writable(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

/// A token store in memory, for library use and environment-only credentials.
#[derive(Debug)]
pub struct MemoryTokenStore {
    tokens: Mutex<OAuthTokens>,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl MemoryTokenStore {
    pub fn new(tokens: OAuthTokens) -> Self {
        Self {
            tokens: Mutex::new(tokens),
            lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }
}

impl TokenStore for MemoryTokenStore {
    fn load(&self) -> Result<OAuthTokens, ApiError> {
        Ok(self
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone())
    }

    fn lock(&self) -> Result<StoreGuard, ApiError> {
        Ok(Box::new(self.lock.clone().blocking_lock_owned()))
    }

    fn save(&self, tokens: &OAuthTokens) -> Result<(), ApiError> {
        *self.tokens.lock().unwrap_or_else(|p| p.into_inner()) = tokens.clone();
        Ok(())
    }
}

/// How calls are authorised.
#[derive(Clone)]
pub enum Credentials {
    /// An incoming webhook: `https://PORTAL/rest/USER_ID/SECRET/`.
    Webhook { base: Secret<Url> },
    /// An OAuth application token against `https://PORTAL/rest/`.
    OAuth {
        endpoint: Url,
        app: Option<OAuthApp>,
        store: Arc<dyn TokenStore>,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Webhook { base } => f
                .debug_struct("Webhook")
                .field("base", &super::mask::mask_url(base.expose().as_str()))
                .finish(),
            Self::OAuth { endpoint, .. } => f
                .debug_struct("OAuth")
                .field("endpoint", &endpoint.as_str())
                .finish_non_exhaustive(),
        }
    }
}

/// A parsed incoming-webhook URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    /// `https://PORTAL/rest/USER_ID/SECRET/`, normalised with a trailing slash.
    pub base: Secret<Url>,
    /// `https://PORTAL`.
    pub portal: Url,
    pub user_id: i64,
}

/// Parses `https://PORTAL/rest/USER_ID/SECRET/[method]` into its parts.
pub fn parse_webhook_url(raw: &str) -> Result<WebhookUrl, String> {
    let url = Url::parse(raw.trim()).map_err(|e| {
        format!("the webhook URL is not a valid URL ({e}); expected https://PORTAL/rest/USER_ID/SECRET/")
    })?;
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|part| !part.is_empty()).collect())
        .unwrap_or_default();
    let (user, secret) = match segments.as_slice() {
        ["rest", user, secret] | ["rest", user, secret, _] => (*user, *secret),
        _ => {
            return Err(
                "the webhook URL must look like https://PORTAL/rest/USER_ID/SECRET/ (copy it from the portal's incoming webhook page)"
                    .into(),
            )
        }
    };
    let user_id: i64 = user
        .parse()
        .map_err(|_| format!("the webhook URL's user id '{user}' is not a number"))?;
    let portal = portal_origin(&url)?;
    let base = portal
        .join(&format!("rest/{user_id}/{secret}/"))
        .map_err(|e| e.to_string())?;
    Ok(WebhookUrl {
        base: Secret::url(base),
        portal,
        user_id,
    })
}

/// Checks a portal URL (https, or http on loopback) and returns its origin.
pub fn parse_portal_url(raw: &str) -> Result<Url, String> {
    let text = raw.trim();
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        format!("https://{text}")
    };
    let url =
        Url::parse(&with_scheme).map_err(|e| format!("'{raw}' is not a valid portal URL ({e})"))?;
    portal_origin(&url)
}

fn portal_origin(url: &Url) -> Result<Url, String> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the portal URL must not contain a user name or password".into());
    }
    let host = url
        .host_str()
        .ok_or_else(|| format!("'{}' has no host name", super::mask::mask_url(url.as_str())))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(host) => {}
        "http" => {
            return Err(format!(
                "'{host}' must be reached over https:// (plain http:// is accepted only for loopback addresses such as the sandbox)"
            ))
        }
        other => return Err(format!("unsupported URL scheme '{other}': use https://")),
    }
    let mut origin = Url::parse(&format!("{}://{}", url.scheme(), host))
        .map_err(|e| format!("bad portal host '{host}': {e}"))?;
    if let Some(port) = url.port() {
        let _ = origin.set_port(Some(port));
    }
    Ok(origin)
}

/// True for `localhost`, `127.0.0.0/8` and `::1`.
/// The name a portal gives itself in `auth[domain]`: its URL's host, with the
/// port when the URL has one (sandbox portals share a host and differ by port).
/// `None` for text that is not a URL with a host.
pub(crate) fn portal_domain(portal: &str) -> Option<String> {
    let url = Url::parse(portal).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

pub(crate) fn is_loopback_host(host: &str) -> bool {
    let trimmed = host.trim_start_matches('[').trim_end_matches(']');
    if trimmed.eq_ignore_ascii_case("localhost") {
        return true;
    }
    trimmed
        .parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

/// The OAuth server's answer to a token request.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: Secret,
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub expires: Option<i64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub client_endpoint: Option<String>,
    #[serde(default)]
    pub member_id: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub user_id: Option<i64>,
}

impl TokenResponse {
    /// The token pair with an absolute expiry.
    pub(crate) fn tokens(&self, now: i64) -> OAuthTokens {
        let expires_at = self
            .expires
            .filter(|at| *at > now - 86_400)
            .or_else(|| self.expires_in.map(|secs| now + secs));
        OAuthTokens {
            access_token: self.access_token.clone(),
            refresh_token: self.refresh_token.clone(),
            expires_at,
        }
    }
}

/// Accepts numbers, numeric strings and null.
pub(crate) fn lenient_i64<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    Ok(value_as_i64(&value))
}

/// Reads an integer that a portal may send as a number or a string.
pub(crate) fn value_as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// Current unix time in seconds.
pub(crate) fn now_unix() -> i64 {
    crate::support::clock::unix_seconds()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_portal_names_itself_by_its_host_and_port() {
        assert_eq!(
            portal_domain("https://X.bitrix24.ru/").as_deref(),
            Some("x.bitrix24.ru")
        );
        assert_eq!(
            portal_domain("http://127.0.0.1:8080").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(portal_domain("not a url"), None);
    }

    #[test]
    fn a_parsed_webhook_and_its_credentials_never_show_the_secret() {
        let webhook = parse_webhook_url("https://acme.bitrix24.com/rest/1/s3cr3tk3y/").unwrap();
        assert_eq!(webhook.user_id, 1);
        let credentials = Credentials::Webhook {
            base: webhook.base.clone(),
        };
        let shown = format!("{webhook:?} {credentials:?}");
        assert!(!shown.contains("s3cr3tk3y"), "{shown}");
        assert!(webhook
            .base
            .expose()
            .as_str()
            .ends_with("/rest/1/s3cr3tk3y/"));
    }
}
