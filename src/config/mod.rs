//! Paths, profiles, the credential store and environment variable names.

pub mod env;
pub mod error;
pub mod files;
pub mod profile;
pub mod store;

pub use error::{ConfigError, FileKind};
pub use profile::{resolve, ActiveProfile};
pub use store::{ConfigFile, CredentialsFile, ProfileKind, ProfileSettings, Secrets, Store};
