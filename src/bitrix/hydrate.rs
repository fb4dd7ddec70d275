//! Hydration: each offline record's object, fetched with the method the event
//! catalogue names for its event, 50 to a `batch` request.
//!
//! The offline queue keeps one row per event and `data`, and `data` is almost
//! always the object's id (docs/events.md): a consumer that needs the object
//! must fetch it. Doing that here, for a whole reservation at once, costs one
//! request per 50 distinct objects instead of one per record.

use std::collections::HashMap;

use serde_json::Value;

use super::batch::{run_batch, BatchCommand, BatchOutcome};
use super::catalog;
use super::client::Client;
use super::offline::OfflineRecord;

/// Sets `object` (or `object_error`) on every record whose event the catalogue
/// can fetch; deletes and events without a fetch method are left as they are.
/// Records of one object share one command. A failed `batch` request (after the
/// client's retries) becomes each of its records' `object_error`: the records
/// are still delivered, and say why they come without their object.
pub async fn hydrate(client: &Client, records: &mut [OfflineRecord]) {
    let mut commands: Vec<BatchCommand> = Vec::new();
    let mut command_of: HashMap<String, usize> = HashMap::new();
    let mut wanted: Vec<(usize, usize)> = Vec::new();
    for (index, record) in records.iter_mut().enumerate() {
        let Some(fetch) = catalog::find(&record.event).and_then(|e| e.fetch.as_ref()) else {
            continue;
        };
        let Some(params) = fetch.params(&record.data) else {
            record.object_error = Some(format!(
                "the record's data has no {} to fetch the object with {}",
                fetch.id_path, fetch.method
            ));
            continue;
        };
        let params = Value::Object(params.into_iter().collect());
        let key = format!("{}?{params}", fetch.method);
        let command = *command_of.entry(key).or_insert_with(|| {
            commands.push(BatchCommand {
                method: fetch.method.clone(),
                params,
            });
            commands.len() - 1
        });
        wanted.push((index, command));
    }
    if commands.is_empty() {
        return;
    }
    // Reads only: safe to repeat after a 5xx.
    match run_batch(client, &commands, false, true).await {
        Ok(outcomes) => {
            for (index, command) in wanted {
                match outcomes.get(command) {
                    Some(BatchOutcome::Ok(object)) => records[index].object = Some(object.clone()),
                    Some(BatchOutcome::Failed { code, description }) => {
                        records[index].object_error = Some(if code.is_empty() {
                            description.clone()
                        } else {
                            format!("{code}: {description}")
                        });
                    }
                    None => {
                        records[index].object_error =
                            Some("the batch answered nothing for it".into())
                    }
                }
            }
        }
        Err(error) => {
            let why = format!("fetching the objects failed: {error}");
            for (index, _) in wanted {
                records[index].object_error = Some(why.clone());
            }
        }
    }
}
