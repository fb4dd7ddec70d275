//! The client's retry, refresh and redirect rules against a scripted server per
//! test: each test lists the answers, then asserts the exact requests sent.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::bitrix::auth::{MemoryTokenStore, OAuthTokens, TokenStore};

/// One answer the server gives, in order.
struct Answer {
    status: u16,
    body: String,
    location: Option<&'static str>,
}

fn answer(status: u16, body: Value) -> Answer {
    Answer {
        status,
        body: body.to_string(),
        location: None,
    }
}

/// One request the server received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query.
    target: String,
    body: String,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// A query parameter of the target.
    fn query(&self, name: &str) -> Option<String> {
        let url = Url::parse(&format!("http://x{}", self.target)).ok()?;
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

/// A loopback HTTP/1.1 server answering from a script, one request per connection.
struct Scripted {
    base: Url,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Scripted {
    async fn start(answers: Vec<Answer>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let Some(request) = read_request(&mut stream).await else {
                    continue;
                };
                record.lock().unwrap().push(request);
                let next = answers.lock().unwrap().pop_front();
                let next = next.unwrap_or_else(|| answer(599, json!({"error": "UNSCRIPTED"})));
                let location = next
                    .location
                    .map(|target| format!("Location: {target}\r\n"))
                    .unwrap_or_default();
                let head = format!(
                    "HTTP/1.1 {} Scripted\r\nContent-Type: application/json\r\n{location}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    next.status,
                    next.body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(next.body.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        Self { base, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// `METHOD path` of every request, in order.
    fn lines(&self) -> Vec<String> {
        self.seen()
            .iter()
            .map(|seen| {
                let path = seen.target.split('?').next().unwrap_or_default();
                format!("{} {path}", seen.method)
            })
            .collect()
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Seen> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut words = head.split_whitespace();
    let method = words.next()?.to_string();
    let target = words.next()?.to_string();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    Some(Seen {
        method,
        target,
        body: String::from_utf8_lossy(&buffer[head_end..]).to_string(),
    })
}

fn quick_options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(10),
        rate_limit: RatePreset::Off,
        max_attempts: 3,
        base_backoff: Duration::from_millis(1),
        ..ClientOptions::default()
    }
}

fn tokens(access: &str, refresh: &str, expires_at: Option<i64>) -> OAuthTokens {
    OAuthTokens {
        access_token: Secret::new(access.to_string()),
        refresh_token: Some(Secret::new(refresh.to_string())),
        expires_at,
    }
}

/// A client for the scripted portal, which is its own OAuth server.
fn oauth_client(server: &Scripted, stored: OAuthTokens) -> (Client, Arc<MemoryTokenStore>) {
    let store = Arc::new(MemoryTokenStore::new(stored));
    (client_with_store(server, store.clone()), store)
}

/// A client for the scripted portal whose tokens live in `store`.
fn client_with_store(server: &Scripted, store: Arc<dyn TokenStore>) -> Client {
    let credentials = Credentials::OAuth {
        endpoint: server.base.join("rest/").unwrap(),
        app: Some(OAuthApp {
            client_id: "local.app".into(),
            client_secret: Secret::new("app-secret".to_string()),
            oauth_server: server.base.clone(),
        }),
        store,
    };
    Client::new(credentials, quick_options()).unwrap()
}

fn token_answer(access: &str, refresh: &str) -> Answer {
    answer(
        200,
        json!({"access_token": access, "refresh_token": refresh, "expires_in": 3600,
               "client_endpoint": "http://portal/rest/", "server_endpoint": "http://oauth/rest/"}),
    )
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_call_repeated_with_the_new_one() {
    let server = Scripted::start(vec![
        answer(
            401,
            json!({"error": "expired_token", "error_description": "The access token provided has expired"}),
        ),
        token_answer("A2", "R2"),
        answer(200, json!({"result": []})),
    ])
    .await;
    let (client, store) = oauth_client(&server, tokens("A1", "R1", None));
    client.call("event.get", &json!({})).await.unwrap();
    assert_eq!(
        server.lines(),
        [
            "POST /rest/event.get",
            "GET /oauth/token/",
            "POST /rest/event.get"
        ]
    );
    let seen = server.seen();
    assert_eq!(seen[0].json()["auth"], "A1");
    assert_eq!(
        seen[1].query("grant_type").as_deref(),
        Some("refresh_token")
    );
    assert_eq!(seen[1].query("client_id").as_deref(), Some("local.app"));
    assert_eq!(
        seen[1].query("client_secret").as_deref(),
        Some("app-secret")
    );
    assert_eq!(seen[1].query("refresh_token").as_deref(), Some("R1"));
    assert_eq!(seen[2].json()["auth"], "A2");
    let stored = store.load().unwrap();
    assert_eq!(stored.access_token.expose(), "A2");
    assert_eq!(stored.refresh_token.unwrap().expose(), "R2");
}

#[tokio::test]
async fn a_token_known_to_be_expired_is_refreshed_before_the_first_call() {
    let server = Scripted::start(vec![
        token_answer("A2", "R2"),
        answer(200, json!({"result": {"ID": 1}})),
    ])
    .await;
    let (client, _) = oauth_client(&server, tokens("A1", "R1", Some(1)));
    client.call("app.info", &json!({})).await.unwrap();
    assert_eq!(server.lines(), ["GET /oauth/token/", "POST /rest/app.info"]);
    assert_eq!(server.seen()[1].json()["auth"], "A2");
}

#[tokio::test]
async fn a_second_expired_answer_is_not_refreshed_again() {
    let expired = || answer(401, json!({"error": "expired_token"}));
    let server = Scripted::start(vec![expired(), token_answer("A2", "R2"), expired()]).await;
    let (client, _) = oauth_client(&server, tokens("A1", "R1", None));
    let error = client.call("event.get", &json!({})).await.unwrap_err();
    assert!(error.is_code("expired_token"), "{error}");
    assert_eq!(server.lines().len(), 3, "{:?}", server.lines());
}

#[tokio::test]
async fn a_refused_refresh_keeps_the_stored_pair() {
    let server = Scripted::start(vec![
        answer(401, json!({"error": "expired_token"})),
        answer(
            400,
            json!({"error": "invalid_grant", "error_description": "Invalid refresh token"}),
        ),
    ])
    .await;
    let (client, store) = oauth_client(&server, tokens("A1", "R1", None));
    let error = client.call("event.get", &json!({})).await.unwrap_err();
    assert!(error.is_code("invalid_grant"), "{error}");
    assert_eq!(
        server.lines(),
        ["POST /rest/event.get", "GET /oauth/token/"]
    );
    assert_eq!(store.load().unwrap(), tokens("A1", "R1", None));
}

#[tokio::test]
async fn a_server_error_is_retried_only_for_methods_safe_to_repeat() {
    let failing = || {
        answer(
            500,
            json!({"error": "ERROR_CORE", "error_description": "boom"}),
        )
    };
    let server = Scripted::start(vec![failing(), failing(), failing(), failing()]).await;
    let (client, _) = oauth_client(&server, tokens("A1", "R1", None));
    let error = client.call("event.get", &json!({})).await.unwrap_err();
    assert!(
        matches!(error, ApiError::RetriesExhausted { attempts: 3, .. }),
        "{error:?}"
    );
    assert_eq!(server.lines().len(), 3, "max_attempts, the first included");
    let error = client
        .call("event.unbind", &json!({"event": "ONCRMDEALADD"}))
        .await
        .unwrap_err();
    assert!(error.is_code("ERROR_CORE"), "{error:?}");
    assert_eq!(
        server.lines().len(),
        4,
        "an unbind that may have run is not repeated"
    );
}

#[tokio::test]
async fn a_query_limit_is_retried_for_any_method() {
    let server = Scripted::start(vec![
        answer(503, json!({"error": "QUERY_LIMIT_EXCEEDED"})),
        answer(200, json!({"result": true})),
    ])
    .await;
    let (client, _) = oauth_client(&server, tokens("A1", "R1", None));
    let envelope = client
        .call("event.unbind", &json!({"event": "ONCRMDEALADD"}))
        .await
        .unwrap();
    assert_eq!(envelope.result, json!(true));
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, seen[1].body, "the same request, repeated");
}

#[tokio::test]
async fn a_redirect_is_an_error_and_never_followed() {
    let server = Scripted::start(vec![Answer {
        status: 302,
        body: String::new(),
        location: Some("/elsewhere/"),
    }])
    .await;
    let (client, _) = oauth_client(&server, tokens("A1", "R1", None));
    let error = client.call("event.get", &json!({})).await.unwrap_err();
    assert!(
        matches!(&error, ApiError::Redirected { status: 302, location, .. } if location.ends_with("/elsewhere/")),
        "{error:?}"
    );
    assert_eq!(server.lines().len(), 1);
}

#[tokio::test]
async fn a_webhook_call_goes_to_its_url_without_an_auth_parameter() {
    let server = Scripted::start(vec![answer(200, json!({"result": ["ONCRMDEALADD"]}))]).await;
    let base = server.base.join("rest/1/hooksecret/").unwrap();
    let credentials = Credentials::Webhook {
        base: Secret::url(base),
    };
    let client = Client::new(credentials, quick_options()).unwrap();
    client
        .call("events", &json!({"SCOPE": "crm"}))
        .await
        .unwrap();
    assert_eq!(server.lines(), ["POST /rest/1/hooksecret/events"]);
    assert_eq!(server.seen()[0].json(), json!({"SCOPE": "crm"}));
}

#[tokio::test]
async fn a_reservation_id_the_portal_could_not_have_made_is_refused_not_used() {
    let server = Scripted::start(vec![
        answer(200, json!({"result": {"process_id": "", "events": []}})),
        answer(
            200,
            json!({"result": {"process_id": "not a real id", "events": []}}),
        ),
    ])
    .await;
    let (client, _) = oauth_client(&server, tokens("A1", "R1", None));
    let query = crate::bitrix::offline::GetQuery::default();
    let empty = crate::bitrix::offline::get(&client, &query).await.unwrap();
    assert_eq!(empty.process_id, None, "an empty id is no reservation");
    let error = crate::bitrix::offline::get(&client, &query)
        .await
        .unwrap_err();
    assert!(matches!(error, ApiError::BadResponse { .. }), "{error:?}");
}

/// A token store that counts its reads.
struct CountingStore {
    inner: MemoryTokenStore,
    loads: std::sync::atomic::AtomicUsize,
}

impl TokenStore for CountingStore {
    fn load(&self) -> Result<OAuthTokens, ApiError> {
        self.loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.load()
    }
    fn lock(&self) -> Result<crate::bitrix::auth::StoreGuard, ApiError> {
        self.inner.lock()
    }
    fn save(&self, tokens: &OAuthTokens) -> Result<(), ApiError> {
        self.inner.save(tokens)
    }
}

fn counting_client(server: &Scripted, stored: OAuthTokens) -> (Client, Arc<CountingStore>) {
    let store = Arc::new(CountingStore {
        inner: MemoryTokenStore::new(stored),
        loads: Default::default(),
    });
    (client_with_store(server, store.clone()), store)
}

#[tokio::test]
async fn the_store_is_read_once_not_per_request() {
    let ok = || answer(200, json!({"result": []}));
    let server = Scripted::start(vec![ok(), ok(), ok()]).await;
    let (client, store) = counting_client(&server, tokens("A1", "R1", None));
    for _ in 0..3 {
        client.call("event.get", &json!({})).await.unwrap();
    }
    assert_eq!(server.lines().len(), 3);
    assert!(server.seen().iter().all(|seen| seen.json()["auth"] == "A1"));
    assert_eq!(
        store.loads.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "each request read the token store again"
    );
}

#[tokio::test]
async fn a_refused_token_gives_way_to_a_newer_one_in_the_store_without_a_refresh() {
    let server = Scripted::start(vec![
        answer(200, json!({"result": []})),
        answer(
            401,
            json!({"error": "invalid_token", "error_description": "The access token provided is invalid."}),
        ),
        answer(200, json!({"result": []})),
    ])
    .await;
    let (client, store) = counting_client(&server, tokens("A1", "R1", None));
    client.call("event.get", &json!({})).await.unwrap();
    // Another process stores a new pair (a reinstall, or its own refresh); the
    // portal no longer takes the one this client remembers.
    store.save(&tokens("A2", "R2", None)).unwrap();
    client.call("event.get", &json!({})).await.unwrap();
    assert_eq!(
        server.lines(),
        [
            "POST /rest/event.get",
            "POST /rest/event.get",
            "POST /rest/event.get"
        ],
        "no refresh: the store already held a newer token"
    );
    let auths: Vec<Value> = server
        .seen()
        .iter()
        .map(|s| s.json()["auth"].clone())
        .collect();
    assert_eq!(auths, ["A1", "A1", "A2"]);
    assert_eq!(store.load().unwrap().refresh_token.unwrap().expose(), "R2");
}
