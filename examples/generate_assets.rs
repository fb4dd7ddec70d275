//! Regenerates `completions/` and `docs/man/` from the clap definitions:
//! `cargo run --example generate_assets -- .` (what `make completions` runs).
//! tests/it/assets.rs includes this file to check the committed copies are current.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use bx_events::internal::Cli;

/// Every shell, with the file name its completion script is installed under.
const COMPLETION_FILES: &[(Shell, &str)] = &[
    (Shell::Bash, "bx-events.bash"),
    (Shell::Zsh, "_bx-events"),
    (Shell::Fish, "bx-events.fish"),
    (Shell::PowerShell, "_bx-events.ps1"),
    (Shell::Elvish, "bx-events.elv"),
];

/// The command line with the plain package version: the committed pages must not
/// change with every commit that `--version` names.
fn command() -> clap::Command {
    Cli::command().version(env!("CARGO_PKG_VERSION"))
}

/// Writes `completions/*` and `docs/man/*.1` under `root`.
pub fn write_assets(root: &Path) -> std::io::Result<()> {
    let completions = root.join("completions");
    std::fs::create_dir_all(&completions)?;
    for (shell, file) in COMPLETION_FILES {
        let script = bx_events::internal::completion_script(*shell, &mut command());
        std::fs::write(completions.join(file), script)?;
    }
    let man = root.join("docs").join("man");
    std::fs::create_dir_all(&man)?;
    clap_mangen::generate_to(command(), &man)
}

#[allow(dead_code)] // not called when tests include this file
fn main() -> std::io::Result<()> {
    let root = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    write_assets(Path::new(&root))
}
