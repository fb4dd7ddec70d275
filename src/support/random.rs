//! Random identifiers: OAuth `state` values, the sandbox's tokens and ids.

use rand::RngExt;

/// A fresh random lower-case hex string of `len` characters.
pub(crate) fn random_hex(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}
