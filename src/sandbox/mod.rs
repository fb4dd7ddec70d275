//! A local Bitrix24 portal emulator: REST envelope, OAuth, webhooks, event methods,
//! `batch`, the leaky-bucket limit and token expiry, on 127.0.0.1 (docs/portal.md
//! lists the portal's rules it follows, each with its conformance test).
//!
//! Test your own integration against it: it hands out ready credentials, and
//! [`PortalHandle`] changes the portal as a user would.
//!
//! ```
//! use std::sync::Arc;
//! use bx_events::bitrix::events::{self, BindRequest, BindingKind};
//! use bx_events::bitrix::offline::{self, ClearSelection, GetQuery};
//! use bx_events::bitrix::{ApiError, Client, ClientOptions, Credentials, MemoryTokenStore, OAuthTokens};
//! use bx_events::sandbox::{SandboxOptions, SandboxThread};
//!
//! let sandbox = SandboxThread::spawn(SandboxOptions::default())?;
//! let store = Arc::new(MemoryTokenStore::new(OAuthTokens {
//!     access_token: sandbox.credentials.access_token.clone(),
//!     refresh_token: Some(sandbox.credentials.refresh_token.clone()),
//!     expires_at: Some(sandbox.credentials.expires_at),
//! }));
//! let endpoint = url::Url::parse(&sandbox.url)?.join("rest/")?;
//! let client = Client::new(Credentials::OAuth { endpoint, app: None, store }, ClientOptions::default())?;
//!
//! let runtime = tokio::runtime::Runtime::new()?;
//! runtime.block_on(async {
//!     let request = BindRequest {
//!         event: "ONCRMDEALADD".into(),
//!         handler: None,
//!         auth_type: None,
//!         kind: BindingKind::Offline,
//!         connector: None,
//!         min_timeout_secs: None,
//!     };
//!     events::bind(&client, &request).await?;
//!     // A deal is created: the portal queues a record for the offline binding.
//!     sandbox.portal.enqueue("ONCRMDEALADD", &serde_json::json!({"FIELDS": {"ID": 7}}));
//!     let reserved = offline::get(&client, &GetQuery { limit: Some(10), ..GetQuery::default() }).await?;
//!     assert_eq!(reserved.events.len(), 1);
//!     // Handled: confirm, and the portal deletes the reservation's records.
//!     let process_id = reserved.process_id.expect("a reservation");
//!     offline::clear(&client, &process_id, &ClearSelection::All, &None).await?;
//!     Ok::<(), ApiError>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod admin;
pub(crate) mod catalog;
pub(crate) mod delivery;
pub(crate) mod faults;
pub(crate) mod fire;
pub(crate) mod fleet;
pub(crate) mod methods;
pub(crate) mod oauth;
pub(crate) mod objects;
pub(crate) mod offline;
pub(crate) mod php;
pub(crate) mod request;
pub(crate) mod rest;
pub(crate) mod state;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;

use crate::bitrix::ratelimit::RateLimit;
use crate::bitrix::Secret;
pub use faults::{Fault, FaultKind};
pub use fleet::{FleetEntry, Lifecycle};
pub use offline::RETENTION_SECS;
use state::Shared;
pub use state::{Plan, Stats};

/// How to run a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub host: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    pub plan: Plan,
    /// `None` disables the portal's request limit.
    pub rate_limit: Option<RateLimit>,
    /// Lifetime of access tokens in seconds.
    pub token_ttl_secs: i64,
    /// The application token sent to handlers (random when `None`).
    pub application_token: Option<Secret>,
    /// Faults active from the start.
    pub faults: Vec<faults::Fault>,
    /// Call handlers that are not on this machine (off by default, so trying the
    /// sandbox never sends requests to the internet).
    pub external_delivery: bool,
    /// Keep credentials, bindings and the offline queue in this file across runs.
    pub state_file: Option<std::path::PathBuf>,
    /// Report the application's installation as unfinished (`INSTALLED: false`).
    pub not_installed: bool,
    /// How many independent portals to serve, each on its own port (the first on
    /// `port`). They share one application (client id and secret) and one OAuth
    /// server; `application_token` and `state_file` apply to the first only.
    pub portals: usize,
    /// The application's scopes (`None`: crm, task and user).
    pub scopes: Option<Vec<String>>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            plan: Plan::Professional,
            rate_limit: Some(RateLimit::STANDARD),
            token_ttl_secs: 3600,
            application_token: None,
            faults: Vec::new(),
            external_delivery: false,
            state_file: None,
            not_installed: false,
            portals: 1,
            scopes: None,
        }
    }
}

