//! Where `consume` delivers records: a shell command, an HTTP endpoint, stdout,
//! or a message system (`--publish`, publish/).

use std::time::Duration;

use super::portal_form::PortalIdentity;
use super::publish::{Message, Outcomes, Publisher, Target, Unavailable};
use crate::bitrix::client::http_client;
use crate::bitrix::offline::OfflineRecord;
use crate::bitrix::ClientOptions;
use crate::cli::SinkArgs;
use crate::commands::errors::CliError;
use crate::commands::handler::{HandlerCommand, HandlerFailure};
use crate::commands::shutdown::Shutdown;
use crate::support::offload;

/// A delivery target.
pub(super) enum Sink {
    Exec(HandlerCommand),
    Forward {
        url: url::Url,
        http: reqwest::Client,
        /// `--format portal`: who the portal-shaped requests come from.
        portal: Option<Box<PortalIdentity>>,
    },
    /// Lines are gathered and written with one `write` per reservation
    /// ([`Sink::flush`]), before the journal records them as delivered. The
    /// lock is async: it is held while a blocking thread writes, and records
    /// delivered meanwhile wait for it without holding a worker.
    Stdout(tokio::sync::Mutex<Gathered>),
    /// A reservation is published as one batch ([`Sink::publish`]).
    Publish(Box<Publishing>),
}

/// `--publish`: the connection, and where records come from when one process
/// drains one portal (a fleet's records carry their [`Origin`]).
pub(super) struct Publishing {
    publisher: Publisher,
    portal: String,
    member_id: Option<String>,
    /// `--format portal`: the portal's form as the body.
    identity: Option<Box<PortalIdentity>>,
}

/// Stdout lines not yet written, and whether stdout is beyond use. The failure
/// is kept: when several portals' consumers share stdout, a write that failed
/// also took lines of the others, and none of them may then count as delivered.
#[derive(Default)]
pub(super) struct Gathered {
    lines: Vec<u8>,
    broken: Option<DeliveryError>,
}

/// The portal a record came from, when one process drains many
/// (`offline consume --all-profiles`): JSON records carry it, `--exec` handlers
/// get it in variables, and `--format portal` sends that portal's own auth.
#[derive(Debug, Clone)]
pub(super) struct Origin {
    pub profile: String,
    pub portal: String,
    pub member_id: Option<String>,
    pub identity: Option<Box<PortalIdentity>>,
}

impl Origin {
    /// The record as JSON, with its origin's `profile`, `portal` and `member_id`.
    fn json(&self, record: &OfflineRecord) -> Result<String, serde_json::Error> {
        let mut value = serde_json::to_value(record)?;
        if let Some(object) = value.as_object_mut() {
            object.insert("profile".into(), self.profile.clone().into());
            object.insert("portal".into(), self.portal.clone().into());
            object.insert("member_id".into(), self.member_id.clone().into());
        }
        serde_json::to_string(&value)
    }
}

impl Sink {
    pub(super) fn from_args(args: &SinkArgs) -> anyhow::Result<Self> {
        if let Some(url) = &args.publish {
            return Ok(Self::Publish(Box::new(Publishing {
                publisher: Publisher::new(Target::parse(url)?),
                portal: String::new(),
                member_id: None,
                identity: None,
            })));
        }
        Self::new(
            args.exec.as_deref(),
            args.forward_to.as_deref(),
            args.handler_timeout,
        )
    }

    /// A command (`--exec`), else a URL (`--forward-to`), else stdout.
    pub(super) fn new(
        exec: Option<&str>,
        forward_to: Option<&str>,
        handler_timeout: u64,
    ) -> anyhow::Result<Self> {
        let timeout = Duration::from_secs(handler_timeout.max(1));
        if let Some(command) = exec {
            if command.trim().is_empty() {
                return Err(CliError::Usage("--exec needs a command".into()).into());
            }
            return Ok(Self::Exec(HandlerCommand::new(command, timeout)));
        }
        if let Some(raw) = forward_to {
            let url = crate::commands::arguments::http_url(raw, "--forward-to")?;
            let http = http_client(&ClientOptions {
                timeout,
                ..ClientOptions::default()
            })?;
            return Ok(Self::Forward {
                url,
                http,
                portal: None,
            });
        }
        Ok(Self::Stdout(tokio::sync::Mutex::new(Gathered::default())))
    }

