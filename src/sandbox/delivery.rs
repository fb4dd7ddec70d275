//! Event delivery to online handlers: portal-style form POSTs, no retries, a log.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::state::Shared;
use super::state::{Delivery, Outgoing};
use super::state::{Portal, StoredBinding};
use crate::bitrix::auth::now_unix;
use crate::bitrix::catalog;
use crate::bitrix::form;

/// How long a handler may take before the delivery counts as failed.
const HANDLER_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries kept for `sandbox log`.
const LOG_SIZE: usize = 1000;

fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .timeout(HANDLER_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}

/// Builds the form body a portal sends (docs/handlers.md), with a fresh access
/// token for the user the handler runs as, and a refresh token only for the
/// events the portal sends one with.
pub(crate) fn prepare(
    portal: &mut Portal,
    binding: &StoredBinding,
    event: &str,
    data: &Value,
) -> Outgoing {
    let user_id = if binding.user_id > 0 {
        binding.user_id
    } else {
        1
    };
    let domain = portal.base_url.trim_start_matches("http://").to_string();
    // Which tokens a delivery carries depends on the event (docs/portal.md,
    // "What a delivery's auth carries").
    let auth = if catalog::sent_without_tokens(event) {
        json!({
            "domain": domain,
            "member_id": portal.member_id,
            "application_token": portal.app.application_token,
        })
    } else {
        let mut auth = json!({
            "expires_in": portal.token_ttl_secs.to_string(),
            "scope": portal.app.scopes.join(","),
            "domain": domain,
            "server_endpoint": format!("{}/rest/", portal.oauth_server),
            "status": "L",
            "client_endpoint": format!("{}/rest/", portal.base_url),
            "member_id": portal.member_id,
            "user_id": user_id.to_string(),
            "application_token": portal.app.application_token,
        });
        let tokens = if catalog::sent_with_refresh_token(event) {
            let (access, refresh, _) = portal.issue_tokens(user_id);
            json!({"access_token": access, "refresh_token": refresh})
        } else {
            json!({"access_token": portal.issue_access_token(user_id).0})
        };
        if let (Some(auth), Value::Object(tokens)) = (auth.as_object_mut(), tokens) {
            auth.extend(tokens);
        }
        auth
    };
    let payload = json!({
        "event": event,
        "event_handler_id": binding.id.to_string(),
        "data": data,
        "ts": now_unix().to_string(),
        "auth": auth,
    });
    let local = url::Url::parse(&binding.handler)
        .ok()
        .and_then(|u| u.host_str().map(crate::bitrix::auth::is_loopback_host))
        .unwrap_or(false);
    Outgoing {
        binding: binding.clone(),
        body: form::encode(&payload),
        allowed: local || portal.external_delivery,
    }
}

/// POSTs every prepared request at once, once each, and logs the outcomes.
pub(crate) async fn send_all(
    shared: &Shared,
    event: &str,
    outgoing: Vec<Outgoing>,
) -> Vec<Delivery> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, request) in outgoing.into_iter().enumerate() {
        let event = event.to_string();
        tasks.spawn(async move { (index, send_one(&event, request).await) });
    }
    let mut deliveries = Vec::new();
    while let Some(Ok(done)) = tasks.join_next().await {
        deliveries.push(done);
    }
    deliveries.sort_by_key(|(index, _)| *index);
    let deliveries: Vec<Delivery> = deliveries.into_iter().map(|(_, d)| d).collect();
    let mut portal = shared.lock().unwrap_or_else(|p| p.into_inner());
    portal.deliveries.extend(deliveries.iter().cloned());
    let excess = portal.deliveries.len().saturating_sub(LOG_SIZE);
    portal.deliveries.drain(..excess);
    deliveries
}

async fn send_one(event: &str, request: Outgoing) -> Delivery {
    let started = Instant::now();
    if !request.allowed {
        return Delivery {
            at: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
            event: event.to_string(),
            handler: request.binding.handler,
            event_handler_id: request.binding.id,
            status: None,
            error: Some("not sent: the sandbox calls only handlers on this machine (start it with --external-delivery to allow others)".into()),
            duration_ms: 0,
        };
    }
    let result = http()
        .post(&request.binding.handler)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(request.body)
        .send()
        .await;
    let (status, error) = match result {
        Ok(response) => (Some(response.status().as_u16()), None),
        Err(e) => (None, Some(e.without_url().to_string())),
    };
    Delivery {
        at: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
        event: event.to_string(),
        handler: request.binding.handler,
        event_handler_id: request.binding.id,
        status,
        error,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

/// The pause between two notifications of one ONOFFLINEEVENT handler when its
/// binding has no `minTimeout`: the portal's default.
const DEFAULT_NOTIFY_GAP_SECS: i64 = 1;

/// Online handlers of ONOFFLINEEVENT due a notification, marked notified. A
/// handler is told at most once per its binding's `minTimeout` seconds (1 when
/// the binding has none), and a notification held back is dropped, not sent
/// later: the next one goes out with the next change after the pause. A
/// `minTimeout` of 0 has no pause, but only the first such handler is told per
/// change (the portal keeps that flag for the whole request).
pub(crate) fn offline_notifications(portal: &mut Portal) -> Vec<Outgoing> {
    let now = std::time::Instant::now();
    let mut unpaused_told = false;
    let mut due = Vec::new();
    for binding in portal
        .bindings
        .iter()
        .filter(|b| !b.offline && b.event == "ONOFFLINEEVENT")
    {
        let gap = binding.min_timeout_secs.unwrap_or(DEFAULT_NOTIFY_GAP_SECS);
        let told = if gap > 0 {
            let pause = std::time::Duration::from_secs(gap.unsigned_abs());
            portal
                .offline_notified
                .get(&binding.id)
                .is_none_or(|at| now.duration_since(*at) >= pause)
        } else {
            !std::mem::replace(&mut unpaused_told, true)
        };
        if told {
            due.push(binding.clone());
        }
    }
    due.iter()
        .map(|binding| {
            portal.offline_notified.insert(binding.id, now);
            prepare(portal, binding, "ONOFFLINEEVENT", &json!({}))
        })
        .collect()
}
