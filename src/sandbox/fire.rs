//! A change on the emulated portal (`sandbox fire`): what it queues and which
//! handler requests it prepares.

use super::state::Outgoing;
use super::state::{Portal, StoredBinding};
use super::{delivery, offline};

/// What a fired event caused.
#[derive(Debug, Clone)]
pub(crate) struct FireOutcome {
    /// New records in offline queues.
    pub queued: usize,
    /// Changes merged into an unreserved record of the same MESSAGE_ID (the
    /// same event and data), as the portal merges them.
    pub merged: usize,
    /// Requests to online handlers, ready to send.
    pub outgoing: Vec<Outgoing>,
}

/// A change on the portal: queues a record for every offline binding of the
/// event (one per connector) and prepares the requests to its online handlers
/// (and to ONOFFLINEEVENT handlers when the queue changed).
pub(crate) fn fire(
    portal: &mut Portal,
    event: &str,
    data: &serde_json::Value,
    user_id: i64,
) -> FireOutcome {
    let event = event.to_ascii_uppercase();
    super::objects::record_change(portal, &event, data);
    let connectors: Vec<String> = portal
        .bindings
        .iter()
        .filter(|b| b.offline && b.event == event)
        .map(|b| b.connector.clone())
        .collect();
    let mut merged = 0;
    for connector in &connectors {
        if offline::enqueue(portal, &event, data, connector, user_id) {
            merged += 1;
        }
    }
    let handlers: Vec<StoredBinding> = portal
        .bindings
        .iter()
        .filter(|b| !b.offline && b.event == event)
        .cloned()
        .collect();
    let mut outgoing: Vec<Outgoing> = handlers
        .iter()
        .map(|binding| delivery::prepare(portal, binding, &event, data))
        .collect();
    if !connectors.is_empty() {
        outgoing.extend(delivery::offline_notifications(portal));
    }
    FireOutcome {
        queued: connectors.len() - merged,
        merged,
        outgoing,
    }
}
