//! The `/rest/` endpoint: parameters, authentication, envelopes, `batch` and dispatch.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::request::{param, request_params, Caller, Output, RestError};
use super::state::Portal;
use super::state::Shared;
use super::{methods, offline};
use crate::bitrix::auth::now_unix;
use crate::bitrix::form;

/// Methods that change nothing, so `--state` need not be written after them.
const READ_ONLY: &[&str] = &[
    "event.get",
    "user.admin",
    "events",
    "app.info",
    "scope",
    "event.offline.list",
];

/// `POST|GET /rest/{*path}`.
pub(crate) async fn rest_endpoint(
    State(shared): State<Shared>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = now_float();
    let method = normalise_method(path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(""));
    let fault = {
        let mut portal = shared.lock().unwrap_or_else(|p| p.into_inner());
        portal.stats.requests += 1;
        if let Some(bucket) = portal.bucket.as_mut() {
            if !bucket.admit() {
                portal.stats.query_limit_exceeded += 1;
                return RestError::new(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
                    .into_response();
            }
        }
        let fault = super::faults::take(&mut portal.faults, &method);
        if fault.is_some() {
            portal.stats.faults_applied += 1;
        }
        fault
    };
    let lose_answer = fault
        .as_ref()
        .filter(|f| f.kind == super::faults::FaultKind::LoseAnswer)
        .map(|f| Duration::from_millis(f.delay_ms.unwrap_or(0)));
    if let Some(fault) = fault {
        if let Some(response) = super::faults::apply(&fault).await {
            return response;
        }
    }
    let (outcome, outbox) = {
        let mut portal = shared.lock().unwrap_or_else(|p| p.into_inner());
        let outcome = handle(&mut portal, &path, query.as_deref(), &headers, &body);
        if outcome.is_ok() && !READ_ONLY.contains(&method.as_str()) {
            portal.persist();
        }
        (outcome, std::mem::take(&mut portal.outbox))
    };
    // Handlers are called after the method ran and before it answers, as on a portal
    // that delivers synchronously; the lock is not held meanwhile.
    for (event, outgoing) in outbox {
        super::delivery::send_all(&shared, &event, vec![outgoing]).await;
    }
    if let Some(held) = lose_answer {
        tokio::time::sleep(held).await;
        return super::faults::dropped_answer();
    }
    match outcome {
        Ok(output) => {
            let mut envelope = Map::new();
            envelope.insert("result".into(), output.result);
            if let Some(next) = output.next {
                envelope.insert("next".into(), json!(next));
            }
            if let Some(total) = output.total {
                envelope.insert("total".into(), json!(total));
            }
            envelope.insert("time".into(), time_block(started));
            (StatusCode::OK, Json(Value::Object(envelope))).into_response()
        }
        Err(error) => error.into_response(),
    }
}

fn handle(
    portal: &mut Portal,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Output, RestError> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let method = match segments.as_slice() {
        [user, _, method] if user.bytes().all(|b| b.is_ascii_digit()) => *method,
        [method] => *method,
        _ => "",
    };
    let method = normalise_method(method);
    // An unknown method is refused before any authentication.
    if !METHODS.contains(&method.as_str()) {
        return Err(method_not_found());
    }
    let mut params = request_params(query, headers, body)?;
    let mut caller = match segments.as_slice() {
        [user, secret, _] if user.bytes().all(|b| b.is_ascii_digit()) => {
            webhook_caller(portal, user, secret)?
        }
        _ => token_caller(portal, &mut params, headers)?,
    };
    caller.connector = take_auth_key(&mut params, "auth_connector")
        .map(|v| super::php::text(&v))
        .unwrap_or_default();
    dispatch(portal, &caller, &method, &params)
}

/// Every method the sandbox implements.
const METHODS: &[&str] = &[
    "event.bind",
    "event.get",
    "event.unbind",
    "events",
    "event.offline.get",
    "event.offline.list",
    "event.offline.clear",
    "event.offline.error",
    "event.test",
    "app.info",
    "user.admin",
    "scope",
    "batch",
];

fn method_not_found() -> RestError {
    RestError::new(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
}

/// Removes an auth key from the parameters: auth keys are matched exactly, in
/// lower case (`AUTH=...` is an ordinary parameter to the portal).
fn take_auth_key(params: &mut Map<String, Value>, key: &str) -> Option<Value> {
    params.remove(key)
}

/// Lower-cases a method name and strips a trailing `.json`.
pub(crate) fn normalise_method(method: &str) -> String {
    let lower = method.to_ascii_lowercase();
    lower
        .strip_suffix(".json")
        .map(str::to_string)
        .unwrap_or(lower)
}

fn webhook_caller(portal: &Portal, user: &str, secret: &str) -> Result<Caller, RestError> {
    let invalid = || RestError::new(401, "INVALID_CREDENTIALS", "Invalid request credentials");
    let user_id: i64 = user.parse().map_err(|_| invalid())?;
    if portal.webhooks.get(secret) != Some(&user_id) {
        return Err(invalid());
    }
    let user = portal.user(user_id).ok_or_else(invalid)?;
    Ok(Caller {
        user_id,
        admin: user.admin,
        via_webhook: true,
        scopes: portal.app.scopes.clone(),
        connector: String::new(),
    })
}

fn token_caller(
    portal: &Portal,
    params: &mut Map<String, Value>,
    headers: &HeaderMap,
) -> Result<Caller, RestError> {
    let from_auth = take_auth_key(params, "auth");
    let from_access_token = take_auth_key(params, "access_token");
    let from_param = from_auth
        .or(from_access_token)
        .and_then(|v| v.as_str().map(str::to_string));
    let from_header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").map(str::to_string));
    // The header wins over the parameters.
    let Some(token) = from_header.or(from_param).filter(|t| !t.is_empty()) else {
        return Err(RestError::new(
            401,
            "NO_AUTH_FOUND",
            "Wrong authorization data",
        ));
    };
    let Some(record) = portal.access_tokens.get(&token) else {
        return Err(RestError::new(
            401,
            "invalid_token",
            "The access token provided is invalid.",
        ));
    };
    if record.expires_at <= now_unix() {
        return Err(RestError::new(
            401,
            "expired_token",
            "The access token provided has expired",
        ));
    }
    let user = portal
        .user(record.user_id)
        .ok_or_else(|| RestError::new(401, "NO_AUTH_FOUND", "Wrong authorization data"))?;
    Ok(Caller {
        user_id: user.id,
        admin: user.admin,
        via_webhook: false,
        scopes: portal.app.scopes.clone(),
        connector: String::new(),
    })
}

/// Runs one method for a caller.
pub(crate) fn dispatch(
    portal: &mut Portal,
    caller: &Caller,
    method: &str,
    params: &Map<String, Value>,
) -> Result<Output, RestError> {
    portal.count_method(method);
    match method {
        "event.bind" => methods::event_bind(portal, caller, params).map(Output::of),
        "event.get" => methods::event_get(portal, caller).map(Output::of),
        "event.unbind" => methods::event_unbind(portal, caller, params).map(Output::of),
        "events" => methods::events(caller, params).map(Output::of),
        "event.offline.get" => offline::get(portal, caller, params).map(Output::of),
        "event.offline.list" => offline::list(portal, caller, params),
        "event.offline.clear" => offline::clear(portal, caller, params).map(Output::of),
        "event.offline.error" => offline::error(portal, caller, params).map(Output::of),
        "event.test" => methods::event_test(portal, caller, params).map(Output::of),
        "app.info" => Ok(Output::of(methods::app_info(portal, caller))),
        "user.admin" => Ok(Output::of(json!(caller.admin))),
        "scope" => Ok(Output::of(methods::scope(caller, params))),
        "batch" => batch(portal, caller, params).map(Output::of),
        _ => match super::objects::get(portal, caller, method, params) {
            Some(answer) => answer.map(Output::of),
            None => Err(method_not_found()),
        },
    }
}

/// Most commands of one `batch` request; later ones each fail on their own.
const MAX_BATCH: usize = 50;

/// `batch` as `methodsBatch` runs it (docs/portal.md, section 9): every command with
/// the outer request's auth data (connector included), commands past the 50th
/// failing one by one, `$result[key]...` references replaced by earlier results,
/// `halt` read with PHP truthiness.
fn batch(
    portal: &mut Portal,
    caller: &Caller,
    params: &Map<String, Value>,
) -> Result<Value, RestError> {
    let halt = param(params, "halt").is_some_and(super::php::truthy);
    let commands: Vec<(String, Value)> = match param(params, "cmd") {
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v.clone()))
            .collect(),
        _ => Vec::new(),
    };
    let mut done = BatchResults::default();
    for (position, (key, command)) in commands.into_iter().enumerate() {
        let outcome = if position >= MAX_BATCH {
            Err(RestError::new(
                400,
                "ERROR_BATCH_LENGTH_EXCEEDED",
                "Max batch length exceeded",
            ))
        } else {
            // The portal skips a command that is not a string, silently.
            let Value::String(line) = command else {
                continue;
            };
            let started = now_float();
            let (method, query) = line.split_once('?').unwrap_or((line.as_str(), ""));
            let method = normalise_method(method);
            let outcome = if method == "batch" {
                Err(RestError::new(
                    400,
                    "ERROR_BATCH_METHOD_NOT_ALLOWED",
                    "Method is not allowed for batch usage",
                ))
            } else {
                let mut sub_params = match done.substitute(form::decode(query)) {
                    Value::Object(map) => map,
                    _ => Map::new(),
                };
                // Auth keys inside a command are replaced by the outer request's.
                sub_params.remove("auth");
                sub_params.remove("access_token");
                sub_params.remove("auth_connector");
                dispatch(portal, caller, &method, &sub_params)
            };
            if outcome.is_ok() {
                done.times.insert(key.clone(), time_block(started));
            }
            outcome
        };
        match outcome {
            Ok(output) => {
                if let Some(total) = output.total {
                    done.totals.insert(key.clone(), json!(total));
                }
                if let Some(next) = output.next {
                    done.nexts.insert(key.clone(), json!(next));
                }
                done.results.insert(key, output.result);
            }
            Err(error) => {
                done.errors.insert(key, error.body());
                if halt {
                    break;
                }
            }
        }
    }
    Ok(done.into_json())
}

