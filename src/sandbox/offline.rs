//! The sandbox's offline queue: queuing with MESSAGE_ID merging, reservations,
//! `event.offline.get|list|clear|error`, filters and order with the portal's errors.

use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

use super::rest::{param, param_text, Caller, Output, RestError};
use super::state::{random_hex, Portal};

/// Page size of `event.offline.list`, fixed by the portal.
const LIST_PAGE: usize = 50;

/// One queued event.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QueuedEvent {
    pub id: u64,
    pub timestamp: String,
    pub event_name: String,
    pub event_data: Value,
    pub additional: Value,
    pub message_id: String,
    pub process_id: Option<String>,
    pub error: bool,
    pub connector: String,
}

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
            record["PROCESS_ID"] = json!(self.process_id);
            record["ERROR"] = json!(if self.error { "1" } else { "0" });
        }
        record
    }

    fn field(&self, name: &str) -> Value {
        match name {
            "ID" => json!(self.id),
            "TIMESTAMP_X" => json!(self.timestamp),
            "EVENT_NAME" => json!(self.event_name),
            "MESSAGE_ID" => json!(self.message_id),
            "PROCESS_ID" => json!(self.process_id.clone().unwrap_or_default()),
            "ERROR" => json!(if self.error { 1 } else { 0 }),
            _ => Value::Null,
        }
    }
}

/// `md5(EVENT_NAME|json(EVENT_DATA))`: one row per object state.
pub fn message_id(event_name: &str, data: &Value) -> String {
    let mut hasher = Md5::new();
    hasher.update(format!("{event_name}|{data}").as_bytes());
    hex::encode(hasher.finalize())
}

