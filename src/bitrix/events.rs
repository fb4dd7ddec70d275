//! Event-subscription models and wrappers: `event.bind`, `event.get`, `event.unbind`, `events`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::auth::value_as_i64;
use super::batch::{run_batch, BatchCommand, BatchOutcome};
use super::client::Client;
use super::error::ApiError;

/// Whether a handler is called (`online`) or the event is queued (`offline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BindingKind {
    Online,
    Offline,
}

impl std::fmt::Display for BindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Online => "online",
            Self::Offline => "offline",
        })
    }
}

/// A registered handler, normalised from whatever string forms the portal used.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Binding {
    pub event: String,
    pub handler: Option<String>,
    pub auth_type: i64,
    #[serde(rename = "type")]
    pub kind: BindingKind,
    pub connector: Option<String>,
}

impl Binding {
    /// Reads one `event.get` item decoded by [`list_bindings`], by the same rules
    /// as [`Binding::from_portal`].
    fn from_item(item: portal_items::PortalItem) -> Result<Self, ApiError> {
        let event = item.event.ok_or_else(|| ApiError::BadResponse {
            method: "event.get".into(),
            status: 200,
            what: "an item without an event name".into(),
        })?;
        let offline = item.offline.unwrap_or(0) != 0;
        let non_empty = |text: Option<String>| text.filter(|t| !t.is_empty());
        Ok(Self {
            event: event.to_ascii_uppercase(),
            handler: if offline {
                None
            } else {
                non_empty(item.handler)
            },
            auth_type: item.auth_type.unwrap_or(0),
            kind: if offline {
                BindingKind::Offline
            } else {
                BindingKind::Online
            },
            connector: non_empty(item.connector_id).or_else(|| non_empty(item.connector)),
        })
    }

    /// Reads one `event.get` item.
    pub fn from_portal(item: &Value) -> Result<Self, ApiError> {
        let bad = |what: &str| ApiError::BadResponse {
            method: "event.get".into(),
            status: 200,
            what: format!("an item {what}"),
        };
        let event = item
            .get("event")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("without an event name"))?
            .to_ascii_uppercase();
        let offline = item.get("offline").and_then(value_as_i64).unwrap_or(0) != 0;
        let non_empty = |key: &str| {
            item.get(key)
                .and_then(Value::as_str)
                .filter(|text| !text.is_empty())
                .map(str::to_string)
        };
        Ok(Self {
            event,
            handler: if offline { None } else { non_empty("handler") },
            auth_type: item.get("auth_type").and_then(value_as_i64).unwrap_or(0),
            kind: if offline {
                BindingKind::Offline
            } else {
                BindingKind::Online
            },
            connector: non_empty("connector_id").or_else(|| non_empty("connector")),
        })
    }
}

/// What `event.bind` / `event.unbind` are asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindRequest {
    pub event: String,
    pub handler: Option<String>,
    pub auth_type: Option<i64>,
    pub kind: BindingKind,
    pub connector: Option<String>,
    /// `options.minTimeout` in seconds, for `ONOFFLINEEVENT` handlers: the portal
    /// notifies such a handler at most once per this many seconds.
    pub min_timeout_secs: Option<u64>,
}

impl BindRequest {
    /// The binding this request creates, as `event.get` will list it.
    pub fn expected_binding(&self) -> Binding {
        let offline = self.kind == BindingKind::Offline;
        Binding {
            event: self.event.to_ascii_uppercase(),
            handler: if offline { None } else { self.handler.clone() },
            auth_type: if offline {
                0
            } else {
                self.auth_type.unwrap_or(0)
            },
            kind: self.kind,
            connector: self.connector.clone().filter(|c| !c.is_empty()),
        }
    }

    /// Parameters of `event.bind`.
    pub fn bind_params(&self) -> Value {
        let mut params = self.common_params();
        if let Some(seconds) = self.min_timeout_secs {
            params.insert("options".into(), json!({"minTimeout": seconds}));
        }
        Value::Object(params)
    }

    /// Parameters of `event.unbind`. The `auth_type` key is sent only when asked for,
    /// because its mere presence narrows the match (docs/portal.md).
    pub fn unbind_params(&self) -> Value {
        Value::Object(self.common_params())
    }

