//! The HTTP transport: one reqwest client, envelopes, token refresh, limiter and retries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngExt;
use serde_json::{Map, Value};
use url::Url;

use crate::support::clock::unix_seconds_f64 as now_seconds;

use super::auth::{now_unix, Credentials, OAuthApp, OAuthTokens, TokenResponse, TokenStore};
use super::error::{ApiError, NetworkFailure};
use super::mask::{mask_json, mask_url};
use super::ratelimit::{Limiter, RatePreset};
use super::response::{
    decode_result, envelope_from, header_text, network_error, parse_body, read_capped, text_of,
    Envelope,
};
use super::secret::Secret;

/// Longest wait for an `OPERATION_TIME_LIMIT` window to reset before giving up.
const MAX_RESET_WAIT: Duration = Duration::from_secs(60);

/// How long one call keeps trying while the portal answers `QUERY_LIMIT_EXCEEDED`.
/// Such a request was refused before it ran, so it is always safe to repeat; the
/// limiter slows down on each refusal, so the attempts themselves are paced.
const LIMIT_PATIENCE: Duration = Duration::from_secs(120);

/// Methods that change nothing, or whose repetition is detected (`event.bind`
/// reports a duplicate), and so may be retried after 5xx, timeouts and drops.
const RETRY_SAFE_METHODS: &[&str] = &[
    "event.get",
    "events",
    "event.offline.list",
    "app.info",
    "event.bind",
    "scope",
    "methods",
    "user.current",
    "server.time",
];

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Per-request timeout.
    pub timeout: Duration,
    /// Client-side rate limit.
    pub rate_limit: RatePreset,
    /// Attempts for a retryable failure, the first included.
    pub max_attempts: u32,
    /// First backoff delay; doubles with each attempt, plus jitter.
    pub base_backoff: Duration,
    /// Extra trusted CA certificate (PEM) for on-premise portals.
    pub extra_root_pem: Option<Vec<u8>>,
    /// File holding the rate-limit bucket shared with other processes; `None`
    /// keeps the bucket in this process.
    pub shared_bucket: Option<std::path::PathBuf>,
    /// A bucket kept elsewhere (a database shared by several machines); wins
    /// over `shared_bucket`.
    pub bucket_store: Option<std::sync::Arc<dyn crate::bitrix::ratelimit::BucketStore>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            rate_limit: RatePreset::default(),
            max_attempts: 5,
            base_backoff: Duration::from_millis(250),
            extra_root_pem: None,
            shared_bucket: None,
            bucket_store: None,
        }
    }
}

/// A Bitrix24 REST client for one portal and one set of credentials.
pub struct Client {
    http: reqwest::Client,
    credentials: Credentials,
    limiter: Limiter,
    options: ClientOptions,
    requests: AtomicU64,
    /// The token pair this client last read from or wrote to its store. Requests
    /// send it without asking the store again (a file read or a database round
    /// trip per request would dominate a fleet's cost); when the portal refuses
    /// it, the store is read again before anything else, since another process
    /// may have refreshed the pair or captured a reinstall meanwhile. A refresh
    /// always re-reads the store under its lock, so a stale copy here can never
    /// lead to spending a refresh token twice.
    tokens: std::sync::Mutex<Option<OAuthTokens>>,
}

