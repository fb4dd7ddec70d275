//! `diff` and `apply`: a subscriptions file against one portal or many at once.

mod plan;

use std::sync::Arc;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::json;
use tokio::sync::Semaphore;

use super::context::Context;
use super::errors::ProfileHint;
use super::errors::{classify, CliError, Failure};
use super::fleet::{targets, Target};
use crate::bitrix::events::BindingKind;
use crate::bitrix::Client;
use crate::cli::{ApplyArgs, DiffArgs, TargetArgs};
use crate::config::ActiveProfile;
use crate::manifest::{self, Manifest};
use crate::output::style;
use crate::output::ErrorReport;
use plan::{Action, Change, Outcome};

/// One portal's part of a run.
struct PortalRun {
    name: String,
    portal: String,
    /// `None` when the profile could not even be loaded.
    client: Option<Arc<Client>>,
    outcome: Result<Vec<Change>, anyhow::Error>,
    /// How the portal's failure reads with its fix (code, message, hint).
    report: Option<ErrorReport>,
}

impl PortalRun {
    fn failed(
        name: String,
        portal: String,
        error: anyhow::Error,
        hint: Option<&ActiveProfile>,
    ) -> Self {
        let failure = Failure {
            error,
            profile: hint.map(ProfileHint::of),
        };
        let report = classify(&failure).report;
        Self {
            name,
            portal,
            client: None,
            outcome: Err(failure.error),
            report: Some(report),
        }
    }
}

#[derive(Debug, Default, Serialize)]
struct Summary {
    bind: usize,
    unbind: usize,
    keep: usize,
    failed: usize,
    /// Portals worked on, and how many of them could not be planned.
    portals: usize,
    portals_failed: usize,
}

/// Failed portals named one by one in the exit error; the rest are counted.
const NAMED_FAILURES: usize = 10;

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
        let text = super::context::read_stdin("the subscriptions file")
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

