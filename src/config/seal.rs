//! Secrets sealed at rest in the shared store: AES-256-GCM with the key from
//! `BX_EVENTS_STORE_KEY`, a random nonce per value, and the profile name as
//! additional data, so a sealed value cannot be moved to another profile's row.

use ring::aead;

use super::env::STORE_KEY;
use super::error::ConfigError;

/// The prefix of sealed secrets.
pub(crate) const SEALED: &str = "sealed1:";

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

    pub(crate) fn seal(&self, name: &str, text: &str) -> Result<String, ConfigError> {
        let nonce_bytes: [u8; 12] = rand::random();
        let mut data = text.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce_bytes),
                aead::Aad::from(name.as_bytes()),
                &mut data,
            )
            .map_err(|_| ConfigError::Invalid("cannot seal the secrets".into()))?;
        let mut sealed = nonce_bytes.to_vec();
        sealed.extend_from_slice(&data);
        Ok(format!("{SEALED}{}", hex::encode(sealed)))
    }

    pub(crate) fn open(&self, name: &str, sealed: &str) -> Result<String, ConfigError> {
        let wrong = || {
            ConfigError::Shared(format!(
                "the secrets of profile '{name}' do not open with {STORE_KEY}: it is not the key they were sealed with, or the row was changed"
            ))
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
            .open_in_place(nonce, aead::Aad::from(name.as_bytes()), &mut data)
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
        let sealed = sealer.seal("acme", "{\"access_token\":\"t0k3n\"}").unwrap();
        let body = sealed.strip_prefix(SEALED).unwrap();
        assert!(!sealed.contains("t0k3n"));
        assert_eq!(
            sealer.open("acme", body).unwrap(),
            "{\"access_token\":\"t0k3n\"}"
        );
        // Moved to another profile's row: refused.
        assert!(sealer.open("globex", body).is_err());
        // Another key: refused.
        let other = Sealer::from_hex(&"3d".repeat(32)).unwrap();
        assert!(other.open("acme", body).is_err());
        // One changed byte: refused.
        let mut tampered = body.to_string();
        let last = if tampered.ends_with('0') { "1" } else { "0" };
        tampered.replace_range(tampered.len() - 1.., last);
        assert!(sealer.open("acme", &tampered).is_err());
        // Two seals of one value differ (a fresh nonce each).
        assert_ne!(
            sealed,
            sealer.seal("acme", "{\"access_token\":\"t0k3n\"}").unwrap()
        );
    }

    #[test]
    fn a_key_must_be_64_hex_digits() {
        assert!(Sealer::from_hex("abc").is_err());
        assert!(Sealer::from_hex(&"zz".repeat(32)).is_err());
        assert!(Sealer::from_hex(&"ab".repeat(31)).is_err());
    }
}
