//! `completions SHELL`: the shell completion script on stdout. (The committed
//! scripts and man pages come from examples/generate_assets.rs.)

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};

pub(crate) fn run(args: &CompletionsArgs) {
    let mut command = Cli::command();
    // Rendered first, then written with the pipe-tolerant printer: `| head` must not
    // make the generator panic on a closed stdout.
    let script = crate::cli::completion_script(args.shell, &mut command);
    crate::output::print_text(&script);
}
