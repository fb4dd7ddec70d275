//! `events [PATTERN]`: the event names the application may bind, or with
//! `--catalog` every event the catalogue knows, without asking a portal.

use super::context::Context;
use super::patterns::{name_matches, PlainPattern};
use crate::bitrix::catalog::{self, CatalogEvent};
use crate::bitrix::events::{list_events, EventsQuery};
use crate::cli::EventsArgs;
use crate::output::printable;

pub(crate) async fn run(ctx: &Context, args: &EventsArgs) -> anyhow::Result<()> {
    if args.catalog {
        return list_catalog(ctx, args);
    }
    let (_, client) = ctx.connect()?;
    let query = EventsQuery {
        scope: args.scope.clone(),
        full: args.full,
    };
    let all = list_events(&client, &query).await?;
    if let Some(scope) = args.scope.as_deref().filter(|_| all.is_empty()) {
        // The portal answers an unknown scope with an empty list: say which exist.
        let known = client
            .call("scope", &serde_json::json!({}))
            .await
            .ok()
            .and_then(|envelope| {
                envelope.result.as_array().map(|items| {
                    items
                        .iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect::<Vec<_>>()
                })
            })
            .unwrap_or_default();
        if !known.iter().any(|k| k.eq_ignore_ascii_case(scope)) {
            ctx.out.warn(&format!(
                "'{scope}' is not one of the application's scopes ({}); `bx-events events` lists the events of all of them",
                if known.is_empty() { "unknown".to_string() } else { known.join(", ") }
            ));
        }
    }
    let mut names = Vec::new();
    for name in all {
        let keep = match &args.pattern {
            Some(pattern) => name_matches(pattern, &name, PlainPattern::Substring)?,
            None => true,
        };
        if keep {
            names.push(name);
        }
    }
    if names.is_empty() && ctx.out.is_table() {
        ctx.out.info("No events matched.");
    }
    ctx.out.list(&names, || {
        // The catalogue's scope beside each name; a name it lacks (a newer
        // event, a module's own) is marked so that `describe` is not tried.
        let mut table = ctx.out.table(&["EVENT", "SCOPE", "CATALOGUE"]);
        for name in &names {
            let known = catalog::find(name);
            table.add_row(vec![
                name.clone(),
                known.map(|event| event.scope.clone()).unwrap_or_default(),
                match known {
                    Some(event) if event.outdated => "outdated".to_string(),
                    Some(_) => "described".to_string(),
                    None => "not in the catalogue".to_string(),
                },
            ]);
        }
        table
    });
    Ok(())
}

/// `events --catalog [PATTERN] [--scope S]`: the catalogue, filtered.
fn list_catalog(ctx: &Context, args: &EventsArgs) -> anyhow::Result<()> {
    let mut chosen: Vec<&CatalogEvent> = Vec::new();
    for event in catalog::events() {
        if let Some(scope) = &args.scope {
            if !event.scopes.iter().any(|s| s.eq_ignore_ascii_case(scope)) {
                continue;
            }
        }
        if let Some(pattern) = &args.pattern {
            if !name_matches(pattern, &event.name, PlainPattern::Substring)? {
                continue;
            }
        }
        chosen.push(event);
    }
    if let Some(scope) = args.scope.as_deref().filter(|_| chosen.is_empty()) {
        ctx.out.warn(&format!(
            "no event of the catalogue needs scope '{}'; its scopes: {}",
            printable(scope),
            catalog::scopes().join(", ")
        ));
    } else if chosen.is_empty() && ctx.out.is_table() {
        ctx.out.info("No events matched.");
    }
    ctx.out.list(&chosen, || {
        let mut table = ctx.out.table(&["EVENT", "SCOPE", "FETCH", "WHAT"]);
        for event in &chosen {
            let mut what = event.summary.clone();
            if event.outdated {
                what = format!("(outdated) {what}");
            }
            table.add_row(vec![
                event.name.clone(),
                event.scope.clone(),
                event
                    .fetch
                    .as_ref()
                    .map(|fetch| fetch.method.clone())
                    .unwrap_or_default(),
                printable(&what).into_owned(),
            ]);
        }
        table
    });
    Ok(())
}
