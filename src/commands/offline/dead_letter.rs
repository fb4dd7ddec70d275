//! The dead-letter file: records that failed again while being re-processed with
//! `--errors`. The portal cannot release such a record (`event.offline.error`
//! leaves rows that already are errors reserved, until its cleanup deletes them),
//! so the consumer keeps it here, synced, and only then clears it from the portal.
//! `offline dead-letter list|replay` shows and re-delivers them (docs/offline.md).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::journal::safe_name;
use super::sink::{DeliveryError, Sink};
use crate::bitrix::offline::OfflineRecord;
use crate::cli::{DeadLetterListArgs, DeadLetterReplayArgs};
use crate::commands::context::Context;
use crate::commands::errors::CliError;
use crate::config::files::{ensure_state_dir, write_atomic};
use crate::support::files::{open_private, FileLock};

/// One kept record, with why and when it failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct DeadLetter {
    /// The record as `consume` delivers it (id, message_id, event, timestamp, data, additional).
    pub record: Value,
    /// The last delivery error.
    pub reason: String,
    /// The reservation it was taken from.
    pub process_id: String,
    /// Unix seconds of the failure.
    pub failed_at: i64,
}

impl DeadLetter {
    pub(super) fn message_id(&self) -> &str {
        self.record
            .get("message_id")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// The dead-letter file of one profile's connector queue.
#[derive(Debug, Clone)]
pub(super) struct DeadLetters {
    path: PathBuf,
}

impl DeadLetters {
    pub(super) fn new(state_dir: &Path, profile: &str, connector: Option<&str>) -> Self {
        let name = format!(
            "dead-letter-{}-{}.ndjson",
            safe_name(profile),
            safe_name(connector.unwrap_or("default"))
        );
        Self {
            path: state_dir.join(name),
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The lock every change of the file holds: a replay that rewrites it must
    /// not drop a letter a consumer appended meanwhile.
    fn lock(&self) -> anyhow::Result<FileLock> {
        if let Some(dir) = self.path.parent() {
            ensure_state_dir(dir)?;
        }
        let path = self.path.with_extension("lock");
        FileLock::acquire(&path).with_context(|| format!("locking {}", path.display()))
    }

    /// Appends one record and syncs it: the caller clears it from the portal only
    /// after this returned.
    pub(super) fn keep(&self, letter: &DeadLetter) -> anyhow::Result<()> {
        let _lock = self.lock()?;
        let mut file = open_private(&self.path, false)
            .with_context(|| format!("opening the dead-letter file {}", self.path.display()))?;
        let mut line = serde_json::to_vec(letter)?;
        line.push(b'\n');
        use std::io::Seek;
        file.seek(std::io::SeekFrom::End(0))
            .and_then(|_| file.write_all(&line))
            .and_then(|()| file.sync_data())
            .with_context(|| format!("writing the dead-letter file {}", self.path.display()))
    }

    /// Every kept record; a torn or unreadable line is skipped.
    pub(super) fn read(&self) -> anyhow::Result<Vec<DeadLetter>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => {
                return Err(error).with_context(|| format!("reading {}", self.path.display()))
            }
        };
        Ok(text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect())
    }

    /// Takes the replayed letters out of the file, under its lock: `delivered`
    /// leave it, each `(before, after)` of `failed_again` is replaced by its new
    /// failure, and every other letter (among them those appended since the
    /// replay read the file) stays. Returns how many letters remain.
    pub(super) fn settle(
        &self,
        delivered: &[DeadLetter],
        failed_again: &[(DeadLetter, DeadLetter)],
    ) -> anyhow::Result<usize> {
        let _lock = self.lock()?;
        let mut delivered: Vec<&DeadLetter> = delivered.iter().collect();
        let mut remaining = Vec::new();
        for letter in self.read()? {
            if let Some(at) = delivered.iter().position(|d| **d == letter) {
                delivered.swap_remove(at);
                continue;
            }
            match failed_again.iter().find(|(before, _)| *before == letter) {
                Some((_, after)) => remaining.push(after.clone()),
                None => remaining.push(letter),
            }
        }
        self.rewrite(&remaining)?;
        Ok(remaining.len())
    }

    /// Replaces the file's contents with `letters` (atomically); the caller
    /// holds the lock.
    fn rewrite(&self, letters: &[DeadLetter]) -> anyhow::Result<()> {
        let mut text = String::new();
        for letter in letters {
            text.push_str(&serde_json::to_string(letter)?);
            text.push('\n');
        }
        write_atomic(&self.path, &text, 0o600)?;
        Ok(())
    }
}

/// `offline dead-letter list`: the kept records, newest last.
pub(super) fn list(ctx: &Context, args: &DeadLetterListArgs) -> anyhow::Result<()> {
    let store = store_for(ctx, args.connector.as_deref())?;
    let letters = store.read()?;
    if letters.is_empty() {
        ctx.out.info(&format!(
            "No dead letters ({} is empty or absent).",
            store.path().display()
        ));
    }
    ctx.out.list(&letters, || {
        let mut table = ctx
            .out
            .table(&["ID", "EVENT", "MESSAGE_ID", "FAILED", "REASON"]);
        for letter in &letters {
            let field = |key: &str| match letter.record.get(key) {
                Some(Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            table.add_row(vec![
                field("id"),
                field("event"),
                letter.message_id().to_string(),
                chrono::DateTime::from_timestamp(letter.failed_at, 0)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default(),
                letter.reason.clone(),
            ]);
        }
        table
    });
    Ok(())
}

/// `offline dead-letter replay`: delivers every kept record again; those delivered
/// leave the file, the others stay with their new failure reason.
pub(super) async fn replay(ctx: &Context, args: &DeadLetterReplayArgs) -> anyhow::Result<()> {
    let mut sink = Sink::from_args(&args.sink)?;
    if sink.publishes() {
        let profile = ctx.profile()?;
        sink.publish_from(
            &profile.settings.portal,
            profile.settings.member_id.as_deref(),
        );
        sink.connect().await?;
    }
    let store = store_for(ctx, args.connector.as_deref())?;
    let letters = store.read()?;
    let mut kept = Vec::new();
    // Delivered, or (stdout) gathered for delivery: they leave the file only once
    // the sink has really written them.
    let mut delivered = Vec::new();
    let mut failed_again = Vec::new();
    let mut stopped = false;
    for letter in letters {
        if stopped || ctx.shutdown.is_requested() {
            kept.push(letter);
            continue;
        }
        let record: OfflineRecord = match serde_json::from_value(letter.record.clone()) {
            Ok(record) => record,
            Err(error) => {
                ctx.out.warn(&format!(
                    "a dead letter in {} is not a record ({error}); it stays in the file",
                    store.path().display()
                ));
                kept.push(letter);
                continue;
            }
        };
        match sink.deliver(&record, Some(&letter.process_id), None).await {
            Ok(()) => delivered.push(letter),
            Err(DeliveryError::Closed { .. }) => {
                stopped = true;
                kept.push(letter);
            }
            Err(DeliveryError::Failed(why)) => {
                ctx.out.warn(&format!(
                    "--> {} [{}] failed again ({why})",
                    record.event, record.message_id
                ));
                let mut again = letter.clone();
                again.reason = why;
                again.failed_at = crate::bitrix::auth::now_unix();
                kept.push(again.clone());
                failed_again.push((letter, again));
            }
        }
    }
    if stopped || sink.flush(&ctx.shutdown).await.is_err() {
        // The reader went away: what was written lately may never have been read.
        stopped = true;
        kept.append(&mut delivered);
    }
    let remaining = store.settle(&delivered, &failed_again)?;
    ctx.out.info(&format!(
        "Replayed {} dead letter(s); {remaining} remain in {}",
        delivered.len(),
        store.path().display()
    ));
    if ctx.shutdown.is_requested() {
        return Err(CliError::Interrupted.into());
    }
    if !kept.is_empty() && !stopped {
        return Err(CliError::Failed(format!(
            "{} dead letter(s) failed again; they stay in the file",
            kept.len()
        ))
        .into());
    }
    Ok(())
}

fn store_for(ctx: &Context, connector: Option<&str>) -> anyhow::Result<DeadLetters> {
    let profile = ctx.profile()?;
    let connector = connector.filter(|c| !c.is_empty());
    Ok(DeadLetters::new(
        &ctx.store.dir().join("state"),
        &profile.name,
        connector,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_records_read_back_and_rewrite_replaces_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = DeadLetters::new(dir.path(), "p", None);
        assert!(store.read().unwrap().is_empty());
        let letter = |id: &str| DeadLetter {
            record: serde_json::json!({"message_id": id}),
            reason: "exit code 1".into(),
            process_id: "pid".into(),
            failed_at: 1,
        };
        store.keep(&letter("a")).unwrap();
        store.keep(&letter("b")).unwrap();
        let read = store.read().unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[1].message_id(), "b");
        // A letter appended after the replay read the file stays.
        store.keep(&letter("c")).unwrap();
        let mut failed = read[0].clone();
        failed.reason = "exit code 2".into();
        let remaining = store
            .settle(&read[1..], &[(read[0].clone(), failed.clone())])
            .unwrap();
        assert_eq!(remaining, 2);
        assert_eq!(store.read().unwrap(), vec![failed, letter("c")]);
    }
}
