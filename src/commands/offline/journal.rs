//! The consume journal: what a consumer asked the portal for, which reservation it
//! holds, and which of its records were delivered, so that a restarted consumer
//! resumes instead of losing or repeating work (docs/offline.md, "The journal").
//!
//! An append-only file of JSON lines under `<config dir>/state/`, one `write` per
//! line:
//! - `{"intent":{"limit":N,"errors":B,"at":T}}` before each new reservation (synced),
//! - `{"reserve":PID,"size":N,"errors":B,"message_ids":[...]}` once the portal
//!   answered (made durable by the sync before the confirmation),
//! - `{"done":MID}`, `{"failed":MID}`, `{"dead":MID}` after each delivery,
//! - `{"confirmed":PID}` once the portal confirmed the whole reservation, after
//!   which the file is emptied (made durable by the next intent's sync).
//!
//! The journal is synced before every confirmation, so nothing is confirmed that the
//! journal does not hold. A torn last line (a kill in the middle of a write) is cut
//! off when the journal is opened, so the next line cannot be glued onto it.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::bitrix::offline::{MessageId, ProcessId};

use crate::commands::errors::CliError;
use crate::config::files::ensure_state_dir;
use crate::config::postgres::PgJournal;
use crate::config::Store;
pub(crate) use crate::support::files::safe_file_name as safe_name;
use crate::support::files::{open_private, FileLock};

/// A request for a new reservation whose answer the journal never saw.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Intent {
    pub limit: u32,
    pub errors: bool,
}

/// A reservation that was taken but not fully confirmed.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub process_id: ProcessId,
    /// Records the portal returned when the reservation was taken (0 when unknown:
    /// a journal of an older version, or an adopted reservation not yet read).
    pub size: u32,
    /// Taken with `error=1`: its records are re-read with `error=1`.
    pub errors: bool,
    pub message_ids: Vec<MessageId>,
    pub done: HashSet<MessageId>,
    pub failed: HashSet<MessageId>,
    /// Records moved to the dead-letter file (cleared from the portal like `done`).
    pub dead: HashSet<MessageId>,
}

impl Pending {
    fn new(process_id: ProcessId, size: u32, errors: bool, message_ids: Vec<MessageId>) -> Self {
        Self {
            process_id,
            size,
            errors,
            message_ids,
            done: HashSet::new(),
            failed: HashSet::new(),
            dead: HashSet::new(),
        }
    }
}

/// What replaying the journal found.
#[derive(Debug, Clone, Default)]
pub(super) struct Replayed {
    pub pending: Option<Pending>,
    pub intent: Option<Intent>,
}

/// The journal of one consumer (profile and connector), held exclusively.
pub(super) struct Journal {
    /// Where it is, for messages: a file, or a journal in the shared store.
    location: String,
    medium: Medium,
    state: Replayed,
    /// Outcomes recorded but not yet written: [`Journal::flush`] writes them with
    /// one `write`, and every other entry and [`Journal::sync`] flush them first.
    unwritten: Vec<u8>,
    /// Syncs made so far: each costs a disk flush, and a reservation should
    /// cost two (its intent, and the confirmation's).
    syncs: u32,
}

/// Where a journal's entries are kept.
enum Medium {
    /// A file under the config directory, held by a lock file beside it.
    File { file: File, _lock: FileLock },
    /// Rows in the shared store, held by an advisory lock on their connection:
    /// consumers on any machine see (and resume) the same journal.
    Shared(Box<PgJournal>),
}

impl Medium {
    /// Appends `bytes` (whole lines); `sync` makes them durable (rows are
    /// durable once written).
    fn write(&mut self, bytes: &[u8], sync: bool) -> anyhow::Result<()> {
        match self {
            Self::File { file, .. } => {
                file.write_all(bytes)?;
                if sync {
                    file.sync_data()?;
                }
                Ok(())
            }
            Self::Shared(journal) => Ok(journal.append(&String::from_utf8_lossy(bytes))?),
        }
    }

    /// Forgets every entry.
    fn clear(&mut self) -> anyhow::Result<()> {
        match self {
            Self::File { file, .. } => {
                file.set_len(0)?;
                file.seek(SeekFrom::Start(0))?;
                Ok(())
            }
            Self::Shared(journal) => Ok(journal.clear()?),
        }
    }
}

