//! Paths, profiles, the credential store and environment variable names.

pub mod env;
mod error;
pub(crate) mod files;
mod keyring;
mod model;
pub(crate) mod pending;
mod pgpass;
pub(crate) mod postgres;
pub(crate) mod profile;
mod reading;
mod seal;
mod sections;
pub(crate) mod store;

pub(crate) use error::{ConfigError, FileKind};
pub(crate) use model::ConfigFile;
pub(crate) use model::SecretStorage;
pub use model::{ProfileKind, ProfileSettings, Secrets};
pub use profile::sandbox_profile;
pub(crate) use profile::{resolve, ActiveProfile};
pub use store::Store;
