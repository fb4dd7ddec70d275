//! A `--notify-listen` session: the receiver, and the ONOFFLINEEVENT binding it
//! makes on each portal and removes when it stops. What it made is on record in
//! the config directory's `state/` before `event.bind` is sent, so the next
//! session removes what a killed one left (as `dev` does with its bindings).

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use super::notify::{self, Listened, Receiver, Wakeups};
use crate::bitrix::events::{self, BindRequest, BindingKind};
use crate::bitrix::{ApiError, Client, Secret};
use crate::cli::ConsumeArgs;
use crate::commands::context::Context;
use crate::commands::errors::CliError;
use crate::commands::state_file;
use crate::config::ActiveProfile;
use crate::support::offload;

const EVENT: &str = "ONOFFLINEEVENT";

/// The handlers a session bound on one portal (normally one; more when a killed
/// session listened elsewhere).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Made {
    handlers: Vec<String>,
}

/// One portal's binding, as this session holds it.
struct PortalBinding {
    /// Index of the portal among the profiles the session was started for.
    portal: usize,
    path: PathBuf,
    made: Made,
}

/// A running session.
pub(super) struct Session {
    pub wakeups: Arc<Wakeups>,
    receiver: Receiver,
    bindings: Vec<PortalBinding>,
    /// Per profile given to [`Session::start`]: whether its notifications are
    /// received (a portal without a known application token keeps polling).
    pub woken: Vec<bool>,
}

fn made_path(ctx: &Context, profile: &str, connector: Option<&str>) -> PathBuf {
    ctx.store.dir().join("state").join(format!(
        "notify-{}-{}.json",
        super::safe_name(profile),
        super::safe_name(connector.unwrap_or("default"))
    ))
}

fn request(handler: &str, min_timeout: Option<u32>) -> BindRequest {
    BindRequest {
        event: EVENT.into(),
        handler: Some(handler.into()),
        auth_type: None,
        kind: BindingKind::Online,
        connector: None,
        min_timeout_secs: min_timeout.map(u64::from),
    }
}

/// The application token a portal's notifications must carry: `--application-token`
/// (or its variable) first for one portal, the profile's own first in a fleet
/// (each installation has its own).
fn token_for(
    ctx: &Context,
    profile: &ActiveProfile,
    given: Option<&Secret>,
    fleet: bool,
) -> Option<Secret> {
    let stored = || {
        if profile.from_env {
            return None;
        }
        ctx.store
            .recent_secrets_of(&profile.name)
            .ok()
            .flatten()
            .and_then(|secrets| secrets.application_token)
            .filter(|token| !token.is_empty())
    };
    let given = || given.filter(|token| !token.is_empty()).cloned();
    if fleet {
        stored().or_else(given)
    } else {
        given().or_else(stored)
    }
}

