//! bx-events: a command-line subscription manager for Bitrix24 events.
//!
//! The library holds everything but argument parsing and exit codes: the API
//! client ([`bitrix`]), credentials ([`config`]), the portal emulator
//! ([`sandbox`]), output rendering and the commands themselves.

pub mod bitrix;
pub mod cli;
pub mod commands;
pub mod config;
pub mod manifest;
pub mod output;
pub mod private_files;
pub mod sandbox;
pub mod server;
