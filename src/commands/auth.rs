//! `auth login|status|logout|token|switch`: credentials and profiles.

use std::sync::Arc;

use serde_json::json;

use super::context::Context;
use super::errors::CliError;
use crate::bitrix::auth::{
    now_unix, parse_portal_url, parse_webhook_url, Credentials, OAuthApp, OAuthTokens,
};
use crate::bitrix::client::{http_client, token_request};
use crate::bitrix::{Client, MemoryTokenStore, Secret, TokenStore};
use crate::cli::{LoginArgs, LogoutArgs, SwitchArgs};
use crate::config::profile::{
    from_environment, oauth_server, rate_limit_for, rest_endpoint, selected_name,
};
use crate::config::{ConfigError, ProfileKind, ProfileSettings, Secrets, Store};

mod code_flow;
pub(crate) mod import;
pub(crate) mod keyring;
mod status;

pub(crate) use status::status;

/// Stores a profile's settings and secrets and makes it current.
pub fn save_profile(
    store: &Store,
    name: &str,
    settings: ProfileSettings,
    secrets: Secrets,
) -> Result<(), ConfigError> {
    if name.trim().is_empty() || name.chars().any(|c| c.is_control() || c == '"') {
        return Err(ConfigError::Invalid(format!(
            "'{name}' is not a usable profile name"
        )));
    }
    store.update(|config, credentials| {
        config.profiles.insert(name.to_string(), settings);
        config.current = Some(name.to_string());
        credentials.profiles.insert(name.to_string(), secrets);
        Ok(())
    })
}

/// How `auth login` obtains credentials.
enum LoginMethod {
    Webhook(Secret),
    Tokens,
    AuthorizationCode,
}

/// Asks for a secret without echoing it.
fn prompt_secret(ctx: &Context, flag: &str, question: &str) -> anyhow::Result<Secret> {
    prompt_text(ctx, flag, question, true).map(Secret::new)
}

fn prompt_text(ctx: &Context, flag: &str, question: &str, secret: bool) -> anyhow::Result<String> {
    if !ctx.input_allowed {
        return Err(CliError::Usage(format!(
            "{flag} is required (input is not allowed, so bx-events cannot ask for it)"
        ))
        .into());
    }
    let answer = if secret {
        dialoguer::Password::new()
            .with_prompt(question)
            .interact()
            .map_err(super::context::prompt_error)?
    } else {
        dialoguer::Input::<String>::new()
            .with_prompt(question)
            .interact_text()
            .map_err(super::context::prompt_error)?
    };
    Ok(answer.trim().to_string())
}

fn choose_method(ctx: &Context, args: &LoginArgs) -> anyhow::Result<LoginMethod> {
    if let Some(url) = &args.webhook {
        return Ok(LoginMethod::Webhook(url.clone()));
    }
    if args.access_token.is_some() {
        return Ok(LoginMethod::Tokens);
    }
    if args.client_id.is_some() || args.client_secret.is_some() || args.code.is_some() {
        return Ok(LoginMethod::AuthorizationCode);
    }
    if !ctx.input_allowed {
        return Err(CliError::Usage(
            "choose how to log in: --client-id and --client-secret (OAuth application), --access-token with --refresh-token, or --webhook URL".into(),
        )
        .into());
    }
    let choice = dialoguer::Select::new()
        .with_prompt("How do you want to log in?")
        .items([
            "OAuth application (client id and secret) - can manage events",
            "Existing access and refresh tokens",
            "Incoming webhook URL - cannot manage events",
        ])
        .default(0)
        .interact()
        .map_err(super::context::prompt_error)?;
    Ok(match choice {
        0 => LoginMethod::AuthorizationCode,
        1 => LoginMethod::Tokens,
        _ => LoginMethod::Webhook(prompt_secret(ctx, "--webhook", "Webhook URL")?),
    })
}

fn portal_arg(ctx: &Context, args: &LoginArgs) -> anyhow::Result<url::Url> {
    let raw = match &args.portal {
        Some(portal) => portal.clone(),
        None => prompt_text(
            ctx,
            "--portal",
            "Portal URL (e.g. https://example.bitrix24.com)",
            false,
        )?,
    };
    Ok(parse_portal_url(&raw).map_err(|e| CliError::Usage(format!("--portal: {e}")))?)
}

