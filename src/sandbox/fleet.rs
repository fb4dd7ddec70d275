//! Many portals from one sandbox: what each portal's server can reach, the fleet
//! listing, and the application lifecycle events (install, update, uninstall) a
//! portal sends the application's install handler.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::state::Shared;
use super::state::{random_hex, Portal, StoredBinding};
use super::state::{Delivery, Outgoing};
use crate::bitrix::auth::now_unix;

/// Every portal the sandbox serves, in order (the first is portal 1).
pub(crate) type Fleet = Arc<Vec<Shared>>;

/// What one portal's server works with: its own portal, and the fleet for the
/// things the real service does across portals (its one OAuth server).
#[derive(Clone)]
pub(crate) struct Served {
    pub portal: Shared,
    pub fleet: Fleet,
}

impl FromRef<Served> for Shared {
    fn from_ref(served: &Served) -> Shared {
        served.portal.clone()
    }
}

/// Most lifecycle requests in flight at once, so 1,000 portals do not open
/// 1,000 connections to one receiver.
const SENDS_AT_ONCE: usize = 32;

/// One portal as `GET /_sandbox/portals` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetEntry {
    /// 1-based, as `sandbox fire --portal K` counts.
    pub portal: usize,
    pub url: String,
    pub member_id: String,
    pub installed: bool,
}

/// `GET /_sandbox/portals`: every portal of this sandbox.
pub(crate) async fn portals(State(served): State<Served>) -> Json<Vec<FleetEntry>> {
    Json(
        served
            .fleet
            .iter()
            .enumerate()
            .map(|(index, shared)| {
                let portal = shared.lock().unwrap_or_else(|p| p.into_inner());
                FleetEntry {
                    portal: index + 1,
                    url: portal.base_url.clone(),
                    member_id: portal.member_id.clone(),
                    installed: !portal.removed,
                }
            })
            .collect(),
    )
}

/// The application lifecycle events a portal sends to the install handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Lifecycle {
    /// `ONAPPINSTALL`: the application was installed; carries fresh tokens.
    Install,
    /// `ONAPPUPDATE`: a new version was installed, and the application's handlers
    /// removed; carries fresh tokens.
    Update,
    /// `ONAPPUNINSTALL`: the application was removed with its handlers, queue
    /// and tokens; carries no tokens, only the application token.
    Uninstall,
}

impl Lifecycle {
    pub fn event(self) -> &'static str {
        match self {
            Self::Install => "ONAPPINSTALL",
            Self::Update => "ONAPPUPDATE",
            Self::Uninstall => "ONAPPUNINSTALL",
        }
    }
}

/// Body of `POST /_sandbox/install`.
#[derive(Debug, Deserialize)]
pub(crate) struct InstallRequest {
    /// The application's install handler.
    to: String,
    #[serde(default = "default_lifecycle")]
    event: Lifecycle,
    /// Only this portal (1-based); every portal when absent.
    #[serde(default)]
    portal: Option<usize>,
}

fn default_lifecycle() -> Lifecycle {
    Lifecycle::Install
}

/// `POST /_sandbox/install {"to","event","portal"}`: the lifecycle event happens
/// on every portal (or one), and each portal tells the handler, as a portal tells
/// the application's install URL. Answers with one delivery per portal.
pub(crate) async fn install(
    State(served): State<Served>,
    Json(request): Json<InstallRequest>,
) -> Response {
    if url::Url::parse(&request.to).is_err() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "'to' is not a URL"})),
        )
            .into_response();
    }
    let chosen: Vec<Shared> = match request.portal {
        None => served.fleet.iter().cloned().collect(),
        Some(k) if (1..=served.fleet.len()).contains(&k) => vec![served.fleet[k - 1].clone()],
        Some(k) => {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"error": format!("no portal {k}: this sandbox serves {}", served.fleet.len())})),
            )
                .into_response()
        }
    };
    let event = request.event.event();
    let slots = Arc::new(tokio::sync::Semaphore::new(SENDS_AT_ONCE));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, shared) in chosen.into_iter().enumerate() {
        let outgoing = {
            let mut portal = shared.lock().unwrap_or_else(|p| p.into_inner());
            let outgoing = happen(&mut portal, request.event, &request.to);
            portal.persist();
            outgoing
        };
        let slots = slots.clone();
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await;
            let sent = super::delivery::send_all(&shared, event, vec![outgoing]).await;
            (index, sent)
        });
    }
    let mut sent: Vec<(usize, Vec<Delivery>)> = Vec::new();
    while let Some(Ok(done)) = tasks.join_next().await {
        sent.push(done);
    }
    sent.sort_by_key(|(index, _)| *index);
    let deliveries: Vec<Delivery> = sent.into_iter().flat_map(|(_, d)| d).collect();
    Json(json!({"event": event, "deliveries": deliveries})).into_response()
}

