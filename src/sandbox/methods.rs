//! The sandbox's event methods, with the portal's validation order, codes and texts.

use serde_json::{json, Map, Value};

use super::catalog;
use super::request::{param, param_text, Caller, RestError};
use super::state::{Portal, StoredBinding};
use crate::bitrix::validate::MAX_HANDLER_CHARS;

fn access_denied(text: &str) -> RestError {
    RestError::new(403, "ACCESS_DENIED", text)
}

fn optional_int(params: &Map<String, Value>, name: &str) -> Result<Option<i64>, RestError> {
    match param_text(params, name) {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(Some(0)),
        Some(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| RestError::argument("AUTH_TYPE", "Value must be an integer")),
    }
}

/// The upper-cased `event` parameter, which must not be empty.
fn required_event(params: &Map<String, Value>) -> Result<String, RestError> {
    let event = param_text(params, "event")
        .unwrap_or_default()
        .trim()
        .to_ascii_uppercase();
    if event.is_empty() {
        return Err(RestError::argument(
            "EVENT",
            "Argument 'EVENT' is null or empty",
        ));
    }
    Ok(event)
}

/// The trimmed `handler` parameter of an online binding, which must not be empty.
fn required_handler(params: &Map<String, Value>) -> Result<String, RestError> {
    let handler = param_text(params, "handler")
        .unwrap_or_default()
        .trim()
        .to_string();
    if handler.is_empty() {
        return Err(RestError::argument(
            "HANDLER",
            "Argument 'HANDLER' is null or empty",
        ));
    }
    Ok(handler)
}

/// Which queue a binding goes to, from `event_type`.
fn offline_flag(params: &Map<String, Value>) -> Result<bool, RestError> {
    match param_text(params, "event_type").map(|t| t.to_ascii_lowercase()) {
        None => Ok(false),
        Some(kind) if kind.is_empty() || kind == "online" => Ok(false),
        Some(kind) if kind == "offline" => Ok(true),
        Some(_) => Err(RestError::argument(
            "EVENT_TYPE",
            "Value must be one of {online|offline}",
        )),
    }
}

/// The request's `auth_connector` (auth data: never a batch command's own).
fn connector_of(portal: &Portal, caller: &Caller) -> Result<String, RestError> {
    let connector = caller.connector.clone();
    if !connector.is_empty() && !portal.plan.has_offline_extended() {
        return Err(RestError::new(
            403,
            "WRONG_LICENSE",
            "Extended offline event handling is not available on the current plan",
        ));
    }
    Ok(connector)
}

/// The portal's handler URL check: a dot after the host's first character, then the scheme.
fn check_handler(handler: &str) -> Result<(), RestError> {
    let (scheme, host) = php_scheme_and_host(handler);
    if host.is_none_or(|host| host.find('.').is_none_or(|at| at == 0)) {
        return Err(RestError::new(
            400,
            "ERROR_WRONG_HANDLER_URL",
            "Wrong handler URL",
        ));
    }
    // Compared as PHP's `parse_url` returns it: `HTTPS` is not `https`.
    match scheme {
        Some("http") | Some("https") => {}
        _ => {
            return Err(RestError::new(
                400,
                "ERROR_UNSUPPORTED_PROTOCOL",
                "Unsupported handler protocol",
            ))
        }
    }
    // `b_rest_event.EVENT_HANDLER` is varchar(255).
    if handler.chars().count() > MAX_HANDLER_CHARS {
        return Err(RestError::new(
            400,
            "ERROR_CORE",
            "Unable to set event handler: the handler is longer than the 255 characters it is stored in",
        ));
    }
    Ok(())
}

