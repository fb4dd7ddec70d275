//! `doctor`: why a handler gets nothing — credentials, installation, rights,
//! handlers, events, the offline queue and the rate limit, each checked with the
//! fix to apply (docs/handlers.md, "doctor").

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq as _;

use super::context::Context;
use super::errors::CliError;
use crate::bitrix::events::{self, Binding, BindingKind, EventsQuery};
use crate::bitrix::offline::{self, ListQuery};
use crate::bitrix::Secret;
use crate::bitrix::{form, Client};
use crate::cli::DoctorArgs;
use crate::config::{ActiveProfile, ProfileKind};

/// A handler slower than this is called less often by the portal.
const SLOW_HANDLER: Duration = Duration::from_secs(2);
/// How long the test request may take.
const HANDLER_DEADLINE: Duration = Duration::from_secs(10);
/// Records reserved longer than this are probably forgotten.
const OLD_RESERVATION_SECS: i64 = 3_600;
/// Records this old near the portal's cleanup.
const NEAR_CLEANUP_SECS: i64 = 25 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    fn mark(self) -> &'static str {
        match self {
            Self::Ok => "✓",
            Self::Warn => "⚠",
            Self::Fail => "✗",
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, Serialize)]
struct Check {
    check: String,
    status: Status,
    detail: String,
    fix: Option<String>,
}

#[derive(Default)]
struct Report {
    checks: Vec<Check>,
}

impl Report {
    fn add(&mut self, check: &str, status: Status, detail: impl Into<String>, fix: Option<String>) {
        self.checks.push(Check {
            check: check.to_string(),
            status,
            detail: detail.into(),
            fix,
        });
    }

    fn ok(&mut self, check: &str, detail: impl Into<String>) {
        self.add(check, Status::Ok, detail, None);
    }

    fn warn(&mut self, check: &str, detail: impl Into<String>, fix: impl Into<String>) {
        self.add(check, Status::Warn, detail, Some(fix.into()));
    }

    fn fail(&mut self, check: &str, detail: impl Into<String>, fix: impl Into<String>) {
        self.add(check, Status::Fail, detail, Some(fix.into()));
    }
}

pub(crate) async fn run(ctx: &Context, args: &DoctorArgs) -> anyhow::Result<()> {
    let mut report = Report::default();
    match ctx.connect() {
        Ok((profile, client)) => diagnose(ctx, args, &profile, &client, &mut report).await,
        Err(error) => report.fail(
            "credentials",
            format!("{error:#}"),
            "log in: `bx-events auth login --portal https://YOUR.bitrix24.com --client-id ID` (it asks for the client secret; scripts pass it with --secrets-from FILE), or try `bx-events sandbox --save-profile sandbox`",
        ),
    }
    print(ctx, &report.checks);
    let failed = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .count();
    if failed > 0 {
        return Err(
            CliError::Failed(format!("{failed} check(s) failed; see the fixes above")).into(),
        );
    }
    Ok(())
}

fn print(ctx: &Context, checks: &[Check]) {
    ctx.out.list(checks, || {
        let mut table = ctx.out.table(&["", "CHECK", "RESULT", "FIX"]);
        for check in checks {
            table.add_row(vec![
                check.status.mark().to_string(),
                check.check.clone(),
                check.detail.clone(),
                check.fix.clone().unwrap_or_default(),
            ]);
        }
        table
    });
}

