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
pub(crate) struct Limiter {
    limit: Option<RateLimit>,
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    Memory(Mutex<Bucket>),
    /// `level updated_at` in a small file, read and written under an exclusive lock.
    File(PathBuf),
    /// The same text kept elsewhere (a database shared by several machines).
    Store(std::sync::Arc<dyn BucketStore>),
}

/// Where a bucket shared by many processes is kept: [`BucketStore::update`] runs
/// `change` on the stored text (empty at first) and stores what it returns, as
/// one atomic step: no other update may come between the text `change` saw and
/// the write. A store may run `change` more than once (on a text another process
/// changed meanwhile); only the run whose result it stored counts.
pub trait BucketStore: Send + Sync + std::fmt::Debug {
    fn update(&self, change: &mut dyn FnMut(&str) -> String) -> std::io::Result<()>;
}

/// Seconds for a slowed-down bucket to recover from the slowest rate to the full one.
const RECOVERY_SECS: f64 = 60.0;

/// The slowest a bucket goes after the portal's signals: a tenth of the rate.
const SLOWEST: f64 = 0.1;

/// The bucket's level and when it was last computed (unix seconds), and how far
/// the portal's signals slowed it: other clients spending the same portal's budget
/// (another machine, another config directory) are invisible to this bucket, so a
/// `QUERY_LIMIT_EXCEEDED` answer halves the rate, which recovers linearly over
/// [`RECOVERY_SECS`] without further signals.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    level: f64,
    updated: f64,
    /// The share of the rate in force at `slowed_at` (1 = the full rate).
    share: f64,
    slowed_at: f64,
}

impl Default for Bucket {
    fn default() -> Self {
        Self {
            level: 0.0,
            updated: 0.0,
            share: 1.0,
            slowed_at: 0.0,
        }
    }
}

impl Bucket {
    /// Drains the bucket to `now`, adds one request, and says how long that request
    /// must wait. Two requests of headroom stay below the portal's threshold: its
    /// counter and ours start at different moments.
    fn admit(&mut self, limit: RateLimit, now: f64) -> Duration {
        let limit = self.slowed(limit, now);
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

    /// The share of the rate in force at `now`.
    fn share(&self, now: f64) -> f64 {
        (self.share + (now - self.slowed_at).max(0.0) / RECOVERY_SECS).min(1.0)
    }

    /// `limit` at the share in force at `now`.
    fn slowed(&self, limit: RateLimit, now: f64) -> RateLimit {
        RateLimit {
            per_second: limit.per_second * self.share(now),
            ..limit
        }
    }

    /// The portal refused a request for its limit: halve the rate, and count the
    /// bucket as full, so the next request waits. Returns the new rate.
    fn overloaded(&mut self, limit: RateLimit, now: f64) -> f64 {
        let capacity = (limit.burst - 2.0).max(1.0);
        self.level = self
            .slowed(limit, now)
            .drained(self.level, now - self.updated);
        self.level = self.level.max(capacity);
        self.updated = now;
        self.share = (self.share(now) / 2.0).max(SLOWEST);
        self.slowed_at = now;
        limit.per_second * self.share
    }

    fn parse(text: &str) -> Self {
        let numbers: Vec<f64> = text
            .split_whitespace()
            .map_while(|p| p.parse::<f64>().ok().filter(|n| n.is_finite()))
            .collect();
        match numbers[..] {
            [level, updated, share, slowed_at, ..] => Self {
                level,
                updated,
                share: share.clamp(SLOWEST, 1.0),
                slowed_at,
            },
            [level, updated, ..] => Self {
                level,
                updated,
                ..Self::default()
            },
            _ => Self::default(),
        }
    }

    fn text(&self) -> String {
        format!(
            "{} {} {} {}",
            self.level, self.updated, self.share, self.slowed_at
        )
    }
}

impl Limiter {
    /// A bucket for this process only.
    pub(crate) fn new(preset: RatePreset) -> Self {
        Self {
            limit: preset.limit(),
            backend: Backend::Memory(Mutex::new(Bucket {
                updated: now_seconds(),
                ..Bucket::default()
            })),
        }
    }

    /// A bucket kept in `path`, shared by every process that uses the same file.
    pub(crate) fn shared(preset: RatePreset, path: PathBuf) -> Self {
        Self {
            limit: preset.limit(),
            backend: Backend::File(path),
        }
    }

    /// A bucket kept in `store`, shared by every process that uses it.
    pub(crate) fn stored(preset: RatePreset, store: std::sync::Arc<dyn BucketStore>) -> Self {
        Self {
            limit: preset.limit(),
            backend: Backend::Store(store),
        }
    }

    /// Reserves one request and says how long to wait before sending it.
    pub(crate) fn reserve(&self) -> Duration {
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
            Backend::Store(store) => {
                match update_stored(store.as_ref(), |b| b.admit(limit, now_seconds())) {
                    Ok(wait) => wait,
                    Err(error) => {
                        tracing::debug!("rate limiter store: {error}");
                        Duration::from_secs_f64(1.0 / limit.per_second)
                    }
                }
            }
        }
    }