/// Builds the shared reqwest client: rustls with the platform trust store, gzip, timeouts.
pub fn http_client(options: &ClientOptions) -> Result<reqwest::Client, ApiError> {
    // Several crates may race to install a provider; whichever wins is ring-compatible.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("bx-events/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(options.timeout.min(Duration::from_secs(10)))
        .timeout(options.timeout)
        .gzip(true)
        // A fleet process talks to thousands of portals, once per turn: kept
        // without end, their idle connections (a socket and TLS state each)
        // would pile up to one per portal. Ten seconds outlasts consume's
        // idle poll at the default interval (at most 8 s): a polled portal keeps
        // its connection.
        .pool_idle_timeout(Duration::from_secs(10))
        // Never follow a redirect: the request carries secrets (see ApiError::Redirected).
        .redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = &options.extra_root_pem {
        let certificate = reqwest::Certificate::from_pem(pem).map_err(|e| {
            ApiError::InvalidRequest(format!("the CA certificate is not valid PEM: {e}"))
        })?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .build()
        .map_err(|e| ApiError::InvalidRequest(format!("cannot set up HTTPS: {e}")))
}

impl Client {
    /// Creates a client for the given credentials.
    pub fn new(credentials: Credentials, options: ClientOptions) -> Result<Self, ApiError> {
        let http = http_client(&options)?;
        Ok(Self::with_http(http, credentials, options))
    }

    /// A client that sends through `http` (made by [`http_client`] with the same
    /// timeout and CA): many portals' clients can share one connection pool and
    /// one TLS set-up instead of building their own.
    pub fn with_http(
        http: reqwest::Client,
        credentials: Credentials,
        options: ClientOptions,
    ) -> Self {
        Self {
            http,
            credentials,
            limiter: match (&options.bucket_store, &options.shared_bucket) {
                (Some(store), _) => Limiter::stored(options.rate_limit, store.clone()),
                (None, Some(path)) => Limiter::shared(options.rate_limit, path.clone()),
                (None, None) => Limiter::new(options.rate_limit),
            },
            options,
            requests: AtomicU64::new(0),
            tokens: std::sync::Mutex::new(None),
        }
    }

    /// How many HTTP requests this client has sent to the portal.
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// A valid access token (refreshed first when known to be expired); `None` for webhooks.
    pub async fn access_token(&self) -> Result<Option<Secret>, ApiError> {
        self.usable_token().await
    }

    /// An access token the portal has just accepted, with its expiry: one cheap call
    /// (`app.info`) proves it, refreshing it first if the portal says it expired
    /// (another process may have rotated the pair). `None` for webhooks.
    pub async fn verified_token(&self) -> Result<Option<(Secret, Option<i64>)>, ApiError> {
        let Credentials::OAuth { store, .. } = &self.credentials else {
            return Ok(None);
        };
        self.call("app.info", &serde_json::json!({})).await?;
        let tokens = in_store(store, |store| store.load()).await?;
        Ok(Some((tokens.access_token, tokens.expires_at)))
    }

    /// Calls a REST method with JSON parameters and returns its envelope.
    ///
    /// ```no_run
    /// use bx_events::bitrix::{parse_webhook_url, Client, ClientOptions, Credentials};
    ///
    /// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// // An incoming webhook (event methods need an application token instead).
    /// let webhook = parse_webhook_url("https://example.bitrix24.com/rest/1/abcdef123456/")?;
    /// let client = Client::new(Credentials::Webhook { base: webhook.base }, ClientOptions::default())?;
    /// let answer = client.call("user.current", &serde_json::json!({})).await?;
    /// println!("logged in as user {}", answer.result["ID"]);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call(&self, method: &str, params: &Value) -> Result<Envelope, ApiError> {
        let safe = RETRY_SAFE_METHODS.contains(&method.to_ascii_lowercase().as_str());
        self.call_with(method, params, safe).await
    }

    /// Like [`Client::call`], saying whether 5xx, timeouts and drops may be retried.
    pub async fn call_with(
        &self,
        method: &str,
        params: &Value,
        retry_safe: bool,
    ) -> Result<Envelope, ApiError> {
        self.call_decoding(method, params, retry_safe, |status, content_type, bytes| {
            let raw = parse_body(method, status, content_type, bytes)?;
            tracing::trace!("<-- body {}", mask_json(&raw));
            envelope_from(method, status, raw)
        })
        .await
    }

    /// Calls a method and decodes its `result` straight into `T`, without building
    /// a JSON tree first: for large answers (`event.get` with 20,000 handlers).
    /// Error answers are read as [`Client::call`] reads them.
    pub async fn call_typed<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        params: &Value,
    ) -> Result<T, ApiError> {
        let retry_safe = RETRY_SAFE_METHODS.contains(&method.to_ascii_lowercase().as_str());
        self.call_typed_with(method, params, retry_safe).await
    }

    /// Like [`Client::call_typed`], saying whether 5xx, timeouts and drops may be
    /// retried (a `batch` of reads may be; the method alone does not say).
    pub async fn call_typed_with<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        params: &Value,
        retry_safe: bool,
    ) -> Result<T, ApiError> {
        self.call_decoding(method, params, retry_safe, |status, content_type, bytes| {
            decode_result(method, status, content_type, bytes)
        })
        .await
    }

    /// The retry, refresh and limit logic around one kind of answer decoding.
    async fn call_decoding<R>(
        &self,
        method: &str,
        params: &Value,
        retry_safe: bool,
        decode: impl Fn(u16, &str, &[u8]) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let mut refreshed = false;
        let mut reread = false;
        let mut attempt: u32 = 0;
        let mut limited_since: Option<Instant> = None;
        let mut token = self.usable_token().await?;
        loop {
            attempt += 1;
            let outcome = self
                .send_once(method, params, token.as_ref())
                .await
                .and_then(|(status, content_type, bytes)| decode(status, &content_type, &bytes));
            let error = match outcome {
                Ok(envelope) => return Ok(envelope),
                Err(error) => error,
            };
            let refused = ["expired_token", "invalid_token", "NO_AUTH_FOUND"]
                .iter()
                .any(|code| error.is_code(code));
            if refused && !reread {
                reread = true;
                if let Some(sent) = token.as_ref() {
                    if let Some(newer) = self.newer_in_store(sent).await? {
                        tracing::debug!("{method}: the store holds a newer access token; using it");
                        token = Some(newer);
                        attempt -= 1;
                        continue;
                    }
                }
            }
            if error.is_code("expired_token") && !refreshed {
                if let Some(stale) = token.as_ref() {
                    tracing::debug!("{method}: access token expired; refreshing");
                    token = Some(self.refresh_after(stale).await?);
                    refreshed = true;
                    attempt -= 1;
                    continue;
                }
            }
            if error.is_code("QUERY_LIMIT_EXCEEDED") {
                // Someone else spends this portal's budget (another machine, another
                // config directory): slow down for every process sharing our bucket,
                // and keep trying while the limiter paces the attempts.
                // (With the client-side limit off there is nothing to slow: the
                // attempts and backoff below apply as to any temporary error.)
                let since = *limited_since.get_or_insert_with(Instant::now);
                if let Some(rate) = self
                    .limiter
                    .slow_down()
                    .await
                    .filter(|_| since.elapsed() < LIMIT_PATIENCE)
                {
                    tracing::info!(
                        "{method}: QUERY_LIMIT_EXCEEDED: other clients spend this portal's request budget too; slowing to {rate:.2} requests/s and retrying"
                    );
                    attempt -= 1;
                    let jitter = rand::rng().random_range(0.0..0.25);
                    tokio::time::sleep(Duration::from_secs_f64(jitter)).await;
                    continue;
                }
            }
            let Some(delay) = self.retry_delay(&error, attempt, retry_safe) else {
                // Limits and 5xx answers that outlasted every retry end alike: the
                // portal is temporarily unavailable (exit 5, docs/exit-codes.md).
                return Err(
                    if attempt > 1 && (error.is_temporary() || error.is_server_error()) {
                        ApiError::RetriesExhausted {
                            method: method.to_string(),
                            attempts: attempt,
                            last: Box::new(error),
                        }
                    } else {
                        error
                    },
                );
            };
            tracing::info!(
                "{method}: {}; retry {attempt}/{} in {} ms",
                short_reason(&error),
                self.options.max_attempts - 1,
                delay.as_millis()
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// Decides whether and after how long a failed attempt is repeated.
    fn retry_delay(&self, error: &ApiError, attempt: u32, retry_safe: bool) -> Option<Duration> {
        if attempt >= self.options.max_attempts {
            return None;
        }
        if let ApiError::Portal {
            code,
            reset_at: Some(reset_at),
            ..
        } = error
        {
            if code == "OPERATION_TIME_LIMIT" {
                // The method was refused before running, so any method may wait for
                // the window to move; waiting minutes is not worth it.
                let wait = reset_at - now_seconds();
                return (wait <= MAX_RESET_WAIT.as_secs_f64())
                    .then(|| Duration::from_secs_f64(wait.max(0.05) + 0.05));
            }
        }
        let retryable = match error {
            ApiError::Portal { code, status, .. } => {
                matches!(
                    code.as_str(),
                    "QUERY_LIMIT_EXCEEDED" | "OPERATION_TIME_LIMIT"
                ) || (retry_safe && (*status >= 500 || code == "OVERLOAD_LIMIT"))
            }
            ApiError::BadResponse { status, .. } => retry_safe && *status >= 500,
            // A refused connection never reached the portal: always safe to repeat.
            ApiError::Network { failure, .. } => {
                *failure == NetworkFailure::Connect
                    || (retry_safe
                        && matches!(failure, NetworkFailure::Timeout | NetworkFailure::Dropped))
            }
            _ => false,
        };
        if !retryable {
            return None;
        }
        let base = self.options.base_backoff.as_secs_f64() * 2f64.powi(attempt as i32 - 1);
        let capped = base.min(8.0);
        let jitter = rand::rng().random_range(0.0..=capped / 2.0);
        Some(Duration::from_secs_f64(capped + jitter))
    }

    /// The access token to send, refreshed first when it is known to be expired.
    async fn usable_token(&self) -> Result<Option<Secret>, ApiError> {
        let Credentials::OAuth { store, app, .. } = &self.credentials else {
            return Ok(None);
        };
        let tokens = match self.remembered() {
            Some(tokens) => tokens,
            None => {
                let tokens = in_store(store, |store| store.load_recent()).await?;
                self.remember(&tokens);
                tokens
            }
        };
        if tokens.is_expired(now_unix()) && app.is_some() && tokens.refresh_token.is_some() {
            return self.refresh_after(&tokens.access_token).await.map(Some);
        }
        Ok(Some(tokens.access_token))
    }

    /// The pair last read from or written to the store, if any.
    fn remembered(&self) -> Option<OAuthTokens> {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn remember(&self, tokens: &OAuthTokens) {
        *self.tokens.lock().unwrap_or_else(|p| p.into_inner()) = Some(tokens.clone());
    }

    /// Reads the pair from the store now, and remembers it.
    async fn reload(&self, store: &Arc<dyn TokenStore>) -> Result<OAuthTokens, ApiError> {
        let tokens = in_store(store, |store| store.load()).await?;
        self.remember(&tokens);
        Ok(tokens)
    }

    /// After the portal refused `sent`: the store's current token when it is
    /// another one (refreshed by another process, or a reinstall's new pair),
    /// `None` when the store holds `sent` too.
    async fn newer_in_store(&self, sent: &Secret) -> Result<Option<Secret>, ApiError> {
        let Credentials::OAuth { store, .. } = &self.credentials else {
            return Ok(None);
        };
        let stored = self.reload(store).await?;
        Ok(
            (stored.access_token != *sent && !stored.is_expired(now_unix()))
                .then_some(stored.access_token),
        )
    }

    /// Refreshes the pair unless another caller already replaced `stale`.
    /// Holds the store's lock across the re-read, the refresh and the save.
    async fn refresh_after(&self, stale: &Secret) -> Result<Secret, ApiError> {
        let Credentials::OAuth { store, app, .. } = &self.credentials else {
            return Err(ApiError::Credentials(
                "webhooks have no token to refresh".into(),
            ));
        };
        let Some(app) = app else {
            return Err(ApiError::Credentials(
                "the access token expired and this profile has no client id and secret to refresh it".into(),
            ));
        };
        let guard = in_store(store, |store| store.lock()).await?;
        let current = self.reload(store).await?;
        if current.access_token != *stale && !current.is_expired(now_unix()) {
            tracing::debug!("token already refreshed by another process");
            drop(guard);
            return Ok(current.access_token);
        }
        let Some(refresh_token) = current.refresh_token.clone() else {
            return Err(ApiError::Credentials(
                "the access token expired and no refresh token is stored".into(),
            ));
        };
        in_store(store, |store| store.check_writable()).await?;
        let response = match self.refresh_request(app, &refresh_token).await {
            Ok(response) => response,
            Err(error) if error.is_code("invalid_grant") => {
                // A writer that does not share our lock (another machine, an older
                // copy) may have renewed the pair meanwhile: look once more.
                let latest = self.reload(store).await?;
                match latest.refresh_token.clone() {
                    Some(newer) if Some(&newer) != current.refresh_token.as_ref() => {
                        if latest.access_token != *stale && !latest.is_expired(now_unix()) {
                            return Ok(latest.access_token);
                        }
                        self.refresh_request(app, &newer).await?
                    }
                    _ => return Err(error),
                }
            }
            Err(error) => return Err(error),
        };
        let mut fresh = response.tokens(now_unix());
        if fresh.refresh_token.is_none() {
            fresh.refresh_token = Some(refresh_token);
        }
        let saved = fresh.clone();
        in_store(store, move |store| store.save(&saved)).await?;
        self.remember(&fresh);
        drop(guard);
        tracing::debug!("stored the refreshed token pair");
        Ok(fresh.access_token)
    }

    /// `GET {oauth_server}/oauth/token/?grant_type=refresh_token&...`.
    async fn refresh_request(
        &self,
        app: &OAuthApp,
        refresh_token: &Secret,
    ) -> Result<TokenResponse, ApiError> {
        token_request(
            &self.http,
            &app.oauth_server,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &app.client_id),
                ("client_secret", app.client_secret.expose()),
                ("refresh_token", refresh_token.expose()),
            ],
        )
        .await
    }

    fn method_url(&self, method: &str) -> Result<Url, ApiError> {
        let base = match &self.credentials {
            Credentials::Webhook { base } => base.expose(),
            Credentials::OAuth { endpoint, .. } => endpoint,
        };
        base.join(method)
            .map_err(|e| ApiError::InvalidRequest(format!("bad method name '{method}': {e}")))
    }

    async fn send_once(
        &self,
        method: &str,
        params: &Value,
        token: Option<&Secret>,
    ) -> Result<(u16, String, Vec<u8>), ApiError> {
        let url = self.method_url(method)?;
        let mut body = match params {
            Value::Object(map) => map.clone(),
            Value::Null => Map::new(),
            _ => {
                return Err(ApiError::InvalidRequest(
                    "method parameters must be a JSON object".into(),
                ))
            }
        };
        if let Some(token) = token {
            body.insert("auth".into(), Value::String(token.expose().clone()));
        }
        let body = Value::Object(body);
        self.limiter.acquire().await;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let masked_url = mask_url(url.as_str());
        tracing::debug!("--> POST {masked_url}");
        tracing::trace!("--> body {}", mask_json(&body));
        let started = Instant::now();
        let response = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| network_error(method, &masked_url, e))?;
        refuse_redirect(method, &response)?;
        let status = response.status().as_u16();
        let content_type = header_text(&response);
        let bytes = read_capped(response, method, &masked_url).await?;
        tracing::debug!(
            "<-- {status} {method} ({} bytes, {} ms)",
            bytes.len(),
            started.elapsed().as_millis()
        );
        Ok((status, content_type, bytes))
    }
}

