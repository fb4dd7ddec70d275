//! `offline consume --all-profiles` (or `--profiles`, `--profiles-from`): one
//! process drains many portals' queues in turns.
//!
//! - Fair: at most `--concurrency` portals are worked at once, one reservation
//!   per turn, in round-robin order, so one deep queue cannot starve the rest.
//!   A short reservation (the queue nearly empty) is followed in the same turn
//!   by the look that finds the queue empty.
//! - Split across processes: a turn holds the portal's consume journal lock (the
//!   same lock a single `offline consume` takes). A portal another process is
//!   working is passed by and tried again later, so processes sharing a config
//!   directory never work one queue at once and never take a reservation twice.
//! - Nothing lost: a reservation left by a process that died (kill -9) stays in
//!   the portal's journal, and whichever process takes that portal's next turn
//!   finishes it before reserving anything new.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::consume::{event_names, portal_identity, Consumer};
use super::dead_letter::DeadLetters;
use super::journal::Journal;
use super::notify_session::Session;
use super::sink::{Origin, Sink};
use crate::bitrix::Client;
use crate::cli::{ConsumeArgs, ForwardFormat};
use crate::commands::context::Context;
use crate::commands::errors::CliError;
use crate::commands::fleet::{targets, Target};
use crate::config::ActiveProfile;
use crate::support::offload;

/// Reservations a portal gets per turn before the next portal's turn.
const RESERVATIONS_PER_TURN: u32 = 1;

/// Longest rest of a portal whose turns keep failing (or finding it busy).
const MAX_REST: Duration = Duration::from_secs(60);

/// One portal's place in the rotation (its profile is kept apart, borrowed by
/// the turns in flight while seats change).
struct Seat {
    /// Kept between turns while the portal has work; dropped when it rests, so
    /// a thousand quiet portals hold no connections.
    client: Option<Client>,
    identity: Option<Box<super::portal_form::PortalIdentity>>,
    /// When its next turn may start.
    due: Instant,
    /// How long it rests after an empty queue (grows while it stays empty).
    idle: Duration,
    /// Failed turns in a row, for the rest after a failure.
    failures: u32,
    /// Without --follow: its queue was found empty, so it is finished.
    drained: bool,
    /// Without --follow: the last failure ended this portal's run.
    failed: Option<String>,
    /// The rest after an empty queue before it grows: the poll interval, or the
    /// safety net's when the portal's notifications wake it.
    poll: Duration,
    /// `--notify-listen`: its notifications wake it, so its rest does not grow.
    notified: bool,
    /// A turn of it is running.
    in_turn: bool,
    /// A notification came during its turn: another turn follows at once.
    woken: bool,
    /// After a notification: when to look once more (see notify.rs).
    follow_up: Option<Instant>,
}

impl Seat {
    /// The portal's notification arrived: its turn comes now, or right after
    /// the one running.
    fn wake(&mut self, follow_up: Duration) {
        let now = Instant::now();
        self.follow_up = Some(now + follow_up);
        if self.in_turn {
            self.woken = true;
        } else {
            self.due = now;
        }
    }
}

/// What one turn came to.
enum TurnOutcome {
    /// Another process holds the portal's journal.
    Busy,
    Worked {
        counts: [u64; 5],
        empty: bool,
        closed: Option<Option<String>>,
        client: Box<Client>,
    },
    /// The turn failed after delivering what the counts say.
    Failed(anyhow::Error, [u64; 5]),
}

/// Totals over the whole run.
#[derive(Default)]
struct Totals {
    delivered: u64,
    failed: u64,
    dead: u64,
    lost: u64,
    unconfirmed: u64,
    requests: u64,
    /// Why stdout can take no more, once it cannot (see `Consumer::sink_closed`).
    closed: Option<Option<String>>,
}

impl Totals {
    fn add(&mut self, [delivered, failed, dead, lost, unconfirmed]: [u64; 5]) {
        self.delivered += delivered;
        self.failed += failed;
        self.dead += dead;
        self.lost += lost;
        self.unconfirmed += unconfirmed;
    }

    fn handled(&self) -> u64 {
        self.delivered + self.failed + self.dead + self.lost
    }
}

