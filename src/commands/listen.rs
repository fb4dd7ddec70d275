//! `listen`: a local receiver that decodes, verifies and prints what a portal sends a
//! handler, and can forward it, run a command for it, or save it for replay.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use super::context::Context;
use super::errors::CliError;
use crate::bitrix::client::http_client;
use crate::bitrix::mask::{mask_form_body, mask_json};
use crate::bitrix::Secret;
use crate::bitrix::{form, ClientOptions};
use crate::cli::ListenArgs;
use crate::commands::capture::{is_lifecycle, Capture, Throttle};
use crate::commands::handler::{HandlerCommand, HandlerFailure};
use crate::output::{Output, OutputFormat};

/// What `listen --save` writes and `trigger --from-file` replays.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedRequest {
    pub received_at: String,
    pub method: String,
    pub path: String,
    pub content_type: String,
    /// The body as received, with tokens masked.
    pub body: String,
}

struct Listener {
    token: Option<Secret>,
    forward: Option<(url::Url, reqwest::Client)>,
    exec: Option<HandlerCommand>,
    save: Option<PathBuf>,
    save_rejected: bool,
    /// Bytes `--save` may still write in this run.
    save_budget: AtomicU64,
    /// `--exec` commands allowed to run at once.
    exec_slots: tokio::sync::Semaphore,
    /// `--exec` commands running or waiting for a slot.
    exec_queued: AtomicU64,
    /// `--capture-installs`: lifecycle events become stored profiles.
    capture: Option<Capture>,
    out: Output,
    received: AtomicU64,
    /// Set when stdout's reader went away (`listen -o ndjson | head -1`): every
    /// later event would be printed nowhere, and the portal never retries, so
    /// the listener stops accepting (503) and ends.
    stdout_gone: std::sync::atomic::AtomicBool,
    stop: tokio::sync::Notify,
}

impl Listener {
    /// Whether stdout can no longer take lines: a write failed, or (for a
    /// pipe) its reader has closed it, which is seen before answering a sender.
    fn stdout_gone(&self) -> bool {
        if self.stdout_gone.load(Ordering::SeqCst) {
            return true;
        }
        if crate::support::pipes::stdout_reader_gone() {
            self.stdout_closed();
            return true;
        }
        false
    }

    fn stdout_closed(&self) {
        if !self.stdout_gone.swap(true, Ordering::SeqCst) {
            self.out.alert("stdout was closed by its reader: no longer accepting events (senders are answered 503), stopping");
            self.stop.notify_one();
        }
    }
}

/// Install verifications under `--capture-installs`: at once, waiting (more
/// are answered 429), and started per second.
const CAPTURE_AT_ONCE: usize = 8;
const CAPTURE_WAITING: usize = 64;
const CAPTURE_PER_SECOND: u32 = 50;

/// Most form fields a handler request may have: a real event has a few dozen.
/// More is answered `413` before anything is decoded.
const MAX_FORM_FIELDS: usize = 20_000;

/// Most `--exec` commands waiting for a slot; further events skip `--exec` (and
/// say so) instead of piling up processes and memory.
const MAX_EXEC_QUEUE: u64 = 1_000;

/// What can be learnt from a body cheaply, in one linear pass, before deciding
/// whether to decode it: the presented application token and the event name.
/// Neither form builds a tree: a JSON body is scanned for two fields (the rest
/// skipped as it is read), so a sender without the token costs no more memory
/// than its bytes.
enum Peek {
    /// A JSON body: its two fields, and whether it is JSON at all.
    Json {
        token: Option<String>,
        event: Option<String>,
    },
    /// A form body: its fields were counted, not yet built into a tree.
    Form {
        token: Option<String>,
        event: Option<String>,
        fields: usize,
        /// At most this many nodes can its tree have (one per key level).
        nodes_bound: usize,
    },
}

