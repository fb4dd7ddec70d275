//! `offline consume`: reserve → deliver → confirm, at least once and resumable.
//!
//! Every step is journaled before the portal is asked to act on it: the request for
//! a reservation (so a reservation whose answer was lost can be found again), the
//! reservation with its size and `error` flag (so a resume re-reads all of it), and
//! each delivery (so a resume confirms without delivering again). The journal is
//! synced before every confirmation: nothing is cleared that was not delivered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::async_journal::AsyncJournal;
use super::dead_letter::{DeadLetter, DeadLetters};
use super::journal::{Intent, Journal, Pending, Settled};
use super::notify::Wakeups;
use super::notify_session::Session;
use super::portal_form::{InstallerTokens, PortalIdentity};
use super::sink::{DeliveryError, Origin, Sink};
use crate::bitrix::offline::{
    self, ClearSelection, Extent, GetQuery, MessageId, OfflineRecord, ProcessId,
};
use crate::bitrix::{ApiError, Client};
use crate::cli::{ConsumeArgs, ForwardFormat};
use crate::commands::context::Context;
use crate::commands::errors::explain_offline_error;
use crate::commands::errors::CliError;
use crate::support::offload;

/// Records reserved per `event.offline.get` unless `--limit` says otherwise.
/// Each reservation costs two requests (get, clear); at 500 records a 10,000-record
/// backlog takes 41 requests, within the standard plan's burst of 50, so the portal's
/// limit never stalls a drain. See docs/offline.md.
pub(super) const DEFAULT_LIMIT: u32 = 500;

/// A delivery slower than this is logged as a warning.
const SLOW_HANDLER: Duration = Duration::from_secs(2);

/// Longest wait between attempts while the portal is unreachable.
const MAX_ERROR_BACKOFF: Duration = Duration::from_secs(60);

pub(super) struct Consumer<'a> {
    ctx: &'a Context,
    client: Client,
    sink: Arc<Sink>,
    /// `--parallel`: records delivered at once (1 keeps the queue's order).
    parallel: usize,
    /// `--hydrate`: fetch each record's object before delivering it.
    hydrate: bool,
    journal: AsyncJournal,
    dead_letters: DeadLetters,
    connector: Option<String>,
    /// `--event`: reserve only these, one EVENT_NAME filter at a time, in turn.
    events: Vec<String>,
    max_events: Option<u64>,
    follow: bool,
    /// Least time between idle polls: two requests' worth of the profile's rate.
    min_gap: Duration,
    delivered: u64,
    failed: u64,
    dead: u64,
    lost: u64,
    /// Written to stdout, then left reserved because the reader went away before
    /// it provably took them: the next run delivers them again.
    unconfirmed: u64,
    /// stdout cannot take more: stop, and confirm nothing more. `Some(None)` when
    /// its reader went away (a normal end), `Some(Some(why))` when writing failed.
    sink_closed: Option<Option<String>>,
    progress: Option<ProgressBar>,
    /// Log lines of records gathered for stdout, written with them.
    gathered_log: std::sync::Mutex<String>,
    /// The portal records come from, when one process drains many.
    origin: Option<Arc<Origin>>,
    /// Most reservations to take before returning (a fleet turn); `None` drains.
    turn: Option<u32>,
    reservations: u32,
    /// The queue was found empty (a fleet turn then rests the portal).
    pub(super) saw_empty: bool,
    /// `--notify-listen`: the portal's notifications end an idle rest at once.
    wakeups: Option<Arc<Wakeups>>,
    /// After a notification: when to look once more, for the changes the
    /// portal's pause kept quiet (see notify.rs).
    follow_up: Option<Instant>,
}

