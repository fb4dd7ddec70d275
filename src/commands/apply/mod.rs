//! `diff` and `apply`: a subscriptions file against one portal or many at once.

mod plan;

use std::io::Read;
use std::sync::Arc;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::json;
use tokio::sync::Semaphore;

use super::{CliError, Context};
use crate::bitrix::events::BindingKind;
use crate::bitrix::Client;
use crate::cli::{ApplyArgs, DiffArgs, TargetArgs};
use crate::config::profile::load_stored;
use crate::config::{ActiveProfile, ConfigError};
use crate::manifest::{self, Manifest};
use crate::output::style;
use plan::{Action, Change, Outcome};

/// One portal's part of a run.
struct PortalRun {
    profile: ActiveProfile,
    client: Arc<Client>,
    outcome: Result<Vec<Change>, anyhow::Error>,
}

#[derive(Debug, Default, Serialize)]
struct Summary {
    bind: usize,
    unbind: usize,
    keep: usize,
    failed: usize,
}

/// The manifest's path: `-f`, else `bx-events.toml`, said aloud (with how to read
/// stdin instead), so no file is ever chosen silently.
fn manifest_path(ctx: &Context, given: Option<&str>) -> String {
    if let Some(path) = given {
        return path.to_string();
    }
    ctx.out.info(&format!(
        "Reading {} (no -f given; pass `-f -` to read the subscriptions from stdin)",
        manifest::DEFAULT_FILE
    ));
    manifest::DEFAULT_FILE.to_string()
}

/// Reads and validates the manifest (`-` is stdin); problems are usage errors.
fn read_manifest(ctx: &Context, path: &str) -> anyhow::Result<Manifest> {
    let (name, text) = if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the manifest from stdin")?;
        ("<stdin>".to_string(), text)
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::Usage(format!(
                "cannot read {path}: {e}{}",
                if path == manifest::DEFAULT_FILE {
                    " (pass -f FILE, or create one with `bx-events export > bx-events.toml`)"
                } else {
                    ""
                }
            ))
        })?;
        (path.to_string(), text)
    };
    let manifest = manifest::parse(&name, &text, &|var| std::env::var(var).ok())
        .map_err(|e| CliError::Usage(e.to_string()))?;
    for warning in &manifest.warnings {
        ctx.out.warn(warning);
    }
    Ok(manifest)
}

/// The profiles to work on: `--profiles`, `--all-profiles`, or the active one.
fn targets(ctx: &Context, args: &TargetArgs) -> anyhow::Result<Vec<ActiveProfile>> {
    if !args.all_profiles && args.profiles.is_empty() {
        return Ok(vec![ctx.profile()?]);
    }
    let config = ctx.store.read_config()?;
    let names: Vec<String> = if args.all_profiles {
        config.profiles.keys().cloned().collect()
    } else {
        let mut names: Vec<String> = Vec::new();
        for name in args
            .profiles
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
        {
            if names.iter().any(|known| known == name) {
                ctx.out.warn(&format!(
                    "profile '{name}' is listed twice in --profiles; it runs once"
                ));
            } else {
                names.push(name.to_string());
            }
        }
        names
    };
    if names.is_empty() {
        return Err(ConfigError::NoCredentials.into());
    }
    names
        .iter()
        .map(|name| Ok(load_stored(&ctx.store, &config, name)?))
        .collect()
}

/// Plans every portal concurrently (at most `concurrency` at a time).
async fn plan_all(
    ctx: &Context,
    args: &TargetArgs,
    manifest: &Arc<Manifest>,
    prune: bool,
) -> anyhow::Result<Vec<PortalRun>> {
    let profiles = targets(ctx, args)?;
    let limit = Arc::new(Semaphore::new(usize::from(args.concurrency)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, profile) in profiles.iter().enumerate() {
        let client = Arc::new(ctx.client_for(profile)?);
        let (manifest, limit, name) = (manifest.clone(), limit.clone(), profile.name.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let outcome = plan::plan(&client, &manifest, prune, &name)
                .await
                .map_err(anyhow::Error::from);
            (index, client, outcome)
        });
    }
    let mut runs: Vec<Option<PortalRun>> = profiles.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (index, client, outcome) = joined.context("a planning task failed")?;
        runs[index] = Some(PortalRun {
            profile: profiles[index].clone(),
            client,
            outcome,
        });
    }
    Ok(runs.into_iter().flatten().collect())
}

