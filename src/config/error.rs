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
    #[error("profile '{name}' does not exist{}", known_list(.name, .known))]
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

/// The profiles that do exist, for the message: the closest names first, at
/// most [`NAMES_SHOWN`] of them (a fleet's store holds thousands).
fn known_list(name: &str, known: &[String]) -> String {
    if known.is_empty() {
        return String::new();
    }
    let mut names: Vec<&String> = known.iter().collect();
    if names.len() > NAMES_SHOWN {
        names.sort_by(|a, b| {
            strsim::levenshtein(name, a)
                .cmp(&strsim::levenshtein(name, b))
                .then_with(|| a.cmp(b))
        });
        names.truncate(NAMES_SHOWN);
        let rest = known.len() - NAMES_SHOWN;
        let shown: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
        return format!(
            " (profiles: {} and {rest} more; `bx-events auth status` lists them all)",
            shown.join(", ")
        );
    }
    let shown: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
    format!(" (profiles: {})", shown.join(", "))
}

/// How many existing profile names an unknown-profile error names.
const NAMES_SHOWN: usize = 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_profile_names_at_most_ten_others_nearest_first() {
        let few: Vec<String> = ["b", "a"].iter().map(|s| s.to_string()).collect();
        assert_eq!(known_list("x", &few), " (profiles: b, a)");
        let many: Vec<String> = (0..5000).map(|n| format!("portal-{n}")).collect();
        let text = known_list("portal-4999x", &many);
        assert!(text.starts_with(" (profiles: portal-4999, "), "{text}");
        assert!(text.contains("and 4990 more"), "{text}");
        assert!(text.len() < 300, "{}", text.len());
    }
}