pub(crate) async fn run(ctx: &Context, args: &ConsumeArgs) -> anyhow::Result<()> {
    if args.process_id.is_some() && args.allow_loss {
        return Err(CliError::Usage(
            "--process-id adopts a reservation and confirms it record by record; it cannot be combined with --allow-loss".into(),
        )
        .into());
    }
    super::check_format(args)?;
    let mut sink = Sink::from_args(&args.sink)?;
    let (profile, client) = ctx.connect()?;
    if args.format == ForwardFormat::Portal {
        sink.use_portal_form(portal_identity(ctx, &profile, &client, args).await?);
    }
    sink.publish_from(
        &profile.settings.portal,
        profile.settings.member_id.as_deref(),
    );
    sink.connect().await?;
    let events = event_names(&args.events)?;
    let state_dir = ctx.store.dir().join("state");
    let journal = Journal::open_in(&ctx.store, &profile.name, args.connector.as_deref())?;
    let dead_letters = DeadLetters::new(&state_dir, &profile.name, args.connector.as_deref());
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
    let mut consumer = Consumer::new(
        ctx,
        &profile,
        client,
        Arc::new(sink),
        (journal, dead_letters),
        args,
        events,
    );
    consumer.progress = progress;
    let session = match Session::start(ctx, args, &[&profile]).await {
        Ok(session) => session,
        Err(error) => {
            consumer.release_journal().await;
            return Err(error);
        }
    };
    consumer.wakeups = session.as_ref().map(|s| s.wakeups.clone());
    let started = Instant::now();
    let outcome = consumer.consume(args).await;
    // Lets go of the journal at once: a shared store's lock is released, and
    // the clear its last step asked for is written with it.
    consumer.release_journal().await;
    if let Some(session) = session {
        session.finish(ctx, args, &[&profile]).await;
    }
    if let Some(bar) = &consumer.progress {
        bar.finish_and_clear();
    }
    let extra = |count: u64, what: &str| {
        if count > 0 {
            format!(", {what} {count}")
        } else {
            String::new()
        }
    };
    ctx.out.info(&format!(
        "Delivered {}, failed {}{}{} in {:.1} s; {} request(s) to the portal{}",
        consumer.delivered,
        consumer.failed,
        extra(consumer.dead, "kept as dead letters"),
        extra(consumer.lost, "lost"),
        started.elapsed().as_secs_f64(),
        consumer.client.request_count(),
        unconfirmed_note(consumer.unconfirmed)
    ));
    outcome?;
    // Ctrl-C / SIGTERM first: a stop that cut a wait for stdout's reader short is
    // still an interruption (exit 130), not the reader's normal end.
    if ctx.shutdown.is_requested() {
        return Err(CliError::Interrupted.into());
    }
    match consumer.sink_closed.take() {
        Some(None) => return Ok(()),
        Some(Some(why)) => {
            return Err(CliError::Failed(format!(
                "{why}; nothing of the reservation in hand was confirmed, and the next run delivers it again"
            ))
            .into())
        }
        None => {}
    }
    if consumer.lost > 0 {
        return Err(CliError::Failed(format!(
            "{} record(s) could not be delivered and are lost",
            consumer.lost
        ))
        .into());
    }
    if consumer.dead > 0 {
        return Err(CliError::Failed(format!(
            "{} record(s) failed again while re-processing errors; they are kept in {} (see `bx-events offline dead-letter list`, and `bx-events offline dead-letter replay ...` after a fix)",
            consumer.dead,
            consumer.dead_letters.path().display()
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
    // A run that found nothing says whether error records wait (one request,
    // only then: a draining run keeps to the least requests).
    if consumer.delivered == 0 && !args.errors && args.process_id.is_none() {
        mention_waiting_errors(ctx, &consumer.client, args.connector.as_deref()).await;
    }
    Ok(())
}

/// Says how many error records wait in the queue: a plain run never takes them,
/// and "Delivered 0" alone hides that the handler's failures are still there.
/// One `event.offline.list` request; a failure of it is not the run's.
async fn mention_waiting_errors(ctx: &Context, client: &Client, connector: Option<&str>) {
    let query = offline::ListQuery {
        filter: None,
        order: None,
        errors: Some(true),
        connector: connector.map(str::to_string),
        start: None,
    };
    let Ok(page) = offline::list(client, &query).await else {
        return;
    };
    let waiting = page.total.unwrap_or(page.records.len() as u64);
    if waiting > 0 {
        ctx.out.warn(&format!(
            "{waiting} error record(s) wait in the queue from earlier failures; after fixing the handler, `bx-events offline consume --errors ...` processes them"
        ));
    }
}

/// `--event` names, checked and upper-cased before any request.
pub(super) fn event_names(given: &[String]) -> Result<Vec<String>, CliError> {
    let mut names = Vec::new();
    for name in given {
        let name = crate::bitrix::validate::check_event_name(name).map_err(CliError::Usage)?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// Who `--format portal` requests come from: the profile's portal, `member_id`,
/// application token and, with `--with-tokens`, its access token.
pub(super) async fn portal_identity(
    ctx: &Context,
    profile: &crate::config::ActiveProfile,
    client: &Client,
    args: &ConsumeArgs,
) -> anyhow::Result<PortalIdentity> {
    let stored = if profile.from_env {
        None
    } else {
        ctx.store
            .read_credentials()?
            .profiles
            .get(&profile.name)
            .cloned()
    };
    let application_token = args
        .application_token
        .clone()
        .filter(|t| !t.is_empty())
        .or_else(|| stored.as_ref().and_then(|s| s.application_token.clone()));
    if application_token.is_none() {
        ctx.out.warn("no application token known (pass --application-token or set BX_EVENTS_APPLICATION_TOKEN): handlers that check auth[application_token] will reject these requests");
    }
    if profile.settings.member_id.is_none() {
        ctx.out.warn("the profile does not know the portal's member_id (log in with the authorization-code flow to record it): auth[member_id] is sent empty");
    }
    let mut identity = PortalIdentity::of(profile, application_token);
    if args.with_tokens {
        if let Some(target) = &args.sink.forward_to {
            refuse_tokens_in_clear(target)?;
        }
        let access_token = client.access_token().await?.ok_or_else(|| {
            CliError::Usage("--with-tokens needs an OAuth profile; webhooks have no token".into())
        })?;
        let expires_in = stored
            .as_ref()
            .and_then(|s| s.expires_at)
            .map_or(3600, |at| (at - crate::bitrix::auth::now_unix()).max(0));
        identity.tokens = Some(InstallerTokens {
            access_token,
            expires_in,
            scope: profile.settings.scope.clone().unwrap_or_default(),
            user_id: profile.settings.user_id,
        });
    }
    Ok(identity)
}

/// `--with-tokens` puts the access token in every request: it travels in clear
/// only to this machine, as the tool's own portal URLs do (docs/reliability.md).
fn refuse_tokens_in_clear(target: &str) -> Result<(), CliError> {
    let url = crate::commands::arguments::http_url(target, "--forward-to")?;
    let local = url
        .host_str()
        .is_some_and(crate::bitrix::auth::is_loopback_host);
    if url.scheme() == "http" && !local {
        return Err(CliError::Usage(format!(
            "--with-tokens would send the access token in clear to {}: use an https:// handler, or a loopback address (127.0.0.1, localhost)",
            url.host_str().unwrap_or_default()
        )));
    }
    Ok(())
}

/// The summary's word on records written to stdout but not confirmed.
pub(super) fn unconfirmed_note(count: u64) -> String {
    if count == 0 {
        String::new()
    } else {
        format!("; {count} written to stdout but not confirmed (stdout closed before they were provably read): they stay reserved for the next run")
    }
}

/// Errors worth waiting out in `--follow` mode.
fn is_transient(error: &ApiError) -> bool {
    error.is_temporary()
        || matches!(error, ApiError::Network { .. })
        || matches!(error, ApiError::Portal { status, .. } if *status >= 500)
        || matches!(error, ApiError::BadResponse { status, .. } if *status >= 500)
}

impl<'a> Consumer<'a> {
    /// A consumer of one profile's queue, delivering to `sink`.
    pub(super) fn new(
        ctx: &'a Context,
        profile: &crate::config::ActiveProfile,
        client: Client,
        sink: Arc<Sink>,
        (journal, dead_letters): (Journal, DeadLetters),
        args: &ConsumeArgs,
        events: Vec<String>,
    ) -> Self {
        Self {
            ctx,
            client,
            sink,
            parallel: usize::from(args.parallel),
            hydrate: args.hydrate,
            journal: AsyncJournal::new(journal),
            dead_letters,
            connector: args.connector.clone().filter(|c| !c.is_empty()),
            events,
            max_events: args.max_events,
            follow: args.follow,
            min_gap: profile.rate_limit.limit().map_or(Duration::ZERO, |limit| {
                Duration::from_secs_f64(2.0 / limit.per_second.max(0.001))
            }),
            delivered: 0,
            failed: 0,
            dead: 0,
            lost: 0,
            unconfirmed: 0,
            sink_closed: None,
            progress: None,
            gathered_log: std::sync::Mutex::new(String::new()),
            origin: None,
            turn: None,
            reservations: 0,
            saw_empty: false,
            wakeups: None,
            follow_up: None,
        }
    }

    /// One fleet turn: at most `reservations` reservations from this portal, for
    /// records from `origin`; the fleet scheduler waits between polls itself.
    pub(super) fn for_turn(
        mut self,
        origin: Origin,
        reservations: u32,
        max_events: Option<u64>,
    ) -> Self {
        self.origin = Some(Arc::new(origin));
        self.turn = Some(reservations);
        self.follow = false;
        self.max_events = max_events;
        self
    }

    /// The client back, for the portal's next turn.
    pub(super) fn into_client(self) -> Client {
        self.client
    }

    /// Delivered, failed, dead letters, lost, and written but not confirmed.
    pub(super) fn counts(&self) -> [u64; 5] {
        [
            self.delivered,
            self.failed,
            self.dead,
            self.lost,
            self.unconfirmed,
        ]
    }

    /// Why stdout can take no more, once it cannot: `Some(None)` when its reader
    /// went away, `Some(Some(why))` when writing failed.
    pub(super) fn sink_closed(&self) -> Option<Option<String>> {
        self.sink_closed.clone()
    }

    fn log(&self, line: &str) {
        if self.ctx.out.quiet {
            return;
        }
        match &self.progress {
            Some(bar) => bar.println(crate::output::printable(line)),
            // Lines gathered for stdout are logged together when they are
            // written out (one `write` per reservation instead of per record).
            None if self.sink.is_gathered() => {
                let mut log = self.gathered_log.lock().unwrap_or_else(|p| p.into_inner());
                log.push_str(&crate::output::printable(line));
                log.push('\n');
            }
            None => self.ctx.out.info(line),
        }
    }

    /// Writes the log lines gathered since the last call.
    fn write_gathered_log(&self) {
        let lines =
            std::mem::take(&mut *self.gathered_log.lock().unwrap_or_else(|p| p.into_inner()));
        self.ctx.out.info_lines(&lines);
    }

    fn handled(&self) -> u64 {
        self.delivered + self.failed + self.dead + self.lost
    }

    fn stopping(&self) -> bool {
        self.stopping_with(0)
    }

    /// [`Consumer::stopping`], counting `in_flight` deliveries toward --max-events.
    fn stopping_with(&self, in_flight: usize) -> bool {
        self.sink_closed.is_some()
            || self.ctx.shutdown.is_requested()
            || self
                .max_events
                .is_some_and(|max| self.handled() + in_flight as u64 >= max)
    }

    /// Runs a portal step; in `--follow` mode a temporary failure (outage, limit,
    /// 5xx) is waited out with backoff, loudly, until the step succeeds or a stop is
    /// requested. Every step retried this way is safe to repeat.
    async fn patiently<T, F, Fut>(&self, what: &str, mut step: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        let mut wait = Duration::from_secs(1);
        let mut announced = false;
        loop {
            match step().await {
                Ok(value) => {
                    if announced {
                        self.ctx.out.alert("portal reachable again; consuming");
                    }
                    return Ok(value);
                }
                Err(error) if self.follow && is_transient(&error) => {
                    if !announced {
                        self.ctx.out.alert(&format!(
                            "portal unreachable while {what}: {error}; retrying with backoff up to {} s",
                            MAX_ERROR_BACKOFF.as_secs()
                        ));
                        announced = true;
                    }
                    if !self.ctx.shutdown.sleep(wait).await {
                        return Err(error);
                    }
                    wait = (wait * 2).min(MAX_ERROR_BACKOFF);
                }
                Err(error) => return Err(error),
            }
        }
    }

    pub(super) async fn consume(&mut self, args: &ConsumeArgs) -> anyhow::Result<()> {
        let consumed = self.consume_queue(args).await;
        // Lines gathered before a failure still say what reached stdout.
        self.write_gathered_log();
        consumed
    }

    async fn consume_queue(&mut self, args: &ConsumeArgs) -> anyhow::Result<()> {
        if let Some(pending) = self.journal.pending() {
            self.resume(pending).await?;
        }
        if self.stopping() {
            return Ok(());
        }
        if let Some(intent) = self.journal.dangling_intent() {
            self.recover_unrecorded(&intent).await?;
        }
        if let Some(process_id) = &args.process_id {
            if !self.stopping() {
                self.adopt(process_id, None).await?;
            }
            return Ok(());
        }
        let poll = Duration::from_secs_f64(super::poll_interval(args));
        let mut idle_wait = poll;
        let limit = args.limit.unwrap_or(DEFAULT_LIMIT);
        // With --event, one reservation per event name in turn; the queue counts as
        // empty once a whole round found nothing.
        let mut turn = 0usize;
        let mut empty_in_a_row = 0usize;
        let round = self.events.len().max(1);
        // While `event.offline.get` fails in --follow mode: the pause before the
        // next attempt.
        let mut get_outage: Option<Duration> = None;
        while !self.stopping() {
            let remaining = self.max_events.map(|max| max - self.handled());
            let want = remaining.map_or(limit, |r| limit.min(u32::try_from(r).unwrap_or(u32::MAX)));
            let filter = self
                .events
                .get(turn % round)
                .map(|name| serde_json::json!({ "=EVENT_NAME": name }));
            turn += 1;
            let query = GetQuery {
                limit: Some(want),
                errors: args.errors,
                connector: self.connector.clone(),
                clear: args.allow_loss,
                filter,
                ..GetQuery::default()
            };
            if !args.allow_loss {
                self.journal.intend(want, args.errors).await?;
            }
            // A look at or after the follow-up time is the follow-up.
            if self.follow_up.is_some_and(|at| at <= Instant::now()) {
                self.follow_up = None;
            }
            let answer = offline::get(&self.client, &query).await;
            let reservation = match answer {
                Ok(reservation) => {
                    if get_outage.take().is_some() {
                        self.ctx.out.alert("portal reachable again; consuming");
                    }
                    reservation
                }
                // The request may have reserved records before its answer was
                // lost: asking again would leave that reservation to nobody. Look
                // for it first, as a fresh run does, and adopt it.
                Err(error) if self.follow && is_transient(&error) => {
                    let wait = match get_outage {
                        None => {
                            self.ctx.out.alert(&format!(
                                "portal unreachable while reserving records: {error}; retrying with backoff up to {} s",
                                MAX_ERROR_BACKOFF.as_secs()
                            ));
                            Duration::from_secs(1)
                        }
                        Some(wait) => (wait * 2).min(MAX_ERROR_BACKOFF),
                    };
                    get_outage = Some(wait);
                    if !self.ctx.shutdown.sleep(wait).await {
                        return Err(explain_offline_error(error, true));
                    }
                    if !args.allow_loss {
                        if let Some(intent) = self.journal.dangling_intent() {
                            self.recover_unrecorded(&intent).await?;
                        }
                    }
                    continue;
                }
                Err(error) => {
                    // The intent stays in the journal when the answer is uncertain:
                    // the next run looks for what this request may have reserved.
                    if !args.allow_loss && !is_transient(&error) {
                        self.journal.resolve_intent().await?;
                    }
                    return Err(explain_offline_error(error, !args.allow_loss));
                }
            };
            if reservation.events.is_empty() {
                if !args.allow_loss {
                    self.journal.resolve_intent().await?;
                }
                self.saw_empty = true;
                empty_in_a_row += 1;
                let round_done = empty_in_a_row >= round;
                if round_done {
                    empty_in_a_row = 0;
                }
                if !self.follow {
                    if round_done {
                        break;
                    }
                    continue;
                }
                self.status("queue empty; waiting for events");
                if let Some(wakeups) = self.wakeups.clone() {
                    // Woken by the portal: a round of `--event` polls runs at
                    // once, then the drain rests until told (or the safety poll).
                    if round_done && !self.rest_until_woken(&wakeups, poll).await {
                        break;
                    }
                    continue;
                }
                // While idle, a round of `--event` polls takes the poll interval, and
                // polls stay at least `min_gap` apart: about one a second on the
                // standard plan, whatever the number of events.
                let gap = (idle_wait / round as u32).max(self.min_gap);
                if !self.ctx.shutdown.sleep(gap).await {
                    break;
                }
                if round_done {
                    idle_wait = (idle_wait.mul_f64(1.5)).min(poll * 8);
                }
                continue;
            }
            idle_wait = poll;
            empty_in_a_row = 0;
            // A kill after the portal answered, before the journal heard of it.
            if crate::support::failpoint::due("consume-after-get") {
                // Tests: die as a kill -9 would, after the portal answered and before
                // the journal learnt the reservation.
                std::process::abort();
            }
            // Fewer records than asked for: the queue was nearly empty.
            let short = reservation.events.len() < want as usize;
            match reservation.process_id {
                Some(process_id) => {
                    let ids = reservation
                        .events
                        .iter()
                        .map(|r| r.message_id.clone())
                        .collect();
                    let pending = self.journal.begin(&process_id, args.errors, ids).await?;
                    self.deliver_reservation(&pending, &reservation.events)
                        .await?;
                }
                None => self.deliver_taken(&reservation.events).await,
            }
            self.reservations += 1;
            // A fleet turn ends after its reservations, but one that came back
            // short is followed by the look that finds the queue empty in the
            // same turn, rather than in a turn of its own that opens the journal
            // again (a lock, a read and a write, round trips to a shared store).
            let may_look_again = short && self.turn == Some(self.reservations);
            if self.turn.is_some_and(|most| self.reservations >= most) && !may_look_again {
                break;
            }
        }
        Ok(())
    }

    /// Rests an idle drain until a notification, the follow-up look after the
    /// last one, the safety poll or a stop, whichever comes first; false on a
    /// stop.
    async fn rest_until_woken(&mut self, wakeups: &Wakeups, safety: Duration) -> bool {
        let mut until = Instant::now() + safety;
        if let Some(at) = self.follow_up {
            until = until.min(at);
        }
        tokio::select! {
            () = wakeups.notified() => {
                wakeups.take();
                self.follow_up = Some(Instant::now() + wakeups.follow_up());
                true
            }
            () = tokio::time::sleep_until(until.into()) => true,
            () = self.ctx.shutdown.requested() => false,
        }
    }

    /// Finishes a reservation an earlier run left unconfirmed: re-reads all of it
    /// (its recorded size as `limit`, its `error` flag) and delivers what the
    /// journal does not show as delivered.
    async fn resume(&mut self, pending: Pending) -> anyhow::Result<()> {
        self.ctx.out.info(&format!(
            "Resuming reservation {} left unconfirmed by an earlier run ({} delivered, {} failed before it stopped; journal {})",
            pending.process_id,
            pending.done.len() + pending.dead.len(),
            pending.failed.len(),
            self.journal.location()
        ));
        let size = u64::from(pending.size).max(pending.message_ids.len() as u64);
        let extent = if size > 0 {
            Extent {
                records: size,
                errors: pending.errors,
            }
        } else {
            self.measure(&pending.process_id).await?
        };
        let records = self.reread(&pending.process_id, extent).await?;
        self.deliver_reservation(&pending, &records).await
    }

    async fn measure(&self, process_id: &ProcessId) -> anyhow::Result<Extent> {
        self.patiently("measuring a reservation", || {
            offline::extent(&self.client, process_id, &self.connector)
        })
        .await
        .map_err(|e| explain_offline_error(e, true))
    }

    async fn reread(
        &self,
        process_id: &ProcessId,
        extent: Extent,
    ) -> anyhow::Result<Vec<OfflineRecord>> {
        self.patiently("re-reading a reservation", || {
            offline::reread(&self.client, process_id, extent, &self.connector)
        })
        .await
        .map_err(|e| explain_offline_error(e, true))
    }

    /// Takes over a reservation nobody will confirm (left by `offline get`, a
    /// consumer on another machine, or an interrupted run) and finishes it.
    async fn adopt(
        &mut self,
        process_id: &ProcessId,
        extent: Option<Extent>,
    ) -> anyhow::Result<()> {
        let extent = match extent {
            Some(extent) => extent,
            None => self.measure(process_id).await?,
        };
        if extent.records == 0 {
            self.ctx.out.info(&format!(
                "Reservation {process_id} holds no records (already confirmed, or deleted by the portal's cleanup)"
            ));
            return Ok(());
        }
        self.ctx.out.info(&format!(
            "Adopting reservation {process_id}: {} {}record(s)",
            extent.records,
            if extent.errors { "error " } else { "" }
        ));
        let records = self.reread(process_id, extent).await?;
        let ids = records.iter().map(|r| r.message_id.clone()).collect();
        let pending = self.journal.begin(process_id, extent.errors, ids).await?;
        self.deliver_reservation(&pending, &records).await
    }

    /// An earlier run asked for a reservation and was stopped before it could
    /// journal the answer. Its reservation, if the portal made one, is the one
    /// reservation of this queue (and `error` flag) that no journal here knows and
    /// that fits the request's limit: adopt it when there is exactly one such;
    /// report them all otherwise (docs/offline.md, "Reservations nobody knows").
    async fn recover_unrecorded(&mut self, intent: &Intent) -> anyhow::Result<()> {
        let found = self
            .patiently("looking for an unrecorded reservation", || {
                offline::reservations(&self.client, intent.errors, &self.connector)
            })
            .await
            .map_err(|e| explain_offline_error(e, true))?;
        let known = self.journal.pending().map(|p| p.process_id.clone());
        let candidates: Vec<&(ProcessId, u64)> = found
            .iter()
            .filter(|(id, _)| known.as_ref() != Some(id))
            .filter(|(_, count)| intent.limit == 0 || *count <= u64::from(intent.limit))
            .collect();
        match candidates.as_slice() {
            [] => self.journal.resolve_intent().await,
            [(process_id, count)] => {
                self.ctx.out.info(&format!(
                    "An earlier run was stopped before it recorded its reservation; found it: {process_id}"
                ));
                let extent = Extent {
                    records: *count,
                    errors: intent.errors,
                };
                self.adopt(process_id, Some(extent)).await
            }
            several => {
                let listing: Vec<String> = several
                    .iter()
                    .map(|(id, count)| format!("{id} ({count} records)"))
                    .collect();
                self.ctx.out.warn(&format!(
                    "an earlier run was stopped before it recorded its reservation, and {} reservations of this queue are unknown here: {}. One of them is probably that run's; the others may belong to consumers elsewhere. Adopt one with `bx-events offline consume --process-id ID ...` once you know it is abandoned",
                    several.len(),
                    listing.join(", ")
                ));
                self.journal.resolve_intent().await
            }
        }
    }

    /// Lets go of the queue's journal before this consumer is dropped, so the
    /// portal's next turn in a fleet finds it free at once.
    pub(super) async fn release_journal(&self) {
        self.journal.release().await;
    }

    fn status(&self, message: &str) {
        if let Some(bar) = &self.progress {
            bar.set_message(format!(
                "delivered {}, failed {}: {message}",
                self.delivered, self.failed
            ));
        }
    }

    async fn deliver_one(
        &mut self,
        record: &OfflineRecord,
        process_id: Option<&str>,
    ) -> Result<(), DeliveryError> {
        let started = Instant::now();
        let outcome = self
            .sink
            .deliver(record, process_id, self.origin.as_deref())
            .await;
        self.report(record, &outcome, started.elapsed());
        outcome
    }

    /// The log line of one delivery: time, event, the object's id, message id,
    /// outcome and duration.
    fn report(&self, record: &OfflineRecord, outcome: &Result<(), DeliveryError>, took: Duration) {
        if self.ctx.out.quiet {
            // `-q` prints none of these lines: spare their formatting (and the
            // clock's time zone) on every record.
            self.status("consuming");
            return;
        }
        let millis = took.as_millis();
        // Time, event, the object's id when the record has one, message id.
        let at = chrono::Local::now().format("%H:%M:%S");
        let object = record.data["FIELDS"]["ID"]
            .as_str()
            .map(str::to_string)
            .or_else(|| record.data["FIELDS"]["ID"].as_i64().map(|n| n.to_string()))
            .map(|id| format!(" id={id}"))
            .unwrap_or_default();
        let from = self
            .origin
            .as_ref()
            .map(|origin| format!("{} ", origin.profile))
            .unwrap_or_default();
        let what = format!(
            "{at} --> {from}{}{object} [{}]",
            record.event, record.message_id
        );
        match outcome {
            Ok(()) if took > SLOW_HANDLER => self.ctx.out.warn(&format!(
                "{what} ok but slow: {millis} ms (the portal calls slow handlers less often)"
            )),
            // A line on stdout is only written: it counts once the reader took it.
            Ok(()) if self.sink.is_gathered() => self.log(&format!("{what} written")),
            Ok(()) => self.log(&format!("{what} ok {millis} ms")),
            Err(DeliveryError::Closed { .. }) => {}
            Err(why) => self
                .ctx
                .out
                .warn(&format!("{what} failed ({why}) {millis} ms")),
        }
        self.status("consuming");
    }

    /// Delivers the records of a reservation, then confirms: `clear` for the
    /// delivered (and dead-lettered), `error` for the failed. Records not reached
    /// (Ctrl-C, --max-events) stay reserved and journaled for the next run.
    async fn deliver_reservation(
        &mut self,
        pending: &Pending,
        records: &[OfflineRecord],
    ) -> anyhow::Result<()> {
        let process_id = &pending.process_id;
        let hydrated = if self.hydrate {
            Some(self.with_objects(pending, records).await)
        } else {
            None
        };
        let records = hydrated.as_deref().unwrap_or(records);
        let mut to_clear = Vec::new();
        let mut to_error = Vec::new();
        let mut todo = Vec::new();
        for record in records {
            let id = &record.message_id;
            if pending.done.contains(id) || pending.dead.contains(id) {
                to_clear.push(id.clone());
            } else if pending.failed.contains(id) {
                to_error.push(id.clone());
            } else {
                todo.push(record);
            }
        }
        let mut settled = Settlement {
            to_clear,
            to_error,
            closed: false,
        };
        if self.sink.publishes() {
            // The whole reservation as one batch; the lanes are not needed.
            let all: Vec<OfflineRecord> = todo.into_iter().cloned().collect();
            self.publish_reservation(pending, all, &mut settled).await?;
            return self.finish_reservation(pending, settled, true).await;
        }
        let mut lanes = Lanes::new(&todo, self.parallel);
        if self.parallel <= 1 {
            // One at a time, in this task: no task hand-off per record.
            while !self.stopping() {
                let Some((lane, record)) = lanes.start_next() else {
                    break;
                };
                let started = Instant::now();
                let outcome = self
                    .sink
                    .deliver(&record, Some(process_id), self.origin.as_deref())
                    .await;
                lanes.finish(lane);
                self.settle(pending, record, outcome, started.elapsed(), &mut settled)
                    .await?;
                self.journal_settled().await?;
            }
        } else {
            let mut running = tokio::task::JoinSet::new();
            loop {
                // Start deliveries while there is room, work, and no reason to stop;
                // a record counts toward --max-events from the moment it starts.
                while !settled.closed
                    && running.len() < self.parallel
                    && !self.stopping_with(running.len())
                {
                    let Some((lane, record)) = lanes.start_next() else {
                        break;
                    };
                    let sink = self.sink.clone();
                    let origin = self.origin.clone();
                    let process_id = process_id.to_string();
                    running.spawn(async move {
                        let started = Instant::now();
                        let outcome = sink
                            .deliver(&record, Some(&process_id), origin.as_deref())
                            .await;
                        (lane, record, outcome, started.elapsed())
                    });
                }
                let Some(joined) = running.join_next().await else {
                    break;
                };
                // Every delivery finished by now is settled before the journal is
                // written once for all of them: one write (and one hand-off to a
                // blocking thread) per wake-up, not per record. A kill before that
                // write repeats these records, as it would any in flight.
                let mut finished = vec![joined];
                while let Some(more) = running.try_join_next() {
                    finished.push(more);
                }
                for joined in finished {
                    let (lane, record, outcome, took) = anyhow::Context::context(
                        joined,
                        "a delivery task failed; its record stays reserved",
                    )?;
                    lanes.finish(lane);
                    self.settle(pending, record, outcome, took, &mut settled)
                        .await?;
                }
                self.journal_settled().await?;
            }
        }
        let complete = lanes.is_empty();
        self.finish_reservation(pending, settled, complete).await
    }

    /// After the deliveries: confirms what the journal now holds (`clear` for
    /// the delivered, `error` for the failed), or, when the sink closed,
    /// nothing. `complete`: every record of the reservation was reached.
    async fn finish_reservation(
        &mut self,
        pending: &Pending,
        mut settled: Settlement,
        complete: bool,
    ) -> anyhow::Result<()> {
        let process_id = &pending.process_id;
        // Gathered stdout lines reach the reader before the journal calls them done.
        self.write_gathered_log();
        if !settled.closed {
            if let Err(error) = self.sink.flush(&self.ctx.shutdown).await {
                self.settle_closed(process_id, error, &mut settled);
            }
        }
        let Settlement {
            to_clear,
            to_error,
            closed,
        } = settled;
        if closed {
            // Counted as they were written; none of them is confirmed.
            let written = to_clear.len() as u64 + to_error.len() as u64;
            self.delivered = self.delivered.saturating_sub(to_clear.len() as u64);
            self.failed = self.failed.saturating_sub(to_error.len() as u64);
            self.unconfirmed += written;
            self.journal.forget_outcomes(process_id).await?;
            return Ok(());
        }
        self.journal.sync().await?;
        self.confirm(process_id, to_clear, to_error).await?;
        if complete {
            self.journal.finish(process_id).await?;
        } else {
            self.ctx.out.info(&format!(
                "Stopped inside reservation {process_id}; its undelivered records stay reserved and the next run delivers them"
            ));
        }
        Ok(())
    }

    /// `--publish`: the reservation's records to deliver, as one batch; each is
    /// settled (journaled) by what the message system said of it. While the
    /// system is away, `--follow` waits and publishes the batch again (backing
    /// off up to a minute); otherwise the run ends with nothing of the
    /// reservation confirmed.
    async fn publish_reservation(
        &mut self,
        pending: &Pending,
        records: Vec<OfflineRecord>,
        settled: &mut Settlement,
    ) -> anyhow::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let mut outage: Option<Duration> = None;
        let outcomes = loop {
            let batch: Vec<&OfflineRecord> = records.iter().collect();
            match self.sink.publish(&batch, self.origin.as_deref()).await {
                Ok(outcomes) => {
                    if outage.is_some() {
                        self.ctx
                            .out
                            .alert("message system reachable again; publishing");
                    }
                    break outcomes;
                }
                Err(super::publish::Unavailable(why)) => {
                    let what = format!(
                        "cannot publish to {why}; nothing of reservation {} was confirmed",
                        pending.process_id
                    );
                    if !self.follow {
                        return Err(CliError::Failed(format!(
                            "{what}, and the next run publishes it again"
                        ))
                        .into());
                    }
                    let wait = match outage {
                        None => {
                            self.ctx.out.alert(&format!(
                                "{what}; retrying with backoff up to {} s",
                                MAX_ERROR_BACKOFF.as_secs()
                            ));
                            Duration::from_secs(1)
                        }
                        Some(wait) => (wait * 2).min(MAX_ERROR_BACKOFF),
                    };
                    outage = Some(wait);
                    if !self.ctx.shutdown.sleep(wait).await {
                        return Err(CliError::Interrupted.into());
                    }
                }
            }
        };
        if crate::support::failpoint::due("publish-after-ack") {
            // Tests: die as a kill -9 would, after the system acknowledged the
            // batch and before the journal learnt it.
            std::process::abort();
        }
        let took = started.elapsed() / records.len() as u32;
        for (record, outcome) in records.into_iter().zip(outcomes) {
            let outcome = outcome.map_err(DeliveryError::Failed);
            self.settle(pending, record, outcome, took, settled).await?;
        }
        self.journal_settled().await
    }

    /// The reservation's records, those still to deliver with their objects
    /// (`--hydrate`): one `batch` request per 50 distinct objects.
    async fn with_objects(
        &self,
        pending: &Pending,
        records: &[OfflineRecord],
    ) -> Vec<OfflineRecord> {
        let mut records = records.to_vec();
        let settled = |record: &OfflineRecord| {
            let id = &record.message_id;
            pending.done.contains(id) || pending.dead.contains(id) || pending.failed.contains(id)
        };
        let unsettled: Vec<usize> = (0..records.len())
            .filter(|&i| !settled(&records[i]))
            .collect();
        let mut fetched: Vec<OfflineRecord> =
            unsettled.iter().map(|&i| records[i].clone()).collect();
        crate::bitrix::hydrate::hydrate(&self.client, &mut fetched).await;
        for (index, record) in unsettled.into_iter().zip(fetched) {
            records[index] = record;
        }
        records
    }

    /// Journals and counts one delivery's outcome.
    async fn settle(
        &mut self,
        pending: &Pending,
        record: OfflineRecord,
        outcome: Result<(), DeliveryError>,
        took: Duration,
        settled: &mut Settlement,
    ) -> anyhow::Result<()> {
        self.report(&record, &outcome, took);
        let id = record.message_id.clone();
        match outcome {
            Ok(()) => {
                self.journal.record(&id, Settled::Done)?;
                self.delivered += 1;
                settled.to_clear.push(id);
            }
            Err(closed @ DeliveryError::Closed { .. }) => {
                self.settle_closed(&pending.process_id, closed, settled);
            }
            Err(DeliveryError::Failed(why)) if pending.errors => {
                // Already an error record: the portal cannot release it again, so
                // it is kept locally before it is cleared from the queue.
                let letter = DeadLetter {
                    record: serde_json::to_value(&record)?,
                    reason: why,
                    process_id: pending.process_id.to_string(),
                    failed_at: crate::bitrix::auth::now_unix(),
                };
                let dead_letters = self.dead_letters.clone();
                offload::blocking(move || dead_letters.keep(&letter)).await??;
                self.journal.record(&id, Settled::Dead)?;
                self.journal.flush().await?;
                self.dead += 1;
                settled.to_clear.push(id);
            }
            Err(DeliveryError::Failed(_)) => {
                self.journal.record(&id, Settled::Failed)?;
                self.failed += 1;
                settled.to_error.push(id);
            }
        }
        Ok(())
    }

    /// Writes the outcomes [`Consumer::settle`] recorded to the journal: a
    /// handler or endpoint has acted on those records, so a crash must repeat
    /// at most the records still in its hands. Gathered stdout lines are
    /// journaled after they are written (at the end of the reservation).
    async fn journal_settled(&self) -> anyhow::Result<()> {
        if !self.sink.is_gathered() {
            self.journal.flush().await?;
        }
        Ok(())
    }

    /// What was written lately may sit unread in the pipe: trust none of this
    /// reservation's deliveries and confirm nothing.
    fn settle_closed(&mut self, process_id: &str, error: DeliveryError, settled: &mut Settlement) {
        if let (false, DeliveryError::Closed { by_reader, why }) = (settled.closed, error) {
            self.sink_closed = Some((!by_reader).then(|| why.clone()));
            self.ctx.out.warn(&format!(
                "{why}; reservation {process_id} stays reserved and the next run delivers its records again"
            ));
        }
        settled.closed = true;
    }

    async fn confirm(
        &mut self,
        process_id: &ProcessId,
        to_clear: Vec<MessageId>,
        to_error: Vec<MessageId>,
    ) -> anyhow::Result<()> {
        let journal = self.journal.location().to_string();
        let advice = |error: ApiError| {
            anyhow::Error::from(error).context(format!(
                "confirming reservation {process_id} failed; nothing is lost: the next `offline consume` re-reads it and confirms without delivering again (journal {journal})"
            ))
        };
        // Clearing and marking by MESSAGE_ID may be repeated safely: a repeat finds
        // nothing left to change.
        if !to_clear.is_empty() {
            let selection = ClearSelection::MessageIds(to_clear);
            self.patiently("confirming delivered records", || {
                offline::clear(&self.client, process_id, &selection, &self.connector)
            })
            .await
            .map_err(advice)?;
        }
        if !to_error.is_empty() {
            self.patiently("marking failed records", || {
                offline::mark_errors(&self.client, process_id, &to_error, &self.connector)
            })
            .await
            .map_err(advice)?;
        }
        Ok(())
    }

    /// Delivers records taken with a destructive read (`--allow-loss`): they are
    /// already gone from the queue, so all are delivered even after Ctrl-C, and a
    /// failure loses the record.
    async fn deliver_taken(&mut self, records: &[OfflineRecord]) {
        let mut hydrated = Vec::new();
        if self.hydrate {
            hydrated = records.to_vec();
            crate::bitrix::hydrate::hydrate(&self.client, &mut hydrated).await;
        }
        let records = if self.hydrate { &hydrated[..] } else { records };
        for record in records {
            if self.deliver_one(record, None).await.is_ok() {
                self.delivered += 1;
            } else {
                self.lost += 1;
                self.ctx.out.alert(&format!(
                    "record {} [{}] is lost: it was taken with a destructive read (--allow-loss) and its delivery failed",
                    record.id, record.message_id
                ));
            }
        }
        self.write_gathered_log();
        if let Err(DeliveryError::Closed { by_reader, why }) =
            self.sink.flush(&self.ctx.shutdown).await
        {
            self.ctx.out.alert(&format!(
                "{why}: the last records written (taken with a destructive read) may not have reached the reader"
            ));
            self.sink_closed = Some((!by_reader).then_some(why));
        }
    }
}

/// What a reservation's deliveries came to: what to clear, what to mark as an
/// error, and whether the sink closed (then nothing is confirmed).
struct Settlement {
    to_clear: Vec<MessageId>,
    to_error: Vec<MessageId>,
    closed: bool,
}

/// The records of a reservation in delivery lanes. With one delivery at a time
/// there is one lane in queue order; with more, one lane per object (see
/// [`ordering_key`]), so two records of one object never run at once and keep
/// their queue order, while different objects go in parallel.
struct Lanes {
    lanes: Vec<std::collections::VecDeque<OfflineRecord>>,
    /// A lane whose record is being delivered takes no second one.
    busy: Vec<bool>,
}

impl Lanes {
    fn new(records: &[&OfflineRecord], parallel: usize) -> Self {
        let mut lanes: Vec<std::collections::VecDeque<OfflineRecord>> = Vec::new();
        if parallel <= 1 {
            lanes.push(records.iter().map(|r| (*r).clone()).collect());
        } else {
            let mut by_key: std::collections::HashMap<String, usize> =
                std::collections::HashMap::new();
            for record in records {
                let lane = match ordering_key(record) {
                    Some(key) => *by_key.entry(key).or_insert_with(|| {
                        lanes.push(std::collections::VecDeque::new());
                        lanes.len() - 1
                    }),
                    None => {
                        lanes.push(std::collections::VecDeque::new());
                        lanes.len() - 1
                    }
                };
                lanes[lane].push_back((*record).clone());
            }
        }
        let busy = vec![false; lanes.len()];
        Self { lanes, busy }
    }

    /// The next record of an idle lane, in the order the lanes were formed.
    fn start_next(&mut self) -> Option<(usize, OfflineRecord)> {
        let lane = (0..self.lanes.len()).find(|&i| !self.busy[i] && !self.lanes[i].is_empty())?;
        self.busy[lane] = true;
        self.lanes[lane].pop_front().map(|record| (lane, record))
    }

    fn finish(&mut self, lane: usize) {
        self.busy[lane] = false;
    }

    /// Every record was started.
    fn is_empty(&self) -> bool {
        self.lanes.iter().all(|lane| lane.is_empty())
    }
}

/// Which object a record is about: the event's entity (its name without a
/// trailing ADD, UPDATE or DELETE: ONCRMDEALADD and ONCRMDEALUPDATE are both
/// ONCRMDEAL) and `FIELDS.ID`. `None` when the record names no object.
fn ordering_key(record: &OfflineRecord) -> Option<String> {
    let id = &record.data["FIELDS"]["ID"];
    let id = id
        .as_str()
        .map(str::to_string)
        .or_else(|| id.as_i64().map(|n| n.to_string()))?;
    let event = record.event.to_ascii_uppercase();
    let entity = ["ADD", "UPDATE", "DELETE"]
        .iter()
        .find_map(|action| event.strip_suffix(action))
        .unwrap_or(&event);
    Some(format!("{entity}#{id}"))
}

#[cfg(test)]
mod lane_tests {
    use super::*;

    fn record(event: &str, id: &str, n: u64) -> OfflineRecord {
        OfflineRecord {
            id: n,
            message_id: MessageId::parse(&format!("{n:032x}")).unwrap(),
            event: event.into(),
            timestamp: String::new(),
            data: serde_json::json!({"FIELDS": {"ID": id}}),
            additional: serde_json::Value::Null,
            object: None,
            object_error: None,
        }
    }

    #[test]
    fn one_object_stays_in_one_lane_in_queue_order() {
        let records = [
            record("ONCRMDEALADD", "7", 1),
            record("ONCRMDEALADD", "8", 2),
            record("ONCRMDEALUPDATE", "7", 3),
            record("ONTASKADD", "7", 4),
        ];
        let refs: Vec<&OfflineRecord> = records.iter().collect();
        let mut lanes = Lanes::new(&refs, 4);
        let (deal7, first) = lanes.start_next().unwrap();
        assert_eq!(first.id, 1);
        let (_, second) = lanes.start_next().unwrap();
        assert_eq!(second.id, 2, "another deal runs beside it");
        let (_, third) = lanes.start_next().unwrap();
        assert_eq!(third.id, 4, "deal 7's update waits for its add");
        assert!(lanes.start_next().is_none());
        lanes.finish(deal7);
        assert_eq!(lanes.start_next().unwrap().1.id, 3);
        assert!(lanes.is_empty());
    }

    #[test]
    fn one_at_a_time_keeps_the_queue_order() {
        let records = [record("ONTASKADD", "1", 1), record("ONTASKADD", "2", 2)];
        let refs: Vec<&OfflineRecord> = records.iter().collect();
        let mut lanes = Lanes::new(&refs, 1);
        let (lane, first) = lanes.start_next().unwrap();
        assert_eq!(first.id, 1);
        assert!(lanes.start_next().is_none());
        lanes.finish(lane);
        assert_eq!(lanes.start_next().unwrap().1.id, 2);
    }
}
