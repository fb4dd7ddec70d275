//! CLI-level errors and how any error is explained to the user: code, message, hint.

use crate::output::ErrorReport;

use crate::bitrix::{ApiError, NetworkFailure};
use crate::config::{ConfigError, FileKind};

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

/// An API error with advice specific to the command. It reads as its API error
/// (same message, same sources), so an error chain never shows it twice; the
/// classifier takes the code and exit status from the API error and the hint from
/// here.
#[derive(Debug)]
pub(crate) struct Hinted {
    pub(crate) error: ApiError,
    pub(crate) hint: String,
}

impl Hinted {
    pub(crate) fn new(error: ApiError, hint: impl Into<String>) -> Self {
        Self {
            error,
            hint: hint.into(),
        }
    }
}

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for Hinted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

/// A command's failure, with the profile it worked with so that credential hints
/// can name the exact `auth login` command to run.
#[derive(Debug)]
pub struct Failure {
    pub error: anyhow::Error,
    pub(crate) profile: Option<ProfileHint>,
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Self {
            error,
            profile: None,
        }
    }
}

/// How a failure ends: what the user is told, and the exit status of
/// docs/exit-codes.md.
#[derive(Debug, Clone)]
pub struct Classified {
    pub report: ErrorReport,
    pub exit_code: u8,
    /// A requested stop (Ctrl-C, SIGTERM): the exit code says it all, and
    /// long-running commands print their own summary, so no `error:` line.
    pub interrupted: bool,
}

/// The login command hints suggest. The client secret is not on it: a command
/// line is readable by every user of the machine (`ps`, /proc/PID/cmdline), so
/// `auth login` asks for the secret, or takes it from the environment.
const LOGIN_OAUTH: &str = "bx-events auth login --portal https://YOUR.bitrix24.com --client-id ID";

/// Where the secret comes from when the login command leaves it out.
pub(crate) const SECRET_SOURCES: &str =
    "it asks for the client secret; scripts pass it with --secrets-from FILE, `-` for stdin";

/// The profile a command used, as far as hints need it.
#[derive(Debug, Clone)]
pub(crate) struct ProfileHint {
    name: String,
    portal: String,
    from_env: bool,
    client_id: Option<String>,
    oauth_server: Option<String>,
}

impl ProfileHint {
    pub(crate) fn of(profile: &crate::config::ActiveProfile) -> Self {
        Self {
            name: profile.name.clone(),
            portal: profile.settings.portal.clone(),
            from_env: profile.from_env,
            client_id: profile.settings.client_id.clone(),
            oauth_server: profile
                .settings
                .oauth_server
                .clone()
                .filter(|s| s.trim_end_matches('/') != crate::bitrix::auth::DEFAULT_OAUTH_SERVER),
        }
    }
}

/// The login command for the profile in use (its portal, client id and OAuth
/// server filled in, so it can be copied as it is), or the generic one.
fn login_command(profile: Option<&ProfileHint>) -> String {
    match profile {
        Some(profile) if profile.from_env => {
            "renew the BX_EVENTS_* credentials in the environment".to_string()
        }
        Some(profile) => {
            let mut command = format!(
                "bx-events auth login -p {} --portal {} --client-id {}",
                profile.name,
                profile.portal,
                profile.client_id.as_deref().unwrap_or("ID")
            );
            if let Some(server) = &profile.oauth_server {
                command.push_str(&format!(" --oauth-server {server}"));
            }
            format!("{command} ({SECRET_SOURCES})")
        }
        None => format!("{LOGIN_OAUTH} ({SECRET_SOURCES})"),
    }
}

/// The one place that reads an error chain: the first cause bx-events knows
/// (a command's own error, an API error, a configuration error) decides the code,
/// the exit status and the hint; the message is the whole chain.
pub fn classify(failure: &Failure) -> Classified {
    let error = &failure.error;
    let message = error
        .chain()
        .map(|cause| cause.to_string())
        .collect::<Vec<_>>()
        .join(": ");
    let profile = failure.profile.as_ref();
    let verdict = error
        .chain()
        .find_map(|cause| known_cause(cause, profile))
        .unwrap_or_else(|| Verdict::new("FAILED", 1, None));
    let interrupted = matches!(
        error.chain().find_map(|c| c.downcast_ref::<CliError>()),
        Some(CliError::Interrupted)
    );
    Classified {
        report: ErrorReport {
            code: verdict.code,
            message,
            http_status: verdict.http_status,
            hint: verdict.hint,
        },
        exit_code: verdict.exit_code,
        interrupted,
    }
}

/// What the first known cause of a failure decides.
struct Verdict {
    code: String,
    exit_code: u8,
    http_status: Option<u16>,
    hint: Option<String>,
}

impl Verdict {
    fn new(code: &str, exit_code: u8, hint: Option<String>) -> Self {
        Self {
            code: code.to_string(),
            exit_code,
            http_status: None,
            hint,
        }
    }
}

