//! Typed errors of the API client: the portal's code, description and HTTP status.

use std::fmt;

/// How a request failed before the portal could answer with JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetworkFailure {
    /// TCP or TLS connection could not be established.
    Connect,
    /// No answer within the configured timeout.
    Timeout,
    /// The connection was closed before a full answer arrived.
    Dropped,
    /// A TLS certificate was rejected.
    Certificate,
    /// `https://` to a server that answers in plain HTTP (the sandbox, a local
    /// dev server): its answer is not a TLS record.
    PlainHttpServer,
    /// Anything else reqwest reported.
    Other,
}

impl fmt::Display for NetworkFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connection failed",
            Self::Timeout => "timed out",
            Self::Dropped => "connection dropped",
            Self::Certificate => "TLS certificate rejected",
            Self::PlainHttpServer => "the server speaks plain HTTP, not TLS",
            Self::Other => "request failed",
        })
    }
}

/// Errors of calls to a portal or its OAuth server. New kinds may be added, so a
/// `match` needs a wildcard arm; [`ApiError::code`] and the `is_*` questions
/// cover most needs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The portal answered with an error envelope.
    #[error("{method} failed: {code}: {description} (HTTP {status})")]
    Portal {
        method: String,
        code: String,
        description: String,
        status: u16,
        /// The `argument` key some errors carry (e.g. `"EVENT"`).
        argument: Option<String>,
        /// `time.operating_reset_at` when the answer carried it (unix seconds).
        reset_at: Option<f64>,
    },
    /// The OAuth server refused a token request.
    #[error("OAuth token request failed: {code}: {description} (HTTP {status})")]
    OAuth {
        code: String,
        description: String,
        status: u16,
    },
    /// No usable answer arrived: connection, timeout, TLS.
    #[error("{method}: {failure} talking to {url}: {detail}")]
    Network {
        method: String,
        url: String,
        failure: NetworkFailure,
        detail: String,
    },
    /// An answer arrived but is not a Bitrix24 envelope (HTML error page, empty, not JSON).
    #[error("{method}: the portal answered HTTP {status} with {what}, not a Bitrix24 JSON answer")]
    BadResponse {
        method: String,
        status: u16,
        what: String,
    },
    /// The server answered with a redirect. Redirects are never followed: the
    /// request carries the access token (or the client secret), and a redirect to
    /// another origin would hand it over.
    #[error("{method}: the server answered HTTP {status} redirecting to {location}; bx-events does not follow redirects, so the token was not sent there. If that address is the portal's real one, log in with it as --portal")]
    Redirected {
        method: String,
        status: u16,
        location: String,
    },
    /// Retries ran out on a temporary condition (rate limit, overload). The last
    /// error is part of the message, not a `source`, so a chain never repeats it.
    #[error("{method}: gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        method: String,
        attempts: u32,
        last: Box<ApiError>,
    },
    /// The credential store could not be read or written while refreshing (its
    /// error is part of the message and reachable with [`ApiError::store_error`]).
    #[error("credential store: {0}")]
    Store(Box<dyn std::error::Error + Send + Sync>),
    /// The profile cannot make this kind of call (e.g. no refresh token).
    #[error("{0}")]
    Credentials(String),
    /// The request could not be built (bad URL, bad parameters).
    #[error("{0}")]
    InvalidRequest(String),
}

impl ApiError {
    /// The credential store's own error behind [`ApiError::Store`].
    pub fn store_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self {
            Self::Store(error) => Some(error.as_ref()),
            _ => None,
        }
    }

    /// The portal's or OAuth server's error code, when there is one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Portal { code, .. } | Self::OAuth { code, .. } => Some(code),
            Self::RetriesExhausted { last, .. } => last.code(),
            _ => None,
        }
    }

    /// The HTTP status of the failed answer, when one arrived.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Portal { status, .. }
            | Self::OAuth { status, .. }
            | Self::BadResponse { status, .. } => Some(*status),
            Self::RetriesExhausted { last, .. } => last.http_status(),
            _ => None,
        }
    }

    /// True when the credentials were rejected or lack the right to do this.
    pub fn is_credentials_problem(&self) -> bool {
        if matches!(self, Self::Credentials(_)) {
            return true;
        }
        matches!(
            self.code(),
            Some(
                "NO_AUTH_FOUND"
                    | "INVALID_CREDENTIALS"
                    | "expired_token"
                    | "invalid_token"
                    | "WRONG_AUTH_TYPE"
                    | "ACCESS_DENIED"
                    | "insufficient_scope"
                    | "invalid_grant"
                    | "invalid_client"
                    | "authorization_error"
            )
        )
    }

    /// True when the condition is temporary: rate limits, overload, gateway pages.
    pub fn is_temporary(&self) -> bool {
        match self {
            Self::RetriesExhausted { .. } => true,
            Self::Portal { code, status, .. } => {
                matches!(
                    code.as_str(),
                    "QUERY_LIMIT_EXCEEDED" | "OPERATION_TIME_LIMIT" | "OVERLOAD_LIMIT"
                ) || *status == 503
            }
            Self::BadResponse { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }

    /// A server-side failure (HTTP 5xx) that a retry-safe call repeats.
    pub fn is_server_error(&self) -> bool {
        match self {
            Self::Portal { status, .. } | Self::BadResponse { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// True when the error carries this portal or OAuth code.
    pub fn is_code(&self, wanted: &str) -> bool {
        self.code() == Some(wanted)
    }
}
