//! The events the sandbox portal knows, grouped by the scope that grants them.

/// Events of each scope; a token sees the events of its scopes plus the global ones.
pub(crate) const SCOPED_EVENTS: &[(&str, &[&str])] = &[
    (
        "crm",
        &[
            "ONCRMDEALADD",
            "ONCRMDEALUPDATE",
            "ONCRMDEALDELETE",
            "ONCRMLEADADD",
            "ONCRMLEADUPDATE",
            "ONCRMLEADDELETE",
            "ONCRMCONTACTADD",
            "ONCRMCONTACTUPDATE",
            "ONCRMCONTACTDELETE",
            "ONCRMCOMPANYADD",
            "ONCRMCOMPANYUPDATE",
            "ONCRMCOMPANYDELETE",
            "ONCRMACTIVITYADD",
            "ONCRMACTIVITYUPDATE",
            "ONCRMACTIVITYDELETE",
            "ONCRMINVOICEADD",
            "ONCRMINVOICEUPDATE",
        ],
    ),
    (
        "task",
        &[
            "ONTASKADD",
            "ONTASKUPDATE",
            "ONTASKDELETE",
            "ONTASKCOMMENTADD",
            "ONTASKCOMMENTUPDATE",
            "ONTASKCOMMENTDELETE",
        ],
    ),
    ("user", &["ONUSERADD"]),
    (
        "calendar",
        &[
            "ONCALENDARENTRYADD",
            "ONCALENDARENTRYUPDATE",
            "ONCALENDARENTRYDELETE",
        ],
    ),
];

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
    SCOPED_EVENTS
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case(scope))
        .flat_map(|(_, events)| events.iter().map(|e| e.to_string()))
        .collect()
}

/// Every event the portal knows.
pub(crate) fn all_events() -> Vec<String> {
    SCOPED_EVENTS
        .iter()
        .flat_map(|(_, events)| events.iter())
        .chain(GLOBAL_EVENTS.iter())
        .map(|e| e.to_string())
        .collect()
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
