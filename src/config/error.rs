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
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no credentials configured")]
    NoCredentials,
    #[error("profile '{name}' does not exist{}", known_list(.known))]
    UnknownProfile { name: String, known: Vec<String> },
    #[error("{0}")]
    Invalid(String),
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        format!(" (profiles: {})", known.join(", "))
    }
}
