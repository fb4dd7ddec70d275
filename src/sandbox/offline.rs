//! The sandbox's offline queue, as the portal's server code keeps it: MESSAGE_ID
//! merging, reservations, `event.offline.get|list|clear|error`, filters and order
//! with the portal's errors, and the cleanup agent (docs/portal.md, section 8).

use md5::{Digest, Md5};
use serde_json::{json, Map, Value};
use std::collections::HashSet;

use super::php;
use super::request::{param, Caller, Output, RestError};
use super::state::{Portal, QueuedEvent};

impl QueuedEvent {
    fn to_json(&self, with_state: bool) -> Value {
        let mut record = json!({
            "ID": self.id.to_string(),
            "TIMESTAMP_X": self.timestamp,
            "EVENT_NAME": self.event_name,
            "EVENT_DATA": self.event_data,
            "EVENT_ADDITIONAL": self.additional,
            "MESSAGE_ID": self.message_id,
        });
        if with_state {
            record["PROCESS_ID"] = json!(self.pid());
            record["ERROR"] = json!(if self.error { "1" } else { "0" });
        }
        record
    }
}

/// `md5(EVENT_NAME|json(EVENT_DATA))`: one row per object state.
pub(crate) fn message_id(event_name: &str, data: &Value) -> String {
    let mut hasher = Md5::new();
    hasher.update(format!("{event_name}|{data}").as_bytes());
    hex::encode(hasher.finalize())
}

/// Queues an event for one connector's queue, merging with an unreserved row of
/// the same MESSAGE_ID as the portal does; whether it was merged.
pub(crate) fn enqueue(
    portal: &mut Portal,
    event_name: &str,
    data: &Value,
    connector: &str,
    user_id: i64,
) -> bool {
    let message = message_id(event_name, data);
    let now = chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    if let Some(existing) = portal.offline.iter_mut().find(|row| {
        row.message_id == message && row.connector == connector && row.process_id.is_none()
    }) {
        existing.timestamp = now;
        existing.event_data = data.clone();
        return true;
    }
    let id = portal.next_offline_id;
    portal.next_offline_id += 1;
    portal.offline.push(QueuedEvent {
        id,
        timestamp: now,
        event_name: event_name.to_string(),
        event_data: data.clone(),
        additional: json!({"user_id": user_id}),
        message_id: message,
        process_id: None,
        error: false,
        connector: connector.to_string(),
    });
    false
}

/// How long a row may stay in the queue: the portal's cleanup agent deletes every
/// row whose TIMESTAMP_X is older, reserved or not (`PROCESS_ID_LIFETIME`; the
/// portal's own comment calls it 30 days).
pub use crate::bitrix::offline::RETENTION_SECS;

/// Page size of `event.offline.list`, fixed by the portal.
const LIST_PAGE: usize = 50;

/// `limit` of `event.offline.get` when the caller sends none.
const DEFAULT_GET_LIMIT: i64 = 50;

/// Filter and order fields of `get` and of `list`: the same lists the client checks.
use crate::bitrix::offline::{GET_FIELDS, LIST_FIELDS};
const FILTER_OPERATIONS: &[&str] = &["", "=", ">", "<", ">=", "<=", "@", "%"];

/// A reservation id as the portal makes them: 32 random letters and digits.
pub(crate) fn new_process_id() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

impl QueuedEvent {
    /// The stored PROCESS_ID: `""` for an unreserved row.
    fn pid(&self) -> &str {
        self.process_id.as_deref().unwrap_or("")
    }

    /// Seconds since the row was queued (or last updated by a repeat).
    pub fn age_secs(&self, now: i64) -> i64 {
        chrono::DateTime::parse_from_rfc3339(&self.timestamp)
            .map(|t| now - t.timestamp())
            .unwrap_or(0)
    }

    /// Moves the row's TIMESTAMP_X `seconds` into the past (the sandbox clock hook).
    pub fn age_by(&mut self, seconds: i64) {
        if let Ok(time) = chrono::DateTime::parse_from_rfc3339(&self.timestamp) {
            let older = time - chrono::Duration::seconds(seconds);
            self.timestamp = older.to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
        }
    }
}

