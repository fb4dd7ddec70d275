//! The event catalogue: every Bitrix24 event the REST documentation describes,
//! with its scope, payload, fields and the method that fetches its object.
//!
//! The data is `catalog/events.json`, built by `scripts/catalog.py` from the
//! documentation's pages (github.com/bitrix24/b24restdocs, MIT licence; the
//! pages used are kept under `catalog/source/`). It is compiled into the binary
//! and parsed on first use, so looking an event up needs no portal, no network
//! and no credentials.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The catalogue as `scripts/catalog.py` writes it.
const DATA: &str = include_str!("../../catalog/events.json");

/// One event of the catalogue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatalogEvent {
    /// The name `event.bind` takes, upper case (ONCRMDEALADD).
    pub name: String,
    /// The documentation page's title, without the event's name.
    pub title: String,
    /// The scope an application needs to bind it; empty for events any
    /// application may bind (ONOFFLINEEVENT, ONAPPTEST).
    pub scope: String,
    /// Every scope the page names (a few events need two).
    pub scopes: Vec<String>,
    /// Who may bind it, as the documentation says.
    pub who_can_subscribe: String,
    /// What happened when it fires.
    pub summary: String,
    /// The `data` of the documentation's example request, when it has one.
    pub data: Option<Value>,
    /// The fields of `data`, as the documentation describes them.
    pub fields: Vec<CatalogField>,
    /// How to fetch the object the event is about; none for deletes.
    pub fetch: Option<Fetch>,
    /// Described only in the documentation's "outdated" sections (or only
    /// listed by the `events` method): portals may still send it.
    pub outdated: bool,
    /// The documentation page it came from.
    pub source: String,
}

/// One field of an event's `data`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatalogField {
    /// Its path, `data.FIELDS.ID`.
    pub name: String,
    /// Its type as the documentation writes it (`integer`, `undefined|object`).
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
}

/// The method that returns the object an event is about, and where its
/// parameters are in the event's `data`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fetch {
    pub method: String,
    /// Where the object's id is in `data` (`FIELDS.ID`, `ID`, `FIELDS_AFTER.ID`).
    pub id_path: String,
    /// The method's parameter that takes the id.
    pub param: String,
    /// Other parameters the method needs, each taken from a path in `data`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub with: BTreeMap<String, String>,
}

impl Fetch {
    /// The method's parameters for one event's `data`, or `None` when `data`
    /// lacks one of them.
    pub fn params(&self, data: &Value) -> Option<BTreeMap<String, Value>> {
        let mut params = BTreeMap::new();
        params.insert(self.param.clone(), at_path(data, &self.id_path)?.clone());
        for (param, path) in &self.with {
            params.insert(param.clone(), at_path(data, path)?.clone());
        }
        Some(params)
    }
}

/// The value at a dotted path (`FIELDS.ID`) in `data`.
pub fn at_path<'v>(data: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .try_fold(data, |value, key| value.as_object()?.get(key))
        .filter(|value| !value.is_null())
}

#[derive(Deserialize)]
struct Catalogue {
    events: Vec<CatalogEvent>,
}

/// Every event of the catalogue, by name.
pub fn events() -> &'static [CatalogEvent] {
    static EVENTS: OnceLock<Vec<CatalogEvent>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        // The data is built and checked with the source (tests/it/catalog.rs).
        serde_json::from_str::<Catalogue>(DATA)
            .map(|catalogue| catalogue.events)
            .unwrap_or_default()
    })
}

/// Every scope some event of the catalogue needs, sorted.
pub fn scopes() -> Vec<&'static str> {
    let mut scopes: Vec<&str> = events()
        .iter()
        .flat_map(|event| event.scopes.iter().map(String::as_str))
        .collect();
    scopes.sort_unstable();
    scopes.dedup();
    scopes
}

/// The catalogue's event of this name (any case). A smart process type's own
/// name (`ONCRMDYNAMICITEMADD_147`) finds the event without the type.
pub fn find(name: &str) -> Option<&'static CatalogEvent> {
    let upper = name.trim().to_ascii_uppercase();
    let by_name = |wanted: &str| {
        events()
            .binary_search_by(|event| event.name.as_str().cmp(wanted))
            .ok()
            .map(|at| &events()[at])
    };
    by_name(&upper).or_else(|| {
        let (base, suffix) = upper.rsplit_once('_')?;
        suffix
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| by_name(base))
            .flatten()
    })
}