/// What a batch has produced so far, by command key.
#[derive(Default)]
struct BatchResults {
    results: Map<String, Value>,
    errors: Map<String, Value>,
    totals: Map<String, Value>,
    nexts: Map<String, Value>,
    times: Map<String, Value>,
}

impl BatchResults {
    /// The map a `$name[...]` reference reads.
    fn named(&self, name: &str) -> Option<&Map<String, Value>> {
        match name {
            "result" => Some(&self.results),
            "next" => Some(&self.nexts),
            "total" => Some(&self.totals),
            "time" => Some(&self.times),
            "error" => Some(&self.errors),
            _ => None,
        }
    }

    /// Replaces `$result[key][FIELD]...` references in every value of a command's
    /// parameters: a value that is only a reference becomes the referenced value,
    /// a reference inside text is replaced when it names a scalar.
    fn substitute(&self, value: Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (k, self.substitute(v)))
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| self.substitute(v)).collect())
            }
            Value::String(text) => self.substitute_text(text),
            other => other,
        }
    }

    fn substitute_text(&self, text: String) -> Value {
        let mut output = text.clone();
        let mut rest = text.as_str();
        while let Some(at) = rest.find('$') {
            let candidate = &rest[at + 1..];
            let reference_end = candidate
                .find(char::is_whitespace)
                .unwrap_or(candidate.len());
            let reference = &candidate[..reference_end];
            rest = &candidate[reference_end..];
            let name_end = reference.find('[').unwrap_or(reference.len());
            let (name, path) = reference.split_at(name_end);
            let Some(map) = self.named(&name.to_ascii_lowercase()) else {
                continue;
            };
            let keys: Vec<&str> = path
                .split('[')
                .filter_map(|part| part.split_once(']').map(|(key, _)| key))
                .filter(|key| !key.is_empty())
                .collect();
            let Some((first, deeper)) = keys.split_first() else {
                continue;
            };
            let Some(mut found) = map.get(*first) else {
                continue;
            };
            for key in deeper {
                match found
                    .get(*key)
                    .or_else(|| key.parse::<usize>().ok().and_then(|index| found.get(index)))
                {
                    Some(next) => found = next,
                    None => break,
                }
            }
            let whole = format!("${reference}");
            if whole == text {
                return found.clone();
            }
            match found {
                Value::String(s) => output = output.replace(&whole, s),
                Value::Number(n) => output = output.replace(&whole, &n.to_string()),
                _ => {}
            }
        }
        Value::String(output)
    }

    fn into_json(self) -> Value {
        // PHP serialises empty arrays as `[]`, which clients must accept.
        let php = |map: Map<String, Value>| {
            if map.is_empty() {
                json!([])
            } else {
                Value::Object(map)
            }
        };
        json!({
            "result": php(self.results),
            "result_error": php(self.errors),
            "result_total": php(self.totals),
            "result_next": php(self.nexts),
            "result_time": php(self.times),
        })
    }
}

use crate::support::clock::unix_seconds_f64 as now_float;

fn time_block(started: f64) -> Value {
    let finished = now_float();
    let date = |secs: f64| {
        chrono::DateTime::from_timestamp(secs as i64, 0)
            .map(|d| d.to_rfc3339())
            .unwrap_or_default()
    };
    json!({
        "start": started,
        "finish": finished,
        "duration": finished - started,
        "processing": finished - started,
        "date_start": date(started),
        "date_finish": date(finished),
        "operating_reset_at": finished as i64 + 600,
        "operating": 0,
    })
}