/// Runs a token store's operation on a blocking thread: it reads a file or
/// queries a database, and must not hold an async worker meanwhile (a fleet's
/// other portals wait on that worker).
async fn in_store<R: Send + 'static>(
    store: &Arc<dyn TokenStore>,
    work: impl FnOnce(&dyn TokenStore) -> Result<R, ApiError> + Send + 'static,
) -> Result<R, ApiError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || work(store.as_ref()))
        .await
        .map_err(|e| ApiError::Store(Box::new(e)))?
}

/// Requests tokens from an OAuth server (`/oauth/token/`).
pub(crate) async fn token_request(
    http: &reqwest::Client,
    oauth_server: &Url,
    query: &[(&str, &str)],
) -> Result<TokenResponse, ApiError> {
    let url = oauth_server
        .join("/oauth/token/")
        .map_err(|e| ApiError::InvalidRequest(format!("bad OAuth server URL: {e}")))?;
    let masked_url = mask_url(url.as_str());
    tracing::debug!(
        "--> GET {masked_url} (grant_type={})",
        query.first().map(|q| q.1).unwrap_or("")
    );
    let response = http
        .get(url)
        .query(query)
        .send()
        .await
        .map_err(|e| network_error("oauth/token", &masked_url, e))?;
    refuse_redirect("oauth/token", &response)?;
    let status = response.status().as_u16();
    let content_type = header_text(&response);
    let bytes = read_capped(response, "oauth/token", &masked_url).await?;
    tracing::debug!("<-- {status} oauth/token");
    let raw = parse_body("oauth/token", status, &content_type, &bytes)?;
    if let Some(code) = raw.get("error") {
        return Err(ApiError::OAuth {
            code: text_of(code),
            description: raw
                .get("error_description")
                .map(text_of)
                .unwrap_or_default(),
            status,
        });
    }
    serde_json::from_value::<TokenResponse>(raw).map_err(|e| ApiError::BadResponse {
        method: "oauth/token".into(),
        status,
        what: format!("a token answer of the wrong shape ({e})"),
    })
}

/// A 3xx answer is an error naming where it pointed (masked), never a hop.
fn refuse_redirect(method: &str, response: &reqwest::Response) -> Result<(), ApiError> {
    let status = response.status();
    if !status.is_redirection() {
        return Ok(());
    }
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|target| {
            response
                .url()
                .join(target)
                .map(|url| mask_url(url.as_str()))
                .unwrap_or_else(|_| super::mask::mask_urls_in_text(target))
        })
        .unwrap_or_else(|| "nowhere (no Location header)".into());
    Err(ApiError::Redirected {
        method: method.to_string(),
        status: status.as_u16(),
        location,
    })
}

fn short_reason(error: &ApiError) -> String {
    match error {
        ApiError::Portal { code, status, .. } => format!("{code} (HTTP {status})"),
        ApiError::BadResponse { status, what, .. } => format!("HTTP {status}: {what}"),
        ApiError::Network { failure, .. } => failure.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
