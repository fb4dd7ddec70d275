//! `offline consume`: reserve → deliver → confirm, at least once and resumable.
//!
//! Each reservation is journaled before its first delivery and each delivery before
//! the confirmation, so a killed consumer's successor re-reads the reservation and
//! delivers only what was not delivered. Nothing is cleared that was not delivered.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::explain_offline_error;
use super::journal::{Journal, Pending};
use super::sink::Sink;
use crate::bitrix::offline::{self, ClearSelection, GetQuery, OfflineRecord};
use crate::bitrix::{ApiError, Client};
use crate::cli::ConsumeArgs;
use crate::commands::{CliError, Context};

/// Records reserved per `event.offline.get` unless `--limit` says otherwise.
/// Each reservation costs two requests (get, clear); at 500 records a 10,000-record
/// backlog takes 41 requests, within the standard plan's burst of 50, so the portal's
/// limit never stalls a drain. See docs/offline.md.
pub const DEFAULT_LIMIT: u32 = 500;

/// Longest wait between attempts while the portal is unreachable.
const MAX_ERROR_BACKOFF: Duration = Duration::from_secs(60);

struct Consumer<'a> {
    ctx: &'a Context,
    client: Client,
    sink: Sink,
    journal: Journal,
    connector: Option<String>,
    max_events: Option<u64>,
    delivered: u64,
    failed: u64,
    lost: u64,
    progress: Option<ProgressBar>,
}