async fn diagnose(
    ctx: &Context,
    args: &DoctorArgs,
    profile: &ActiveProfile,
    client: &Client,
    report: &mut Report,
) {
    if profile.settings.kind == ProfileKind::Webhook {
        report.fail(
            "credentials",
            format!("profile '{}' is an incoming webhook", profile.name),
            "event methods refuse webhooks (WRONG_AUTH_TYPE): create a local application in the portal and log in with its client id and secret",
        );
        return;
    }
    let info = match client.call("app.info", &json!({})).await {
        Ok(envelope) => {
            report.ok(
                "credentials",
                format!(
                    "accepted by {} (profile '{}')",
                    profile.settings.portal, profile.name
                ),
            );
            envelope.result
        }
        Err(error) => {
            let hint =
                super::errors::api_hint(&error, Some(&super::errors::ProfileHint::of(profile)))
                    .unwrap_or_else(|| "check the portal URL and log in again".into());
            report.fail("credentials", error.to_string(), hint);
            return;
        }
    };
    check_tokens(ctx, profile, report);
    check_installation(&info, report);
    let admin = check_admin(client, report).await;
    let scopes: Vec<String> = match client.call("scope", &json!({})).await {
        Ok(envelope) => envelope
            .result
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    report.ok(
        "scopes",
        if scopes.is_empty() {
            "none reported".to_string()
        } else {
            scopes.join(", ")
        },
    );
    let bindings = match events::list_bindings(client).await {
        Ok(bindings) => bindings,
        Err(error) => {
            report.fail("bindings", error.to_string(), "see the credentials check");
            return;
        }
    };
    if let Some(event) = &args.event {
        check_event(client, event, &bindings, admin, report).await;
    }
    let token = application_token(ctx, profile, args);
    let handlers = handler_targets(args, &bindings);
    if handlers.is_empty() && args.event.is_none() {
        report.warn(
            "handlers",
            "no online handler is bound",
            "bind one with `bx-events bind EVENT https://your-host/path`; an application update removes every handler, so re-apply your subscriptions after each release",
        );
    }
    let portal_is_local = url::Url::parse(&profile.settings.portal)
        .ok()
        .and_then(|u| u.host_str().map(crate::bitrix::auth::is_loopback_host))
        .unwrap_or(false);
    for (handler, event) in handlers {
        check_handler(
            &handler,
            &event,
            token.as_ref().map(|t| t.expose().as_str()),
            portal_is_local,
            report,
        )
        .await;
    }
    if admin {
        check_queue(client, report).await;
    }
    check_rate_limit(ctx, profile, report);
}

fn check_tokens(ctx: &Context, profile: &ActiveProfile, report: &mut Report) {
    let stored = if profile.from_env {
        None
    } else {
        ctx.store
            .read_credentials()
            .ok()
            .and_then(|c| c.profiles.get(&profile.name).cloned())
    };
    let now = crate::bitrix::auth::now_unix();
    match stored.as_ref().and_then(|s| s.expires_at) {
        Some(at) if at > now => report.ok(
            "token expiry",
            format!(
                "the access token is valid for {} more minute(s)",
                (at - now) / 60
            ),
        ),
        Some(_) => report.ok(
            "token expiry",
            "the stored access token has expired; it is refreshed on the next call",
        ),
        None => report.ok(
            "token expiry",
            "unknown (from the environment or never recorded)",
        ),
    }
    let can_refresh = stored
        .as_ref()
        .is_some_and(|s| s.refresh_token.is_some() && s.client_secret.is_some())
        && profile.settings.client_id.is_some();
    if can_refresh || profile.from_env {
        report.ok(
            "token refresh",
            if profile.from_env {
                "as the BX_EVENTS_* variables allow"
            } else {
                "possible: client id, secret and refresh token are stored"
            },
        );
    } else {
        report.warn(
            "token refresh",
            "not possible: the profile lacks the client id, secret or refresh token",
            format!("log in with an OAuth application: `bx-events auth login -p {} --portal {} --client-id ID` ({})", profile.name, profile.settings.portal, super::errors::SECRET_SOURCES),
        );
    }
}

fn check_installation(info: &Value, report: &mut Report) {
    match info.get("INSTALLED").and_then(Value::as_bool) {
        Some(true) => report.ok("installation", "finished (app.info INSTALLED)"),
        Some(false) => report.fail(
            "installation",
            "not finished (app.info INSTALLED is false): the portal sends no events to the application",
            "open the application in the portal once so its install page runs; an application with an interface must call BX24.installFinish()",
        ),
        None => report.warn("installation", "app.info did not say", "check the application's page in the portal"),
    }
    if let Some(license) = info.get("LICENSE").and_then(Value::as_str) {
        report.ok("plan", format!("license {license} (reservations and connectors need extended offline handling, not on every plan)"));
    }
}

async fn check_admin(client: &Client, report: &mut Report) -> bool {
    match client.call("user.admin", &json!({})).await {
        Ok(envelope) if envelope.result == Value::Bool(true) => {
            report.ok("administrator", "the user is a portal administrator");
            true
        }
        Ok(_) => {
            report.warn(
                "administrator",
                "the user is not a portal administrator: offline events, the offline queue and handlers for other users are refused",
                "log in as a portal administrator",
            );
            false
        }
        Err(_) => {
            report.warn(
                "administrator",
                "could not tell (user.admin failed)",
                "log in as a portal administrator for offline events",
            );
            false
        }
    }
}

async fn check_event(
    client: &Client,
    event: &str,
    bindings: &[Binding],
    admin: bool,
    report: &mut Report,
) {
    let event = event.to_ascii_uppercase();
    let check = format!("event {event}");
    let known = events::list_events(client, &EventsQuery::default())
        .await
        .unwrap_or_default();
    if !known.contains(&event) {
        let similar = super::suggest::nearest_names(&event, &known);
        report.fail(
            &check,
            "not among the events of the token's scopes",
            if similar.is_empty() {
                "add the scope in the application's settings and reinstall it; `bx-events events --full` lists every event".to_string()
            } else {
                format!("did you mean {}?", similar.join(" or "))
            },
        );
        return;
    }
    let kinds: Vec<String> = bindings
        .iter()
        .filter(|b| b.event == event)
        .map(|b| match b.kind {
            BindingKind::Online => format!("online to {}", b.handler.as_deref().unwrap_or("?")),
            BindingKind::Offline => "offline".to_string(),
        })
        .collect();
    if kinds.is_empty() {
        report.fail(
            &check,
            "in scope but not bound (an application update removes every handler)",
            format!("`bx-events bind {event} https://your-host/path`, or `bx-events dev {event} --forward-to URL` to try it locally"),
        );
    } else {
        report.ok(&check, format!("bound: {}", kinds.join("; ")));
    }
    if admin {
        let query = ListQuery {
            filter: Some(json!({"=EVENT_NAME": event})),
            ..ListQuery::default()
        };
        if let Ok(page) = offline::list(client, &query).await {
            let queued = page.total.unwrap_or(page.records.len() as u64);
            if queued > 0 {
                report.warn(
                    &check,
                    format!("{queued} record(s) of it wait in the offline queue"),
                    format!("consume them: `bx-events offline consume --event {event} --exec ...` (or `bx-events dev {event} --forward-to URL`)"),
                );
            }
        }
    }
}

/// Handler URLs to test: `--handler`, else every online binding (of `--event`).
fn handler_targets(args: &DoctorArgs, bindings: &[Binding]) -> Vec<(String, String)> {
    if let Some(handler) = &args.handler {
        let event = args.event.clone().unwrap_or_else(|| "ONAPPTEST".into());
        return vec![(handler.clone(), event.to_ascii_uppercase())];
    }
    let mut targets: Vec<(String, String)> = Vec::new();
    for binding in bindings.iter().filter(|b| b.kind == BindingKind::Online) {
        if args
            .event
            .as_ref()
            .is_some_and(|e| !e.eq_ignore_ascii_case(&binding.event))
        {
            continue;
        }
        if let Some(handler) = &binding.handler {
            if !targets.iter().any(|(h, _)| h == handler) {
                targets.push((handler.clone(), binding.event.clone()));
            }
        }
    }
    targets
}

fn application_token(ctx: &Context, profile: &ActiveProfile, args: &DoctorArgs) -> Option<Secret> {
    args.application_token
        .clone()
        .filter(|t| !t.is_empty())
        .or_else(|| {
            ctx.store.read_credentials().ok().and_then(|c| {
                c.profiles
                    .get(&profile.name)
                    .and_then(|s| s.application_token.clone())
            })
        })
}

/// True for addresses a portal on the internet cannot reach.
fn is_private(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1])
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

