//! `--publish postgres://USER@HOST:PORT/DB?table=NAME`: records become rows of
//! an inbox table (created if missing), one statement and so one transaction
//! per reservation; a row already there (the same portal's same queue row,
//! published before a crash) is left as it is, so the table never holds a
//! record twice.

use tokio_postgres::Client;

use super::{Message, Outcomes, Template};
use crate::bitrix::Secret;
use crate::commands::errors::CliError;

/// The table unless `?table=` names another.
const DEFAULT_TABLE: &str = "bx_events_inbox";

pub(in crate::commands::offline) struct Target {
    /// The connection URL without `table`: it may hold a password.
    url: Secret,
    shown: String,
    /// The table, quoted for SQL (`"name"` or `"schema"."name"`).
    table: String,
    /// The table's name as given, for messages and the index's name.
    table_name: String,
    pub(super) fixed: Template,
}

impl Target {
    pub(super) fn parse(mut url: url::Url) -> Result<Self, CliError> {
        let mut table = None;
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter_map(|(key, value)| {
                if key == "table" {
                    table = Some(value.into_owned());
                    None
                } else {
                    Some((key.into_owned(), value.into_owned()))
                }
            })
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        let table_name = table.unwrap_or_else(|| DEFAULT_TABLE.to_string());
        let table = quoted_table(&table_name)?;
        let shown = super::shown(&url) + &format!(" (table {table_name})");
        Ok(Self {
            url: Secret::new(url.to_string()),
            shown,
            fixed: Template(table_name.clone()),
            table,
            table_name,
        })
    }

    pub(super) fn shown(&self) -> String {
        self.shown.clone()
    }
}

/// `name` or `schema.name` of plain identifiers, quoted; anything else is refused
/// rather than escaped, so the name is the one the user will query.
fn quoted_table(name: &str) -> Result<String, CliError> {
    let plain = |part: &str| {
        !part.is_empty()
            && part.len() <= 63
            && part
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 2 || !parts.iter().all(|p| plain(p)) {
        return Err(CliError::Usage(format!(
            "--publish: table '{name}' is not a plain name (letters, digits and _, optionally schema.name)"
        )));
    }
    Ok(parts
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join("."))
}

pub(super) struct Engine {
    client: Client,
    insert: tokio_postgres::Statement,
}

/// Whether a failure is the connection's (publish again later), not the
/// server refusing these rows.
fn is_unavailable(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.as_db_error() {
        // Class 08 connection exceptions, 53 insufficient resources, 57
        // operator intervention (a server shutting down).
        Some(db) => matches!(&db.code().code()[..2], "08" | "53" | "57"),
        None => true,
    }
}

fn reason(error: &tokio_postgres::Error) -> String {
    crate::config::postgres::reason(error)
}

impl Engine {
    pub(super) async fn open(target: &Target) -> Result<Self, String> {
        let client = crate::config::postgres::connect_to(target.url.expose())
            .await
            .map_err(|e| reason(&e))?;
        let table = &target.table;
        let index = format!("\"{}_message_id\"", target.table_name.replace('.', "_"));
        // Two processes creating the table at once: the second may fail on the
        // catalogue's unique index; the table is there either way.
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                identity     text PRIMARY KEY,
                message_id   text NOT NULL,
                event        text NOT NULL,
                portal       text NOT NULL,
                member_id    text NOT NULL,
                record_id    bigint NOT NULL,
                queued_at    text NOT NULL,
                published_at timestamptz NOT NULL DEFAULT now(),
                body         jsonb NOT NULL
            );
            CREATE INDEX IF NOT EXISTS {index} ON {table} (message_id);"
        );
        if let Err(error) = client.batch_execute(&create).await {
            if is_unavailable(&error) {
                return Err(reason(&error));
            }
            let exists = client
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&target.table])
                .await
                .map(|row| row.get::<_, bool>(0))
                .unwrap_or(false);
            if !exists {
                return Err(format!("cannot create the table: {}", reason(&error)));
            }
        }
        let insert = client
            .prepare(&format!(
                "INSERT INTO {table}
                    (identity, message_id, event, portal, member_id, record_id, queued_at, body)
                 SELECT i, m, e, p, mi, r, q, b::jsonb
                   FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                               $6::int8[], $7::text[], $8::text[]) AS u(i, m, e, p, mi, r, q, b)
                 ON CONFLICT (identity) DO NOTHING"
            ))
            .await
            .map_err(|e| format!("the table cannot take records: {}", reason(&e)))?;
        Ok(Self { client, insert })
    }

    /// One statement for the whole batch: every row is in, or none is. A
    /// refusal by the server (permissions, a changed table, a body that is not
    /// JSON) refuses every record of the batch with its reason.
    pub(super) async fn publish(&mut self, messages: &[Message]) -> Result<Outcomes, String> {
        let column = |f: fn(&Message) -> String| messages.iter().map(f).collect::<Vec<String>>();
        let identities = column(|m| m.identity.clone());
        let message_ids = column(|m| m.message_id.clone());
        let events = column(|m| m.event.clone());
        let portals = column(|m| m.portal.clone());
        let members = column(|m| m.member_id.clone());
        let records: Vec<i64> = messages
            .iter()
            .map(|m| i64::try_from(m.record_id).unwrap_or(i64::MAX))
            .collect();
        let queued = column(|m| m.timestamp.clone());
        let bodies = column(|m| String::from_utf8_lossy(&m.body).into_owned());
        let inserted = self
            .client
            .execute(
                &self.insert,
                &[
                    &identities,
                    &message_ids,
                    &events,
                    &portals,
                    &members,
                    &records,
                    &queued,
                    &bodies,
                ],
            )
            .await;
        match inserted {
            Ok(_) => Ok(vec![Ok(()); messages.len()]),
            Err(error) if is_unavailable(&error) => Err(reason(&error)),
            Err(error) => {
                let why = format!("the database refused the rows: {}", reason(&error));
                Ok(vec![Err(why); messages.len()])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_taken_out_of_the_connection_url() {
        let url = url::Url::parse("postgres://app:pw@db:5432/events?table=inbox&sslmode=require")
            .unwrap();
        let target = Target::parse(url).unwrap();
        assert_eq!(target.table, "\"inbox\"");
        assert!(target.url.expose().contains("sslmode=require"));
        assert!(!target.url.expose().contains("table="));
        assert!(!target.shown().contains("pw"));
    }

    #[test]
    fn only_plain_table_names_are_taken() {
        assert_eq!(quoted_table("app.inbox").unwrap(), "\"app\".\"inbox\"");
        for bad in ["inbox; DROP", "a.b.c", "1x", "in\"box", ""] {
            assert!(quoted_table(bad).is_err(), "{bad}");
        }
    }
}
