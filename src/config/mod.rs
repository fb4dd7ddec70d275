//! Paths, profiles, the credential store and environment variable names.

pub mod env;
mod error;
pub(crate) mod files;
pub(crate) mod pending;
mod pgpass;
pub mod postgres;
pub(crate) mod profile;
mod seal;
pub(crate) mod store;

pub use error::{ConfigError, FileKind};
pub use profile::{resolve, ActiveProfile};
pub use store::{ConfigFile, CredentialsFile, ProfileKind, ProfileSettings, Secrets, Store};