async fn check_handler(
    handler: &str,
    event: &str,
    token: Option<&str>,
    portal_is_local: bool,
    report: &mut Report,
) {
    let check = format!("handler {handler}");
    if let Err(error) = crate::bitrix::validate::check_handler_url(handler) {
        report.fail(
            &check,
            error.to_string(),
            "use a full http(s) URL whose host has a dot, e.g. https://hooks.example.com/bitrix",
        );
        return;
    }
    let Ok(url) = url::Url::parse(handler) else {
        return;
    };
    let host = url.host_str().unwrap_or("").to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    match tokio::net::lookup_host((host.as_str(), port)).await {
        Ok(addresses) => {
            let addresses: Vec<IpAddr> = addresses.map(|a| a.ip()).collect();
            if let Some(private) = addresses.iter().find(|a| is_private(**a)) {
                if portal_is_local {
                    report.ok(
                        &format!("{check} (address)"),
                        if host == private.to_string() {
                            format!("{host} is a local address, like the portal's (a sandbox)")
                        } else {
                            format!("{host} is {private}: local, like the portal (a sandbox)")
                        },
                    );
                } else {
                    report.fail(
                        &check,
                        format!("{host} resolves to {private}, which a portal on the internet cannot reach"),
                        "expose the handler on a public address, or use `bx-events dev EVENT --forward-to URL`, which needs none",
                    );
                    return;
                }
            }
        }
        Err(error) => {
            report.fail(
                &check,
                format!("{host} does not resolve ({error})"),
                "check the host name in the handler URL",
            );
            return;
        }
    }
    let http = match reqwest::Client::builder()
        .timeout(HANDLER_DEADLINE)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(http) => http,
        Err(error) => {
            report.fail(&check, error.to_string(), "report this as a bug");
            return;
        }
    };
    let started = Instant::now();
    match test_post(&http, &url, event, token).await {
        Ok(status) if (200..300).contains(&status) => {
            let took = started.elapsed();
            if took > SLOW_HANDLER {
                report.warn(&check, format!("answered {status} in {} ms to a test {event} request", took.as_millis()), "answer at once and do the work afterwards: the portal calls slow handlers less often and does not retry");
            } else {
                report.ok(
                    &check,
                    format!(
                        "answered {status} in {} ms to a test {event} request",
                        took.as_millis()
                    ),
                );
            }
        }
        Ok(status) => {
            report.fail(
                &check,
                format!("answered HTTP {status} to a test {event} request"),
                "a handler must answer 2xx: the portal does not retry failed deliveries",
            );
            return;
        }
        Err(why) => {
            // TLS advice only where TLS is spoken.
            let fix = if handler.starts_with("https://") {
                "make the handler reachable with a valid TLS certificate, answering within 10 s"
            } else {
                "make the handler reachable and answering within 10 s"
            };
            report.fail(&check, why, fix);
            return;
        }
    }
    if let Some(token) = token {
        let wrong = format!("{token}-not-it");
        if !bool::from(wrong.as_bytes().ct_eq(token.as_bytes())) {
            if let Ok(status) = test_post(&http, &url, event, Some(&wrong)).await {
                if (200..300).contains(&status) {
                    report.warn(
                        &format!("{check} (token)"),
                        "accepts a request with a wrong auth[application_token]",
                        "compare auth[application_token] with the token stored at ONAPPINSTALL, in constant time, and answer 401 when it differs (docs/handlers.md)",
                    );
                } else {
                    report.ok(
                        &format!("{check} (token)"),
                        format!("rejects a wrong application token (HTTP {status})"),
                    );
                }
            }
        }
    }
}

