//! The sandbox's OAuth server: `/oauth/authorize/` and `/oauth/token/`.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::fleet::Served;
use super::request::{param_text, request_params};
use super::state::Shared;
use super::state::{random_hex, Portal};
use crate::bitrix::auth::now_unix;

/// How long an authorization code stays valid, as on Bitrix24.
const CODE_TTL_SECS: i64 = 30;

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": code, "error_description": description})),
    )
        .into_response()
}

/// `GET /oauth/authorize/?client_id&state&redirect_uri`: the sandbox approves at once
/// for the admin user and redirects with a code.
pub(crate) async fn authorize(State(shared): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let params = match crate::bitrix::form::decode(query.as_deref().unwrap_or("")) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let mut portal = shared.lock().unwrap_or_else(|p| p.into_inner());
    if param_text(&params, "client_id").as_deref() != Some(portal.app.client_id.as_str()) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Unknown client_id",
        );
    }
    let Some(redirect) = param_text(&params, "redirect_uri").filter(|r| !r.is_empty()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri is required by the sandbox",
        );
    };
    let code = random_hex(40);
    portal
        .auth_codes
        .insert(code.clone(), (1, now_unix() + CODE_TTL_SECS));
    let state = param_text(&params, "state").unwrap_or_default();
    let mut target = match url::Url::parse(&redirect) {
        Ok(url) => url,
        Err(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "redirect_uri is not a URL",
            )
        }
    };
    let domain = portal.base_url.trim_start_matches("http://").to_string();
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &state)
        .append_pair("domain", &domain)
        .append_pair("member_id", &portal.member_id)
        .append_pair("scope", &portal.app.scopes.join(","));
    Redirect::to(target.as_str()).into_response()
}

/// `GET|POST /oauth/token/`: `refresh_token` and `authorization_code` grants.
/// The name faults use for the token endpoint (`--fault slow@oauth.token`).
const TOKEN_METHOD: &str = "oauth.token";

pub(crate) async fn token(
    State(served): State<Served>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match request_params(query.as_deref(), &headers, &body) {
        Ok(params) => params,
        Err(error) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &error.description,
            )
        }
    };
    let shared = issuer(&served, &params);
    // A fault that names `oauth.token` (and only such a fault: the REST faults
    // without a method leave the OAuth server alone) applies here too.
    let fault = {
        let mut portal = shared.lock().unwrap_or_else(|p| p.into_inner());
        let named = portal
            .faults
            .iter()
            .any(|f| f.method.as_deref() == Some(TOKEN_METHOD));
        named
            .then(|| super::faults::take(&mut portal.faults, TOKEN_METHOD))
            .flatten()
    };
    let lose_answer = fault
        .as_ref()
        .is_some_and(|f| f.kind == super::faults::FaultKind::LoseAnswer);
    if let Some(fault) = fault {
        if let Some(response) = super::faults::apply(&fault).await {
            return response;
        }
    }
    let mut portal = shared.lock().unwrap_or_else(|p| p.into_inner());
    match grant(&mut portal, &params) {
        // The pair was rotated; its answer never arrives.
        Ok(_) if lose_answer => {
            portal.persist();
            super::faults::dropped_answer()
        }
        Ok(body) => {
            portal.persist();
            (StatusCode::OK, Json(body)).into_response()
        }
        Err((status, code, description)) => {
            portal.stats.token_errors += 1;
            oauth_error(status, code, description)
        }
    }
}

/// The portal a token request is for. A refresh token names no portal: like the
/// real service's one OAuth server, the sandbox finds the portal that issued it
/// among every portal it serves (the one asked first).
fn issuer(served: &Served, params: &Map<String, Value>) -> Shared {
    let presented = (param_text(params, "grant_type").as_deref() == Some("refresh_token"))
        .then(|| param_text(params, "refresh_token"))
        .flatten();
    let Some(presented) = presented else {
        return served.portal.clone();
    };
    let holds = |shared: &Shared| {
        shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .refresh_tokens
            .contains_key(&presented)
    };
    if holds(&served.portal) {
        return served.portal.clone();
    }
    served
        .fleet
        .iter()
        .find(|shared| holds(shared))
        .cloned()
        .unwrap_or_else(|| served.portal.clone())
}

type GrantError = (StatusCode, &'static str, &'static str);

fn grant(portal: &mut Portal, params: &Map<String, Value>) -> Result<Value, GrantError> {
    let client_ok = param_text(params, "client_id").as_deref()
        == Some(portal.app.client_id.as_str())
        && param_text(params, "client_secret").as_deref()
            == Some(portal.app.client_secret.as_str());
    if !client_ok {
        return Err((
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client credentials",
        ));
    }
    let user_id = match param_text(params, "grant_type").as_deref() {
        Some("refresh_token") => {
            let presented = param_text(params, "refresh_token").unwrap_or_default();
            // Single use: a refresh token is gone once exchanged.
            let user = portal.refresh_tokens.remove(&presented).ok_or((
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Invalid refresh token",
            ))?;
            portal.stats.refreshes += 1;
            user
        }
        Some("authorization_code") => {
            let code = param_text(params, "code").unwrap_or_default();
            match portal.auth_codes.remove(&code) {
                Some((user, expires)) if expires > now_unix() => user,
                _ => {
                    return Err((
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Invalid or expired authorization code",
                    ))
                }
            }
        }
        _ => {
            return Err((
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Unsupported grant_type",
            ))
        }
    };
    Ok(token_body(portal, user_id))
}

/// A fresh token pair in the OAuth server's answer shape.
pub(crate) fn token_body(portal: &mut Portal, user_id: i64) -> Value {
    let (access, refresh, expires_at) = portal.issue_tokens(user_id);
    let endpoint = format!("{}/rest/", portal.base_url);
    json!({
        "access_token": access,
        "refresh_token": refresh,
        "expires": expires_at,
        "expires_in": portal.token_ttl_secs,
        "scope": portal.app.scopes.join(","),
        // The OAuth server's host, not the portal's: the portal is client_endpoint.
        "domain": portal.oauth_server.trim_start_matches("http://"),
        "server_endpoint": format!("{}/rest/", portal.oauth_server),
        "client_endpoint": endpoint,
        "member_id": portal.member_id,
        "status": "L",
        "user_id": user_id,
    })
}
