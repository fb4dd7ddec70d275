//! Errors of the configuration and credential files.

use std::path::PathBuf;

/// Which of the two files a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Config,
    Credentials,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path} is damaged and was left untouched: {detail}. Repair it, or move it away and log in again")]
    Corrupt {
        path: PathBuf,
        detail: String,
        kind: FileKind,
    },
    // The I/O error is part of the message, not a `source`: the error chain
    // shown to users must not repeat it.
    #[error("cannot read {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot write {path}: {cause}")]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("no credentials configured")]
    NoCredentials,
    #[error("profile '{name}' does not exist{}", known_list(.known))]
    UnknownProfile { name: String, known: Vec<String> },
    #[error("{0}")]
    Invalid(String),
    /// The shared store (`--store postgres://...`) cannot be reached or used.
    #[error("{0}")]
    Shared(String),
    /// One profile's row in the shared store cannot be used (it does not open
    /// with the key, or it is not what bx-events writes): that profile's failure
    /// alone, never a reason to stop using the others.
    #[error("profile '{profile}' in the shared store cannot be used: {detail}")]
    Damaged { profile: String, detail: String },
    /// The portal uninstalled the application: its tokens no longer work, and
    /// the profile waits for a reinstall (exit 1, like any failed portal).
    #[error("the application was uninstalled from {portal} at {at}")]
    Uninstalled { portal: String, at: String },
    /// The OS keyring that keeps a profile's secrets (`auth login --keyring`)
    /// cannot be used: none on this machine, locked, or its entry is gone.
    #[error("{detail}")]
    Keyring { detail: String, fix: String },
    /// The config directory, `state/` or a file in them could be changed by
    /// someone else: bx-events will not trust it with secrets (ssh's rule).
    #[error("{path} {detail}; bx-events keeps secrets there and will not use it")]
    Unsafe {
        path: PathBuf,
        detail: String,
        fix: String,
    },
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        format!(" (profiles: {})", known.join(", "))
    }
}