fn app_from_args(
    ctx: &Context,
    args: &LoginArgs,
    required: bool,
) -> anyhow::Result<Option<OAuthApp>> {
    let server =
        oauth_server(args.oauth_server.as_deref()).map_err(|e| CliError::Usage(e.to_string()))?;
    let (id, secret) = match (&args.client_id, &args.client_secret) {
        (Some(id), Some(secret)) => (id.clone(), secret.clone()),
        (None, None) if !required => return Ok(None),
        (id, secret) => {
            let id = match id {
                Some(id) => id.clone(),
                None => prompt_text(ctx, "--client-id", "Client id (application code)", false)?,
            };
            let secret = match secret {
                Some(secret) => secret.clone(),
                None => prompt_secret(ctx, "--client-secret", "Client secret")?,
            };
            (id, secret)
        }
    };
    Ok(Some(OAuthApp {
        client_id: id,
        client_secret: secret,
        oauth_server: server,
    }))
}

/// Fills `--client-secret`, `--access-token`, `--refresh-token` and `--webhook`
/// from `--secrets-from FILE` (or stdin): NAME=VALUE lines, `#` comments allowed.
fn read_secrets(args: &mut LoginArgs) -> anyhow::Result<()> {
    let Some(source) = args.secrets_from.clone() else {
        return Ok(());
    };
    let text = if source.as_os_str() == "-" {
        super::context::read_stdin("the secrets (NAME=VALUE lines)")
            .map_err(|e| CliError::Usage(format!("cannot read secrets from stdin: {e}")))?
    } else {
        std::fs::read_to_string(&source)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", source.display())))?
    };
    // Which names the file set, and where: a name twice in the file is not the
    // same mistake as a name also given as an option (or its variable).
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(CliError::Usage(format!(
                "--secrets-from line {}: expected NAME=VALUE (client_secret, access_token, refresh_token, webhook)",
                number + 1
            ))
            .into());
        };
        let name = name.trim().to_ascii_lowercase();
        if let Some((_, first)) = seen.iter().find(|(seen, _)| *seen == name) {
            return Err(CliError::Usage(format!(
                "--secrets-from line {}: {name} was already given on line {first}; give it once",
                number + 1
            ))
            .into());
        }
        seen.push((name.clone(), number + 1));
        let (slot, option) = match name.as_str() {
            "client_secret" => (&mut args.client_secret, "--client-secret"),
            "access_token" => (&mut args.access_token, "--access-token"),
            "refresh_token" => (&mut args.refresh_token, "--refresh-token"),
            "webhook" => (&mut args.webhook, "--webhook"),
            other => {
                return Err(CliError::Usage(format!(
                    "--secrets-from line {}: unknown name '{other}'; use client_secret, access_token, refresh_token or webhook",
                    number + 1
                ))
                .into())
            }
        };
        if slot.is_some() {
            return Err(CliError::Usage(format!(
                "--secrets-from line {}: {name} is also given by {option}; give it once",
                number + 1
            ))
            .into());
        }
        *slot = Some(Secret::new(value.trim()));
    }
    Ok(())
}

pub(crate) async fn login(ctx: &Context, mut args: LoginArgs) -> anyhow::Result<()> {
    read_secrets(&mut args)?;
    local_oauth_server(ctx, &mut args);
    let name = ctx
        .global
        .profile
        .clone()
        .unwrap_or_else(|| "default".into());
    if args.keyring {
        // Before the login: an authorization code is spent by the exchange.
        keyring::check_available(ctx)?;
    }
    let (settings, mut secrets) = match choose_method(ctx, &args)? {
        LoginMethod::Webhook(raw) => login_webhook(ctx, &args, raw.expose()).await?,
        LoginMethod::Tokens => login_tokens(ctx, &args).await?,
        LoginMethod::AuthorizationCode => login_code(ctx, &args).await?,
    };
    if settings.kind == ProfileKind::Webhook {
        ctx.out.warn("incoming webhooks cannot call event methods (the portal answers WRONG_AUTH_TYPE); bind, list and unbind need an OAuth application. `call` works with a webhook.");
    }
    if args.keyring {
        secrets.storage = Some(crate::config::SecretStorage::Keyring);
    }
    save_profile(&ctx.store, &name, settings.clone(), secrets)?;
    ctx.out.success(&format!(
        "Logged in to {} as profile '{name}' ({}); it is now the current profile",
        settings.portal, settings.kind
    ));
    ctx.out.machine(&json!({"name": name, "portal": settings.portal, "kind": settings.kind, "user_id": settings.user_id}));
    Ok(())
}

/// A portal on this machine (the sandbox) has its own OAuth server: without
/// `--oauth-server`, the public one would be asked to exchange a code or a
/// refresh token it never issued, and fail with a DNS or `invalid_grant` error.
fn local_oauth_server(ctx: &Context, args: &mut LoginArgs) {
    if args.oauth_server.is_some() || args.webhook.is_some() {
        return;
    }
    let Some(portal) = args
        .portal
        .as_deref()
        .and_then(|p| parse_portal_url(p).ok())
    else {
        return;
    };
    if !portal
        .host_str()
        .is_some_and(crate::bitrix::auth::is_loopback_host)
    {
        return;
    }
    let origin = portal.as_str().trim_end_matches('/').to_string();
    ctx.out.info(&format!(
        "The portal is on this machine (a sandbox?): {origin} serves as the OAuth server too; pass --oauth-server URL to choose another"
    ));
    args.oauth_server = Some(origin);
}

