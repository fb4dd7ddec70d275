//! Argument values commands share: `KEY=VALUE` pairs and http(s) URLs.

use super::errors::CliError;

/// `KEY=VALUE` arguments (split by clap at parse time) as pairs.
pub(crate) fn key_values(items: &[crate::cli::KeyValue]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|pair| (pair.key.clone(), pair.value.clone()))
        .collect()
}

/// Parses an `http://` or `https://` URL given with `flag`.
pub(crate) fn http_url(raw: &str, flag: &str) -> Result<url::Url, CliError> {
    url::Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| CliError::Usage(format!("{flag} '{raw}' is not an http(s) URL")))
}
