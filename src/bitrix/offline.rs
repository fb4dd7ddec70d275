//! The offline queue methods (`event.offline.get|list|clear|error`), their records,
//! and the filter and order expressions of the CLI.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::auth::value_as_i64;
use super::client::Client;
use super::error::ApiError;

/// What a text checked once by its type's `parse` offers: read as a `str`,
/// printed as itself, and checked again when deserialised.
macro_rules! checked_text {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A reservation id (`process_id`): 32 letters and digits, as the portal makes
/// them. Checked once, where an id comes in (the portal's answer, a command-line
/// flag, a journal), so no request carries an empty or made-up one: with an
/// empty id the portal reads, and with `clear=1` deletes, every unreserved record.
///
/// ```
/// use bx_events::bitrix::offline::ProcessId;
/// let id = ProcessId::parse("ulxiMPHcjMgsAZP8l9xtcypXAjonMVCN").unwrap();
/// assert_eq!(id.as_str().len(), 32);
/// assert!(ProcessId::parse("").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ProcessId(String);

impl ProcessId {
    /// The id, if `text` is one; otherwise a message naming it and where real
    /// ids come from.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() == 32 && text.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Self(text.to_string()))
        } else {
            Err(format!(
                "'{text}' is not a process id: reservation ids are the 32 letters and digits `offline get` printed (see `bx-events offline list` for reserved records)"
            ))
        }
    }
}

checked_text!(ProcessId);

/// A queued record's MESSAGE_ID: 32 hexadecimal characters (the portal makes it
/// from the event's name and data, so a repeat of the same change has the same
/// id). Records are confirmed and marked by it; `event.offline.clear` refuses any
/// other length.
///
/// ```
/// use bx_events::bitrix::offline::MessageId;
/// let id = MessageId::parse("0123456789abcdef0123456789abcdef").unwrap();
/// assert_eq!(id.as_str().len(), 32);
/// assert!(MessageId::parse("m1").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct MessageId(String);

impl MessageId {
    /// The id, if `text` is one; otherwise a message naming it and where real
    /// ids come from.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(text.to_string()))
        } else {
            Err(format!(
                "'{text}' is not a MESSAGE_ID: message ids are 32 hexadecimal characters (see `bx-events offline list`)"
            ))
        }
    }
}

checked_text!(MessageId);

/// A queued event, normalised to the JSON shape of docs/offline.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfflineRecord {
    pub id: u64,
    pub message_id: MessageId,
    pub event: String,
    pub timestamp: String,
    pub data: Value,
    pub additional: Value,
    /// `consume --hydrate`: the object the event is about, as the catalogue's
    /// fetch method returned it when the record was delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Value>,
    /// `consume --hydrate`: why the object could not be fetched (it is gone,
    /// the method was refused, the record's data lacks its id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_error: Option<String>,
}

/// A record as `event.offline.list` shows it, with its reservation state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListedRecord {
    #[serde(flatten)]
    pub record: OfflineRecord,
    pub process_id: Option<String>,
    pub error: bool,
    /// Seconds since TIMESTAMP_X: the portal deletes records (reserved or not)
    /// once this passes [`RETENTION_SECS`].
    pub age_seconds: Option<i64>,
}

/// The portal's cleanup agent deletes every queued record older than this
/// (2,952,000 s, about 34 days), reserved or not.
pub const RETENTION_SECS: i64 = 2_952_000;

/// Seconds since a TIMESTAMP_X (ISO 8601 with offset), if it parses.
pub(crate) fn age_of(timestamp: &str, now: i64) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(timestamp.trim())
        .ok()
        .map(|t| now - t.timestamp())
}

fn bad(method: &str, what: &str) -> ApiError {
    ApiError::BadResponse {
        method: method.into(),
        status: 200,
        what: what.into(),
    }
}

