//! Argument values checked by clap while parsing, so a bad value is refused with
//! clap's usage error (exit 2) before any command starts.

use crate::bitrix::ratelimit::RatePreset;

/// `standard`, `enterprise`, `off` or `BURST/RATE`.
pub(crate) fn rate_preset(text: &str) -> Result<RatePreset, String> {
    text.parse()
}

/// A positive, finite number of seconds (fractions allowed).
pub(crate) fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 => Ok(seconds),
        _ => Err(format!("'{text}' is not a positive number of seconds")),
    }
}

/// A `KEY=VALUE` argument. PHP-style keys keep their operators: the split is at
/// the first `=` outside brackets (`filter[>=ID]=10`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

impl std::str::FromStr for KeyValue {
    type Err = String;

    fn from_str(item: &str) -> Result<Self, Self::Err> {
        let mut depth = 0usize;
        for (at, c) in item.char_indices() {
            match c {
                '[' => depth += 1,
                ']' => depth = depth.saturating_sub(1),
                '=' if depth == 0 && at > 0 => {
                    return Ok(Self {
                        key: item[..at].to_string(),
                        value: item[at + 1..].to_string(),
                    })
                }
                _ => {}
            }
        }
        Err(format!("'{item}' is not KEY=VALUE"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_keep_their_operators() {
        let pair: KeyValue = "filter[>=ID]=10".parse().unwrap();
        assert_eq!(
            (pair.key.as_str(), pair.value.as_str()),
            ("filter[>=ID]", "10")
        );
        let pair: KeyValue = "a=b=c".parse().unwrap();
        assert_eq!((pair.key.as_str(), pair.value.as_str()), ("a", "b=c"));
        assert!("filter[<=ID]".parse::<KeyValue>().is_err());
        assert!("=x".parse::<KeyValue>().is_err());
    }

    #[test]
    fn seconds_must_be_positive_and_finite() {
        assert_eq!(positive_seconds("0.5"), Ok(0.5));
        for bad in ["0", "-1", "NaN", "inf", "x"] {
            assert!(positive_seconds(bad).is_err(), "{bad}");
        }
    }
}
