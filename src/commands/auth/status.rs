//! `auth status`: every profile, checked with one call each, secrets never shown.

use serde::Serialize;
use serde_json::json;

use crate::bitrix::ApiError;
use crate::commands::context::Context;
use crate::config::profile::{from_environment, load_stored, selected_name};
use crate::config::{ActiveProfile, ConfigError, ProfileKind};

/// One row of `auth status`; never holds a secret.
#[derive(Debug, Serialize)]
pub(crate) struct StatusRow {
    pub name: String,
    pub current: bool,
    pub portal: String,
    pub kind: ProfileKind,
    pub client_id: Option<String>,
    pub user_id: Option<i64>,
    pub scope: Option<String>,
    pub expires_at: Option<String>,
    pub storage: String,
    /// `ok`, or the error the verification call met.
    pub status: CheckResult,
}

/// What the verification call of a profile found (`ok` or `error: ...` in JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CheckResult {
    Ok,
    /// The portal's code, or the error's text when it has none.
    Failed(String),
    /// The check was cut short.
    Unfinished,
    /// The application was uninstalled from the portal at this time (RFC 3339):
    /// nothing to check.
    Uninstalled(String),
}

impl CheckResult {
    /// Rows that need attention sort first, uninstalled portals next, then the rest.
    fn order(&self) -> u8 {
        match self {
            Self::Failed(_) | Self::Unfinished => 0,
            Self::Uninstalled(_) => 1,
            Self::Ok => 2,
        }
    }
}

impl std::fmt::Display for CheckResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ok => f.write_str("ok"),
            Self::Failed(why) => write!(f, "error: {why}"),
            Self::Unfinished => f.write_str("error: check did not finish"),
            Self::Uninstalled(at) => write!(f, "uninstalled {}", short_time(Some(at))),
        }
    }
}