impl Peek {
    fn of(content_type: &str, body: &[u8]) -> Self {
        let text = String::from_utf8_lossy(body);
        if content_type.contains("json") || text.trim_start().starts_with('{') {
            #[derive(serde::Deserialize)]
            struct Auth {
                application_token: Option<String>,
            }
            #[derive(serde::Deserialize)]
            struct Fields {
                event: Option<String>,
                auth: Option<Auth>,
            }
            let fields: Option<Fields> = serde_json::from_slice(body).ok();
            return match fields {
                Some(fields) => Self::Json {
                    token: fields.auth.and_then(|a| a.application_token),
                    event: fields.event,
                },
                None => Self::Json {
                    token: None,
                    event: None,
                },
            };
        }
        let mut token = None;
        let mut event = None;
        let mut fields = 0;
        let mut nodes_bound = 0;
        for (key, value) in url::form_urlencoded::parse(body) {
            fields += 1;
            nodes_bound += 1 + key.matches('[').count();
            if key == "auth[application_token]" {
                token = Some(value.into_owned());
            } else if key == "event" {
                event = Some(value.into_owned());
            }
        }
        Self::Form {
            token,
            event,
            fields,
            nodes_bound,
        }
    }

    fn event_name(&self) -> Option<&str> {
        match self {
            Self::Json { event, .. } | Self::Form { event, .. } => event.as_deref(),
        }
    }

    fn token(&self) -> Option<&str> {
        match self {
            Self::Json { token, .. } | Self::Form { token, .. } => token.as_deref(),
        }
    }

    /// The event as far as it is known without decoding the body.
    fn summary(&self) -> Value {
        json!({ "event": self.event_name() })
    }
}

/// Decodes a handler request body: JSON, or the portal's PHP-style form within
/// the node budget for its size ([`form::node_budget`]).
pub(crate) fn decode_body(content_type: &str, body: &[u8]) -> Result<Value, form::TooComplex> {
    let text = String::from_utf8_lossy(body);
    if content_type.contains("json") || text.trim_start().starts_with('{') {
        Ok(serde_json::from_str(&text).unwrap_or_else(|_| json!({"_raw": text})))
    } else {
        let pairs = url::form_urlencoded::parse(text.as_bytes()).into_owned();
        form::decode_limited(pairs, form::node_budget(body.len()))
    }
}

/// [`decode_body`] on a blocking thread; a form past its budget is answered 413.
async fn decode_off_thread(content_type: &str, body: &Bytes) -> Result<Value, Box<Response>> {
    let (content_type, body) = (content_type.to_string(), body.clone());
    match tokio::task::spawn_blocking(move || decode_body(&content_type, &body)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(Box::new(
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("{error}; a portal's event form builds a few dozen\n"),
            )
                .into_response(),
        )),
        Err(_) => Err(Box::new(StatusCode::INTERNAL_SERVER_ERROR.into_response())),
    }
}

/// What the application-token check said about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
enum Verdict {
    /// The token matched.
    Accepted,
    /// No `--application-token` to check against.
    Unverified,
    /// The token was missing or wrong: answered 401, not passed on.
    Rejected,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Accepted => "accepted",
            Self::Unverified => "unverified",
            Self::Rejected => "rejected",
        })
    }
}

/// Compares the request's `auth[application_token]` with the expected one in
/// constant time (the portal signs nothing; this token is the proof).
fn verdict(expected: Option<&str>, presented: Option<&str>) -> Verdict {
    let Some(expected) = expected else {
        return Verdict::Unverified;
    };
    let presented = presented.unwrap_or("");
    if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        Verdict::Accepted
    } else {
        Verdict::Rejected
    }
}

/// One request as it reached the listener.
struct Received {
    number: u64,
    method: String,
    path: String,
    content_type: String,
    body: Bytes,
    /// The decoded event (or a summary of a rejected one).
    event: Value,
    verdict: Verdict,
}

