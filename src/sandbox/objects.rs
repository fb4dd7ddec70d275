//! The objects the sandbox's changes made, answered by the `*.get` methods the
//! event catalogue names (`crm.deal.get`, `tasks.task.get`, ...), so that
//! `consume --hydrate` has something to fetch. A generic store: an object is the
//! part of a fired change's `data` that holds its id; a delete removes it.

use serde_json::{Map, Value};

use super::request::{Caller, RestError};
use super::state::Portal;
use crate::bitrix::catalog::{self, at_path, Fetch};

/// What a fired change did to its object: an add or update stores it, a
/// delete removes it. Events the catalogue cannot fetch change nothing.
pub(crate) fn record_change(portal: &mut Portal, event: &str, data: &Value) {
    let deleted = event.contains("DELETE");
    let Some(fetch) = fetch_of(event) else {
        return;
    };
    let Some(id) = at_path(data, &fetch.id_path).map(id_text) else {
        return;
    };
    let objects = portal
        .objects
        .entry(fetch.method.to_ascii_lowercase())
        .or_default();
    if deleted {
        objects.remove(&id);
        return;
    }
    // The object: the part of `data` its id is in (`FIELDS` for FIELDS.ID).
    let holder = match fetch.id_path.rsplit_once('.') {
        Some((parent, _)) => at_path(data, parent).cloned(),
        None => Some(data.clone()),
    };
    let object = match holder {
        Some(Value::Object(fields)) => Value::Object(fields),
        _ => Value::Object(Map::from_iter([(
            "ID".to_string(),
            Value::String(id.clone()),
        )])),
    };
    objects.insert(id, object);
}

/// The fetch of an event, or for a delete the fetch of its add (or update):
/// where the deleted object was kept.
fn fetch_of(event: &str) -> Option<&'static Fetch> {
    let upper = event.to_ascii_uppercase();
    if let Some(at) = upper.rfind("DELETE") {
        return ["ADD", "UPDATE"].iter().find_map(|kind| {
            let sibling = format!("{}{kind}{}", &upper[..at], &upper[at + 6..]);
            catalog::find(&sibling)?.fetch.as_ref()
        });
    }
    catalog::find(&upper)?.fetch.as_ref()
}

fn id_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Answers `method` when the catalogue names it as an event's fetch method:
/// the stored object, or the portal's "Not found."; `None` for any other method.
pub(crate) fn get(
    portal: &Portal,
    caller: &Caller,
    method: &str,
    params: &Map<String, Value>,
) -> Option<Result<Value, RestError>> {
    let (fetch, scope) = catalog::events().iter().find_map(|event| {
        let fetch = event.fetch.as_ref()?;
        fetch
            .method
            .eq_ignore_ascii_case(method)
            .then_some((fetch, &event.scope))
    })?;
    if !scope.is_empty() && !caller.scopes.iter().any(|s| s == scope) {
        return Some(Err(RestError::new(
            401,
            "insufficient_scope",
            "The request requires higher privileges than provided by the access token",
        )));
    }
    let id = params
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(&fetch.param))
        .map(|(_, value)| id_text(value))
        .filter(|id| !id.is_empty());
    let Some(id) = id else {
        return Some(Err(RestError::new(
            400,
            "ERROR_ARGUMENT",
            format!("{} is required", fetch.param),
        )));
    };
    Some(
        portal
            .objects
            .get(&fetch.method.to_ascii_lowercase())
            .and_then(|objects| objects.get(&id))
            .cloned()
            // As the crm module's proxies answer a missing id:
            // `RestException('Not found.')`, no error code, HTTP 400.
            .ok_or_else(|| RestError::new(400, "", "Not found.")),
    )
}