    fn common_params(&self) -> Map<String, Value> {
        let mut params = Map::new();
        params.insert(
            "event".into(),
            Value::String(self.event.to_ascii_uppercase()),
        );
        if self.kind == BindingKind::Offline {
            params.insert("event_type".into(), Value::String("offline".into()));
        } else if let Some(handler) = &self.handler {
            params.insert("handler".into(), Value::String(handler.clone()));
        }
        if let Some(auth_type) = self.auth_type {
            params.insert("auth_type".into(), json!(auth_type));
        }
        if let Some(connector) = &self.connector {
            params.insert("auth_connector".into(), Value::String(connector.clone()));
        }
        params
    }

    /// True when `event.unbind` with this request would remove `binding`.
    pub fn unbind_matches(&self, binding: &Binding) -> bool {
        if binding.event != self.event.to_ascii_uppercase() || binding.kind != self.kind {
            return false;
        }
        match self.kind {
            BindingKind::Offline => {
                binding.connector.as_deref().unwrap_or("")
                    == self.connector.as_deref().unwrap_or("")
            }
            BindingKind::Online => {
                binding.handler == self.handler
                    && self
                        .auth_type
                        .is_none_or(|wanted| wanted == binding.auth_type)
            }
        }
    }

    /// A request that removes exactly this binding.
    pub fn exact(binding: &Binding) -> Self {
        Self {
            event: binding.event.clone(),
            handler: binding.handler.clone(),
            auth_type: (binding.kind == BindingKind::Online).then_some(binding.auth_type),
            kind: binding.kind,
            connector: binding.connector.clone(),
            min_timeout_secs: None,
        }
    }
}

/// Result of a bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindOutcome {
    Bound,
    AlreadyBound,
}

/// True for the portal's duplicate-handler answer.
pub(crate) fn is_already_bound(code: &str, description: &str) -> bool {
    code == "ERROR_CORE" && description.to_ascii_lowercase().contains("already bind")
}

/// `event.bind`; a duplicate is reported as [`BindOutcome::AlreadyBound`].
pub async fn bind(client: &Client, request: &BindRequest) -> Result<BindOutcome, ApiError> {
    match client.call("event.bind", &request.bind_params()).await {
        Ok(_) => Ok(BindOutcome::Bound),
        Err(ApiError::Portal {
            code, description, ..
        }) if is_already_bound(&code, &description) => Ok(BindOutcome::AlreadyBound),
        Err(other) => Err(other),
    }
}

/// `event.get`: every binding of the application, in binding order.
pub async fn list_bindings(client: &Client) -> Result<Vec<Binding>, ApiError> {
    // Decoded straight into bindings: 20,000 handlers never become a JSON tree.
    let items: portal_items::PortalItems = client.call_typed("event.get", &json!({})).await?;
    items.0.into_iter().map(Binding::from_item).collect()
}

/// The application's bindings as `event.get` lists them, and whether the caller is
/// a portal administrator (`user.admin`), in one `batch` request.
///
/// The answer matters for comparing: the portal stores a non-administrator's own
/// user id as the `auth_type` of every online handler they bind (and shows them only
/// their own), where an administrator's binding without `auth_type` stays 0.
pub(crate) async fn list_bindings_and_role(
    client: &Client,
) -> Result<(Vec<Binding>, bool), ApiError> {
    let view = portal_view(client, false).await?;
    Ok((view.bindings, view.admin))
}

/// What a plan compares against, in one `batch`: the bindings, the caller's role,
/// and (when asked) the events the application may bind.
#[derive(Debug, Clone)]
pub(crate) struct PortalView {
    pub bindings: Vec<Binding>,
    pub admin: bool,
    /// Upper-cased; `None` when not asked for or not answered.
    pub events: Option<Vec<String>>,
}