/// The cleanup agent: deletes rows older than [`RETENTION_SECS`], reserved or not.
/// The portal runs it on a schedule; the sandbox runs it before every offline method.
pub(crate) fn cleanup(portal: &mut Portal) -> usize {
    let now = crate::bitrix::auth::now_unix();
    let before = portal.offline.len();
    portal
        .offline
        .retain(|row| row.age_secs(now) <= RETENTION_SECS);
    before - portal.offline.len()
}

fn require_admin(caller: &Caller) -> Result<(), RestError> {
    caller.require_application()?;
    if !caller.admin {
        return Err(RestError::new(403, "ACCESS_DENIED", "Access denied!"));
    }
    Ok(())
}

fn wrong_request(description: impl Into<String>) -> RestError {
    RestError::new(400, "ERROR_ARGUMENT", description)
}

/// A filter condition after the portal's sanitising: operation, field, value.
struct Condition {
    op: String,
    field: String,
    value: Value,
}

impl Condition {
    fn key(&self) -> String {
        format!("{}{}", self.op, self.field)
    }
}

/// `sanitizeFilter`: upper-cased keys, the operation is the leading non-letters.
fn sanitize_filter(filter: Option<&Value>, allowed: &[&str]) -> Result<Vec<Condition>, RestError> {
    let map = match filter {
        None => return Ok(Vec::new()),
        Some(Value::Object(map)) => map.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v.clone()))
            .collect(),
        Some(_) => return Err(wrong_request("The filter is not an array.")),
    };
    let mut conditions = Vec::new();
    for (key, value) in map {
        let key = key.to_ascii_uppercase();
        let split = key
            .find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(key.len());
        let (op, field) = key.split_at(split);
        if !FILTER_OPERATIONS.contains(&op) {
            return Err(wrong_request(format!("Filter operation not allowed: {op}")));
        }
        if !allowed.contains(&field) {
            return Err(wrong_request(format!("Filter field not allowed: {field}")));
        }
        conditions.push(Condition {
            op: op.to_string(),
            field: field.to_string(),
            value,
        });
    }
    Ok(conditions)
}

/// `markEvents` builds its query value by value and refuses arrays, objects and
/// dates (a TIMESTAMP_X condition becomes a date): only a new reservation checks this.
fn check_reservable(conditions: &[Condition]) -> Result<(), RestError> {
    for condition in conditions {
        // The reserving update hands each operation to the ORM's condition
        // builder, which knows no `%` (substring) and no `@` (in a list).
        if condition.op == "%" || condition.op == "@" {
            return Err(RestError::argument(
                condition.key(),
                format!("Unknown operator `{}`", condition.op),
            ));
        }
        if condition.field == "TIMESTAMP_X" || php::is_array(&condition.value) {
            let key = condition.key();
            return Err(RestError::argument(
                key.clone(),
                format!("The value of an argument '{key}' has an invalid type"),
            ));
        }
    }
    Ok(())
}

/// `sanitizeOrder`: an array of FIELD => ASC|DESC (or bare field names).
fn sanitize_order(
    order: Option<&Value>,
    default: &str,
    allowed: &[&str],
) -> Result<Vec<(String, bool)>, RestError> {
    let Some(order) = order else {
        return Ok(vec![(default.to_string(), true)]);
    };
    let entries: Vec<(Option<String>, Value)> = match order {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let numeric = k.bytes().all(|b| b.is_ascii_digit()) && !k.is_empty();
                ((!numeric).then(|| k.clone()), v.clone())
            })
            .collect(),
        Value::Array(items) => items.iter().map(|v| (None, v.clone())).collect(),
        _ => return Err(wrong_request("The order is not an array.")),
    };
    let mut result = Vec::new();
    for (key, value) in entries {
        match key {
            Some(field) => {
                let field = field.to_ascii_uppercase();
                if !allowed.contains(&field.as_str()) {
                    return Err(wrong_request(format!("Order field not allowed: {field}")));
                }
                let direction = php::text(&value).to_ascii_uppercase();
                if direction != "ASC" && direction != "DESC" {
                    return Err(wrong_request("Order direction should be one of {ASC|DESC}"));
                }
                result.push((field, direction == "ASC"));
            }
            None => {
                let field = php::text(&value);
                if !allowed.contains(&field.as_str()) {
                    return Err(wrong_request(format!("Order field not allowed: {field}")));
                }
                result.push((field, true));
            }
        }
    }
    if result.is_empty() {
        result.push((default.to_string(), true));
    }
    Ok(result)
}

