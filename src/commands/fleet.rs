//! Which stored profiles a fleet command (`apply`, `diff`, `offline consume`)
//! works on: `--profiles`, `--profiles-from FILE`, `--all-profiles`, or the
//! active one.

use super::context::Context;
use super::errors::CliError;
use crate::cli::FleetArgs;
use crate::config::profile::load_stored_from;
use crate::config::{ActiveProfile, ConfigError};

/// A profile a fleet run works on, or why it cannot.
pub(crate) enum Target {
    Ready(Box<ActiveProfile>),
    Unusable {
        name: String,
        portal: String,
        error: anyhow::Error,
    },
}

/// The profiles to work on: `--profiles`, `--profiles-from`, `--all-profiles`,
/// or the active one. In a fleet run a profile that cannot be loaded is that
/// portal's failure, not the whole run's.
pub(crate) fn targets(ctx: &Context, args: &FleetArgs) -> anyhow::Result<Vec<Target>> {
    if !args.selects() {
        return Ok(vec![Target::Ready(Box::new(ctx.profile()?))]);
    }
    let config = ctx.store.read_config()?;
    let names: Vec<String> = if args.all_profiles {
        let (installed, uninstalled): (Vec<_>, Vec<_>) = config
            .profiles
            .iter()
            .partition(|(_, settings)| settings.uninstalled_at.is_none());
        if !uninstalled.is_empty() {
            ctx.out.info(&format!(
                "Passing by {} profile(s) whose portal uninstalled the application",
                uninstalled.len()
            ));
        }
        installed
            .into_iter()
            .map(|(name, _)| name.clone())
            .collect()
    } else {
        let listed = match &args.profiles_from {
            Some(path) => profile_names_from(path)?,
            None => args.profiles.clone(),
        };
        let mut seen = std::collections::HashSet::new();
        let mut names = Vec::new();
        for name in listed.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
            if seen.insert(name.to_string()) {
                names.push(name.to_string());
            } else {
                ctx.out
                    .warn(&format!("profile '{name}' is listed twice; it runs once"));
            }
        }
        names
    };
    if names.is_empty() {
        return Err(ConfigError::NoCredentials.into());
    }
    // With a shared store: every portal's secrets in one query, not one each.
    let secrets = ctx.store.secrets_of_all()?;
    Ok(names
        .into_iter()
        .map(
            |name| match load_stored_from(&ctx.store, &config, secrets.as_ref(), &name) {
                Ok(profile) => Target::Ready(Box::new(profile)),
                Err(error) => Target::Unusable {
                    portal: config
                        .profiles
                        .get(&name)
                        .map(|s| s.portal.clone())
                        .unwrap_or_default(),
                    name,
                    error: error.into(),
                },
            },
        )
        .collect())
}

/// `--profiles-from FILE`: profile names, one per line; `#` starts a comment.
fn profile_names_from(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::Usage(format!(
            "cannot read --profiles-from {}: {e}",
            path.display()
        ))
    })?;
    Ok(text
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim().to_string())
        .filter(|line| !line.is_empty())
        .collect())
}