/// [`list_bindings_and_role`], with the `events` list in the same batch when
/// `with_events`: one request either way, decoded without a JSON tree.
pub(crate) async fn portal_view(
    client: &Client,
    with_events: bool,
) -> Result<PortalView, ApiError> {
    // One batch of reads, decoded straight into bindings (no JSON tree of
    // 20,000 handlers); safe to retry.
    let mut cmd = json!({"c0": "event.get", "c1": "user.admin"});
    if with_events {
        cmd["c2"] = json!("events");
    }
    let params = json!({"halt": 0, "cmd": cmd});
    let answer: portal_items::BindingsAndRole =
        client.call_typed_with("batch", &params, true).await?;
    let failure = answer.failure("c0");
    let bindings = match (answer.result.bindings, failure) {
        (_, Some((code, description))) => {
            return Err(ApiError::Portal {
                method: "event.get".into(),
                code,
                description,
                status: 400,
                argument: None,
                reset_at: None,
            })
        }
        (Some(items), None) => items
            .0
            .into_iter()
            .map(Binding::from_item)
            .collect::<Result<Vec<_>, _>>()?,
        (None, None) => Vec::new(),
    };
    // A portal without `user.admin` (or a refusal) is taken as an administrator:
    // the comparison then stays exact.
    let admin = answer.result.admin != Some(false);
    Ok(PortalView {
        bindings,
        admin,
        events: answer.result.events.map(portal_items::EventNames::strings),
    })
}

/// Reads the result of `event.get`.
pub fn parse_bindings(result: &Value) -> Result<Vec<Binding>, ApiError> {
    match result {
        Value::Array(items) => items.iter().map(Binding::from_portal).collect(),
        // Empty PHP arrays may arrive as `{}`.
        Value::Object(map) if map.is_empty() => Ok(Vec::new()),
        Value::Object(map) => map.values().map(Binding::from_portal).collect(),
        _ => Err(ApiError::BadResponse {
            method: "event.get".into(),
            status: 200,
            what: "a result that is not a list".into(),
        }),
    }
}

/// `event.unbind`: how many handlers were removed.
pub async fn unbind(client: &Client, request: &BindRequest) -> Result<u64, ApiError> {
    let envelope = client
        .call("event.unbind", &request.unbind_params())
        .await?;
    Ok(unbind_count(&envelope.result))
}

fn unbind_count(result: &Value) -> u64 {
    result
        .get("count")
        .and_then(value_as_i64)
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0)
}

/// Unbinds many requests through `batch`; one outcome per request (count or error).
pub async fn unbind_many(
    client: &Client,
    requests: &[BindRequest],
) -> Result<Vec<Result<u64, (String, String)>>, ApiError> {
    let commands: Vec<BatchCommand> = requests
        .iter()
        .map(|request| BatchCommand {
            method: "event.unbind".into(),
            params: request.unbind_params(),
        })
        .collect();
    let outcomes = run_batch(client, &commands, false, false).await?;
    Ok(outcomes
        .into_iter()
        .map(|outcome| match outcome {
            BatchOutcome::Ok(result) => Ok(unbind_count(&result)),
            BatchOutcome::Failed { code, description } => Err((code, description)),
        })
        .collect())
}

/// Which events `events` lists.
#[derive(Debug, Clone, Default)]
pub struct EventsQuery {
    pub scope: Option<String>,
    pub full: bool,
}

