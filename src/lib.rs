//! bx-events: a command-line subscription manager for Bitrix24 events.
//!
//! With default features off the crate is only the Bitrix24 REST client
//! ([`bitrix`]): transport, OAuth refresh, typed errors, the event and offline
//! methods, batch and the rate limiter. The `sandbox` feature adds the portal
//! emulator and the credential store it writes profiles to; the `cli` feature
//! (default) adds the command-line tool that `src/main.rs` runs. See
//! docs/architecture.md.

#![warn(unreachable_pub)]

pub mod bitrix;
mod support;

#[cfg(feature = "sandbox")]
pub mod config;
#[cfg(feature = "sandbox")]
pub mod sandbox;
#[cfg(feature = "sandbox")]
mod server;

#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod commands;
#[cfg(feature = "cli")]
pub mod manifest;
#[cfg(feature = "cli")]
mod output;
#[cfg(feature = "cli")]
pub use output::{printable, stdout_write_error, ColorChoice, Output, OutputFormat};
