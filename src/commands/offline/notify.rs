//! `offline consume --follow --notify-listen`: the receiver of the portal's
//! ONOFFLINEEVENT notifications, and the wake-ups it hands the drain.
//!
//! The portal tells an ONOFFLINEEVENT handler that an application's queue
//! changed at most once per the binding's `minTimeout`, and the notifications of
//! changes inside that pause are dropped, not sent later. So every wake-up is
//! followed by one more look once the pause is over ([`Wakeups::follow_up`]):
//! records queued in the pause are found then, and a change after it notifies
//! again. Polling stays on as a slow safety net for a notification that never
//! arrives (docs/offline.md).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use tokio::sync::Notify;

use crate::bitrix::Secret;
use crate::commands::errors::CliError;
use crate::output::Output;
use crate::server::{read_body, ConnectionLimits};

/// Seconds between polls of an idle queue when notifications wake the drain:
/// only a lost notification waits this long.
pub(super) const SAFETY_POLL_SECS: f64 = 300.0;

/// The binding's `minTimeout` unless `--min-timeout` says otherwise.
pub(super) const DEFAULT_MIN_TIMEOUT: u32 = 1;

/// Most bytes a notification may have: it carries no data, only its auth (about
/// a kilobyte); anything larger is not a portal's notification.
const MAX_NOTIFICATION: usize = 64 * 1024;

/// Connections served at once: a portal sends one notification per second at
/// most, so a few suffice, and a flood cannot take more.
const MAX_CONNECTIONS: usize = 256;

/// The portals whose drain waits to be woken, shared by the receiver and the
/// drain; each portal is pending at most once, however many notifications came.
pub(super) struct Wakeups {
    woken: Vec<AtomicBool>,
    pending: Mutex<Vec<usize>>,
    notify: Notify,
    /// The portal's pause after a notification, plus a second for its clock's
    /// granularity: a look this long after a wake-up finds what the pause hid.
    follow_up: Duration,
}

impl Wakeups {
    pub(super) fn new(portals: usize, min_timeout_secs: u32) -> Arc<Self> {
        Arc::new(Self {
            woken: (0..portals).map(|_| AtomicBool::new(false)).collect(),
            pending: Mutex::new(Vec::new()),
            notify: Notify::new(),
            follow_up: Duration::from_secs(u64::from(min_timeout_secs) + 1),
        })
    }

    fn wake(&self, portal: usize) {
        let Some(flag) = self.woken.get(portal) else {
            return;
        };
        if !flag.swap(true, Ordering::AcqRel) {
            self.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(portal);
        }
        // Stores a permit when nobody waits: a notification that arrives during
        // a drain makes the next rest end at once (one more pass).
        self.notify.notify_one();
    }

    /// The portals woken since the last call, each once.
    pub(super) fn take(&self) -> Vec<usize> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for &portal in &taken {
            self.woken[portal].store(false, Ordering::Release);
        }
        taken
    }

    /// Resolves when a portal was woken (at once if one was since the last wait).
    pub(super) async fn notified(&self) {
        self.notify.notified().await;
    }

    /// How long after a wake-up the drain looks once more.
    pub(super) fn follow_up(&self) -> Duration {
        self.follow_up
    }
}

/// One portal the receiver takes notifications from.
pub(super) struct Listened {
    /// Which portal of the drain it is (what [`Wakeups::take`] returns).
    pub portal: usize,
    /// `auth[member_id]`, when the profile knows it.
    pub member_id: Option<String>,
    /// `auth[domain]`: the portal's host (and port, if its URL has one).
    pub domain: String,
    /// The application token its notifications must carry.
    pub token: Secret,
}

struct ReceiverState {
    portals: Vec<Listened>,
    by_member: HashMap<String, Vec<usize>>,
    by_domain: HashMap<String, Vec<usize>>,
    wakeups: Arc<Wakeups>,
    out: Output,
    refused: AtomicU64,
}

