//! CLI-level errors and how any error is explained to the user: code, message, hint.

use serde::Serialize;

use crate::bitrix::{ApiError, NetworkFailure};
use crate::config::ConfigError;

/// Errors that commands raise themselves.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad flags, arguments or input; exit 2.
    #[error("{0}")]
    Usage(String),
    /// Some of the work failed (details already printed); exit 1.
    #[error("{0}")]
    Failed(String),
    /// `diff --exit-code` found drift; exit 3.
    #[error("{0}")]
    NotInSync(String),
    /// Another process holds what this command needs (a consumer's queue lock);
    /// exit 75 (EX_TEMPFAIL), so a cron job can tell "already running" apart.
    #[error("{0}")]
    Busy(String),
    /// Ctrl-C or SIGTERM; exit 130.
    #[error("interrupted")]
    Interrupted,
}

/// An API error with advice specific to the command; the exit code follows the source.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct Hinted {
    #[source]
    pub source: ApiError,
    pub hint: String,
}

impl Hinted {
    pub fn new(source: ApiError, hint: impl Into<String>) -> Self {
        Self {
            source,
            hint: hint.into(),
        }
    }
}

/// What a failure looks like to the user (`{"error":{...}}` with `-o json`).
#[derive(Debug, Clone, Serialize)]
pub struct ErrorReport {
    pub code: String,
    pub message: String,
    pub http_status: Option<u16>,
    pub hint: Option<String>,
}

const LOGIN_OAUTH: &str =
    "bx-events auth login --portal https://YOUR.bitrix24.com --client-id ID --client-secret SECRET";

/// The profile the command worked with, so credential hints can name the exact
/// `auth login` command to run.
struct ProfileHint {
    name: String,
    portal: String,
    from_env: bool,
    client_id: Option<String>,
    oauth_server: Option<String>,
}

static PROFILE: std::sync::OnceLock<ProfileHint> = std::sync::OnceLock::new();

/// Records the active profile for hints.
pub fn remember_profile(profile: &crate::config::ActiveProfile) {
    let _ = PROFILE.set(ProfileHint {
        name: profile.name.clone(),
        portal: profile.settings.portal.clone(),
        from_env: profile.from_env,
        client_id: profile.settings.client_id.clone(),
        oauth_server: profile
            .settings
            .oauth_server
            .clone()
            .filter(|s| s.trim_end_matches('/') != crate::bitrix::auth::DEFAULT_OAUTH_SERVER),
    });
}

/// The login command for the profile in use (its portal, client id and OAuth
/// server filled in, so it can be copied as it is), or the generic one.
fn login_command() -> String {
    match PROFILE.get() {
        Some(profile) if profile.from_env => {
            "renew the BX_EVENTS_* credentials in the environment".to_string()
        }
        Some(profile) => {
            let mut command = format!(
                "bx-events auth login -p {} --portal {} --client-id {} --client-secret SECRET",
                profile.name,
                profile.portal,
                profile.client_id.as_deref().unwrap_or("ID")
            );
            if let Some(server) = &profile.oauth_server {
                command.push_str(&format!(" --oauth-server {server}"));
            }
            command
        }
        None => LOGIN_OAUTH.to_string(),
    }
}

/// True when the profile in use can refresh its tokens by itself.
fn profile_has_app() -> bool {
    PROFILE
        .get()
        .is_some_and(|p| !p.from_env && p.client_id.is_some())
}

/// Builds the report of an error: its code, the full message chain and a hint.
pub fn report(error: &anyhow::Error) -> ErrorReport {
    let message = error
        .chain()
        .map(|cause| cause.to_string())
        .fold(Vec::<String>::new(), |mut parts, text| {
            if !parts.iter().any(|p| p.contains(&text)) {
                parts.push(text);
            }
            parts
        })
        .join(": ");
    let mut hint = None;
    let mut code = None;
    let mut http_status = None;
    for cause in error.chain() {
        if let Some(hinted) = cause.downcast_ref::<Hinted>() {
            hint = hint.or(Some(hinted.hint.clone()));
        } else if let Some(cli) = cause.downcast_ref::<CliError>() {
            let own = match cli {
                CliError::Usage(_) => "USAGE",
                CliError::Failed(_) => "FAILED",
                CliError::Interrupted => "INTERRUPTED",
                CliError::NotInSync(_) => "NOT_IN_SYNC",
                CliError::Busy(_) => "BUSY",
            };
            code = code.or(Some(own.to_string()));
        } else if let Some(api) = cause.downcast_ref::<ApiError>() {
            if matches!(api, ApiError::Store(_)) {
                continue;
            }
            code = code.or_else(|| {
                Some(
                    api.code()
                        .map(str::to_string)
                        .unwrap_or_else(|| api_kind(api).to_string()),
                )
            });
            http_status = http_status.or(api.http_status());
            hint = hint.or_else(|| api_hint(api));
        } else if let Some(config) = cause.downcast_ref::<ConfigError>() {
            code = code.or_else(|| Some(config_code(config).to_string()));
            hint = hint.or_else(|| config_hint(config));
        }
    }
    ErrorReport {
        code: code.unwrap_or_else(|| "FAILED".into()),
        message,
        http_status,
        hint,
    }
}

