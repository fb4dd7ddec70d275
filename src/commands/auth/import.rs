//! `auth import`: many portals' tokens at once, from JSON lines such as the auth
//! data an application receives at install. Every line is checked first; one bad
//! line names itself and nothing is written.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::bitrix::auth::{lenient_i64, now_unix, parse_portal_url, DEFAULT_OAUTH_SERVER};
use crate::bitrix::Secret;
use crate::cli::ImportArgs;
use crate::commands::context::Context;
use crate::commands::errors::CliError;
use crate::config::{ProfileKind, ProfileSettings, Secrets};

/// At most this many line errors are listed; the rest are counted.
const SHOWN_ERRORS: usize = 20;

/// One line as an application receives it (`auth[...]` of an install or an event),
/// plus the profile name and the application's credentials when the line has them.
#[derive(Debug, Deserialize)]
struct ImportLine {
    profile: Option<String>,
    access_token: Option<Secret>,
    refresh_token: Option<Secret>,
    #[serde(default, deserialize_with = "lenient_i64")]
    expires: Option<i64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    expires_in: Option<i64>,
    domain: Option<String>,
    client_endpoint: Option<String>,
    server_endpoint: Option<String>,
    member_id: Option<String>,
    application_token: Option<Secret>,
    scope: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    user_id: Option<i64>,
    client_id: Option<String>,
    client_secret: Option<Secret>,
}

/// A checked line, ready to store.
struct Imported {
    name: String,
    settings: ProfileSettings,
    secrets: Secrets,
}

pub(crate) fn run(ctx: &Context, args: &ImportArgs) -> anyhow::Result<()> {
    let text = read_input(args)?;
    let client_secret = app_secret(args)?;
    let existing: BTreeSet<String> = ctx.store.read_config()?.profiles.into_keys().collect();
    let now = now_unix();
    let mut imported = Vec::new();
    let mut errors = Vec::new();
    let mut names = BTreeSet::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        match check_line(line, args, client_secret.as_ref(), now) {
            Ok(entry) if !names.insert(entry.name.clone()) => errors.push(format!(
                "line {number}: profile '{}' appears twice in the file",
                entry.name
            )),
            Ok(entry) if existing.contains(&entry.name) && !args.replace => errors.push(format!(
                "line {number}: profile '{}' already exists (pass --replace to overwrite it)",
                entry.name
            )),
            Ok(entry) => imported.push(entry),
            Err(why) => errors.push(format!("line {number}: {why}")),
        }
    }
    if !errors.is_empty() {
        let more = errors.len().saturating_sub(SHOWN_ERRORS);
        let mut message = format!(
            "nothing was imported; {} line(s) need fixing:\n  {}",
            errors.len(),
            errors[..errors.len().min(SHOWN_ERRORS)].join("\n  ")
        );
        if more > 0 {
            message.push_str(&format!("\n  ... and {more} more"));
        }
        return Err(CliError::Usage(message).into());
    }
    if imported.is_empty() {
        return Err(CliError::Usage("the input holds no lines to import".into()).into());
    }
    let without_refresh = imported
        .iter()
        .filter(|e| e.secrets.refresh_token.is_none() || e.secrets.client_secret.is_none())
        .count();
    // One read-modify-write under the store's lock: all lines or none.
    ctx.store.update(|config, credentials| {
        for entry in &imported {
            config
                .profiles
                .insert(entry.name.clone(), entry.settings.clone());
            credentials
                .profiles
                .insert(entry.name.clone(), entry.secrets.clone());
        }
        Ok(())
    })?;
    if without_refresh > 0 {
        ctx.out.warn(&format!(
            "{without_refresh} profile(s) lack a refresh token or the application's client id and secret: their tokens stop working within an hour"
        ));
    }
    ctx.out.success(&format!(
        "Imported {} profile(s) into {}",
        imported.len(),
        ctx.store.dir().display()
    ));
    let rows: Vec<Value> = imported
        .iter()
        .map(|e| json!({"profile": e.name, "portal": e.settings.portal, "member_id": e.settings.member_id}))
        .collect();
    ctx.out.machine_list(&rows);
    Ok(())
}

