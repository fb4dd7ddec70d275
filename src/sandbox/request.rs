//! What every REST method of the sandbox shares: the caller, the portal's error
//! answer, a method's output, and reading parameters as the portal reads them.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::bitrix::form;

/// A portal error: HTTP status, code, description and optional argument name.
#[derive(Debug, Clone)]
pub(crate) struct RestError {
    pub status: StatusCode,
    pub code: &'static str,
    pub description: String,
    pub argument: Option<String>,
}

impl RestError {
    pub(crate) fn new(status: u16, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code,
            description: description.into(),
            argument: None,
        }
    }

    /// `400 ERROR_ARGUMENT` about one argument.
    pub(crate) fn argument(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            argument: Some(name.into()),
            ..Self::new(400, "ERROR_ARGUMENT", description)
        }
    }

    pub(crate) fn body(&self) -> Value {
        let mut body = json!({"error": self.code, "error_description": self.description});
        if let Some(argument) = &self.argument {
            body["argument"] = json!(argument);
        }
        body
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// Who is calling: an application token or a webhook, for which user.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub user_id: i64,
    pub admin: bool,
    pub via_webhook: bool,
    pub scopes: Vec<String>,
    /// The request-level `auth_connector`: part of the auth data, so a `batch`
    /// command runs with the outer request's connector, never its own.
    pub connector: String,
}

impl Caller {
    /// Event methods refuse webhooks before looking at any parameter.
    pub(crate) fn require_application(&self) -> Result<(), RestError> {
        if self.via_webhook {
            return Err(RestError::new(
                403,
                "WRONG_AUTH_TYPE",
                "Current authorization type is denied for this method",
            ));
        }
        Ok(())
    }
}

/// What a method returns besides its result.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pub result: Value,
    pub next: Option<u64>,
    pub total: Option<u64>,
}

impl Output {
    pub(crate) fn of(result: Value) -> Self {
        Self {
            result,
            ..Self::default()
        }
    }
}

/// Merges the query string and the body (JSON or PHP-style form) into one object;
/// the body wins, as on the portal. A body is read as JSON only under a JSON
/// content type, and an unparsable JSON body is ignored rather than refused.
pub(crate) fn request_params(
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Map<String, Value>, RestError> {
    let mut params = match form::decode(query.unwrap_or("")) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return Ok(params);
    }
    let body_value = if content_type.contains("json") {
        serde_json::from_slice::<Value>(trimmed).unwrap_or(Value::Null)
    } else {
        form::decode(&String::from_utf8_lossy(trimmed))
    };
    if let Value::Object(map) = body_value {
        params.extend(map);
    }
    Ok(params)
}

/// Case-insensitive parameter lookup.
pub(crate) fn param<'a>(params: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    params
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// A parameter as text (numbers and booleans converted), if present.
pub(crate) fn param_text(params: &Map<String, Value>, name: &str) -> Option<String> {
    param(params, name).map(|value| match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    })
}
