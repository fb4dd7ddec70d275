//! Secrets the shared store could not take when they were made: a refreshed
//! token pair (the old refresh token is spent by then) or a captured install.
//! They are kept on this machine (`state/store-pending.json`, 0600, written
//! atomically under the credentials lock) and written to the store as soon as it
//! answers again, so an outage never leaves the only copy of a pair in memory.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::ConfigError;
use super::files::{ensure_state_dir, lock_in_private_dir, read_optional, write_atomic};
use super::model::{ProfileSettings, Secrets};
use super::postgres::PgStore;
use crate::bitrix::Secret;

/// One profile's secrets waiting for the store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct PendingEntry {
    /// A captured install: the whole profile, written as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<ProfileSettings>,
    /// The secrets (for a refresh: its access and refresh token and expiry).
    pub secrets: Secrets,
    /// For a refresh: the refresh token it spent. The pair is written back only
    /// over a row that still holds it, never over a newer pair (a reinstall
    /// captured meanwhile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Secret>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct PendingFile {
    #[serde(default)]
    profiles: BTreeMap<String, PendingEntry>,
}

/// The pending secrets of one config directory.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    dir: PathBuf,
}

impl Pending {
    pub(crate) fn new(config_dir: &std::path::Path) -> Self {
        Self {
            dir: config_dir.join("state"),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.join("store-pending.json")
    }

    fn read(&self) -> Result<PendingFile, ConfigError> {
        match read_optional(&self.path())? {
            None => Ok(PendingFile::default()),
            // The parser's message could quote a secret: name only the file.
            Some(text) => serde_json::from_str(&text).map_err(|_| ConfigError::Corrupt {
                path: self.path(),
                detail: "it is not the JSON bx-events writes".into(),
                kind: super::FileKind::Credentials,
            }),
        }
    }

    fn write(&self, file: &PendingFile) -> Result<(), ConfigError> {
        if file.profiles.is_empty() {
            return match std::fs::remove_file(self.path()) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ConfigError::Write {
                    path: self.path(),
                    cause: e,
                }),
                _ => Ok(()),
            };
        }
        let text =
            serde_json::to_string_pretty(file).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        write_atomic(&self.path(), &text, 0o600)
    }

    /// Whether anything waits for the store (one `stat` when nothing does).
    pub(crate) fn any(&self) -> bool {
        self.path().exists()
    }

    /// Keeps `entry` for `profile` (replacing an older one: a later pair
    /// supersedes an earlier one, whose refresh token it spent).
    pub(crate) fn keep(&self, profile: &str, mut entry: PendingEntry) -> Result<(), ConfigError> {
        ensure_state_dir(&self.dir)?;
        let _lock = lock_in_private_dir(&self.dir.join("store-pending.lock"))?;
        let mut file = self.read()?;
        if let Some(older) = file.profiles.get(profile) {
            // The store still holds what the oldest pending pair replaced.
            if entry.settings.is_none() {
                entry.replaces = older.replaces.clone();
                if older.settings.is_some() {
                    let mut whole = older.clone();
                    whole.secrets.access_token = entry.secrets.access_token.clone();
                    whole.secrets.refresh_token = entry.secrets.refresh_token.clone();
                    whole.secrets.expires_at = entry.secrets.expires_at;
                    entry = whole;
                }
            }
        }
        file.profiles.insert(profile.to_string(), entry);
        self.write(&file)
    }

    /// The pending entry of `profile`, if any.
    pub(crate) fn entry(&self, profile: &str) -> Result<Option<PendingEntry>, ConfigError> {
        if !self.any() {
            return Ok(None);
        }
        Ok(self.read()?.profiles.remove(profile))
    }

    /// Writes every pending entry to `store`; an entry leaves the file once the
    /// store has it, or once the store holds something newer. An entry whose row
    /// is damaged stays and the others go on; the first failure to reach the
    /// store stops the write-back (the rest stay).
    pub(crate) fn write_back(&self, store: &PgStore) -> Result<(), ConfigError> {
        if !self.any() {
            return Ok(());
        }
        let _lock = lock_in_private_dir(&self.dir.join("store-pending.lock"))?;
        let mut file = self.read()?;
        let names: Vec<String> = file.profiles.keys().cloned().collect();
        for name in names {
            let Some(entry) = file.profiles.get(&name).cloned() else {
                continue;
            };
            let outcome = match &entry.settings {
                // A captured portal: under the profile that holds its member id
                // by now, else under the name it was kept as.
                Some(settings) => store.update(|config, credentials| {
                    let target = config
                        .profiles
                        .iter()
                        .find(|(_, s)| {
                            settings.member_id.is_some() && s.member_id == settings.member_id
                        })
                        .map(|(existing, _)| existing.clone())
                        .unwrap_or_else(|| name.clone());
                    let rate_limit = config
                        .profiles
                        .get(&target)
                        .and_then(|s| s.rate_limit.clone());
                    config.profiles.insert(
                        target.clone(),
                        ProfileSettings {
                            rate_limit,
                            ..settings.clone()
                        },
                    );
                    credentials.profiles.insert(target, entry.secrets.clone());
                    Ok(true)
                }),
                None => store.secrets_of(&name).and_then(|stored| {
                    let mut secrets = stored.unwrap_or_default();
                    secrets.access_token = entry.secrets.access_token.clone();
                    secrets.refresh_token = entry.secrets.refresh_token.clone();
                    secrets.expires_at = entry.secrets.expires_at;
                    store.save_secrets(&name, &secrets, entry.replaces.as_ref())
                }),
            };
            match outcome {
                Ok(written) => {
                    if written {
                        tracing::warn!(
                            "wrote the pending secrets of profile '{name}' to the store {}",
                            store.describe()
                        );
                    } else {
                        tracing::warn!(
                            "profile '{name}' changed in the store {} while its refreshed pair waited on this machine (a reinstall?): the store's newer secrets are kept",
                            store.describe()
                        );
                    }
                    file.profiles.remove(&name);
                    self.write(&file)?;
                }
                // That profile's row cannot take it (damaged): the entry stays,
                // and the others are written.
                Err(error @ ConfigError::Damaged { .. }) => {
                    tracing::warn!("{error}; its refreshed pair stays on this machine");
                }
                Err(error) => {
                    self.write(&file)?;
                    return Err(error);
                }
            }
        }
        Ok(())
    }
}