/// Applies a lifecycle event to a portal and prepares its request to `handler`.
pub(crate) fn happen(portal: &mut Portal, lifecycle: Lifecycle, handler: &str) -> Outgoing {
    match lifecycle {
        Lifecycle::Install => {
            if portal.removed {
                // A new installation gets a new application token.
                portal.app.application_token = random_hex(32);
                portal.removed = false;
            } else {
                // A reinstall removes the application's handlers, as an update does.
                portal.bindings.clear();
            }
            portal.installed = true;
        }
        // An update removes the application's handlers: they must be bound again.
        // The queued records stay.
        Lifecycle::Update => portal.bindings.clear(),
        Lifecycle::Uninstall => {
            // What the portal's CleanApp does: the application's handlers and
            // offline queue go, and so does every token issued to it.
            portal.bindings.clear();
            portal.offline.clear();
            portal.access_tokens.clear();
            portal.refresh_tokens.clear();
            portal.removed = true;
            portal.installed = false;
        }
    }
    lifecycle_request(portal, lifecycle, handler)
}

/// The form a portal POSTs for a lifecycle event: install and update carry a
/// token pair with its refresh token; uninstall only the domain, member id and
/// application token.
fn lifecycle_request(portal: &mut Portal, lifecycle: Lifecycle, handler: &str) -> Outgoing {
    let domain = portal.base_url.trim_start_matches("http://").to_string();
    let (data, auth) = match lifecycle {
        Lifecycle::Uninstall => (
            json!({"CLEAN": "0", "LANGUAGE_ID": "en"}),
            json!({
                "domain": domain,
                "member_id": portal.member_id,
                "application_token": portal.app.application_token,
            }),
        ),
        Lifecycle::Install | Lifecycle::Update => {
            let (access, refresh, expires_at) = portal.issue_tokens(1);
            let data = if lifecycle == Lifecycle::Install {
                json!({"VERSION": "1", "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": "en"})
            } else {
                json!({"VERSION": "2", "PREVIOUS_VERSION": "1", "LANGUAGE_ID": "en"})
            };
            let auth = json!({
                "access_token": access,
                "expires": expires_at.to_string(),
                "expires_in": portal.token_ttl_secs.to_string(),
                "scope": portal.app.scopes.join(","),
                "domain": domain,
                "server_endpoint": format!("{}/rest/", portal.oauth_server),
                "status": "L",
                "client_endpoint": format!("{}/rest/", portal.base_url),
                "member_id": portal.member_id,
                "user_id": "1",
                "refresh_token": refresh,
                "application_token": portal.app.application_token,
            });
            (data, auth)
        }
    };
    let payload: Value = json!({
        "event": lifecycle.event(),
        "event_handler_id": "0",
        "data": data,
        "ts": now_unix().to_string(),
        "auth": auth,
    });
    let local = url::Url::parse(handler)
        .ok()
        .and_then(|u| u.host_str().map(crate::bitrix::auth::is_loopback_host))
        .unwrap_or(false);
    Outgoing {
        binding: StoredBinding {
            id: 0,
            event: lifecycle.event().to_string(),
            handler: handler.to_string(),
            user_id: 1,
            offline: false,
            connector: String::new(),
            min_timeout_secs: None,
        },
        body: crate::bitrix::form::encode(&payload),
        allowed: local || portal.external_delivery,
    }
}