pub(crate) async fn run(ctx: &Context, args: &ListenArgs) -> anyhow::Result<()> {
    let forward = match &args.forward_to {
        Some(raw) => {
            let url = super::arguments::http_url(raw, "--forward-to")?;
            let http = http_client(&ClientOptions {
                timeout: Duration::from_secs(ctx.global.timeout.max(1)),
                ..ClientOptions::default()
            })?;
            Some((url, http))
        }
        None => None,
    };
    if let Some(dir) = &args.save {
        crate::config::files::create_private_dir(dir)?;
    }
    let socket = tokio::net::TcpListener::bind(SocketAddr::new(args.host, args.port))
        .await
        .map_err(|e| {
            // The fix depends on why: a port in use or reserved is the port's
            // fault; an address this machine does not have is the host's.
            let fix = match e.kind() {
                std::io::ErrorKind::AddrNotAvailable => format!(
                    "{} is not an address of this machine: use one it has, 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)",
                    args.host
                ),
                std::io::ErrorKind::PermissionDenied => {
                    "ports below 1024 need privileges: pick --port 1024 or above".into()
                }
                _ => "pick another --port (0 takes a free one)".into(),
            };
            CliError::Usage(format!(
                "cannot listen on {}:{}: {e}; {fix}",
                args.host, args.port
            ))
        })?;
    let address = socket.local_addr()?;
    // 0.0.0.0 (or ::) listens on every interface but is no address to send to:
    // advise the loopback address for this machine, and say the rest.
    let advertised = if address.ip().is_unspecified() {
        SocketAddr::new(
            if address.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            },
            address.port(),
        )
    } else {
        address
    };
    let state = Arc::new(Listener {
        token: args.application_token.clone().filter(|t| !t.is_empty()),
        forward,
        exec: args
            .exec
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(|c| HandlerCommand::new(c, Duration::from_secs(args.handler_timeout))),
        save: args.save.clone(),
        save_rejected: args.save_rejected,
        save_budget: AtomicU64::new(args.save_budget.saturating_mul(1_000_000)),
        exec_slots: tokio::sync::Semaphore::new(args.max_exec as usize),
        exec_queued: AtomicU64::new(0),
        capture: capture_settings(ctx, args)?,
        out: ctx.out.clone(),
        received: AtomicU64::new(0),
        stdout_gone: std::sync::atomic::AtomicBool::new(false),
        stop: tokio::sync::Notify::new(),
    });
    let every_interface = if address.ip().is_unspecified() {
        format!(" on every interface, port {}", address.port())
    } else {
        String::new()
    };
    ctx.out.info(&format!(
        "Listening on http://{advertised}/{every_interface} (Ctrl-C to stop)\nBind it with: bx-events bind ONCRMDEALADD http://{advertised}/ (a portal on another machine needs this machine's public address, or a tunnel)"
    ));
    match (&state.capture, &state.token) {
        (Some(capture), None) => ctx.out.info(&format!(
            "Capturing installs into {} (verified at {}); other events are accepted without checking auth[application_token]",
            capture.store.dir().display(),
            capture.oauth_server
        )),
        (Some(capture), Some(_)) => ctx.out.info(&format!(
            "Capturing installs into {} (verified at {})",
            capture.store.dir().display(),
            capture.oauth_server
        )),
        (None, None) => ctx.out.warn("no --application-token: requests are accepted without checking auth[application_token]"),
        (None, Some(_)) => {}
    }
    let router = axum::Router::new()
        .fallback(receive)
        .with_state(state.clone());
    let shutdown = ctx.shutdown.clone();
    let stopping = state.clone();
    crate::server::serve(
        socket,
        router,
        crate::server::ConnectionLimits {
            header_timeout: Duration::from_secs(args.header_timeout.max(1)),
            ..crate::server::ConnectionLimits::default()
        },
        async move {
            tokio::select! {
                () = shutdown.requested() => {}
                () = stopping.stop.notified() => {}
            }
        },
    )
    .await?;
    ctx.out.info(&format!(
        "Stopped after {} request(s).",
        state.received.load(Ordering::Relaxed)
    ));
    if state.stdout_gone.load(Ordering::SeqCst) {
        return Err(CliError::Failed(
            "stdout was closed by its reader, so later events could not be printed; they were refused with 503".into(),
        )
        .into());
    }
    Err(CliError::Interrupted.into())
}

