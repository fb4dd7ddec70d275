//! `export`: the portal's current bindings as a subscriptions file `apply` accepts.

use super::context::Context;
use crate::bitrix::events::list_bindings;
use crate::manifest;
use crate::output::OutputFormat;

pub(crate) async fn run(ctx: &Context) -> anyhow::Result<()> {
    let (profile, client) = ctx.connect()?;
    let bindings = list_bindings(&client).await?;
    if ctx.out.format == OutputFormat::Table {
        let header = format!(
            "Subscriptions of {} (profile {}), exported by bx-events.\nApply with: bx-events apply -f FILE",
            profile.settings.portal, profile.name
        );
        crate::output::print_text(&manifest::export(&bindings, &header));
    } else {
        ctx.out.machine_list(&bindings);
    }
    if bindings.is_empty() {
        ctx.out
            .info("The portal has no bindings; the file lists no subscriptions.");
    }
    Ok(())
}