fn settings_for(portal: &url::Url, kind: ProfileKind, args: &LoginArgs) -> ProfileSettings {
    ProfileSettings {
        portal: portal.as_str().trim_end_matches('/').to_string(),
        kind,
        client_id: args.client_id.clone(),
        oauth_server: args.oauth_server.clone(),
        rate_limit: args.rate_limit.map(|preset| preset.to_string()),
        user_id: None,
        scope: None,
        member_id: None,
        uninstalled_at: None,
    }
}

async fn login_webhook(
    ctx: &Context,
    args: &LoginArgs,
    raw: &str,
) -> anyhow::Result<(ProfileSettings, Secrets)> {
    let webhook = parse_webhook_url(raw).map_err(|e| CliError::Usage(format!("--webhook: {e}")))?;
    if let Some(portal) = &args.portal {
        let given =
            parse_portal_url(portal).map_err(|e| CliError::Usage(format!("--portal: {e}")))?;
        if given != webhook.portal {
            return Err(CliError::Usage(format!(
                "--portal {given} does not match the webhook's portal {}",
                webhook.portal
            ))
            .into());
        }
    }
    let mut settings = settings_for(&webhook.portal, ProfileKind::Webhook, args);
    settings.user_id = Some(webhook.user_id);
    let client = verification_client(
        ctx,
        &settings,
        Credentials::Webhook {
            base: webhook.base.clone(),
        },
    )?;
    let scope = client.call("scope", &json!({})).await?;
    settings.scope = scope_text(&scope.result);
    let secrets = Secrets {
        webhook_url: Some(Secret::new(webhook.base.expose().to_string())),
        ..Secrets::default()
    };
    Ok((settings, secrets))
}

async fn login_tokens(
    ctx: &Context,
    args: &LoginArgs,
) -> anyhow::Result<(ProfileSettings, Secrets)> {
    let portal = portal_arg(ctx, args)?;
    let app = app_from_args(ctx, args, false)?;
    if app.is_none() {
        ctx.out.warn("without --client-id and --client-secret the token cannot be refreshed; it stops working within an hour");
    }
    let access_token = args.access_token.clone().unwrap_or_default();
    let tokens = OAuthTokens {
        access_token,
        refresh_token: args.refresh_token.clone(),
        expires_at: None,
    };
    verify_and_collect(ctx, args, &portal, app, tokens).await
}

async fn login_code(ctx: &Context, args: &LoginArgs) -> anyhow::Result<(ProfileSettings, Secrets)> {
    let portal = portal_arg(ctx, args)?;
    let app = app_from_args(ctx, args, true)?
        .ok_or_else(|| CliError::Usage("--client-id and --client-secret are required".into()))?;
    let code = match &args.code {
        Some(code) => code.clone(),
        None => code_flow::obtain_code(ctx, &portal, &app.client_id, args.redirect_port).await?,
    };
    let http = http_client(&ctx.client_options_default())?;
    let response = token_request(
        &http,
        &app.oauth_server,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &app.client_id),
            ("client_secret", app.client_secret.expose()),
            ("code", &code),
        ],
    )
    .await
    .map_err(|error| -> anyhow::Error {
        if error.is_code("invalid_grant") {
            // Not a refresh token: the authorization code was refused.
            super::errors::Hinted::new(
                error,
                "the authorization code expired (codes live 30 seconds) or was already used: run the same `auth login` without --code to get a new one, or copy a fresh code and run again at once",
            )
            .into()
        } else {
            error.into()
        }
    })?;
    let tokens = response.tokens(now_unix());
    let (mut settings, secrets) = verify_and_collect(ctx, args, &portal, Some(app), tokens).await?;
    settings.user_id = response.user_id;
    settings.member_id = response.member_id.clone();
    settings.scope = response.scope.clone();
    Ok((settings, secrets))
}