/// The portals of the run, their seats in the rotation, and the profiles that
/// could not even be loaded (each warned about).
fn seat_up(
    ctx: &Context,
    args: &ConsumeArgs,
) -> anyhow::Result<(Vec<ActiveProfile>, Vec<Seat>, Vec<String>)> {
    let mut profiles = Vec::new();
    let mut seats = Vec::new();
    let mut unusable = Vec::new();
    for target in targets(ctx, &args.fleet)? {
        match target {
            Target::Ready(profile) => {
                profiles.push(*profile);
                let poll = Duration::from_secs_f64(super::poll_interval(args));
                seats.push(Seat {
                    client: None,
                    identity: None,
                    due: Instant::now(),
                    idle: poll,
                    failures: 0,
                    drained: false,
                    failed: None,
                    poll,
                    notified: false,
                    in_turn: false,
                    woken: false,
                    follow_up: None,
                });
            }
            Target::Unusable { name, error, .. } => {
                ctx.out.warn(&format!("profile '{name}': {error:#}"));
                unusable.push(name);
            }
        }
    }
    Ok((profiles, seats, unusable))
}

pub(super) async fn run(ctx: &Context, args: &ConsumeArgs) -> anyhow::Result<()> {
    if args.process_id.is_some() {
        return Err(CliError::Usage(
            "--process-id adopts one portal's reservation: use it with -p PROFILE, not with --all-profiles or --profiles".into(),
        )
        .into());
    }
    let events = event_names(&args.events)?;
    super::check_format(args)?;
    let sink = Sink::from_args(&args.sink)?;
    sink.connect().await?;
    let sink = Arc::new(sink);
    crate::support::limits::raise_open_file_limit();
    let (profiles, mut seats, unusable) = seat_up(ctx, args)?;
    let listed: Vec<&ActiveProfile> = profiles.iter().collect();
    let session = Session::start(ctx, args, &listed).await?;
    let wakeups = session.as_ref().map(|s| s.wakeups.clone());
    if let Some(session) = &session {
        // Portals whose notifications are not received keep the usual polling.
        let unwoken_poll =
            Duration::from_secs_f64(args.poll_interval.unwrap_or(super::DEFAULT_POLL_SECS));
        for (seat, &woken) in seats.iter_mut().zip(&session.woken) {
            seat.notified = woken;
            if !woken {
                seat.poll = unwoken_poll;
                seat.idle = unwoken_poll;
            }
        }
    }
    ctx.out.info(&format!(
        "Consuming {} portal(s), {} at a time{}",
        seats.len(),
        args.fleet.concurrency,
        if args.follow {
            "; Ctrl-C stops after the turns in hand"
        } else {
            ""
        }
    ));
    let started = Instant::now();
    let mut totals = Totals::default();
    // Round-robin: a seat goes to the back of the line after each turn.
    let mut line: VecDeque<usize> = (0..seats.len()).collect();
    let mut running = FuturesUnordered::new();
    // --max-events is exact only if one turn at a time counts toward it.
    let concurrency = if args.max_events.is_some() {
        1
    } else {
        usize::from(args.fleet.concurrency)
    };
    // Resolves when a portal's notification arrived (never without them).
    let woken = || async {
        match &wakeups {
            Some(wakeups) => wakeups.notified().await,
            None => std::future::pending().await,
        }
    };
    loop {
        if let Some(wakeups) = &wakeups {
            for index in wakeups.take() {
                seats[index].wake(wakeups.follow_up());
            }
        }
        let stop = ctx.shutdown.is_requested()
            || totals.closed.is_some()
            || args.max_events.is_some_and(|max| totals.handled() >= max);
        if !stop {
            // Start the turns of the seats that are due, in line order.
            let now = Instant::now();
            let mut passed = 0;
            while running.len() < concurrency && passed < line.len() {
                let Some(index) = line.pop_front() else { break };
                let (seat, profile) = (&mut seats[index], &profiles[index]);
                if seat.due > now {
                    line.push_back(index);
                    passed += 1;
                    continue;
                }
                passed = 0;
                if seat.follow_up.is_some_and(|at| at <= now) {
                    // This turn's look is the follow-up.
                    seat.follow_up = None;
                }
                let (client, origin) = match prepare(ctx, args, seat, profile).await {
                    Ok(ready) => ready,
                    Err(error) => {
                        finish_failed(ctx, seat, &profile.name, &error, args.follow);
                        if args.follow {
                            line.push_back(index);
                        }
                        continue;
                    }
                };
                seat.in_turn = true;
                seat.woken = false;
                let remaining = args.max_events.map(|max| max - totals.handled());
                let turn = Turn {
                    ctx,
                    args,
                    profile,
                    sink: sink.clone(),
                    events: events.clone(),
                };
                running.push(async move { (index, turn.take(client, origin, remaining).await) });
            }
        }
        if running.is_empty() {
            let open: Vec<usize> = line
                .iter()
                .copied()
                .filter(|&i| args.follow || (!seats[i].drained && seats[i].failed.is_none()))
                .collect();
            if stop || open.is_empty() {
                break;
            }
            // Nothing to do until the next portal is due.
            let next = open
                .iter()
                .map(|&i| seats[i].due)
                .min()
                .unwrap_or_else(Instant::now);
            tokio::select! {
                () = tokio::time::sleep_until(next.max(Instant::now()).into()) => {}
                () = woken() => {}
                () = ctx.shutdown.requested() => break,
            }
            continue;
        }
        // A turn ends, or a resting portal becomes due while a slot is free.
        let next_due = line.iter().map(|&i| seats[i].due).min();
        let turn_done = match next_due {
            Some(due) if running.len() < concurrency && !stop => {
                tokio::select! {
                    done = running.next() => done,
                    _ = tokio::time::sleep_until(due.max(Instant::now()).into()) => None,
                    _ = ctx.shutdown.requested() => None,
                    _ = woken() => None,
                }
            }
            _ => running.next().await,
        };
        let Some((index, outcome)) = turn_done else {
            continue;
        };
        let name = &profiles[index].name;
        seats[index].in_turn = false;
        if settle(ctx, args, &mut seats[index], name, outcome, &mut totals) {
            line.push_back(index);
        }
    }
    if let Some(session) = session {
        session.finish(ctx, args, &listed).await;
    }
    finish(ctx, &totals, &profiles, &seats, &unusable, started)
}

