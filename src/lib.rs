//! bx-events: a command-line subscription manager for Bitrix24 events, and the
//! Bitrix24 REST client it is built on.
//!
//! The library's API is [`bitrix`]: the client, its credentials and token stores,
//! typed errors, and the event, offline-queue and batch methods. With default
//! features off the crate is only that (no CLI dependencies). The `sandbox`
//! feature adds [`sandbox`], the local portal emulator, for testing your own
//! integration without a portal. The `cli` feature (default) is the command-line
//! tool and its profile stores: not API. See docs/architecture.md.

#![warn(unreachable_pub)]
// The client layer keeps some helpers only the tool calls (reservation re-reads,
// the doctor's views); built alone they are unused. The full build still finds
// dead code.
#![cfg_attr(not(feature = "cli"), allow(dead_code))]

pub mod bitrix;
mod support;

#[cfg(feature = "sandbox")]
pub mod sandbox;
#[cfg(feature = "sandbox")]
mod server;

#[cfg(feature = "cli")]
mod cli;
#[cfg(feature = "cli")]
mod commands;
#[cfg(feature = "cli")]
mod config;
#[cfg(feature = "cli")]
mod manifest;
#[cfg(feature = "cli")]
mod output;

/// Not API: what the `bx-events` binary, its test suite, benchmarks and asset
/// generator reach inside the crate for. It changes without notice.
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod internal {
    pub use crate::config::postgres::PgStore;
    pub use crate::config::{env, sandbox_profile, ProfileKind, ProfileSettings, Secrets, Store};
    pub use crate::{
        cli::{completion_script, Cli},
        commands::{classify, run, save_profile, CliError, Failure, Shutdown},
        manifest::parse as parse_manifest,
        output::{stdout_write_error, Output},
    };
}

/// What is not API stays out of reach; each block must fail to compile:
///
/// ```compile_fail
/// use bx_events::commands::run;
/// ```
/// ```compile_fail
/// use bx_events::cli::Cli;
/// ```
/// ```compile_fail
/// use bx_events::config::Store;
/// ```
/// ```compile_fail
/// use bx_events::manifest::parse;
/// ```
/// ```compile_fail
/// use bx_events::bitrix::mask::mask_url;
/// ```
/// ```compile_fail
/// use bx_events::bitrix::client::Client; // the API path is bx_events::bitrix::Client
/// ```
/// ```compile_fail
/// use bx_events::bitrix::offline::reservations;
/// ```
#[cfg(doctest)]
pub struct InternalsAreUnreachable;