fn read_input(args: &ImportArgs) -> anyhow::Result<String> {
    if args.file.as_os_str() == "-" {
        return super::super::context::read_stdin("the install lines (one JSON object each)")
            .map_err(|e| CliError::Usage(format!("cannot read the lines from stdin: {e}")).into());
    }
    std::fs::read_to_string(&args.file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", args.file.display())).into())
}

/// `--secrets-from FILE`: the application's client secret as `client_secret=VALUE`.
fn app_secret(args: &ImportArgs) -> anyhow::Result<Option<Secret>> {
    args.secrets_from
        .as_deref()
        .map(client_secret_from)
        .transpose()
}

/// Reads the application's client secret from a `client_secret=VALUE` line of a
/// file, so it never appears in the process list.
pub(crate) fn client_secret_from(path: &std::path::Path) -> anyhow::Result<Secret> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
    text.lines()
        .filter_map(|line| line.trim().split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("client_secret"))
        .map(|(_, value)| Secret::new(value.trim()))
        .filter(|secret| !secret.is_empty())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{} has no client_secret=VALUE line",
                path.display()
            ))
            .into()
        })
}

fn check_line(
    line: &str,
    args: &ImportArgs,
    app_secret: Option<&Secret>,
    now: i64,
) -> Result<Imported, String> {
    // The parser's own message may quote a value, and values here are tokens:
    // name only the kind of problem and where it is.
    let fields: ImportLine = serde_json::from_str(line).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => format!(
            "not a JSON object of auth data (a field has the wrong type, near column {})",
            e.column()
        ),
        _ => format!("not a JSON object of auth data (column {})", e.column()),
    })?;
    let access_token = fields
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or("no access_token")?;
    let portal = match (&fields.client_endpoint, &fields.domain) {
        (Some(endpoint), _) => portal_from_endpoint(endpoint)?,
        (None, Some(domain)) => portal_from_endpoint(&format!("https://{domain}"))?,
        (None, None) => return Err("neither client_endpoint nor domain names the portal".into()),
    };
    let oauth_server = fields
        .server_endpoint
        .as_deref()
        .map(|s| {
            s.trim_end_matches('/')
                .trim_end_matches("/rest")
                .to_string()
        })
        .filter(|s| s.trim_end_matches('/') != DEFAULT_OAUTH_SERVER);
    if let Some(server) = &oauth_server {
        // The client secret and the refresh token are sent there: the same rule as
        // a portal's address (https, or http only on loopback), checked now rather
        // than by every later command.
        crate::bitrix::auth::parse_portal_url(server)
            .map_err(|e| format!("server_endpoint: {e}"))?;
    }
    let name = match fields.profile {
        Some(name) => name,
        None => profile_name_for(&portal)
            .ok_or("no profile name and no portal host to name it after")?,
    };
    if name.trim().is_empty() || name.chars().any(|c| c.is_control() || c == '"') {
        return Err(format!("'{name}' is not a usable profile name"));
    }
    let expires_at = fields
        .expires
        .filter(|at| *at > now - 86_400)
        .or_else(|| fields.expires_in.map(|secs| now + secs));
    let client_id = fields.client_id.or_else(|| args.client_id.clone());
    let client_secret = fields.client_secret.or_else(|| app_secret.cloned());
    Ok(Imported {
        settings: ProfileSettings {
            portal,
            kind: ProfileKind::Oauth,
            client_id,
            oauth_server,
            rate_limit: None,
            user_id: fields.user_id,
            scope: fields.scope,
            member_id: fields.member_id,
            uninstalled_at: None,
        },
        secrets: Secrets {
            client_secret,
            access_token: Some(access_token),
            refresh_token: fields.refresh_token.filter(|t| !t.is_empty()),
            expires_at,
            webhook_url: None,
            application_token: fields.application_token.filter(|t| !t.is_empty()),
            storage: None,
        },
        name,
    })
}

/// The portal's address from a `client_endpoint` (`https://HOST/rest/`) or a
/// bare domain, checked as a portal URL and without the trailing slash.
pub(crate) fn portal_from_endpoint(endpoint: &str) -> Result<String, String> {
    let trimmed = endpoint.trim_end_matches('/').trim_end_matches("/rest");
    let portal = parse_portal_url(trimmed).map_err(|e| format!("portal: {e}"))?;
    Ok(portal.as_str().trim_end_matches('/').to_string())
}

/// The profile name a portal gets when none is given: its host, and its port
/// when it has one (sandbox portals share a host and differ by port).
pub(crate) fn profile_name_for(portal: &str) -> Option<String> {
    crate::bitrix::auth::portal_domain(portal)
}
