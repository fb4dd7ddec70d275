//! Paths, profiles, the credential store and environment variable names.

pub mod env;
mod error;
pub(crate) mod files;
mod model;
pub(crate) mod pending;
mod pgpass;
pub mod postgres;
pub(crate) mod profile;
mod seal;
pub(crate) mod store;

pub use error::{ConfigError, FileKind};
pub use model::{ConfigFile, CredentialsFile, ProfileKind, ProfileSettings, Secrets};
pub use profile::{resolve, ActiveProfile};
pub use store::Store;
