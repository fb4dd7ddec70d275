//! The Bitrix24 REST client, usable without the command-line tool.
//!
//! A [`Client`] talks to one portal with one set of [`Credentials`]: an incoming
//! webhook, or an OAuth application token kept in a [`TokenStore`] and refreshed
//! when it expires. Every call waits for the portal's request budget
//! ([`RatePreset`]), retries what is safe to retry, and ends in a typed
//! [`ApiError`] otherwise. The portal's methods are typed calls in [`events`]
//! (`event.bind`, `event.get`, `event.unbind`, `events`), [`offline`] (the
//! `event.offline.*` queue) and [`batch`]; [`form`] decodes the PHP-style form a
//! portal POSTs to handlers.
//!
//! ```no_run
//! use std::sync::Arc;
//! use bx_events::bitrix::{events, Client, ClientOptions, Credentials, MemoryTokenStore, OAuthTokens, Secret};
//!
//! # async fn example() -> Result<(), bx_events::bitrix::ApiError> {
//! let endpoint = bx_events::bitrix::parse_portal_url("https://example.bitrix24.com")
//!     .map_err(bx_events::bitrix::ApiError::InvalidRequest)?
//!     .join("rest/")
//!     .expect("a base URL takes a path");
//! let store = Arc::new(MemoryTokenStore::new(OAuthTokens {
//!     access_token: Secret::new("access token"),
//!     refresh_token: None,
//!     expires_at: None,
//! }));
//! let client = Client::new(
//!     Credentials::OAuth { endpoint, app: None, store },
//!     ClientOptions::default(),
//! )?;
//! for binding in events::list_bindings(&client).await? {
//!     println!("{} -> {:?}", binding.event, binding.handler);
//! }
//! # Ok(())
//! # }
//! ```

pub(crate) mod auth;
pub mod batch;
pub mod catalog;
pub(crate) mod client;
pub(crate) mod error;
pub mod events;
pub mod form;
pub mod hydrate;
pub(crate) mod mask;
pub mod offline;
pub(crate) mod ratelimit;
pub(crate) mod response;
pub(crate) mod secret;
pub(crate) mod validate;

pub use auth::{
    parse_portal_url, parse_webhook_url, Credentials, MemoryTokenStore, OAuthApp, OAuthTokens,
    StoreGuard, TokenStore, WebhookUrl, DEFAULT_OAUTH_SERVER,
};
pub use client::{http_client, Client, ClientOptions};
pub use error::{ApiError, NetworkFailure};
pub use ratelimit::{BucketStore, RateLimit, RatePreset};
pub use response::Envelope;
pub use secret::Secret;
pub use validate::{check_event_name, check_handler_url, HandlerUrlError, MAX_HANDLER_CHARS};