    /// Makes `--forward-to` POST (and `--publish` publish) the portal's online
    /// form instead of JSON.
    pub(super) fn use_portal_form(&mut self, identity: PortalIdentity) {
        match self {
            Self::Forward { portal, .. } => *portal = Some(Box::new(identity)),
            Self::Publish(publishing) => publishing.identity = Some(Box::new(identity)),
            _ => {}
        }
    }

    /// `--publish`: the portal records come from when one portal is drained.
    pub(super) fn publish_from(&mut self, portal: &str, member_id: Option<&str>) {
        if let Self::Publish(publishing) = self {
            publishing.portal = portal.to_string();
            publishing.member_id = member_id.map(str::to_string);
        }
    }

    /// `--publish`: connects before anything is reserved, so a message system
    /// that is down stops the run at once (its URL shown without a password).
    pub(super) async fn connect(&self) -> Result<(), CliError> {
        match self {
            Self::Publish(publishing) => {
                publishing
                    .publisher
                    .connect()
                    .await
                    .map_err(|Unavailable(why)| {
                        CliError::Failed(format!("cannot publish to {why}; nothing was reserved"))
                    })
            }
            _ => Ok(()),
        }
    }

    /// Whether reservations are published as batches ([`Sink::publish`]).
    pub(super) fn publishes(&self) -> bool {
        matches!(self, Self::Publish(_))
    }

    /// `--publish`: publishes `records` as one batch; per record, acknowledged
    /// or refused, unless the system went away before acknowledging them all.
    pub(super) async fn publish(
        &self,
        records: &[&OfflineRecord],
        origin: Option<&Origin>,
    ) -> Result<Outcomes, Unavailable> {
        let Self::Publish(publishing) = self else {
            return Err(Unavailable("not publishing".into()));
        };
        let template = publishing.publisher.target().template();
        let mut messages = Vec::with_capacity(records.len());
        for record in records {
            let identity = origin
                .and_then(|o| o.identity.as_deref())
                .or(publishing.identity.as_deref());
            let body = match identity {
                Some(identity) => super::portal_form::form_body(record, identity).into_bytes(),
                None => match origin {
                    Some(origin) => origin.json(record),
                    None => serde_json::to_string(record),
                }
                .map_err(|e| Unavailable(format!("a record cannot be written as JSON: {e}")))?
                .into_bytes(),
            };
            let (portal, member_id) = match origin {
                Some(origin) => (origin.portal.as_str(), origin.member_id.as_deref()),
                None => (publishing.portal.as_str(), publishing.member_id.as_deref()),
            };
            messages.push(Message::of(record, portal, member_id, template, body));
        }
        publishing.publisher.publish(&messages).await
    }