impl OfflineRecord {
    /// Reads one record of the portal's answer.
    pub fn from_portal(method: &str, item: &Value) -> Result<Self, ApiError> {
        let text = |key: &str| {
            item.get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let id = item
            .get("ID")
            .and_then(value_as_i64)
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| bad(method, "a record without a numeric ID"))?;
        let message_id = MessageId::parse(&text("MESSAGE_ID")).map_err(|why| {
            bad(
                method,
                &format!("a record whose MESSAGE_ID cannot be confirmed: {why}"),
            )
        })?;
        Ok(Self {
            id,
            message_id,
            event: text("EVENT_NAME").to_ascii_uppercase(),
            timestamp: text("TIMESTAMP_X"),
            data: item.get("EVENT_DATA").cloned().unwrap_or(Value::Null),
            additional: item.get("EVENT_ADDITIONAL").cloned().unwrap_or(Value::Null),
            object: None,
            object_error: None,
        })
    }
}

/// Fields each method may filter and order by.
pub const GET_FIELDS: &[&str] = &["ID", "TIMESTAMP_X", "EVENT_NAME", "MESSAGE_ID"];
pub const LIST_FIELDS: &[&str] = &[
    "ID",
    "TIMESTAMP_X",
    "EVENT_NAME",
    "MESSAGE_ID",
    "PROCESS_ID",
    "ERROR",
];

/// Parses `FIELD OP VALUE` (`OP` one of `= > < >= <= ~`) into the portal's
/// `{"OPFIELD": "VALUE"}` form (`~` is the portal's `%`).
pub fn parse_filter(expression: &str, allowed: &[&str]) -> Result<(String, String), String> {
    let text = expression.trim();
    let Some(op_start) = text.find(['=', '>', '<', '~', '!', '%', '@']) else {
        return Err(format!(
            "'{expression}' is not a filter: use FIELD OP VALUE with OP one of = > < >= <= ~ (e.g. 'ID>=10')"
        ));
    };
    let field = text[..op_start].trim().to_ascii_uppercase();
    let rest = &text[op_start..];
    let (op, value) = [">=", "<=", "=", ">", "<", "~"]
        .iter()
        .find_map(|op| rest.strip_prefix(op).map(|value| (*op, value)))
        .ok_or_else(|| format!("'{expression}': unknown operator; use one of = > < >= <= ~"))?;
    if value.starts_with(['=', '>', '<', '~']) {
        return Err(format!(
            "'{expression}': unknown operator; use one of = > < >= <= ~"
        ));
    }
    if field.is_empty() || !allowed.contains(&field.as_str()) {
        return Err(format!(
            "'{expression}': cannot filter by '{field}'; fields: {}",
            allowed.join(", ")
        ));
    }
    let value = value.trim();
    if matches!(field.as_str(), "ID" | "ERROR") && value.parse::<u64>().is_err() {
        return Err(format!(
            "'{expression}': {field} takes a whole number, not '{value}'"
        ));
    }
    let portal_op = if op == "~" { "%" } else { op };
    Ok((format!("{portal_op}{field}"), value.to_string()))
}

/// Builds the `filter` object from several expressions.
pub fn filter_object(expressions: &[String], allowed: &[&str]) -> Result<Option<Value>, String> {
    if expressions.is_empty() {
        return Ok(None);
    }
    let mut map = Map::new();
    for expression in expressions {
        let (key, value) = parse_filter(expression, allowed)?;
        map.insert(key, Value::String(value));
    }
    Ok(Some(Value::Object(map)))
}

/// Parses `FIELD[:asc|desc]` into `{"FIELD": "ASC"}`.
pub fn parse_order(expression: &str, allowed: &[&str]) -> Result<Value, String> {
    let (field, direction) = expression.split_once(':').unwrap_or((expression, "asc"));
    let field = field.trim().to_ascii_uppercase();
    if !allowed.contains(&field.as_str()) {
        return Err(format!(
            "cannot order by '{field}'; fields: {}",
            allowed.join(", ")
        ));
    }
    let direction = match direction.trim().to_ascii_lowercase().as_str() {
        "asc" => "ASC",
        "desc" => "DESC",
        other => {
            return Err(format!(
                "'{other}' is not an order direction: use asc or desc"
            ))
        }
    };
    Ok(json!({ field: direction }))
}