impl QueuedEvent {
    fn field(&self, name: &str) -> Value {
        match name {
            "ID" => json!(self.id),
            "TIMESTAMP_X" => json!(self.timestamp),
            "EVENT_NAME" => json!(self.event_name),
            "MESSAGE_ID" => json!(self.message_id),
            "PROCESS_ID" => json!(self.pid()),
            "ERROR" => json!(i64::from(self.error)),
            _ => Value::Null,
        }
    }
}

/// Compares as the database would: dates as instants, numbers as numbers, else text.
fn compare(field: &str, left: &Value, right: &Value) -> std::cmp::Ordering {
    if field == "TIMESTAMP_X" {
        let instant = |v: &Value| {
            chrono::DateTime::parse_from_rfc3339(php::text(v).trim())
                .ok()
                .map(|t| t.timestamp())
        };
        if let (Some(a), Some(b)) = (instant(left), instant(right)) {
            return a.cmp(&b);
        }
    }
    let number = |v: &Value| {
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse::<f64>().ok()))
    };
    match (number(left), number(right)) {
        (Some(a), Some(b)) => a.total_cmp(&b),
        _ => php::text(left).cmp(&php::text(right)),
    }
}

fn matches(row: &QueuedEvent, conditions: &[Condition]) -> bool {
    conditions.iter().all(|c| {
        let actual = row.field(&c.field);
        let order = || compare(&c.field, &actual, &c.value);
        match c.op.as_str() {
            "" | "=" | "@" if php::is_array(&c.value) => php::elements(&c.value)
                .iter()
                .any(|item| compare(&c.field, &actual, item).is_eq()),
            "" | "=" | "@" => order().is_eq(),
            ">" => order().is_gt(),
            "<" => order().is_lt(),
            ">=" => order().is_ge(),
            "<=" => order().is_le(),
            "%" => php::text(&actual)
                .to_lowercase()
                .contains(&php::text(&c.value).to_lowercase()),
            _ => false,
        }
    })
}

fn sort(rows: &mut [&mut QueuedEvent], order: &[(String, bool)]) {
    rows.sort_by(|a, b| {
        for (field, ascending) in order {
            let ordering = compare(field, &a.field(field), &b.field(field));
            let ordering = if *ascending {
                ordering
            } else {
                ordering.reverse()
            };
            if !ordering.is_eq() {
                return ordering;
            }
        }
        a.id.cmp(&b.id)
    });
}

