//! `offline consume --publish URL`: records go into a message system, and are
//! confirmed to the portal only after it acknowledged them (docs/publish.md).
//!
//! A reservation is published as one batch (pipelined, acknowledged in bulk):
//! each record then is either acknowledged (confirmed to the portal), refused
//! (an error record, like a failed `--exec`), or the batch never completed
//! because the system went away (nothing is confirmed; the records stay
//! reserved and are published again). A record's identity in the system is its
//! portal and queue row, `PORTAL:ID`: a row the portal hands out again after a
//! crash has the same identity, while a later identical change (which the portal
//! gives the same MESSAGE_ID) is a new row, so deduplicating by it never drops
//! an event.

mod amqp;
mod nats;
mod postgres;
mod redis;

use crate::bitrix::offline::OfflineRecord;
use crate::commands::errors::CliError;

/// One record on its way: where it goes, its identity and routing fields, and
/// its body.
pub(super) struct Message {
    /// The stream, subject, routing key or table partition the target's
    /// template made of it.
    pub destination: String,
    /// `PORTAL:ID`: what the system deduplicates by.
    pub identity: String,
    pub message_id: String,
    pub event: String,
    pub portal: String,
    pub member_id: String,
    pub record_id: u64,
    /// The portal's TIMESTAMP_X of the record.
    pub timestamp: String,
    /// The record as `consume --stdout` prints it (or the portal's form).
    pub body: Vec<u8>,
}

impl Message {
    pub(super) fn of(
        record: &OfflineRecord,
        portal: &str,
        member_id: Option<&str>,
        template: &Template,
        body: Vec<u8>,
    ) -> Self {
        let member_id = member_id.unwrap_or_default().to_string();
        let portal_name =
            crate::bitrix::auth::portal_domain(portal).unwrap_or_else(|| portal.to_string());
        Self {
            destination: template.expand(&record.event, &portal_name, &member_id),
            identity: format!(
                "{}:{}",
                if member_id.is_empty() {
                    &portal_name
                } else {
                    &member_id
                },
                record.id
            ),
            message_id: record.message_id.to_string(),
            event: record.event.clone(),
            portal: portal.to_string(),
            member_id,
            record_id: record.id,
            timestamp: record.timestamp.clone(),
            body,
        }
    }
}

/// A name with `{event}`, `{portal}` and `{member_id}` in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Template(String);

impl Template {
    fn parse(text: &str, what: &str) -> Result<Self, CliError> {
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                return Err(CliError::Usage(format!(
                    "{what} '{text}' opens a '{{' it never closes"
                )));
            };
            let name = &rest[open + 1..open + close];
            if !matches!(name, "event" | "portal" | "member_id") {
                return Err(CliError::Usage(format!(
                    "{what} '{text}' names '{{{name}}}'; a template knows {{event}}, {{portal}} and {{member_id}}"
                )));
            }
            rest = &rest[open + close + 1..];
        }
        if text.is_empty() {
            return Err(CliError::Usage(format!("{what} is empty")));
        }
        Ok(Self(text.to_string()))
    }

    fn expand(&self, event: &str, portal: &str, member_id: &str) -> String {
        self.0
            .replace("{event}", event)
            .replace("{portal}", portal)
            .replace("{member_id}", member_id)
    }
}

/// What a batch came to when the system answered: per message, acknowledged
/// or refused (why).
pub(super) type Outcomes = Vec<Result<(), String>>;

/// The system could not be reached, or went away before acknowledging the
/// whole batch: nothing of it may be confirmed.
#[derive(Debug, Clone)]
pub(super) struct Unavailable(pub String);

/// Where records are published, parsed from `--publish`; connected by
/// [`Publisher::connect`].
pub(super) enum Target {
    Postgres(postgres::Target),
    Redis(redis::Target),
    Nats(nats::Target),
    Amqp(amqp::Target),
}

impl Target {
    pub(super) fn parse(raw: &str) -> Result<Self, CliError> {
        let url = url::Url::parse(raw).map_err(|e| {
            CliError::Usage(format!(
                "--publish is not a URL ({e}); see docs/publish.md for the forms it takes"
            ))
        })?;
        match url.scheme() {
            "postgres" | "postgresql" => Ok(Self::Postgres(postgres::Target::parse(url)?)),
            "redis" | "rediss" => Ok(Self::Redis(redis::Target::parse(url)?)),
            "nats" | "tls" => Ok(Self::Nats(nats::Target::parse(url)?)),
            "amqp" | "amqps" => Ok(Self::Amqp(amqp::Target::parse(url)?)),
            other => Err(CliError::Usage(format!(
                "--publish {}: no engine for '{other}://'; it takes amqp:// (amqps://), redis:// (rediss://), nats:// and postgres:// URLs (docs/publish.md)",
                shown(&url)
            ))),
        }
    }

    /// The URL without its password, for messages.
    pub(super) fn shown(&self) -> String {
        match self {
            Self::Postgres(target) => target.shown(),
            Self::Redis(target) => target.shown(),
            Self::Nats(target) => target.shown(),
            Self::Amqp(target) => target.shown(),
        }
    }

