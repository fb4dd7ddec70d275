//! `list` (aliases `get`, `ls`): the registered handlers from `event.get`.

use crate::output::TextTable as Table;

use super::context::Context;
use super::patterns::{name_matches, PlainPattern};
use crate::bitrix::events::{list_bindings, Binding, BindingKind};
use crate::cli::ListArgs;
use crate::output::{cell, Output};

pub(crate) async fn run(ctx: &Context, args: &ListArgs) -> anyhow::Result<()> {
    let (_, client) = ctx.connect()?;
    let mut shown = Vec::new();
    // Handlers that contain a plain `--handler` text without being it: `--handler`
    // used to match a substring, and a user who still means that is told so.
    let mut containing = 0;
    for binding in list_bindings(&client).await? {
        if keep(args, &binding)? {
            shown.push(binding);
        } else if let Some(text) = args
            .handler
            .as_deref()
            .filter(|t| !t.contains(['*', '?', '[']))
        {
            containing += usize::from(binding.handler.as_deref().is_some_and(|h| h.contains(text)));
        }
    }
    if shown.is_empty() && containing > 0 {
        ctx.out.info(&format!(
            "No handler is exactly '{}'; {containing} contain it: `--handler '*{}*'` matches them",
            args.handler.as_deref().unwrap_or_default(),
            args.handler.as_deref().unwrap_or_default()
        ));
    }
    // Machine formats stay quiet: `[]` says it all.
    if shown.is_empty() && ctx.out.is_table() {
        let filtered =
            args.event.is_some() || args.handler.is_some() || args.online || args.offline;
        ctx.out.info(if filtered {
            "No handlers matched."
        } else {
            "No handlers are bound."
        });
    }
    ctx.out.list(&shown, || bindings_table(&ctx.out, &shown));
    Ok(())
}

fn keep(args: &ListArgs, binding: &Binding) -> anyhow::Result<bool> {
    if args.online && binding.kind != BindingKind::Online
        || args.offline && binding.kind != BindingKind::Offline
    {
        return Ok(false);
    }
    if let Some(pattern) = &args.event {
        // The same rule as `events PATTERN`: a glob, or else a substring.
        if !name_matches(pattern, &binding.event, PlainPattern::Substring)? {
            return Ok(false);
        }
    }
    if let Some(pattern) = &args.handler {
        if !super::patterns::handler_matches(pattern, binding.handler.as_deref())? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The table of bindings shared by `list` and `unbind --all`.
pub(crate) fn bindings_table(out: &Output, bindings: &[Binding]) -> Table {
    binding_table(
        out,
        None,
        bindings.iter().map(|b| (BindingRow::of(b), String::new())),
    )
}

/// The columns every table of bindings shares (`list`, `bind`, `unbind`).
pub(crate) struct BindingRow<'a> {
    pub(crate) event: &'a str,
    pub(crate) kind: BindingKind,
    pub(crate) handler: Option<&'a str>,
    /// What AUTH_TYPE shows: the user id, or how the portal reads its absence.
    pub(crate) auth_type: String,
    pub(crate) connector: Option<&'a str>,
}

impl<'a> BindingRow<'a> {
    pub(crate) fn of(binding: &'a Binding) -> Self {
        Self {
            event: &binding.event,
            kind: binding.kind,
            handler: binding.handler.as_deref(),
            auth_type: binding.auth_type.to_string(),
            connector: binding.connector.as_deref(),
        }
    }
}

/// A table of bindings, with one more column (`STATUS`, `REMOVED`) when the
/// command has something to say about each.
pub(crate) fn binding_table<'a>(
    out: &Output,
    extra: Option<&str>,
    rows: impl IntoIterator<Item = (BindingRow<'a>, String)>,
) -> Table {
    let mut headers = vec!["EVENT", "TYPE", "HANDLER", "AUTH_TYPE", "CONNECTOR"];
    headers.extend(extra);
    let mut table = out.table(&headers);
    for (row, extra_cell) in rows {
        let mut cells = vec![
            row.event.to_string(),
            row.kind.to_string(),
            cell(row.handler),
            row.auth_type,
            cell(row.connector),
        ];
        if extra.is_some() {
            cells.push(extra_cell);
        }
        table.add_row(cells);
    }
    table
}
