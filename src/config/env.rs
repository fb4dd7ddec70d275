//! Names of every environment variable bx-events reads, in one place.

pub const PROFILE: &str = "BX_EVENTS_PROFILE";
pub const OUTPUT: &str = "BX_EVENTS_OUTPUT";
pub const CONFIG_DIR: &str = "BX_EVENTS_CONFIG_DIR";
pub const NO_INPUT: &str = "BX_EVENTS_NO_INPUT";
pub const PORTAL: &str = "BX_EVENTS_PORTAL";
pub const ACCESS_TOKEN: &str = "BX_EVENTS_ACCESS_TOKEN";
pub const REFRESH_TOKEN: &str = "BX_EVENTS_REFRESH_TOKEN";
pub const CLIENT_ID: &str = "BX_EVENTS_CLIENT_ID";
pub const CLIENT_SECRET: &str = "BX_EVENTS_CLIENT_SECRET";
pub const WEBHOOK_URL: &str = "BX_EVENTS_WEBHOOK_URL";
pub const OAUTH_SERVER: &str = "BX_EVENTS_OAUTH_SERVER";
pub const RATE_LIMIT: &str = "BX_EVENTS_RATE_LIMIT";
pub const APPLICATION_TOKEN: &str = "BX_EVENTS_APPLICATION_TOKEN";
pub const CA_CERT: &str = "BX_EVENTS_CA_CERT";
/// The shared store's URL (`--store`).
pub const STORE: &str = "BX_EVENTS_STORE";
/// The key sealing secrets in the shared store.
pub const STORE_KEY: &str = "BX_EVENTS_STORE_KEY";
/// Keep the secrets of profiles `auth login` stores in the OS keyring (`--keyring`).
pub const KEYRING: &str = "BX_EVENTS_KEYRING";
/// Test builds with the `test-keyring` feature: the kernel's keyutils keyring
/// stands in for the OS keyring when set (src/config/keyring.rs).
pub const TEST_KEYRING: &str = "BX_EVENTS_TEST_KEYRING";
/// Test failpoints (src/support/failpoint.rs), honoured only by builds with the
/// `failpoints` feature.
pub const TEST_FAILPOINT: &str = crate::support::failpoint::VARIABLE;

/// Every variable with its meaning, for `help environment` and the docs.
pub const ALL: &[(&str, &str)] = &[
    (PROFILE, "profile to use (same as -p/--profile)"),
    (
        OUTPUT,
        "output format: table, json or ndjson (same as -o/--output)",
    ),
    (
        CONFIG_DIR,
        "directory of config.toml and credentials.toml (same as --config-dir)",
    ),
    (
        NO_INPUT,
        "never prompt (same as --no-input); also implied by CI or a non-terminal stdin",
    ),
    (
        PORTAL,
        "portal URL for environment-only credentials, e.g. https://example.bitrix24.com",
    ),
    (
        ACCESS_TOKEN,
        "OAuth access token; with BX_EVENTS_PORTAL it forms the active profile",
    ),
    (
        REFRESH_TOKEN,
        "OAuth refresh token used to renew BX_EVENTS_ACCESS_TOKEN",
    ),
    (
        CLIENT_ID,
        "OAuth application client id (needed to refresh tokens)",
    ),
    (
        CLIENT_SECRET,
        "OAuth application client secret (needed to refresh tokens)",
    ),
    (
        WEBHOOK_URL,
        "incoming webhook URL; forms the active profile when set",
    ),
    (
        OAUTH_SERVER,
        "OAuth server, default https://oauth.bitrix.info",
    ),
    (
        RATE_LIMIT,
        "client-side rate limit: standard, enterprise, off or BURST/RATE",
    ),
    (
        APPLICATION_TOKEN,
        "application token that `listen` checks and `trigger` sends",
    ),
    (
        CA_CERT,
        "extra CA certificate (PEM file) to trust, for portals behind a private CA (same as --ca-cert)",
    ),
    (
        STORE,
        "shared store for a fleet, postgres://USER@HOST:PORT/DB (same as --store); default: the config directory's files",
    ),
    (
        STORE_KEY,
        "64 hex digits: seals secrets in the shared store with AES-256-GCM",
    ),
    (
        KEYRING,
        "1: `auth login` keeps the profile's secrets in the OS keyring (same as --keyring)",
    ),
];

/// Variables that hold secrets: removed from the environment of every command
/// bx-events runs (`consume --exec`, `listen --exec`), which needs none of them.
pub const SECRET_VARIABLES: &[&str] = &[
    ACCESS_TOKEN,
    REFRESH_TOKEN,
    CLIENT_SECRET,
    WEBHOOK_URL,
    APPLICATION_TOKEN,
    STORE,
    STORE_KEY,
];

/// Removes [`SECRET_VARIABLES`] from a child's environment.
#[cfg(feature = "cli")]
pub fn remove_secrets(command: &mut tokio::process::Command) {
    for name in SECRET_VARIABLES {
        command.env_remove(name);
    }
}
