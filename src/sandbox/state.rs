//! The emulated portal's state: application, users, tokens, bindings, the offline
//! queue's rows, the outbox and delivery log, counters, limits. Data only: the
//! modules beside it act on it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bitrix::auth::now_unix;
use crate::bitrix::ratelimit::RateLimit;

/// The portal's plan, which gates `clear=0` and connectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Basic,
    Professional,
    Enterprise,
}

impl Plan {
    /// `rest_offline_extended`: `clear=0` reservations and `auth_connector`.
    pub fn has_offline_extended(self) -> bool {
        !matches!(self, Plan::Basic)
    }

    pub fn name(self) -> &'static str {
        match self {
            Plan::Basic => "basic",
            Plan::Professional => "professional",
            Plan::Enterprise => "enterprise",
        }
    }
}

/// A user of the portal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct User {
    pub id: i64,
    pub name: String,
    pub admin: bool,
}

/// The one application installed on the sandbox portal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct App {
    pub client_id: String,
    pub client_secret: String,
    pub application_token: String,
    pub scopes: Vec<String>,
}

/// An issued access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AccessToken {
    pub user_id: i64,
    pub expires_at: i64,
}

/// A handler or offline binding as the portal stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredBinding {
    pub id: u64,
    pub event: String,
    pub handler: String,
    pub user_id: i64,
    pub offline: bool,
    pub connector: String,
    pub min_timeout_secs: Option<i64>,
}

/// The part of the portal `--state FILE` keeps: credentials, bindings and the queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PersistedPortal {
    pub member_id: String,
    pub app: App,
    pub users: Vec<User>,
    pub webhooks: HashMap<String, i64>,
    pub access_tokens: HashMap<String, AccessToken>,
    pub refresh_tokens: HashMap<String, i64>,
    pub bindings: Vec<StoredBinding>,
    pub next_binding_id: u64,
    pub offline: Vec<QueuedEvent>,
    pub next_offline_id: u64,
}

/// Request counters, for tests and benchmarks.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// HTTP requests to `/rest/` (a batch counts once).
    pub requests: u64,
    /// `QUERY_LIMIT_EXCEEDED` answers sent by the leaky bucket.
    pub query_limit_exceeded: u64,
    /// Requests answered by an injected fault.
    pub faults_applied: u64,
    /// Successful `refresh_token` grants.
    pub refreshes: u64,
    /// Failed token requests (`invalid_grant`, `invalid_client`).
    pub token_errors: u64,
    /// Calls per method, batch sub-commands included.
    pub methods: BTreeMap<String, u64>,
}

/// Leaky bucket of the portal: rises by one per request, drains at `per_second`.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    pub limit: RateLimit,
    level: f64,
    updated: Instant,
}

impl Bucket {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            level: 0.0,
            updated: Instant::now(),
        }
    }

    /// Admits one request, or refuses it when the bucket is full.
    pub(crate) fn admit(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.updated).as_secs_f64();
        self.level = self.limit.drained(self.level, elapsed);
        self.updated = now;
        if self.level + 1.0 > self.limit.burst {
            return false;
        }
        self.level += 1.0;
        true
    }
}

/// Everything the sandbox portal knows.
#[derive(Debug)]
pub(crate) struct Portal {
    pub base_url: String,
    /// The OAuth server the portal names in `server_endpoint`: its own URL, or
    /// the first portal's in a fleet (one server for every portal, as
    /// oauth.bitrix.info is on the real service).
    pub oauth_server: String,
    pub member_id: String,
    pub plan: Plan,
    pub app: App,
    pub users: Vec<User>,
    /// Webhook secret → user id.
    pub webhooks: HashMap<String, i64>,
    pub access_tokens: HashMap<String, AccessToken>,
    /// Refresh token → user id; each is removed when used.
    pub refresh_tokens: HashMap<String, i64>,
    /// Authorization code → (user id, expiry).
    pub auth_codes: HashMap<String, (i64, i64)>,
    pub bindings: Vec<StoredBinding>,
    pub next_binding_id: u64,
    /// The offline queue, every connector's rows together.
    pub offline: Vec<QueuedEvent>,
    pub next_offline_id: u64,
    /// Deliveries to online handlers, newest last.
    pub deliveries: Vec<Delivery>,
    /// When each ONOFFLINEEVENT handler was last notified.
    pub offline_notified: HashMap<u64, std::time::Instant>,
    /// Whether handlers off this machine are called.
    pub external_delivery: bool,
    /// Where `--state` keeps the portal between runs.
    pub state_file: Option<std::path::PathBuf>,
    /// Injected faults, applied to the next matching requests.
    pub faults: Vec<super::faults::Fault>,
    /// Handler calls a method made (e.g. `event.test`), sent before it answers.
    pub outbox: Vec<(String, Outgoing)>,
    pub token_ttl_secs: i64,
    /// `app.info`'s INSTALLED: a portal sends no events to an application whose
    /// installation was not finished.
    pub installed: bool,
    /// The application was uninstalled (`sandbox install --event uninstall`): its
    /// handlers, queue and tokens are gone until it is installed again.
    pub removed: bool,
    pub bucket: Option<Bucket>,
    pub stats: Stats,
    /// What fired changes made, for the catalogue's `*.get` methods: objects
    /// by fetch method (lower case), then by id (not kept by `--state`).
    pub objects: HashMap<String, HashMap<String, serde_json::Value>>,
}

