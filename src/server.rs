//! Serving HTTP for `listen` and the sandbox, hardened against slow and idle
//! clients: headers must arrive within a deadline, an idle keep-alive connection is
//! closed, and the number of open connections is capped.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Limits on each connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// Time for a client to send a request's headers, and longest idle wait for the
    /// next request on a keep-alive connection (slowloris).
    pub header_timeout: Duration,
    /// Connections served at once; more wait in the accept queue.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            max_connections: 4096,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves. Requests in flight
/// then are answered before this returns (for at most [`SHUTDOWN_GRACE`]): a
/// sender told 503 as the listener stops must hear it, not a dropped connection.
/// Idle kept-alive connections are closed at once.
pub(crate) async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    // A receiver holding many slow connections must still accept an honest one;
    // the common soft limit of 1,024 open files would stop it first.
    crate::support::limits::raise_open_file_limit();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return Ok(()),
            },
            () = &mut shutdown => return finish(graceful).await,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Answers go out at once: a kept-alive client must not wait on
                    // Nagle's algorithm and a delayed ACK for each small response.
                    let _ = stream.set_nodelay(true);
                    stream
                }
                // A transient accept error (too many open files): pause, go on.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return finish(graceful).await,
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(
            hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service),
        );
        tokio::spawn(async move {
            let _permit = permit;
            let _ = connection.await;
        });
    }
}

/// Longest a stopping server waits for the requests in flight to be answered.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Lets the watched connections answer what they are serving, then close.
async fn finish(graceful: hyper_util::server::graceful::GracefulShutdown) -> std::io::Result<()> {
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    Ok(())
}

/// Longest a sender may take to send a request's body, once its headers came
/// (a sender trickling its body must not hold a connection for long).
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// A request's body, read within [`BODY_TIMEOUT`] and `max` bytes, or the answer
/// to send instead (413 past `max`, 408 past the deadline).
pub(crate) async fn read_body(
    body: axum::body::Body,
    max: usize,
) -> Result<axum::body::Bytes, axum::response::Response> {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, max)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body is larger than {} KiB, or was cut off\n",
                max / 1024
            ),
        )
            .into_response()),
        Err(_) => Err((
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the body did not arrive within {} s\n",
                BODY_TIMEOUT.as_secs()
            ),
        )
            .into_response()),
    }
}
