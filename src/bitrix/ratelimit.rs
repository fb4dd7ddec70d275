//! Client-side leaky bucket, so that normal use never meets `QUERY_LIMIT_EXCEEDED`.

use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A portal's request budget: a bucket of `burst` requests draining `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub burst: f64,
    pub per_second: f64,
}

/// The named presets of DESIGN.md section 4, or custom figures, or no limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RatePreset {
    Limited(RateLimit),
    Off,
}

impl RatePreset {
    pub const STANDARD: RatePreset = RatePreset::Limited(RateLimit {
        burst: 50.0,
        per_second: 2.0,
    });
    pub const ENTERPRISE: RatePreset = RatePreset::Limited(RateLimit {
        burst: 250.0,
        per_second: 5.0,
    });

    /// The limit, or `None` for `off`.
    pub fn limit(&self) -> Option<RateLimit> {
        match self {
            Self::Limited(limit) => Some(*limit),
            Self::Off => None,
        }
    }
}

impl Default for RatePreset {
    fn default() -> Self {
        Self::STANDARD
    }
}

impl FromStr for RatePreset {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || {
            format!("invalid rate limit '{text}': use standard, enterprise, off or BURST/RATE such as 50/2")
        };
        match text.trim().to_ascii_lowercase().as_str() {
            "standard" => Ok(Self::STANDARD),
            "enterprise" => Ok(Self::ENTERPRISE),
            "off" | "none" => Ok(Self::Off),
            custom => {
                let (burst, rate) = custom.split_once('/').ok_or_else(invalid)?;
                let burst: f64 = burst.trim().parse().map_err(|_| invalid())?;
                let per_second: f64 = rate.trim().parse().map_err(|_| invalid())?;
                if !(burst >= 1.0
                    && per_second > 0.0
                    && burst.is_finite()
                    && per_second.is_finite())
                {
                    return Err(invalid());
                }
                Ok(Self::Limited(RateLimit { burst, per_second }))
            }
        }
    }
}

impl std::fmt::Display for RatePreset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::Limited(limit) if *self == Self::STANDARD => {
                let _ = limit;
                f.write_str("standard")
            }
            Self::Limited(_) if *self == Self::ENTERPRISE => f.write_str("enterprise"),
            Self::Limited(limit) => write!(f, "{}/{}", limit.burst, limit.per_second),
        }
    }
}

/// Leaky bucket shared by every request of one client.
#[derive(Debug)]
pub struct Limiter {
    limit: Option<RateLimit>,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    level: f64,
    updated: Instant,
}

impl Limiter {
    pub fn new(preset: RatePreset) -> Self {
        Self {
            limit: preset.limit(),
            state: Mutex::new(BucketState {
                level: 0.0,
                updated: Instant::now(),
            }),
        }
    }

    /// Reserves one request and says how long to wait before sending it.
    pub fn reserve(&self) -> Duration {
        let Some(limit) = self.limit else {
            return Duration::ZERO;
        };
        // Keep two requests of headroom below the portal's threshold: its counter
        // and ours start at different moments.
        let capacity = (limit.burst - 2.0).max(1.0);
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        let drained = now.duration_since(state.updated).as_secs_f64() * limit.per_second;
        state.level = (state.level - drained).max(0.0);
        state.updated = now;
        state.level += 1.0;
        let excess = state.level - capacity;
        if excess <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(excess / limit.per_second)
        }
    }

    /// Waits for the bucket to have room for one more request.
    pub async fn acquire(&self) -> Duration {
        let wait = self.reserve();
        if !wait.is_zero() {
            tracing::debug!("rate limiter: waiting {} ms", wait.as_millis());
            tokio::time::sleep(wait).await;
        }
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_presets() {
        assert_eq!(
            "standard".parse::<RatePreset>().unwrap(),
            RatePreset::STANDARD
        );
        assert_eq!("OFF".parse::<RatePreset>().unwrap(), RatePreset::Off);
        assert_eq!(
            "10/0.5".parse::<RatePreset>().unwrap(),
            RatePreset::Limited(RateLimit {
                burst: 10.0,
                per_second: 0.5
            })
        );
        assert!("0/1".parse::<RatePreset>().is_err());
        assert!("fast".parse::<RatePreset>().is_err());
    }

    #[test]
    fn bucket_waits_only_past_capacity() {
        let limiter = Limiter::new(RatePreset::Limited(RateLimit {
            burst: 5.0,
            per_second: 1.0,
        }));
        let waits: Vec<Duration> = (0..5).map(|_| limiter.reserve()).collect();
        assert!(waits[..3].iter().all(|w| w.is_zero()), "{waits:?}");
        assert!(waits[3] > Duration::from_millis(900), "{waits:?}");
        assert!(waits[4] > waits[3]);
    }

    #[test]
    fn off_never_waits() {
        let limiter = Limiter::new(RatePreset::Off);
        assert!((0..1000).all(|_| limiter.reserve().is_zero()));
    }
}
