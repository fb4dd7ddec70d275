//! `bind EVENT [HANDLER]`: idempotent `event.bind`, with checks and suggestions.

use serde::Serialize;

use super::context::Context;
use super::errors::CliError;
use super::errors::Hinted;
use super::list::BindingRow;
use crate::bitrix::events::{self, BindOutcome, BindRequest, Binding, BindingKind, EventsQuery};
use crate::bitrix::validate::{check_event_name, check_handler_url};
use crate::bitrix::{ApiError, Client};
use crate::cli::BindArgs;

/// The JSON printed by `bind`: the binding plus what happened.
#[derive(Debug, Serialize)]
pub(crate) struct BindResult {
    #[serde(flatten)]
    pub binding: Binding,
    pub status: BindStatus,
}

/// What `bind` did, or would do with `--dry-run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum BindStatus {
    Bound,
    AlreadyBound,
    WouldBind,
}

impl std::fmt::Display for BindStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Bound => "bound",
            Self::AlreadyBound => "already_bound",
            Self::WouldBind => "would_bind",
        })
    }
}

/// Turns the arguments shared by `bind` and `unbind` into a request, checking them
/// the way the portal would, before any request is made.
pub(crate) fn build_request(
    ctx: &Context,
    event: &str,
    handler: Option<&str>,
    offline: bool,
    auth_type: Option<i64>,
    connector: Option<&str>,
) -> anyhow::Result<BindRequest> {
    let event = check_event_name(event).map_err(CliError::Usage)?;
    if !offline && connector.is_some_and(|c| !c.is_empty()) {
        // The portal stores no connector for online handlers, so the binding would
        // never match what was asked for; the manifest refuses the same.
        return Err(CliError::Usage(
            "--connector applies to offline bindings only: add --offline to queue the event for that connector, or drop --connector".into(),
        )
        .into());
    }
    let kind = if offline {
        BindingKind::Offline
    } else {
        BindingKind::Online
    };
    let handler = match (kind, handler) {
        (BindingKind::Offline, Some(_)) => {
            ctx.out.warn("offline bindings have no handler URL; the portal ignores it");
            None
        }
        (BindingKind::Offline, None) => None,
        (BindingKind::Online, None) => {
            return Err(CliError::Usage(format!(
                "a handler URL is required for online bindings: `{event} https://your-host/path`; offline bindings (the event queue) have none: add --offline"
            ))
            .into())
        }
        (BindingKind::Online, Some(url)) => {
            match check_handler_url(url) {
                Ok(Some(warning)) => ctx.out.warn(&warning),
                Ok(None) => {}
                Err(error) => return Err(CliError::Usage(error.to_string()).into()),
            }
            Some(url.trim().to_string())
        }
    };
    if offline && auth_type.is_some() {
        ctx.out
            .warn("offline bindings are stored for user 0; --auth-type is ignored");
    }
    Ok(BindRequest {
        event,
        handler,
        auth_type: if offline { None } else { auth_type },
        kind,
        connector: connector.map(str::to_string).filter(|c| !c.is_empty()),
        min_timeout_secs: None,
    })
}

pub(crate) async fn run(ctx: &Context, args: &BindArgs) -> anyhow::Result<()> {
    let mut request = build_request(
        ctx,
        &args.event,
        args.handler.as_deref(),
        args.offline,
        args.auth_type,
        args.connector.as_deref(),
    )?;
    if let Some(seconds) = args.min_timeout_secs {
        if request.event != "ONOFFLINEEVENT" {
            ctx.out
                .warn("--min-timeout is used only by ONOFFLINEEVENT handlers");
        }
        request.min_timeout_secs = Some(seconds);
    }
    let (_, client) = ctx.connect()?;
    let expected = request.expected_binding();
    let status = if args.dry_run {
        // Check the name as a real bind would, without binding: the portal accepts
        // exactly the events `events` lists for the token's scopes.
        let known = events::list_events(&client, &EventsQuery::default()).await?;
        if !known.contains(&request.event) {
            let error = ApiError::Portal {
                method: "event.bind".into(),
                code: "ERROR_EVENT_NOT_FOUND".into(),
                description: "Event not found (checked without binding: --dry-run)".into(),
                status: 400,
                argument: None,
                reset_at: None,
            };
            return Err(explain_bind_error(&client, error, &request.event).await);
        }
        let existing = events::list_bindings(&client).await?;
        if existing.contains(&expected) {
            BindStatus::AlreadyBound
        } else {
            BindStatus::WouldBind
        }
    } else {
        match events::bind(&client, &request).await {
            Ok(BindOutcome::Bound) => BindStatus::Bound,
            Ok(BindOutcome::AlreadyBound) => BindStatus::AlreadyBound,
            Err(error) => return Err(explain_bind_error(&client, error, &request.event).await),
        }
    };
    let target = expected
        .handler
        .clone()
        .unwrap_or_else(|| "the offline queue".into());
    match status {
        BindStatus::Bound => ctx
            .out
            .success(&format!("Bound {} to {target}", expected.event)),
        BindStatus::AlreadyBound => ctx.out.info(&format!(
            "{} is already bound to {target}; nothing to do",
            expected.event
        )),
        BindStatus::WouldBind => ctx.out.info(&format!(
            "Would bind {} to {target} (dry run)",
            expected.event
        )),
    }
    let result = BindResult {
        binding: expected,
        status,
    };
    ctx.out.record(&result, || {
        super::list::binding_table(
            &ctx.out,
            Some("STATUS"),
            [(BindingRow::of(&result.binding), status.to_string())],
        )
    });
    Ok(())
}

/// Adds "did you mean" advice to `ERROR_EVENT_NOT_FOUND`.
pub(crate) async fn explain_bind_error(
    client: &Client,
    error: ApiError,
    event: &str,
) -> anyhow::Error {
    if !error.is_code("ERROR_EVENT_NOT_FOUND") {
        return error.into();
    }
    let known = events::list_events(client, &EventsQuery::default())
        .await
        .unwrap_or_default();
    Hinted::new(error, super::suggest::unknown_event_advice(event, &known)).into()
}
