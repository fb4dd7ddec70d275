//! `trigger EVENT --to URL`: sends a handler the request a portal would send.

use std::time::Instant;

use md5::{Digest, Md5};
use serde_json::{json, Value};

use super::context::Context;
use super::errors::CliError;
use super::listen::SavedRequest;
use crate::bitrix::auth::now_unix;
use crate::bitrix::client::http_client;
use crate::bitrix::form;
use crate::bitrix::validate::check_event_name;
use crate::cli::TriggerArgs;

pub(crate) async fn run(ctx: &Context, args: &TriggerArgs) -> anyhow::Result<()> {
    let target = super::arguments::http_url(&args.to, "--to")?;
    let token = args
        .application_token
        .as_ref()
        .map(|t| t.expose().as_str())
        .filter(|t| !t.is_empty());
    let (content_type, body) = match &args.from_file {
        Some(path) => replay_body(path, token)?,
        None => {
            if token.is_none() {
                ctx.out.warn("no --application-token: a handler that verifies auth[application_token] will reject this request");
            }
            fresh_body(args, token)?
        }
    };
    let http = http_client(&ctx.client_options_default())?;
    let started = Instant::now();
    let response = http
        .post(target.clone())
        .header(reqwest::header::CONTENT_TYPE, &content_type)
        .body(body)
        .send()
        .await
        .map_err(|e| CliError::Failed(format!("could not reach {target}: {}", e.without_url())))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    ctx.out.info(&format!(
        "{target} answered HTTP {status} in {} ms",
        started.elapsed().as_millis()
    ));
    if ctx.out.is_table() {
        if !text.is_empty() {
            crate::output::print_text(&text.to_string());
            if !text.ends_with('\n') {
                crate::output::print_line("");
            }
        }
    } else {
        ctx.out
            .machine(&json!({"status": status.as_u16(), "body": text}));
    }
    if !status.is_success() {
        return Err(
            CliError::Failed(format!("the handler answered HTTP {}", status.as_u16())).into(),
        );
    }
    Ok(())
}

/// The portal's request for a new event (docs/handlers.md).
fn fresh_body(args: &TriggerArgs, token: Option<&str>) -> anyhow::Result<(String, String)> {
    let event =
        check_event_name(args.event.as_deref().unwrap_or_default()).map_err(CliError::Usage)?;
    let pairs = super::arguments::key_values(&args.data);
    // Without --data, the documented payload.
    let data = if pairs.is_empty() {
        crate::bitrix::catalog::example_data(&event, 1)
    } else {
        None
    }
    .unwrap_or_else(|| form::decode_dotted(pairs));
    let member_id = hex::encode(Md5::digest(args.domain.as_bytes()));
    let mut auth = json!({
        "domain": args.domain,
        "client_endpoint": format!("https://{}/rest/", args.domain),
        "server_endpoint": "https://oauth.bitrix.info/rest/",
        "member_id": member_id,
    });
    if let Some(token) = token {
        auth["application_token"] = json!(token);
    }
    let payload = json!({
        "event": event,
        "event_handler_id": args.handler_id.to_string(),
        "data": data,
        "ts": now_unix().to_string(),
        "auth": auth,
    });
    Ok(if args.json {
        ("application/json".into(), payload.to_string())
    } else {
        (
            "application/x-www-form-urlencoded".into(),
            form::encode(&payload),
        )
    })
}

/// A request saved by `listen --save`, with the application token put back when given.
fn replay_body(path: &std::path::Path, token: Option<&str>) -> anyhow::Result<(String, String)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
    let saved: SavedRequest = serde_json::from_str(&text).map_err(|e| {
        CliError::Usage(format!(
            "{} is not a request saved by `listen --save`: {e}",
            path.display()
        ))
    })?;
    let Some(token) = token else {
        return Ok((saved.content_type, saved.body));
    };
    let body = if saved.content_type.contains("json") {
        let mut value: Value = serde_json::from_str(&saved.body).unwrap_or(Value::Null);
        if let Some(auth) = value.get_mut("auth").and_then(Value::as_object_mut) {
            auth.insert("application_token".into(), json!(token));
        }
        value.to_string()
    } else {
        let mut serializer = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in url::form_urlencoded::parse(saved.body.as_bytes()) {
            let value = if key == "auth[application_token]" {
                token.to_string()
            } else {
                value.into_owned()
            };
            serializer.append_pair(&key, &value);
        }
        serializer.finish()
    };
    Ok((saved.content_type, body))
}
