//! The consume journal: which reservation is in flight and which of its records were
//! delivered, so that a restarted consumer resumes instead of losing or repeating work.
//!
//! An append-only file of JSON lines under `<config dir>/state/`:
//! `{"reserve":PID}` when a reservation is taken, then `{"done":MESSAGE_ID}` or
//! `{"failed":MESSAGE_ID}` after each delivery, and truncation once the portal has
//! confirmed the whole reservation. Appends survive a killed process; a torn last
//! line is ignored on replay.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::{json, Value};

use crate::commands::CliError;
use crate::config::files::ensure_private_dir;

/// A reservation that was taken but not fully confirmed.
#[derive(Debug, Clone, Default)]
pub struct Pending {
    pub process_id: String,
    pub done: HashSet<String>,
    pub failed: HashSet<String>,
}

/// The journal of one consumer (profile and connector), held exclusively.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    _lock: File,
    pending: Option<Pending>,
}

fn safe_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Journal {
    /// Opens (and locks) the journal for a profile's connector queue.
    pub fn open(state_dir: &Path, profile: &str, connector: Option<&str>) -> anyhow::Result<Self> {
        ensure_private_dir(state_dir)?;
        let base = format!(
            "consume-{}-{}",
            safe_name(profile),
            safe_name(connector.unwrap_or("default"))
        );
        let path = state_dir.join(format!("{base}.journal"));
        let lock_path = state_dir.join(format!("{base}.lock"));
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))?;
        if lock.try_lock().is_err() {
            return Err(CliError::Usage(format!(
                "another `offline consume` is running for profile '{profile}' and this connector (lock {}); stop it first",
                lock_path.display()
            ))
            .into());
        }
        let mut text = String::new();
        if let Ok(mut existing) = File::open(&path) {
            existing
                .read_to_string(&mut text)
                .with_context(|| format!("reading {}", path.display()))?;
        }
        let pending = replay(&text);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Self {
            path,
            file,
            _lock: lock,
            pending,
        })
    }

    /// The reservation left unconfirmed by an earlier run, if any.
    pub fn pending(&self) -> Option<&Pending> {
        self.pending.as_ref()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn append(&mut self, line: Value, sync: bool) -> anyhow::Result<()> {
        writeln!(self.file, "{line}")
            .with_context(|| format!("writing {}", self.path.display()))?;
        if sync {
            self.file
                .sync_data()
                .with_context(|| format!("syncing {}", self.path.display()))?;
        }
        Ok(())
    }

    /// Records a new reservation before any of its records is delivered.
    pub fn begin(&mut self, process_id: &str) -> anyhow::Result<()> {
        self.append(json!({"reserve": process_id}), true)?;
        self.pending = Some(Pending {
            process_id: process_id.to_string(),
            ..Pending::default()
        });
        Ok(())
    }

    /// Records the outcome of one delivery.
    pub fn record(&mut self, message_id: &str, delivered: bool) -> anyhow::Result<()> {
        let key = if delivered { "done" } else { "failed" };
        self.append(json!({ key: message_id }), false)?;
        if let Some(pending) = self.pending.as_mut() {
            if delivered {
                pending.done.insert(message_id.to_string());
            } else {
                pending.failed.insert(message_id.to_string());
            }
        }
        Ok(())
    }

    /// The portal confirmed the whole reservation: forget it.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        self.file
            .set_len(0)
            .with_context(|| format!("truncating {}", self.path.display()))?;
        self.pending = None;
        Ok(())
    }
}

/// Rebuilds the unconfirmed reservation from the journal's lines.
fn replay(text: &str) -> Option<Pending> {
    let mut pending: Option<Pending> = None;
    for line in text.lines() {
        let Ok(Value::Object(entry)) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if let Some(process_id) = entry.get("reserve").and_then(Value::as_str) {
            pending = Some(Pending {
                process_id: process_id.to_string(),
                ..Pending::default()
            });
        } else if let (Some(current), Some(id)) =
            (pending.as_mut(), entry.get("done").and_then(Value::as_str))
        {
            current.done.insert(id.to_string());
        } else if let (Some(current), Some(id)) = (
            pending.as_mut(),
            entry.get("failed").and_then(Value::as_str),
        ) {
            current.failed.insert(id.to_string());
        }
    }
    pending
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_the_last_reservation_and_ignores_a_torn_line() {
        let text = "{\"reserve\":\"p1\"}\n{\"done\":\"a\"}\n{\"failed\":\"b\"}\n{\"done\":\"c";
        let pending = replay(text).unwrap();
        assert_eq!(pending.process_id, "p1");
        assert!(pending.done.contains("a") && !pending.done.contains("c"));
        assert!(pending.failed.contains("b"));
    }

    #[test]
    fn resumes_after_reopen_and_forgets_after_finish() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut journal = Journal::open(dir.path(), "p", None).unwrap();
            journal.begin("pid").unwrap();
            journal.record("m1", true).unwrap();
        }
        let mut journal = Journal::open(dir.path(), "p", None).unwrap();
        assert!(journal.pending().unwrap().done.contains("m1"));
        journal.finish().unwrap();
        drop(journal);
        assert!(Journal::open(dir.path(), "p", None)
            .unwrap()
            .pending()
            .is_none());
    }

    #[test]
    fn a_second_consumer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Journal::open(dir.path(), "p", Some("erp")).unwrap();
        assert!(Journal::open(dir.path(), "p", Some("erp")).is_err());
        assert!(Journal::open(dir.path(), "p", Some("other")).is_ok());
    }
}
