//! `call METHOD [KEY=VALUE]...`: any REST method, printing the raw JSON envelope.

use anyhow::Context as _;
use serde_json::{Map, Value};

use super::context::Context;
use super::errors::CliError;
use crate::bitrix::form;
use crate::cli::CallArgs;

pub(crate) async fn run(ctx: &Context, args: &CallArgs) -> anyhow::Result<()> {
    let method = args.method.trim();
    if method.is_empty()
        || !method
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_'))
    {
        return Err(CliError::Usage(format!(
            "'{method}' is not a method name (e.g. app.info, event.get)"
        ))
        .into());
    }
    let params = build_params(args)?;
    let (_, client) = ctx.connect()?;
    let envelope = client.call(method, &params).await?;
    ctx.out.print_json(&envelope.into_raw());
    Ok(())
}

/// `--data` JSON first, then `KEY=VALUE` pairs (PHP-style keys nest) on top.
fn build_params(args: &CallArgs) -> anyhow::Result<Value> {
    let mut params = Map::new();
    if let Some(data) = &args.data {
        let text = if data == "-" {
            super::context::read_stdin("--data (JSON)").context("reading --data from stdin")?
        } else {
            data.clone()
        };
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => params.extend(map),
            Ok(_) => return Err(CliError::Usage("--data must be a JSON object".into()).into()),
            Err(e) => return Err(CliError::Usage(format!("--data is not valid JSON: {e}")).into()),
        }
    }
    let pairs = super::arguments::key_values(&args.params);
    if let Value::Object(map) = form::decode_pairs(pairs) {
        params.extend(map);
    }
    Ok(Value::Object(params))
}
