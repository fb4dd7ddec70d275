//! Entry point: parse the command line, run the command, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

use bx_events::internal::Cli;
use bx_events::internal::Output;
use bx_events::internal::{classify, run, CliError, Failure, Shutdown};

fn main() -> ExitCode {
    forget_empty_variables();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return parse_failure(&error),
    };
    init_tracing(cli.global.verbose, cli.global.quiet);
    let errors_out = Output::new(cli.global.output, cli.global.color, cli.global.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let graceful = cli.command.stops_gracefully();
    let terminal = Terminal::save();
    let outcome = runtime.block_on(async {
        let (trip, shutdown) = Shutdown::channel();
        // Listening starts here, before the command runs: a Ctrl-C right after
        // it announced itself ("Listening on ...") must stop it gracefully, not
        // find the default handler because the task had not been polled yet.
        let mut interrupts = Interrupts::listen();
        tokio::spawn(async move {
            interrupts.next().await;
            if !graceful {
                // The command may be blocked in a prompt or a read of the
                // terminal, which no future can abandon: end it here.
                terminal.restore();
                std::process::exit(130);
            }
            let _ = trip.send(true);
            // A second interruption does not wait for a graceful stop.
            interrupts.next().await;
            terminal.restore();
            std::process::exit(130);
        });
        run(cli, shutdown).await
    });
    // Data that did not reach stdout (a full disk) fails a command that otherwise
    // succeeded; a closed pipe (`| head`) is not an error.
    let outcome = outcome.and_then(|()| match bx_events::internal::stdout_write_error() {
        Some(error) => Err(anyhow::Error::from(CliError::Failed(format!(
            "cannot write to stdout: {error}"
        )))
        .into()),
        None => Ok(()),
    });
    let code = match outcome {
        Ok(()) => 0,
        Err(failure) => {
            // Ctrl-C can end a prompt through its read (EINTR) before the signal
            // task exits: put the terminal back on this path too.
            if classify(&failure).interrupted {
                terminal.restore();
            }
            report_failure(&failure, &errors_out)
        }
    };
    // Background tasks (a sandbox, pending requests) must not delay the exit.
    runtime.shutdown_background();
    ExitCode::from(code)
}

/// The terminal's settings when the command started, put back when Ctrl-C ends
/// it: a hidden prompt turns echo off and a confirmation hides the cursor.
#[derive(Clone, Copy)]
struct Terminal {
    #[cfg(unix)]
    stdin: Option<libc::termios>,
}

impl Terminal {
    fn save() -> Self {
        #[cfg(unix)]
        {
            // SAFETY: tcgetattr only writes the struct it is given; a zeroed
            // termios is a valid value to overwrite.
            let mut settings: libc::termios = unsafe { std::mem::zeroed() };
            let saved = unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut settings) } == 0;
            Self {
                stdin: saved.then_some(settings),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    fn restore(&self) {
        use std::io::{IsTerminal, Write};
        #[cfg(unix)]
        if let Some(settings) = &self.stdin {
            // SAFETY: the settings were read from this terminal by tcgetattr.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, settings);
            }
        }
        if std::io::stderr().is_terminal() {
            // Show the cursor, and end the prompt's line.
            let _ = std::io::stderr().write_all(b"\x1b[?25h\n");
        }
    }
}

/// An empty `BX_EVENTS_*` variable (`BX_EVENTS_CA_CERT=` in a CI file) means the
/// same as an unset one, as the shell's `${VAR:-default}` reads it, instead of a
/// value clap refuses on every command.
fn forget_empty_variables() {
    for (name, _) in bx_events::internal::env::ALL {
        if std::env::var_os(name).is_some_and(|value| value.is_empty()) {
            // Before any other thread exists: nothing reads the environment
            // concurrently.
            std::env::remove_var(name);
        }
    }
}

