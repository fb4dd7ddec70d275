//! `sandbox`: runs the local portal emulator until interrupted.

use serde_json::json;

use super::auth::save_profile;
use super::{CliError, Context};
use crate::bitrix::ratelimit::RatePreset;
use crate::cli::SandboxArgs;
use crate::config::{ProfileKind, ProfileSettings, Secrets};
use crate::sandbox::{self, SandboxOptions};

pub async fn run(ctx: &Context, args: &SandboxArgs) -> anyhow::Result<()> {
    let preset: RatePreset = args.rate_limit.parse().map_err(CliError::Usage)?;
    if args.token_ttl < 1 {
        return Err(CliError::Usage("--token-ttl must be at least 1 second".into()).into());
    }
    let options = SandboxOptions {
        host: args.host,
        port: args.port,
        plan: args.plan,
        rate_limit: preset.limit(),
        token_ttl_secs: args.token_ttl,
    };
    let running = sandbox::start(options).await.map_err(|e| {
        CliError::Usage(format!("cannot listen on {}:{}: {e}", args.host, args.port))
    })?;
    let creds = running.credentials.clone();
    if let Some(name) = &args.save_profile {
        let settings = ProfileSettings {
            portal: creds.portal.clone(),
            kind: ProfileKind::Oauth,
            client_id: Some(creds.client_id.clone()),
            oauth_server: Some(creds.portal.clone()),
            rate_limit: None,
            user_id: Some(1),
            scope: Some("crm,task,user".into()),
        };
        let secrets = Secrets {
            client_secret: Some(creds.client_secret.clone()),
            access_token: Some(creds.access_token.clone()),
            refresh_token: Some(creds.refresh_token.clone()),
            expires_at: Some(creds.expires_at),
            webhook_url: None,
        };
        save_profile(&ctx.store, name, settings, secrets)?;
    }
    if ctx.out.is_table() {
        println!(
            "Sandbox portal listening on {} (plan {}, rate limit {preset})",
            running.url,
            args.plan.name()
        );
        match &args.save_profile {
            Some(name) => println!(
                "Saved its OAuth credentials as profile '{name}' (now current).\nTry: bx-events events; bx-events bind ONCRMDEALADD https://hooks.example.com/deal"
            ),
            // Without a saved profile the emulator's own throwaway credentials are the way in.
            None => println!(
                "  portal             {}\n  client id          {}\n  client secret      {}\n  access token       {}\n  refresh token      {}\n  webhook URL        {}\n  application token  {}\nLog in with: bx-events auth login --portal {} --access-token {} --refresh-token {} --client-id {} --client-secret {} --oauth-server {}",
                creds.portal,
                creds.client_id,
                creds.client_secret,
                creds.access_token,
                creds.refresh_token,
                creds.webhook_url,
                creds.application_token,
                creds.portal,
                creds.access_token,
                creds.refresh_token,
                creds.client_id,
                creds.client_secret,
                creds.portal
            ),
        }
        println!("Press Ctrl-C to stop.");
    } else {
        let mut value =
            json!({"url": running.url, "plan": args.plan.name(), "profile": args.save_profile});
        if args.save_profile.is_none() {
            value["credentials"] = serde_json::to_value(&creds)?;
        }
        ctx.out.print_json(&value);
    }
    running.wait().await?;
    Ok(())
}
