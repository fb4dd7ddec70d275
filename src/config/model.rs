//! The data model of profiles, whatever keeps them: settings (`config.toml`, or
//! the store's profile rows) and secrets (`credentials.toml`, or sealed columns).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bitrix::Secret;

/// How a profile authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileKind {
    Oauth,
    Webhook,
}

impl std::fmt::Display for ProfileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Oauth => "oauth",
            Self::Webhook => "webhook",
        })
    }
}

/// Non-secret settings of one profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileSettings {
    pub portal: String,
    pub kind: ProfileKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The portal's `member_id`, as token answers report it; `dev` sends it to
    /// handlers in `auth[member_id]` as the portal does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    /// When the application was uninstalled from the portal (RFC 3339), as an
    /// `ONAPPUNINSTALL` captured by `listen --capture-installs` said: the profile
    /// is kept for the record, and fleet commands pass it by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uninstalled_at: Option<String>,
}

/// The whole `config.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileSettings>,
}

/// Where one profile's secrets are kept on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretStorage {
    /// `credentials.toml`, the default.
    File,
    /// The OS keyring (`auth login --keyring`); `credentials.toml` keeps only
    /// this marker, so every reader knows where to look.
    Keyring,
}

/// Secrets of one profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Secrets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<Secret>,
    /// The application token the portal sends handlers (`auth[application_token]`),
    /// when known: `dev` sends it to the local handler as the portal would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_token: Option<Secret>,
    /// Where these secrets are kept. `None` in a change means "where they are
    /// now" (a new profile: the credentials file), so code that replaces a
    /// profile's secrets never moves them out of the keyring by accident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<SecretStorage>,
}

impl Secrets {
    /// Whether these secrets are (to be) kept in the OS keyring.
    pub(crate) fn in_keyring(&self) -> bool {
        self.storage == Some(SecretStorage::Keyring)
    }

    /// The secrets alone, without saying where they are kept: what the keyring
    /// entry and the shared store hold.
    pub(crate) fn without_storage(&self) -> Self {
        Self {
            storage: None,
            ..self.clone()
        }
    }

    /// What `credentials.toml` keeps for a profile whose secrets are in the keyring.
    pub(crate) fn keyring_marker() -> Self {
        Self {
            storage: Some(SecretStorage::Keyring),
            ..Self::default()
        }
    }
}

/// The whole `credentials.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CredentialsFile {
    #[serde(default)]
    pub profiles: BTreeMap<String, Secrets>,
}
