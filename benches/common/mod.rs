//! What both whole-process benchmarks share: timing a process with its peak RSS,
//! and the subscriptions files they apply.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `command` (output discarded) and reports its wall time, its peak RSS in
/// KiB, and whether it succeeded. With `gnu_time`, /usr/bin/time measures the RSS
/// (a child of this big process would inherit its high-water mark through fork);
/// without, the RSS is 0 and nothing wraps the process (for millisecond timings
/// where the wrapper's own start-up would show).
pub fn timed(command: Command, gnu_time: bool) -> (Duration, u64, bool) {
    let rss_file = tempfile::NamedTempFile::new().expect("temp file");
    let mut run = if gnu_time {
        let mut wrapped = Command::new("/usr/bin/time");
        wrapped
            .args(["-f", "%M", "-o"])
            .arg(rss_file.path())
            .arg(command.get_program())
            .args(command.get_args());
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => wrapped.env(key, value),
                None => wrapped.env_remove(key),
            };
        }
        wrapped
    } else {
        command
    };
    let started = Instant::now();
    let status = run
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("runs");
    let wall = started.elapsed();
    let rss = std::fs::read_to_string(rss_file.path())
        .ok()
        .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok()))
        .unwrap_or(0);
    (wall, rss, status.success())
}

/// Whether GNU time is there to measure peak RSS.
pub fn gnu_time() -> bool {
    Path::new("/usr/bin/time").exists()
}

/// A subscriptions file of `count` online handlers of ONCRMDEALADD in `dir`.
pub fn manifest(dir: &Path, count: usize) -> PathBuf {
    let text: String = (0..count)
        .map(|i| format!("[[subscription]]\nevent = \"ONCRMDEALADD\"\nhandler = \"https://hooks.example.com/h{i}\"\n\n"))
        .collect();
    let path = dir.join(format!("bench-{count}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}