/// A portal-style POST of a harmless event (data empty), like `trigger`'s.
async fn test_post(
    http: &reqwest::Client,
    url: &url::Url,
    event: &str,
    token: Option<&str>,
) -> Result<u16, String> {
    let mut auth = json!({
        "domain": "doctor.bx-events.invalid",
        "client_endpoint": "https://doctor.bx-events.invalid/rest/",
        "server_endpoint": "https://oauth.bitrix.info/rest/",
        "member_id": "",
    });
    if let Some(token) = token {
        auth["application_token"] = json!(token);
    }
    let body = form::encode(&json!({
        "event": event,
        "event_handler_id": "0",
        "data": {"TEST": "bx-events doctor"},
        "ts": crate::bitrix::auth::now_unix().to_string(),
        "auth": auth,
    }));
    let response = http
        .post(url.clone())
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
        .send()
        .await
        .map_err(|error| {
            let text = format!("{:#}", anyhow::Error::from(error.without_url()));
            if text.contains("certificate") {
                format!("its TLS certificate is not valid ({text})")
            } else if error_is_timeout(&text) {
                format!("no answer within {} s", HANDLER_DEADLINE.as_secs())
            } else {
                format!("unreachable ({text})")
            }
        })?;
    Ok(response.status().as_u16())
}