impl Session {
    /// Listens on `--notify-listen` for `profiles` and makes sure each portal
    /// with a known application token has an ONOFFLINEEVENT binding to the
    /// notification URL; `None` without `--notify-listen`.
    pub(super) async fn start(
        ctx: &Context,
        args: &ConsumeArgs,
        profiles: &[&ActiveProfile],
    ) -> anyhow::Result<Option<Self>> {
        let Some(address) = &args.notify_listen else {
            return Ok(None);
        };
        let fleet = profiles.len() > 1 || args.fleet.selects();
        let mut listened = Vec::new();
        let mut woken = Vec::with_capacity(profiles.len());
        let mut unverifiable = Vec::new();
        for (index, profile) in profiles.iter().enumerate() {
            match token_for(ctx, profile, args.application_token.as_ref(), fleet) {
                Some(token) => {
                    listened.push(Listened {
                        portal: index,
                        member_id: profile.settings.member_id.clone(),
                        domain: crate::bitrix::auth::portal_domain(&profile.settings.portal)
                            .unwrap_or_default(),
                        token,
                    });
                    woken.push(true);
                }
                None => {
                    unverifiable.push(profile.name.clone());
                    woken.push(false);
                }
            }
        }
        if listened.is_empty() {
            return Err(CliError::Usage(format!(
                "--notify-listen needs the application token the portal sends with its notifications, to refuse forged ones: pass --application-token (or set BX_EVENTS_APPLICATION_TOKEN), or log in with the authorization-code flow, which records it{}",
                if fleet { " (no profile of the fleet has one)" } else { "" }
            ))
            .into());
        }
        if !unverifiable.is_empty() {
            ctx.out.warn(&format!(
                "no application token known for {} profile(s) ({}): their queues are polled as without --notify-listen",
                unverifiable.len(),
                few_names(&unverifiable)
            ));
        }
        let min_timeout = args.min_timeout.unwrap_or(notify::DEFAULT_MIN_TIMEOUT);
        let wakeups = Wakeups::new(profiles.len(), min_timeout);
        let receiver = notify::listen(
            address,
            args.notify_url.as_deref(),
            listened,
            wakeups.clone(),
            ctx.out.clone(),
        )
        .await?;
        let mut session = Self {
            wakeups,
            receiver,
            bindings: Vec::new(),
            woken,
        };
        let bound = session.bind_all(ctx, args, profiles, min_timeout).await;
        if let Err(error) = bound {
            session.finish(ctx, args, profiles).await;
            return Err(error);
        }
        ctx.out.info(&format!(
            "Woken by ONOFFLINEEVENT notifications at {} (listening on {}); an idle queue is polled every {} s as a safety net",
            crate::bitrix::mask::mask_url(&session.receiver.url),
            session.receiver.local,
            super::poll_interval(args)
        ));
        Ok(Some(session))
    }

    /// Binds the notification URL on every listened portal, a few at a time.
    /// One portal's failure ends a single consumer's start; in a fleet that
    /// portal is warned about and keeps polling.
    async fn bind_all(
        &mut self,
        ctx: &Context,
        args: &ConsumeArgs,
        profiles: &[&ActiveProfile],
        min_timeout: u32,
    ) -> anyhow::Result<()> {
        let url = self.receiver.url.clone();
        let connector = args.connector.as_deref();
        let listened: Vec<usize> = (0..profiles.len()).filter(|&i| self.woken[i]).collect();
        let results: Vec<(usize, anyhow::Result<PortalBinding>)> = stream::iter(listened)
            .map(|index| {
                let url = url.clone();
                async move {
                    let profile = profiles[index];
                    let path = made_path(ctx, &profile.name, connector);
                    let result = async {
                        let client = ctx.client_for(profile)?;
                        ensure(&client, index, path, &url, min_timeout).await
                    }
                    .await;
                    (index, result)
                }
            })
            .buffer_unordered(usize::from(args.fleet.concurrency).max(1))
            .collect()
            .await;
        let single = profiles.len() == 1;
        let mut failed = Vec::new();
        for (index, result) in results {
            match result {
                Ok(binding) => self.bindings.push(binding),
                Err(error) if single => return Err(error),
                Err(error) => {
                    ctx.out.warn(&format!(
                        "profile '{}': could not bind ONOFFLINEEVENT ({error:#}); its queue is polled as without --notify-listen",
                        profiles[index].name
                    ));
                    self.woken[index] = false;
                    failed.push(index);
                }
            }
        }
        if self.woken.iter().all(|w| !w) {
            return Err(CliError::Failed(
                "no portal could bind ONOFFLINEEVENT to the notification URL (see above)".into(),
            )
            .into());
        }
        Ok(())
    }