/// Prints clap's help, version or argument error and picks the exit code: help to a
/// closed pipe (`| head`) ends quietly, and with `-o json` an argument error is the
/// same `{"error":{...}}` line as any other failure.
fn parse_failure(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let code = u8::try_from(error.exit_code()).unwrap_or(2);
    let informational = matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    );
    if let Some(word) = auth_subcommand_at_top(error) {
        let message = format!("unrecognized subcommand '{word}'");
        let hint = format!("it is under auth: `bx-events auth {word}`");
        if json_requested() {
            let body = serde_json::json!({"error": {
                "code": "USAGE", "message": message, "http_status": null, "hint": hint,
            }});
            eprintln!("{body}");
        } else {
            eprintln!("error: {message}\n\n  tip: {hint}\n\nFor more information, try '--help'.");
        }
        return ExitCode::from(2);
    }
    if !informational && json_requested() {
        let rendered = error.render().to_string();
        let message = rendered
            .lines()
            .map(|line| line.trim().trim_start_matches("error: "))
            .filter(|line| {
                !line.is_empty()
                    && !line.starts_with("Usage:")
                    && !line.starts_with("For more information")
            })
            .collect::<Vec<_>>()
            .join(" ");
        let body = serde_json::json!({"error": {
            "code": "USAGE",
            "message": message,
            "http_status": null,
            "hint": "run `bx-events help` (or the command with --help) to see its arguments",
        }});
        eprintln!("{body}");
        return ExitCode::from(code);
    }
    // `print` reports a closed pipe as an error instead of panicking; a closed pipe
    // ends quietly, any other failure to show the help is one.
    match error.print() {
        Err(failure) if informational && failure.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("error: cannot write to stdout: {failure}");
            ExitCode::from(1)
        }
        _ => ExitCode::from(code),
    }
}

/// `bx-events login` (and logout, status, switch, import): the word is one of
/// `auth`'s subcommands, which clap's own suggestion (`listen`) does not know.
fn auth_subcommand_at_top(error: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    if error.kind() != clap::error::ErrorKind::InvalidSubcommand {
        return None;
    }
    let Some(ContextValue::String(word)) = error.get(ContextKind::InvalidSubcommand) else {
        return None;
    };
    if !["login", "logout", "status", "switch", "import"].contains(&word.as_str()) {
        return None;
    }
    // At the top only: no subcommand before it (`offline login` is another typo).
    let top = <Cli as clap::CommandFactory>::command();
    let earlier_subcommand = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .take_while(|arg| arg != word)
        .any(|arg| top.find_subcommand(&arg).is_some());
    (!earlier_subcommand).then(|| word.clone())
}

/// Whether the command line (or BX_EVENTS_OUTPUT) asks for JSON or NDJSON output,
/// read without clap since clap refused the command line.
fn json_requested() -> bool {
    let machine = |value: &str| matches!(value, "json" | "ndjson");
    // `args_os`: an argument that is not UTF-8 is what clap just refused, and
    // `args()` would panic on it.
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let mut found = std::env::var(bx_events::internal::env::OUTPUT)
        .ok()
        .is_some_and(|v| machine(&v));
    for (index, arg) in args.iter().enumerate() {
        if arg == "--" {
            break;
        }
        if let Some(value) = arg
            .strip_prefix("--output=")
            .or_else(|| arg.strip_prefix("-o"))
        {
            if !value.is_empty() {
                found = machine(value.trim_start_matches('='));
                continue;
            }
        }
        if arg == "-o" || arg == "--output" {
            found = args.get(index + 1).is_some_and(|v| machine(v));
        }
    }
    found
}

/// Ctrl-C and SIGTERM, listened for from the moment this is made.
struct Interrupts {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Interrupts {
    /// Registers for both signals now (inside the runtime).
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let signals = signal(SignalKind::interrupt())
                .and_then(|int| Ok((int, signal(SignalKind::terminate())?)))
                .ok();
            Self { signals }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// Resolves on the next Ctrl-C or SIGTERM.
    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some((int, term)) = &mut self.signals {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Warnings always; `-v` adds the HTTP trace, `-vv` the masked bodies.
fn init_tracing(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => tracing::Level::ERROR,
        (false, 0) => tracing::Level::WARN,
        (false, 1) => tracing::Level::DEBUG,
        (false, _) => tracing::Level::TRACE,
    };
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // Only bx-events' own events: the HTTP stack's internals are noise for users.
    let filter = tracing_subscriber::filter::Targets::new()
        .with_target("bx_events", level)
        .with_default(tracing::Level::ERROR);
    let format = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_ansi(false);
    tracing_subscriber::registry()
        .with(filter)
        .with(format)
        .init();
}

/// Prints a failure (docs/style.md) and returns its exit status.
fn report_failure(failure: &Failure, output: &Output) -> u8 {
    let classified = classify(failure);
    // A requested stop (Ctrl-C, SIGTERM) needs no error line, in any format: the
    // exit code says it, and long-running commands print their own summary.
    if !classified.interrupted {
        output.failure(&classified.report);
    }
    classified.exit_code
}