/// A seat's client (kept from its last turn, or new) and where its records come
/// from (with `--format portal`, the portal's own auth, found once).
async fn prepare(
    ctx: &Context,
    args: &ConsumeArgs,
    seat: &mut Seat,
    profile: &ActiveProfile,
) -> anyhow::Result<(Client, Origin)> {
    let client = match seat.client.take() {
        Some(client) => client,
        None => ctx.client_for(profile)?,
    };
    if args.format == ForwardFormat::Portal && seat.identity.is_none() {
        seat.identity = Some(Box::new(
            portal_identity(ctx, profile, &client, args).await?,
        ));
    }
    let origin = Origin {
        profile: profile.name.clone(),
        portal: profile.settings.portal.clone(),
        member_id: profile.settings.member_id.clone(),
        identity: seat.identity.clone(),
    };
    Ok((client, origin))
}

/// Counts what a turn did and decides the seat's next turn; true when it goes
/// back in line.
fn settle(
    ctx: &Context,
    args: &ConsumeArgs,
    seat: &mut Seat,
    name: &str,
    outcome: TurnOutcome,
    totals: &mut Totals,
) -> bool {
    let poll = seat.poll;
    match outcome {
        TurnOutcome::Busy => {
            // Another process is on it: look again after a poll interval.
            seat.due = Instant::now() + poll;
            true
        }
        TurnOutcome::Worked {
            counts,
            empty,
            closed,
            client,
        } => {
            totals.add(counts);
            totals.requests += client.request_count();
            seat.failures = 0;
            if closed.is_some() {
                totals.closed = closed;
            }
            if empty {
                // A quiet portal rests, longer while it stays quiet (unless its
                // notifications wake it: then the rest is the safety net's).
                seat.due = Instant::now() + seat.idle;
                if !seat.notified {
                    seat.idle = seat.idle.mul_f64(1.5).min(poll * 8);
                }
                if let Some(at) = seat.follow_up {
                    seat.due = seat.due.min(at);
                }
                if std::mem::take(&mut seat.woken) {
                    seat.due = Instant::now();
                }
                seat.drained = true;
            } else {
                seat.idle = poll;
                seat.client = Some(*client);
            }
            args.follow || !empty
        }
        TurnOutcome::Failed(error, counts) => {
            totals.add(counts);
            finish_failed(ctx, seat, name, &error, args.follow);
            args.follow
        }
    }
}