/// The running receiver.
pub(super) struct Receiver {
    /// Where the portal is told to send notifications.
    pub url: String,
    /// The address it listens on.
    pub local: SocketAddr,
    state: Arc<ReceiverState>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// Starts receiving notifications on `address` (HOST:PORT) for `portals`.
pub(super) async fn listen(
    address: &str,
    notify_url: Option<&str>,
    portals: Vec<Listened>,
    wakeups: Arc<Wakeups>,
    out: Output,
) -> Result<Receiver, CliError> {
    let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| {
        CliError::Usage(format!(
            "--notify-listen {address}: cannot listen there ({e}); give a free HOST:PORT of this machine"
        ))
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::Failed(format!("--notify-listen {address}: {e}")))?;
    let url = match notify_url {
        Some(url) => {
            crate::commands::arguments::http_url(url, "--notify-url")?;
            url.to_string()
        }
        None if local.ip().is_unspecified() => {
            return Err(CliError::Usage(format!(
                "--notify-listen {address} listens on every interface, so it names no address the portal can reach; say where with --notify-url URL"
            )))
        }
        None => format!("http://{local}/"),
    };
    // The portal's own rules for a handler URL, before it is asked to bind it.
    match crate::bitrix::check_handler_url(&url) {
        Ok(Some(warning)) => out.warn(&format!("--notify-url: {warning}")),
        Ok(None) => {}
        Err(refused) => {
            return Err(CliError::Usage(format!(
                "{refused}; give the address the portal reaches with --notify-url"
            )))
        }
    }
    let mut by_member: HashMap<String, Vec<usize>> = HashMap::new();
    let mut by_domain: HashMap<String, Vec<usize>> = HashMap::new();
    for (index, portal) in portals.iter().enumerate() {
        if let Some(member) = &portal.member_id {
            by_member.entry(member.clone()).or_default().push(index);
        }
        by_domain
            .entry(portal.domain.clone())
            .or_default()
            .push(index);
    }
    let state = Arc::new(ReceiverState {
        portals,
        by_member,
        by_domain,
        wakeups,
        out,
        refused: AtomicU64::new(0),
    });
    let router = axum::Router::new()
        .fallback(receive)
        .with_state(state.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = ConnectionLimits {
        max_connections: MAX_CONNECTIONS,
        ..ConnectionLimits::default()
    };
    let task = tokio::spawn(async move {
        let _ = crate::server::serve(listener, router, limits, async {
            let _ = stopped.await;
        })
        .await;
    });
    Ok(Receiver {
        url,
        local,
        state,
        stop,
        task,
    })
}

impl Receiver {
    /// Stops listening; says how many requests were refused, if any.
    pub(super) async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
        let refused = self.state.refused.load(Ordering::Relaxed);
        if refused > 0 {
            self.state.out.warn(&format!(
                "refused {refused} request(s) to the notification address that were not a portal's verified ONOFFLINEEVENT"
            ));
        }
    }
}

/// What a notification says about itself, read in one pass without building a
/// tree.
#[derive(Default)]
struct Notification {
    event: Option<String>,
    token: Option<String>,
    member_id: Option<String>,
    domain: Option<String>,
}

impl Notification {
    fn read(content_type: &str, body: &[u8]) -> Self {
        if content_type.contains("json") || body.trim_ascii_start().starts_with(b"{") {
            #[derive(serde::Deserialize)]
            struct Auth {
                application_token: Option<String>,
                member_id: Option<String>,
                domain: Option<String>,
            }
            #[derive(serde::Deserialize)]
            struct Fields {
                event: Option<String>,
                auth: Option<Auth>,
            }
            return match serde_json::from_slice::<Fields>(body) {
                Ok(fields) => {
                    let auth = fields.auth;
                    let (token, member_id, domain) = match auth {
                        Some(a) => (a.application_token, a.member_id, a.domain),
                        None => (None, None, None),
                    };
                    Self {
                        event: fields.event,
                        token,
                        member_id,
                        domain,
                    }
                }
                Err(_) => Self::default(),
            };
        }
        let mut notification = Self::default();
        for (key, value) in url::form_urlencoded::parse(body) {
            let slot = match key.as_ref() {
                "event" => &mut notification.event,
                "auth[application_token]" => &mut notification.token,
                "auth[member_id]" => &mut notification.member_id,
                "auth[domain]" => &mut notification.domain,
                _ => continue,
            };
            *slot = Some(value.into_owned());
        }
        notification
    }
}

fn refuse(state: &ReceiverState, status: StatusCode, why: &str) -> Response {
    // The first refusal is said at once (a wrong token is the usual set-up
    // mistake); the rest are counted, so a flood cannot flood the terminal.
    if state.refused.fetch_add(1, Ordering::Relaxed) == 0 {
        state.out.warn(&format!(
            "refused a request to the notification address ({status}): {why}"
        ));
    }
    (status, format!("{why}\n")).into_response()
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    method: Method,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Response {
    if method != Method::POST {
        return refuse(
            &state,
            StatusCode::METHOD_NOT_ALLOWED,
            "the portal POSTs its notifications",
        );
    }
    let body = match read_body(body, MAX_NOTIFICATION).await {
        Ok(body) => body,
        Err(response) => {
            state.refused.fetch_add(1, Ordering::Relaxed);
            return response;
        }
    };
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let notification = Notification::read(content_type, &body);
    let by_member = notification
        .member_id
        .as_deref()
        .and_then(|member| state.by_member.get(member));
    let by_domain = || {
        notification
            .domain
            .as_deref()
            .and_then(|domain| state.by_domain.get(&domain.to_ascii_lowercase()))
    };
    let Some(candidates) = by_member.or_else(by_domain) else {
        return refuse(
            &state,
            StatusCode::FORBIDDEN,
            "no profile of this consumer is that portal (auth[member_id], auth[domain])",
        );
    };
    let presented = notification.token.as_deref().unwrap_or("");
    let verified: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|&index| {
            bool::from(
                presented
                    .as_bytes()
                    .ct_eq(state.portals[index].token.expose().as_bytes()),
            )
        })
        .collect();
    if verified.is_empty() {
        return refuse(
            &state,
            StatusCode::UNAUTHORIZED,
            "application token mismatch",
        );
    }
    if !notification
        .event
        .as_deref()
        .is_some_and(|event| event.eq_ignore_ascii_case("ONOFFLINEEVENT"))
    {
        return refuse(
            &state,
            StatusCode::BAD_REQUEST,
            "this address takes ONOFFLINEEVENT notifications only",
        );
    }
    for index in verified {
        let portal = &state.portals[index];
        tracing::debug!(portal = %portal.domain, "ONOFFLINEEVENT: waking the drain");
        state.wakeups.wake(portal.portal);
    }
    (StatusCode::OK, "OK\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_notification_is_read_without_decoding_a_tree() {
        let body = b"event=ONOFFLINEEVENT&data=&ts=1&auth%5Bapplication_token%5D=t&auth%5Bmember_id%5D=m&auth%5Bdomain%5D=x.bitrix24.ru";
        let read = Notification::read("application/x-www-form-urlencoded", body);
        assert_eq!(read.event.as_deref(), Some("ONOFFLINEEVENT"));
        assert_eq!(read.token.as_deref(), Some("t"));
        assert_eq!(read.member_id.as_deref(), Some("m"));
        assert_eq!(read.domain.as_deref(), Some("x.bitrix24.ru"));
    }

    #[test]
    fn a_json_notification_is_read_too() {
        let body =
            br#"{"event":"ONOFFLINEEVENT","auth":{"application_token":"t","member_id":"m"}}"#;
        let read = Notification::read("application/json", body);
        assert_eq!(read.token.as_deref(), Some("t"));
        assert_eq!(read.member_id.as_deref(), Some("m"));
        assert!(read.domain.is_none());
    }

    #[test]
    fn many_notifications_leave_a_portal_pending_once() {
        let wakeups = Wakeups::new(3, 1);
        wakeups.wake(2);
        wakeups.wake(2);
        wakeups.wake(0);
        wakeups.wake(7);
        assert_eq!(wakeups.take(), vec![2, 0]);
        assert!(wakeups.take().is_empty());
        wakeups.wake(2);
        assert_eq!(wakeups.take(), vec![2], "taken portals can be woken again");
    }
}
