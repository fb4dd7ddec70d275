//! `sandbox`: runs the local portal emulator until interrupted.

use serde_json::json;

use super::auth::save_profile;
use super::context::Context;
use super::errors::CliError;
use crate::cli::{FaultArgs, FireArgs, InstallArgs, SandboxArgs, SandboxCommand};
use crate::sandbox::state::Delivery;
use crate::sandbox::{self, SandboxOptions};

pub(crate) async fn run(ctx: &Context, args: &SandboxArgs) -> anyhow::Result<()> {
    match &args.command {
        Some(SandboxCommand::Fire(fire_args)) => return fire(ctx, fire_args).await,
        Some(SandboxCommand::Log(log_args)) => return log(ctx, log_args.url.as_deref()).await,
        Some(SandboxCommand::Fault(fault_args)) => return fault(ctx, fault_args).await,
        Some(SandboxCommand::Install(install_args)) => return install(ctx, install_args).await,
        None => {}
    }
    if args.portals > 1 && (args.state.is_some() || args.application_token.is_some()) {
        return Err(CliError::Usage(
            "--state and --application-token describe one portal: use them without --portals"
                .into(),
        )
        .into());
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
        portals: args.portals as usize,
        scopes: args.scopes.as_deref().map(application_scopes).transpose()?,
    };
    let running = sandbox::start(options).await.map_err(|e| {
        CliError::Usage(format!(
            "cannot start the sandbox on {}:{}: {e}",
            args.host, args.port
        ))
    })?;
    if running.fleet.len() > 1 {
        announce_fleet(ctx, args, &running)?;
        running.wait().await?;
        return Ok(());
    }
    let creds = running.credentials.clone();
    if let Some(name) = &args.save_profile {
        let (settings, secrets) = crate::config::sandbox_profile(&creds);
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

/// Portals listed by name in the table; the rest are counted (JSON lists all).
const LISTED_PORTALS: usize = 10;

/// Saves NAME-1 ... NAME-N (one locked write) and tells where the portals are.
fn announce_fleet(
    ctx: &Context,
    args: &SandboxArgs,
    running: &sandbox::RunningSandbox,
) -> anyhow::Result<()> {
    let profile_of = |k: usize| args.save_profile.as_ref().map(|name| format!("{name}-{k}"));
    if args.save_profile.is_some() {
        ctx.store.update(|config, credentials| {
            for (index, member) in running.fleet.iter().enumerate() {
                let name = profile_of(index + 1).unwrap_or_default();
                let (settings, secrets) = crate::config::sandbox_profile(&member.credentials);
                config.profiles.insert(name.clone(), settings);
                credentials.profiles.insert(name, secrets);
            }
            config.current = profile_of(1);
            Ok(())
        })?;
    }
    let rows: Vec<serde_json::Value> = running
        .fleet
        .iter()
        .enumerate()
        .map(|(index, member)| {
            json!({
                "portal": index + 1,
                "url": member.credentials.portal,
                "member_id": member.credentials.member_id,
                "profile": profile_of(index + 1),
            })
        })
        .collect();
    let app = &running.credentials;
    if !ctx.out.is_table() {
        let mut value = json!({
            "url": running.url,
            "plan": args.plan.name(),
            "portals": rows,
            "client_id": app.client_id,
            "oauth_server": app.oauth_server,
        });
        if args.save_profile.is_none() {
            // Without saved profiles the application's secret is the way in.
            value["client_secret"] = json!(app.client_secret.expose());
        }
        ctx.out.print_json(&value);
        return Ok(());
    }
    crate::output::print_line(format!(
        "Sandbox: {} portals (plan {}, rate limit {} each), one application on all, OAuth server {}",
        running.fleet.len(),
        args.plan.name(),
        args.rate_limit,
        app.oauth_server
    ));
    let mut table = ctx.out.table(&["PORTAL", "URL", "MEMBER ID", "PROFILE"]);
    for row in rows.iter().take(LISTED_PORTALS) {
        table.add_row(vec![
            row["portal"].to_string(),
            row["url"].as_str().unwrap_or_default().to_string(),
            row["member_id"].as_str().unwrap_or_default().to_string(),
            row["profile"].as_str().unwrap_or("-").to_string(),
        ]);
    }
    ctx.out.print_table(table);
    if rows.len() > LISTED_PORTALS {
        crate::output::print_line(format!(
            "... and {} more (`curl {}/_sandbox/portals` lists every one)",
            rows.len() - LISTED_PORTALS,
            running.url
        ));
    }
    match &args.save_profile {
        Some(name) => crate::output::print_line(format!(
            "Saved profiles {name}-1 ... {name}-{} ({name}-1 is current).\nTry: bx-events apply --all-profiles -f subscriptions.toml",
            running.fleet.len()
        )),
        None => crate::output::print_line(format!(
            "  client id          {}\n  client secret      {}\nCapture the installs: bx-events listen --capture-installs --client-id {} --secrets-from FILE --oauth-server {}\nthen: bx-events sandbox install --url {} --to http://127.0.0.1:8088/",
            app.client_id,
            app.client_secret.expose(),
            app.client_id,
            app.oauth_server,
            running.url
        )),
    }
    crate::output::print_line("Press Ctrl-C to stop.".to_string());
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

    /// The same API on portal `k` of the sandbox's fleet.
    async fn portal(self, k: u64) -> anyhow::Result<Self> {
        let portals: Vec<crate::sandbox::FleetEntry> = self
            .send(reqwest::Method::GET, "/_sandbox/portals", None)
            .await?
            .json()
            .await?;
        let Some(entry) = portals.iter().find(|p| p.portal as u64 == k) else {
            return Err(CliError::Usage(format!(
                "the sandbox at {} serves {} portal(s): pass --portal 1 to {}",
                self.base,
                portals.len(),
                portals.len()
            ))
            .into());
        };
        let base = url::Url::parse(&entry.url)?;
        Ok(Self { base, ..self })
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

/// `sandbox install`: a lifecycle event on every portal (or one), each sent to
/// the handler by its portal.
async fn install(ctx: &Context, args: &InstallArgs) -> anyhow::Result<()> {
    super::arguments::http_url(&args.to, "--to")?;
    let api = AdminApi::new(ctx, args.url.as_deref())?;
    let body = json!({"to": args.to, "event": args.event, "portal": args.portal});
    let answer = api
        .send(reqwest::Method::POST, "/_sandbox/install", Some(&body))
        .await?;
    let answer: serde_json::Value = answer.json().await?;
    let deliveries: Vec<Delivery> =
        serde_json::from_value(answer["deliveries"].clone()).unwrap_or_default();
    let delivered = deliveries
        .iter()
        .filter(|d| d.status.is_some_and(|s| (200..300).contains(&s)))
        .count();
    ctx.out.success(&format!(
        "{} sent by {} portal(s); {delivered} answered 2xx",
        args.event.event(),
        deliveries.len()
    ));
    ctx.out
        .list(&deliveries, || deliveries_table(ctx, &deliveries));
    if delivered < deliveries.len() {
        return Err(CliError::Failed(format!(
            "{} of {} portal(s) could not deliver {} (see the table)",
            deliveries.len() - delivered,
            deliveries.len(),
            args.event.event()
        ))
        .into());
    }
    Ok(())
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
    let pairs = super::arguments::key_values(&args.data);
    let mut api = AdminApi::new(ctx, args.url.as_deref())?;
    if let Some(k) = args.portal {
        api = api.portal(k).await?;
    }
    let (mut queued, mut merged) = (0u64, 0u64);
    let mut deliveries: Vec<Delivery> = Vec::new();
    for n in 1..=args.count {
        let numbered = pairs
            .iter()
            // `{N}` (documented) or `{n}` (clap's help cannot show it) numbers the events.
            .map(|(k, v)| {
                let number = n.to_string();
                (k.clone(), v.replace("{N}", &number).replace("{n}", &number))
            });
        // Without --data, the documented payload, each change its own object.
        let data = if pairs.is_empty() {
            crate::bitrix::catalog::example_data(&event, n)
        } else {
            None
        }
        .unwrap_or_else(|| crate::bitrix::form::decode_dotted(numbered));
        let body = json!({"event": event, "data": data});
        let answer: serde_json::Value = api
            .send(reqwest::Method::POST, "/_sandbox/fire", Some(&body))
            .await?
            .json()
            .await?;
        queued += answer["queued"].as_u64().unwrap_or(0);
        merged += answer["merged"].as_u64().unwrap_or(0);
        deliveries.extend(
            serde_json::from_value::<Vec<Delivery>>(answer["deliveries"].clone())
                .unwrap_or_default(),
        );
    }
    let delivered = deliveries
        .iter()
        .filter(|d| d.status.is_some_and(|s| (200..300).contains(&s)))
        .count();
    let merged_note = if merged > 0 {
        format!(
            " ({merged} more merged into a queued record with the same data, as the portal merges them: give each change its own data, e.g. --data 'FIELDS.ID={{N}}')"
        )
    } else {
        String::new()
    };
    ctx.out.success(&format!(
        "Fired {event} {} time(s): {queued} record(s) queued for offline bindings{merged_note}; {delivered} of {} handler call(s) answered 2xx",
        args.count,
        deliveries.len()
    ));
    let report = json!({"event": event, "fired": args.count, "queued": queued, "merged": merged, "deliveries": deliveries});
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

fn deliveries_table(ctx: &Context, deliveries: &[Delivery]) -> crate::output::TextTable {
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

/// `--scopes`: the names given (checked against the scopes the portal has), or
/// every scope for `all`.
fn application_scopes(given: &[String]) -> Result<Vec<String>, CliError> {
    let known = crate::sandbox::catalog::all_scopes();
    if given.len() == 1 && given[0].eq_ignore_ascii_case("all") {
        return Ok(known);
    }
    let mut scopes = Vec::new();
    for scope in given.iter().map(|s| s.trim().to_ascii_lowercase()) {
        if !known.contains(&scope) {
            return Err(CliError::Usage(format!(
                "--scopes: the sandbox has no scope '{}' (its scopes: {}, or all)",
                crate::output::printable(&scope),
                known.join(", ")
            )));
        }
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    Ok(scopes)
}