    /// Delivers one record (from `origin`, when one process drains many portals).
    pub(super) async fn deliver(
        &self,
        record: &OfflineRecord,
        process_id: Option<&str>,
        origin: Option<&Origin>,
    ) -> Result<(), DeliveryError> {
        let json = match origin {
            Some(origin) => origin.json(record),
            None => serde_json::to_string(record),
        }
        .map_err(|e| DeliveryError::Failed(e.to_string()))?;
        match self {
            // One record alone (a destructive read): a batch of one.
            Self::Publish(_) => match self.publish(&[record], origin).await {
                Ok(mut outcomes) => outcomes
                    .pop()
                    .unwrap_or(Ok(()))
                    .map_err(DeliveryError::Failed),
                Err(Unavailable(why)) => Err(DeliveryError::Closed {
                    by_reader: false,
                    why: format!("cannot publish to {why}"),
                }),
            },
            Self::Stdout(gathered) => {
                let mut gathered = gathered.lock().await;
                if let Some(broken) = &gathered.broken {
                    return Err(broken.clone());
                }
                gathered.lines.extend_from_slice(json.as_bytes());
                gathered.lines.push(b'\n');
                // A reader that waits (`--follow | jq`) gets lines in bursts of at
                // most this size, and memory stays bounded.
                if gathered.lines.len() >= STDOUT_BUFFER {
                    write_gathered(&mut gathered).await?;
                }
                Ok(())
            }
            Self::Forward { url, http, portal } => {
                let identity = origin
                    .and_then(|o| o.identity.as_deref())
                    .or(portal.as_deref());
                let (content_type, body) = match identity {
                    Some(identity) => (
                        "application/x-www-form-urlencoded",
                        super::portal_form::form_body(record, identity),
                    ),
                    None => ("application/json", json),
                };
                let response = http
                    .post(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| {
                        DeliveryError::Failed(format!("POST failed: {}", e.without_url()))
                    })?;
                let status = response.status();
                if status.is_success() {
                    Ok(())
                } else {
                    Err(DeliveryError::Failed(format!(
                        "handler answered HTTP {}",
                        status.as_u16()
                    )))
                }
            }
            Self::Exec(handler) => {
                let id = record.id.to_string();
                let mut variables = vec![
                    ("BX_EVENT_NAME", record.event.as_str()),
                    ("BX_EVENT_ID", id.as_str()),
                    ("BX_MESSAGE_ID", record.message_id.as_str()),
                    ("BX_PROCESS_ID", process_id.unwrap_or("")),
                ];
                if let Some(origin) = origin {
                    variables.push(("BX_PROFILE", origin.profile.as_str()));
                    variables.push(("BX_PORTAL", origin.portal.as_str()));
                    variables.push(("BX_MEMBER_ID", origin.member_id.as_deref().unwrap_or("")));
                }
                handler
                    .run(&variables, json.as_bytes())
                    .await
                    .map_err(|failure| match failure {
                        // The shell could not find or run the command (a typo in
                        // --exec): every record would fail the same way, so stop
                        // before any is marked as an error; they stay reserved.
                        HandlerFailure::Exited(126 | 127) | HandlerFailure::CannotRun(_) => {
                            DeliveryError::Closed {
                                by_reader: false,
                                why: format!(
                                    "the --exec command cannot be run ({failure}: the shell found no such command, or it is not executable); fix --exec and run again"
                                ),
                            }
                        }
                        other => DeliveryError::Failed(other.to_string()),
                    })
            }
        }
    }
}

/// Gathered stdout lines are written once they reach this size, or at the end of a
/// reservation.
const STDOUT_BUFFER: usize = 256 * 1024;

impl Sink {
    /// Whether deliveries are gathered and only made by [`Sink::flush`] (stdout).
    pub(super) fn is_gathered(&self) -> bool {
        matches!(self, Self::Stdout(_))
    }

    /// Writes what stdout has gathered and, when stdout is a pipe, waits until
    /// its reader has read it all: a line still in the pipe when the reader exits
    /// (`| head -1`) was never delivered, so nothing may be confirmed before.
    /// Other sinks deliver at once. A requested stop (Ctrl-C) ends the wait:
    /// what the reader has not read then counts as not delivered. The writing
    /// and the waiting run on a blocking thread.
    pub(super) async fn flush(&self, shutdown: &Shutdown) -> Result<(), DeliveryError> {
        match self {
            Self::Stdout(gathered) => {
                write_gathered(&mut *gathered.lock().await).await?;
                let shutdown = shutdown.clone();
                offload::blocking(move || wait_until_read(&|| shutdown.is_requested())).await?
            }
            _ => Ok(()),
        }
    }
}

/// How long stdout's reader must keep the pipe open after it took the last
/// lines for them to count as consumed. A reader that takes a whole reservation
/// in one `read` and exits (`| head -n 5`) leaves an empty pipe behind, which
/// proves nothing; its exit follows its last read within microseconds, and is
/// seen here as the pipe's read end closing (docs/offline.md, "Consuming to a
/// pipe").
const READER_SETTLE: Duration = Duration::from_millis(25);

