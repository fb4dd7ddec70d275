//! Fault injection: make the sandbox answer like a portal or proxy having a bad day.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::request::RestError;

/// What to do to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "cli",
    derive(clap::ValueEnum),
    value(rename_all = "snake_case")
)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 503 QUERY_LIMIT_EXCEEDED
    QueryLimit,
    /// 429 OPERATION_TIME_LIMIT, with no `time` in the body (as on the portal)
    OperationTimeLimit,
    /// 500 INTERNAL_SERVER_ERROR
    ServerError,
    /// 502 with a proxy's HTML page
    BadGateway,
    /// answer only after the delay
    Slow,
    /// close the connection in the middle of the answer
    Drop,
    /// serve the request, then close the connection in the middle of its
    /// answer: the portal did the work (a reservation, a clear) and the client
    /// never hears of it; with a delay, the answer is held that long first (the
    /// window in which a client may be killed after the work was done)
    LoseAnswer,
    /// 401 expired_token, whatever token was sent
    ExpiredToken,
}

/// A fault for the next `count` requests (of `method`, or of any method).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub method: Option<String>,
    /// For `slow` (default 2000) and `lose_answer` (default 0), in milliseconds.
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

impl Fault {
    /// A fault for the next `count` requests of `method` (of any method: `None`).
    pub fn on(kind: FaultKind, count: u32, method: Option<&str>) -> Self {
        Self {
            kind,
            count,
            method: method.map(str::to_string),
            delay_ms: None,
        }
    }

    /// The same fault with its delay set (`slow`, `lose_answer`), in milliseconds.
    pub fn delayed(self, delay_ms: u64) -> Self {
        Self {
            delay_ms: Some(delay_ms),
            ..self
        }
    }
}

fn one() -> u32 {
    1
}

impl std::str::FromStr for Fault {
    type Err = String;

    /// `KIND[:COUNT][@METHOD]`, e.g. `query_limit:3@event.get`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (rest, method) = match text.split_once('@') {
            Some((rest, method)) => (rest, Some(method.to_ascii_lowercase())),
            None => (text, None),
        };
        let (kind, count) = match rest.split_once(':') {
            Some((kind, count)) => (
                kind,
                count
                    .parse::<u32>()
                    .map_err(|_| format!("'{count}' is not a count"))?,
            ),
            None => (rest, 1),
        };
        // The names of the HTTP endpoint's JSON, in any case.
        let kind: FaultKind =
            serde_json::from_value(serde_json::Value::String(kind.to_ascii_lowercase())).map_err(|_| {
                format!("unknown fault '{kind}': use query_limit, operation_time_limit, server_error, bad_gateway, slow, drop, lose_answer or expired_token")
            })?;
        Ok(Self {
            kind,
            count,
            method,
            delay_ms: None,
        })
    }
}

/// Takes one use of the first fault that applies to `method`.
pub(crate) fn take(faults: &mut Vec<Fault>, method: &str) -> Option<Fault> {
    let index = faults.iter().position(|f| {
        f.count > 0
            && f.method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
    })?;
    let fault = faults[index].clone();
    faults[index].count -= 1;
    if faults[index].count == 0 {
        faults.remove(index);
    }
    Some(fault)
}

/// The answer for a fault, or `None` when the request should then be served
/// normally (`slow` only delays it).
pub(crate) async fn apply(fault: &Fault) -> Option<Response> {
    let delay = Duration::from_millis(fault.delay_ms.unwrap_or(2000));
    Some(match fault.kind {
        FaultKind::Slow => {
            tokio::time::sleep(delay).await;
            return None;
        }
        FaultKind::LoseAnswer => return None,
        FaultKind::QueryLimit => RestError::new(503, "QUERY_LIMIT_EXCEEDED", "Too many requests").into_response(),
        FaultKind::ServerError => RestError::new(500, "INTERNAL_SERVER_ERROR", "Internal server error").into_response(),
        FaultKind::ExpiredToken => RestError::new(401, "expired_token", "The access token provided has expired").into_response(),
        // As on the portal, the error body has no `time`: a client cannot learn
        // from it when the window resets and must back off on its own.
        FaultKind::OperationTimeLimit => RestError::new(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.").into_response(),
        FaultKind::BadGateway => (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>",
        )
            .into_response(),
        FaultKind::Drop => dropped_answer(),
    })
}

/// An answer cut off in the middle.
pub(crate) fn dropped_answer() -> Response {
    // Promise a body, send part of it, then fail the stream: the server closes
    // the connection mid-answer, as a crashing proxy would.
    let chunks: Vec<Result<&'static str, std::io::Error>> = vec![
        Ok("{\"result\":"),
        Err(std::io::Error::other("dropped by fault injection")),
    ];
    let mut response = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response.headers_mut().insert(
        header::CONTENT_LENGTH,
        header::HeaderValue::from_static("4096"),
    );
    response
}
