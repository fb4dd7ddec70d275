//! `offline list|get|clear|error|consume`: the offline event queue.

mod consume;
mod journal;
mod sink;

use comfy_table::Table;

use super::errors::Hinted;
use super::{CliError, Context};
use crate::bitrix::offline::{
    self, ClearSelection, GetQuery, ListQuery, ListedRecord, OfflineRecord, GET_FIELDS, LIST_FIELDS,
};
use crate::bitrix::ApiError;
use crate::cli::{
    OfflineClearArgs, OfflineCommand, OfflineErrorArgs, OfflineGetArgs, OfflineListArgs,
};
use crate::output::Output;

pub async fn run(ctx: &Context, command: OfflineCommand) -> anyhow::Result<()> {
    match command {
        OfflineCommand::List(args) => list(ctx, &args).await,
        OfflineCommand::Get(args) => get(ctx, &args).await,
        OfflineCommand::Clear(args) => clear(ctx, &args).await,
        OfflineCommand::Error(args) => error(ctx, &args).await,
        OfflineCommand::Consume(args) => consume::run(ctx, &args).await,
    }
}

/// Parses `--filter` and `--order` before any request is made.
fn filter_and_order(
    filters: &[String],
    order: Option<&str>,
    allowed: &[&str],
) -> Result<(Option<serde_json::Value>, Option<serde_json::Value>), CliError> {
    let filter = offline::filter_object(filters, allowed).map_err(CliError::Usage)?;
    let order = order
        .map(|o| offline::parse_order(o, allowed))
        .transpose()
        .map_err(CliError::Usage)?;
    Ok((filter, order))
}

async fn list(ctx: &Context, args: &OfflineListArgs) -> anyhow::Result<()> {
    let (filter, order) = filter_and_order(&args.filter, args.order.as_deref(), LIST_FIELDS)?;
    let (_, client) = ctx.connect()?;
    let mut query = ListQuery {
        filter,
        order,
        errors: args.errors.then_some(true),
        connector: args.connector.clone(),
        start: args.start,
    };
    let mut records = Vec::new();
    let mut total = None;
    loop {
        let page = offline::list(&client, &query)
            .await
            .map_err(|e| explain_offline_error(e, false))?;
        records.extend(page.records);
        total = total.or(page.total);
        match page.next {
            Some(next) if args.all && next > query.start.unwrap_or(0) => query.start = Some(next),
            Some(_) if !args.all => {
                ctx.out.info(&format!(
                    "Showing {} of {} records; use --all for every page or --start N for the next one",
                    records.len(),
                    total.unwrap_or(0)
                ));
                break;
            }
            _ => break,
        }
    }
    if records.is_empty() {
        ctx.out.info("The offline queue has no matching records.");
    }
    ctx.out.list(&records, || listed_table(&ctx.out, &records));
    Ok(())
}

fn listed_table(out: &Output, records: &[ListedRecord]) -> Table {
    let mut table = out.table(&[
        "ID",
        "EVENT",
        "TIMESTAMP",
        "MESSAGE_ID",
        "PROCESS_ID",
        "ERROR",
    ]);
    for listed in records {
        table.add_row(vec![
            listed.record.id.to_string(),
            listed.record.event.clone(),
            listed.record.timestamp.clone(),
            listed.record.message_id.clone(),
            listed.process_id.clone().unwrap_or_else(|| "-".into()),
            if listed.error {
                "yes".into()
            } else {
                "no".into()
            },
        ]);
    }
    table
}

fn records_table(out: &Output, records: &[OfflineRecord]) -> Table {
    let mut table = out.table(&["ID", "EVENT", "TIMESTAMP", "MESSAGE_ID", "DATA"]);
    for record in records {
        let data = serde_json::to_string(&record.data).unwrap_or_default();
        let data: String = if data.chars().count() > 60 {
            data.chars().take(57).collect::<String>() + "..."
        } else {
            data
        };
        table.add_row(vec![
            record.id.to_string(),
            record.event.clone(),
            record.timestamp.clone(),
            record.message_id.clone(),
            data,
        ]);
    }
    table
}