/// The code of an error the portal did not name (each is listed in
/// docs/exit-codes.md).
fn api_kind(error: &ApiError) -> &'static str {
    match error {
        ApiError::Network { .. } => "NETWORK",
        ApiError::BadResponse { .. } => "BAD_RESPONSE",
        ApiError::Credentials(_) => "CREDENTIALS",
        ApiError::InvalidRequest(_) => "INVALID_REQUEST",
        ApiError::Redirected { .. } => "REDIRECTED",
        ApiError::Store(_) => "STORE",
        ApiError::RetriesExhausted { last, .. } => api_kind(last),
        ApiError::Portal { .. } | ApiError::OAuth { .. } => "PORTAL",
    }
}

fn config_code(error: &ConfigError) -> &'static str {
    match error {
        ConfigError::NoCredentials => "NO_CREDENTIALS",
        ConfigError::UnknownProfile { .. } => "UNKNOWN_PROFILE",
        ConfigError::Corrupt { .. } => "CORRUPT_FILE",
        ConfigError::Invalid(_) => "INVALID_CONFIG",
        ConfigError::Read { .. } | ConfigError::Write { .. } => "IO",
    }
}

fn config_hint(error: &ConfigError) -> Option<String> {
    match error {
        ConfigError::NoCredentials => Some(format!(
            "log in with `{LOGIN_OAUTH}`, try the built-in portal with `bx-events sandbox --save-profile sandbox`, or set BX_EVENTS_PORTAL and BX_EVENTS_ACCESS_TOKEN"
        )),
        ConfigError::UnknownProfile { .. } => {
            Some("list profiles with `bx-events auth status`; create one with `bx-events auth login -p NAME ...`".into())
        }
        _ => None,
    }
}

/// Advice for the portal's and the network's errors.
pub fn api_hint(error: &ApiError) -> Option<String> {
    if let ApiError::Network { failure, .. } = error {
        return Some(match failure {
            NetworkFailure::Certificate => "the portal's TLS certificate is not trusted: for an on-premise portal with its own CA, pass --ca-cert CA.pem (or set BX_EVENTS_CA_CERT), or add the CA to the system trust store".into(),
            NetworkFailure::Timeout => "the portal did not answer in time: try again, or raise --timeout".into(),
            _ => "check the portal URL and your network connection (for the sandbox: is `bx-events sandbox` still running?)".into(),
        });
    }
    if let ApiError::BadResponse { status, .. } = error {
        if (500..600).contains(status) {
            return Some("a proxy or the portal itself failed; try again in a minute".into());
        }
        return Some("is the portal URL right? It should be the address you open in the browser, e.g. https://example.bitrix24.com".into());
    }
    let text = match error.code()? {
        "WRONG_AUTH_TYPE" => format!(
            "event methods work only with an OAuth application token, not with an incoming webhook. Create a local application in the portal (Developer resources > Other > Local application, server type), then run `{}`",
            login_command()
        ),
        "ACCESS_DENIED" => "the portal user behind these credentials is not an administrator: offline events and handlers of other users need administrator rights. Log in as a portal administrator".into(),
        "NO_AUTH_FOUND" | "invalid_token" | "INVALID_CREDENTIALS" => format!("the portal rejected the credentials; log in again: {}", login_command()),
        "expired_token" if profile_has_app() => format!("the portal still calls the token expired after a refresh: check this machine's clock, then log in again if it persists: {}", login_command()),
        "expired_token" => format!("the access token expired and could not be refreshed (log in with --client-id and --client-secret so bx-events can refresh it): {}", login_command()),
        "invalid_grant" => format!("the refresh token expired or was already used elsewhere; log in again: {}", login_command()),
        "invalid_client" => "the client id or client secret is wrong: copy both from the application's page in the portal and log in again".into(),
        "insufficient_scope" => "the application lacks the scope for this call: add it in the application's settings in the portal, then reinstall the application".into(),
        "QUERY_LIMIT_EXCEEDED" | "OVERLOAD_LIMIT" => "the portal is limiting requests: wait a minute and try again, or lower the client-side rate with BX_EVENTS_RATE_LIMIT".into(),
        "OPERATION_TIME_LIMIT" => "this method used up its execution time budget for the last 10 minutes; try again later".into(),
        "ERROR_METHOD_NOT_FOUND" => "check the method name (for example event.get); the portal may also lack the module that provides it".into(),
        "WRONG_LICENSE" => "the portal's plan does not include this feature (extended offline event handling and connectors need a paid plan)".into(),
        "ERROR_BATCH_LENGTH_EXCEEDED" => "a batch may hold at most 50 commands".into(),
        _ => return None,
    };
    Some(text)
}
