//! `store init`: creates or upgrades the shared PostgreSQL store's tables, and
//! copies this machine's file profiles into it.

use serde_json::json;

use super::context::Context;
use super::errors::CliError;
use crate::cli::StoreInitArgs;
use crate::config::{env, Store};

pub(crate) fn init(ctx: &Context, args: &StoreInitArgs) -> anyhow::Result<()> {
    let Some(shared) = ctx.store.shared() else {
        return Err(CliError::Usage(format!(
            "`store init` prepares a shared store: pass --store postgres://USER@HOST:PORT/DB (or set {})",
            env::STORE
        ))
        .into());
    };
    let (before, after) = shared.migrate()?;
    let sealed = std::env::var(env::STORE_KEY).is_ok_and(|key| !key.trim().is_empty());
    if before == after {
        ctx.out.success(&format!(
            "The store {} is ready (schema version {after})",
            shared.describe()
        ));
    } else {
        ctx.out.success(&format!(
            "Prepared the store {} (schema version {before} -> {after})",
            shared.describe()
        ));
    }
    let resealed = shared.reseal()?;
    if !resealed.is_empty() {
        ctx.out.success(&format!(
            "Sealed {} row(s) with {}, bound to their settings: {}",
            resealed.len(),
            env::STORE_KEY,
            resealed.join(", ")
        ));
    }
    if !sealed {
        ctx.out.notice(&format!(
            "Secrets are stored as they are, protected by the database's own access control; set {} (64 hex digits, e.g. `openssl rand -hex 32`) on every machine to seal them",
            env::STORE_KEY
        ));
    }
    let mut copied = Vec::new();
    let mut kept = Vec::new();
    if args.copy_profiles {
        // The config directory's own files, whatever --store says.
        let files = Store::new(ctx.store.dir());
        let config = files.read_config()?;
        let credentials = files.read_credentials()?;
        ctx.store.update(|shared_config, shared_credentials| {
            for (name, settings) in &config.profiles {
                if shared_config.profiles.contains_key(name) {
                    kept.push(name.clone());
                    continue;
                }
                shared_config
                    .profiles
                    .insert(name.clone(), settings.clone());
                if let Some(secrets) = credentials.profiles.get(name) {
                    shared_credentials
                        .profiles
                        .insert(name.clone(), secrets.clone());
                }
                copied.push(name.clone());
            }
            if shared_config.current.is_none() {
                shared_config.current = config.current.clone();
            }
            Ok(())
        })?;
        ctx.out.success(&format!(
            "Copied {} profile(s) from {} into the store{}",
            copied.len(),
            ctx.store.dir().display(),
            if kept.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} it already had were left as they are ({})",
                    kept.len(),
                    kept.join(", ")
                )
            }
        ));
    }
    ctx.out.machine(&json!({
        "store": shared.describe(),
        "schema_version": after,
        "previous_version": before,
        "sealed": sealed,
        "copied": copied,
        "kept": kept,
        "resealed": resealed,
    }));
    Ok(())
}