/// `events`: names of the events the application may bind.
pub async fn list_events(client: &Client, query: &EventsQuery) -> Result<Vec<String>, ApiError> {
    let mut params = Map::new();
    if let Some(scope) = &query.scope {
        params.insert("SCOPE".into(), Value::String(scope.clone()));
    }
    if query.full {
        params.insert("FULL".into(), Value::Bool(true));
    }
    // Decoded straight into names: millions of them never become a JSON tree.
    let names: portal_items::EventNames =
        client.call_typed("events", &Value::Object(params)).await?;
    Ok(names.strings())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_online_and_offline_items() {
        let online = Binding::from_portal(&json!({"event":"ONCRMDEALADD","handler":"https://h.example.com/x","auth_type":"0","offline":0})).unwrap();
        assert_eq!(online.kind, BindingKind::Online);
        assert_eq!(online.auth_type, 0);
        assert_eq!(online.connector, None);
        let offline = Binding::from_portal(
            &json!({"event":"oncrmdealadd","connector_id":"erp","offline":"1"}),
        )
        .unwrap();
        assert_eq!(offline.kind, BindingKind::Offline);
        assert_eq!(offline.handler, None);
        assert_eq!(offline.event, "ONCRMDEALADD");
        assert_eq!(offline.connector.as_deref(), Some("erp"));
    }

    #[test]
    fn json_shape_matches_the_contract() {
        let binding = Binding {
            event: "ONCRMDEALADD".into(),
            handler: Some("https://hooks.example.com/deal".into()),
            auth_type: 0,
            kind: BindingKind::Online,
            connector: None,
        };
        assert_eq!(
            serde_json::to_value(&binding).unwrap(),
            json!({"event":"ONCRMDEALADD","handler":"https://hooks.example.com/deal","auth_type":0,"type":"online","connector":null})
        );
    }

    #[test]
    fn unbind_without_auth_type_matches_every_user() {
        let request = BindRequest {
            event: "oncrmdealadd".into(),
            handler: Some("https://h.example.com/x".into()),
            auth_type: None,
            kind: BindingKind::Online,
            connector: None,
            min_timeout_secs: None,
        };
        let mut binding = request.expected_binding();
        binding.auth_type = 7;
        assert!(request.unbind_matches(&binding));
        let narrowed = BindRequest {
            auth_type: Some(1),
            ..request
        };
        assert!(!narrowed.unbind_matches(&binding));
    }
}

/// `event.get` items as the portal sends them, decoded leniently (numbers or
/// strings, a list or an object of items) without a JSON tree.
mod portal_items {
    use std::fmt;

    use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use serde::Deserialize;

