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
pub async fn run_batch(
    client: &Client,
    commands: &[BatchCommand],
    halt: bool,
    retry_safe: bool,
) -> Result<Vec<BatchOutcome>, ApiError> {
    let mut outcomes = Vec::with_capacity(commands.len());
    for chunk in commands.chunks(MAX_BATCH_COMMANDS) {
        outcomes.extend(run_chunk(client, chunk, halt, retry_safe).await?);
    }
    Ok(outcomes)
}

async fn run_chunk(
    client: &Client,
    chunk: &[BatchCommand],
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
    let params = json!({"halt": i32::from(halt), "cmd": cmd});
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