pub async fn run(ctx: &Context, args: &ConsumeArgs) -> anyhow::Result<()> {
    if !(args.poll_interval.is_finite() && args.poll_interval > 0.0) {
        return Err(
            CliError::Usage("--poll-interval must be a positive number of seconds".into()).into(),
        );
    }
    let sink = Sink::from_args(args)?;
    let (profile, client) = ctx.connect()?;
    let journal = Journal::open(
        &ctx.store.dir().join("state"),
        &profile.name,
        args.connector.as_deref(),
    )?;
    let progress =
        (!ctx.out.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
    let mut consumer = Consumer {
        ctx,
        client,
        sink,
        journal,
        connector: args.connector.clone().filter(|c| !c.is_empty()),
        max_events: args.max_events,
        delivered: 0,
        failed: 0,
        lost: 0,
        progress,
    };
    let started = Instant::now();
    let outcome = consumer.consume(args).await;
    if let Some(bar) = &consumer.progress {
        bar.finish_and_clear();
    }
    ctx.out.info(&format!(
        "Delivered {}, failed {}{} in {:.1} s; {} request(s) to the portal",
        consumer.delivered,
        consumer.failed,
        if consumer.lost > 0 {
            format!(", lost {}", consumer.lost)
        } else {
            String::new()
        },
        started.elapsed().as_secs_f64(),
        consumer.client.request_count()
    ));
    outcome?;
    if ctx.shutdown.is_requested() {
        return Err(CliError::Interrupted.into());
    }
    if consumer.lost > 0 {
        return Err(CliError::Failed(format!(
            "{} record(s) could not be delivered and are lost",
            consumer.lost
        ))
        .into());
    }
    if consumer.failed > 0 {
        return Err(CliError::Failed(format!(
            "{} record(s) failed; they are marked as errors in the queue: fix the handler and run `bx-events offline consume --errors ...` to process them again",
            consumer.failed
        ))
        .into());
    }
    Ok(())
}

/// Errors worth waiting out in `--follow` mode.
fn is_transient(error: &ApiError) -> bool {
    error.is_temporary()
        || matches!(error, ApiError::Network { .. })
        || matches!(error, ApiError::Portal { status, .. } if *status >= 500)
}

impl Consumer<'_> {
    fn log(&self, line: &str) {
        if self.ctx.out.quiet {
            return;
        }
        match &self.progress {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn handled(&self) -> u64 {
        self.delivered + self.failed + self.lost
    }

    fn limit_reached(&self) -> bool {
        self.max_events.is_some_and(|max| self.handled() >= max)
    }

    async fn consume(&mut self, args: &ConsumeArgs) -> anyhow::Result<()> {
        if let Some(pending) = self.journal.pending().cloned() {
            self.resume(pending).await?;
        }
        let poll = Duration::from_secs_f64(args.poll_interval);
        let mut idle_wait = poll;
        let mut error_wait = Duration::from_secs(1);
        let mut unreachable = false;
        let limit = args.limit.unwrap_or(DEFAULT_LIMIT);
        while !self.ctx.shutdown.is_requested() && !self.limit_reached() {
            let remaining = self.max_events.map(|max| max - self.handled());
            let want = remaining.map_or(limit, |r| limit.min(u32::try_from(r).unwrap_or(u32::MAX)));
            let query = GetQuery {
                limit: Some(want),
                errors: args.errors,
                connector: self.connector.clone(),
                clear: args.allow_loss,
                ..GetQuery::default()
            };
            let reservation = match offline::get(&self.client, &query).await {
                Ok(reservation) => reservation,
                Err(error) if args.follow && is_transient(&error) => {
                    if !unreachable {
                        self.ctx.out.alert(&format!(
                            "portal unreachable: {error}; retrying with backoff up to {} s",
                            MAX_ERROR_BACKOFF.as_secs()
                        ));
                        unreachable = true;
                    }
                    if !self.ctx.shutdown.sleep(error_wait).await {
                        break;
                    }
                    error_wait = (error_wait * 2).min(MAX_ERROR_BACKOFF);
                    continue;
                }
                Err(error) => return Err(explain_offline_error(error, !args.allow_loss)),
            };
            if unreachable {
                self.ctx.out.alert("portal reachable again; consuming");
                unreachable = false;
                error_wait = Duration::from_secs(1);
            }
            if reservation.events.is_empty() {
                if !args.follow {
                    break;
                }
                self.status("queue empty; waiting for events");
                if !self.ctx.shutdown.sleep(idle_wait).await {
                    break;
                }
                idle_wait = (idle_wait.mul_f64(1.5)).min(poll * 8);
                continue;
            }
            idle_wait = poll;
            match reservation.process_id {
                Some(process_id) => {
                    self.journal.begin(&process_id)?;
                    self.deliver_reservation(&process_id, &reservation.events, &Pending::default())
                        .await?;
                }
                None => self.deliver_taken(&reservation.events).await,
            }
        }
        Ok(())
    }

    /// Finishes a reservation an earlier run left unconfirmed.
    async fn resume(&mut self, pending: Pending) -> anyhow::Result<()> {
        self.ctx.out.info(&format!(
            "Resuming reservation {} left unconfirmed by an earlier run ({} delivered, {} failed before it stopped; journal {})",
            pending.process_id,
            pending.done.len(),
            pending.failed.len(),
            self.journal.path().display()
        ));
        let query = GetQuery {
            process_id: Some(pending.process_id.clone()),
            connector: self.connector.clone(),
            ..GetQuery::default()
        };
        let reservation = offline::get(&self.client, &query)
            .await
            .map_err(|e| explain_offline_error(e, true))?;
        self.deliver_reservation(&pending.process_id, &reservation.events, &pending)
            .await
    }

    fn status(&self, message: &str) {
        if let Some(bar) = &self.progress {
            bar.set_message(format!(
                "delivered {}, failed {}: {message}",
                self.delivered, self.failed
            ));
        }
    }

    async fn deliver_one(&mut self, record: &OfflineRecord, process_id: Option<&str>) -> bool {
        let started = Instant::now();
        let outcome = self.sink.deliver(record, process_id).await;
        let millis = started.elapsed().as_millis();
        match &outcome {
            Ok(()) => self.log(&format!(
                "--> {} [{}] ok {millis} ms",
                record.event, record.message_id
            )),
            Err(why) => self.ctx.out.warn(&format!(
                "--> {} [{}] failed ({why}) {millis} ms",
                record.event, record.message_id
            )),
        }
        self.status("consuming");
        outcome.is_ok()
    }

    /// Delivers the records of a reservation, then confirms: `clear` for the
    /// delivered, `error` for the failed. Records not reached (Ctrl-C, --max-events)
    /// stay reserved and journaled for the next run.
    async fn deliver_reservation(
        &mut self,
        process_id: &str,
        records: &[OfflineRecord],
        earlier: &Pending,
    ) -> anyhow::Result<()> {
        let mut to_clear = Vec::new();
        let mut to_error = Vec::new();
        let mut complete = true;
        for record in records {
            if earlier.done.contains(&record.message_id) {
                to_clear.push(record.message_id.clone());
                continue;
            }
            if earlier.failed.contains(&record.message_id) {
                to_error.push(record.message_id.clone());
                continue;
            }
            if self.ctx.shutdown.is_requested() || self.limit_reached() {
                complete = false;
                break;
            }
            let delivered = self.deliver_one(record, Some(process_id)).await;
            self.journal.record(&record.message_id, delivered)?;
            if delivered {
                self.delivered += 1;
                to_clear.push(record.message_id.clone());
            } else {
                self.failed += 1;
                to_error.push(record.message_id.clone());
            }
        }
        self.confirm(process_id, to_clear, to_error).await?;
        if complete {
            self.journal.finish()?;
        } else {
            self.ctx.out.info(&format!(
                "Stopped inside reservation {process_id}; its undelivered records stay reserved and the next run delivers them"
            ));
        }
        Ok(())
    }

    async fn confirm(
        &mut self,
        process_id: &str,
        to_clear: Vec<String>,
        to_error: Vec<String>,
    ) -> anyhow::Result<()> {
        let journal = self.journal.path().display().to_string();
        let advice = |error: ApiError| {
            anyhow::Error::from(error).context(format!(
                "confirming reservation {process_id} failed; nothing is lost: the next `offline consume` re-reads it and confirms without delivering again (journal {journal})"
            ))
        };
        if !to_clear.is_empty() {
            offline::clear(
                &self.client,
                process_id,
                &ClearSelection::MessageIds(to_clear),
                &self.connector,
            )
            .await
            .map_err(advice)?;
        }
        if !to_error.is_empty() {
            offline::mark_errors(&self.client, process_id, &to_error, &self.connector)
                .await
                .map_err(advice)?;
        }
        Ok(())
    }

    /// Delivers records taken with a destructive read (`--allow-loss`): they are
    /// already gone from the queue, so all are delivered even after Ctrl-C, and a
    /// failure loses the record.
    async fn deliver_taken(&mut self, records: &[OfflineRecord]) {
        for record in records {
            if self.deliver_one(record, None).await {
                self.delivered += 1;
            } else {
                self.lost += 1;
                self.ctx.out.alert(&format!(
                    "record {} [{}] is lost: it was taken with a destructive read (--allow-loss) and its delivery failed",
                    record.id, record.message_id
                ));
            }
        }
    }
}
