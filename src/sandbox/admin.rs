//! `/_sandbox/*`: controls for tests and scripts (counters, token expiry, extra tokens).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::oauth::token_body;
use super::state::Shared;
use super::state::Stats;

/// `GET /_sandbox/stats`: request counters.
pub(crate) async fn stats(State(shared): State<Shared>) -> Json<Stats> {
    Json(
        shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stats
            .clone(),
    )
}

/// `POST /_sandbox/expire-tokens`: every access token becomes expired.
pub(crate) async fn expire_tokens(State(shared): State<Shared>) -> StatusCode {
    shared
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .expire_tokens();
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
pub(crate) struct AgeQuery {
    seconds: i64,
}

/// `POST /_sandbox/age-offline?seconds=N`: the offline queue's clock hook; every
/// row's TIMESTAMP_X moves N seconds into the past. The cleanup agent then deletes
/// rows past the retention on the next offline call.
pub(crate) async fn age_offline(
    State(shared): State<Shared>,
    Query(query): Query<AgeQuery>,
) -> StatusCode {
    let mut portal = shared.lock().unwrap_or_else(|p| p.into_inner());
    portal
        .offline
        .iter_mut()
        .for_each(|row| row.age_by(query.seconds));
    portal.persist();
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
pub(crate) struct InstalledQuery {
    value: bool,
}

/// `POST /_sandbox/installed?value=false`: `app.info` reports INSTALLED so.
pub(crate) async fn set_installed(
    State(shared): State<Shared>,
    Query(query): Query<InstalledQuery>,
) -> StatusCode {
    shared.lock().unwrap_or_else(|p| p.into_inner()).installed = query.value;
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
pub(crate) struct TokenQuery {
    user_id: Option<i64>,
}

/// `POST /_sandbox/token?user_id=2`: a token pair for any user (user 2 is not an admin).
pub(crate) async fn issue_token(
    State(shared): State<Shared>,
    Query(query): Query<TokenQuery>,
) -> Response {
    let mut portal = shared.lock().unwrap_or_else(|p| p.into_inner());
    let user_id = query.user_id.unwrap_or(1);
    if portal.user(user_id).is_none() {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "unknown user"})),
        )
            .into_response();
    }
    Json(token_body(&mut portal, user_id)).into_response()
}

/// Body of `POST /_sandbox/fire`.
#[derive(Debug, Deserialize)]
pub(crate) struct FireRequest {
    event: String,
    #[serde(default)]
    data: serde_json::Value,
    #[serde(default)]
    user_id: Option<i64>,
}

/// `POST /_sandbox/fire {"event","data"}`: a change on the portal; queues offline
/// records, calls the online handlers once each, and reports the deliveries.
pub(crate) async fn fire(
    State(shared): State<Shared>,
    Json(request): Json<FireRequest>,
) -> Response {
    let event = request.event.to_ascii_uppercase();
    let outcome = {
        let mut portal = shared.lock().unwrap_or_else(|p| p.into_inner());
        let data = if request.data.is_null() {
            json!({})
        } else {
            request.data
        };
        let outcome = super::fire::fire(&mut portal, &event, &data, request.user_id.unwrap_or(1));
        portal.persist();
        outcome
    };
    let deliveries = super::delivery::send_all(&shared, &event, outcome.outgoing).await;
    Json(
        json!({"event": event, "queued": outcome.queued, "merged": outcome.merged, "deliveries": deliveries}),
    )
        .into_response()
}

/// `GET /_sandbox/log`: the latest deliveries to online handlers.
pub(crate) async fn log(State(shared): State<Shared>) -> Json<Vec<super::state::Delivery>> {
    Json(
        shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .deliveries
            .clone(),
    )
}

/// `POST /_sandbox/faults {"kind","count","method","delay_ms"}`: inject a fault.
pub(crate) async fn add_fault(
    State(shared): State<Shared>,
    Json(fault): Json<super::faults::Fault>,
) -> StatusCode {
    shared
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .faults
        .push(fault);
    StatusCode::NO_CONTENT
}

/// `GET /_sandbox/faults`: faults still waiting for requests.
pub(crate) async fn list_faults(State(shared): State<Shared>) -> Json<Vec<super::faults::Fault>> {
    Json(
        shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .faults
            .clone(),
    )
}

/// `DELETE /_sandbox/faults`: remove every injected fault.
pub(crate) async fn clear_faults(State(shared): State<Shared>) -> StatusCode {
    shared
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .faults
        .clear();
    StatusCode::NO_CONTENT
}