/// Queues an event for one connector's queue, merging with an unreserved row of
/// the same MESSAGE_ID as the portal does.
pub fn enqueue(
    portal: &mut Portal,
    event_name: &str,
    data: &Value,
    connector: &str,
    user_id: i64,
) -> u64 {
    let message = message_id(event_name, data);
    let now = chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    if let Some(existing) = portal.offline.iter_mut().find(|row| {
        row.message_id == message && row.connector == connector && row.process_id.is_none()
    }) {
        existing.timestamp = now;
        existing.event_data = data.clone();
        return existing.id;
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
    id
}

fn require_admin(caller: &Caller) -> Result<(), RestError> {
    caller.require_application()?;
    if !caller.admin {
        return Err(RestError::new(
            403,
            "ACCESS_DENIED",
            "Access denied! Offline events require administrator access rights",
        ));
    }
    Ok(())
}

fn flag(params: &Map<String, Value>, name: &str, default: bool) -> bool {
    match param_text(params, name) {
        None => default,
        Some(text) => matches!(
            text.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "y" | "yes"
        ),
    }
}

fn connector(portal: &Portal, params: &Map<String, Value>) -> Result<String, RestError> {
    let connector = param_text(params, "auth_connector").unwrap_or_default();
    if !connector.is_empty() && !portal.plan.has_offline_extended() {
        return Err(RestError::new(
            403,
            "WRONG_LICENSE",
            "Extended offline event handling is not available on the current plan",
        ));
    }
    Ok(connector)
}

/// A parsed filter condition.
struct Condition {
    op: &'static str,
    field: String,
    value: Value,
}

fn parse_filter(
    params: &Map<String, Value>,
    allowed: &[&str],
) -> Result<Vec<Condition>, RestError> {
    let Some(filter) = param(params, "filter") else {
        return Ok(Vec::new());
    };
    let map = match filter {
        Value::Object(map) => map.clone(),
        Value::String(s) if s.is_empty() => Map::new(),
        Value::Array(items) if items.is_empty() => Map::new(),
        _ => return Err(RestError::argument("FILTER", "Filter must be an array")),
    };
    let mut conditions = Vec::new();
    for (key, value) in map {
        let split = key
            .find(|c: char| c.is_ascii_alphabetic() || c == '_')
            .unwrap_or(key.len());
        let (op_text, field) = key.split_at(split);
        let op = match op_text {
            "" | "=" => "=",
            ">" => ">",
            "<" => "<",
            ">=" => ">=",
            "<=" => "<=",
            "%" => "%",
            "@" if allowed.contains(&"PROCESS_ID") => "@",
            other => {
                return Err(RestError::argument(
                    "FILTER",
                    format!("Filter operation not allowed: {other}"),
                ));
            }
        };
        let field = field.to_ascii_uppercase();
        if !allowed.contains(&field.as_str()) {
            return Err(RestError::argument(
                "FILTER",
                format!("Filter field not allowed: {field}"),
            ));
        }
        conditions.push(Condition { op, field, value });
    }
    Ok(conditions)
}

fn compare(left: &Value, right: &Value) -> std::cmp::Ordering {
    let number = |v: &Value| {
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    };
    match (number(left), number(right)) {
        (Some(a), Some(b)) => a.total_cmp(&b),
        _ => text(left).cmp(&text(right)),
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn matches(row: &QueuedEvent, conditions: &[Condition]) -> bool {
    conditions.iter().all(|c| {
        let actual = row.field(&c.field);
        match c.op {
            "=" => compare(&actual, &c.value).is_eq(),
            ">" => compare(&actual, &c.value).is_gt(),
            "<" => compare(&actual, &c.value).is_lt(),
            ">=" => compare(&actual, &c.value).is_ge(),
            "<=" => compare(&actual, &c.value).is_le(),
            "%" => text(&actual)
                .to_lowercase()
                .contains(&text(&c.value).to_lowercase()),
            "@" => match &c.value {
                Value::Array(items) => items.iter().any(|item| compare(&actual, item).is_eq()),
                single => compare(&actual, single).is_eq(),
            },
            _ => false,
        }
    })
}

fn parse_order(
    params: &Map<String, Value>,
    default: &str,
    allowed: &[&str],
) -> Result<Vec<(String, bool)>, RestError> {
    let Some(Value::Object(map)) = param(params, "order") else {
        return Ok(vec![(default.to_string(), true)]);
    };
    let mut order = Vec::new();
    for (field, direction) in map {
        let field = field.to_ascii_uppercase();
        if !allowed.contains(&field.as_str()) {
            return Err(RestError::argument(
                "ORDER",
                format!("Order field not allowed: {field}"),
            ));
        }
        let ascending = !text(direction).eq_ignore_ascii_case("desc");
        order.push((field, ascending));
    }
    if order.is_empty() {
        order.push((default.to_string(), true));
    }
    Ok(order)
}

fn sort(rows: &mut [QueuedEvent], order: &[(String, bool)]) {
    rows.sort_by(|a, b| {
        for (field, ascending) in order {
            let ordering = compare(&a.field(field), &b.field(field));
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

const GET_FIELDS: &[&str] = &["ID", "TIMESTAMP_X", "EVENT_NAME", "MESSAGE_ID"];
const LIST_FIELDS: &[&str] = &[
    "ID",
    "TIMESTAMP_X",
    "EVENT_NAME",
    "MESSAGE_ID",
    "PROCESS_ID",
    "ERROR",
];

/// `event.offline.get`: reserve (`clear=0`) or take (`clear=1`) records.
pub fn get(
    portal: &mut Portal,
    caller: &Caller,
    params: &Map<String, Value>,
) -> Result<Value, RestError> {
    require_admin(caller)?;
    let connector = connector(portal, params)?;
    let limit = match param_text(params, "limit") {
        None => 50,
        Some(text) => match text.trim().parse::<i64>() {
            Ok(n) if n > 0 => n as usize,
            _ => {
                return Err(RestError::argument(
                    "LIMIT",
                    "Value must be positive integer",
                ))
            }
        },
    };
    let clear = flag(params, "clear", true);
    if !clear && !portal.plan.has_offline_extended() {
        return Err(RestError::new(
            403,
            "WRONG_LICENSE",
            "Extended offline event handling is not available on the current plan",
        ));
    }
    let conditions = parse_filter(params, GET_FIELDS)?;
    let order = parse_order(params, "TIMESTAMP_X", GET_FIELDS)?;
    let errors_only = flag(params, "error", false);
    let process_id = param_text(params, "process_id").filter(|p| !p.is_empty());
    let mut selected: Vec<QueuedEvent> = portal
        .offline
        .iter()
        .filter(|row| row.connector == connector)
        .filter(|row| match &process_id {
            Some(id) => row.process_id.as_deref() == Some(id.as_str()),
            None => {
                row.process_id.is_none() && row.error == errors_only && matches(row, &conditions)
            }
        })
        .cloned()
        .collect();
    sort(&mut selected, &order);
    if process_id.is_none() {
        selected.truncate(limit);
    }
    let ids: Vec<u64> = selected.iter().map(|row| row.id).collect();
    let reservation = if clear {
        portal.offline.retain(|row| !ids.contains(&row.id));
        None
    } else if let Some(id) = process_id {
        Some(id)
    } else if ids.is_empty() {
        None
    } else {
        let id = random_hex(32);
        for row in portal
            .offline
            .iter_mut()
            .filter(|row| ids.contains(&row.id))
        {
            row.process_id = Some(id.clone());
        }
        Some(id)
    };
    let events: Vec<Value> = selected.iter().map(|row| row.to_json(false)).collect();
    Ok(json!({"process_id": reservation, "events": events}))
}

/// `event.offline.list`: read-only, 50 a page, `next`/`total` beside the result.
pub fn list(
    portal: &Portal,
    caller: &Caller,
    params: &Map<String, Value>,
) -> Result<Output, RestError> {
    require_admin(caller)?;
    let connector = connector(portal, params)?;
    let conditions = parse_filter(params, LIST_FIELDS)?;
    let order = parse_order(params, "ID", LIST_FIELDS)?;
    let start = param_text(params, "start")
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let errors_only = param_text(params, "error").map(|_| flag(params, "error", false));
    let mut rows: Vec<QueuedEvent> = portal
        .offline
        .iter()
        .filter(|row| row.connector == connector && matches(row, &conditions))
        .filter(|row| errors_only.is_none_or(|wanted| row.error == wanted))
        .cloned()
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

fn required_process_id(params: &Map<String, Value>) -> Result<String, RestError> {
    param_text(params, "process_id")
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| RestError::argument("PROCESS_ID", "Argument 'PROCESS_ID' is null or empty"))
}

fn list_param(params: &Map<String, Value>, name: &str) -> Vec<String> {
    match param(params, name) {
        Some(Value::Array(items)) => items.iter().map(text).collect(),
        Some(Value::Object(map)) => map.values().map(text).collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        Some(Value::Number(n)) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

/// `event.offline.clear`: deletes a reservation's records (all, or by message id or id).
pub fn clear(
    portal: &mut Portal,
    caller: &Caller,
    params: &Map<String, Value>,
) -> Result<Value, RestError> {
    require_admin(caller)?;
    let process_id = required_process_id(params)?;
    let message_ids = list_param(params, "message_id");
    let ids = list_param(params, "id");
    portal.offline.retain(|row| {
        let in_reservation = row.process_id.as_deref() == Some(process_id.as_str());
        let selected = if !message_ids.is_empty() {
            message_ids.contains(&row.message_id)
        } else if !ids.is_empty() {
            ids.contains(&row.id.to_string())
        } else {
            true
        };
        !(in_reservation && selected)
    });
    Ok(json!(true))
}

/// `event.offline.error`: marks records of a reservation as errors and releases them.
pub fn error(
    portal: &mut Portal,
    caller: &Caller,
    params: &Map<String, Value>,
) -> Result<Value, RestError> {
    require_admin(caller)?;
    let process_id = required_process_id(params)?;
    let message_ids = list_param(params, "message_id");
    if message_ids.is_empty() {
        return Err(RestError::argument(
            "MESSAGE_ID",
            "Argument 'MESSAGE_ID' is null or empty",
        ));
    }
    for row in portal.offline.iter_mut() {
        if row.process_id.as_deref() == Some(process_id.as_str())
            && message_ids.contains(&row.message_id)
        {
            row.error = true;
            row.process_id = None;
        }
    }
    Ok(json!(true))
}