pub(crate) use crate::support::random::random_hex;

impl Portal {
    pub(crate) fn new(
        base_url: String,
        plan: Plan,
        token_ttl_secs: i64,
        rate_limit: Option<RateLimit>,
    ) -> Self {
        let mut portal = Self {
            oauth_server: base_url.clone(),
            base_url,
            member_id: random_hex(32),
            plan,
            app: App {
                client_id: format!("local.{}", random_hex(14)),
                client_secret: random_hex(48),
                application_token: random_hex(32),
                scopes: vec!["crm".into(), "task".into(), "user".into()],
            },
            users: vec![
                User {
                    id: 1,
                    name: "Admin".into(),
                    admin: true,
                },
                User {
                    id: 2,
                    name: "Employee".into(),
                    admin: false,
                },
            ],
            webhooks: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            auth_codes: HashMap::new(),
            bindings: Vec::new(),
            next_binding_id: 1,
            offline: Vec::new(),
            next_offline_id: 1,
            deliveries: Vec::new(),
            offline_notified: HashMap::new(),
            outbox: Vec::new(),
            faults: Vec::new(),
            external_delivery: false,
            state_file: None,
            token_ttl_secs,
            bucket: rate_limit.map(Bucket::new),
            stats: Stats::default(),
            objects: Default::default(),
            installed: true,
            removed: false,
        };
        portal.webhooks.insert(random_hex(16), 1);
        portal
    }

    pub(crate) fn user(&self, id: i64) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// Issues a new access/refresh pair for a user.
    pub(crate) fn issue_tokens(&mut self, user_id: i64) -> (String, String, i64) {
        let (access, expires_at) = self.issue_access_token(user_id);
        let refresh = random_hex(70);
        self.refresh_tokens.insert(refresh.clone(), user_id);
        (access, refresh, expires_at)
    }

    /// An access token alone, for a delivery of an event the portal sends
    /// without a refresh token.
    /// Its expiry comes with it.
    pub(crate) fn issue_access_token(&mut self, user_id: i64) -> (String, i64) {
        let access = random_hex(70);
        let expires_at = now_unix() + self.token_ttl_secs;
        self.access_tokens.insert(
            access.clone(),
            AccessToken {
                user_id,
                expires_at,
            },
        );
        (access, expires_at)
    }

    /// Makes every access token expired, as an hour passing would.
    pub(crate) fn expire_tokens(&mut self) {
        let past = now_unix() - 1;
        for token in self.access_tokens.values_mut() {
            token.expires_at = past;
        }
    }

    /// The admin user's webhook URL.
    pub(crate) fn webhook_url(&self) -> String {
        let (secret, user) = self
            .webhooks
            .iter()
            .next()
            .map(|(s, u)| (s.clone(), *u))
            .unwrap_or_default();
        format!("{}/rest/{user}/{secret}/", self.base_url)
    }

    /// What `--state FILE` keeps across restarts.
    pub(crate) fn snapshot(&self) -> PersistedPortal {
        PersistedPortal {
            member_id: self.member_id.clone(),
            app: self.app.clone(),
            users: self.users.clone(),
            webhooks: self.webhooks.clone(),
            access_tokens: self.access_tokens.clone(),
            refresh_tokens: self.refresh_tokens.clone(),
            bindings: self.bindings.clone(),
            next_binding_id: self.next_binding_id,
            offline: self.offline.clone(),
            next_offline_id: self.next_offline_id,
        }
    }

    /// Takes back what an earlier run saved.
    pub(crate) fn restore(&mut self, saved: PersistedPortal) {
        self.member_id = saved.member_id;
        self.app = saved.app;
        self.users = saved.users;
        self.webhooks = saved.webhooks;
        self.access_tokens = saved.access_tokens;
        self.refresh_tokens = saved.refresh_tokens;
        self.bindings = saved.bindings;
        self.next_binding_id = saved.next_binding_id;
        self.offline = saved.offline;
        self.next_offline_id = saved.next_offline_id;
    }

    /// Writes the state file, when there is one. A failed write is reported on
    /// stderr and the sandbox goes on serving.
    pub(crate) fn persist(&self) {
        let Some(path) = &self.state_file else {
            return;
        };
        let written = serde_json::to_string(&self.snapshot())
            .map_err(|e| e.to_string())
            .and_then(|text| {
                crate::support::files::write_atomic(path, &text, 0o600).map_err(|e| e.to_string())
            });
        if let Err(error) = written {
            tracing::warn!("sandbox state {}: {error}", path.display());
        }
    }

    pub(crate) fn count_method(&mut self, method: &str) {
        *self.stats.methods.entry(method.to_string()).or_default() += 1;
    }
}

/// Shared state of the sandbox server.
pub(crate) type Shared = Arc<Mutex<Portal>>;

/// One queued event.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QueuedEvent {
    pub id: u64,
    pub timestamp: String,
    pub event_name: String,
    pub event_data: Value,
    pub additional: Value,
    pub message_id: String,
    pub process_id: Option<String>,
    pub error: bool,
    pub connector: String,
}

/// One attempt to call a handler.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub at: String,
    pub event: String,
    pub handler: String,
    pub event_handler_id: u64,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// A prepared request for one handler.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub binding: StoredBinding,
    pub body: String,
    /// False for a handler off this machine while external delivery is off.
    pub allowed: bool,
}