/// A progress bar on a terminal for runs long enough to want one.
fn progress_bar(ctx: &Context, length: u64, unit: &str) -> Option<ProgressBar> {
    (length > 1 && !ctx.out.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(
        || {
            let bar = ProgressBar::new(length);
            bar.set_style(
                ProgressStyle::with_template(&format!("{{bar:30}} {{pos}}/{{len}} {unit} {{msg}}"))
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        },
    )
}

/// Plans every portal concurrently (at most `concurrency` at a time).
async fn plan_all(
    ctx: &Context,
    args: &TargetArgs,
    manifest: &Arc<Manifest>,
    prune: bool,
) -> anyhow::Result<Vec<PortalRun>> {
    let targets = targets(ctx, &args.fleet)?;
    let fleet = targets.len() > 1;
    if fleet {
        crate::support::limits::raise_open_file_limit();
    }
    let progress = progress_bar(ctx, targets.len() as u64, "portals planned");
    let limit = Arc::new(Semaphore::new(usize::from(args.fleet.concurrency)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut runs: Vec<Option<PortalRun>> = Vec::with_capacity(targets.len());
    let mut profiles: Vec<Option<ActiveProfile>> = Vec::with_capacity(targets.len());
    for (index, target) in targets.into_iter().enumerate() {
        let profile = match target {
            Target::Ready(profile) => *profile,
            Target::Unusable {
                name,
                portal,
                error,
            } => {
                runs.push(Some(PortalRun::failed(name, portal, error, None)));
                profiles.push(None);
                continue;
            }
        };
        let client = match ctx.client_for(&profile) {
            Ok(client) => Arc::new(client),
            Err(error) if fleet => {
                runs.push(Some(PortalRun::failed(
                    profile.name.clone(),
                    profile.settings.portal.clone(),
                    error,
                    Some(&profile),
                )));
                profiles.push(None);
                continue;
            }
            Err(error) => return Err(error),
        };
        let (manifest, limit, name) = (manifest.clone(), limit.clone(), profile.name.clone());
        let bar = progress.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let outcome = plan::plan(&client, &manifest, prune, &name)
                .await
                .map_err(anyhow::Error::from);
            if let Some(bar) = bar {
                bar.inc(1);
            }
            (index, client, outcome)
        });
        runs.push(None);
        profiles.push(Some(profile));
    }
    while let Some(joined) = tasks.join_next().await {
        let (index, client, outcome) = joined.context("a planning task failed")?;
        let Some(profile) = profiles[index].take() else {
            continue;
        };
        runs[index] = Some(match outcome {
            Ok(changes) => PortalRun {
                name: profile.name.clone(),
                portal: profile.settings.portal.clone(),
                client: Some(client),
                outcome: Ok(changes),
                report: None,
            },
            Err(error) => PortalRun::failed(
                profile.name.clone(),
                profile.settings.portal.clone(),
                error,
                Some(&profile),
            ),
        });
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    Ok(runs.into_iter().flatten().collect())
}

pub(crate) async fn diff(ctx: &Context, args: &DiffArgs) -> anyhow::Result<()> {
    let path = manifest_path(ctx, args.target.file.as_deref());
    let manifest = Arc::new(read_manifest(ctx, &path)?);
    let mut runs = plan_all(ctx, &args.target, &manifest, true).await?;
    let unlisted = if args.prune {
        0
    } else {
        set_aside_unlisted(&mut runs)
    };
    render(ctx, &runs);
    if let Some(error) = portal_failure(&mut runs) {
        return Err(error);
    }
    let drift = runs
        .iter()
        .flat_map(|r| r.outcome.as_ref().ok().into_iter().flatten())
        .filter(|c| c.action != Action::Keep)
        .count();
    let unbindable = runs
        .iter()
        .flat_map(|r| r.outcome.as_ref().ok().into_iter().flatten())
        .filter(|c| c.result == Outcome::Failed)
        .count();
    if unbindable > 0 {
        return Err(CliError::Failed(format!(
            "{unbindable} subscription(s) of the file cannot be bound (see the lines marked failed above); fix the file before `apply`"
        ))
        .into());
    }
    let fix = apply_command(args.target.file.as_deref(), args.prune);
    if drift == 0 {
        ctx.out.info(&format!(
            "In sync: nothing to bind or unbind.{}",
            unlisted_note(unlisted, args.target.file.as_deref())
        ));
    } else if args.exit_code {
        return Err(CliError::NotInSync(format!(
            "not in sync: {drift} change(s) needed; run `{fix}`"
        ))
        .into());
    }
    Ok(())
}

pub(crate) async fn apply(ctx: &Context, args: &ApplyArgs) -> anyhow::Result<()> {
    let path = manifest_path(ctx, args.target.file.as_deref());
    let manifest = Arc::new(read_manifest(ctx, &path)?);
    let mut runs = plan_all(ctx, &args.target, &manifest, true).await?;
    let unlisted = if args.prune {
        0
    } else {
        set_aside_unlisted(&mut runs)
    };
    let changes = |action| {
        runs.iter()
            .flat_map(|r| r.outcome.as_ref().ok().into_iter().flatten())
            .filter(|c| c.action == action)
            .count()
    };
    let (binds, unbinds) = (changes(Action::Bind), changes(Action::Unbind));
    if args.dry_run || binds + unbinds == 0 {
        report_plan(ctx, &mut runs, &manifest, args.dry_run, binds, unbinds)?;
        if unlisted > 0 {
            ctx.out
                .info(unlisted_note(unlisted, args.target.file.as_deref()).trim_start());
        }
        return Ok(());
    }
    if unbinds > 0 && !ctx.global.yes {
        render(ctx, &runs);
        if !ctx.confirm(&format!(
            "Unbind {unbinds} binding(s) that the file does not list?"
        ))? {
            return Err(CliError::Failed("cancelled; nothing was changed".into()).into());
        }
    }
    execute_all(ctx, &mut runs, usize::from(args.target.fleet.concurrency)).await?;
    render(ctx, &runs);
    let summary = summarise(&runs);
    ctx.out.info(&format!(
        "Applied: {} bound, {} unbound, {} unchanged, {} failed.{}{}",
        summary.bind,
        summary.unbind,
        summary.keep,
        summary.failed,
        portals_note(&summary),
        unlisted_note(unlisted, args.target.file.as_deref())
    ));
    if let Some(error) = portal_failure(&mut runs) {
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

/// Takes the unbinds out of a plan made with pruning, for a run without it: the
/// bindings the file does not list are then only counted, to be mentioned.
fn set_aside_unlisted(runs: &mut [PortalRun]) -> usize {
    let mut unlisted = 0;
    for run in runs {
        if let Ok(changes) = &mut run.outcome {
            let before = changes.len();
            changes.retain(|change| change.action != Action::Unbind);
            unlisted += before - changes.len();
        }
    }
    unlisted
}

/// The `apply` command that carries out what `diff` found.
fn apply_command(file: Option<&str>, prune: bool) -> String {
    let mut command = String::from("bx-events apply");
    if let Some(file) = file {
        command.push_str(&format!(" -f {file}"));
    }
    if prune {
        command.push_str(" --prune");
    }
    command
}

/// What to say of bindings on the portal that the file does not list, when they
/// were left alone (no `--prune`).
fn unlisted_note(unlisted: usize, file: Option<&str>) -> String {
    if unlisted == 0 {
        return String::new();
    }
    format!(
        " {unlisted} binding(s) on the portal are not in the file and were left alone; `{}` removes them.",
        apply_command(file, true)
    )
}

/// Shows a plan that is not carried out: a dry run, or nothing to change.
fn report_plan(
    ctx: &Context,
    runs: &mut [PortalRun],
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
    match portal_failure(runs) {
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
    let progress = progress_bar(ctx, total_batches, "batches");
    let limit = Arc::new(Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, run) in runs.iter_mut().enumerate() {
        let (Ok(changes), Some(client)) = (run.outcome.as_mut(), run.client.clone()) else {
            continue;
        };
        let mut changes = std::mem::take(changes);
        let (limit, bar) = (limit.clone(), progress.clone());
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
/// error (keeping its exit code), or a summary naming the failed profiles.
fn portal_failure(runs: &mut [PortalRun]) -> Option<anyhow::Error> {
    let total = runs.len();
    let failed: Vec<&mut PortalRun> = runs.iter_mut().filter(|r| r.outcome.is_err()).collect();
    match (failed.len(), total) {
        (0, _) => None,
        (1, 1) => {
            let run = failed.into_iter().next()?;
            let name = run.name.clone();
            let error = std::mem::replace(&mut run.outcome, Ok(Vec::new())).err()?;
            Some(error.context(format!("profile '{name}'")))
        }
        (count, _) => {
            let named: Vec<String> = failed
                .iter()
                .take(NAMED_FAILURES)
                .map(|run| {
                    let message = run
                        .report
                        .as_ref()
                        .map(|r| r.message.clone())
                        .unwrap_or_default();
                    format!("{}: {message}", run.name)
                })
                .collect();
            let more = count.saturating_sub(NAMED_FAILURES);
            Some(
                CliError::Failed(format!(
                    "{count} of {total} portal(s) failed: {}{}",
                    named.join("; "),
                    if more > 0 {
                        format!("; and {more} more (-o json lists each with its fix)")
                    } else {
                        String::new()
                    }
                ))
                .into(),
            )
        }
    }
}

/// " Portals: 199 ok, 1 failed." for fleet runs; nothing for one portal.
fn portals_note(summary: &Summary) -> String {
    if summary.portals < 2 {
        return String::new();
    }
    format!(
        " Portals: {} ok, {} failed.",
        summary.portals - summary.portals_failed,
        summary.portals_failed
    )
}

fn summarise(runs: &[PortalRun]) -> Summary {
    let mut summary = Summary {
        portals: runs.len(),
        portals_failed: runs.iter().filter(|r| r.outcome.is_err()).count(),
        ..Summary::default()
    };
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

/// One portal's counts and failure, for JSON and the fleet view.
#[derive(Debug, Serialize)]
struct PortalResult<'a> {
    profile: &'a str,
    portal: &'a str,
    bind: usize,
    unbind: usize,
    keep: usize,
    failed: usize,
    error: Option<&'a ErrorReport>,
}

impl<'a> PortalResult<'a> {
    fn of(run: &'a PortalRun) -> Self {
        let mut result = Self {
            profile: &run.name,
            portal: &run.portal,
            bind: 0,
            unbind: 0,
            keep: 0,
            failed: 0,
            error: run.report.as_ref(),
        };
        for change in run.outcome.as_ref().ok().into_iter().flatten() {
            if change.result == Outcome::Failed {
                result.failed += 1;
                continue;
            }
            match change.action {
                Action::Bind => result.bind += 1,
                Action::Unbind => result.unbind += 1,
                Action::Keep => result.keep += 1,
            }
        }
        result
    }
}

/// Prints the plan or results: diff-like lines, JSON, or NDJSON. With several
/// portals the table shows each portal's counts and only the lines that change
/// something, so a fleet's unchanged subscriptions do not bury its drift.
fn render(ctx: &Context, runs: &[PortalRun]) {
    let summary = summarise(runs);
    let all: Vec<&Change> = runs
        .iter()
        .flat_map(|r| r.outcome.as_ref().ok().into_iter().flatten())
        .collect();
    let errors: Vec<serde_json::Value> = runs
        .iter()
        .filter_map(|r| {
            r.outcome.as_ref().err().map(|e| {
                json!({
                    "profile": r.name,
                    "error": format!("{e:#}"),
                    "code": r.report.as_ref().map(|r| &r.code),
                    "hint": r.report.as_ref().and_then(|r| r.hint.as_ref()),
                })
            })
        })
        .collect();
    match ctx.out.format {
        crate::output::OutputFormat::Json => {
            let portals: Vec<PortalResult> = runs.iter().map(PortalResult::of).collect();
            let mut body = json!({"changes": all, "summary": summary, "portals": portals});
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
            let fleet = runs.len() > 1;
            let mut text = String::new();
            for run in runs {
                if fleet {
                    let counts = PortalResult::of(run);
                    let state = if run.outcome.is_err() {
                        "failed".to_string()
                    } else {
                        format!(
                            "+{} -{} ={}{}",
                            counts.bind,
                            counts.unbind,
                            counts.keep,
                            if counts.failed > 0 {
                                format!(" ({} failed)", counts.failed)
                            } else {
                                String::new()
                            }
                        )
                    };
                    text.push_str(&format!("{} ({}): {state}\n", run.name, run.portal));
                }
                match &run.outcome {
                    Ok(changes) => {
                        let shown: Vec<&Change> = changes
                            .iter()
                            .filter(|c| !fleet || c.action != Action::Keep)
                            .collect();
                        let width = shown
                            .iter()
                            .map(|c| c.binding.event.len())
                            .max()
                            .unwrap_or(0);
                        for change in shown {
                            text.push_str(&plan_line(ctx, change, width));
                            text.push('\n');
                        }
                    }
                    Err(error) => {
                        text.push_str(&format!("  error: {error:#}\n"));
                        if let Some(hint) = run.report.as_ref().and_then(|r| r.hint.as_ref()) {
                            text.push_str(&format!("  hint: {hint}\n"));
                        }
                    }
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