/// The `data` a portal sends with this event, from the documentation's
/// example, for the `n`th of several changes (1, 2, ...): the object's id is
/// the example's plus `n - 1`, so that each change is its own object. `None`
/// for an event the catalogue lacks, or one without an example.
pub fn example_data(event: &str, n: u64) -> Option<Value> {
    let entry = find(event)?;
    let mut data = entry.data.clone()?;
    let id_path = entry
        .fetch
        .as_ref()
        .map(|fetch| fetch.id_path.clone())
        .or_else(|| id_path_of(&data));
    if let Some(path) = id_path {
        if let Some(id) = at_path_mut(&mut data, &path) {
            let step = n.saturating_sub(1);
            *id = match &*id {
                Value::Number(number) => number
                    .as_u64()
                    .map_or_else(|| id.clone(), |v| Value::from(v + step)),
                Value::String(text) => text
                    .parse::<u64>()
                    .map_or_else(|_| id.clone(), |v| Value::from((v + step).to_string())),
                other => other.clone(),
            };
        }
    }
    Some(data)
}

/// Where an example's object id is when no fetch method says: `FIELDS.ID` or
/// `ID`, as most events carry it.
fn id_path_of(data: &Value) -> Option<String> {
    ["FIELDS.ID", "FIELDS_AFTER.ID", "ID", "id"]
        .into_iter()
        .find(|path| at_path(data, path).is_some())
        .map(str::to_string)
}

fn at_path_mut<'v>(data: &'v mut Value, path: &str) -> Option<&'v mut Value> {
    path.split('.')
        .try_fold(data, |value, key| value.as_object_mut()?.get_mut(key))
}

/// Whether a portal delivers this event's auth with a refresh token: only the
/// application's lifecycle, `event.test`, the offline queue's notification and
/// a chat bot's messages and commands. Every other delivery carries an access
/// token alone.
pub fn sent_with_refresh_token(event: &str) -> bool {
    const EVENTS: &[&str] = &[
        "ONAPPINSTALL",
        "ONAPPUPDATE",
        "ONAPPTEST",
        "ONSUBSCRIPTIONRENEW",
        "ONOFFLINEEVENT",
        "ONIMBOTMESSAGEADD",
        "ONIMBOTMESSAGEUPDATE",
        "ONIMBOTMESSAGEDELETE",
        "ONIMCOMMANDADD",
    ];
    EVENTS.contains(&event.to_ascii_uppercase().as_str())
}

/// Whether a portal delivers this event without tokens (its auth is the
/// domain, the member id and the application token).
pub fn sent_without_tokens(event: &str) -> bool {
    const EVENTS: &[&str] = &["ONAPPUNINSTALL", "ONAPPMETHODCONFIRM"];
    EVENTS.contains(&event.to_ascii_uppercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_catalogue_parses_and_is_sorted_for_lookup() {
        let all = events();
        assert!(all.len() >= 190, "{} events", all.len());
        assert!(all.windows(2).all(|pair| pair[0].name < pair[1].name));
        assert_eq!(find("oncrmdealadd").unwrap().scope, "crm");
        assert_eq!(
            find("ONCRMDYNAMICITEMADD_147").unwrap().name,
            "ONCRMDYNAMICITEMADD"
        );
        assert!(find("ONCRMDEALADDX").is_none());
        assert!(find("ONCRMDEALADD_X").is_none());
    }

    #[test]
    fn example_data_varies_the_object_id() {
        let first = example_data("ONCRMDEALADD", 1).unwrap();
        let third = example_data("ONCRMDEALADD", 3).unwrap();
        assert_eq!(first, serde_json::json!({"FIELDS": {"ID": "6641"}}));
        assert_eq!(third, serde_json::json!({"FIELDS": {"ID": "6643"}}));
        let task = example_data("ONTASKUPDATE", 2).unwrap();
        assert_eq!(task["FIELDS_AFTER"]["ID"], 124);
        assert_eq!(task["FIELDS_BEFORE"]["ID"], 123);
        assert!(example_data("ONNOSUCHEVENT", 1).is_none());
    }

    #[test]
    fn a_fetch_takes_its_parameters_from_the_data() {
        let task = find("ONTASKCOMMENTADD").unwrap();
        let fetch = task.fetch.as_ref().unwrap();
        let data = serde_json::json!({"FIELDS_AFTER": {"ID": 9, "TASK_ID": 4}});
        let params = fetch.params(&data).unwrap();
        assert_eq!(params["ITEMID"], 9);
        assert_eq!(params["TASKID"], 4);
        assert!(fetch
            .params(&serde_json::json!({"FIELDS_AFTER": {"ID": 9}}))
            .is_none());
        assert!(find("ONCRMDEALDELETE").unwrap().fetch.is_none());
    }
}