/// Parameters of `event.offline.get`.
#[derive(Debug, Clone, Default)]
pub struct GetQuery {
    pub limit: Option<u32>,
    pub filter: Option<Value>,
    pub order: Option<Value>,
    pub errors: bool,
    pub connector: Option<String>,
    /// Re-read this reservation instead of making a new one.
    pub process_id: Option<ProcessId>,
    /// Destructive read: records are deleted as they are returned.
    pub clear: bool,
}

/// The answer of `event.offline.get`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reservation {
    pub process_id: Option<ProcessId>,
    pub events: Vec<OfflineRecord>,
}

fn with_connector(params: &mut Map<String, Value>, connector: &Option<String>) {
    if let Some(connector) = connector.as_ref().filter(|c| !c.is_empty()) {
        params.insert("auth_connector".into(), Value::String(connector.clone()));
    }
}

/// `event.offline.get`. Only re-reads of a reservation are retried after 5xx or a
/// dropped connection: repeating a reservation could strand records, and repeating
/// a destructive read could lose them.
pub async fn get(client: &Client, query: &GetQuery) -> Result<Reservation, ApiError> {
    let mut params = Map::new();
    if let Some(limit) = query.limit {
        params.insert("limit".into(), json!(limit));
    }
    if let Some(filter) = &query.filter {
        params.insert("filter".into(), filter.clone());
    }
    if let Some(order) = &query.order {
        params.insert("order".into(), order.clone());
    }
    if query.errors {
        params.insert("error".into(), json!(1));
    }
    if let Some(process_id) = &query.process_id {
        params.insert("process_id".into(), Value::String(process_id.to_string()));
    }
    params.insert("clear".into(), json!(i32::from(query.clear)));
    with_connector(&mut params, &query.connector);
    let retry_safe = query.process_id.is_some() && !query.clear;
    let envelope = client
        .call_with("event.offline.get", &Value::Object(params), retry_safe)
        .await?;
    let process_id = match envelope.result.get("process_id").and_then(Value::as_str) {
        None | Some("") => None,
        Some(text) => Some(ProcessId::parse(text).map_err(|why| ApiError::BadResponse {
            method: "event.offline.get".into(),
            status: 200,
            what: format!("a reservation id the portal does not make ({why})"),
        })?),
    };
    let events = match envelope.result.get("events") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| OfflineRecord::from_portal("event.offline.get", item))
            .collect::<Result<Vec<_>, _>>()?,
        Some(Value::Object(map)) => map
            .values()
            .map(|item| OfflineRecord::from_portal("event.offline.get", item))
            .collect::<Result<Vec<_>, _>>()?,
        _ => Vec::new(),
    };
    Ok(Reservation { process_id, events })
}

/// Parameters of `event.offline.list`.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filter: Option<Value>,
    pub order: Option<Value>,
    pub errors: Option<bool>,
    pub connector: Option<String>,
    pub start: Option<u64>,
}

/// One page of `event.offline.list`.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub records: Vec<ListedRecord>,
    pub next: Option<u64>,
    pub total: Option<u64>,
}

