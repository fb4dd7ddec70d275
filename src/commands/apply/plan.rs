//! Plans (what to bind, unbind, keep) and their execution on one portal through `batch`.

use std::collections::HashSet;

use indicatif::ProgressBar;
use serde::Serialize;

use crate::bitrix::batch::{run_batch, BatchCommand, BatchOutcome, MAX_BATCH_COMMANDS};
use crate::bitrix::events::{is_already_bound, portal_view, BindRequest, Binding, BindingKind};
use crate::bitrix::{ApiError, Client};
use crate::manifest::Manifest;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Action {
    Bind,
    Unbind,
    Keep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Outcome {
    Ok,
    Failed,
    Planned,
}

/// One line of a plan, in the JSON shape of docs/manifest.md.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Change {
    pub action: Action,
    #[serde(flatten)]
    pub binding: Binding,
    pub profile: String,
    pub result: Outcome,
    pub error: Option<String>,
    #[serde(skip)]
    pub request: BindRequest,
}

/// Compares the manifest with the portal's bindings: manifest entries in file order
/// (bind or keep), then, with `prune`, the bindings the file does not list.
pub(super) async fn plan(
    client: &Client,
    manifest: &Manifest,
    prune: bool,
    profile: &str,
) -> Result<Vec<Change>, ApiError> {
    // The events the application may bind come in the same batch: a file's typo
    // is then caught by `diff`, not first by `apply`'s bind.
    let view = portal_view(client, true).await?;
    let (mut current, admin) = (view.bindings, view.admin);
    let known: Option<HashSet<&str>> = view
        .events
        .as_ref()
        .filter(|names| !names.is_empty())
        .map(|names| names.iter().map(String::as_str).collect());
    if !admin {
        // A non-administrator sees only their own handlers, stored with their user
        // id where the file (like the bind) said nothing: that is "0" for them.
        for binding in current.iter_mut().filter(|b| b.kind == BindingKind::Online) {
            binding.auth_type = 0;
        }
    }
    let change = |action, binding: Binding, request: BindRequest| Change {
        action,
        binding,
        profile: profile.to_string(),
        result: Outcome::Planned,
        error: None,
        request,
    };
    // Sets, not lists: a plan of 20,000 entries against 20,000 bindings is linear.
    let bound: HashSet<&Binding> = current.iter().collect();
    let mut changes = Vec::with_capacity(manifest.subscriptions.len());
    for subscription in &manifest.subscriptions {
        let binding = subscription.binding();
        let action = if bound.contains(&binding) {
            Action::Keep
        } else {
            Action::Bind
        };
        let mut planned = change(action, binding, subscription.request.clone());
        if let Some(known) = &known {
            if action == Action::Bind && !known.contains(planned.binding.event.as_str()) {
                planned.result = Outcome::Failed;
                planned.error = Some(unknown_event(
                    &planned.binding.event,
                    view.events.as_deref(),
                ));
            }
        }
        changes.push(planned);
    }
    if prune {
        let wanted: HashSet<Binding> = manifest.subscriptions.iter().map(|s| s.binding()).collect();
        let mut seen = HashSet::new();
        let extra = current
            .iter()
            .filter(|b| !wanted.contains(*b) && seen.insert(*b));
        for binding in extra {
            let mut request = BindRequest::exact(binding);
            if !admin {
                // The portal matches a non-administrator's unbind to their own id
                // by itself, and refuses an `auth_type` sent as text.
                request.auth_type = None;
            }
            changes.push(change(Action::Unbind, binding.clone(), request));
        }
    }
    Ok(changes)
}

/// How many `batch` requests executing these changes takes.
pub(super) fn batch_count(changes: &[Change]) -> u64 {
    let count = |action| {
        changes
            .iter()
            .filter(|c| c.action == action)
            .count()
            .div_ceil(MAX_BATCH_COMMANDS) as u64
    };
    count(Action::Bind) + count(Action::Unbind)
}

/// Why a file's event cannot be bound, and what to do (the portal's list and
/// the event catalogue both suggest).
fn unknown_event(event: &str, known: Option<&[String]>) -> String {
    let advice = crate::commands::suggest::unknown_event_advice(event, known.unwrap_or(&[]));
    format!("ERROR_EVENT_NOT_FOUND: the portal lists no event {event} the application can bind: {advice}")
}

/// Runs the binds, then the unbinds, 50 to a `batch`, recording each result.
/// A request that fails as a whole marks its commands failed and the rest go on.
pub(super) async fn execute(
    client: &Client,
    changes: &mut [Change],
    progress: Option<&ProgressBar>,
) {
    for change in changes.iter_mut().filter(|c| c.action == Action::Keep) {
        change.result = Outcome::Ok;
    }
    for action in [Action::Bind, Action::Unbind] {
        // Changes already failed when planned (an unknown event) are not sent.
        let indexes: Vec<usize> = (0..changes.len())
            .filter(|&i| changes[i].action == action && changes[i].result == Outcome::Planned)
            .collect();
        for chunk in indexes.chunks(MAX_BATCH_COMMANDS) {
            let commands: Vec<BatchCommand> = chunk
                .iter()
                .map(|&i| match action {
                    Action::Bind => BatchCommand {
                        method: "event.bind".into(),
                        params: changes[i].request.bind_params(),
                    },
                    _ => BatchCommand {
                        method: "event.unbind".into(),
                        params: changes[i].request.unbind_params(),
                    },
                })
                .collect();
            // Binds may be repeated safely (a duplicate reads as already bound); unbinds not.
            let outcomes = run_batch(client, &commands, false, action == Action::Bind).await;
            for (position, &index) in chunk.iter().enumerate() {
                let change = &mut changes[index];
                match &outcomes {
                    Ok(results) => match &results[position] {
                        BatchOutcome::Ok(_) => change.result = Outcome::Ok,
                        BatchOutcome::Failed { code, description }
                            if action == Action::Bind && is_already_bound(code, description) =>
                        {
                            change.result = Outcome::Ok
                        }
                        BatchOutcome::Failed { code, description } => {
                            change.result = Outcome::Failed;
                            change.error = Some(format!("{code}: {description}"));
                        }
                    },
                    Err(error) => {
                        change.result = Outcome::Failed;
                        change.error = Some(error.to_string());
                    }
                }
            }
            if let Some(bar) = progress {
                bar.inc(1);
            }
        }
    }
}