    /// Removes the bindings this session made (and those a killed one left),
    /// then stops listening.
    pub(super) async fn finish(
        self,
        ctx: &Context,
        args: &ConsumeArgs,
        profiles: &[&ActiveProfile],
    ) {
        let concurrency = usize::from(args.fleet.concurrency).max(1);
        let left: Vec<(usize, Vec<String>)> = stream::iter(self.bindings)
            .map(|binding| async move {
                let portal = binding.portal;
                let profile = profiles[portal];
                let left = match ctx.client_for(profile) {
                    Ok(client) => remove(&client, binding).await,
                    Err(error) => {
                        tracing::debug!("{error:#}");
                        binding.made.handlers
                    }
                };
                (portal, left)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut kept = 0;
        for (portal, handlers) in &left {
            if !handlers.is_empty() {
                kept += 1;
                if kept <= 3 {
                    ctx.out.warn(&format!(
                        "profile '{}': could not remove the ONOFFLINEEVENT binding of {}; the next `offline consume --notify-listen` removes it",
                        profiles[*portal].name,
                        handlers.join(", ")
                    ));
                }
            }
        }
        if kept > 3 {
            ctx.out
                .warn(&format!("... and on {} more portal(s)", kept - 3));
        }
        self.receiver.stop().await;
    }
}

/// Reads the record off the async workers (a fleet starts many sessions' worth).
async fn read_made(path: &std::path::Path) -> anyhow::Result<Made> {
    let path = path.to_path_buf();
    offload::blocking(move || state_file::read(&path)).await?
}

/// Writes (or removes) the record off the async workers: a synced write.
async fn write_made(path: &std::path::Path, made: &Made) -> anyhow::Result<()> {
    let (path, handlers) = (path.to_path_buf(), made.handlers.clone());
    offload::blocking(move || {
        let empty = handlers.is_empty();
        state_file::write(&path, &Made { handlers }, empty)
    })
    .await?
}

/// Makes sure `url` is bound to ONOFFLINEEVENT on the portal, removing the
/// handlers a killed session left elsewhere first. A binding that existed and
/// is not on record is someone else's: it is used, never removed.
async fn ensure(
    client: &Client,
    portal: usize,
    path: PathBuf,
    url: &str,
    min_timeout: u32,
) -> anyhow::Result<PortalBinding> {
    let mut made = read_made(&path).await?;
    let existing = events::list_bindings(client).await?;
    let is_bound = |handler: &str| {
        existing
            .iter()
            .any(|b| request(handler, None).unbind_matches(b))
    };
    for stale in made.handlers.clone() {
        if stale == url {
            continue;
        }
        if is_bound(&stale) {
            // Not fatal: the next session tries again.
            if let Err(error) = events::unbind(client, &request(&stale, None)).await {
                tracing::debug!("removing the stale notification handler {stale}: {error}");
                continue;
            }
        }
        made.handlers.retain(|h| h != &stale);
    }
    if is_bound(url) {
        write_made(&path, &made).await?;
        return Ok(PortalBinding { portal, path, made });
    }
    if !made.handlers.iter().any(|h| h == url) {
        made.handlers.push(url.to_string());
    }
    write_made(&path, &made).await?;
    if let Err(error) = events::bind(client, &request(url, Some(min_timeout))).await {
        if matches!(error, ApiError::Portal { .. }) {
            // A refusal: nothing was bound.
            made.handlers.retain(|h| h != url);
            write_made(&path, &made).await?;
        }
        return Err(crate::commands::bind::explain_bind_error(client, error, EVENT).await);
    }
    Ok(PortalBinding { portal, path, made })
}

/// Unbinds what the session has on record for one portal; the handlers that
/// could not be removed (kept on record for the next session).
async fn remove(client: &Client, mut binding: PortalBinding) -> Vec<String> {
    let mut left = Vec::new();
    for handler in std::mem::take(&mut binding.made.handlers) {
        if let Err(error) = events::unbind(client, &request(&handler, None)).await {
            tracing::debug!("removing the notification handler {handler}: {error}");
            left.push(handler);
        }
    }
    binding.made.handlers = left.clone();
    if let Err(error) = write_made(&binding.path, &binding.made).await {
        tracing::debug!("{error:#}");
    }
    left
}

/// Up to five names, and how many more: a fleet's list stays one line.
fn few_names(names: &[String]) -> String {
    match names.len() {
        0..=5 => names.join(", "),
        more => format!("{}, and {} more", names[..5].join(", "), more - 5),
    }
}
