//! `offline list|get|clear|error|consume`: the offline event queue.

mod async_journal;
mod consume;
mod dead_letter;
mod fleet;
mod journal;
mod notify;
mod notify_session;
mod portal_form;
mod publish;
mod sink;

use crate::output::TextTable as Table;

use super::context::Context;
use super::errors::explain_offline_error;
use super::errors::CliError;
use crate::bitrix::offline::{
    self, ClearSelection, GetQuery, ListQuery, ListedRecord, OfflineRecord, ProcessId, Reservation,
    GET_FIELDS, LIST_FIELDS,
};
use crate::cli::{
    DeadLetterCommand, OfflineClearArgs, OfflineCommand, OfflineErrorArgs, OfflineGetArgs,
    OfflineListArgs,
};
use crate::output::Output;

pub(crate) use consume::run as consume;
pub(crate) use journal::safe_name;

/// Seconds between polls of an empty queue with `--follow`, unless
/// `--poll-interval` says otherwise.
const DEFAULT_POLL_SECS: f64 = 5.0;

/// `--format portal` shapes what `--forward-to` POSTs or `--publish` publishes;
/// a table keeps records as JSON.
fn check_format(args: &crate::cli::ConsumeArgs) -> Result<(), CliError> {
    if args.format != crate::cli::ForwardFormat::Portal {
        return Ok(());
    }
    match &args.sink.publish {
        Some(url) if url.starts_with("postgres") => Err(CliError::Usage(
            "--format portal: a table keeps each record as JSON (the body column is jsonb); leave --format out".into(),
        )),
        Some(_) => Ok(()),
        None if args.sink.forward_to.is_some() => Ok(()),
        None => Err(CliError::Usage(
            "--format portal shapes what --forward-to POSTs or --publish publishes; use it with one of them".into(),
        )),
    }
}

/// `--poll-interval`, or its default: with notifications waking the drain,
/// polling is only the safety net for a lost one.
fn poll_interval(args: &crate::cli::ConsumeArgs) -> f64 {
    args.poll_interval
        .unwrap_or(if args.notify_listen.is_some() {
            notify::SAFETY_POLL_SECS
        } else {
            DEFAULT_POLL_SECS
        })
}