pub(crate) async fn diff(ctx: &Context, args: &DiffArgs) -> anyhow::Result<()> {
    let path = manifest_path(ctx, args.target.file.as_deref());
    let manifest = Arc::new(read_manifest(ctx, &path)?);
    let runs = plan_all(ctx, &args.target, &manifest, args.prune).await?;
    render(ctx, &runs);
    let failure = portal_failure(runs.iter().map(|r| (&r.profile.name, &r.outcome)).collect());
    if let Some(error) = failure {
        return Err(error);
    }
    let drift = runs
        .iter()
        .flat_map(|r| r.outcome.as_ref().ok().into_iter().flatten())
        .filter(|c| c.action != Action::Keep)
        .count();
    if drift == 0 {
        ctx.out.info("In sync: nothing to bind or unbind.");
    } else if args.exit_code {
        return Err(CliError::NotInSync(format!(
            "not in sync: {drift} change(s) needed; run `bx-events apply`"
        ))
        .into());
    }
    Ok(())
}

pub(crate) async fn apply(ctx: &Context, args: &ApplyArgs) -> anyhow::Result<()> {
    let path = manifest_path(ctx, args.target.file.as_deref());
    let manifest = Arc::new(read_manifest(ctx, &path)?);
    let mut runs = plan_all(ctx, &args.target, &manifest, args.prune).await?;
    let changes = |action| {
        runs.iter()
            .flat_map(|r| r.outcome.as_ref().ok().into_iter().flatten())
            .filter(|c| c.action == action)
            .count()
    };
    let (binds, unbinds) = (changes(Action::Bind), changes(Action::Unbind));
    if args.dry_run || binds + unbinds == 0 {
        return report_plan(ctx, &runs, &manifest, args.dry_run, binds, unbinds);
    }
    if unbinds > 0 && !ctx.global.yes {
        render(ctx, &runs);
        if !ctx.confirm(&format!(
            "Unbind {unbinds} binding(s) that the file does not list?"
        ))? {
            return Err(CliError::Failed("cancelled; nothing was changed".into()).into());
        }
    }
    execute_all(ctx, &mut runs, usize::from(args.target.concurrency)).await?;
    render(ctx, &runs);
    let summary = summarise(&runs);
    ctx.out.info(&format!(
        "Applied: {} bound, {} unbound, {} unchanged, {} failed.",
        summary.bind, summary.unbind, summary.keep, summary.failed
    ));
    if let Some(error) =
        portal_failure(runs.iter().map(|r| (&r.profile.name, &r.outcome)).collect())
    {
        return Err(error);
    }
    if summary.failed > 0 {
        return Err(CliError::Failed(format!(
            "{} change(s) failed; see the lines marked failed above",
            summary.failed
        ))
        .into());
    }
    Ok(())
}

