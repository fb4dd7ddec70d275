//! `auth status`: every profile, checked with one call each, secrets never shown.

use serde::Serialize;
use serde_json::json;

use crate::bitrix::ApiError;
use crate::commands::Context;
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
    pub status: String,
}

pub(crate) async fn status(ctx: &Context) -> anyhow::Result<()> {
    let mut profiles: Vec<(ActiveProfile, bool, Option<i64>, String)> = Vec::new();
    let env_profile = from_environment()?;
    let env_active = env_profile.is_some();
    if let Some(profile) = env_profile {
        profiles.push((profile, true, None, "environment".into()));
    }
    let config = ctx.store.read_config()?;
    let credentials = ctx.store.read_credentials()?;
    if let Some(warning) = ctx.store.credentials_warning() {
        ctx.out.warn(&warning);
    }
    let current = selected_name(&config, ctx.global.profile.as_deref()).ok();
    for name in config.profiles.keys() {
        let profile = load_stored(&ctx.store, &config, name)?;
        let expires_at = credentials.profiles.get(name).and_then(|s| s.expires_at);
        let is_current = !env_active && current.as_deref() == Some(name.as_str());
        profiles.push((
            profile,
            is_current,
            expires_at,
            ctx.store.credentials_path().display().to_string(),
        ));
    }
    if profiles.is_empty() {
        return Err(ConfigError::NoCredentials.into());
    }
    let mut checks = tokio::task::JoinSet::new();
    for (index, (profile, ..)) in profiles.iter().enumerate() {
        let client = ctx.client_for(profile)?;
        let method = if profile.settings.kind == ProfileKind::Webhook {
            "scope"
        } else {
            "app.info"
        };
        checks.spawn(async move { (index, client.call(method, &json!({})).await.map(|_| ())) });
    }
    let mut outcomes: Vec<Option<Result<(), ApiError>>> =
        (0..profiles.len()).map(|_| None).collect();
    while let Some(joined) = checks.join_next().await {
        if let Ok((index, outcome)) = joined {
            outcomes[index] = Some(outcome);
        }
    }
    // A refresh during the check may have renewed the stored expiry.
    let refreshed = ctx.store.read_credentials()?;
    let mut rows = Vec::new();
    let mut first_failure = None;
    for ((profile, is_current, expires_at, storage), outcome) in profiles.into_iter().zip(outcomes)
    {
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
            Some(Ok(())) => "ok".to_string(),
            Some(Err(error)) => {
                let text = match error.code() {
                    Some(code) => format!("error: {code}"),
                    None => format!("error: {error}"),
                };
                if first_failure.is_none() {
                    first_failure = Some(
                        anyhow::Error::from(error).context(format!("profile '{}'", profile.name)),
                    );
                }
                text
            }
            None => "error: check did not finish".into(),
        };
        rows.push(StatusRow {
            name: profile.name.clone(),
            current: is_current,
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
    ctx.out.list(&rows, || {
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
        for row in &rows {
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
                row.status.clone(),
            ]);
        }
        table
    });
    match first_failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
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
    std::path::Path::new(storage)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| storage.to_string())
}
