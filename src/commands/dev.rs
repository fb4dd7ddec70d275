//! `dev EVENT... --forward-to URL`: real portal events on a local handler without a
//! public URL. The events are bound offline, the queue is consumed with `--follow`,
//! and each record is POSTed to the handler as the portal's online request would
//! have been; Ctrl-C removes the bindings dev made (docs/dev.md).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::context::Context;
use super::errors::CliError;
use super::offline::consume;
use super::patterns::{name_matches, PlainPattern};
use crate::bitrix::events::{self, BindRequest, BindingKind, EventsQuery};
use crate::bitrix::{ApiError, Client};
use crate::cli::{ConsumeArgs, DevArgs, FleetArgs, SinkArgs};

/// Reserved per request: a developer's events arrive a few at a time.
const DEV_LIMIT: u32 = 50;

/// The offline bindings a `dev` session made, kept on disk so that a crashed
/// session's successor removes them too.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Made {
    events: Vec<String>,
}

fn made_path(ctx: &Context, profile: &str, connector: Option<&str>) -> PathBuf {
    ctx.store.dir().join("state").join(format!(
        "dev-{}-{}.json",
        super::offline::safe_name(profile),
        super::offline::safe_name(connector.unwrap_or("default"))
    ))
}

fn read_made(path: &Path) -> anyhow::Result<Made> {
    super::state_file::read(path)
}

fn write_made(path: &Path, made: &Made) -> anyhow::Result<()> {
    super::state_file::write(path, made, made.events.is_empty())
}

/// Expands the arguments against the events the application may bind: a glob
/// matches many, a name must be one of them.
async fn expand_events(client: &Client, patterns: &[String]) -> anyhow::Result<Vec<String>> {
    let known = events::list_events(client, &EventsQuery::default()).await?;
    let mut chosen: Vec<String> = Vec::new();
    for pattern in patterns {
        let mut matched = false;
        for name in &known {
            if name_matches(pattern, name, PlainPattern::Exact)? {
                matched = true;
                if !chosen.contains(name) {
                    chosen.push(name.clone());
                }
            }
        }
        if !matched {
            let similar = super::suggest::nearest_names(pattern, &known);
            return Err(CliError::Usage(format!(
                "'{pattern}' matches no event the application can bind{}; `bx-events events` lists them",
                if similar.is_empty() {
                    String::new()
                } else {
                    format!(" (did you mean {}?)", similar.join(" or "))
                }
            ))
            .into());
        }
    }
    Ok(chosen)
}

fn offline_binding(event: &str, connector: Option<&str>) -> BindRequest {
    BindRequest {
        event: event.to_string(),
        handler: None,
        auth_type: None,
        kind: BindingKind::Offline,
        connector: connector.map(str::to_string),
        min_timeout_secs: None,
    }
}