/// Adds the explanation of `WRONG_LICENSE` on reservations and of `ACCESS_DENIED`.
pub fn explain_offline_error(error: ApiError, reserving: bool) -> anyhow::Error {
    let hint = match error.code() {
        Some("WRONG_LICENSE") if reserving => "the portal's plan lacks extended offline event handling, so records cannot be reserved (clear=0). `offline get --clear` (or `consume --allow-loss`) reads destructively instead: the portal deletes records as it returns them, so anything your handler fails to process is lost",
        Some("WRONG_LICENSE") => "the portal's plan lacks extended offline event handling: connectors (--connector) and reservations need a higher plan",
        Some("ACCESS_DENIED") => "every event.offline.* method needs a portal administrator: log in as one",
        _ => return error.into(),
    };
    Hinted::new(error, hint).into()
}

async fn get(ctx: &Context, args: &OfflineGetArgs) -> anyhow::Result<()> {
    let (filter, order) = filter_and_order(&args.filter, args.order.as_deref(), GET_FIELDS)?;
    let (_, client) = ctx.connect()?;
    if args.clear {
        ctx.out.warn("--clear is a destructive read: the portal deletes these records as it returns them; if they are not processed now they are lost");
    }
    let query = GetQuery {
        limit: Some(args.limit),
        filter,
        order,
        errors: args.errors,
        connector: args.connector.clone(),
        process_id: args.process_id.clone(),
        clear: args.clear,
    };
    let reservation = offline::get(&client, &query)
        .await
        .map_err(|e| explain_offline_error(e, !args.clear))?;
    match (&reservation.process_id, reservation.events.len()) {
        (_, 0) => ctx.out.info("No records to take."),
        (Some(process_id), n) => ctx.out.info(&format!(
            "Reserved {n} record(s) under process id {process_id}; confirm with `bx-events offline clear --process-id {process_id}` when they are processed"
        )),
        (None, n) => ctx.out.info(&format!("Took {n} record(s); they are deleted from the queue")),
    }
    if ctx.out.is_table() {
        ctx.out.list(&reservation.events, || {
            records_table(&ctx.out, &reservation.events)
        });
    } else {
        ctx.out.record(&reservation, Table::new);
    }
    Ok(())
}

fn check_message_ids(ids: &[String]) -> Result<(), CliError> {
    match ids.iter().find(|id| !offline::is_message_id(id)) {
        Some(bad) => Err(CliError::Usage(format!(
            "'{bad}' is not a MESSAGE_ID: message ids are 32 hexadecimal characters (see `bx-events offline list`)"
        ))),
        None => Ok(()),
    }
}

fn check_process_id(id: &str) -> Result<(), CliError> {
    if id.trim().is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(CliError::Usage(format!(
            "'{id}' is not a process id (the `process_id` printed by `offline get`)"
        )));
    }
    Ok(())
}

async fn clear(ctx: &Context, args: &OfflineClearArgs) -> anyhow::Result<()> {
    check_process_id(&args.process_id)?;
    check_message_ids(&args.message_id)?;
    let selection = if !args.message_id.is_empty() {
        ClearSelection::MessageIds(args.message_id.clone())
    } else if !args.id.is_empty() {
        ClearSelection::Ids(args.id.clone())
    } else {
        ClearSelection::All
    };
    let (_, client) = ctx.connect()?;
    offline::clear(&client, &args.process_id, &selection, &args.connector)
        .await
        .map_err(|e| explain_offline_error(e, false))?;
    ctx.out.success(&match selection {
        ClearSelection::All => format!("Cleared reservation {}", args.process_id),
        _ => format!(
            "Cleared the selected records of reservation {}",
            args.process_id
        ),
    });
    if !ctx.out.is_table() {
        ctx.out.record(
            &serde_json::json!({"process_id": args.process_id, "cleared": true}),
            Table::new,
        );
    }
    Ok(())
}

async fn error(ctx: &Context, args: &OfflineErrorArgs) -> anyhow::Result<()> {
    check_process_id(&args.process_id)?;
    check_message_ids(&args.message_id)?;
    let (_, client) = ctx.connect()?;
    offline::mark_errors(&client, &args.process_id, &args.message_id, &args.connector)
        .await
        .map_err(|e| explain_offline_error(e, false))?;
    ctx.out.success(&format!(
        "Marked {} record(s) as errors; take them again with `bx-events offline get --errors`",
        args.message_id.len()
    ));
    if !ctx.out.is_table() {
        ctx.out.record(
            &serde_json::json!({"process_id": args.process_id, "marked": args.message_id}),
            Table::new,
        );
    }
    Ok(())
}