/// The scheme and host as PHP's `parse_url` reads them: the scheme keeps its
/// case, and there is a host only after `scheme://` (`http:/host/x` has none).
fn php_scheme_and_host(url: &str) -> (Option<&str>, Option<&str>) {
    let Some((scheme, rest)) = url.split_once(':') else {
        return (None, None);
    };
    let scheme_ok = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return (None, None);
    }
    let host = rest.strip_prefix("//").map(|after| {
        let authority = &after[..after.find(['/', '?', '#']).unwrap_or(after.len())];
        let host_port = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        match host_port.strip_prefix('[') {
            Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
            None => host_port.split(':').next().unwrap_or(""),
        }
    });
    (Some(scheme), host.filter(|h| !h.is_empty()))
}

/// `event.bind`, validating in the portal's order (docs/portal.md).
pub(crate) fn event_bind(
    portal: &mut Portal,
    caller: &Caller,
    params: &Map<String, Value>,
) -> Result<Value, RestError> {
    caller.require_application()?;
    let connector = connector_of(portal, caller)?;
    let auth_type = optional_int(params, "auth_type")?;
    if let Some(user) = auth_type {
        if !caller.admin && user != 0 && user != caller.user_id {
            return Err(access_denied(
                "Access denied! Only administrators can bind handlers for other users",
            ));
        }
    }
    let event = required_event(params)?;
    let offline = offline_flag(params)?;
    let (handler, user_id) = if offline {
        if !caller.admin {
            return Err(access_denied(
                "Access denied! Offline events binding requires administrator access rights",
            ));
        }
        (String::new(), 0)
    } else {
        let handler = required_handler(params)?;
        check_handler(&handler)?;
        let user_id = if caller.admin {
            auth_type.unwrap_or(0)
        } else {
            caller.user_id
        };
        (handler, user_id)
    };
    if !catalog::events_for_scopes(&caller.scopes).contains(&event) {
        return Err(RestError::new(
            400,
            "ERROR_EVENT_NOT_FOUND",
            "Event not found",
        ));
    }
    if offline && event == "ONOFFLINEEVENT" {
        return Err(RestError::argument(
            "EVENT",
            "Offline event cannot be registered for this event.",
        ));
    }
    let duplicate = portal.bindings.iter().any(|b| {
        b.event == event
            && b.handler == handler
            && b.user_id == user_id
            && b.connector == connector
            && b.offline == offline
    });
    if duplicate {
        return Err(RestError::new(
            400,
            "ERROR_CORE",
            "Unable to set event handler: Handler already binded",
        ));
    }
    let min_timeout_secs = param(params, "options")
        .and_then(|o| o.as_object())
        .and_then(|o| param_text(o, "minTimeout"))
        .and_then(|t| t.trim().parse().ok());
    let id = portal.next_binding_id;
    portal.next_binding_id += 1;
    portal.bindings.push(StoredBinding {
        id,
        event,
        handler,
        user_id,
        offline,
        connector,
        min_timeout_secs,
    });
    Ok(json!(true))
}

/// `event.get`: the application's bindings in binding order; non-admins see their own.
pub(crate) fn event_get(portal: &Portal, caller: &Caller) -> Result<Value, RestError> {
    caller.require_application()?;
    let items: Vec<Value> = portal
        .bindings
        .iter()
        .filter(|b| caller.admin || b.user_id == caller.user_id)
        .map(|b| {
            if b.offline {
                json!({"event": b.event, "connector_id": b.connector, "offline": 1})
            } else {
                json!({"event": b.event, "handler": b.handler, "auth_type": b.user_id.to_string(), "offline": 0})
            }
        })
        .collect();
    Ok(Value::Array(items))
}

