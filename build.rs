//! Build script: puts the commit into `--version` (`0.1.0 (abc123def)`), so a bug
//! report names exactly what was built. Outside a git checkout the version stands
//! alone.

use std::path::Path;
use std::process::Command;

/// One line of `git` output, or nothing when git or the checkout is missing.
fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .filter(|line| !line.is_empty())
}

fn main() {
    // Without this line Cargo would rerun the script whenever any file of the
    // package changes; with it, only for the files named below.
    println!("cargo:rerun-if-changed=build.rs");
    let version = env!("CARGO_PKG_VERSION");
    let long = match git(&["rev-parse", "--short=9", "HEAD"]) {
        Some(commit) => format!("{version} ({commit})"),
        None => version.to_string(),
    };
    println!("cargo:rustc-env=BX_EVENTS_VERSION={long}");
    // A new commit moves HEAD's branch ref (or HEAD itself when detached); a
    // checkout rewrites HEAD. Only files that exist are named: Cargo treats a
    // missing one as always changed and would rebuild the crate on every build.
    let mut watched = vec!["HEAD".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        // A fresh clone keeps the branch in packed-refs; the first commit writes
        // its own file under refs/heads, a directory Cargo scans as a whole.
        watched.extend([branch, "refs/heads".to_string(), "packed-refs".to_string()]);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            if Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
}
