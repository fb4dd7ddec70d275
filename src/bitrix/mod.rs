//! The Bitrix24 REST client, usable without the CLI: transport, auth and refresh,
//! typed errors, event-method wrappers and models, batch, rate limiter, form encoding.

pub mod auth;
pub mod batch;
pub mod client;
pub mod error;
pub mod events;
pub mod form;
pub mod mask;
pub mod offline;
pub mod ratelimit;
pub mod response;
pub mod secret;
pub mod validate;

pub use auth::{Credentials, MemoryTokenStore, OAuthApp, OAuthTokens, TokenStore};
pub use client::{Client, ClientOptions};
pub use error::{ApiError, NetworkFailure};
pub use response::Envelope;
pub use secret::Secret;
