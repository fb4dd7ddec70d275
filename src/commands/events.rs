//! `events [PATTERN]`: the event names the application may bind.

use super::{name_matches, Context, PlainPattern};
use crate::bitrix::events::{list_events, EventsQuery};
use crate::cli::EventsArgs;

pub async fn run(ctx: &Context, args: &EventsArgs) -> anyhow::Result<()> {
    let (_, client) = ctx.connect()?;
    let query = EventsQuery {
        scope: args.scope.clone(),
        full: args.full,
    };
    let mut names = Vec::new();
    for name in list_events(&client, &query).await? {
        let keep = match &args.pattern {
            Some(pattern) => name_matches(pattern, &name, PlainPattern::Substring)?,
            None => true,
        };
        if keep {
            names.push(name);
        }
    }
    if names.is_empty() {
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
