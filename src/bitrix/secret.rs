//! Secret values (tokens, the client secret, application tokens) in a type whose
//! `Debug` and `Display` cannot show them: a secret reaches text only through an
//! explicit [`Secret::expose`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret: a string by default, or a value that embeds one (an incoming
/// webhook's URL). Serialises as the plain value (the credential store must write
/// it); prints as `***`.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret<T = String>(T);

impl<T> Secret<T> {
    /// The secret itself, for the one place that must send or store it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Secret<url::Url> {
    pub fn url(url: url::Url) -> Self {
        Self(url)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_string())
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Secret::new("s3cr3t-token");
        let shown = format!("{secret} {secret:?} {:?}", Some(&secret));
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert_eq!(secret.expose(), "s3cr3t-token");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"s3cr3t-token\"");
    }
}