/// `event.offline.list` (read-only, 50 records a page).
pub async fn list(client: &Client, query: &ListQuery) -> Result<ListPage, ApiError> {
    let mut params = Map::new();
    if let Some(filter) = &query.filter {
        params.insert("filter".into(), filter.clone());
    }
    if let Some(order) = &query.order {
        params.insert("order".into(), order.clone());
    }
    if let Some(errors) = query.errors {
        // The portal's list has no `error` parameter: it is a filter field there.
        let filter = params
            .entry("filter")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(map) = filter {
            map.insert("=ERROR".into(), json!(i32::from(errors)));
        }
    }
    if let Some(start) = query.start {
        params.insert("start".into(), json!(start));
    }
    with_connector(&mut params, &query.connector);
    let envelope = client
        .call("event.offline.list", &Value::Object(params))
        .await?;
    let items: Vec<&Value> = match &envelope.result {
        Value::Array(items) => items.iter().collect(),
        Value::Object(map) => map.values().collect(),
        _ => Vec::new(),
    };
    let records = items
        .into_iter()
        .map(|item| {
            let record = OfflineRecord::from_portal("event.offline.list", item)?;
            let process_id = item
                .get("PROCESS_ID")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .map(str::to_string);
            let error = item.get("ERROR").and_then(value_as_i64).unwrap_or(0) != 0;
            let age_seconds = age_of(&record.timestamp, super::auth::now_unix());
            Ok(ListedRecord {
                record,
                process_id,
                error,
                age_seconds,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(ListPage {
        records,
        next: envelope.next,
        total: envelope.total,
    })
}

/// What `event.offline.clear` removes from a reservation.
#[derive(Debug, Clone)]
pub enum ClearSelection {
    All,
    MessageIds(Vec<MessageId>),
    Ids(Vec<u64>),
}

/// `event.offline.clear`; never retried after an uncertain failure.
pub async fn clear(
    client: &Client,
    process_id: &ProcessId,
    selection: &ClearSelection,
    connector: &Option<String>,
) -> Result<(), ApiError> {
    let mut params = Map::new();
    params.insert("process_id".into(), Value::String(process_id.to_string()));
    match selection {
        ClearSelection::All => {}
        ClearSelection::MessageIds(ids) => {
            params.insert("message_id".into(), json!(ids));
        }
        ClearSelection::Ids(ids) => {
            params.insert("id".into(), json!(ids));
        }
    }
    with_connector(&mut params, connector);
    client
        .call_with("event.offline.clear", &Value::Object(params), false)
        .await?;
    Ok(())
}

/// `event.offline.error`: marks records as failed and releases them; never retried
/// after an uncertain failure.
pub async fn mark_errors(
    client: &Client,
    process_id: &ProcessId,
    message_ids: &[MessageId],
    connector: &Option<String>,
) -> Result<(), ApiError> {
    let mut params = Map::new();
    params.insert("process_id".into(), Value::String(process_id.to_string()));
    params.insert("message_id".into(), json!(message_ids));
    with_connector(&mut params, connector);
    client
        .call_with("event.offline.error", &Value::Object(params), false)
        .await?;
    Ok(())
}

/// How many records a reservation holds and whether they are error records
/// (a reservation is taken with one `error` flag, so its rows share it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Extent {
    pub records: u64,
    pub errors: bool,
}

/// Measures a reservation with `event.offline.list` (one request), so that a
/// re-read can ask for all of it: the portal returns at most `limit` rows.
pub(crate) async fn extent(
    client: &Client,
    process_id: &ProcessId,
    connector: &Option<String>,
) -> Result<Extent, ApiError> {
    let page = list(
        client,
        &ListQuery {
            filter: Some(json!({"=PROCESS_ID": process_id})),
            connector: connector.clone(),
            ..ListQuery::default()
        },
    )
    .await?;
    let records = page.total.unwrap_or(page.records.len() as u64);
    let errors = page.records.first().is_some_and(|r| r.error);
    Ok(Extent { records, errors })
}

/// Reads a whole reservation again without deleting anything: `limit` covers all
/// of it and the `error` flag is the one it was taken with.
pub(crate) async fn reread(
    client: &Client,
    process_id: &ProcessId,
    extent: Extent,
    connector: &Option<String>,
) -> Result<Vec<OfflineRecord>, ApiError> {
    if extent.records == 0 {
        return Ok(Vec::new());
    }
    let query = GetQuery {
        limit: Some(u32::try_from(extent.records).unwrap_or(u32::MAX)),
        errors: extent.errors,
        connector: connector.clone(),
        process_id: Some(process_id.clone()),
        clear: false,
        ..GetQuery::default()
    };
    Ok(get(client, &query).await?.events)
}

/// Every record of one reservation (`event.offline.list`, all pages).
pub(crate) async fn reservation_records(
    client: &Client,
    process_id: &ProcessId,
    connector: &Option<String>,
) -> Result<Vec<ListedRecord>, ApiError> {
    let mut query = ListQuery {
        filter: Some(json!({"=PROCESS_ID": process_id})),
        connector: connector.clone(),
        ..ListQuery::default()
    };
    let mut records = Vec::new();
    loop {
        let page = list(client, &query).await?;
        records.extend(page.records);
        match page.next {
            Some(next) if next > query.start.unwrap_or(0) => query.start = Some(next),
            _ => break,
        }
    }
    Ok(records)
}

/// Every reserved record of a connector's queue with the given `error` flag, by
/// reservation: `(process id, records)` in the order first seen. (A row whose
/// id the portal could not have made is no reservation to adopt.)
pub(crate) async fn reservations(
    client: &Client,
    errors: bool,
    connector: &Option<String>,
) -> Result<Vec<(ProcessId, u64)>, ApiError> {
    let mut query = ListQuery {
        // `PROCESS_ID > ''` selects the reserved rows.
        filter: Some(json!({">PROCESS_ID": "", "=ERROR": i32::from(errors)})),
        connector: connector.clone(),
        ..ListQuery::default()
    };
    let mut found: Vec<(ProcessId, u64)> = Vec::new();
    loop {
        let page = list(client, &query).await?;
        for record in &page.records {
            let Some(process_id) = record
                .process_id
                .as_deref()
                .and_then(|text| ProcessId::parse(text).ok())
            else {
                continue;
            };
            match found.iter_mut().find(|(id, _)| *id == process_id) {
                Some((_, count)) => *count += 1,
                None => found.push((process_id, 1)),
            }
        }
        match page.next {
            Some(next) if next > query.start.unwrap_or(0) => query.start = Some(next),
            _ => break,
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_map_to_portal_keys() {
        assert_eq!(
            parse_filter("ID>=10", GET_FIELDS).unwrap(),
            (">=ID".into(), "10".into())
        );
        assert_eq!(
            parse_filter("event_name = ONCRMDEALADD", GET_FIELDS).unwrap(),
            ("=EVENT_NAME".into(), "ONCRMDEALADD".into())
        );
        assert_eq!(
            parse_filter("EVENT_NAME~DEAL", GET_FIELDS).unwrap(),
            ("%EVENT_NAME".into(), "DEAL".into())
        );
        assert_eq!(
            parse_filter("ID<5", GET_FIELDS).unwrap(),
            ("<ID".into(), "5".into())
        );
    }

    #[test]
    fn bad_filters_are_refused() {
        assert!(parse_filter("FOO=1", GET_FIELDS)
            .unwrap_err()
            .contains("FOO"));
        assert!(parse_filter("PROCESS_ID=x", GET_FIELDS).is_err());
        assert!(parse_filter("PROCESS_ID=x", LIST_FIELDS).is_ok());
        assert!(parse_filter("ID!=1", GET_FIELDS).is_err());
        assert!(parse_filter("ID=>1", GET_FIELDS).is_err());
        assert!(parse_filter("ID", GET_FIELDS).is_err());
        assert!(parse_filter("=1", GET_FIELDS).is_err());
        assert!(parse_filter("ID>=abc", LIST_FIELDS).is_err());
        assert!(parse_filter("ERROR=yes", LIST_FIELDS).is_err());
    }

    #[test]
    fn order_expressions() {
        assert_eq!(
            parse_order("id:desc", GET_FIELDS).unwrap(),
            json!({"ID": "DESC"})
        );
        assert_eq!(
            parse_order("TIMESTAMP_X", GET_FIELDS).unwrap(),
            json!({"TIMESTAMP_X": "ASC"})
        );
        assert!(parse_order("ID:up", GET_FIELDS).is_err());
        assert!(parse_order("ERROR", GET_FIELDS).is_err());
    }

    #[test]
    fn message_ids_are_32_hex() {
        assert!(MessageId::parse("0123456789abcdef0123456789ABCDEF").is_ok());
        assert!(MessageId::parse("xyz").is_err());
        assert!(MessageId::parse("0123456789abcdef0123456789abcdeg").is_err());
    }
}