/// Shows a plan that is not carried out: a dry run, or nothing to change.
fn report_plan(
    ctx: &Context,
    runs: &[PortalRun],
    manifest: &Manifest,
    dry_run: bool,
    binds: usize,
    unbinds: usize,
) -> anyhow::Result<()> {
    render(ctx, runs);
    if binds + unbinds == 0 && runs.iter().all(|r| r.outcome.is_ok()) {
        ctx.out.info(&format!(
            "No changes: {} subscription(s) already in sync.",
            manifest.subscriptions.len()
        ));
    } else if dry_run {
        ctx.out.info(&format!(
            "Dry run: {binds} to bind, {unbinds} to unbind; nothing was changed."
        ));
    }
    match portal_failure(runs.iter().map(|r| (&r.profile.name, &r.outcome)).collect()) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Carries out every portal's plan, at most `concurrency` portals at once, with a
/// progress bar on a terminal.
async fn execute_all(
    ctx: &Context,
    runs: &mut [PortalRun],
    concurrency: usize,
) -> anyhow::Result<()> {
    let total_batches: u64 = runs
        .iter()
        .filter_map(|r| r.outcome.as_ref().ok())
        .map(|c| plan::batch_count(c))
        .sum();
    let progress = (total_batches > 1
        && !ctx.out.quiet
        && std::io::IsTerminal::is_terminal(&std::io::stderr()))
    .then(|| {
        let bar = ProgressBar::new(total_batches);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} batches {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let limit = Arc::new(Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, run) in runs.iter_mut().enumerate() {
        let Ok(changes) = run.outcome.as_mut() else {
            continue;
        };
        let mut changes = std::mem::take(changes);
        let (client, limit, bar) = (run.client.clone(), limit.clone(), progress.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            plan::execute(&client, &mut changes, bar.as_ref()).await;
            (index, changes)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (index, changes) = joined.context("an apply task failed")?;
        runs[index].outcome = Ok(changes);
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    Ok(())
}

/// The error to exit with when portals could not be planned: a single portal's own
/// error (keeping its exit code), or a summary naming every failed profile.
fn portal_failure(
    outcomes: Vec<(&String, &Result<Vec<Change>, anyhow::Error>)>,
) -> Option<anyhow::Error> {
    let failed: Vec<(&String, &anyhow::Error)> = outcomes
        .iter()
        .filter_map(|(name, o)| o.as_ref().err().map(|e| (*name, e)))
        .collect();
    match (failed.len(), outcomes.len()) {
        (0, _) => None,
        (1, 1) => {
            Some(anyhow::anyhow!("{:#}", failed[0].1).context(format!("profile '{}'", failed[0].0)))
        }
        _ => Some(
            CliError::Failed(format!(
                "{} of {} portal(s) failed: {}",
                failed.len(),
                outcomes.len(),
                failed
                    .iter()
                    .map(|(name, error)| format!("{name}: {error:#}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
            .into(),
        ),
    }
}

fn summarise(runs: &[PortalRun]) -> Summary {
    let mut summary = Summary::default();
    for change in runs
        .iter()
        .flat_map(|r| r.outcome.as_ref().ok().into_iter().flatten())
    {
        // A failed change is counted as failed only, never as done.
        if change.result == Outcome::Failed {
            summary.failed += 1;
            continue;
        }
        match change.action {
            Action::Bind => summary.bind += 1,
            Action::Unbind => summary.unbind += 1,
            Action::Keep => summary.keep += 1,
        }
    }
    summary
}

/// Prints the plan or results: diff-like lines, JSON, or NDJSON.
fn render(ctx: &Context, runs: &[PortalRun]) {
    let summary = summarise(runs);
    let all: Vec<&Change> = runs
        .iter()
        .flat_map(|r| r.outcome.as_ref().ok().into_iter().flatten())
        .collect();
    let errors: Vec<serde_json::Value> = runs
        .iter()
        .filter_map(|r| {
            r.outcome
                .as_ref()
                .err()
                .map(|e| json!({"profile": r.profile.name, "error": format!("{e:#}")}))
        })
        .collect();
    match ctx.out.format {
        crate::output::OutputFormat::Json => {
            let mut body = json!({"changes": all, "summary": summary});
            if !errors.is_empty() {
                body["errors"] = json!(errors);
            }
            ctx.out.print_json(&body);
        }
        crate::output::OutputFormat::Ndjson => {
            ctx.out.machine_list(&all);
            ctx.out.machine_list(&errors);
            ctx.out.print_json(&json!({"summary": summary}));
        }
        crate::output::OutputFormat::Table => {
            let mut text = String::new();
            for run in runs {
                if runs.len() > 1 {
                    text.push_str(&format!(
                        "{} ({})\n",
                        run.profile.name, run.profile.settings.portal
                    ));
                }
                match &run.outcome {
                    Ok(changes) => {
                        let width = changes
                            .iter()
                            .map(|c| c.binding.event.len())
                            .max()
                            .unwrap_or(0);
                        for change in changes {
                            text.push_str(&plan_line(ctx, change, width));
                            text.push('\n');
                        }
                    }
                    Err(error) => text.push_str(&format!("  error: {error:#}\n")),
                }
            }
            crate::output::print_text(&text.to_string());
        }
    }
}

fn plan_line(ctx: &Context, change: &Change, width: usize) -> String {
    let (symbol, word, style) = match change.action {
        Action::Bind => ("+", "bind  ", style::ADDED),
        Action::Unbind => ("-", "unbind", style::REMOVED),
        Action::Keep => ("=", "keep  ", style::UNCHANGED),
    };
    let binding = &change.binding;
    let target = match binding.kind {
        BindingKind::Online => {
            let handler = binding.handler.as_deref().unwrap_or("-");
            if binding.auth_type != 0 {
                format!("{handler} (auth_type {})", binding.auth_type)
            } else {
                handler.to_string()
            }
        }
        BindingKind::Offline => match &binding.connector {
            Some(connector) => format!("offline queue, connector {connector}"),
            None => "offline queue".to_string(),
        },
    };
    let result = match (change.result, &change.error) {
        (Outcome::Failed, Some(error)) => format!("  failed: {error}"),
        (Outcome::Failed, None) => "  failed".into(),
        (Outcome::Ok, _) if change.action != Action::Keep => "  ok".into(),
        _ => String::new(),
    };
    let line = format!("{symbol} {word} {:width$}  {target}{result}", binding.event);
    ctx.out.paint(style, &line)
}
