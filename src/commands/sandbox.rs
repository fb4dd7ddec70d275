//! `sandbox`: runs the local portal emulator until interrupted.

use serde_json::json;

use super::auth::save_profile;
use super::{CliError, Context};
use crate::cli::{FaultArgs, FireArgs, SandboxArgs, SandboxCommand};
use crate::sandbox::delivery::Delivery;
use crate::sandbox::{self, SandboxOptions};

pub(crate) async fn run(ctx: &Context, args: &SandboxArgs) -> anyhow::Result<()> {
    match &args.command {
        Some(SandboxCommand::Fire(fire_args)) => return fire(ctx, fire_args).await,
        Some(SandboxCommand::Log(log_args)) => return log(ctx, log_args.url.as_deref()).await,
        Some(SandboxCommand::Fault(fault_args)) => return fault(ctx, fault_args).await,
        None => {}
    }
    let preset = args.rate_limit;
    let options = SandboxOptions {
        host: args.host,
        port: args.port,
        plan: args.plan,
        rate_limit: preset.limit(),
        token_ttl_secs: args.token_ttl,
        application_token: args.application_token.clone(),
        faults: args.fault.clone(),
        external_delivery: args.external_delivery,
        state_file: args.state.clone(),
        not_installed: args.not_installed,
    };
    let running = sandbox::start(options).await.map_err(|e| {
        CliError::Usage(format!(
            "cannot start the sandbox on {}:{}: {e}",
            args.host, args.port
        ))
    })?;
    let creds = running.credentials.clone();
    if let Some(name) = &args.save_profile {
        let (settings, secrets) = creds.as_profile();
        save_profile(&ctx.store, name, settings, secrets)?;
    }
    if ctx.out.is_table() {
        crate::output::print_line(format!(
            "Sandbox portal listening on {} (plan {}, rate limit {preset})",
            running.url,
            args.plan.name()
        ));
        match &args.save_profile {
            Some(name) => crate::output::print_line(format!(
                "Saved its OAuth credentials as profile '{name}' (now current).\nTry: bx-events events; bx-events bind ONCRMDEALADD https://hooks.example.com/deal"
            )),
            // Without a saved profile the emulator's own throwaway credentials are the way in.
            None => crate::output::print_line(format!(
                "  portal             {}\n  client id          {}\n  client secret      {}\n  access token       {}\n  refresh token      {}\n  webhook URL        {}\n  application token  {}\nLog in with: bx-events auth login --portal {} --access-token {} --refresh-token {} --client-id {} --client-secret {} --oauth-server {}",
                creds.portal,
                creds.client_id,
                creds.client_secret.expose(),
                creds.access_token.expose(),
                creds.refresh_token.expose(),
                creds.webhook_url.expose(),
                creds.application_token.expose(),
                creds.portal,
                creds.access_token.expose(),
                creds.refresh_token.expose(),
                creds.client_id,
                creds.client_secret.expose(),
                creds.portal
            )),
        }
        crate::output::print_line("Press Ctrl-C to stop.".to_string());
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

/// The admin API of a running sandbox (`--url`, else the active profile's portal).
struct AdminApi {
    base: url::Url,
    http: reqwest::Client,
}

impl AdminApi {
    fn new(ctx: &Context, explicit: Option<&str>) -> anyhow::Result<Self> {
        let raw = match explicit {
            Some(url) => url.to_string(),
            None => ctx.profile()?.settings.portal,
        };
        let base = url::Url::parse(&raw)
            .map_err(|e| CliError::Usage(format!("'{raw}' is not a URL: {e}")))?;
        if !base
            .host_str()
            .is_some_and(crate::bitrix::auth::is_loopback_host)
        {
            return Err(CliError::Usage(format!(
                "{raw} is not a local sandbox: pass --url http://127.0.0.1:PORT of a running `bx-events sandbox`"
            ))
            .into());
        }
        let http = crate::bitrix::client::http_client(&ctx.client_options_default())?;
        Ok(Self { base, http })
    }

    /// Sends one admin request; an unreachable sandbox or a refusal is an error.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut request = self.http.request(method, self.base.join(path)?);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            CliError::Failed(format!(
                "cannot reach the sandbox at {}: {}",
                self.base,
                e.without_url()
            ))
        })?;
        if !response.status().is_success() {
            return Err(CliError::Failed(format!(
                "the sandbox refused {path}: HTTP {}",
                response.status().as_u16()
            ))
            .into());
        }
        Ok(response)
    }
}

/// `sandbox fire`: asks a running sandbox to make a change `count` times.
async fn fire(ctx: &Context, args: &FireArgs) -> anyhow::Result<()> {
    let event = crate::bitrix::validate::check_event_name(&args.event).map_err(CliError::Usage)?;
    let known = crate::sandbox::catalog::all_events();
    if !known.contains(&event) {
        let similar = super::suggest::nearest_names(&event, &known);
        return Err(CliError::Usage(format!(
            "the sandbox has no event {event}{}; `bx-events events --full` lists them",
            if similar.is_empty() {
                String::new()
            } else {
                format!(" (did you mean {}?)", similar.join(" or "))
            }
        ))
        .into());
    }
    let pairs = super::key_values(&args.data);
    let api = AdminApi::new(ctx, args.url.as_deref())?;
    let mut queued = 0u64;
    let mut deliveries: Vec<Delivery> = Vec::new();
    for n in 1..=args.count {
        let numbered = pairs
            .iter()
            // `{N}` (documented) or `{n}` (clap's help cannot show it) numbers the events.
            .map(|(k, v)| {
                let number = n.to_string();
                (k.clone(), v.replace("{N}", &number).replace("{n}", &number))
            });
        let data = crate::bitrix::form::decode_dotted(numbered);
        let body = json!({"event": event, "data": data});
        let answer: serde_json::Value = api
            .send(reqwest::Method::POST, "/_sandbox/fire", Some(&body))
            .await?
            .json()
            .await?;
        queued += answer["queued"].as_u64().unwrap_or(0);
        deliveries.extend(
            serde_json::from_value::<Vec<Delivery>>(answer["deliveries"].clone())
                .unwrap_or_default(),
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
    if delivered < deliveries.len() {
        return Err(CliError::Failed(format!(
            "{} of {} handler call(s) failed (see the table, or `bx-events sandbox log`)",
            deliveries.len() - delivered,
            deliveries.len()
        ))
        .into());
    }
    Ok(())
}

/// `sandbox log`: the sandbox's latest deliveries.
async fn log(ctx: &Context, url: Option<&str>) -> anyhow::Result<()> {
    let api = AdminApi::new(ctx, url)?;
    let deliveries: Vec<Delivery> = api
        .send(reqwest::Method::GET, "/_sandbox/log", None)
        .await?
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
    let api = AdminApi::new(ctx, args.url.as_deref())?;
    match args.kind {
        None => {
            api.send(reqwest::Method::DELETE, "/_sandbox/faults", None)
                .await?;
            ctx.out.success("Cleared every injected fault");
        }
        Some(kind) => {
            let fault = crate::sandbox::faults::Fault {
                kind,
                count: args.count,
                method: args.method.as_ref().map(|m| m.to_ascii_lowercase()),
                delay_ms: args.delay_ms,
            };
            api.send(
                reqwest::Method::POST,
                "/_sandbox/faults",
                Some(&serde_json::to_value(&fault)?),
            )
            .await?;
            ctx.out.success(&format!(
                "The next {} request(s){} will meet the fault",
                args.count,
                args.method
                    .as_ref()
                    .map(|m| format!(" to {m}"))
                    .unwrap_or_default()
            ));
        }
    }
    Ok(())
}
