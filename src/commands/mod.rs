//! The commands, one module each, and the dispatch to them (the context they
//! share is in `context`).

pub(crate) mod apply;
pub(crate) mod arguments;
pub(crate) mod auth;
pub(crate) mod bind;
pub(crate) mod call;
pub(crate) mod capture;
pub(crate) mod completions;
pub(crate) mod context;
pub(crate) mod describe;
pub(crate) mod dev;
pub(crate) mod doctor;
pub(crate) mod errors;
pub(crate) mod events;
pub(crate) mod export;
pub(crate) mod fleet;
pub(crate) mod handler;
pub(crate) mod help;
pub(crate) mod list;
pub(crate) mod listen;
pub(crate) mod offline;
pub(crate) mod patterns;
pub(crate) mod sandbox;
pub(crate) mod shutdown;
pub(crate) mod state_file;
pub(crate) mod store;
pub(crate) mod suggest;
pub(crate) mod trigger;
pub(crate) mod unbind;

use crate::cli::{AuthCommand, Cli, Command, StoreCommand};
pub use auth::save_profile;
use context::Context;
pub use errors::{classify, CliError, Failure};
pub use shutdown::Shutdown;

/// Runs a parsed command line; a failure carries what [`classify`] needs.
/// Commands that stop gracefully watch `shutdown` themselves; every other
/// command is abandoned on interruption.
pub async fn run(cli: Cli, shutdown: Shutdown) -> Result<(), Failure> {
    match &cli.command {
        Command::Completions(args) => {
            completions::run(args);
            return Ok(());
        }
        Command::Help(args) => return Ok(help::run(args)?),
        _ => {}
    }
    crate::support::limits::ignore_file_size_signal();
    let graceful = cli.command.stops_gracefully();
    let ctx = Context::new(cli.global, shutdown.clone())?;
    let result = if graceful {
        dispatch(&ctx, cli.command).await
    } else {
        tokio::select! {
            result = dispatch(&ctx, cli.command) => result,
            _ = shutdown.requested() => Err(CliError::Interrupted.into()),
        }
    };
    result.map_err(|error| Failure {
        error,
        profile: ctx.blamed_profile(),
    })
}

async fn dispatch(ctx: &Context, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Auth(command) => match command {
            AuthCommand::Login(args) => auth::login(ctx, *args).await,
            AuthCommand::Status => auth::status(ctx).await,
            AuthCommand::Logout(args) => auth::logout(ctx, &args),
            AuthCommand::Token => auth::token(ctx).await,
            AuthCommand::Switch(args) => auth::switch(ctx, &args),
            AuthCommand::Import(args) => auth::import::run(ctx, &args),
            AuthCommand::Keyring(args) => auth::keyring::run(ctx, &args),
        },
        Command::Diff(args) => apply::diff(ctx, &args).await,
        Command::Apply(args) => apply::apply(ctx, &args).await,
        Command::Export => export::run(ctx).await,
        Command::Offline(command) => offline::run(ctx, command).await,
        Command::Events(args) => events::run(ctx, &args).await,
        Command::Describe(args) => describe::run(ctx, &args),
        Command::Bind(args) => bind::run(ctx, &args).await,
        Command::List(args) => list::run(ctx, &args).await,
        Command::Unbind(args) => unbind::run(ctx, &args).await,
        Command::Call(args) => call::run(ctx, &args).await,
        Command::Listen(args) => listen::run(ctx, &args).await,
        Command::Dev(args) => dev::run(ctx, &args).await,
        Command::Doctor(args) => doctor::run(ctx, &args).await,
        Command::Trigger(args) => trigger::run(ctx, &args).await,
        Command::Sandbox(args) => sandbox::run(ctx, &args).await,
        Command::Store(StoreCommand::Init(args)) => store::init(ctx, &args),
        Command::Completions(_) | Command::Help(_) => Ok(()),
    }
}