async fn receive(
    State(state): State<Arc<Listener>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    if state.stdout_gone() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the listener's output was closed; it is stopping\n",
        )
            .into_response();
    }
    let body = match crate::server::read_body(body, MAX_BODY).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let number = state.received.fetch_add(1, Ordering::Relaxed) + 1;
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    // One linear pass first: the token is checked, and the size of the form bounded,
    // before anything expensive is done for the sender.
    let peek_body = body.clone();
    let peek_type = content_type.clone();
    let Ok(peek) = tokio::task::spawn_blocking(move || Peek::of(&peek_type, &peek_body)).await
    else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot read the request\n",
        )
            .into_response();
    };
    if let Peek::Form { fields, .. } = &peek {
        if *fields > MAX_FORM_FIELDS {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("too many form fields ({fields}; at most {MAX_FORM_FIELDS})\n"),
            )
                .into_response();
        }
    }
    if let Some(capture) = &state.capture {
        if peek.event_name().is_some_and(is_lifecycle) {
            return capture_one(&state, capture, &content_type, &body).await;
        }
    }
    let verdict = verdict(
        state.token.as_ref().map(|t| t.expose().as_str()),
        peek.token(),
    );
    // A form whose keys could build more than its size pays for is decoded now,
    // within that budget, and refused if it does: nested keys cost far more than
    // their bytes (a 1.3 MB form of 32-level keys built 600 MB). Rejected senders
    // get no tree at all.
    let mut decoded = None;
    if let Peek::Form { nodes_bound, .. } = &peek {
        if verdict != Verdict::Rejected && *nodes_bound > form::node_budget(body.len()) {
            match decode_off_thread(&content_type, &body).await {
                Ok(value) => decoded = Some(value),
                Err(response) => return *response,
            }
        }
    }
    // Answer at once, like a well-behaved handler; the rest happens afterwards.
    let task_state = state.clone();
    let path = uri.path().to_string();
    tokio::spawn(async move {
        // Only accepted requests are decoded in full, off the accept path.
        let event = if verdict == Verdict::Rejected {
            peek.summary()
        } else if let Some(event) = decoded {
            event
        } else {
            // Within its budget: its bound was checked above.
            decode_off_thread(&content_type, &body)
                .await
                .unwrap_or(Value::Null)
        };
        let received = Received {
            number,
            method: method.to_string(),
            path,
            content_type,
            body,
            event,
            verdict,
        };
        process(task_state, received).await;
    });
    if verdict == Verdict::Rejected {
        (StatusCode::UNAUTHORIZED, "application token mismatch\n").into_response()
    } else {
        (StatusCode::OK, "OK\n").into_response()
    }
}

/// Most bytes a request's body may have.
const MAX_BODY: usize = 2 * 1024 * 1024;

/// `--capture-installs` settings: the application's id and secret, and the
/// OAuth server that vouches for installs.
fn capture_settings(ctx: &Context, args: &ListenArgs) -> anyhow::Result<Option<Capture>> {
    if !args.capture_installs {
        return Ok(None);
    }
    let client_id = args
        .client_id
        .clone()
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| {
            CliError::Usage("--capture-installs needs the application's --client-id".into())
        })?;
    let client_secret = match &args.secrets_from {
        Some(path) => super::auth::import::client_secret_from(path)?,
        None => std::env::var(crate::config::env::CLIENT_SECRET)
            .ok()
            .filter(|s| !s.is_empty())
            .map(Secret::new)
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "--capture-installs needs the application's client secret: --secrets-from FILE (a client_secret=VALUE line) or {}",
                    crate::config::env::CLIENT_SECRET
                ))
            })?,
    };
    let oauth_server = crate::bitrix::auth::parse_portal_url(&args.oauth_server)
        .map_err(|e| CliError::Usage(format!("--oauth-server: {e}")))?;
    crate::config::files::ensure_private_dir(ctx.store.dir())?;
    ctx.store
        .check_writable()
        .map_err(|e| CliError::Usage(format!("cannot capture installs: {e}")))?;
    Ok(Some(Capture {
        client_id,
        client_secret,
        oauth_server,
        http: http_client(&ctx.client_options_default())?,
        store: ctx.store.clone(),
        options: ctx.client_options_default(),
        throttle: Throttle::new(CAPTURE_AT_ONCE, CAPTURE_WAITING, CAPTURE_PER_SECOND),
    }))
}