/// `event.offline.get` as `eventOfflineGet` does it (docs/portal.md, "offline.get"):
/// a new reservation marks up to `limit` rows; the read returns at most `limit` rows
/// of the reservation with the same ERROR flag and filter; `clear` deletes the whole
/// reservation once the read returned anything.
pub(crate) fn get(
    portal: &mut Portal,
    caller: &Caller,
    params: &Map<String, Value>,
) -> Result<Value, RestError> {
    require_admin(caller)?;
    cleanup(portal);
    let clear = param(params, "clear").map_or(1, php::intval) != 0;
    let given_process_id = param(params, "process_id").map(|v| php::text(v).trim().to_string());
    if !clear && !portal.plan.has_offline_extended() {
        return Err(wrong_license());
    }
    let limit = param(params, "limit").map_or(DEFAULT_GET_LIMIT, php::intval);
    let errors = param(params, "error").is_some_and(|v| php::intval(v) == 1);
    if limit <= 0 {
        return Err(RestError::argument(
            "LIMIT",
            "Value must be positive integer",
        ));
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let conditions = sanitize_filter(param(params, "filter"), GET_FIELDS)?;
    let order = sanitize_order(param(params, "order"), "TIMESTAMP_X", GET_FIELDS)?;
    let connector = caller.connector.clone();
    let process_id = match &given_process_id {
        Some(id) => id.clone(),
        None => {
            check_reservable(&conditions)?;
            let id = new_process_id();
            let mut free: Vec<&mut QueuedEvent> = portal
                .offline
                .iter_mut()
                .filter(|row| {
                    row.connector == connector
                        && row.error == errors
                        && row.pid().is_empty()
                        && matches(row, &conditions)
                })
                .collect();
            sort(&mut free, &order);
            for row in free.into_iter().take(limit) {
                row.process_id = Some(id.clone());
            }
            id
        }
    };
    let mut read: Vec<&mut QueuedEvent> = portal
        .offline
        .iter_mut()
        .filter(|row| {
            row.connector == connector
                && row.error == errors
                && row.pid() == process_id
                && matches(row, &conditions)
        })
        .collect();
    sort(&mut read, &order);
    let events: Vec<Value> = read
        .iter()
        .take(limit)
        .map(|row| row.to_json(false))
        .collect();
    if clear && !events.is_empty() {
        portal
            .offline
            .retain(|row| !(row.connector == connector && row.pid() == process_id));
    }
    let returned = (!clear || given_process_id.is_some()).then_some(process_id);
    Ok(json!({"process_id": returned, "events": events}))
}

fn wrong_license() -> RestError {
    RestError::new(
        403,
        "WRONG_LICENSE",
        "This feature is not enabled for the current license: extended offline events handling",
    )
}

/// `event.offline.list`: read-only, 50 a page, `next`/`total` beside the result.
/// It has no `error` parameter: errors are selected with an `ERROR` filter.
pub(crate) fn list(
    portal: &mut Portal,
    caller: &Caller,
    params: &Map<String, Value>,
) -> Result<Output, RestError> {
    require_admin(caller)?;
    cleanup(portal);
    let conditions = sanitize_filter(param(params, "filter"), LIST_FIELDS)?;
    let order = sanitize_order(param(params, "order"), "ID", LIST_FIELDS)?;
    let start = param(params, "start")
        .map_or(0, php::intval)
        .max(0)
        .try_into()
        .unwrap_or(0usize);
    let connector = caller.connector.clone();
    let mut rows: Vec<&mut QueuedEvent> = portal
        .offline
        .iter_mut()
        .filter(|row| row.connector == connector && matches(row, &conditions))
        .collect();
    sort(&mut rows, &order);
    let total = rows.len();
    let page: Vec<Value> = rows
        .iter()
        .skip(start)
        .take(LIST_PAGE)
        .map(|row| row.to_json(true))
        .collect();
    let next = (start + LIST_PAGE < total).then_some((start + LIST_PAGE) as u64);
    Ok(Output {
        result: Value::Array(page),
        next,
        total: Some(total as u64),
    })
}

/// `process_id` as the clear and error methods read it: required, but `""` passes
/// (and then means the unreserved rows).
fn required_process_id(params: &Map<String, Value>) -> Result<String, RestError> {
    param(params, "process_id")
        .map(|v| php::text(v).trim().to_string())
        .ok_or_else(|| RestError::argument("PROCESS_ID", "Argument 'PROCESS_ID' is null or empty"))
}

/// `event.offline.clear`: deletes a reservation's rows, all of them or those named
/// by `message_id` (which wins) or `id`. An empty list deletes the whole reservation,
/// as the portal's code does.
pub(crate) fn clear(
    portal: &mut Portal,
    caller: &Caller,
    params: &Map<String, Value>,
) -> Result<Value, RestError> {
    require_admin(caller)?;
    cleanup(portal);
    let process_id = required_process_id(params)?;
    let connector = caller.connector.clone();
    let mut message_ids: Option<Vec<String>> = None;
    let mut ids: Option<Vec<u64>> = None;
    if let Some(given) = param(params, "message_id") {
        if !php::is_array(given) {
            return Err(RestError::argument(
                "message_id",
                "Value must be array of MESSAGE_ID values",
            ));
        }
        let mut list = Vec::new();
        for item in php::elements(given) {
            let id = php::text(item).trim().to_string();
            if id.chars().count() != 32 {
                // The portal names the argument with three s's here.
                return Err(RestError::argument(
                    "messsage_id",
                    "Value must be array of MESSAGE_ID values",
                ));
            }
            list.push(id);
        }
        message_ids = (!list.is_empty()).then_some(list);
    } else if let Some(given) = param(params, "id") {
        let bad = || RestError::argument("id", "Value must be array of integers");
        if !php::is_array(given) {
            return Err(bad());
        }
        let mut list = Vec::new();
        for item in php::elements(given) {
            let id = php::intval(item);
            if id <= 0 {
                return Err(bad());
            }
            list.push(id as u64);
        }
        ids = (!list.is_empty()).then_some(list);
    }
    // Sets, not lists: a 500-record confirmation against a 10,000-row queue
    // made five million comparisons, which the benchmarks then charged to the
    // client.
    let message_ids: Option<HashSet<String>> = message_ids.map(|list| list.into_iter().collect());
    let ids: Option<HashSet<u64>> = ids.map(|list| list.into_iter().collect());
    portal.offline.retain(|row| {
        let in_reservation = row.connector == connector && row.pid() == process_id;
        let selected = || match (&message_ids, &ids) {
            (Some(set), _) => set.contains(&row.message_id),
            (None, Some(set)) => set.contains(&row.id),
            (None, None) => true,
        };
        !(in_reservation && selected())
    });
    Ok(json!(true))
}

/// `event.offline.error` as `markError` does it: other non-error copies of those
/// MESSAGE_IDs are deleted; this reservation's non-error rows become errors and are
/// released; rows that already were errors are not touched and stay reserved.
pub(crate) fn error(
    portal: &mut Portal,
    caller: &Caller,
    params: &Map<String, Value>,
) -> Result<Value, RestError> {
    require_admin(caller)?;
    cleanup(portal);
    let process_id = required_process_id(params)?;
    let given = param(params, "message_id").cloned().unwrap_or(Value::Null);
    if !php::is_array(&given) {
        return Err(RestError::argument(
            "message_id",
            "Value must be array of MESSAGE_ID values",
        ));
    }
    let message_ids: Vec<String> = php::elements(&given).into_iter().map(php::text).collect();
    if message_ids.is_empty() {
        return Ok(json!(true));
    }
    let connector = caller.connector.clone();
    let selected =
        |row: &QueuedEvent| row.connector == connector && message_ids.contains(&row.message_id);
    // 1. Every other copy that is not an error goes.
    portal
        .offline
        .retain(|row| !(selected(row) && !row.error && row.pid() != process_id));
    // 2. This reservation's rows become errors and are released. The portal keeps
    // one unreserved row per MESSAGE_ID: a released row that meets an unreserved
    // error copy is dropped in its favour.
    let mut released = Vec::new();
    for row in portal.offline.iter_mut() {
        if selected(row) && !row.error {
            row.error = true;
            row.process_id = None;
            released.push(row.id);
        }
    }
    let mut seen_unreserved: Vec<String> = portal
        .offline
        .iter()
        .filter(|row| selected(row) && row.pid().is_empty() && !released.contains(&row.id))
        .map(|row| row.message_id.clone())
        .collect();
    portal.offline.retain(|row| {
        if !released.contains(&row.id) {
            return true;
        }
        if seen_unreserved.contains(&row.message_id) {
            return false;
        }
        seen_unreserved.push(row.message_id.clone());
        true
    });
    Ok(json!(true))
}