/// Ready-to-use credentials of a running sandbox.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxCredentials {
    pub portal: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub access_token: Secret,
    pub refresh_token: Secret,
    pub expires_at: i64,
    pub webhook_url: Secret,
    pub application_token: Secret,
    pub member_id: String,
    /// Where tokens are refreshed: the first portal's URL in a fleet.
    pub oauth_server: String,
}

/// Direct access to a running sandbox's state, for tests and the CLI.
#[derive(Clone)]
pub struct PortalHandle(Shared);

impl PortalHandle {
    fn with<R>(&self, f: impl FnOnce(&mut state::Portal) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A snapshot of the request counters.
    pub fn stats(&self) -> Stats {
        self.with(|portal| portal.stats.clone())
    }

    /// Expires every access token now.
    pub fn expire_tokens(&self) {
        self.with(|portal| portal.expire_tokens());
    }

    /// Revokes every access and refresh token, as a portal does when the
    /// application is removed: calls and refreshes with them fail from now on.
    pub fn revoke_tokens(&self) {
        self.with(|portal| {
            portal.access_tokens.clear();
            portal.refresh_tokens.clear();
        });
    }

    /// A new token pair for a user (1 is the admin, 2 an employee).
    pub fn issue_tokens(&self, user_id: i64) -> (String, String) {
        self.with(|portal| {
            let (access, refresh, _) = portal.issue_tokens(user_id);
            (access, refresh)
        })
    }

    /// Fires an event as a change on the portal would (see `Portal::fire`): queues
    /// offline records and calls online handlers; returns the deliveries.
    pub async fn fire(&self, event: &str, data: &serde_json::Value) -> Vec<state::Delivery> {
        let outcome = self.with(|portal| fire::fire(portal, event, data, 1));
        delivery::send_all(&self.0, &event.to_ascii_uppercase(), outcome.outgoing).await
    }

    /// Queues offline records for an event without calling online handlers (for
    /// tests that only need a filled queue).
    pub fn enqueue(&self, event: &str, data: &serde_json::Value) -> usize {
        self.with(|portal| fire::fire(portal, event, data, 1).queued)
    }

    /// How many records the offline queues hold (reserved, errors and all).
    pub fn offline_count(&self) -> usize {
        self.with(|portal| portal.offline.len())
    }

    /// Offline rows as `event.offline.list` shows them (with PROCESS_ID and ERROR).
    pub fn offline_rows(&self) -> Vec<state::QueuedEvent> {
        self.with(|portal| portal.offline.clone())
    }

    /// Moves every offline row's TIMESTAMP_X `seconds` into the past, as if the
    /// queue had waited that long (for tests of the cleanup agent and age warnings).
    pub fn age_offline(&self, seconds: i64) {
        self.with(|portal| {
            portal
                .offline
                .iter_mut()
                .for_each(|row| row.age_by(seconds))
        });
    }

    /// Marks the application's installation finished or not (`app.info` INSTALLED).
    pub fn set_installed(&self, installed: bool) {
        self.with(|portal| portal.installed = installed);
    }

    /// Changes the portal's request limit (`None` turns it off); the bucket starts empty.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.with(|portal| portal.bucket = limit.map(state::Bucket::new));
    }

    /// Injects a fault for the next matching requests.
    pub fn inject(&self, fault: faults::Fault) {
        self.with(|portal| portal.faults.push(fault));
    }