/// The first look for an empty pipe comes this soon after the write; each
/// next one waits twice as long, up to [`LONGEST_LOOK`]. A reader that keeps
/// up (`| cat`, a `while read` loop) empties the pipe within microseconds, and
/// was made to wait 10 ms per reservation by fixed steps.
const FIRST_LOOK: Duration = Duration::from_micros(50);
const LONGEST_LOOK: Duration = Duration::from_millis(10);

/// Returns once a pipe on stdout is empty and its reader still holds it open
/// [`READER_SETTLE`] later; fails when the reader has gone. Files and
/// terminals return at once.
fn wait_until_read(stop: &dyn Fn() -> bool) -> Result<(), DeliveryError> {
    use crate::support::pipes;
    if !pipes::stdout_is_pipe() {
        return Ok(());
    }
    let gone = |why: &str| DeliveryError::Closed {
        by_reader: true,
        why: why.to_string(),
    };
    let mut look = FIRST_LOOK;
    loop {
        if stop() {
            return Err(gone("stopped before stdout's reader had read every record"));
        }
        if pipes::stdout_unread() == 0 {
            break;
        }
        // Wait a little for the reader to close the pipe or to catch up, then
        // look again, a little later each time.
        let closed = pipes::reader_closes_within(look);
        look = (look * 2).min(LONGEST_LOOK);
        if closed {
            return Err(gone(
                "stdout was closed by its reader before reading every record",
            ));
        }
    }
    if pipes::reader_closes_within(READER_SETTLE) {
        return Err(gone(
            "stdout's reader closed the pipe right after taking the last records, so they may not have been used",
        ));
    }
    Ok(())
}

/// Writes and empties the gathered lines, on a blocking thread (a pipe whose
/// reader is slow blocks the write). Any failure to write stdout (a closed pipe,
/// a full disk under a redirection) makes the sink unusable for good, not a
/// record bad.
async fn write_gathered(gathered: &mut Gathered) -> Result<(), DeliveryError> {
    if let Some(broken) = &gathered.broken {
        return Err(broken.clone());
    }
    if gathered.lines.is_empty() {
        return Ok(());
    }
    let lines = std::mem::take(&mut gathered.lines);
    let result = offload::blocking(move || write_stdout(&lines))
        .await
        .unwrap_or_else(|cancelled| Err(cancelled.into()));
    if let Err(error) = &result {
        gathered.broken = Some(error.clone());
    }
    result
}

/// Writes `lines` to stdout and flushes it.
fn write_stdout(lines: &[u8]) -> Result<(), DeliveryError> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_all(lines).and_then(|()| stdout.flush());
    written.map_err(|e| match e.kind() {
        std::io::ErrorKind::BrokenPipe => DeliveryError::Closed {
            by_reader: true,
            why: "stdout was closed by its reader".into(),
        },
        _ => DeliveryError::Closed {
            by_reader: false,
            why: format!("cannot write stdout: {e}"),
        },
    })
}

/// Why a delivery did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DeliveryError {
    /// The handler refused or failed this record.
    Failed(String),
    /// The sink is gone (stdout's reader closed the pipe, or stdout cannot be
    /// written): nothing more can be delivered, and what was written lately may
    /// never have been read.
    Closed {
        /// The reader went away (`| head`): a normal way for a pipeline to end.
        by_reader: bool,
        why: String,
    },
}

/// A write or wait that never ran (the runtime is shutting down): stdout can
/// take nothing more, and nothing written lately may be trusted as read.
impl From<offload::Cancelled> for DeliveryError {
    fn from(cancelled: offload::Cancelled) -> Self {
        Self::Closed {
            by_reader: false,
            why: cancelled.to_string(),
        }
    }
}

impl std::fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Failed(why) => f.write_str(why),
            Self::Closed { why, .. } => f.write_str(why),
        }
    }
}
