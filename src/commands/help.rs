//! `help [TOPIC | COMMAND...]`: command help plus the `environment` and `exit-codes` topics.

use clap::CommandFactory;

use super::errors::CliError;
use crate::cli::{Cli, HelpArgs};
use crate::config::env;

/// docs/exit-codes.md, as printed by `help exit-codes`.
pub(crate) const EXIT_CODES: &[(u8, &str)] = &[
    (0, "success (including \"already bound\", \"nothing matched\", an empty list)"),
    (1, "failed: API error, network error, a handler failed in `consume`, partial failure"),
    (2, "usage: bad flags or arguments, invalid manifest, invalid filter, a prompt needed but input not allowed"),
    (3, "`diff --exit-code`: not in sync"),
    (4, "credentials: none configured, unknown profile, rejected (NO_AUTH_FOUND, INVALID_CREDENTIALS, invalid_grant, WRONG_AUTH_TYPE, ACCESS_DENIED for the call), a config directory others could change (UNSAFE_CONFIG), the OS keyring cannot give a profile's secrets (KEYRING)"),
    (5, "rate limited or temporarily unavailable after all retries (503/429 limits, 5xx answers, gateway pages)"),
    (75, "busy: another `offline consume` holds this queue's lock (try again later)"),
    (130, "interrupted (Ctrl-C, SIGTERM)"),
];

const TOPICS: &[&str] = &["environment", "exit-codes"];

pub(crate) fn run(args: &HelpArgs) -> anyhow::Result<()> {
    let words: Vec<&str> = args.topic.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["environment"] | ["env"] => {
            crate::output::print_line("Environment variables read by bx-events:\n");
            let width = env::ALL
                .iter()
                .map(|(name, _)| name.len())
                .max()
                .unwrap_or(0);
            let others = [
                ("CI", "when set (and not \"false\" or \"0\"), never prompt"),
                ("NO_COLOR", "when set, no colour in output"),
            ];
            for (name, meaning) in env::ALL.iter().chain(others.iter()) {
                crate::output::print_line(format!("  {name:width$}  {meaning}"));
            }
            crate::output::print_line("\nWhen BX_EVENTS_ACCESS_TOKEN (with BX_EVENTS_PORTAL) or BX_EVENTS_WEBHOOK_URL is set,\nthey form the active profile and override stored profiles.");
            Ok(())
        }
        ["exit-codes"] | ["exit-code"] => {
            crate::output::print_line("Exit codes:\n");
            for (code, meaning) in EXIT_CODES {
                crate::output::print_line(format!("  {code:>3}  {meaning}"));
            }
            crate::output::print_line("\nWith -o json or -o ndjson, failures print {\"error\":{\"code\",\"message\",\"http_status\",\"hint\"}} on stderr.");
            Ok(())
        }
        path => print_command_help(path),
    }
}

fn print_command_help(path: &[&str]) -> anyhow::Result<()> {
    let mut command = Cli::command();
    command.build();
    let mut current = &mut command;
    for word in path {
        let names: Vec<String> = current
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        match current.find_subcommand_mut(word) {
            Some(next) => current = next,
            None => {
                let mut candidates = names;
                candidates.extend(TOPICS.iter().map(|t| t.to_string()));
                let suggestion = super::suggest::closest(word, &candidates, 0.8, 1)
                    .first()
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                return Err(CliError::Usage(format!(
                    "no help for '{}'{suggestion}: topics are {}, or name a command",
                    path.join(" "),
                    TOPICS.join(", ")
                ))
                .into());
            }
        }
    }
    // Rendered, then printed with the pipe-tolerant printer (`help bind | head -1`).
    // The colour policy of `--color`, CLICOLOR_FORCE and NO_COLOR (set by main).
    let text = if anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never {
        current.render_long_help().ansi().to_string()
    } else {
        current.render_long_help().to_string()
    };
    crate::output::print_text(&text);
    Ok(())
}