impl Journal {
    /// The journal of a profile's queue in `store`: rows of the shared store when
    /// there is one, else a file under the config directory; `None` while
    /// another consumer holds it.
    pub(super) fn try_open_in(
        store: &Store,
        profile: &str,
        connector: Option<&str>,
    ) -> anyhow::Result<Option<Self>> {
        let Some(shared) = store.shared() else {
            return Self::try_open(&store.dir().join("state"), profile, connector);
        };
        let Some(mut journal) = shared.open_journal(&Self::base_name(profile, connector))? else {
            return Ok(None);
        };
        let text = journal.read()?;
        let location = journal.describe().to_string();
        Self::start(location, Medium::Shared(Box::new(journal)), &text).map(Some)
    }

    /// [`Journal::try_open_in`], or an error naming the consumer in the way.
    pub(super) fn open_in(
        store: &Store,
        profile: &str,
        connector: Option<&str>,
    ) -> anyhow::Result<Self> {
        Self::try_open_in(store, profile, connector)?.ok_or_else(|| {
            CliError::Busy(format!(
                "another `offline consume` is running for profile '{profile}' and this connector{}; stop it first",
                match store.shared() {
                    Some(shared) => format!(" (on some machine using {})", shared.describe()),
                    None => format!(
                        " (lock {})",
                        Self::lock_path(&store.dir().join("state"), profile, connector).display()
                    ),
                }
            ))
            .into()
        })
    }

    /// Replays what an earlier holder left, and proves that entries can be
    /// written before anything is reserved (read-only file system, full disk).
    fn start(location: String, medium: Medium, text: &str) -> anyhow::Result<Self> {
        let mut journal = Self {
            location,
            medium,
            state: replay(text),
            unwritten: Vec::new(),
            syncs: 0,
        };
        journal.compact()?;
        journal.append(
            &Entry::Open {
                open: crate::bitrix::auth::now_unix(),
            },
            true,
        )?;
        Ok(journal)
    }

    /// Opens (and locks) the journal file for a profile's connector queue under
    /// `state_dir` (the unit tests' way in; commands use [`Journal::open_in`]).
    #[cfg(test)]
    pub(super) fn open(
        state_dir: &Path,
        profile: &str,
        connector: Option<&str>,
    ) -> anyhow::Result<Self> {
        Self::try_open(state_dir, profile, connector)?.ok_or_else(|| {
            CliError::Busy(format!(
                "another `offline consume` is running for profile '{profile}' and this connector (lock {}); stop it first",
                Self::lock_path(state_dir, profile, connector).display()
            ))
            .into()
        })
    }

    fn base_name(profile: &str, connector: Option<&str>) -> String {
        format!(
            "consume-{}-{}",
            safe_name(profile),
            safe_name(connector.unwrap_or("default"))
        )
    }

    fn lock_path(state_dir: &Path, profile: &str, connector: Option<&str>) -> PathBuf {
        state_dir.join(format!("{}.lock", Self::base_name(profile, connector)))
    }