/// The run's summary line, and its exit: interrupted, stdout closed, or the
/// portals and records that failed.
fn finish(
    ctx: &Context,
    totals: &Totals,
    profiles: &[ActiveProfile],
    seats: &[Seat],
    unusable: &[String],
    started: Instant,
) -> anyhow::Result<()> {
    ctx.out.info(&format!(
        "Delivered {}, failed {}{}{} from {} portal(s) in {:.1} s; {} request(s) to the portals{}",
        totals.delivered,
        totals.failed,
        extra(totals.dead, "kept as dead letters"),
        extra(totals.lost, "lost"),
        seats.len(),
        started.elapsed().as_secs_f64(),
        totals.requests,
        super::consume::unconfirmed_note(totals.unconfirmed),
    ));
    if ctx.shutdown.is_requested() {
        return Err(CliError::Interrupted.into());
    }
    if let Some(Some(why)) = &totals.closed {
        return Err(CliError::Failed(format!(
            "{why}; nothing of the reservations in hand was confirmed, and the next run delivers them again"
        ))
        .into());
    }
    let mut problems = Vec::new();
    let failed: Vec<String> = unusable
        .iter()
        .cloned()
        .chain(
            seats
                .iter()
                .zip(profiles)
                .filter(|(seat, _)| seat.failed.is_some())
                .map(|(_, profile)| profile.name.clone()),
        )
        .collect();
    if !failed.is_empty() {
        problems.push(format!(
            "{} portal(s) could not be consumed ({}); their errors are above",
            failed.len(),
            failed.join(", ")
        ));
    }
    if totals.lost > 0 {
        problems.push(format!("{} record(s) are lost", totals.lost));
    }
    if totals.dead > 0 {
        problems.push(format!(
            "{} record(s) failed again and are kept as dead letters (`bx-events -p PROFILE offline dead-letter list`)",
            totals.dead
        ));
    }
    if totals.failed > 0 {
        problems.push(format!(
            "{} record(s) failed and are marked as errors in their queues (`offline consume --errors` processes them again)",
            totals.failed
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CliError::Failed(problems.join("; ")).into())
    }
}

fn extra(count: u64, what: &str) -> String {
    if count > 0 {
        format!(", {what} {count}")
    } else {
        String::new()
    }
}

/// A failed turn: with --follow the portal rests (longer each time) and is tried
/// again; otherwise its run ends here.
fn finish_failed(ctx: &Context, seat: &mut Seat, name: &str, error: &anyhow::Error, follow: bool) {
    seat.client = None;
    seat.failures += 1;
    let rest = Duration::from_secs(1 << seat.failures.min(6)).min(MAX_REST);
    if follow {
        ctx.out.warn(&format!(
            "profile '{name}': {error:#}; trying again in {} s",
            rest.as_secs()
        ));
        seat.due = Instant::now() + rest;
    } else {
        ctx.out.warn(&format!("profile '{name}': {error:#}"));
        seat.failed = Some(format!("{error:#}"));
    }
}

/// What a turn needs besides the client it takes and gives back.
struct Turn<'a> {
    ctx: &'a Context,
    args: &'a ConsumeArgs,
    profile: &'a ActiveProfile,
    sink: Arc<Sink>,
    events: Vec<String>,
}

impl Turn<'_> {
    /// Takes the portal's journal (or finds another process on it), finishes
    /// what an earlier holder left, and takes one reservation.
    async fn take(self, client: Client, origin: Origin, remaining: Option<u64>) -> TurnOutcome {
        if crate::support::failpoint::due("fleet-turn") {
            // Tests: die as a kill -9 would, as a turn starts (and count turns).
            std::process::abort();
        }
        let connector = self.args.connector.as_deref();
        // Opening reads a file or connects to the shared store: off the workers
        // the other portals' turns run on.
        let (store, name, owned_connector) = (
            self.ctx.store.clone(),
            self.profile.name.clone(),
            connector.map(str::to_string),
        );
        let opened = offload::blocking(move || {
            Journal::try_open_in(&store, &name, owned_connector.as_deref())
        })
        .await
        .map_err(anyhow::Error::from)
        .and_then(|opened| opened);
        let journal = match opened {
            Ok(Some(journal)) => journal,
            Ok(None) => return TurnOutcome::Busy,
            Err(error) => return TurnOutcome::Failed(error, [0; 5]),
        };
        let state_dir = self.ctx.store.dir().join("state");
        let dead_letters = DeadLetters::new(&state_dir, &self.profile.name, connector);
        let mut consumer = Consumer::new(
            self.ctx,
            self.profile,
            client,
            self.sink,
            (journal, dead_letters),
            self.args,
            self.events,
        )
        .for_turn(origin, RESERVATIONS_PER_TURN, remaining);
        let result = consumer.consume(self.args).await;
        consumer.release_journal().await;
        let counts = consumer.counts();
        let empty = consumer.saw_empty;
        let closed = consumer.sink_closed();
        let client = Box::new(consumer.into_client());
        match result {
            Ok(()) => TurnOutcome::Worked {
                counts,
                empty,
                closed,
                client,
            },
            Err(error) => TurnOutcome::Failed(error, counts),
        }
    }
}
