//! `completions SHELL`, and the committed completion scripts and man pages built
//! from the same clap definitions (`make completions`).

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionsArgs};

pub fn run(args: &CompletionsArgs) {
    let mut command = Cli::command();
    // Rendered first, then written with the pipe-tolerant printer: `| head` must not
    // make the generator panic on a closed stdout.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "bx-events", &mut script);
    crate::output::print_text(&String::from_utf8_lossy(&script));
}

/// Every shell, with the file name its completion script is installed under.
pub const COMPLETION_FILES: &[(Shell, &str)] = &[
    (Shell::Bash, "bx-events.bash"),
    (Shell::Zsh, "_bx-events"),
    (Shell::Fish, "bx-events.fish"),
    (Shell::PowerShell, "_bx-events.ps1"),
    (Shell::Elvish, "bx-events.elv"),
];

/// Writes `completions/*` and `docs/man/*.1` under `root`.
pub fn write_assets(root: &Path) -> std::io::Result<()> {
    let completions = root.join("completions");
    std::fs::create_dir_all(&completions)?;
    for (shell, file) in COMPLETION_FILES {
        let mut script = Vec::new();
        clap_complete::generate(*shell, &mut Cli::command(), "bx-events", &mut script);
        std::fs::write(completions.join(file), script)?;
    }
    let man = root.join("docs").join("man");
    std::fs::create_dir_all(&man)?;
    clap_mangen::generate_to(Cli::command(), &man)
}
