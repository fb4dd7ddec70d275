//! `--publish amqp://USER:PASS@HOST:PORT/VHOST?exchange=NAME&routing_key=TEMPLATE`:
//! records become persistent messages on a durable topic exchange (declared if
//! missing), published with `mandatory` on a channel in confirm mode. A
//! message the broker confirmed is acknowledged; one it returned (no queue is
//! bound for its routing key) or nacked is refused. RabbitMQ keeps no memory of
//! what it took, so a reservation published again after a crash is published
//! again: at most one reservation of repeats, each with the same `message_id`
//! and `bx-identity` header.

use std::future::IntoFuture;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};

use super::{Message, Outcomes, Template};
use crate::bitrix::Secret;
use crate::commands::errors::CliError;

const DEFAULT_EXCHANGE: &str = "bx-events";
const DEFAULT_ROUTING_KEY: &str = "{event}";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(in crate::commands::offline) struct Target {
    /// The broker URL without our parameters: it holds a user and password.
    url: Secret,
    shown: String,
    exchange: String,
    pub(super) routing_key: Template,
}

impl Target {
    pub(super) fn parse(mut url: url::Url) -> Result<Self, CliError> {
        let mut exchange = None;
        let mut routing_key = None;
        let mut kept = Vec::new();
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "exchange" => exchange = Some(value.into_owned()),
                "routing_key" => routing_key = Some(value.into_owned()),
                _ => kept.push((key.into_owned(), value.into_owned())),
            }
        }
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        let exchange = exchange.unwrap_or_else(|| DEFAULT_EXCHANGE.to_string());
        if exchange.is_empty() || exchange.len() > 255 || exchange.starts_with("amq.") {
            return Err(CliError::Usage(format!(
                "--publish: exchange '{exchange}' cannot be declared (empty, longer than 255 bytes, or a reserved amq.* name)"
            )));
        }
        let routing_key = Template::parse(
            routing_key.as_deref().unwrap_or(DEFAULT_ROUTING_KEY),
            "--publish: routing_key",
        )?;
        let shown =
            super::shown(&url) + &format!(" (exchange {exchange}, routing key {})", routing_key.0);
        Ok(Self {
            url: Secret::new(url.to_string()),
            shown,
            exchange,
            routing_key,
        })
    }

    pub(super) fn shown(&self) -> String {
        self.shown.clone()
    }
}

pub(super) struct Engine {
    // Kept open for as long as the channel is used.
    _connection: Connection,
    channel: Channel,
    exchange: ShortString,
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value.to_string()))
}

impl Engine {
    pub(super) async fn open(target: &Target) -> Result<Self, String> {
        let connection = tokio::time::timeout(
            CONNECT_TIMEOUT,
            Connection::connect(target.url.expose(), ConnectionProperties::default()),
        )
        .await
        .map_err(|_| format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))?
        .map_err(|e| e.to_string())?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| format!("cannot open a channel: {e}"))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| format!("cannot turn on publisher confirms: {e}"))?;
        let exchange = ShortString::from(target.exchange.clone());
        channel
            .exchange_declare(
                exchange.clone(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("cannot declare exchange {}: {e}", target.exchange))?;
        Ok(Self {
            _connection: connection,
            channel,
            exchange,
        })
    }

    pub(super) async fn publish(&mut self, messages: &[Message]) -> Result<Outcomes, String> {
        // Everything is published before any confirmation is awaited.
        let mut confirms = Vec::with_capacity(messages.len());
        for message in messages {
            let mut headers = FieldTable::default();
            headers.insert("bx-identity".into(), text(&message.identity));
            headers.insert("bx-event".into(), text(&message.event));
            headers.insert("bx-portal".into(), text(&message.portal));
            headers.insert("bx-member-id".into(), text(&message.member_id));
            headers.insert(
                "bx-record-id".into(),
                AMQPValue::LongLongInt(i64::try_from(message.record_id).unwrap_or(i64::MAX)),
            );
            headers.insert("bx-timestamp".into(), text(&message.timestamp));
            let content_type = if message.body.first() == Some(&b'{') {
                "application/json"
            } else {
                "application/x-www-form-urlencoded"
            };
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id(ShortString::from(message.message_id.clone()))
                .with_content_type(ShortString::from(content_type.to_string()))
                .with_headers(headers);
            let confirm = self
                .channel
                .basic_publish(
                    self.exchange.clone(),
                    ShortString::from(message.destination.clone()),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &message.body,
                    properties,
                )
                .await
                .map_err(|e| e.to_string())?;
            confirms.push(confirm);
        }
        // Bounded by the publisher's step limit (publish/mod.rs).
        let confirmed =
            futures_util::future::join_all(confirms.into_iter().map(|c| c.into_future())).await;
        let mut outcomes = Vec::with_capacity(confirmed.len());
        for (message, confirmation) in messages.iter().zip(confirmed) {
            match confirmation.map_err(|e| e.to_string())? {
                Confirmation::Ack(None) => outcomes.push(Ok(())),
                // Confirms are on: a message without one was not taken for sure.
                Confirmation::NotRequested => {
                    return Err("the broker did not confirm a message".to_string())
                }
                Confirmation::Ack(Some(_)) => outcomes.push(Err(format!(
                    "RabbitMQ returned it: no queue is bound to exchange {} for routing key {}",
                    self.exchange, message.destination
                ))),
                Confirmation::Nack(_) => {
                    outcomes.push(Err("RabbitMQ refused it (nack)".to_string()))
                }
            }
        }
        Ok(outcomes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_and_routing_key_are_read_from_the_url_and_left_out_of_it() {
        let url = url::Url::parse(
            "amqp://app:pw@127.0.0.1:5672/%2f?exchange=bitrix&routing_key={portal}.{event}",
        )
        .unwrap();
        let target = Target::parse(url).unwrap();
        assert_eq!(target.exchange, "bitrix");
        assert_eq!(target.routing_key.0, "{portal}.{event}");
        assert!(!target.url.expose().contains("exchange"));
        assert!(!target.shown().contains("pw"));
        let reserved = url::Url::parse("amqp://h/?exchange=amq.topic").unwrap();
        assert!(Target::parse(reserved).is_err());
    }
}
