//! `auth keyring`: moves stored profiles' secrets into the OS keyring, or back
//! into `credentials.toml` (`--off`); `auth login --keyring` checks it first.

use serde_json::json;

use super::super::context::Context;
use super::super::errors::CliError;
use crate::cli::KeyringArgs;
use crate::config::profile::selected_name;
use crate::config::{ConfigError, SecretStorage, Store};

/// Fails unless secrets can be kept in the OS keyring here: profiles in a
/// shared store keep theirs sealed in it, and the keyring must open.
pub(crate) fn check_available(ctx: &Context) -> anyhow::Result<()> {
    refuse_shared_store(ctx)?;
    Store::keyring_name()?;
    Ok(())
}

/// The OS keyring keeps one machine's secrets; a shared store's are sealed in
/// it for every machine, and never leave it.
fn refuse_shared_store(ctx: &Context) -> anyhow::Result<()> {
    if ctx.store.shared().is_some() {
        return Err(CliError::Usage(
            "the OS keyring keeps one machine's secrets; profiles in the shared store (--store) keep theirs sealed in it, for every machine".into(),
        )
        .into());
    }
    Ok(())
}

pub(crate) fn run(ctx: &Context, args: &KeyringArgs) -> anyhow::Result<()> {
    refuse_shared_store(ctx)?;
    let (storage, place) = if args.off {
        (
            SecretStorage::File,
            ctx.store.credentials_path().display().to_string(),
        )
    } else {
        check_available(ctx)?;
        (
            SecretStorage::Keyring,
            format!("the {}", Store::keyring_name()?),
        )
    };
    let moved = ctx.store.update(|config, credentials| {
        if config.profiles.is_empty() {
            return Err(ConfigError::NoCredentials);
        }
        let names: Vec<String> = if args.all {
            config.profiles.keys().cloned().collect()
        } else {
            vec![selected_name(config, ctx.global.profile.as_deref())?]
        };
        let mut moved = Vec::new();
        for name in names {
            let Some(secrets) = credentials.profiles.get_mut(&name) else {
                if args.all {
                    continue;
                }
                return Err(ConfigError::UnknownProfile {
                    name,
                    known: config.profiles.keys().cloned().collect(),
                });
            };
            if secrets.storage.unwrap_or(SecretStorage::File) != storage {
                secrets.storage = Some(storage);
                moved.push(name);
            }
        }
        Ok(moved)
    })?;
    if moved.is_empty() {
        ctx.out.info(&format!(
            "Nothing to move: the secrets are in {place} already."
        ));
    } else {
        let names: Vec<String> = moved.iter().map(|n| format!("'{n}'")).collect();
        ctx.out.success(&format!(
            "Moved the secrets of {} into {place}",
            names.join(", ")
        ));
    }
    ctx.out.machine(&json!({
        "moved": moved,
        "storage": if args.off { "file" } else { "keyring" },
    }));
    Ok(())
}
