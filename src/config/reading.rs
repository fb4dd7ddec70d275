//! Reading `config.toml` and `credentials.toml`: parse errors that never quote
//! a secret, and the credentials file as this process last read it (its text,
//! the index of its profiles' tables, and the whole parse when asked for),
//! shared by every client the process builds.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde::Deserialize;

use super::error::{ConfigError, FileKind};
use super::files::{check_private_dir, read_optional, stamp_of, FileStamp};
use super::model::{CredentialsFile, Secrets};
use super::sections::{find_table, ProfileIndex};

/// How fresh a read of the credentials file must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// The file's text now, compared with what was parsed: what a refresh
    /// decides on, under the lock, and what a refused token is checked against.
    /// A change is never missed, whatever its size or timing.
    Exact,
    /// The last text read while the file's identity, size and times are the
    /// same: a client's first token. A change this misses (the same size,
    /// written in place within one tick of the file system's clock) costs at
    /// most one refused request, which is then checked against an exact read.
    Stamped,
}

/// One version of the credentials file's text.
#[derive(Debug)]
pub(crate) struct CredentialsText {
    path: PathBuf,
    text: String,
    /// Built at the second profile looked up (a fleet); one command's single
    /// lookup scans for its table instead of indexing thousands.
    index: OnceLock<Option<ProfileIndex>>,
    looked_up: std::sync::atomic::AtomicBool,
    whole: OnceLock<Arc<CredentialsFile>>,
}

/// Each credentials file's last read version, by path, with the stamp it had.
type Cache = HashMap<PathBuf, (Option<FileStamp>, Arc<CredentialsText>)>;

impl CredentialsText {
    /// The file at `path` (`None` when there is none), read as `freshness` asks.
    pub(crate) fn read(
        dir: &Path,
        path: &Path,
        freshness: Freshness,
    ) -> Result<Option<Arc<Self>>, ConfigError> {
        static CACHE: Mutex<Option<Cache>> = Mutex::new(None);
        check_private_dir(dir)?;
        // The stamp is taken before the text: a write between the two leaves an
        // older stamp with newer text, which only makes the next read look again.
        let stamp = stamp_of(path)?;
        if freshness == Freshness::Stamped && stamp.is_some() {
            let cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((seen, text)) = cache.as_ref().and_then(|c| c.get(path)) {
                if *seen == stamp {
                    return Ok(Some(text.clone()));
                }
            }
        }
        let Some(text) = read_optional(path)? else {
            return Ok(None);
        };
        let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        let cache = cache.get_or_insert_with(HashMap::new);
        if let Some((seen, known)) = cache.get_mut(path) {
            if known.text == text {
                *seen = stamp;
                return Ok(Some(known.clone()));
            }
        }
        let read = Arc::new(Self {
            path: path.to_path_buf(),
            text,
            index: OnceLock::new(),
            looked_up: Default::default(),
            whole: OnceLock::new(),
        });
        cache.insert(path.to_path_buf(), (stamp, read.clone()));
        Ok(Some(read))
    }

    /// Every profile's secrets as the file holds them (keyring markers as markers).
    pub(crate) fn whole(&self) -> Result<Arc<CredentialsFile>, ConfigError> {
        if let Some(parsed) = self.whole.get() {
            return Ok(parsed.clone());
        }
        let parsed = Arc::new(parse_toml(&self.path, &self.text, FileKind::Credentials)?);
        Ok(self.whole.get_or_init(|| parsed).clone())
    }

    /// One profile's secrets as the file holds them, parsing only its table
    /// when the file is laid out as bx-events writes it.
    pub(crate) fn profile(&self, name: &str) -> Result<Option<Secrets>, ConfigError> {
        if let Some(parsed) = self.whole.get() {
            return Ok(parsed.profiles.get(name).cloned());
        }
        match self.table(name) {
            Some(Some(table)) => {
                parse_table(&self.path, &self.text, table, FileKind::Credentials).map(Some)
            }
            Some(None) => Ok(None),
            None => Ok(self.whole()?.profiles.get(name).cloned()),
        }
    }

    /// Where `name`'s table lies: `Some(None)` when the file has no such
    /// profile, `None` when its layout must be parsed whole.
    fn table(&self, name: &str) -> Option<Option<Range<usize>>> {
        use std::sync::atomic::Ordering;
        if self.index.get().is_none() && !self.looked_up.swap(true, Ordering::Relaxed) {
            // Not found may also mean a layout the scan declines: the whole
            // parse tells which.
            return find_table(&self.text, name).map(Some);
        }
        let index = self.index.get_or_init(|| ProfileIndex::build(&self.text));
        index.as_ref().map(|index| index.table(name))
    }
}

/// What `config.toml` says before its first profile: `current`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ConfigHead {
    #[serde(default)]
    pub current: Option<String>,
}

impl ConfigHead {
    /// The top-level keys of `config.toml`'s text, read from the lines before
    /// its first table.
    pub(crate) fn read(path: &Path, text: &str) -> Result<Self, ConfigError> {
        parse_toml(path, super::sections::prefix(text), FileKind::Config)
    }
}

/// Reads and parses a whole file; a missing file is the default.
pub(crate) fn read_toml<T: for<'de> Deserialize<'de> + Default>(
    path: &Path,
    kind: FileKind,
) -> Result<T, ConfigError> {
    if let Some(dir) = path.parent() {
        check_private_dir(dir)?;
    }
    let Some(text) = read_optional(path)? else {
        return Ok(T::default());
    };
    parse_toml(path, &text, kind)
}

/// Parses a whole file's text; a problem names the path and line, never a secret.
pub(crate) fn parse_toml<T: for<'de> Deserialize<'de>>(
    path: &Path,
    text: &str,
    kind: FileKind,
) -> Result<T, ConfigError> {
    parse_table(path, text, 0..text.len(), kind)
}

/// Parses the part `range` of a file's `text` (one profile's table); a problem
/// names the path and the line in the whole file, never a secret.
pub(crate) fn parse_table<T: for<'de> Deserialize<'de>>(
    path: &Path,
    text: &str,
    range: Range<usize>,
    kind: FileKind,
) -> Result<T, ConfigError> {
    let part = &text[range.clone()];
    toml::from_str(part).map_err(|e| {
        let line = e
            .span()
            .map(|span| {
                let at = range.start + span.start.min(part.len());
                format!(" (line {})", text[..at].matches('\n').count() + 1)
            })
            .unwrap_or_default();
        // The parser's message may quote the value it met, and the credentials
        // file's values are secrets: there, only the line is named.
        let message = match kind {
            FileKind::Credentials => "invalid TOML or a value of the wrong type".to_string(),
            FileKind::Config => e.message().to_string(),
        };
        ConfigError::Corrupt {
            path: path.to_path_buf(),
            detail: message + &line,
            kind,
        }
    })
}