    /// [`Journal::open`], or `None` while another consumer holds it.
    pub(super) fn try_open(
        state_dir: &Path,
        profile: &str,
        connector: Option<&str>,
    ) -> anyhow::Result<Option<Self>> {
        ensure_state_dir(state_dir)?;
        let path = state_dir.join(format!("{}.journal", Self::base_name(profile, connector)));
        let lock_path = Self::lock_path(state_dir, profile, connector);
        let lock = FileLock::try_acquire(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))?;
        let Some(lock) = lock else {
            return Ok(None);
        };
        let mut file = open_private(&path, false)
            .with_context(|| format!("opening the consume journal {}", path.display()))?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .with_context(|| format!("reading {}", path.display()))?;
        // Cut a torn last line so that the next entry starts on a line of its own.
        let whole = text.rfind('\n').map_or(0, |at| at + 1);
        if whole < text.len() {
            file.set_len(whole as u64)
                .with_context(|| format!("repairing {}", path.display()))?;
            text.truncate(whole);
        }
        file.seek(SeekFrom::End(0))
            .with_context(|| format!("opening {}", path.display()))?;
        let location = path.display().to_string();
        Self::start(location, Medium::File { file, _lock: lock }, &text).map(Some)
    }

    /// The reservation left unconfirmed by an earlier run, if any.
    pub(super) fn pending(&self) -> Option<&Pending> {
        self.state.pending.as_ref()
    }

    /// A reservation request whose answer an earlier run never recorded.
    pub(super) fn dangling_intent(&self) -> Option<&Intent> {
        self.state.intent.as_ref()
    }

    /// Where the journal is, for messages.
    pub(super) fn location(&self) -> &str {
        &self.location
    }

    /// Writes one entry (after the outcomes not yet written) with a single
    /// `write`, and syncs it when asked.
    fn append(&mut self, entry: &Entry, sync: bool) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.unwritten, entry)?;
        self.unwritten.push(b'\n');
        self.write_unwritten(sync)
    }

    /// Writes the outcomes recorded so far with one `write`.
    pub(super) fn flush(&mut self) -> anyhow::Result<()> {
        self.write_unwritten(false)
    }

    fn write_unwritten(&mut self, sync: bool) -> anyhow::Result<()> {
        self.syncs += u32::from(sync);
        let result = self.medium.write(&self.unwritten, sync);
        self.unwritten.clear();
        result.with_context(|| {
            format!(
                "cannot write the consume journal {}; stopping before anything else is reserved or confirmed",
                self.location
            )
        })
    }

    /// Records, before asking, that a new reservation is being requested.
    pub(super) fn intend(&mut self, limit: u32, errors: bool) -> anyhow::Result<()> {
        let at = crate::bitrix::auth::now_unix();
        self.append(
            &Entry::Intent {
                intent: IntentLine { limit, errors, at },
            },
            true,
        )?;
        self.state.intent = Some(Intent { limit, errors });
        Ok(())
    }

    /// Records a reservation before any of its records is delivered.
    pub(super) fn begin(
        &mut self,
        process_id: &ProcessId,
        errors: bool,
        message_ids: Vec<MessageId>,
    ) -> anyhow::Result<()> {
        let size = u32::try_from(message_ids.len()).unwrap_or(u32::MAX);
        let entry = Entry::Reserve {
            reserve: process_id.clone(),
            size,
            errors,
            message_ids,
        };
        // Not synced on its own: the synced intent before it already makes a
        // lost line harmless (the next run finds and adopts the reservation the
        // intent announced), and the sync before the confirmation makes it
        // durable together with the outcomes.
        self.append(&entry, false)?;
        let Entry::Reserve { message_ids, .. } = entry else {
            unreachable!("built above")
        };
        self.state.intent = None;
        self.state.pending = Some(Pending::new(process_id.clone(), size, errors, message_ids));
        Ok(())
    }

    /// The request recorded by [`Journal::intend`] reserved nothing (or what it
    /// reserved was found and adopted): forget it.
    pub(super) fn resolve_intent(&mut self) -> anyhow::Result<()> {
        self.state.intent = None;
        // Synced: a lost resolution would leave a dangling intent, and the next
        // run could adopt a reservation this request never made.
        self.append_and_compact(&Entry::Resolved { resolved: true }, true)
    }

    /// Writes an entry that may leave nothing to remember (the state already
    /// says what it leaves), then empties the journal if so. In the shared
    /// store an entry about to be deleted is not written at all: the delete is
    /// one atomic statement with the same end, and a round trip fewer per
    /// reservation.
    fn append_and_compact(&mut self, entry: &Entry, sync: bool) -> anyhow::Result<()> {
        let forgets_all = self.state.pending.is_none() && self.state.intent.is_none();
        if forgets_all && matches!(self.medium, Medium::Shared(_)) {
            self.unwritten.clear();
            return self.compact();
        }
        self.append(entry, sync)?;
        self.compact()
    }

    /// Empties the file when it holds nothing to remember, so an idle `--follow`
    /// (an intent and its resolution per poll) does not grow it for ever.
    fn compact(&mut self) -> anyhow::Result<()> {
        if self.state.pending.is_some() || self.state.intent.is_some() {
            return Ok(());
        }
        self.medium
            .clear()
            .with_context(|| format!("emptying the consume journal {}", self.location))
    }

    /// The reservation [`Journal::begin`] just recorded.
    pub(super) fn begun(&self) -> anyhow::Result<Pending> {
        self.state
            .pending
            .clone()
            .context("the consume journal lost the reservation it just recorded")
    }

    /// Records the outcome of one delivery, in memory until the next
    /// [`Journal::flush`], entry or [`Journal::sync`].
    pub(super) fn record(
        &mut self,
        message_id: &MessageId,
        outcome: Settled,
    ) -> anyhow::Result<()> {
        let id = message_id.clone();
        let entry = match outcome {
            Settled::Done => Entry::Done { done: id },
            Settled::Failed => Entry::Failed { failed: id },
            Settled::Dead => Entry::Dead { dead: id },
        };
        serde_json::to_writer(&mut self.unwritten, &entry)?;
        self.unwritten.push(b'\n');
        if let Some(pending) = self.state.pending.as_mut() {
            let set = match outcome {
                Settled::Done => &mut pending.done,
                Settled::Failed => &mut pending.failed,
                Settled::Dead => &mut pending.dead,
            };
            set.insert(message_id.clone());
        }
        Ok(())
    }

    /// Forgets the outcomes recorded for the pending reservation (its deliveries
    /// cannot be trusted, e.g. stdout's reader went away), so the next run delivers
    /// all of it again.
    pub(super) fn forget_outcomes(&mut self, process_id: &ProcessId) -> anyhow::Result<()> {
        let entry = Entry::Redeliver {
            redeliver: process_id.clone(),
        };
        self.append(&entry, true)?;
        if let Some(pending) = self.state.pending.as_mut() {
            pending.done.clear();
            pending.failed.clear();
        }
        Ok(())
    }

    /// Writes and makes every entry durable: called before each confirmation.
    pub(super) fn sync(&mut self) -> anyhow::Result<()> {
        self.write_unwritten(true)
    }

    /// Lets go of the journal now rather than when it is dropped (a shared
    /// store's lock is released at once, and its connection kept for the next
    /// journal). Nothing may be written afterwards.
    pub(super) fn release(&mut self) {
        if let Medium::Shared(journal) = &mut self.medium {
            journal.release();
        }
    }

    /// The portal confirmed the whole reservation: forget it and empty the file.
    pub(super) fn finish(&mut self, process_id: &ProcessId) -> anyhow::Result<()> {
        let entry = Entry::Confirmed {
            confirmed: process_id.clone(),
        };
        self.state.pending = None;
        // Not synced: if it is lost, the next run finds the reservation with
        // every record settled and confirms it again, which changes nothing at
        // the portal. The next intent's sync makes it durable anyway.
        self.append_and_compact(&entry, false)
    }
}