fn error_is_timeout(text: &str) -> bool {
    text.contains("timed out") || text.contains("timeout")
}

async fn check_queue(client: &Client, report: &mut Report) {
    let total = |filter: Value| async move {
        offline::list(
            client,
            &ListQuery {
                filter: Some(filter),
                ..ListQuery::default()
            },
        )
        .await
        .map(|page| page.total.unwrap_or(page.records.len() as u64))
    };
    let depth = match offline::list(client, &ListQuery::default()).await {
        Ok(page) => page.total.unwrap_or(page.records.len() as u64),
        Err(error) => {
            report.warn(
                "offline queue",
                error.to_string(),
                "needs an administrator and an OAuth application",
            );
            return;
        }
    };
    let errors = total(json!({"=ERROR": 1})).await.unwrap_or(0);
    if depth == 0 {
        report.ok("offline queue", "empty");
    } else {
        report.ok(
            "offline queue",
            format!("{depth} record(s), {errors} marked as errors"),
        );
    }
    if errors > 0 {
        report.warn(
            "offline errors",
            format!("{errors} record(s) failed earlier"),
            "re-process them after a fix: `bx-events offline consume --errors --exec ...`",
        );
    }
    // The oldest records first: their age says how close they are to the cleanup.
    let oldest = offline::list(
        client,
        &ListQuery {
            order: Some(json!({"TIMESTAMP_X": "ASC"})),
            ..ListQuery::default()
        },
    )
    .await;
    if let Ok(page) = oldest {
        if let Some(age) = page.records.iter().filter_map(|r| r.age_seconds).max() {
            if age >= NEAR_CLEANUP_SECS {
                report.fail("queue age", format!("the oldest record is {} day(s) old; the portal deletes records at about 34 days", age / 86_400), "consume the queue now: `bx-events offline consume --exec ...`, and `bx-events offline consume --errors --exec ...` for error records");
            } else {
                report.ok(
                    "queue age",
                    format!("the oldest record is {} hour(s) old", age / 3_600),
                );
            }
        }
    }
    if let Ok(reserved) = offline::list(
        client,
        &ListQuery {
            filter: Some(json!({">PROCESS_ID": ""})),
            ..ListQuery::default()
        },
    )
    .await
    {
        let mut stale: Vec<String> = Vec::new();
        for record in &reserved.records {
            if let (Some(pid), Some(age)) = (&record.process_id, record.age_seconds) {
                if age > OLD_RESERVATION_SECS && !stale.contains(pid) {
                    stale.push(pid.clone());
                }
            }
        }
        if !stale.is_empty() {
            report.warn(
                "reservations",
                format!("{} reservation(s) hold records queued over an hour ago: {}", stale.len(), stale.join(", ")),
                format!("if no consumer holds them, finish them: `bx-events offline consume --process-id {} --exec ...`", stale[0]),
            );
        }
    }
}

fn check_rate_limit(ctx: &Context, profile: &ActiveProfile, report: &mut Report) {
    let Some(limit) = profile.rate_limit.limit() else {
        report.ok("rate limit", "off for this profile");
        return;
    };
    let level = ctx
        .bucket_file(&profile.settings.portal)
        .and_then(|path| crate::bitrix::ratelimit::shared_level(&path, limit))
        .unwrap_or(0.0);
    let detail = format!(
        "{level:.0} of {:.0} requests of the burst in use (drains {}/s)",
        limit.burst, limit.per_second
    );
    if level >= limit.burst * 0.8 {
        report.warn(
            "rate limit",
            detail,
            "requests made in the last few seconds (by this machine's bx-events runs, this one included) fill the portal's burst: expect short waits; it drains by itself",
        );
    } else {
        report.ok("rate limit", detail);
    }
}