    pub(super) fn template(&self) -> &Template {
        match self {
            Self::Postgres(target) => &target.fixed,
            Self::Redis(target) => &target.stream,
            Self::Nats(target) => &target.subject,
            Self::Amqp(target) => &target.routing_key,
        }
    }
}

/// The URL without its user and password: what every message shows.
fn shown(url: &url::Url) -> String {
    let mut url = url.clone();
    let _ = url.set_password(None);
    let _ = url.set_username("");
    url.to_string()
}

/// A connection to the target, made again after it was lost.
pub(super) struct Publisher {
    target: Target,
    engine: tokio::sync::Mutex<Option<Engine>>,
}

enum Engine {
    Postgres(postgres::Engine),
    Redis(redis::Engine),
    Nats(Box<nats::Engine>),
    Amqp(Box<amqp::Engine>),
}

impl Publisher {
    pub(super) fn new(target: Target) -> Self {
        Self {
            target,
            engine: tokio::sync::Mutex::new(None),
        }
    }

    pub(super) fn target(&self) -> &Target {
        &self.target
    }

    /// Connects (and creates the table, stream or script it needs), or says
    /// why it cannot.
    pub(super) async fn connect(&self) -> Result<(), Unavailable> {
        let mut engine = self.engine.lock().await;
        if engine.is_none() {
            *engine = Some(self.open().await?);
        }
        Ok(())
    }

    async fn open(&self) -> Result<Engine, Unavailable> {
        let shown = self.target.shown();
        let failed = |why: String| Unavailable(format!("{shown}: {why}"));
        within_step(self.open_engine(), failed).await
    }

    async fn open_engine(&self) -> Result<Engine, String> {
        Ok(match &self.target {
            Target::Postgres(target) => Engine::Postgres(postgres::Engine::open(target).await?),
            Target::Redis(target) => Engine::Redis(redis::Engine::open(target).await?),
            Target::Amqp(target) => Engine::Amqp(Box::new(amqp::Engine::open(target).await?)),
            Target::Nats(target) => Engine::Nats(Box::new(nats::Engine::open(target).await?)),
        })
    }

    /// Publishes a batch, connecting first if need be. A lost connection is
    /// dropped, so the next batch connects again.
    pub(super) async fn publish(&self, messages: &[Message]) -> Result<Outcomes, Unavailable> {
        let mut engine = self.engine.lock().await;
        if engine.is_none() {
            *engine = Some(self.open().await?);
        }
        let Some(open) = engine.as_mut() else {
            return Err(Unavailable("not connected".into()));
        };
        let shown = self.target.shown();
        let published = async {
            match open {
                Engine::Postgres(postgres) => postgres.publish(messages).await,
                Engine::Redis(redis) => redis.publish(messages).await,
                Engine::Nats(nats) => nats.publish(messages).await,
                Engine::Amqp(amqp) => amqp.publish(messages).await,
            }
        };
        let result = within_step(published, |why| Unavailable(format!("{shown}: {why}"))).await;
        if result.is_err() {
            // A connection that failed or hung is not used again.
            *engine = None;
        }
        result
    }
}

/// The longest a connection (with the table, stream or exchange it needs) or a
/// batch may take. A server that stops answering (a hang, a network black hole)
/// must not hold the consumer: past this the batch counts as not completed,
/// nothing of it is confirmed, and `--follow` connects again. A batch of 500
/// records takes well under a second on this machine (docs/benchmarks.md).
const STEP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

async fn within_step<T>(
    step: impl std::future::Future<Output = Result<T, String>>,
    failed: impl Fn(String) -> Unavailable,
) -> Result<T, Unavailable> {
    match tokio::time::timeout(STEP_TIMEOUT, step).await {
        Ok(result) => result.map_err(failed),
        Err(_) => Err(failed(format!(
            "no answer within {} s",
            STEP_TIMEOUT.as_secs()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_know_three_names() {
        let template = Template::parse("bx.{portal}.{event}", "stream").unwrap();
        assert_eq!(
            template.expand("ONCRMDEALADD", "acme.bitrix24.com", "m1"),
            "bx.acme.bitrix24.com.ONCRMDEALADD"
        );
        assert!(Template::parse("bx.{evnt}", "stream").is_err());
        assert!(Template::parse("bx.{event", "stream").is_err());
    }

    #[test]
    fn a_url_is_shown_without_its_secrets() {
        let url = url::Url::parse("redis://user:s3cret@127.0.0.1:6379/0?stream=x").unwrap();
        let shown = shown(&url);
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("user"), "{shown}");
        assert!(shown.contains("127.0.0.1:6379"), "{shown}");
    }

    #[test]
    fn an_unknown_scheme_names_the_ones_there_are() {
        let Err(CliError::Usage(why)) = Target::parse("kafka://u:pw@h:9092/") else {
            panic!("refused");
        };
        assert!(why.contains("redis://"), "{why}");
        assert!(!why.contains("pw"), "{why}");
    }
}
