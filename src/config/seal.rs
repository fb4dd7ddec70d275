//! Secrets sealed at rest in the shared store: AES-256-GCM with the key from
//! `BX_EVENTS_STORE_KEY`, a random nonce per value, and the row's profile name and
//! settings as additional data: a sealed value cannot be moved to another
//! profile's row, and settings rewritten without the key (a portal or OAuth
//! server address, which decide where secrets are sent) no longer open it.

use ring::aead;

use super::env::STORE_KEY;
use super::error::ConfigError;

/// The prefix of secrets sealed by earlier versions, bound to the profile name
/// only: their settings are not authenticated, so they are refused until
/// `store init` seals them again ([`SEALED`]).
pub(crate) const SEALED_NAME_ONLY: &str = "sealed1:";

/// The prefix of secrets sealed with their profile name and settings.
pub(crate) const SEALED: &str = "sealed2:";

/// The additional data of a row sealed with [`SEALED`]: its name and its settings
/// exactly as stored.
pub(crate) fn row_binding(name: &str, settings_text: &str) -> String {
    format!("{name}\n{settings_text}")
}

/// AES-256-GCM with the key from [`STORE_KEY`].
pub(crate) struct Sealer {
    key: aead::LessSafeKey,
}

impl Sealer {
    /// The sealer of `BX_EVENTS_STORE_KEY`, when it is set.
    pub(crate) fn from_env() -> Result<Option<Self>, ConfigError> {
        match std::env::var(STORE_KEY) {
            Ok(text) if !text.trim().is_empty() => Self::from_hex(&text).map(Some),
            _ => Ok(None),
        }
    }

    /// A sealer for a key of 64 hex digits.
    fn from_hex(text: &str) -> Result<Self, ConfigError> {
        let bytes = hex::decode(text.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "{STORE_KEY} must be 64 hex digits (a 32-byte key), e.g. from `openssl rand -hex 32`"
                ))
            })?;
        let key = aead::UnboundKey::new(&aead::AES_256_GCM, &bytes)
            .map_err(|_| ConfigError::Invalid(format!("{STORE_KEY} is not a usable key")))?;
        Ok(Self {
            key: aead::LessSafeKey::new(key),
        })
    }

    /// Seals `text` bound to `binding` (see [`row_binding`]).
    pub(crate) fn seal(&self, binding: &str, text: &str) -> Result<String, ConfigError> {
        let nonce_bytes: [u8; 12] = rand::random();
        let mut data = text.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce_bytes),
                aead::Aad::from(binding.as_bytes()),
                &mut data,
            )
            .map_err(|_| ConfigError::Invalid("cannot seal the secrets".into()))?;
        let mut sealed = nonce_bytes.to_vec();
        sealed.extend_from_slice(&data);
        Ok(format!("{SEALED}{}", hex::encode(sealed)))
    }

    /// Opens what [`Sealer::seal`] sealed with the same `binding`; `name` is for
    /// the message.
    pub(crate) fn open(
        &self,
        name: &str,
        binding: &str,
        sealed: &str,
    ) -> Result<String, ConfigError> {
        let wrong = || {
            ConfigError::Damaged {
                profile: name.to_string(),
                detail: format!("its secrets do not open with {STORE_KEY}: it is not the key they were sealed with, or the row (its secrets or its settings) was changed without the key"),
            }
        };
        let bytes = hex::decode(sealed).map_err(|_| wrong())?;
        if bytes.len() < 12 {
            return Err(wrong());
        }
        let (nonce, data) = bytes.split_at(12);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, aead::Aad::from(binding.as_bytes()), &mut data)
            .map_err(|_| wrong())?;
        String::from_utf8(plain.to_vec()).map_err(|_| wrong())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_their_profile() {
        let sealer = Sealer::from_hex(&"3c".repeat(32)).unwrap();
        let acme = row_binding("acme", "{\"portal\":\"https://acme.example\"}");
        let sealed = sealer.seal(&acme, "{\"access_token\":\"t0k3n\"}").unwrap();
        let body = sealed.strip_prefix(SEALED).unwrap();
        assert!(!sealed.contains("t0k3n"));
        assert_eq!(
            sealer.open("acme", &acme, body).unwrap(),
            "{\"access_token\":\"t0k3n\"}"
        );
        // Moved to another profile's row: refused.
        let globex = row_binding("globex", "{\"portal\":\"https://acme.example\"}");
        assert!(sealer.open("globex", &globex, body).is_err());
        // The row's settings rewritten (the portal's address): refused.
        let redirected = row_binding("acme", "{\"portal\":\"https://evil.example\"}");
        assert!(sealer.open("acme", &redirected, body).is_err());
        // Another key: refused.
        let other = Sealer::from_hex(&"3d".repeat(32)).unwrap();
        assert!(other.open("acme", &acme, body).is_err());
        // One changed byte: refused.
        let mut tampered = body.to_string();
        let last = if tampered.ends_with('0') { "1" } else { "0" };
        tampered.replace_range(tampered.len() - 1.., last);
        assert!(sealer.open("acme", &acme, &tampered).is_err());
        // Two seals of one value differ (a fresh nonce each).
        assert_ne!(
            sealed,
            sealer.seal(&acme, "{\"access_token\":\"t0k3n\"}").unwrap()
        );
    }

    #[test]
    fn a_key_must_be_64_hex_digits() {
        assert!(Sealer::from_hex("abc").is_err());
        assert!(Sealer::from_hex(&"zz".repeat(32)).is_err());
        assert!(Sealer::from_hex(&"ab".repeat(31)).is_err());
    }
}