/// One line of the journal, in the shapes the module comment lists. Lines that
/// are none of these (a torn last line, a future kind) are skipped on replay.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Entry {
    Open {
        open: i64,
    },
    Intent {
        intent: IntentLine,
    },
    Resolved {
        resolved: bool,
    },
    Reserve {
        reserve: ProcessId,
        #[serde(default)]
        size: u32,
        #[serde(default)]
        errors: bool,
        #[serde(default)]
        message_ids: Vec<MessageId>,
    },
    Confirmed {
        confirmed: ProcessId,
    },
    Redeliver {
        redeliver: ProcessId,
    },
    Done {
        done: MessageId,
    },
    Failed {
        failed: MessageId,
    },
    Dead {
        dead: MessageId,
    },
}

/// What an intent line holds.
#[derive(Debug, Serialize, Deserialize)]
struct IntentLine {
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    errors: bool,
    #[serde(default)]
    at: i64,
}

/// How one delivery ended, as the journal records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Settled {
    Done,
    Failed,
    Dead,
}

/// Rebuilds the consumer's state from the journal's lines.
fn replay(text: &str) -> Replayed {
    let mut state = Replayed::default();
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<Entry>(line) else {
            continue;
        };
        match entry {
            Entry::Open { .. } => {}
            Entry::Intent { intent } => {
                state.intent = Some(Intent {
                    limit: intent.limit,
                    errors: intent.errors,
                });
            }
            Entry::Resolved { .. } => state.intent = None,
            Entry::Reserve {
                reserve,
                size,
                errors,
                message_ids,
            } => {
                state.intent = None;
                state.pending = Some(Pending::new(reserve, size, errors, message_ids));
            }
            Entry::Confirmed { confirmed } => {
                if state
                    .pending
                    .as_ref()
                    .is_some_and(|p| p.process_id == confirmed)
                {
                    state.pending = None;
                }
            }
            Entry::Redeliver { redeliver } => {
                if let Some(pending) = state.pending.as_mut().filter(|p| p.process_id == redeliver)
                {
                    pending.done.clear();
                    pending.failed.clear();
                }
            }
            Entry::Done { done } => {
                if let Some(pending) = state.pending.as_mut() {
                    pending.done.insert(done);
                }
            }
            Entry::Failed { failed } => {
                if let Some(pending) = state.pending.as_mut() {
                    pending.failed.insert(failed);
                }
            }
            Entry::Dead { dead } => {
                if let Some(pending) = state.pending.as_mut() {
                    pending.dead.insert(dead);
                }
            }
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    const PID: &str = "ulxiMPHcjMgsAZP8l9xtcypXAjonMVCN";

    fn pid() -> ProcessId {
        ProcessId::parse(PID).unwrap()
    }

    /// A MESSAGE_ID ending in `tag` (hexadecimal digits).
    fn mid(tag: &str) -> MessageId {
        MessageId::parse(&format!("{tag:0>32}")).unwrap()
    }

    #[test]
    fn replays_the_last_reservation_and_ignores_a_torn_line() {
        let (a, b, c) = (mid("a"), mid("b"), mid("c"));
        let text = format!("{{\"reserve\":\"{PID}\",\"size\":3,\"errors\":true}}\n{{\"done\":\"{a}\"}}\n{{\"failed\":\"{b}\"}}\n{{\"done\":\"{c}");
        let pending = replay(&text).pending.unwrap();
        assert_eq!(pending.process_id, pid());
        assert_eq!(pending.size, 3);
        assert!(pending.errors);
        assert!(pending.done.contains(&a) && !pending.done.contains(&c));
        assert!(pending.failed.contains(&b));
    }

    #[test]
    fn a_reservation_line_with_an_id_the_portal_never_makes_is_skipped() {
        let text = "{\"reserve\":\"\",\"size\":3}\n{\"reserve\":\"p1\",\"size\":3}\n";
        assert!(replay(text).pending.is_none());
        assert!(ProcessId::parse("").is_err());
        assert!(ProcessId::parse(&"a".repeat(31)).is_err());
        assert!(ProcessId::parse(&format!("{}!", "a".repeat(31))).is_err());
        assert!(serde_json::from_str::<ProcessId>("\"short\"").is_err());
    }

    #[test]
    fn an_outcome_line_with_an_id_the_portal_never_makes_is_skipped() {
        let text = format!(
            "{{\"reserve\":\"{PID}\",\"size\":2}}\n{{\"done\":\"m1\"}}\n{{\"done\":\"{}\"}}\n",
            mid("2")
        );
        let pending = replay(&text).pending.unwrap();
        assert_eq!(pending.done.len(), 1);
        assert!(pending.done.contains(&mid("2")));
        assert!(serde_json::from_str::<MessageId>("\"m1\"").is_err());
    }

    #[test]
    fn entries_are_written_in_the_shapes_earlier_versions_wrote() {
        let line = serde_json::to_string(&Entry::Reserve {
            reserve: pid(),
            size: 2,
            errors: false,
            message_ids: vec![mid("1"), mid("2")],
        })
        .unwrap();
        let (m1, m2) = (mid("1"), mid("2"));
        assert_eq!(
            line,
            format!("{{\"reserve\":\"{PID}\",\"size\":2,\"errors\":false,\"message_ids\":[\"{m1}\",\"{m2}\"]}}")
        );
        let done = serde_json::to_string(&Entry::Done { done: mid("1") }).unwrap();
        assert_eq!(done, format!("{{\"done\":\"{m1}\"}}"));
        let intent = serde_json::to_string(&Entry::Intent {
            intent: IntentLine {
                limit: 10,
                errors: true,
                at: 5,
            },
        })
        .unwrap();
        assert_eq!(
            intent,
            "{\"intent\":{\"limit\":10,\"errors\":true,\"at\":5}}"
        );
    }

    #[test]
    fn an_intent_without_an_answer_is_dangling_until_resolved() {
        let text = "{\"intent\":{\"limit\":10,\"errors\":false,\"at\":1}}\n";
        assert_eq!(
            replay(text).intent,
            Some(Intent {
                limit: 10,
                errors: false
            })
        );
        let text = format!("{text}{{\"reserve\":\"{PID}\",\"size\":1}}\n");
        assert!(replay(&text).intent.is_none());
        let text = "{\"intent\":{\"limit\":10,\"errors\":false}}\n{\"resolved\":true}\n";
        assert!(replay(text).intent.is_none());
    }

    #[test]
    fn a_torn_tail_is_cut_so_the_next_entry_stays_readable() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut journal = Journal::open(dir.path(), "p", None).unwrap();
            journal
                .begin(&pid(), false, vec![mid("1"), mid("2")])
                .unwrap();
        }
        let path = dir.path().join("consume-p-default.journal");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(format!("{{\"done\":\"{}", mid("1")).as_bytes())
            .unwrap();
        drop(file);
        {
            let mut journal = Journal::open(dir.path(), "p", None).unwrap();
            journal.record(&mid("2"), Settled::Done).unwrap();
            journal.flush().unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.lines()
                .all(|line| serde_json::from_str::<serde_json::Value>(line).is_ok()),
            "no torn or glued line is left: {text}"
        );
        let journal = Journal::open(dir.path(), "p", None).unwrap();
        let pending = journal.pending().unwrap();
        assert!(
            pending.done.contains(&mid("2")),
            "the entry after the torn one is read"
        );
        assert!(!pending.done.contains(&mid("1")));
    }

    #[test]
    fn resumes_after_reopen_and_forgets_after_finish() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut journal = Journal::open(dir.path(), "p", None).unwrap();
            journal.begin(&pid(), false, vec![mid("1")]).unwrap();
            journal.record(&mid("1"), Settled::Done).unwrap();
            journal.flush().unwrap();
        }
        let mut journal = Journal::open(dir.path(), "p", None).unwrap();
        assert!(journal.pending().unwrap().done.contains(&mid("1")));
        journal.finish(&pid()).unwrap();
        drop(journal);
        assert!(Journal::open(dir.path(), "p", None)
            .unwrap()
            .pending()
            .is_none());
    }

    #[test]
    fn a_reservation_costs_two_syncs() {
        // The intent before the request, and everything before the confirmation:
        // the reservation and "confirmed" lines ride on those (module comment).
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(dir.path(), "p", None).unwrap();
        let before = journal.syncs;
        journal.intend(500, false).unwrap();
        journal
            .begin(&pid(), false, vec![mid("1"), mid("2")])
            .unwrap();
        journal.record(&mid("1"), Settled::Done).unwrap();
        journal.record(&mid("2"), Settled::Done).unwrap();
        journal.sync().unwrap();
        journal.finish(&pid()).unwrap();
        assert_eq!(journal.syncs - before, 2);
    }

    #[test]
    fn outcomes_reach_the_file_only_when_flushed() {
        // Gathered stdout lines are journaled as done only after they are written:
        // an outcome recorded but not flushed must not survive a crash.
        let dir = tempfile::tempdir().unwrap();
        {
            let mut journal = Journal::open(dir.path(), "p", None).unwrap();
            journal.begin(&pid(), false, vec![mid("1")]).unwrap();
            journal.record(&mid("1"), Settled::Done).unwrap();
        }
        let journal = Journal::open(dir.path(), "p", None).unwrap();
        assert!(journal.pending().unwrap().done.is_empty());
    }

    #[test]
    fn a_second_consumer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Journal::open(dir.path(), "p", Some("erp")).unwrap();
        assert!(Journal::open(dir.path(), "p", Some("erp")).is_err());
        assert!(Journal::open(dir.path(), "p", Some("other")).is_ok());
    }
}
