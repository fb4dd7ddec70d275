//! Where profiles live: `config.toml` (settings) and `credentials.toml` (secrets)
//! in the config directory, or the shared PostgreSQL store (`--store`).

use crate::bitrix::Secret;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::keyring::keyring;
use super::model::{ConfigFile, CredentialsFile, ProfileSettings, SecretStorage, Secrets};
use super::pending::{Pending, PendingEntry};
use super::postgres::PgStore;
use super::reading::{parse_table, read_toml, ConfigHead, CredentialsText, Freshness};
use super::sections::find_table;

use super::error::{ConfigError, FileKind};
use super::files::{
    check_private_dir, ensure_private_dir, read_optional, shared_file_warning, write_atomic,
    FileLock,
};

/// The first lines of every `config.toml` bx-events writes.
const MACHINE_OWNED: &str = "# Written by bx-events (`auth login`, `auth switch`, ...). Values you edit are\n# kept; comments are not: the file is rewritten as a whole. See docs/credentials.md.\n\n";

/// Where profiles and secrets live: the config directory's files, or a shared
/// PostgreSQL store (`--store`). The directory keeps this machine's own state
/// either way (dead letters; buckets and journals without a shared store).
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    shared: Option<Arc<PgStore>>,
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            shared: None,
        }
    }

    /// Profiles and secrets in a shared store; `dir` for this machine's state.
    pub fn with_shared(dir: impl Into<PathBuf>, shared: Arc<PgStore>) -> Self {
        Self {
            dir: dir.into(),
            shared: Some(shared),
        }
    }

    /// The shared store, when profiles live in one.
    pub fn shared(&self) -> Option<&Arc<PgStore>> {
        self.shared.as_ref()
    }

    /// Where secrets are kept, for messages: the credentials file or the store.
    pub fn secrets_location(&self) -> String {
        match &self.shared {
            Some(shared) => shared.describe().to_string(),
            None => self.credentials_path().display().to_string(),
        }
    }

    /// The platform default: `~/.config/bx-events` on Linux (`$XDG_CONFIG_HOME`),
    /// `~/Library/Application Support/bx-events` on macOS,
    /// `%APPDATA%\bx-events\config` on Windows.
    pub fn default_dir() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "bx-events")
            .map(|dirs| dirs.config_dir().to_path_buf())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.dir.join("credentials.toml")
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join("credentials.lock")
    }

    /// Takes the exclusive lock that guards writes of both files.
    /// Creates and removes a scratch file beside `credentials.toml`, as an atomic
    /// write would: fails with a plain message when the directory is read-only,
    /// full, or otherwise unwritable.
    pub fn check_writable(&self) -> Result<(), String> {
        if self.shared.is_some() {
            // A refresh stores its pair with one UPDATE of a row that exists.
            return Ok(());
        }
        let probe = self
            .dir
            .join(format!(".write-check-{}", std::process::id()));
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .and_then(|mut file| {
                use std::io::Write;
                file.write_all(b"x")?;
                file.sync_all()
            });
        let _ = std::fs::remove_file(&probe);
        created.map_err(|e| format!("{} cannot be written ({e})", self.dir.display()))
    }

    pub(crate) fn lock(&self) -> Result<FileLock, ConfigError> {
        ensure_private_dir(&self.dir)?;
        super::files::lock_in_private_dir(&self.lock_path())
    }

    pub fn read_config(&self) -> Result<ConfigFile, ConfigError> {
        match &self.shared {
            Some(shared) => shared.read_config(),
            None => read_toml(&self.config_path(), FileKind::Config),
        }
    }

    /// The name and settings of the profile a command means (see
    /// [`super::profile::selected_name`]), read from its own table of
    /// `config.toml` alone; `None` when that cannot be done (a shared store, a
    /// file laid out otherwise, no such profile, no clear choice) and the
    /// caller must read the whole file.
    pub(crate) fn indexed_settings(
        &self,
        requested: Option<&str>,
    ) -> Result<Option<(String, ProfileSettings)>, ConfigError> {
        if self.shared.is_some() {
            return Ok(None);
        }
        let path = self.config_path();
        check_private_dir(&self.dir)?;
        let Some(text) = read_optional(&path)? else {
            return Ok(None);
        };
        let name = match requested.filter(|n| !n.is_empty()) {
            Some(name) => name.to_string(),
            None => match ConfigHead::read(&path, &text)?.current {
                Some(current) => current,
                // The only profile, or an error listing them: the whole file.
                None => return Ok(None),
            },
        };
        // No such profile, or a layout bx-events does not write: the whole file.
        let Some(table) = find_table(&text, &name) else {
            return Ok(None);
        };
        let settings = parse_table(&path, &text, table, FileKind::Config);
        super::files::recycle(text);
        Ok(Some((name, settings?)))
    }

    /// Every profile's secrets, those kept in the OS keyring read from it.
    pub fn read_credentials(&self) -> Result<CredentialsFile, ConfigError> {
        if let Some(shared) = &self.shared {
            return shared.read_credentials();
        }
        let mut credentials = self.parsed_credentials()?.as_ref().clone();
        for (name, secrets) in credentials.profiles.iter_mut() {
            if secrets.in_keyring() {
                *secrets = self.keyring_secrets(name)?;
            }
        }
        Ok(credentials)
    }

    /// [`Store::read_credentials`] for an update or an overview: a profile
    /// whose keyring entry cannot be read (a locked keyring, an entry deleted
    /// there) stays its bare marker, which [`Store::write_credentials`] leaves
    /// as it is. Other profiles can still be changed and shown, and this one
    /// logged out of.
    pub(crate) fn read_credentials_leniently(&self) -> Result<CredentialsFile, ConfigError> {
        let mut credentials = self.parsed_credentials()?.as_ref().clone();
        for (name, secrets) in credentials.profiles.iter_mut() {
            if secrets.in_keyring() {
                match self.keyring_secrets(name) {
                    Ok(read) => *secrets = read,
                    Err(ConfigError::Keyring { .. }) => {}
                    Err(other) => return Err(other),
                }
            }
        }
        Ok(credentials)
    }

    /// A profile's secrets from the OS keyring, marked as kept there.
    fn keyring_secrets(&self, name: &str) -> Result<Secrets, ConfigError> {
        let keyring = keyring()?;
        let mut secrets = keyring.load(&self.dir, name)?.ok_or_else(|| ConfigError::Keyring {
            detail: format!(
                "profile '{name}' keeps its secrets in the {}, but it has no entry for this profile (deleted there, or another user's keyring)",
                keyring.name()
            ),
            fix: format!("log in again: `bx-events auth login -p {name} --keyring ...`"),
        })?;
        secrets.storage = Some(SecretStorage::Keyring);
        Ok(secrets)
    }

    /// The name of this machine's OS keyring, or why it cannot be used.
    pub fn keyring_name() -> Result<String, ConfigError> {
        keyring().map(|k| k.name().to_string())
    }

    /// Where one profile's secrets live, for `auth status`.
    pub fn storage_of(&self, secrets: Option<&Secrets>) -> String {
        if self.shared.is_none() && secrets.is_some_and(Secrets::in_keyring) {
            return keyring()
                .map(|k| k.name().to_string())
                .unwrap_or_else(|_| "OS keyring (unavailable)".into());
        }
        self.secrets_location()
    }

    /// One profile's secrets, read now (what another process stored counts).
    /// With a shared store, secrets kept on this machine while the store could
    /// not take them are written back first; while the store still cannot take
    /// them, this machine's kept pair is the profile's pair.
    pub fn secrets_of(&self, name: &str) -> Result<Option<Secrets>, ConfigError> {
        self.secrets_read(name, Freshness::Exact)
    }

    /// Every profile's secrets in one read, for a fleet that builds a client
    /// per portal: with a shared store, one query instead of one per portal.
    /// `None` where reading them one by one costs nothing more (the
    /// credentials file, read per table) or must decide (pairs kept on this
    /// machine for the store, which [`Store::secrets_of`] writes back first).
    pub(crate) fn secrets_of_all(&self) -> Result<Option<CredentialsFile>, ConfigError> {
        match &self.shared {
            Some(shared) if !Pending::new(&self.dir).any() => shared.read_credentials().map(Some),
            _ => Ok(None),
        }
    }

    /// [`Store::secrets_of`] as this process last read them, while the
    /// credentials file keeps its stamp: a client's first token, which costs
    /// no read per client in a fleet. A pair changed unseen is noticed when the
    /// portal refuses it, and a refresh always reads exactly (see [`Freshness`]).
    pub(crate) fn recent_secrets_of(&self, name: &str) -> Result<Option<Secrets>, ConfigError> {
        self.secrets_read(name, Freshness::Stamped)
    }

    fn secrets_read(
        &self,
        name: &str,
        freshness: Freshness,
    ) -> Result<Option<Secrets>, ConfigError> {
        let Some(shared) = &self.shared else {
            let Some(file) = CredentialsText::read(&self.dir, &self.credentials_path(), freshness)?
            else {
                return Ok(None);
            };
            return match file.profile(name)? {
                Some(marker) if marker.in_keyring() => self.keyring_secrets(name).map(Some),
                other => Ok(other),
            };
        };
        let pending = Pending::new(&self.dir);
        if pending.any() {
            let written = pending.write_back(shared);
            // Not taken by the store (unreachable, or this row damaged): this
            // machine's pair is the only valid one.
            if let Some(entry) = pending.entry(name)? {
                return Ok(Some(entry.secrets));
            }
            written?;
        }
        shared.secrets_of(name)
    }

    /// Stores a refreshed pair in the shared store; when the store cannot take
    /// it, keeps it on this machine (see [`Pending`]) and says so: the refresh
    /// token it replaced is spent, so this pair must not be lost.
    pub(crate) fn save_rotated(
        &self,
        name: &str,
        tokens: &crate::bitrix::OAuthTokens,
        spent: Option<Secret>,
    ) -> Result<(), ConfigError> {
        let Some(shared) = &self.shared else {
            return Err(ConfigError::Invalid("no shared store".into()));
        };
        let written = shared.secrets_of(name).and_then(|secrets| {
            let mut secrets = secrets.unwrap_or_default();
            secrets.access_token = Some(tokens.access_token.clone());
            secrets.refresh_token = tokens.refresh_token.clone();
            secrets.expires_at = tokens.expires_at;
            shared.save_secrets(name, &secrets, spent.as_ref())
        });
        match written {
            Ok(_) => Ok(()),
            Err(ConfigError::Damaged { .. }) | Err(ConfigError::Shared(_)) => {
                let entry = PendingEntry {
                    settings: None,
                    secrets: Secrets {
                        access_token: Some(tokens.access_token.clone()),
                        refresh_token: tokens.refresh_token.clone(),
                        expires_at: tokens.expires_at,
                        ..Secrets::default()
                    },
                    replaces: spent,
                };
                let pending = Pending::new(&self.dir);
                pending.keep(name, entry)?;
                tracing::warn!(
                    "the store {} could not take the refreshed token pair of profile '{name}': it is kept in {} and written to the store when the store answers again (docs/credentials.md)",
                    shared.describe(),
                    self.dir.join("state").display()
                );
                Ok(())
            }
            Err(other) => Err(other),
        }
    }

    /// Keeps a whole profile (a captured install) on this machine until the
    /// shared store can take it.
    pub(crate) fn keep_pending_profile(
        &self,
        name: &str,
        settings: ProfileSettings,
        secrets: Secrets,
    ) -> Result<(), ConfigError> {
        Pending::new(&self.dir).keep(
            name,
            PendingEntry {
                settings: Some(settings),
                secrets,
                replaces: None,
            },
        )
    }

    /// The whole `credentials.toml` as it is now, parsed again only when its
    /// text changed since this process last parsed it.
    fn parsed_credentials(&self) -> Result<Arc<CredentialsFile>, ConfigError> {
        match CredentialsText::read(&self.dir, &self.credentials_path(), Freshness::Exact)? {
            Some(file) => file.whole(),
            None => Ok(Arc::new(CredentialsFile::default())),
        }
    }

    /// A warning to show when `credentials.toml` can be read by other users.
    pub fn credentials_warning(&self) -> Option<String> {
        if self.shared.is_some() {
            return None;
        }
        shared_file_warning(&self.credentials_path())
    }

    /// Writes `config.toml`; the caller must hold [`Store::lock`].
    /// Writes `config.toml`, which bx-events owns: values are kept, comments are not
    /// (the header says so).
    pub fn write_config(&self, config: &ConfigFile) -> Result<(), ConfigError> {
        ensure_private_dir(&self.dir)?;
        let text =
            toml::to_string_pretty(config).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let text = format!("{MACHINE_OWNED}{text}");
        write_atomic(&self.config_path(), &text, 0o600)
    }

    /// Writes every profile's secrets (the caller must hold [`Store::lock`]):
    /// `credentials.toml` (mode 0600), and the OS keyring for profiles kept
    /// there. A profile whose secrets say nothing about where they go stays
    /// where it is. Keyring entries are written before the file names them, and
    /// deleted only after the file no longer does: a crash between the two
    /// leaves an unused entry, never a profile whose secrets are nowhere.
    pub fn write_credentials(&self, credentials: &CredentialsFile) -> Result<(), ConfigError> {
        ensure_private_dir(&self.dir)?;
        let before = self.parsed_credentials()?;
        let file = super::keyring::file_form(&self.dir, &before, credentials)?;
        let text =
            toml::to_string_pretty(&file).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        write_atomic(&self.credentials_path(), &text, 0o600)?;
        super::keyring::forget_moved_out(&self.dir, &before, &file);
        Ok(())
    }

    /// Locks, reads both files, applies `change`, and writes both back.
    /// A damaged file stops the update before anything is written.
    pub fn update<R>(
        &self,
        change: impl FnOnce(&mut ConfigFile, &mut CredentialsFile) -> Result<R, ConfigError>,
    ) -> Result<R, ConfigError> {
        if let Some(shared) = &self.shared {
            return shared.update(change);
        }
        let _lock = self.lock()?;
        let mut config = self.read_config()?;
        let mut credentials = self.read_credentials_leniently()?;
        let result = change(&mut config, &mut credentials)?;
        self.write_credentials(&credentials)?;
        self.write_config(&config)?;
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewritten_credentials_file_is_read_again_even_at_the_same_size() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let write = |token: &str| {
            store
                .update(|_, credentials| {
                    credentials.profiles.insert(
                        "p".into(),
                        Secrets {
                            access_token: Some(Secret::new(token.to_string())),
                            ..Secrets::default()
                        },
                    );
                    Ok(())
                })
                .unwrap()
        };
        let token = |store: &Store| {
            store
                .secrets_of("p")
                .unwrap()
                .and_then(|s| s.access_token)
                .map(|t| t.expose().clone())
        };
        write("aaaa1111");
        assert_eq!(token(&store).as_deref(), Some("aaaa1111"));
        // Same length, written at once: a stamp of inode, time and size could
        // call this unchanged; the text cannot.
        write("bbbb2222");
        assert_eq!(token(&store).as_deref(), Some("bbbb2222"));
        // Edited in place, by hand, keeping the size.
        let path = store.credentials_path();
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("bbbb2222", "cccc3333");
        std::fs::write(&path, text).unwrap();
        assert_eq!(token(&store).as_deref(), Some("cccc3333"));
    }

    #[test]
    fn files_laid_out_by_hand_are_read_whole_and_mean_the_same() {
        let dir = tempfile::tempdir().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let store = Store::new(dir.path());
        // Dotted keys and an inline table: layouts the per-profile scan declines.
        std::fs::write(
            store.credentials_path(),
            "profiles.a.access_token = \"token-a\"\nprofiles.b = { access_token = \"token-b\" }\n",
        )
        .unwrap();
        std::fs::write(
            store.config_path(),
            "current = \"b\"\nprofiles.a = { portal = \"https://a.example.com\", kind = \"oauth\" }\n[profiles.b]\nportal = \"https://b.example.com\"\nkind = \"oauth\"\n",
        )
        .unwrap();
        let token = |name: &str, recent: bool| {
            let read = if recent {
                store.recent_secrets_of(name)
            } else {
                store.secrets_of(name)
            };
            read.unwrap()
                .and_then(|s| s.access_token)
                .map(|t| t.expose().clone())
        };
        for recent in [true, false] {
            assert_eq!(token("a", recent).as_deref(), Some("token-a"));
            assert_eq!(token("b", recent).as_deref(), Some("token-b"));
            assert_eq!(token("c", recent), None);
        }
        // The config's own layout declines too: the whole file answers.
        assert!(store.indexed_settings(Some("a")).unwrap().is_none());
        let profile = super::super::profile::resolve(&store, None).unwrap();
        assert_eq!(profile.name, "b");
        assert_eq!(profile.settings.portal, "https://b.example.com");
        let chosen = super::super::profile::resolve(&store, Some("a")).unwrap();
        assert_eq!(chosen.settings.portal, "https://a.example.com");
    }

    #[test]
    fn a_recent_read_sees_every_write_bx_events_makes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let recent = |name: &str| {
            store
                .recent_secrets_of(name)
                .unwrap()
                .and_then(|s| s.access_token)
                .map(|t| t.expose().clone())
        };
        assert_eq!(recent("p"), None);
        // Same size each time, at once: an atomic write always lands on a new
        // inode (the old file still holds its own while the new one is made).
        for token in ["aaaa1111", "bbbb2222", "cccc3333", "dddd4444"] {
            store
                .update(|_, credentials| {
                    for name in ["p", "q"] {
                        credentials.profiles.insert(
                            name.into(),
                            Secrets {
                                access_token: Some(Secret::new(token.to_string())),
                                ..Secrets::default()
                            },
                        );
                    }
                    Ok(())
                })
                .unwrap();
            assert_eq!(recent("p").as_deref(), Some(token));
            assert_eq!(recent("q").as_deref(), Some(token));
        }
    }
}
