//! `list` (aliases `get`, `ls`): the registered handlers from `event.get`.

use comfy_table::Table;

use super::{name_matches, Context, PlainPattern};
use crate::bitrix::events::{list_bindings, Binding, BindingKind};
use crate::cli::ListArgs;
use crate::output::{cell, Output};

pub(crate) async fn run(ctx: &Context, args: &ListArgs) -> anyhow::Result<()> {
    let (_, client) = ctx.connect()?;
    let mut shown = Vec::new();
    for binding in list_bindings(&client).await? {
        if keep(args, &binding)? {
            shown.push(binding);
        }
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
    if let Some(text) = &args.handler {
        if !binding
            .handler
            .as_deref()
            .unwrap_or("")
            .contains(text.as_str())
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The table of bindings shared by `list` and `unbind --all`.
pub(crate) fn bindings_table(out: &Output, bindings: &[Binding]) -> Table {
    let mut table = out.table(&["EVENT", "TYPE", "HANDLER", "AUTH_TYPE", "CONNECTOR"]);
    for binding in bindings {
        table.add_row(vec![
            binding.event.clone(),
            binding.kind.to_string(),
            cell(binding.handler.as_deref()),
            binding.auth_type.to_string(),
            cell(binding.connector.as_deref()),
        ]);
    }
    table
}