pub(crate) async fn run(ctx: &Context, args: &DevArgs) -> anyhow::Result<()> {
    crate::commands::arguments::http_url(&args.forward_to, "--forward-to")?;
    let connector = args.connector.as_deref().filter(|c| !c.is_empty());
    let (profile, client) = ctx.connect()?;
    let names = expand_events(&client, &args.events).await?;
    let path = made_path(ctx, &profile.name, connector);
    let mut made = read_made(&path)?;
    if !made.events.is_empty() {
        ctx.out.info(&format!(
            "An earlier dev session left offline bindings of {}; they are this session's to remove",
            made.events.join(", ")
        ));
    }
    if !args.replay {
        if let Err(error) = bind_offline(&client, &names, connector, &path, &mut made).await {
            remove_made(ctx, &client, &path, &mut made, connector, args.keep).await;
            return Err(error);
        }
    }
    ctx.out.info(&format!(
        "Delivering {} to {} ({}); Ctrl-C stops{}",
        names.join(", "),
        args.forward_to,
        if args.replay {
            "the failed ones again"
        } else {
            "as the portal would, without a public URL"
        },
        if made.events.is_empty() || args.keep {
            String::new()
        } else {
            format!(" and removes the {} binding(s) dev made", made.events.len())
        }
    ));
    let consume_args = ConsumeArgs {
        sink: SinkArgs {
            exec: None,
            forward_to: Some(args.forward_to.clone()),
            stdout: false,
            publish: None,
            handler_timeout: args.handler_timeout,
        },
        // dev works on the active profile only.
        fleet: FleetArgs {
            profiles: Vec::new(),
            all_profiles: false,
            profiles_from: None,
            concurrency: 1,
        },
        limit: Some(DEV_LIMIT),
        follow: !args.replay,
        poll_interval: Some(args.poll_interval),
        notify_listen: None,
        notify_url: None,
        min_timeout: None,
        max_events: None,
        errors: args.replay,
        parallel: args.parallel,
        connector: connector.map(str::to_string),
        allow_loss: false,
        process_id: None,
        events: names,
        format: args.format,
        application_token: args.application_token.clone(),
        with_tokens: args.with_tokens,
        hydrate: args.hydrate,
    };
    let outcome = consume(ctx, &consume_args).await;
    remove_made(ctx, &client, &path, &mut made, connector, args.keep).await;
    outcome
}

/// Binds each event offline, recording the intent first: a binding absent when
/// dev looked is written to the state file before `event.bind` is sent, so a
/// kill between the portal's answer and the write (or an answer lost on the way)
/// still leaves the binding on record as dev's to remove. Bindings that existed
/// before are never recorded, so they are never removed.
async fn bind_offline(
    client: &Client,
    names: &[String],
    connector: Option<&str>,
    path: &Path,
    made: &mut Made,
) -> anyhow::Result<()> {
    let existing = events::list_bindings(client).await?;
    let absent: Vec<&String> = names
        .iter()
        .filter(|name| {
            let request = offline_binding(name, connector);
            !existing.iter().any(|b| request.unbind_matches(b))
        })
        .collect();
    for name in &absent {
        if !made.events.contains(name) {
            made.events.push((*name).clone());
        }
    }
    write_made(path, made)?;
    for name in absent {
        // `AlreadyBound` here is most likely this session's own bind whose answer
        // was lost and retried; it was absent a moment ago, so it stays on record.
        if let Err(error) = events::bind(client, &offline_binding(name, connector)).await {
            if matches!(error, ApiError::Portal { .. }) {
                // The portal answered with a refusal: nothing was bound.
                made.events.retain(|made| made != name);
                write_made(path, made)?;
            }
            return Err(super::bind::explain_bind_error(client, error, name).await);
        }
    }
    Ok(())
}

/// Removes the offline bindings this session (or a crashed one) made, unless
/// `--keep`; bindings that existed before dev started are never touched.
async fn remove_made(
    ctx: &Context,
    client: &Client,
    path: &Path,
    made: &mut Made,
    connector: Option<&str>,
    keep: bool,
) {
    if made.events.is_empty() {
        return;
    }
    if keep {
        ctx.out.info(&format!(
            "Kept the offline bindings dev made ({}); remove them with `bx-events unbind EVENT --offline`",
            made.events.join(", ")
        ));
        made.events.clear();
        let _ = write_made(path, made);
        return;
    }
    let mut left = Vec::new();
    for name in std::mem::take(&mut made.events) {
        if let Err(error) = events::unbind(client, &offline_binding(&name, connector)).await {
            ctx.out.warn(&format!(
                "could not remove the offline binding of {name} ({error}); the next `dev` removes it"
            ));
            left.push(name);
        }
    }
    let all_removed = left.is_empty();
    made.events = left;
    if let Err(error) = write_made(path, made) {
        ctx.out.warn(&format!("{error:#}"));
    }
    if all_removed {
        ctx.out
            .info("Removed the offline bindings dev made; records still queued for them stay in the queue");
    }
}
