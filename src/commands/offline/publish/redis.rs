//! `--publish redis://HOST:PORT/DB?stream=TEMPLATE[&maxlen=N]`: records become
//! entries of a Redis stream (`XADD`), with fields a consumer routes by and
//! the record as `body`. A script adds an entry only if the record's identity
//! was not published in the last day, and remembers it in the same atomic step,
//! so a reservation published again after a crash adds nothing twice. The whole
//! batch is one pipelined round trip.

use std::time::Duration;

use redis::aio::MultiplexedConnection;

use super::{Message, Outcomes, Template};
use crate::bitrix::Secret;
use crate::commands::errors::CliError;

/// The stream unless `?stream=` names another.
const DEFAULT_STREAM: &str = "bx-events";

/// How long a published record's identity is remembered: a reservation is
/// published again only by the run after a crash, normally within minutes.
const REMEMBERED_SECS: u64 = 86_400;

/// Longest wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Adds the entry unless the identity was published; remembers it after.
/// KEYS: the identity's key, the stream. ARGV: seconds to remember, MAXLEN ("" for
/// none), then field, value, ... A refusal (a full server, a key of another
/// type) comes back as "refused: WHY", never as an error reply, so one record's
/// refusal does not fail the pipeline of the others.
const SCRIPT: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 'duplicate' end
local xadd = {'XADD', KEYS[2]}
if ARGV[2] ~= '' then
  table.insert(xadd, 'MAXLEN'); table.insert(xadd, '~'); table.insert(xadd, ARGV[2])
end
table.insert(xadd, '*')
for i = 3, #ARGV do table.insert(xadd, ARGV[i]) end
local ok, added = pcall(redis.call, unpack(xadd))
if not ok then
  local why = added
  if type(added) == 'table' then why = added.err end
  return 'refused: ' .. tostring(why)
end
pcall(redis.call, 'SET', KEYS[1], '1', 'EX', ARGV[1])
return added
"#;

pub(in crate::commands::offline) struct Target {
    /// The connection URL without our parameters: it may hold a password.
    url: Secret,
    shown: String,
    pub(super) stream: Template,
    maxlen: Option<u64>,
}

impl Target {
    pub(super) fn parse(mut url: url::Url) -> Result<Self, CliError> {
        let mut stream = None;
        let mut maxlen = None;
        let mut kept = Vec::new();
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "stream" => stream = Some(value.into_owned()),
                "maxlen" => {
                    maxlen = Some(value.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(
                        || {
                            CliError::Usage(format!(
                                "--publish: maxlen '{value}' is not a positive number of entries"
                            ))
                        },
                    )?)
                }
                _ => kept.push((key.into_owned(), value.into_owned())),
            }
        }
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        let stream = Template::parse(
            stream.as_deref().unwrap_or(DEFAULT_STREAM),
            "--publish: stream",
        )?;
        let shown = super::shown(&url) + &format!(" (stream {})", stream.0);
        Ok(Self {
            url: Secret::new(url.to_string()),
            shown,
            stream,
            maxlen,
        })
    }

    pub(super) fn shown(&self) -> String {
        self.shown.clone()
    }
}

pub(super) struct Engine {
    connection: MultiplexedConnection,
    script_sha: String,
    maxlen: String,
}

fn reason(error: &redis::RedisError) -> String {
    error.to_string()
}

impl Engine {
    pub(super) async fn open(target: &Target) -> Result<Self, String> {
        let client = redis::Client::open(target.url.expose().as_str()).map_err(|e| reason(&e))?;
        // The client's own limits (1 s to connect, 500 ms per answer) would
        // fail a large batch on a healthy server; the publisher bounds each
        // step itself (publish/mod.rs).
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(None);
        let mut connection = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| reason(&e))?;
        let script_sha = load_script(&mut connection).await?;
        Ok(Self {
            connection,
            script_sha,
            maxlen: target.maxlen.map(|n| n.to_string()).unwrap_or_default(),
        })
    }

    pub(super) async fn publish(&mut self, messages: &[Message]) -> Result<Outcomes, String> {
        let answers = match self.run(messages).await {
            // A server restarted under the same address forgot the script.
            Err(error) if error.to_string().contains("NOSCRIPT") => {
                self.script_sha = load_script(&mut self.connection).await?;
                self.run(messages).await
            }
            other => other,
        }
        .map_err(|e| reason(&e))?;
        Ok(answers
            .into_iter()
            .map(|answer| match answer {
                Some(text) if text.starts_with("refused: ") => {
                    Err(format!("Redis {}", text.trim_start_matches("refused: ")))
                }
                _ => Ok(()),
            })
            .collect())
    }

    /// One pipelined round trip: a script call per message.
    async fn run(&mut self, messages: &[Message]) -> redis::RedisResult<Vec<Option<String>>> {
        let mut pipe = redis::pipe();
        for message in messages {
            pipe.cmd("EVALSHA")
                .arg(&self.script_sha)
                .arg(2)
                .arg(format!("bx-events:published:{}", message.identity))
                .arg(&message.destination)
                .arg(REMEMBERED_SECS)
                .arg(&self.maxlen)
                .arg("event")
                .arg(&message.event)
                .arg("portal")
                .arg(&message.portal)
                .arg("member_id")
                .arg(&message.member_id)
                .arg("message_id")
                .arg(&message.message_id)
                .arg("record_id")
                .arg(message.record_id)
                .arg("timestamp")
                .arg(&message.timestamp)
                .arg("body")
                .arg(message.body.as_slice());
        }
        pipe.query_async(&mut self.connection).await
    }
}

async fn load_script(connection: &mut MultiplexedConnection) -> Result<String, String> {
    redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(SCRIPT)
        .query_async(connection)
        .await
        .map_err(|e| format!("cannot load the publishing script: {}", reason(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_and_maxlen_are_read_from_the_url_and_left_out_of_it() {
        let url =
            url::Url::parse("redis://:pw@127.0.0.1:6379/2?stream=bx.{event}&maxlen=1000").unwrap();
        let target = Target::parse(url).unwrap();
        assert_eq!(target.stream.0, "bx.{event}");
        assert_eq!(target.maxlen, Some(1000));
        assert!(!target.url.expose().contains("stream"));
        assert!(!target.shown().contains("pw"));
        let bad = url::Url::parse("redis://127.0.0.1/0?maxlen=lots").unwrap();
        assert!(Target::parse(bad).is_err());
    }
}