pub(crate) async fn run(ctx: &Context, command: OfflineCommand) -> anyhow::Result<()> {
    match command {
        OfflineCommand::List(args) => list(ctx, &args).await,
        OfflineCommand::Get(args) => get(ctx, &args).await,
        OfflineCommand::Clear(args) => clear(ctx, &args).await,
        OfflineCommand::Error(args) => error(ctx, &args).await,
        // One queue, or turns over the queues of many portals.
        OfflineCommand::Consume(args) if args.fleet.selects() => fleet::run(ctx, &args).await,
        OfflineCommand::Consume(args) => consume::run(ctx, &args).await,
        OfflineCommand::DeadLetter(DeadLetterCommand::List(args)) => dead_letter::list(ctx, &args),
        OfflineCommand::DeadLetter(DeadLetterCommand::Replay(args)) => {
            dead_letter::replay(ctx, &args).await
        }
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
    let mut partial = false;
    loop {
        let page = offline::list(&client, &query)
            .await
            .map_err(|e| explain_offline_error(e, false))?;
        records.extend(page.records);
        total = total.or(page.total);
        match page.next {
            Some(next) if args.all && next > query.start.unwrap_or(0) => query.start = Some(next),
            Some(_) if !args.all => {
                partial = true;
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
    if records.is_empty() && ctx.out.is_table() {
        ctx.out.info("The offline queue has no matching records.");
    }
    ctx.out.list(&records, || listed_table(&ctx.out, &records));
    describe_reservations(ctx, &records, partial);
    Ok(())
}

/// Records older than this get a warning: the portal's cleanup deletes them at
/// about 34 days ([`offline::RETENTION_SECS`]), reserved or not.
const AGE_WARNING_SECS: i64 = 25 * 86_400;

/// Says which reservations the listed records belong to, how to finish one nobody
/// confirms, and warns when records near the portal's cleanup.
fn describe_reservations(ctx: &Context, records: &[ListedRecord], partial: bool) {
    let mut reservations: Vec<(&str, usize)> = Vec::new();
    for record in records {
        let Some(id) = record.process_id.as_deref() else {
            continue;
        };
        match reservations.iter_mut().find(|(known, _)| *known == id) {
            Some((_, count)) => *count += 1,
            None => reservations.push((id, 1)),
        }
    }
    if !reservations.is_empty() {
        let listing: Vec<String> = reservations
            .iter()
            .map(|(id, count)| format!("{id} ({count})"))
            .collect();
        // Counted over the records listed: on a partial listing, say so.
        let scope = if partial {
            format!(
                " (records among the {} shown; --all counts every page)",
                records.len()
            )
        } else {
            String::new()
        };
        ctx.out.info(&format!(
            "Reserved{scope}: {}. A reservation nobody confirms is deleted with its records by the portal's cleanup; finish one with `bx-events offline consume --process-id ID --exec ...`",
            listing.join(", ")
        ));
    }
    if let Some(oldest) = records
        .iter()
        .filter_map(|r| r.age_seconds.map(|age| (age, r)))
        .max_by_key(|(age, _)| *age)
        .filter(|(age, _)| *age >= AGE_WARNING_SECS)
    {
        let (age, record) = oldest;
        let left = (offline::RETENTION_SECS - age).max(0);
        ctx.out.warn(&format!(
            "record {} is {} old; the portal deletes queued records (reserved or not) at about 34 days, so it has {} left: consume it soon",
            record.record.id,
            human_age(age),
            human_age(left)
        ));
    }
}

/// "3d 4h", "5h 12m", "40s".
fn human_age(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (days, hours, minutes) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
    );
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m")
    } else {
        format!("{seconds}s")
    }
}

fn listed_table(out: &Output, records: &[ListedRecord]) -> Table {
    let mut table = out.table(&[
        "ID",
        "EVENT",
        "TIMESTAMP",
        "MESSAGE_ID",
        "PROCESS_ID",
        "ERROR",
        "AGE",
    ]);
    for listed in records {
        table.add_row(vec![
            listed.record.id.to_string(),
            listed.record.event.clone(),
            listed.record.timestamp.clone(),
            listed.record.message_id.to_string(),
            listed.process_id.clone().unwrap_or_else(|| "-".into()),
            if listed.error {
                "yes".into()
            } else {
                "no".into()
            },
            listed.age_seconds.map_or_else(|| "-".into(), human_age),
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
            record.message_id.to_string(),
            data,
        ]);
    }
    table
}

async fn get(ctx: &Context, args: &OfflineGetArgs) -> anyhow::Result<()> {
    if let Some(process_id) = &args.process_id {
        return reread(ctx, args, process_id).await;
    }
    if args
        .filter
        .iter()
        .any(|f| f.trim().to_ascii_uppercase().starts_with("TIMESTAMP_X"))
    {
        return Err(CliError::Usage(
            "the portal refuses TIMESTAMP_X conditions when reserving records (`event.offline.get`): filter by time with `bx-events offline list --filter 'TIMESTAMP_X>=...'`, or reserve by ID (`--filter 'ID>=N'`)".into(),
        )
        .into());
    }
    if let Some(substring) = args.filter.iter().find(|f| f.contains('~')) {
        return Err(CliError::Usage(format!(
            "'{substring}': the portal cannot reserve records by a substring (`~`; it answers \"Unknown operator\"): look with `bx-events offline list --filter '{substring}'`, then reserve by exact values (`--filter EVENT_NAME=ONCRMDEALADD`)"
        ))
        .into());
    }
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
        process_id: None,
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
    print_reservation(ctx, &reservation);
    Ok(())
}

/// `offline get --process-id P [--clear]`: shows the whole reservation (measured
/// first, since the portal returns at most `limit` rows) and, with `--clear`,
/// confirms exactly the records it printed, by MESSAGE_ID.
async fn reread(
    ctx: &Context,
    args: &OfflineGetArgs,
    process_id: &ProcessId,
) -> anyhow::Result<()> {
    let (_, client) = ctx.connect()?;
    let extent = offline::extent(&client, process_id, &args.connector)
        .await
        .map_err(|e| explain_offline_error(e, true))?;
    let events = offline::reread(&client, process_id, extent, &args.connector)
        .await
        .map_err(|e| explain_offline_error(e, true))?;
    let reservation = Reservation {
        process_id: Some(process_id.clone()),
        events,
    };
    let count = reservation.events.len();
    if count == 0 {
        ctx.out.info(&format!(
            "Reservation {process_id} holds no records (confirmed already, never made, or deleted by the portal's cleanup)"
        ));
    } else {
        ctx.out.info(&format!(
            "Re-read {count} {}record(s) of reservation {process_id}",
            if extent.errors { "error " } else { "" }
        ));
    }
    print_reservation(ctx, &reservation);
    if args.clear && count > 0 {
        let printed = reservation
            .events
            .iter()
            .map(|r| r.message_id.clone())
            .collect();
        offline::clear(
            &client,
            process_id,
            &ClearSelection::MessageIds(printed),
            &args.connector,
        )
        .await
        .map_err(|e| explain_offline_error(e, false))?;
        ctx.out.success(&format!(
            "Cleared the {count} record(s) shown from reservation {process_id}"
        ));
    }
    Ok(())
}

fn print_reservation(ctx: &Context, reservation: &Reservation) {
    if ctx.out.is_table() {
        ctx.out.list(&reservation.events, || {
            records_table(&ctx.out, &reservation.events)
        });
    } else {
        ctx.out.machine(reservation);
    }
}

/// `offline clear`: measures what the selection matches in the reservation first,
/// so the message counts what was actually cleared (the portal answers `true`
/// whatever it deleted).
async fn clear(ctx: &Context, args: &OfflineClearArgs) -> anyhow::Result<()> {
    let selection = if !args.message_id.is_empty() {
        ClearSelection::MessageIds(args.message_id.clone())
    } else if !args.id.is_empty() {
        ClearSelection::Ids(args.id.clone())
    } else {
        ClearSelection::All
    };
    let (_, client) = ctx.connect()?;
    let held = offline::reservation_records(&client, &args.process_id, &args.connector)
        .await
        .map_err(|e| explain_offline_error(e, false))?;
    let matched = held
        .iter()
        .filter(|listed| match &selection {
            ClearSelection::All => true,
            ClearSelection::MessageIds(ids) => ids.contains(&listed.record.message_id),
            ClearSelection::Ids(ids) => ids.contains(&listed.record.id),
        })
        .count();
    if matched > 0 {
        offline::clear(&client, &args.process_id, &selection, &args.connector)
            .await
            .map_err(|e| explain_offline_error(e, false))?;
    }
    let process_id = &args.process_id;
    match (matched, held.len()) {
        (_, 0) => ctx.out.info(&format!(
            "Reservation {process_id} holds no records (never made, already confirmed, or deleted by the portal's cleanup); nothing was cleared"
        )),
        (0, held) => ctx.out.info(&format!(
            "None of the selected records is in reservation {process_id} (it holds {held}); nothing was cleared"
        )),
        (matched, held) => ctx.out.success(&format!(
            "Cleared {matched} of the {held} record(s) of reservation {process_id}"
        )),
    }
    ctx.out
        .machine(&serde_json::json!({"process_id": args.process_id, "cleared": matched}));
    Ok(())
}

async fn error(ctx: &Context, args: &OfflineErrorArgs) -> anyhow::Result<()> {
    let (_, client) = ctx.connect()?;
    offline::mark_errors(&client, &args.process_id, &args.message_id, &args.connector)
        .await
        .map_err(|e| explain_offline_error(e, false))?;
    ctx.out.success(&format!(
        "Marked {} record(s) as errors; take them again with `bx-events offline get --errors`",
        args.message_id.len()
    ));
    ctx.out
        .machine(&serde_json::json!({"process_id": args.process_id, "marked": args.message_id}));
    Ok(())
}
