//! The OS keyring as the place one profile's secrets are kept (`auth login
//! --keyring`): the macOS Keychain, the Windows Credential Manager, or the
//! freedesktop Secret Service on Linux and the BSDs.
//!
//! One entry per profile holds all of its secrets as JSON (the same fields as
//! `credentials.toml`), so a token refresh rewrites one entry. Entries are named
//! after the profile and the config directory, so two directories (a test's, a
//! second account's) never share one.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use keyring_core::{CredentialStore, Entry};

use super::error::ConfigError;
use super::model::{CredentialsFile, SecretStorage, Secrets};

/// The service every bx-events entry is filed under.
const SERVICE: &str = "bx-events";

/// The platform's keyring, opened once per process.
pub(crate) struct Keyring {
    store: Arc<CredentialStore>,
    name: &'static str,
}

/// The keyring of this platform, or why there is none.
pub(crate) fn keyring() -> Result<&'static Keyring, ConfigError> {
    static OPENED: OnceLock<Result<Keyring, String>> = OnceLock::new();
    OPENED
        .get_or_init(open_platform_keyring)
        .as_ref()
        .map_err(|detail| ConfigError::Keyring {
            detail: detail.clone(),
            fix: "keep the profile's secrets in credentials.toml instead: log in without --keyring, or run `bx-events auth keyring --off` where a keyring still answers".into(),
        })
}

impl Keyring {
    /// The keyring's name, for messages and `auth status`.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// A profile's secrets, or `None` when the keyring has no entry for it.
    pub(crate) fn load(&self, dir: &Path, profile: &str) -> Result<Option<Secrets>, ConfigError> {
        let bytes = match self.entry(dir, profile)?.get_secret() {
            Ok(bytes) => bytes,
            Err(keyring_core::Error::NoEntry) => return Ok(None),
            Err(error) => return Err(self.failed("read", profile, &error)),
        };
        // The parser's message could quote the value: only say what is wrong.
        let secrets: Secrets =
            serde_json::from_slice(&bytes).map_err(|_| ConfigError::Keyring {
                detail: format!(
                    "the {} entry of profile '{profile}' is not one bx-events wrote",
                    self.name
                ),
                fix: "delete the entry in the keyring's own tool and log in again".into(),
            })?;
        Ok(Some(secrets.without_storage()))
    }

    /// Stores a profile's secrets, replacing its entry.
    pub(crate) fn save(
        &self,
        dir: &Path,
        profile: &str,
        secrets: &Secrets,
    ) -> Result<(), ConfigError> {
        let text = serde_json::to_vec(&secrets.without_storage())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        self.entry(dir, profile)?
            .set_secret(&text)
            .map_err(|error| self.failed("write", profile, &error))
    }

    /// Deletes a profile's entry; one that is already gone is no error.
    pub(crate) fn delete(&self, dir: &Path, profile: &str) -> Result<(), ConfigError> {
        match self.entry(dir, profile)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(error) => Err(self.failed("delete", profile, &error)),
        }
    }

    fn entry(&self, dir: &Path, profile: &str) -> Result<Entry, ConfigError> {
        Entry::new_in_store(&self.store, SERVICE, &account(dir, profile))
            .map_err(|error| self.failed("name", profile, &error))
    }

    /// A keyring error as a message that names the keyring and the profile. The
    /// errors that could carry a value read from the keyring are not quoted.
    fn failed(&self, action: &str, profile: &str, error: &keyring_core::Error) -> ConfigError {
        let cause = match error {
            keyring_core::Error::BadEncoding(_) | keyring_core::Error::BadDataFormat(..) => {
                "it holds a value bx-events did not write".to_string()
            }
            other => other.to_string(),
        };
        ConfigError::Keyring {
            detail: format!(
                "cannot {action} the {} entry of profile '{profile}': {cause}",
                self.name
            ),
            fix: "unlock the keyring (or start its service) and run again".into(),
        }
    }
}

