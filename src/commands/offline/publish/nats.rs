//! `--publish nats://HOST:PORT?stream=NAME&subject=TEMPLATE`: records become
//! messages of a JetStream stream (created if missing), each with the record's
//! identity as `Nats-Msg-Id`: the stream drops a repeat within its duplicate
//! window, which bx-events sets to a day on the streams it creates. A batch
//! is published at once and its acknowledgements awaited together.

use std::future::IntoFuture;
use std::time::Duration;

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::{self, stream};

use super::{Message, Outcomes, Template};
use crate::bitrix::Secret;
use crate::commands::errors::CliError;

const DEFAULT_STREAM: &str = "bx-events";
const DEFAULT_SUBJECT: &str = "bx-events.{event}";

/// The duplicate window of a stream bx-events creates: a reservation is
/// published again only by the run after a crash, normally within minutes.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(86_400);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an acknowledgement may take before the batch counts as not
/// completed.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

pub(in crate::commands::offline) struct Target {
    /// The server URL without our parameters: it may hold a user and password.
    url: Secret,
    shown: String,
    stream: String,
    pub(super) subject: Template,
    /// What the stream takes, when bx-events creates it: the subject's fixed
    /// tokens, then `>`.
    filter: String,
}

impl Target {
    pub(super) fn parse(mut url: url::Url) -> Result<Self, CliError> {
        let mut stream = None;
        let mut subject = None;
        let mut kept = Vec::new();
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "stream" => stream = Some(value.into_owned()),
                "subject" => subject = Some(value.into_owned()),
                _ => kept.push((key.into_owned(), value.into_owned())),
            }
        }
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        let stream = stream.unwrap_or_else(|| DEFAULT_STREAM.to_string());
        if stream.is_empty()
            || stream
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\'))
        {
            return Err(CliError::Usage(format!(
                "--publish: stream '{stream}' is not a JetStream stream name (no spaces, '.', '*', '>' or slashes)"
            )));
        }
        let subject_text = subject.unwrap_or_else(|| DEFAULT_SUBJECT.to_string());
        let subject = Template::parse(&subject_text, "--publish: subject")?;
        let fixed: Vec<&str> = subject_text
            .split('.')
            .take_while(|token| !token.contains('{'))
            .collect();
        if fixed.is_empty() || fixed.iter().any(|t| t.is_empty() || t.contains(['*', '>'])) {
            return Err(CliError::Usage(format!(
                "--publish: subject '{subject_text}' must begin with a fixed token (as in bx-events.{{event}}), without wildcards"
            )));
        }
        let filter = if fixed.len() == subject_text.split('.').count() {
            subject_text.clone()
        } else {
            format!("{}.>", fixed.join("."))
        };
        let shown = super::shown(&url) + &format!(" (stream {stream}, subject {subject_text})");
        Ok(Self {
            url: Secret::new(url.to_string()),
            shown,
            stream,
            subject,
            filter,
        })
    }

    pub(super) fn shown(&self) -> String {
        self.shown.clone()
    }
}

pub(super) struct Engine {
    client: async_nats::Client,
    jetstream: jetstream::Context,
}

impl Engine {
    pub(super) async fn open(target: &Target) -> Result<Self, String> {
        let options = async_nats::ConnectOptions::new().connection_timeout(CONNECT_TIMEOUT);
        let client = tokio::time::timeout(
            CONNECT_TIMEOUT,
            async_nats::connect_with_options(target.url.expose().as_str(), options),
        )
        .await
        .map_err(|_| format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))?
        .map_err(|e| e.to_string())?;
        let mut jetstream = jetstream::new(client.clone());
        jetstream.set_timeout(ACK_TIMEOUT);
        jetstream
            .get_or_create_stream(stream::Config {
                name: target.stream.clone(),
                subjects: vec![target.filter.clone()],
                duplicate_window: DUPLICATE_WINDOW,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("cannot find or create stream {}: {e}", target.stream))?;
        Ok(Self { client, jetstream })
    }

    pub(super) async fn publish(&mut self, messages: &[Message]) -> Result<Outcomes, String> {
        // Everything is sent before any acknowledgement is awaited.
        let mut acks = Vec::with_capacity(messages.len());
        for message in messages {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", message.identity.as_str());
            headers.insert("Bx-Event", message.event.as_str());
            headers.insert("Bx-Portal", message.portal.as_str());
            headers.insert("Bx-Member-Id", message.member_id.as_str());
            headers.insert("Bx-Message-Id", message.message_id.as_str());
            headers.insert("Bx-Record-Id", message.record_id.to_string().as_str());
            headers.insert("Bx-Timestamp", message.timestamp.as_str());
            let ack = self
                .jetstream
                .publish_with_headers(
                    message.destination.clone(),
                    headers,
                    message.body.clone().into(),
                )
                .await
                .map_err(|e| e.to_string())?;
            acks.push(ack);
        }
        let answers =
            futures_util::future::join_all(acks.into_iter().map(|ack| ack.into_future())).await;
        let connected = self.client.connection_state() == async_nats::connection::State::Connected;
        let mut outcomes = Vec::with_capacity(answers.len());
        for answer in answers {
            match answer {
                Ok(_) => outcomes.push(Ok(())),
                Err(error) => match error.kind() {
                    // No stream takes the subject while the server is there:
                    // a set-up problem of this subject, not an outage.
                    PublishErrorKind::StreamNotFound if connected => {
                        outcomes.push(Err(format!("NATS: no stream takes this subject ({error})")))
                    }
                    PublishErrorKind::TimedOut
                    | PublishErrorKind::BrokenPipe
                    | PublishErrorKind::StreamNotFound => return Err(error.to_string()),
                    _ => outcomes.push(Err(format!("NATS refused it: {error}"))),
                },
            }
        }
        Ok(outcomes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_takes_the_subjects_fixed_tokens_and_everything_after() {
        let url =
            url::Url::parse("nats://u:pw@127.0.0.1:4222?stream=BX&subject=bx.{portal}.{event}")
                .unwrap();
        let target = Target::parse(url).unwrap();
        assert_eq!(target.filter, "bx.>");
        assert_eq!(target.stream, "BX");
        assert!(!target.shown().contains("pw"));
        let fixed =
            Target::parse(url::Url::parse("nats://h:4222?subject=bx.all").unwrap()).unwrap();
        assert_eq!(fixed.filter, "bx.all");
        for bad in [
            "nats://h?subject={event}",
            "nats://h?stream=a.b",
            "nats://h?subject=bx.*",
        ] {
            assert!(
                Target::parse(url::Url::parse(bad).unwrap()).is_err(),
                "{bad}"
            );
        }
    }
}
