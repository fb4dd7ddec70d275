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
}

/// The whole `credentials.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CredentialsFile {
    #[serde(default)]
    pub profiles: BTreeMap<String, Secrets>,
}