    /// How many bindings the portal holds.
    pub fn binding_count(&self) -> usize {
        self.with(|portal| portal.bindings.len())
    }
}

/// One portal of a running sandbox.
#[derive(Clone)]
pub struct FleetMember {
    pub credentials: SandboxCredentials,
    pub portal: PortalHandle,
}

/// A sandbox serving in the background of the current tokio runtime.
pub struct RunningSandbox {
    /// The first portal's URL, credentials and state.
    pub url: String,
    pub credentials: SandboxCredentials,
    pub portal: PortalHandle,
    /// Every portal, the first included (`--portals N`).
    pub fleet: Vec<FleetMember>,
    shutdown: Option<tokio::sync::watch::Sender<bool>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningSandbox {
    /// Stops serving and waits for the server task to end.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        self.task.await.unwrap_or(Ok(()))
    }

    /// Serves until the task ends (Ctrl-C is handled by the caller via `stop`).
    pub async fn wait(self) -> std::io::Result<()> {
        self.task.await.unwrap_or(Ok(()))
    }
}

/// Binds the listeners and starts serving in background tasks: one port per
/// portal, so each portal has its own origin as real portals have their own
/// domains.
pub async fn start(options: SandboxOptions) -> std::io::Result<RunningSandbox> {
    let count = options.portals.max(1);
    if count > 1 {
        crate::support::limits::raise_open_file_limit();
    }
    let mut listeners = Vec::with_capacity(count);
    listeners
        .push(tokio::net::TcpListener::bind(SocketAddr::new(options.host, options.port)).await?);
    for _ in 1..count {
        listeners.push(tokio::net::TcpListener::bind(SocketAddr::new(options.host, 0)).await?);
    }
    let mut portals = Vec::with_capacity(count);
    for listener in &listeners {
        let url = format!("http://{}", listener.local_addr()?);
        let mut portal = state::Portal::new(
            url,
            options.plan,
            options.token_ttl_secs,
            options.rate_limit,
        );
        portal.faults = options.faults.clone();
        portal.installed = !options.not_installed;
        portal.external_delivery = options.external_delivery;
        portals.push(portal);
    }
    let first = &mut portals[0];
    if let Some(token) = options.application_token.filter(|t| !t.is_empty()) {
        first.app.application_token = token.expose().clone();
    }
    if let Some(path) = &options.state_file {
        if let Some(text) = crate::support::files::read_optional_text(path)? {
            let saved: state::PersistedPortal = serde_json::from_str(&text).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is not a sandbox state file: {e}", path.display()),
                )
            })?;
            first.restore(saved);
        }
        first.state_file = Some(path.clone());
    }
    // One application installed on every portal: one client id and secret, one
    // OAuth server (the first portal's), and an application token per portal.
    let (client_id, client_secret, hub) = (
        first.app.client_id.clone(),
        first.app.client_secret.clone(),
        first.base_url.clone(),
    );
    for portal in portals.iter_mut().skip(1) {
        portal.app.client_id = client_id.clone();
        portal.app.client_secret = client_secret.clone();
        portal.oauth_server = hub.clone();
    }
    // After a state file's restore: the option wins over what the file kept.
    if let Some(scopes) = &options.scopes {
        for portal in &mut portals {
            portal.app.scopes = scopes.clone();
        }
    }
    let mut members = Vec::with_capacity(count);
    let mut shared_portals = Vec::with_capacity(count);
    for mut portal in portals {
        let credentials = credentials_of(&mut portal);
        portal.persist();
        let shared: Shared = Arc::new(Mutex::new(portal));
        members.push(FleetMember {
            credentials,
            portal: PortalHandle(shared.clone()),
        });
        shared_portals.push(shared);
    }
    let fleet: fleet::Fleet = Arc::new(shared_portals);
    let (shutdown, stopped) = tokio::sync::watch::channel(false);
    let mut servers = Vec::with_capacity(count);
    for (listener, shared) in listeners.into_iter().zip(fleet.iter()) {
        let router = router(fleet::Served {
            portal: shared.clone(),
            fleet: fleet.clone(),
        });
        let mut stopped = stopped.clone();
        servers.push(tokio::spawn(async move {
            crate::server::serve(
                listener,
                router,
                crate::server::ConnectionLimits::default(),
                async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                },
            )
            .await
        }));
    }
    let task = tokio::spawn(async move {
        let mut outcome = Ok(());
        for server in servers {
            if let Ok(Err(e)) = server.await {
                outcome = Err(e);
            }
        }
        outcome
    });
    Ok(RunningSandbox {
        url: members[0].credentials.portal.clone(),
        credentials: members[0].credentials.clone(),
        portal: members[0].portal.clone(),
        fleet: members,
        shutdown: Some(shutdown),
        task,
    })
}

