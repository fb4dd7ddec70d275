//! `describe EVENT...`: one event from the catalogue, asking no portal: its
//! scope, who may bind it, the request a handler receives, its fields and the
//! method that fetches its object.

use serde::Serialize;
use serde_json::{json, Value};

use super::context::Context;
use super::errors::CliError;
use super::suggest::nearest_names;
use crate::bitrix::catalog::{self, CatalogEvent};
use crate::cli::DescribeArgs;
use crate::output::printable;

/// What `describe -o json` prints for one event: the catalogue's entry, the
/// request a handler receives, and a ready `call` line for its object.
#[derive(Serialize)]
struct Described<'a> {
    #[serde(flatten)]
    event: &'a CatalogEvent,
    request: Value,
    call: Option<String>,
}

pub(crate) fn run(ctx: &Context, args: &DescribeArgs) -> anyhow::Result<()> {
    let mut found = Vec::new();
    for name in &args.events {
        found.push(lookup(name)?);
    }
    let described: Vec<Described> = found
        .iter()
        .map(|event| Described {
            event,
            request: handler_request(event),
            call: call_line(event),
        })
        .collect();
    if !ctx.out.is_table() {
        if described.len() == 1 {
            ctx.out.machine(&described[0]);
        } else {
            ctx.out.machine_list(&described);
        }
        return Ok(());
    }
    for (index, item) in described.iter().enumerate() {
        if index > 0 {
            crate::output::print_line("");
        }
        ctx.out.print_table(summary_table(ctx, item));
        let request = serde_json::to_string_pretty(&item.request).unwrap_or_default();
        crate::output::print_line(format!(
            "\nA handler receives (as a form POST; here as JSON):\n{request}"
        ));
        if !item.event.fields.is_empty() {
            crate::output::print_line("");
            let mut table = ctx.out.table(&["FIELD", "TYPE", "MEANING"]);
            for field in &item.event.fields {
                table.add_row(vec![
                    printable(&field.name).into_owned(),
                    printable(&field.kind).into_owned(),
                    printable(&field.description).into_owned(),
                ]);
            }
            ctx.out.print_table(table);
        }
    }
    Ok(())
}

/// The catalogue's event of this name, or a usage error naming the closest.
fn lookup(name: &str) -> Result<&'static CatalogEvent, CliError> {
    if let Some(event) = catalog::find(name) {
        return Ok(event);
    }
    let known: Vec<String> = catalog::events().iter().map(|e| e.name.clone()).collect();
    let near = nearest_names(name, &known);
    let hint = if near.is_empty() {
        "`bx-events events --catalog PATTERN` searches the catalogue".to_string()
    } else {
        format!("did you mean {}?", near.join(", "))
    };
    Err(CliError::Usage(format!(
        "'{}' is not in the event catalogue ({hint}); a portal's own events are listed by `bx-events events`",
        printable(name)
    )))
}

fn summary_table(ctx: &Context, item: &Described) -> crate::output::TextTable {
    let event = item.event;
    let mut table = ctx.out.table(&["ABOUT", "VALUE"]);
    let scope = if event.scope.is_empty() {
        "none (any application may bind it)".to_string()
    } else {
        event.scopes.join(", ")
    };
    let mut rows = vec![
        ("EVENT", event.name.clone()),
        ("SCOPE", scope),
        ("WHO MAY BIND", event.who_can_subscribe.clone()),
        ("WHAT", event.summary.clone()),
    ];
    if event.outdated {
        rows.push((
            "OUTDATED",
            "the documentation keeps it among outdated methods; portals may still send it".into(),
        ));
    }
    rows.push((
        "FETCH",
        match &event.fetch {
            Some(fetch) => format!(
                "{} ({} = data.{})",
                fetch.method, fetch.param, fetch.id_path
            ),
            None if event.name.contains("DELETE") => "none: the object is gone".into(),
            None => "none known".into(),
        },
    ));
    if let Some(call) = &item.call {
        rows.push(("CALL", call.clone()));
    }
    rows.push(("SOURCE", event.source.clone()));
    for (key, value) in rows {
        table.add_row(vec![key.to_string(), printable(&value).into_owned()]);
    }
    table
}

/// The request a portal POSTs to a handler for this event, as JSON, with
/// placeholders where a real delivery carries secrets.
fn handler_request(event: &CatalogEvent) -> Value {
    let mut auth = json!({
        "domain": "example.bitrix24.com",
        "member_id": "<member id>",
        "application_token": "<application token: check it>",
    });
    if !catalog::sent_without_tokens(&event.name) {
        let extra = json!({
            "access_token": "<access token>",
            "expires_in": "3600",
            "scope": event.scope,
            "server_endpoint": "https://oauth.bitrix.info/rest/",
            "client_endpoint": "https://example.bitrix24.com/rest/",
            "status": "L",
            "user_id": "1",
        });
        if let (Some(auth), Value::Object(extra)) = (auth.as_object_mut(), extra) {
            auth.extend(extra);
            if catalog::sent_with_refresh_token(&event.name) {
                auth.insert("refresh_token".into(), json!("<refresh token>"));
            }
        }
    }
    json!({
        "event": event.name,
        "event_handler_id": "1",
        "data": event.data.clone().unwrap_or_else(|| json!({})),
        "ts": "1765000000",
        "auth": auth,
    })
}

/// `bx-events call METHOD param=...` for the object of the documentation's
/// example event.
fn call_line(event: &CatalogEvent) -> Option<String> {
    let fetch = event.fetch.as_ref()?;
    let mut line = format!("bx-events call {}", fetch.method);
    let example = event.data.as_ref();
    let value_at = |path: &str| {
        example
            .and_then(|data| catalog::at_path(data, path))
            .map(|value| match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .unwrap_or_else(|| format!("<data.{path}>"))
    };
    line.push_str(&format!(" {}={}", fetch.param, value_at(&fetch.id_path)));
    for (param, path) in &fetch.with {
        line.push_str(&format!(" {param}={}", value_at(path)));
    }
    Some(line)
}