/// Verifies and stores one lifecycle event, then answers its sender. Such a
/// request is not saved, forwarded or run: its refresh token is spent by the
/// verification, and the stored profile is what matters.
async fn capture_one(
    state: &Listener,
    capture: &Capture,
    content_type: &str,
    body: &Bytes,
) -> Response {
    let event = match decode_off_thread(content_type, body).await {
        Ok(event) => event,
        Err(response) => return *response,
    };
    let name = event["event"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let received_at = chrono::Local::now();
    let outcome = capture.handle(&event).await;
    let record = match &outcome {
        Ok(captured) => {
            json!({"received_at": received_at.to_rfc3339(), "event": name, "capture": captured})
        }
        Err(refused) => json!({
            "received_at": received_at.to_rfc3339(),
            "event": name,
            "domain": event["auth"]["domain"],
            "refused": refused.to_string(),
            "status": refused.status(),
        }),
    };
    if state.out.format != OutputFormat::Table {
        if crate::output::try_print_line(serde_json::to_string(&record).unwrap_or_default())
            .is_err()
        {
            state.stdout_closed();
        }
    } else {
        match &outcome {
            Ok(captured) => state.out.success(&format!(
                "{} {} from {}: profile '{}' {}",
                received_at.format("%H:%M:%S"),
                crate::output::printable_field(&name),
                captured.portal,
                captured.profile,
                captured.outcome
            )),
            Err(refused) => state.out.warn(&format!(
                "{} {} from {} refused: {refused}",
                received_at.format("%H:%M:%S"),
                crate::output::printable_field(&name),
                crate::output::printable_field(
                    event["auth"]["domain"].as_str().unwrap_or("(no domain)")
                )
            )),
        }
    }
    match outcome {
        Ok(_) => (StatusCode::OK, "OK\n").into_response(),
        Err(refused) => (
            StatusCode::from_u16(refused.status()).unwrap_or(StatusCode::BAD_REQUEST),
            format!("{refused}\n"),
        )
            .into_response(),
    }
}

/// Saves, forwards, runs and prints one request, after it was answered.
async fn process(state: Arc<Listener>, received: Received) {
    let received_at = chrono::Local::now();
    let name = received.event["event"]
        .as_str()
        .unwrap_or("(no event)")
        .to_string();
    if received.verdict != Verdict::Rejected || state.save_rejected {
        if let Some(dir) = &state.save {
            save(&state, dir, &received, received_at, &name);
        }
    }
    let (forwarded, executed) = if received.verdict == Verdict::Rejected {
        (Value::Null, Value::Null)
    } else {
        pass_on(&state, &received, &name).await
    };
    let event = &received.event;
    let mut record = json!({
        "received_at": received_at.to_rfc3339(),
        "method": received.method,
        "path": received.path,
        "verdict": received.verdict,
        "event": event["event"],
        "event_handler_id": event["event_handler_id"],
        "ts": event["ts"],
        "data": event["data"],
        "auth": mask_json(&json!({"auth": event["auth"]}))["auth"],
    });
    if !forwarded.is_null() {
        record["forward"] = forwarded.clone();
    }
    if !executed.is_null() {
        record["exec"] = executed.clone();
    }
    print_event(
        &state,
        &record,
        &name,
        received_at,
        received.verdict,
        &forwarded,
        &executed,
    );
}

/// `--save`: the request, secrets masked, as one private file within the budget.
fn save(
    state: &Listener,
    dir: &std::path::Path,
    received: &Received,
    received_at: chrono::DateTime<chrono::Local>,
    name: &str,
) {
    let saved = SavedRequest {
        received_at: received_at.to_rfc3339(),
        method: received.method.clone(),
        path: received.path.clone(),
        content_type: received.content_type.clone(),
        body: masked_body(
            &received.body,
            &received.event,
            state.token.as_ref().map(|t| t.expose().as_str()),
        ),
    };
    let text = serde_json::to_string_pretty(&saved).unwrap_or_default();
    let size = text.len() as u64;
    let within_budget = state
        .save_budget
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            left.checked_sub(size)
        })
        .is_ok();
    let number = received.number;
    let file = dir.join(format!(
        "{}-{}-{number}.json",
        received_at.format("%Y%m%dT%H%M%S"),
        crate::support::files::safe_file_name(name)
    ));
    if !within_budget {
        state.out.warn(&format!(
            "not saving request {number}: --save-budget is used up (raise it to keep more)"
        ));
    } else if let Err(e) = crate::support::files::create_private(&file, &text) {
        state
            .out
            .warn(&format!("cannot save {}: {e}", file.display()));
    }
}

