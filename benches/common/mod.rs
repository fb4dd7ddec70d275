//! What the whole-process benchmarks share: timing a process with its peak RSS
//! and CPU time, the subscriptions files they apply, and where they run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One whole-process run: wall time, peak RSS and the CPU time it used (the
/// last two from GNU time, zero without it).
pub struct Measured {
    pub wall: Duration,
    pub rss_kib: u64,
    // Published by the fleet benchmark; the others show wall time alone.
    #[allow(dead_code)]
    pub cpu: Duration,
    pub ok: bool,
}

/// Runs `command` (output discarded) and reports its wall time, peak RSS in
/// KiB, CPU time, and whether it succeeded. With `gnu_time`, /usr/bin/time
/// measures RSS and CPU (a child of this big process would inherit its
/// high-water mark through fork); without, they are 0 and nothing wraps the
/// process (for millisecond timings where the wrapper's own start-up would show).
pub fn measured(command: Command, gnu_time: bool) -> Measured {
    let rss_file = tempfile::NamedTempFile::new().expect("temp file");
    let mut run = if gnu_time {
        let format = ["-f", "%M %U %S", "-o"].map(std::ffi::OsStr::new);
        let report = [rss_file.path().as_os_str()];
        wrapped("/usr/bin/time", format.iter().chain(&report), &command)
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
    let report = std::fs::read_to_string(rss_file.path()).unwrap_or_default();
    let fields: Vec<f64> = report
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let (rss_kib, cpu) = match fields[..] {
        [rss, user, system] => (rss as u64, Duration::from_secs_f64(user + system)),
        _ => (0, Duration::ZERO),
    };
    Measured {
        wall,
        rss_kib,
        cpu,
        ok: status.success(),
    }
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

/// `command` run by `program args...` (GNU time, a shell), with the same
/// environment changes.
pub fn wrapped<A: AsRef<std::ffi::OsStr>>(
    program: &str,
    args: impl IntoIterator<Item = A>,
    command: &Command,
) -> Command {
    let mut wrapped = Command::new(program);
    wrapped
        .args(args)
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    wrapped
}

/// The file system a directory is on, as `df` names it ("ext4 (/dev/vda)"),
/// for saying where a benchmark's config directory was: a journal's syncs
/// cost what that disk makes them cost.
pub fn filesystem_of(dir: &Path) -> String {
    let report = Command::new("df")
        .args(["--output=fstype,source"])
        .arg(dir)
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .unwrap_or_default();
    match report.lines().nth(1).map(str::split_whitespace) {
        Some(mut fields) => match (fields.next(), fields.next()) {
            (Some(kind), Some(source)) => format!("{kind} ({source}, {})", dir.display()),
            _ => format!("an unknown file system ({})", dir.display()),
        },
        None => format!("an unknown file system ({})", dir.display()),
    }
}
