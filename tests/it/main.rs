//! The integration tests: the built binary (assert_cmd) against an in-process
//! sandbox with a temporary config directory, one module per area. One test crate,
//! so the harness in `common` is compiled and linked once.

mod apply;
mod assets;
mod auth;
mod bindings;
mod brokers;
mod catalog;
mod common;
mod conformance;
mod dev;
mod docs_examples;
mod doctor;
mod edges;
mod examples;
mod failures;
mod fleet;
mod handlers;
mod hardening;
#[cfg(all(feature = "test-keyring", target_os = "linux"))]
mod keyring;
mod notify;
mod offline;
mod postgres;
mod properties;
mod publish;
mod reliability;
mod sandbox_state;
mod secrets;
mod security;
mod snapshots;
mod store;
mod terminal;