/// `--forward-to` and `--exec`: what each made of the request.
async fn pass_on(state: &Listener, received: &Received, name: &str) -> (Value, Value) {
    let mut forwarded = Value::Null;
    let mut executed = Value::Null;
    if let Some((url, http)) = &state.forward {
        forwarded = match http
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, &received.content_type)
            .body(received.body.clone())
            .send()
            .await
        {
            Ok(response) => json!({"status": response.status().as_u16()}),
            Err(e) => json!({"error": e.without_url().to_string()}),
        };
    }
    if let Some(handler) = &state.exec {
        executed = run_exec_bounded(state, handler, name, &received.event).await;
    }
    (forwarded, executed)
}

fn print_event(
    state: &Listener,
    record: &Value,
    name: &str,
    at: chrono::DateTime<chrono::Local>,
    verdict: Verdict,
    forwarded: &Value,
    executed: &Value,
) {
    let out = &state.out;
    if out.format != OutputFormat::Table {
        if crate::output::try_print_line(serde_json::to_string(record).unwrap_or_default()).is_err()
        {
            state.stdout_closed();
        }
        return;
    }
    let id = record["data"]["FIELDS"]["ID"]
        .as_str()
        .map(|id| format!("id={id}"))
        .unwrap_or_else(|| "-".into());
    let name = crate::output::printable_field(name);
    let id = crate::output::printable_field(&id);
    let mut line = format!("{}  {name}  {id}  {verdict}", at.format("%H:%M:%S"));
    if let Some(status) = forwarded["status"].as_u64() {
        line.push_str(&format!("  -> forwarded: HTTP {status}"));
    } else if let Some(error) = forwarded["error"].as_str() {
        line.push_str(&format!("  -> forward failed: {error}"));
    }
    if let Some(code) = executed["exit_code"].as_i64() {
        line.push_str(&format!("  -> exec exit {code}"));
    } else if let Some(error) = executed["error"].as_str() {
        line.push_str(&format!("  -> exec failed: {error}"));
    }
    if crate::output::try_print_line(crate::output::printable(&line)).is_err() {
        state.stdout_closed();
    }
}

/// The body to save, with secrets masked by what it contains, whatever its declared
/// type: JSON if it parses as JSON, else a form; and any token value the request
/// carried (or the expected one) masked wherever it still appears.
fn masked_body(body: &[u8], event: &Value, expected: Option<&str>) -> String {
    let text = String::from_utf8_lossy(body);
    let mut masked = match serde_json::from_str::<Value>(&text) {
        Ok(value) => mask_json(&value).to_string(),
        Err(_) => mask_form_body(&text),
    };
    let mut secrets: Vec<String> = expected.map(str::to_string).into_iter().collect();
    if let Some(auth) = event["auth"].as_object() {
        for (key, value) in auth {
            if let Some(value) = value
                .as_str()
                .filter(|_| crate::bitrix::mask::is_token_key(key))
            {
                secrets.push(value.to_string());
            }
        }
    }
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        let hidden = crate::bitrix::mask::mask(secret);
        masked = masked.replace(secret.as_str(), &hidden);
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        masked = masked.replace(&encoded, &hidden);
    }
    masked
}

/// Runs `--exec` when a slot is free, waiting for one; refuses when too many wait.
async fn run_exec_bounded(
    state: &Listener,
    handler: &HandlerCommand,
    name: &str,
    event: &Value,
) -> Value {
    if state.exec_queued.fetch_add(1, Ordering::Relaxed) >= MAX_EXEC_QUEUE {
        state.exec_queued.fetch_sub(1, Ordering::Relaxed);
        return json!({"error": format!("skipped: {MAX_EXEC_QUEUE} --exec commands already running or waiting")});
    }
    let outcome = match state.exec_slots.acquire().await {
        Ok(_slot) => run_exec(handler, name, event).await,
        Err(_) => json!({"error": "the listener is stopping"}),
    };
    state.exec_queued.fetch_sub(1, Ordering::Relaxed);
    outcome
}

async fn run_exec(handler: &HandlerCommand, name: &str, event: &Value) -> Value {
    let variables = [
        ("BX_EVENT_NAME", name),
        (
            "BX_EVENT_HANDLER_ID",
            event["event_handler_id"].as_str().unwrap_or(""),
        ),
    ];
    match handler.run(&variables, event.to_string().as_bytes()).await {
        Ok(()) => json!({"exit_code": 0}),
        Err(HandlerFailure::Exited(code)) => json!({"exit_code": code}),
        Err(failure) => json!({"error": failure.to_string()}),
    }
}