/// `event.unbind`: removes matching bindings; zero matches is not an error.
pub(crate) fn event_unbind(
    portal: &mut Portal,
    caller: &Caller,
    params: &Map<String, Value>,
) -> Result<Value, RestError> {
    caller.require_application()?;
    let connector = connector_of(portal, caller)?;
    let event = required_event(params)?;
    let offline = offline_flag(params)?;
    let handler = if offline {
        if !caller.admin {
            return Err(access_denied(
                "Access denied! Offline events unbinding requires administrator access rights",
            ));
        }
        String::new()
    } else {
        required_handler(params)?
    };
    // The key's mere presence narrows the match to that user id (empty = 0).
    let user_filter = match optional_int(params, "auth_type")? {
        Some(user) => Some(user),
        None if caller.admin => None,
        None => Some(caller.user_id),
    };
    if !caller.admin {
        // The portal compares a non-administrator's AUTH_TYPE with `!==` against
        // their integer id: only a JSON number passes; the text every form and
        // `batch` command carries ("2") is refused, whatever its value.
        if let Some(sent) = param(params, "auth_type").filter(|v| !v.is_null()) {
            if sent.as_i64() != Some(caller.user_id) {
                return Err(access_denied(
                    "Access denied! Event unbinding with AUTH_TYPE requires administrator access rights",
                ));
            }
        }
    }
    let before = portal.bindings.len();
    portal.bindings.retain(|b| {
        let matches = b.event == event
            && b.offline == offline
            && b.handler == handler
            && (!offline || b.connector == connector)
            && user_filter.is_none_or(|user| b.user_id == user);
        !matches
    });
    Ok(json!({"count": before - portal.bindings.len()}))
}

/// `scope`: the token's scopes, or with `full` every scope the portal has.
pub(crate) fn scope(caller: &Caller, params: &Map<String, Value>) -> Value {
    let full = param_text(params, "full")
        .is_some_and(|f| matches!(f.to_ascii_lowercase().as_str(), "1" | "true" | "y"));
    if full {
        json!(catalog::all_scopes())
    } else {
        json!(caller.scopes)
    }
}

/// `events`: by scope, global only, everything, or the token's scopes plus global.
pub(crate) fn events(caller: &Caller, params: &Map<String, Value>) -> Result<Value, RestError> {
    caller.require_application()?;
    let names = match param_text(params, "scope") {
        Some(scope) if !scope.is_empty() => catalog::scope_events(&scope),
        Some(_) => catalog::GLOBAL_EVENTS
            .iter()
            .map(|e| e.to_string())
            .collect(),
        None => {
            let full = param_text(params, "full")
                .is_some_and(|f| matches!(f.to_ascii_lowercase().as_str(), "1" | "true" | "y"));
            if full {
                catalog::all_events()
            } else {
                catalog::events_for_scopes(&caller.scopes)
            }
        }
    };
    Ok(json!(names))
}

/// `event.test`: sends ONAPPTEST, with the call's parameters as data, to the
/// handlers bound for it.
pub(crate) fn event_test(
    portal: &mut Portal,
    caller: &Caller,
    params: &Map<String, Value>,
) -> Result<Value, RestError> {
    caller.require_application()?;
    let targets: Vec<StoredBinding> = portal
        .bindings
        .iter()
        .filter(|b| !b.offline && b.event == "ONAPPTEST")
        .cloned()
        .collect();
    let data = Value::Object(params.clone());
    for binding in targets {
        let outgoing = super::delivery::prepare(portal, &binding, "ONAPPTEST", &data);
        portal.outbox.push(("ONAPPTEST".to_string(), outgoing));
    }
    Ok(json!(true))
}

/// `app.info`: the application and the portal's licence.
pub(crate) fn app_info(portal: &Portal, caller: &Caller) -> Value {
    let plan = portal.plan.name();
    if caller.via_webhook {
        return json!({"SCOPE": caller.scopes, "LICENSE": format!("en_{plan}")});
    }
    json!({
        "ID": 1,
        "CODE": portal.app.client_id,
        "VERSION": 1,
        "STATUS": "L",
        "INSTALLED": portal.installed,
        "PAYMENT_EXPIRED": "N",
        "DAYS": null,
        "LANGUAGE_ID": "en",
        "LICENSE": format!("en_{plan}"),
        "LICENSE_TYPE": plan,
        "LICENSE_FAMILY": plan,
    })
}