    /// The portal answered `QUERY_LIMIT_EXCEEDED` (someone else spends the same
    /// budget): slow down, for every process sharing this bucket. Returns the new
    /// rate in requests per second, `None` without a limit.
    pub(crate) fn overloaded(&self) -> Option<f64> {
        let limit = self.limit?;
        match &self.backend {
            Backend::Memory(bucket) => Some(
                bucket
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .overloaded(limit, now_seconds()),
            ),
            Backend::File(path) => {
                update_file(path, |bucket| bucket.overloaded(limit, now_seconds()))
                    .map_err(|error| {
                        tracing::debug!("rate limiter file {}: {error}", path.display())
                    })
                    .ok()
            }
            Backend::Store(store) => {
                update_stored(store.as_ref(), |b| b.overloaded(limit, now_seconds()))
                    .map_err(|error| tracing::debug!("rate limiter store: {error}"))
                    .ok()
            }
        }
    }

    /// This limiter's shared bucket, for a blocking thread: a file lock or a
    /// database round trip must not hold an async worker (every other portal of
    /// a fleet waits on it). `None` for a bucket in memory.
    fn shared_bucket(&self) -> Option<Limiter> {
        let backend = match &self.backend {
            Backend::Memory(_) => return None,
            Backend::File(path) => Backend::File(path.clone()),
            Backend::Store(store) => Backend::Store(store.clone()),
        };
        Some(Limiter {
            limit: self.limit,
            backend,
        })
    }

    /// [`Limiter::overloaded`] without holding an async worker.
    pub(crate) async fn slow_down(&self) -> Option<f64> {
        match self.shared_bucket() {
            Some(shared) => tokio::task::spawn_blocking(move || shared.overloaded())
                .await
                .ok()
                .flatten(),
            None => self.overloaded(),
        }
    }

    /// Waits for the bucket to have room for one more request.
    pub(crate) async fn acquire(&self) -> Duration {
        let wait = match self.shared_bucket() {
            Some(shared) => tokio::task::spawn_blocking(move || shared.reserve())
                .await
                .unwrap_or(Duration::ZERO),
            None => self.reserve(),
        };
        if !wait.is_zero() {
            tracing::debug!("rate limiter: waiting {} ms", wait.as_millis());
            tokio::time::sleep(wait).await;
        }
        wait
    }
}

/// Reads the bucket kept in `store`, changes it, and stores it back, under its lock.
/// The store may run the change more than once: the result kept is the last
/// run's, the one whose bucket it stored.
fn update_stored<R>(
    store: &dyn BucketStore,
    mut change: impl FnMut(&mut Bucket) -> R,
) -> std::io::Result<R> {
    let mut result = None;
    store.update(&mut |text| {
        let mut bucket = Bucket::parse(text);
        result = Some(change(&mut bucket));
        bucket.text()
    })?;
    result.ok_or_else(|| std::io::Error::other("the bucket store did not run the change"))
}

fn reserve_in_file(path: &Path, limit: RateLimit) -> std::io::Result<Duration> {
    update_file(path, |bucket| bucket.admit(limit, now_seconds()))
}

/// Reads the bucket in `path`, changes it, and writes it back, under the lock.
fn update_file<R>(path: &Path, change: impl FnOnce(&mut Bucket) -> R) -> std::io::Result<R> {
    let mut lock = FileLock::acquire(path)?;
    let file = lock.file();
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let mut bucket = Bucket::parse(&text);
    let result = change(&mut bucket);
    file.seek(SeekFrom::Start(0))?;
    file.set_len(0)?;
    write!(file, "{}", bucket.text())?;
    // The lock is released when the file closes.
    Ok(result)
}

/// How full a shared bucket file is now (drained to the present), in requests;
/// `None` when there is no file yet.
pub(crate) fn shared_level(path: &Path, limit: RateLimit) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let bucket = Bucket::parse(&text);
    let now = now_seconds();
    Some(
        bucket
            .slowed(limit, now)
            .drained(bucket.level, now - bucket.updated),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portals_signal_halves_the_rate_until_it_recovers() {
        let limit = RateLimit {
            burst: 12.0,
            per_second: 2.0,
        };
        let mut bucket = Bucket::default();
        // A full bucket: each further request waits one request's worth.
        for _ in 0..10 {
            bucket.admit(limit, 100.0);
        }
        let mut at_full = bucket;
        assert_eq!(at_full.admit(limit, 100.0), Duration::from_secs_f64(0.5));
        // Someone else spends the budget: half the rate, so twice the wait.
        assert_eq!(bucket.overloaded(limit, 100.0), 1.0);
        let mut at_half = bucket;
        assert_eq!(at_half.admit(limit, 100.0), Duration::from_secs_f64(1.0));
        // A second signal halves it again; the floor is a tenth.
        for _ in 0..10 {
            bucket.overloaded(limit, 100.0);
        }
        assert!((bucket.share(100.0) - SLOWEST).abs() < 1e-9);
        // Without signals the full rate is back after the recovery time.
        assert_eq!(bucket.share(100.0 + RECOVERY_SECS), 1.0);
        // The state survives in the shared file.
        assert_eq!(Bucket::parse(&bucket.text()), bucket);
        assert_eq!(Bucket::parse("3 7").share, 1.0);
    }

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