/// What `credentials.toml` is to hold for `credentials`, given what it holds now
/// (`before`): the secrets of profiles kept in the keyring are written there
/// (when they changed) and leave only their marker. A profile whose secrets do
/// not say where they go stays where it is. Runs before the file is written, so
/// the file never names an entry that is not there yet.
pub(crate) fn file_form(
    dir: &Path,
    before: &CredentialsFile,
    credentials: &CredentialsFile,
) -> Result<CredentialsFile, ConfigError> {
    let mut file = CredentialsFile::default();
    for (name, secrets) in &credentials.profiles {
        let was_in_keyring = before.profiles.get(name).is_some_and(Secrets::in_keyring);
        let to_keyring = match secrets.storage {
            Some(storage) => storage == SecretStorage::Keyring,
            None => was_in_keyring,
        };
        // The bare marker of an entry an update could not read: left as it is,
        // and never moved out, which would store no secrets at all.
        let unread = was_in_keyring && secrets.without_storage() == Secrets::default();
        let kept = match (unread, to_keyring) {
            (true, false) => {
                return Err(ConfigError::Keyring {
                    detail: format!("the secrets of profile '{name}' cannot be read from the OS keyring, so they cannot be moved out of it"),
                    fix: "unlock the keyring (or start its service) and run again".into(),
                })
            }
            (true, true) => Secrets::keyring_marker(),
            (false, true) => {
                let keyring = keyring()?;
                let secrets = secrets.without_storage();
                // Most writes change one profile: the others' entries stay as
                // they are (on macOS a write can ask the user).
                if keyring.load(dir, name).ok().flatten().as_ref() != Some(&secrets) {
                    keyring.save(dir, name, &secrets)?;
                }
                Secrets::keyring_marker()
            }
            (false, false) => secrets.without_storage(),
        };
        file.profiles.insert(name.clone(), kept);
    }
    Ok(file)
}

/// Deletes the entries of profiles that `file`, now written, no longer keeps in
/// the keyring (logged out, or moved back). A failure leaves an unused entry,
/// which is said, not fatal: the change itself is stored.
pub(crate) fn forget_moved_out(dir: &Path, before: &CredentialsFile, file: &CredentialsFile) {
    for (name, secrets) in &before.profiles {
        let still = file.profiles.get(name).is_some_and(Secrets::in_keyring);
        if secrets.in_keyring() && !still {
            if let Err(error) = keyring().and_then(|keyring| keyring.delete(dir, name)) {
                tracing::warn!(
                    "profile '{name}' no longer keeps its secrets in the keyring, but its entry stays there: {error}"
                );
            }
        }
    }
}

/// The entry's account name: the profile, and the config directory it belongs to.
fn account(dir: &Path, profile: &str) -> String {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    format!("{profile} in {}", dir.display())
}

fn open_platform_keyring() -> Result<Keyring, String> {
    #[cfg(all(feature = "test-keyring", target_os = "linux"))]
    // A CI machine has no desktop session to hold a keyring.
    if std::env::var_os(super::env::TEST_KEYRING).is_some() {
        return linux_keyutils_keyring_store::Store::new()
            .map(|store| Keyring {
                store,
                name: "kernel keyutils keyring (test builds)",
            })
            .map_err(|e| format!("the kernel keyutils keyring cannot be used: {e}"));
    }
    platform_keyring()
}

#[cfg(target_os = "macos")]
fn platform_keyring() -> Result<Keyring, String> {
    apple_native_keyring_store::keychain::Store::new()
        .map(|store| Keyring {
            store,
            name: "macOS Keychain",
        })
        .map_err(|e| format!("the macOS Keychain cannot be used: {e}"))
}

#[cfg(windows)]
fn platform_keyring() -> Result<Keyring, String> {
    windows_native_keyring_store::Store::new()
        .map(|store| Keyring {
            store,
            name: "Windows Credential Manager",
        })
        .map_err(|e| format!("the Windows Credential Manager cannot be used: {e}"))
}

#[cfg(all(unix, not(target_os = "macos"), feature = "secret-service"))]
fn platform_keyring() -> Result<Keyring, String> {
    zbus_secret_service_keyring_store::Store::new()
        .map(|store| Keyring {
            store,
            name: "Secret Service keyring",
        })
        .map_err(|e| {
            format!("no Secret Service keyring answers on D-Bus ({e}); a desktop session runs one (GNOME Keyring, KWallet), a server or container usually has none")
        })
}

#[cfg(all(unix, not(target_os = "macos"), not(feature = "secret-service")))]
fn platform_keyring() -> Result<Keyring, String> {
    Err("this build of bx-events has no OS keyring: on Linux and the BSDs it needs the `secret-service` feature (on by default; `cargo install bx-events` includes it)".into())
}