/// Makes one `app.info` call with the tokens (refreshing them if they have expired)
/// and returns what to store.
async fn verify_and_collect(
    ctx: &Context,
    args: &LoginArgs,
    portal: &url::Url,
    app: Option<OAuthApp>,
    tokens: OAuthTokens,
) -> anyhow::Result<(ProfileSettings, Secrets)> {
    let mut settings = settings_for(portal, ProfileKind::Oauth, args);
    if let Some(app) = &app {
        settings.client_id = Some(app.client_id.clone());
    }
    let store = Arc::new(MemoryTokenStore::new(tokens));
    let credentials = Credentials::OAuth {
        endpoint: rest_endpoint(&settings.portal)?,
        app: app.clone(),
        store: store.clone(),
    };
    let client = verification_client(ctx, &settings, credentials)?;
    client.call("app.info", &json!({})).await?;
    let verified = store.load()?;
    let secrets = Secrets {
        client_secret: app.map(|a| a.client_secret),
        access_token: Some(verified.access_token),
        refresh_token: verified.refresh_token,
        expires_at: verified.expires_at,
        webhook_url: None,
        application_token: None,
        storage: None,
    };
    Ok((settings, secrets))
}

fn verification_client(
    ctx: &Context,
    settings: &ProfileSettings,
    credentials: Credentials,
) -> anyhow::Result<Client> {
    let rate_limit = rate_limit_for(Some(settings))?;
    let mut options = ctx.client_options_default();
    options.rate_limit = rate_limit;
    Ok(Client::new(credentials, options)?)
}

fn scope_text(value: &serde_json::Value) -> Option<String> {
    let items: Vec<&str> = value
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    Some(items.join(","))
}

pub(crate) fn logout(ctx: &Context, args: &LogoutArgs) -> anyhow::Result<()> {
    if !args.all && from_environment()?.is_some() {
        return Err(CliError::Usage(
            "the active credentials come from BX_EVENTS_* environment variables; unset them instead of logging out".into(),
        )
        .into());
    }
    // The refresh token cannot be recovered once deleted (the portal would have to
    // reinstall the application): ask, default no; `--yes` for scripts.
    let question = if args.all {
        let count = ctx.store.read_config()?.profiles.len();
        (count > 0)
            .then(|| format!("Log out of all {count} profile(s) and delete their stored secrets?"))
    } else {
        let config = ctx.store.read_config()?;
        let name = selected_name(&config, ctx.global.profile.as_deref())?;
        config.profiles.contains_key(&name).then(|| {
            format!("Log out of profile '{name}' and delete its stored secrets (its refresh token cannot be recovered)?")
        })
    };
    if let Some(question) = question {
        if !ctx.confirm(&question)? {
            return Err(CliError::Failed("cancelled; nothing was changed".into()).into());
        }
    }
    let mut places = Vec::new();
    let removed = ctx.store.update(|config, credentials| {
        let names: Vec<String> = if args.all {
            config.profiles.keys().cloned().collect()
        } else {
            vec![selected_name(config, ctx.global.profile.as_deref())?]
        };
        for name in &names {
            if config.profiles.remove(name).is_none() && !args.all {
                return Err(ConfigError::UnknownProfile {
                    name: name.clone(),
                    known: config.profiles.keys().cloned().collect(),
                });
            }
            if let Some(secrets) = credentials.profiles.remove(name) {
                places.push(ctx.store.storage_of(Some(&secrets)));
            }
            if config.current.as_deref() == Some(name.as_str()) {
                config.current = None;
            }
        }
        Ok(names)
    })?;
    places.sort();
    places.dedup();
    if places.is_empty() {
        places.push(ctx.store.secrets_location());
    }
    let places = places.join(" and ");
    if removed.is_empty() {
        ctx.out.info("No profiles to log out of.");
    } else {
        ctx.out.success(&format!(
            "Logged out of {}; its secrets were deleted from {places}",
            removed
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    Ok(())
}

pub(crate) async fn token(ctx: &Context) -> anyhow::Result<()> {
    let (profile, client) = ctx.connect()?;
    match client.verified_token().await? {
        Some((token, expires_at)) => {
            if ctx.out.is_table() {
                crate::output::print_line(token.expose());
            } else {
                ctx.out
                    .machine(&json!({"access_token": token.expose(), "expires_at": expires_at}));
            }
            Ok(())
        }
        None => Err(CliError::Usage(format!(
            "profile '{}' uses an incoming webhook, which has no access token",
            profile.name
        ))
        .into()),
    }
}

pub(crate) fn switch(ctx: &Context, args: &SwitchArgs) -> anyhow::Result<()> {
    ctx.store.update(|config, _| {
        if !config.profiles.contains_key(&args.name) {
            return Err(ConfigError::UnknownProfile {
                name: args.name.clone(),
                known: config.profiles.keys().cloned().collect(),
            });
        }
        config.current = Some(args.name.clone());
        Ok(())
    })?;
    ctx.out
        .success(&format!("Switched to profile '{}'", args.name));
    if from_environment()?.is_some() {
        ctx.out.warn("BX_EVENTS_* credentials are set in the environment and take precedence over stored profiles");
    }
    Ok(())
}
