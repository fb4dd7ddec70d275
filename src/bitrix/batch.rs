//! `batch`: up to 50 commands per request, with a result or error for each command.

use serde_json::{json, Map, Value};

use super::client::Client;
use super::error::ApiError;
use super::form;

/// The portal's limit of commands in one `batch` request.
pub const MAX_BATCH_COMMANDS: usize = 50;

/// One command of a batch.
#[derive(Debug, Clone)]
pub struct BatchCommand {
    pub method: String,
    pub params: Value,
}

/// What happened to one command.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchOutcome {
    Ok(Value),
    Failed { code: String, description: String },
}

impl BatchOutcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok(_))
    }
}

/// Runs the commands in requests of at most 50, returning one outcome per command in
/// order. With `halt`, commands after the first failure of a request are reported as
/// not run. `retry_safe` says whether the whole request may be repeated after 5xx.
///
/// The portal runs every command of a batch with the batch request's own auth data
/// and ignores an `auth_connector` inside a command (docs/portal.md, "batch auth").
/// So commands are grouped by their `auth_connector` parameter and each group goes
/// in batches of its own with the connector on the batch request.
pub async fn run_batch(
    client: &Client,
    commands: &[BatchCommand],
    halt: bool,
    retry_safe: bool,
) -> Result<Vec<BatchOutcome>, ApiError> {
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    let mut stripped = Vec::with_capacity(commands.len());
    for (index, command) in commands.iter().enumerate() {
        let mut params = command.params.clone();
        let connector = match params.as_object_mut() {
            Some(map) => map
                .remove("auth_connector")
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            None => String::new(),
        };
        stripped.push(BatchCommand {
            method: command.method.clone(),
            params,
        });
        match groups.iter_mut().find(|(key, _)| *key == connector) {
            Some((_, members)) => members.push(index),
            None => groups.push((connector, vec![index])),
        }
    }
    let mut outcomes: Vec<Option<BatchOutcome>> = vec![None; commands.len()];
    for (connector, members) in &groups {
        for chunk in members.chunks(MAX_BATCH_COMMANDS) {
            let batch: Vec<BatchCommand> = chunk.iter().map(|&i| stripped[i].clone()).collect();
            let results = run_chunk(client, &batch, connector, halt, retry_safe).await?;
            for (&index, outcome) in chunk.iter().zip(results) {
                outcomes[index] = Some(outcome);
            }
        }
    }
    Ok(outcomes.into_iter().flatten().collect())
}

async fn run_chunk(
    client: &Client,
    chunk: &[BatchCommand],
    connector: &str,
    halt: bool,
    retry_safe: bool,
) -> Result<Vec<BatchOutcome>, ApiError> {
    let mut cmd = Map::new();
    for (index, command) in chunk.iter().enumerate() {
        let query = form::encode(&command.params);
        let line = if query.is_empty() {
            command.method.clone()
        } else {
            format!("{}?{query}", command.method)
        };
        cmd.insert(format!("c{index}"), Value::String(line));
    }
    let mut params = json!({"halt": i32::from(halt), "cmd": cmd});
    if !connector.is_empty() {
        params["auth_connector"] = Value::String(connector.to_string());
    }
    let envelope = client.call_with("batch", &params, retry_safe).await?;
    let results = envelope
        .result
        .get("result")
        .cloned()
        .unwrap_or(Value::Null);
    let errors = envelope
        .result
        .get("result_error")
        .cloned()
        .unwrap_or(Value::Null);
    let outcomes = (0..chunk.len())
        .map(|index| {
            let key = format!("c{index}");
            if let Some(error) = errors.get(&key) {
                BatchOutcome::Failed {
                    code: error
                        .get("error")
                        .and_then(Value::as_str)
                        .unwrap_or("UNKNOWN")
                        .to_string(),
                    description: error
                        .get("error_description")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                }
            } else if let Some(result) = results.get(&key) {
                BatchOutcome::Ok(result.clone())
            } else {
                BatchOutcome::Failed {
                    code: "NOT_RUN".into(),
                    description: "not run: an earlier command of the batch failed".into(),
                }
            }
        })
        .collect();
    Ok(outcomes)
}