fn known_cause(
    cause: &(dyn std::error::Error + 'static),
    profile: Option<&ProfileHint>,
) -> Option<Verdict> {
    if let Some(cli) = cause.downcast_ref::<CliError>() {
        let (code, exit) = match cli {
            CliError::Usage(_) => ("USAGE", 2),
            CliError::Failed(_) => ("FAILED", 1),
            CliError::NotInSync(_) => ("NOT_IN_SYNC", 3),
            CliError::Busy(_) => ("BUSY", 75),
            CliError::Interrupted => ("INTERRUPTED", 130),
        };
        return Some(Verdict::new(code, exit, None));
    }
    if let Some(hinted) = cause.downcast_ref::<Hinted>() {
        return api_verdict(&hinted.error, profile).map(|verdict| Verdict {
            hint: Some(hinted.hint.clone()),
            ..verdict
        });
    }
    if let Some(api) = cause.downcast_ref::<ApiError>() {
        return api_verdict(api, profile);
    }
    if let Some(config) = cause.downcast_ref::<ConfigError>() {
        return Some(config_verdict(config));
    }
    None
}

fn api_verdict(api: &ApiError, profile: Option<&ProfileHint>) -> Option<Verdict> {
    if let Some(store) = api.store_error() {
        // The credential store failed during a refresh: its own error decides.
        let store: &(dyn std::error::Error + 'static) = store;
        return known_cause(store, profile);
    }
    let code = api
        .code()
        .map(str::to_string)
        .unwrap_or_else(|| api_kind(api).to_string());
    let exit = if api.is_credentials_problem() {
        4
    } else if api.is_temporary() {
        5
    } else {
        1
    };
    Some(Verdict {
        code,
        exit_code: exit,
        http_status: api.http_status(),
        hint: api_hint(api, profile),
    })
}

fn config_verdict(config: &ConfigError) -> Verdict {
    let exit = match config {
        ConfigError::NoCredentials | ConfigError::UnknownProfile { .. } => 4,
        ConfigError::Corrupt {
            kind: FileKind::Credentials,
            ..
        }
        | ConfigError::Damaged { .. }
        | ConfigError::Keyring { .. }
        | ConfigError::Unsafe { .. } => 4,
        ConfigError::Corrupt {
            kind: FileKind::Config,
            ..
        }
        | ConfigError::Invalid(_) => 2,
        ConfigError::Read { .. }
        | ConfigError::Write { .. }
        | ConfigError::Shared(_)
        | ConfigError::Uninstalled { .. } => 1,
    };
    Verdict::new(config_code(config), exit, config_hint(config))
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
        ConfigError::Shared(_) => "STORE",
        ConfigError::Damaged { .. } => "STORE_ROW_DAMAGED",
        ConfigError::Unsafe { .. } => "UNSAFE_CONFIG",
        ConfigError::Keyring { .. } => "KEYRING",
        ConfigError::Uninstalled { .. } => "APP_UNINSTALLED",
    }
}

fn config_hint(error: &ConfigError) -> Option<String> {
    match error {
        ConfigError::NoCredentials => Some(format!(
            "log in with `{LOGIN_OAUTH}` ({SECRET_SOURCES}), try the built-in portal with `bx-events sandbox --save-profile sandbox`, or set BX_EVENTS_PORTAL and BX_EVENTS_ACCESS_TOKEN"
        )),
        ConfigError::UnknownProfile { .. } => {
            Some("list profiles with `bx-events auth status`; create one with `bx-events auth login -p NAME ...`".into())
        }
        ConfigError::Shared(_) => Some(format!(
            "check --store (or {}): the PostgreSQL server must be reachable and the user allowed to create tables; see docs/fleet.md",
            crate::config::env::STORE
        )),
        ConfigError::Damaged { profile, .. } => Some(format!(
            "other profiles are not affected. Check where this row points (`bx-events auth status -p {profile}`): if another machine sealed it with a different {key}, give every machine the same key; if it was changed without the key, log in again (`bx-events auth login -p {profile} ...`) or, for a fleet, let the portal reinstall the application; `bx-events store init` seals rows written before settings were bound (docs/fleet.md)",
            key = crate::config::env::STORE_KEY
        )),
        ConfigError::Unsafe { fix, .. } | ConfigError::Keyring { fix, .. } => Some(fix.clone()),
        ConfigError::Uninstalled { .. } => Some(
            "once the application is installed again, `listen --capture-installs` stores the new tokens (docs/fleet.md)".into(),
        ),
        _ => None,
    }
}

/// Advice for the portal's and the network's errors.
pub(crate) fn api_hint(error: &ApiError, profile: Option<&ProfileHint>) -> Option<String> {
    if let ApiError::Network { failure, .. } = error {
        return Some(match failure {
            NetworkFailure::Certificate => "the portal's TLS certificate is not trusted: for an on-premise portal with its own CA, pass --ca-cert CA.pem (or set BX_EVENTS_CA_CERT), or add the CA to the system trust store".into(),
            NetworkFailure::Timeout => "the portal did not answer in time: try again, or raise --timeout".into(),
            NetworkFailure::PlainHttpServer => "this server speaks plain HTTP: use http:// instead of https:// (bx-events accepts plain http only for loopback addresses such as the sandbox's 127.0.0.1; a portal without a scheme is taken as https://)".into(),
            _ => "check the portal URL and your network connection (for the sandbox: is `bx-events sandbox` still running?)".into(),
        });
    }
    if let ApiError::Credentials(_) = error {
        // No pair to refresh with: only a new login (or new variables) helps.
        if profile.is_some_and(|p| p.from_env) {
            return Some(login_command(profile));
        }
        return Some(format!(
            "log in again with an OAuth application so bx-events can refresh the token itself: {}",
            login_command(profile)
        ));
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
            login_command(profile)
        ),
        "ACCESS_DENIED" => "the portal user behind these credentials is not an administrator: offline events and handlers of other users need administrator rights. Log in as a portal administrator".into(),
        // Only webhooks are answered INVALID_CREDENTIALS: their secret is wrong.
        "INVALID_CREDENTIALS" => "the webhook's secret is wrong, or the webhook was deleted: copy its URL again from the portal (Developer resources, inbound webhook) and run `bx-events auth login --webhook URL`".to_string(),
        "NO_AUTH_FOUND" | "invalid_token" => format!("the portal rejected the credentials; log in again: {}", login_command(profile)),
        "expired_token" if profile.is_some_and(|p| !p.from_env && p.client_id.is_some()) => format!("the portal still calls the token expired after a refresh: check this machine's clock, then log in again if it persists: {}", login_command(profile)),
        "expired_token" => format!("the access token expired and could not be refreshed (log in with --client-id and --client-secret so bx-events can refresh it): {}", login_command(profile)),
        "invalid_grant" => format!("the refresh token expired or was already used elsewhere; log in again: {}", login_command(profile)),
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

/// Adds the explanation of `WRONG_LICENSE` on reservations and of `ACCESS_DENIED`.
pub(crate) fn explain_offline_error(error: ApiError, reserving: bool) -> anyhow::Error {
    let hint = match error.code() {
        Some("WRONG_LICENSE") if reserving => "the portal's plan lacks extended offline event handling, so records cannot be reserved (clear=0). `offline get --clear` (or `consume --allow-loss`) reads destructively instead: the portal deletes records as it returns them, so anything your handler fails to process is lost",
        Some("WRONG_LICENSE") => "the portal's plan lacks extended offline event handling: connectors (--connector) and reservations need a higher plan",
        Some("ACCESS_DENIED") => "every event.offline.* method needs a portal administrator: log in as one",
        _ => return error.into(),
    };
    Hinted::new(error, hint).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn portal(code: &str, description: &str) -> ApiError {
        ApiError::Portal {
            method: "event.bind".into(),
            code: code.into(),
            description: description.into(),
            status: 400,
            argument: None,
            reset_at: None,
        }
    }

    #[test]
    fn a_hinted_error_reads_once_and_keeps_its_code_and_status() {
        let hinted = Hinted::new(
            portal("ERROR_EVENT_NOT_FOUND", "Event not found"),
            "did you mean X?",
        );
        let failure = Failure::from(anyhow::Error::from(hinted).context("binding ONX"));
        let classified = classify(&failure);
        assert_eq!(classified.report.code, "ERROR_EVENT_NOT_FOUND");
        assert_eq!(classified.exit_code, 1);
        assert_eq!(classified.report.http_status, Some(400));
        assert_eq!(classified.report.hint.as_deref(), Some("did you mean X?"));
        let message = &classified.report.message;
        assert!(message.starts_with("binding ONX: "), "{message}");
        assert_eq!(message.matches("Event not found").count(), 1, "{message}");
    }

    #[test]
    fn exhausted_retries_name_their_last_error_once_and_exit_5() {
        let exhausted = ApiError::RetriesExhausted {
            method: "event.get".into(),
            attempts: 5,
            last: Box::new(portal("QUERY_LIMIT_EXCEEDED", "Too many requests")),
        };
        let classified = classify(&Failure::from(anyhow::Error::from(exhausted)));
        assert_eq!(classified.exit_code, 5);
        assert_eq!(classified.report.code, "QUERY_LIMIT_EXCEEDED");
        assert_eq!(
            classified
                .report
                .message
                .matches("Too many requests")
                .count(),
            1
        );
    }

    #[test]
    fn login_hints_name_the_profile_in_use() {
        let failure = Failure {
            error: anyhow::Error::from(portal(
                "invalid_token",
                "The access token provided is invalid",
            )),
            profile: Some(ProfileHint {
                name: "acme".into(),
                portal: "https://acme.bitrix24.com".into(),
                from_env: false,
                client_id: Some("local.1".into()),
                oauth_server: None,
            }),
        };
        let classified = classify(&failure);
        assert_eq!(classified.exit_code, 4);
        let hint = classified.report.hint.unwrap();
        assert!(
            hint.contains("-p acme --portal https://acme.bitrix24.com --client-id local.1"),
            "{hint}"
        );
    }
}
