//! Small JSON records of what a command made on a portal (bindings it must
//! remove), kept under the config directory's `state/` so that the successor of
//! a killed run finds them and finishes the job.

use std::path::Path;

use anyhow::Context as _;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::files::{ensure_state_dir, write_atomic};

/// The record at `path`, or the empty one when there is none.
pub(crate) fn read<T: DeserializeOwned + Default>(path: &Path) -> anyhow::Result<T> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is damaged; remove it and run again", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes the record (private, atomically), or removes the file when the record
/// holds nothing more to do.
pub(crate) fn write<T: Serialize>(path: &Path, record: &T, empty: bool) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        ensure_state_dir(dir)?;
    }
    if empty {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error).with_context(|| format!("removing {}", path.display())),
        }
    } else {
        Ok(write_atomic(path, &serde_json::to_string(record)?, 0o600)?)
    }
}