impl Serialize for CheckResult {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Portals checked at once by `auth status`.
const MAX_CHECKS_AT_ONCE: usize = 16;

/// A profile to check, and what `auth status` knows of it before the check.
struct Candidate {
    profile: ActiveProfile,
    current: bool,
    expires_at: Option<i64>,
    /// Where its secrets live: the credentials file, or "environment".
    storage: String,
}

pub(crate) async fn status(ctx: &Context) -> anyhow::Result<()> {
    let (candidates, unchecked, unusable) = gather(ctx)?;
    let outcomes = check(ctx, &candidates).await?;
    // A refresh during the check may have renewed the stored expiry.
    let refreshed = ctx.store.read_credentials_leniently()?;
    let mut rows = Vec::new();
    let mut first_failure = unusable.map(anyhow::Error::from);
    for (candidate, outcome) in candidates.into_iter().zip(outcomes) {
        let Candidate {
            profile,
            current,
            expires_at,
            storage,
        } = candidate;
        let expires_at = if profile.from_env {
            expires_at
        } else {
            refreshed
                .profiles
                .get(&profile.name)
                .and_then(|s| s.expires_at)
                .or(expires_at)
        };
        let status = match outcome {
            Some(Ok(())) => CheckResult::Ok,
            Some(Err(error)) => {
                let why = error
                    .code()
                    .map(str::to_string)
                    .unwrap_or_else(|| error.to_string());
                if first_failure.is_none() {
                    // Its hint then names this profile, as `list` would.
                    ctx.blame_profile(&profile);
                    first_failure = Some(
                        anyhow::Error::from(error).context(format!("profile '{}'", profile.name)),
                    );
                }
                CheckResult::Failed(why)
            }
            None => CheckResult::Unfinished,
        };
        rows.push(StatusRow {
            name: profile.name.clone(),
            current,
            portal: profile.settings.portal.clone(),
            kind: profile.settings.kind,
            client_id: profile.settings.client_id.clone(),
            user_id: profile.settings.user_id,
            scope: profile.settings.scope.clone(),
            expires_at: expires_at
                .and_then(|at| chrono::DateTime::from_timestamp(at, 0))
                .map(|d| d.to_rfc3339()),
            storage,
            status,
        });
    }
    rows.extend(unchecked);
    // Hundreds of portals: the ones that need attention first, then a count.
    rows.sort_by_key(|row| row.status.order());
    let count = |order: u8| rows.iter().filter(|r| r.status.order() == order).count();
    let (failing, removed, ok) = (count(0), count(1), count(2));
    ctx.out.list(&rows, || render(ctx, &rows));
    if ctx.out.format == crate::output::OutputFormat::Ndjson {
        // A stream of rows ends with its counts, as `apply` ends with its summary;
        // `-o json` stays an array of rows.
        ctx.out.print_json(&json!({"summary": {
            "profiles": rows.len(), "ok": ok, "failing": failing, "uninstalled": removed,
        }}));
    }
    if rows.len() > 1 {
        let removed = if removed > 0 {
            format!(", {removed} uninstalled")
        } else {
            String::new()
        };
        ctx.out.info(&format!(
            "{} profile(s): {ok} ok, {failing} failing{removed}",
            rows.len()
        ));
    }
    match first_failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// The environment's profile (when set), then every stored one. Rows that are
/// not checked come apart: portals the application was uninstalled from, and
/// profiles whose secrets the OS keyring does not give (failing rows; the first
/// such error is returned, for the exit code and the hint).
fn gather(ctx: &Context) -> anyhow::Result<(Vec<Candidate>, Vec<StatusRow>, Option<ConfigError>)> {
    let mut unusable = None;
    let mut candidates = Vec::new();
    let mut unchecked = Vec::new();
    let env_profile = from_environment()?;
    let env_active = env_profile.is_some();
    if let Some(profile) = env_profile {
        candidates.push(Candidate {
            profile,
            current: true,
            expires_at: None,
            storage: "environment".into(),
        });
    }
    let config = ctx.store.read_config()?;
    let credentials = ctx.store.read_credentials_leniently()?;
    if let Some(warning) = ctx.store.credentials_warning() {
        ctx.out.warn(&warning);
    }
    let current = selected_name(&config, ctx.global.profile.as_deref()).ok();
    for (name, settings) in &config.profiles {
        let storage = ctx.store.storage_of(credentials.profiles.get(name));
        let is_current = !env_active && current.as_deref() == Some(name.as_str());
        let unchecked_row = |status| StatusRow {
            name: name.clone(),
            current: is_current,
            portal: settings.portal.clone(),
            kind: settings.kind,
            client_id: settings.client_id.clone(),
            user_id: settings.user_id,
            scope: settings.scope.clone(),
            expires_at: None,
            storage: storage.clone(),
            status,
        };
        if let Some(at) = &settings.uninstalled_at {
            unchecked.push(unchecked_row(CheckResult::Uninstalled(at.clone())));
            continue;
        }
        match load_stored(&ctx.store, &config, name) {
            Ok(profile) => candidates.push(Candidate {
                profile,
                current: is_current,
                expires_at: credentials.profiles.get(name).and_then(|s| s.expires_at),
                storage: storage.clone(),
            }),
            Err(error @ ConfigError::Keyring { .. }) => {
                unchecked.push(unchecked_row(CheckResult::Failed("KEYRING".into())));
                unusable.get_or_insert(error);
            }
            Err(other) => return Err(other.into()),
        }
    }
    if candidates.is_empty() && unchecked.is_empty() {
        return Err(ConfigError::NoCredentials.into());
    }
    Ok((candidates, unchecked, unusable))
}

/// One cheap call per profile, all at once; `None` where a check did not finish.
async fn check(
    ctx: &Context,
    candidates: &[Candidate],
) -> anyhow::Result<Vec<Option<Result<(), ApiError>>>> {
    // Many profiles are many portals: a bounded number of checks at a time.
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CHECKS_AT_ONCE));
    let mut checks = tokio::task::JoinSet::new();
    for (index, candidate) in candidates.iter().enumerate() {
        let client = ctx.client_for(&candidate.profile)?;
        let method = if candidate.profile.settings.kind == ProfileKind::Webhook {
            "scope"
        } else {
            "app.info"
        };
        let slots = slots.clone();
        checks.spawn(async move {
            let _slot = slots.acquire_owned().await;
            (index, client.call(method, &json!({})).await.map(|_| ()))
        });
    }
    let mut outcomes: Vec<Option<Result<(), ApiError>>> =
        (0..candidates.len()).map(|_| None).collect();
    while let Some(joined) = checks.join_next().await {
        if let Ok((index, outcome)) = joined {
            outcomes[index] = Some(outcome);
        }
    }
    Ok(outcomes)
}

fn render(ctx: &Context, rows: &[StatusRow]) -> crate::output::TextTable {
    let mut table = ctx.out.table(&[
        "",
        "PROFILE",
        "PORTAL",
        "KIND",
        "USER",
        "SCOPE",
        "EXPIRES",
        "SECRETS IN",
        "STATUS",
    ]);
    for row in rows {
        table.add_row(vec![
            if row.current {
                "*".into()
            } else {
                String::new()
            },
            row.name.clone(),
            row.portal.clone(),
            row.kind.to_string(),
            row.user_id
                .map(|u| u.to_string())
                .unwrap_or_else(|| "-".into()),
            row.scope.clone().unwrap_or_else(|| "-".into()),
            short_time(row.expires_at.as_deref()),
            short_storage(&row.storage),
            row.status.to_string(),
        ]);
    }
    table
}

/// `2026-11-26 21:56` for a table cell; JSON keeps the full RFC 3339 time.
fn short_time(rfc3339: Option<&str>) -> String {
    rfc3339
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| "-".into())
}

/// The file name (or "environment") for a table cell; JSON keeps the full path.
fn short_storage(storage: &str) -> String {
    if storage.starts_with("postgres://") {
        return storage.to_string();
    }
    std::path::Path::new(storage)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| storage.to_string())
}