/// The admin's fresh tokens and the application's credentials on one portal.
fn credentials_of(portal: &mut state::Portal) -> SandboxCredentials {
    let (access_token, refresh_token, expires_at) = portal.issue_tokens(1);
    SandboxCredentials {
        portal: portal.base_url.clone(),
        client_id: portal.app.client_id.clone(),
        client_secret: Secret::new(portal.app.client_secret.clone()),
        access_token: Secret::new(access_token),
        refresh_token: Secret::new(refresh_token),
        expires_at,
        webhook_url: Secret::new(portal.webhook_url()),
        application_token: Secret::new(portal.app.application_token.clone()),
        member_id: portal.member_id.clone(),
        oauth_server: portal.oauth_server.clone(),
    }
}

/// One portal's routes: the REST API, OAuth, and the `/_sandbox/` controls.
fn router(served: fleet::Served) -> Router {
    Router::new()
        .route(
            "/rest/{*path}",
            get(rest::rest_endpoint).post(rest::rest_endpoint),
        )
        .route("/oauth/token", get(oauth::token).post(oauth::token))
        .route("/oauth/token/", get(oauth::token).post(oauth::token))
        .route("/oauth/authorize", get(oauth::authorize))
        .route("/oauth/authorize/", get(oauth::authorize))
        .route("/_sandbox/stats", get(admin::stats))
        .route("/_sandbox/expire-tokens", post(admin::expire_tokens))
        .route("/_sandbox/token", post(admin::issue_token))
        .route("/_sandbox/fire", post(admin::fire))
        .route("/_sandbox/log", get(admin::log))
        .route("/_sandbox/age-offline", post(admin::age_offline))
        .route("/_sandbox/installed", post(admin::set_installed))
        .route("/_sandbox/portals", get(fleet::portals))
        .route("/_sandbox/install", post(fleet::install))
        .route(
            "/_sandbox/faults",
            post(admin::add_fault)
                .delete(admin::clear_faults)
                .get(admin::list_faults),
        )
        .with_state(served)
}

/// A sandbox on its own thread and runtime, for tests that drive the binary.
pub struct SandboxThread {
    pub url: String,
    pub credentials: SandboxCredentials,
    pub portal: PortalHandle,
    /// Every portal, the first included.
    pub fleet: Vec<FleetMember>,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SandboxThread {
    /// Starts a sandbox on a background thread and returns once it accepts connections.
    pub fn spawn(options: SandboxOptions) -> std::io::Result<Self> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                match start(options).await {
                    Ok(sandbox) => {
                        let handle = (
                            sandbox.url.clone(),
                            sandbox.credentials.clone(),
                            sandbox.portal.clone(),
                            sandbox.fleet.clone(),
                        );
                        let _ = ready_tx.send(Ok(handle));
                        let _ = tokio::task::spawn_blocking(move || stop_rx.recv()).await;
                        let _ = sandbox.stop().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        });
        let (url, credentials, portal, fleet) = ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("sandbox thread ended before it started"))??;
        Ok(Self {
            url,
            credentials,
            portal,
            fleet,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

impl Drop for SandboxThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
