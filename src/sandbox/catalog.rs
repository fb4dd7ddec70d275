//! The events the sandbox portal knows, grouped by the scope that grants them.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Events of each scope, from the event catalogue (docs/events.md): every
/// event the REST documentation describes or the portal's `events` answer
/// lists, under each scope it needs; a token sees the events of its scopes
/// plus the global ones.
fn scoped_events() -> &'static BTreeMap<String, Vec<String>> {
    static SCOPED: OnceLock<BTreeMap<String, Vec<String>>> = OnceLock::new();
    SCOPED.get_or_init(|| {
        let mut scoped: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for event in crate::bitrix::catalog::events() {
            if GLOBAL_EVENTS.contains(&event.name.as_str()) {
                continue;
            }
            for scope in &event.scopes {
                scoped
                    .entry(scope.clone())
                    .or_default()
                    .push(event.name.clone());
            }
        }
        scoped
    })
}

/// Events every application may bind, whatever its scopes.
pub(crate) const GLOBAL_EVENTS: &[&str] = &[
    "ONAPPINSTALL",
    "ONAPPUNINSTALL",
    "ONAPPUPDATE",
    "ONAPPPAYMENT",
    "ONAPPTEST",
    "ONAPPMETHODCONFIRM",
    "ONOFFLINEEVENT",
];

/// Events of one scope (empty for an unknown scope).
pub(crate) fn scope_events(scope: &str) -> Vec<String> {
    scoped_events()
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case(scope))
        .flat_map(|(_, events)| events.iter().cloned())
        .collect()
}

/// Every event the portal knows.
pub(crate) fn all_events() -> Vec<String> {
    let mut all: Vec<String> = scoped_events().values().flatten().cloned().collect();
    all.sort_unstable();
    all.dedup();
    all.extend(GLOBAL_EVENTS.iter().map(|e| e.to_string()));
    all
}

/// Every scope that grants an event, sorted: what `scope` with `full` lists.
pub(crate) fn all_scopes() -> Vec<String> {
    scoped_events().keys().cloned().collect()
}

/// Events visible to a token with these scopes.
pub(crate) fn events_for_scopes(scopes: &[String]) -> Vec<String> {
    let mut events: Vec<String> = scopes
        .iter()
        .flat_map(|scope| scope_events(scope))
        .collect();
    events.extend(GLOBAL_EVENTS.iter().map(|e| e.to_string()));
    events
}
