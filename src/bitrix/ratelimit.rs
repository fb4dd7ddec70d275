//! Client-side leaky bucket, so that normal use never meets `QUERY_LIMIT_EXCEEDED`.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use crate::support::clock::unix_seconds_f64 as now_seconds;
use crate::support::files::FileLock;

/// A portal's request budget: a bucket of `burst` requests draining `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub burst: f64,
    pub per_second: f64,
}

/// The named presets (docs/credentials.md), or custom figures, or no limit.
impl RateLimit {
    /// Standard plans: a bucket of 50 requests draining 2 per second.
    pub const STANDARD: RateLimit = RateLimit {
        burst: 50.0,
        per_second: 2.0,
    };
    /// Enterprise plans: 250 requests draining 5 per second.
    pub const ENTERPRISE: RateLimit = RateLimit {
        burst: 250.0,
        per_second: 5.0,
    };

    /// The level of a bucket that held `level` requests `elapsed` seconds ago.
    /// The portal's bucket (the sandbox's model of it) and the client's own use
    /// the same arithmetic.
    pub fn drained(&self, level: f64, elapsed: f64) -> f64 {
        (level - elapsed.max(0.0) * self.per_second).max(0.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RatePreset {
    Limited(RateLimit),
    Off,
}

impl RatePreset {
    pub const STANDARD: RatePreset = RatePreset::Limited(RateLimit::STANDARD);
    pub const ENTERPRISE: RatePreset = RatePreset::Limited(RateLimit::ENTERPRISE);

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

/// Leaky bucket for one portal: in memory for this process, or in a file shared by
/// every process on the machine that talks to the portal.
#[derive(Debug)]
pub struct Limiter {
    limit: Option<RateLimit>,
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    Memory(Mutex<Bucket>),
    /// `level updated_at` in a small file, read and written under an exclusive lock.
    File(PathBuf),
}

/// The bucket's level and when it was last computed (unix seconds).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Bucket {
    level: f64,
    updated: f64,
}

impl Bucket {
    /// Drains the bucket to `now`, adds one request, and says how long that request
    /// must wait. Two requests of headroom stay below the portal's threshold: its
    /// counter and ours start at different moments.
    fn admit(&mut self, limit: RateLimit, now: f64) -> Duration {
        let capacity = (limit.burst - 2.0).max(1.0);
        self.level = limit.drained(self.level, now - self.updated);
        self.updated = now;
        self.level += 1.0;
        let excess = self.level - capacity;
        if excess <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(excess / limit.per_second)
        }
    }

    fn parse(text: &str) -> Self {
        let mut parts = text.split_whitespace().map(|p| p.parse::<f64>().ok());
        match (parts.next().flatten(), parts.next().flatten()) {
            (Some(level), Some(updated)) if level.is_finite() && updated.is_finite() => {
                Self { level, updated }
            }
            _ => Self::default(),
        }
    }
}

impl Limiter {
    /// A bucket for this process only.
    pub fn new(preset: RatePreset) -> Self {
        Self {
            limit: preset.limit(),
            backend: Backend::Memory(Mutex::new(Bucket {
                level: 0.0,
                updated: now_seconds(),
            })),
        }
    }

    /// A bucket kept in `path`, shared by every process that uses the same file.
    pub fn shared(preset: RatePreset, path: PathBuf) -> Self {
        Self {
            limit: preset.limit(),
            backend: Backend::File(path),
        }
    }

    /// Reserves one request and says how long to wait before sending it.
    pub fn reserve(&self) -> Duration {
        let Some(limit) = self.limit else {
            return Duration::ZERO;
        };
        match &self.backend {
            Backend::Memory(bucket) => bucket
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .admit(limit, now_seconds()),
            Backend::File(path) => match reserve_in_file(path, limit) {
                Ok(wait) => wait,
                Err(error) => {
                    // An unusable state file must not stop the work: fall back to
                    // pacing this process alone, at the portal's sustained rate.
                    tracing::debug!("rate limiter file {}: {error}", path.display());
                    Duration::from_secs_f64(1.0 / limit.per_second)
                }
            },
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

fn reserve_in_file(path: &Path, limit: RateLimit) -> std::io::Result<Duration> {
    let mut lock = FileLock::acquire(path)?;
    let file = lock.file();
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let mut bucket = Bucket::parse(&text);
    let wait = bucket.admit(limit, now_seconds());
    file.seek(SeekFrom::Start(0))?;
    file.set_len(0)?;
    write!(file, "{} {}", bucket.level, bucket.updated)?;
    // The lock is released when the file closes.
    Ok(wait)
}

/// How full a shared bucket file is now (drained to the present), in requests;
/// `None` when there is no file yet.
pub fn shared_level(path: &Path, limit: RateLimit) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let bucket = Bucket::parse(&text);
    Some(limit.drained(bucket.level, now_seconds() - bucket.updated))
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
    fn a_shared_bucket_is_seen_by_every_limiter_using_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portal.bucket");
        let preset = RatePreset::Limited(RateLimit {
            burst: 5.0,
            per_second: 1.0,
        });
        let first = Limiter::shared(preset, path.clone());
        let second = Limiter::shared(preset, path);
        assert!(first.reserve().is_zero());
        assert!(second.reserve().is_zero());
        assert!(first.reserve().is_zero());
        assert!(
            second.reserve() > Duration::from_millis(900),
            "the fourth request overall waits"
        );
    }

    #[test]
    fn a_damaged_state_file_starts_an_empty_bucket() {
        assert_eq!(Bucket::parse("garbage"), Bucket::default());
        assert_eq!(Bucket::parse("NaN 1"), Bucket::default());
    }

    #[test]
    fn off_never_waits() {
        let limiter = Limiter::new(RatePreset::Off);
        assert!((0..1000).all(|_| limiter.reserve().is_zero()));
    }
}
