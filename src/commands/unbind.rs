//! `unbind EVENT [HANDLER]` and `unbind --all`: `event.unbind`, singly or through `batch`.

use serde::Serialize;

use super::bind::build_request;
use super::context::Context;
use super::errors::CliError;
use super::list::BindingRow;
use super::patterns::{name_matches, PlainPattern};
use crate::bitrix::events::{self, BindRequest, BindingKind};
use crate::cli::UnbindArgs;

/// The JSON printed by `unbind`: what was asked to be removed and how many went.
#[derive(Debug, Serialize)]
pub(crate) struct UnbindResult {
    pub event: String,
    pub handler: Option<String>,
    /// `null` when every user's handler was meant.
    pub auth_type: Option<i64>,
    #[serde(rename = "type")]
    pub kind: BindingKind,
    pub connector: Option<String>,
    pub count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl UnbindResult {
    fn new(request: &BindRequest, count: u64, error: Option<String>) -> Self {
        Self {
            event: request.event.clone(),
            handler: request.handler.clone(),
            auth_type: request.auth_type,
            kind: request.kind,
            connector: request.connector.clone(),
            count,
            error,
        }
    }
}

pub(crate) async fn run(ctx: &Context, args: &UnbindArgs) -> anyhow::Result<()> {
    if args.all {
        return unbind_all(ctx, args).await;
    }
    let event = args.event.as_deref().unwrap_or_default();
    let request = build_request(
        ctx,
        event,
        args.handler.as_deref(),
        args.offline,
        args.auth_type,
        args.connector.as_deref(),
    )?;
    let (_, client) = ctx.connect()?;
    let count = if args.dry_run {
        let existing = events::list_bindings(&client).await?;
        existing
            .iter()
            .filter(|b| request.unbind_matches(b))
            .count() as u64
    } else {
        events::unbind(&client, &request).await?
    };
    let verb = if args.dry_run {
        "Would remove"
    } else {
        "Removed"
    };
    if count == 0 {
        ctx.out.info(&format!(
            "Nothing matched: no {} binding of {} to remove",
            request.kind, request.event
        ));
        if let Some(hint) = near_misses(&client, &request).await {
            ctx.out.info(&hint);
        }
    } else {
        ctx.out
            .success(&format!("{verb} {count} binding(s) of {}", request.event));
    }
    let result = UnbindResult::new(&request, count, None);
    ctx.out.record(&result, || {
        results_table(ctx, std::slice::from_ref(&result))
    });
    Ok(())
}

/// When nothing matched, what is bound that the user may have meant: the same
/// event with other handlers, or events with a similar name.
async fn near_misses(client: &crate::bitrix::Client, request: &BindRequest) -> Option<String> {
    let bindings = events::list_bindings(client).await.ok()?;
    let same_event: Vec<String> = bindings
        .iter()
        .filter(|b| b.event == request.event && b.kind == request.kind)
        .map(|b| b.handler.clone().unwrap_or_else(|| "(offline)".into()))
        .collect();
    if !same_event.is_empty() {
        return Some(format!(
            "{} is bound to: {}",
            request.event,
            same_event.join(", ")
        ));
    }
    let names: Vec<String> = bindings.iter().map(|b| b.event.clone()).collect();
    let similar = super::suggest::nearest_names(&request.event, &names);
    (!similar.is_empty())
        .then(|| format!("bound events with similar names: {}", similar.join(", ")))
}

async fn unbind_all(ctx: &Context, args: &UnbindArgs) -> anyhow::Result<()> {
    if args.handler.is_some() {
        return Err(CliError::Usage("with --all, give the handler as --handler URL".into()).into());
    }
    let event_pattern = args.event_filter.as_deref().or(args.event.as_deref());
    let (profile, client) = ctx.connect()?;
    let mut matched = Vec::new();
    let (bindings, admin) = events::list_bindings_and_role(&client).await?;
    for binding in bindings {
        let event_ok = match event_pattern {
            Some(pattern) => name_matches(pattern, &binding.event, PlainPattern::Exact)?,
            None => true,
        };
        let handler_ok = match args.handler_filter.as_deref() {
            Some(pattern) => super::patterns::handler_matches(pattern, binding.handler.as_deref())?,
            None => true,
        };
        if event_ok && handler_ok {
            matched.push(binding);
        }
    }
    let requests: Vec<BindRequest> = matched
        .iter()
        .map(|binding| {
            let mut request = BindRequest::exact(binding);
            if !admin {
                // In `batch` the value is text, which the portal refuses from a
                // non-administrator; it matches their own id by itself.
                request.auth_type = None;
            }
            request
        })
        .collect();
    if requests.is_empty() {
        ctx.out.info("Nothing matched; no binding removed.");
        ctx.out.machine_list(&Vec::<UnbindResult>::new());
        return Ok(());
    }
    if args.dry_run {
        ctx.out.info(&format!(
            "Would remove {} binding(s) (dry run)",
            requests.len()
        ));
        let results: Vec<UnbindResult> = requests
            .iter()
            .map(|r| UnbindResult::new(r, 1, None))
            .collect();
        ctx.out.list(&results, || results_table(ctx, &results));
        return Ok(());
    }
    if !ctx.global.yes {
        ctx.out
            .table_to_stderr(&super::list::bindings_table(&ctx.out, &matched));
    }
    let question = format!(
        "Remove these {} binding(s) from {}?",
        requests.len(),
        profile.settings.portal
    );
    if !ctx.confirm(&question)? {
        return Err(CliError::Failed("cancelled; nothing was removed".into()).into());
    }
    let outcomes = events::unbind_many(&client, &requests).await?;
    let mut failures = 0;
    let results: Vec<UnbindResult> = requests
        .iter()
        .zip(outcomes)
        .map(|(request, outcome)| match outcome {
            Ok(count) => UnbindResult::new(request, count, None),
            Err((code, description)) => {
                failures += 1;
                ctx.out.warn(&format!(
                    "could not unbind {} {}: {code}: {description}",
                    request.event,
                    request.handler.as_deref().unwrap_or("(offline)")
                ));
                UnbindResult::new(request, 0, Some(format!("{code}: {description}")))
            }
        })
        .collect();
    let removed: u64 = results.iter().map(|r| r.count).sum();
    ctx.out.success(&format!("Removed {removed} binding(s)"));
    ctx.out.list(&results, || results_table(ctx, &results));
    if failures > 0 {
        return Err(
            CliError::Failed(format!("{failures} of {} unbind(s) failed", results.len())).into(),
        );
    }
    Ok(())
}

fn results_table(ctx: &Context, results: &[UnbindResult]) -> crate::output::TextTable {
    let rows = results.iter().map(|result| {
        let row = BindingRow {
            event: &result.event,
            kind: result.kind,
            handler: result.handler.as_deref(),
            auth_type: match (result.kind, result.auth_type) {
                (BindingKind::Offline, _) => "-".into(),
                (_, Some(user)) => user.to_string(),
                // No auth_type sent: the portal removes it for every user.
                (_, None) => "all users".into(),
            },
            connector: result.connector.as_deref(),
        };
        let removed = match &result.error {
            Some(error) => format!("failed: {error}"),
            None => result.count.to_string(),
        };
        (row, removed)
    });
    super::list::binding_table(&ctx.out, Some("REMOVED"), rows)
}