    /// A PHP list as the portal sends it: a JSON array, or an object whose values
    /// are the items (an empty PHP array may arrive as `{}`). Read item by item,
    /// never as a tree.
    pub(super) struct PhpList<T>(pub(super) Vec<T>);

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for PhpList<T> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Items<T>(std::marker::PhantomData<T>);
            impl<'de, T: Deserialize<'de>> Visitor<'de> for Items<T> {
                type Value = PhpList<T>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a list")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                    let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                    while let Some(item) = seq.next_element()? {
                        items.push(item);
                    }
                    Ok(PhpList(items))
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                    let mut items = Vec::new();
                    while let Some((_, item)) = map.next_entry::<IgnoredAny, T>()? {
                        items.push(item);
                    }
                    Ok(PhpList(items))
                }
            }
            deserializer.deserialize_any(Items(std::marker::PhantomData))
        }
    }

    /// The handlers of an `event.get` answer.
    pub(super) type PortalItems = PhpList<PortalItem>;

    /// The `batch` answer of `event.get` (as `c0`) and `user.admin` (as `c1`).
    #[derive(Deserialize)]
    pub(super) struct BindingsAndRole {
        #[serde(default)]
        pub(super) result: RoleBatchResults,
        #[serde(default)]
        result_error: Option<serde_json::Value>,
    }

    impl BindingsAndRole {
        /// The error code and description of a command that failed.
        pub(super) fn failure(&self, command: &str) -> Option<(String, String)> {
            let error = self.result_error.as_ref()?.get(command)?;
            let text = |key: &str| error.get(key).and_then(|v| v.as_str()).map(str::to_string);
            Some((
                text("error").unwrap_or_else(|| "UNKNOWN".into()),
                text("error_description").unwrap_or_default(),
            ))
        }
    }

    /// The results of that batch; an empty PHP array may arrive as `[]`.
    #[derive(Default)]
    pub(super) struct RoleBatchResults {
        pub(super) bindings: Option<PortalItems>,
        pub(super) admin: Option<bool>,
        pub(super) events: Option<EventNames>,
    }

    impl<'de> Deserialize<'de> for RoleBatchResults {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Results;
            impl<'de> Visitor<'de> for Results {
                type Value = RoleBatchResults;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("the results of a batch")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                    let bindings = seq.next_element::<PortalItems>()?;
                    let admin = seq.next_element::<serde_json::Value>()?;
                    let events = seq.next_element::<EventNames>()?;
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    Ok(RoleBatchResults {
                        bindings,
                        admin: admin.and_then(|v| v.as_bool()),
                        events,
                    })
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                    let mut results = RoleBatchResults::default();
                    while let Some(key) = map.next_key::<String>()? {
                        match key.as_str() {
                            "c0" => results.bindings = Some(map.next_value()?),
                            "c1" => {
                                results.admin = map.next_value::<serde_json::Value>()?.as_bool();
                            }
                            "c2" => results.events = Some(map.next_value()?),
                            _ => {
                                map.next_value::<IgnoredAny>()?;
                            }
                        }
                    }
                    Ok(results)
                }
            }
            deserializer.deserialize_any(Results)
        }
    }

    /// The entries of an `events` answer; [`Name`] keeps the strings.
    pub(super) type EventNames = PhpList<Name>;

    impl EventNames {
        /// The names, upper-cased; entries that were not strings are passed over.
        pub(super) fn strings(self) -> Vec<String> {
            self.0.into_iter().filter_map(|name| name.0).collect()
        }
    }

    /// One entry of an `events` answer: its name upper-cased, if it is a string.
    pub(super) struct Name(pub(super) Option<String>);

    impl<'de> Deserialize<'de> for Name {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            Ok(Self(
                loose_text(deserializer)?.map(|name| name.to_ascii_uppercase()),
            ))
        }
    }

    #[derive(Deserialize)]
    pub(super) struct PortalItem {
        #[serde(default, deserialize_with = "loose_text")]
        pub(super) event: Option<String>,
        #[serde(default, deserialize_with = "loose_text")]
        pub(super) handler: Option<String>,
        #[serde(default, deserialize_with = "loose_integer")]
        pub(super) auth_type: Option<i64>,
        #[serde(default, deserialize_with = "loose_integer")]
        pub(super) offline: Option<i64>,
        #[serde(default, deserialize_with = "loose_text")]
        pub(super) connector_id: Option<String>,
        #[serde(default, deserialize_with = "loose_text")]
        pub(super) connector: Option<String>,
    }

    /// A string, or `None` for anything else.
    fn loose_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
        struct Text;
        impl<'de> Visitor<'de> for Text {
            type Value = Option<String>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Some(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Some(v))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(None)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(None)
            }
        }
        deserializer.deserialize_any(Text)
    }

    /// An integer sent as a number, a numeric string or a boolean; `None` otherwise
    /// (the rules of `value_as_i64`).
    fn loose_integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
        struct Integer;
        impl<'de> Visitor<'de> for Integer {
            type Value = Option<i64>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(v.trim().parse().ok())
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Some(i64::from(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Some(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v).ok().or(Some(v as f64 as i64)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Some(v as i64))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(None)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(None)
            }
        }
        deserializer.deserialize_any(Integer)
    }

    #[cfg(test)]
    mod tests {
        use super::super::{parse_bindings, Binding};
        use super::PortalItems;

        #[test]
        fn typed_decoding_reads_items_as_the_tree_reader_does() {
            let body = r#"[
                {"event":"oncrmdealadd","handler":"https://h.example.com/a","auth_type":"0","offline":0},
                {"event":"ONTASKADD","handler":"","auth_type":7,"offline":"1","connector_id":"erp"},
                {"event":"ONX","handler":5,"auth_type":"x","offline":true,"connector":"c"},
                {"event":"ONY","handler":{"a":[1]},"auth_type":null,"offline":null}
            ]"#;
            let typed: PortalItems = serde_json::from_str(body).unwrap();
            let typed: Vec<Binding> = typed
                .0
                .into_iter()
                .map(|item| Binding::from_item(item).unwrap())
                .collect();
            let tree = parse_bindings(&serde_json::from_str(body).unwrap()).unwrap();
            assert_eq!(typed, tree);
            let empty: PortalItems = serde_json::from_str("{}").unwrap();
            assert!(empty.0.is_empty());
            let keyed: PortalItems = serde_json::from_str(r#"{"5":{"event":"ONZ"}}"#).unwrap();
            assert_eq!(keyed.0.len(), 1);
            let nameless: PortalItems = serde_json::from_str(r#"[{"handler":"h"}]"#).unwrap();
            assert!(Binding::from_item(nameless.0.into_iter().next().unwrap()).is_err());
        }
    }
}
