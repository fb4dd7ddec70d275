//! `events [PATTERN]`: the event names the application may bind.

use super::context::Context;
use super::patterns::{name_matches, PlainPattern};
use crate::bitrix::events::{list_events, EventsQuery};
use crate::cli::EventsArgs;

pub(crate) async fn run(ctx: &Context, args: &EventsArgs) -> anyhow::Result<()> {
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
        let mut table = ctx.out.table(&["EVENT"]);
        for name in &names {
            table.add_row(vec![name.clone()]);
        }
        table
    });
    Ok(())
}
