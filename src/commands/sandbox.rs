//! `sandbox`: runs the local portal emulator until interrupted.

use serde_json::json;

use super::auth::save_profile;
use super::{CliError, Context};
use crate::bitrix::ratelimit::RatePreset;
use crate::cli::{FaultArgs, FireArgs, SandboxArgs, SandboxCommand};
use crate::config::{ProfileKind, ProfileSettings, Secrets};
use crate::sandbox::delivery::Delivery;
use crate::sandbox::{self, SandboxOptions};

pub async fn run(ctx: &Context, args: &SandboxArgs) -> anyhow::Result<()> {
    match &args.command {
        Some(SandboxCommand::Fire(fire_args)) => return fire(ctx, fire_args).await,
        Some(SandboxCommand::Log(log_args)) => return log(ctx, log_args.url.as_deref()).await,
        Some(SandboxCommand::Fault(fault_args)) => return fault(ctx, fault_args).await,
        None => {}
    }
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
        application_token: args.application_token.clone(),
        faults: args.fault.clone(),
        external_delivery: args.external_delivery,
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

/// The address of the sandbox to talk to: `--url`, else the active profile's portal.
fn sandbox_url(ctx: &Context, explicit: Option<&str>) -> anyhow::Result<url::Url> {
    let raw = match explicit {
        Some(url) => url.to_string(),
        None => ctx.profile()?.settings.portal,
    };
    let url =
        url::Url::parse(&raw).map_err(|e| CliError::Usage(format!("'{raw}' is not a URL: {e}")))?;
    let local = url
        .host_str()
        .is_some_and(crate::bitrix::auth::is_loopback_host);
    if !local {
        return Err(CliError::Usage(format!(
            "{raw} is not a local sandbox: pass --url http://127.0.0.1:PORT of a running `bx-events sandbox`"
        ))
        .into());
    }
    Ok(url)
}

/// `sandbox fire`: asks a running sandbox to make a change `count` times.
async fn fire(ctx: &Context, args: &FireArgs) -> anyhow::Result<()> {
    let event = crate::bitrix::validate::check_event_name(&args.event).map_err(CliError::Usage)?;
    let mut pairs = Vec::new();
    for item in &args.data {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--data '{item}' is not KEY=VALUE")))?;
        pairs.push((key.to_string(), value.to_string()));
    }
    let base = sandbox_url(ctx, args.url.as_deref())?;
    let endpoint = base.join("/_sandbox/fire")?;
    let http = crate::bitrix::client::http_client(&ctx.client_options_default())?;
    let mut queued = 0u64;
    let mut deliveries: Vec<Delivery> = Vec::new();
    for n in 1..=args.count {
        let numbered = pairs
            .iter()
            .map(|(k, v)| (k.clone(), v.replace("{n}", &n.to_string())));
        let data = crate::bitrix::form::decode_dotted(numbered);
        let response = http
            .post(endpoint.clone())
            .json(&json!({"event": event, "data": data}))
            .send()
            .await
            .map_err(|e| {
                CliError::Failed(format!(
                    "cannot reach the sandbox at {base}: {}",
                    e.without_url()
                ))
            })?;
        if !response.status().is_success() {
            return Err(CliError::Failed(format!(
                "the sandbox refused the event: HTTP {}",
                response.status().as_u16()
            ))
            .into());
        }
        let body: serde_json::Value = response.json().await?;
        queued += body["queued"].as_u64().unwrap_or(0);
        deliveries.extend(
            serde_json::from_value::<Vec<Delivery>>(body["deliveries"].clone()).unwrap_or_default(),
        );
    }
    let delivered = deliveries
        .iter()
        .filter(|d| d.status.is_some_and(|s| (200..300).contains(&s)))
        .count();
    ctx.out.success(&format!(
        "Fired {event} {} time(s): {queued} record(s) queued for offline bindings; {delivered} of {} handler call(s) answered 2xx",
        args.count,
        deliveries.len()
    ));
    let report =
        json!({"event": event, "fired": args.count, "queued": queued, "deliveries": deliveries});
    ctx.out
        .record(&report, || deliveries_table(ctx, &deliveries));
    Ok(())
}

/// `sandbox log`: the sandbox's latest deliveries.
async fn log(ctx: &Context, url: Option<&str>) -> anyhow::Result<()> {
    let base = sandbox_url(ctx, url)?;
    let http = crate::bitrix::client::http_client(&ctx.client_options_default())?;
    let deliveries: Vec<Delivery> = http
        .get(base.join("/_sandbox/log")?)
        .send()
        .await
        .map_err(|e| {
            CliError::Failed(format!(
                "cannot reach the sandbox at {base}: {}",
                e.without_url()
            ))
        })?
        .json()
        .await?;
    if deliveries.is_empty() {
        ctx.out
            .info("No deliveries yet: bind a handler and run `bx-events sandbox fire EVENT`.");
    }
    ctx.out
        .list(&deliveries, || deliveries_table(ctx, &deliveries));
    Ok(())
}

fn deliveries_table(ctx: &Context, deliveries: &[Delivery]) -> comfy_table::Table {
    let mut table = ctx.out.table(&["TIME", "EVENT", "HANDLER", "RESULT", "MS"]);
    for delivery in deliveries {
        table.add_row(vec![
            delivery.at.clone(),
            delivery.event.clone(),
            delivery.handler.clone(),
            match (&delivery.status, &delivery.error) {
                (Some(status), _) => format!("HTTP {status}"),
                (None, Some(error)) => format!("failed: {error}"),
                (None, None) => "failed".into(),
            },
            delivery.duration_ms.to_string(),
        ]);
    }
    table
}

/// `sandbox fault`: injects (or clears) faults in a running sandbox.
async fn fault(ctx: &Context, args: &FaultArgs) -> anyhow::Result<()> {
    let base = sandbox_url(ctx, args.url.as_deref())?;
    let endpoint = base.join("/_sandbox/faults")?;
    let http = crate::bitrix::client::http_client(&ctx.client_options_default())?;
    let unreachable = |e: reqwest::Error| {
        CliError::Failed(format!(
            "cannot reach the sandbox at {base}: {}",
            e.without_url()
        ))
    };
    let response = match args.kind {
        None => http.delete(endpoint).send().await.map_err(unreachable)?,
        Some(kind) => {
            let fault = crate::sandbox::faults::Fault {
                kind,
                count: args.count,
                method: args.method.as_ref().map(|m| m.to_ascii_lowercase()),
                delay_ms: args.delay_ms,
            };
            http.post(endpoint)
                .json(&fault)
                .send()
                .await
                .map_err(unreachable)?
        }
    };
    if !response.status().is_success() {
        return Err(CliError::Failed(format!(
            "the sandbox refused: HTTP {}",
            response.status().as_u16()
        ))
        .into());
    }
    ctx.out.success(&match args.kind {
        None => "Cleared every injected fault".to_string(),
        Some(_) => format!(
            "The next {} request(s){} will meet the fault",
            args.count,
            args.method
                .as_ref()
                .map(|m| format!(" to {m}"))
                .unwrap_or_default()
        ),
    });
    Ok(())
}
