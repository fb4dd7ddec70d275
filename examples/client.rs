//! The client library on its own, without the command-line tool: binds an offline
//! handler, lists the handlers, then drains the offline queue one reservation at a
//! time (read, handle, confirm). Builds with `--no-default-features`:
//!
//! ```text
//! bx-events sandbox --port 8765 &          # prints a portal URL and a token
//! BX_EVENTS_PORTAL=http://127.0.0.1:8765 BX_EVENTS_ACCESS_TOKEN=TOKEN \
//!   cargo run --no-default-features --example client
//! ```

use std::sync::Arc;

use bx_events::bitrix::events::{self, BindRequest, BindingKind};
use bx_events::bitrix::offline::{self, ClearSelection, GetQuery};
use bx_events::bitrix::{
    ApiError, Client, ClientOptions, Credentials, MemoryTokenStore, OAuthTokens, Secret,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let portal = std::env::var("BX_EVENTS_PORTAL")?;
    let token = std::env::var("BX_EVENTS_ACCESS_TOKEN")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(&portal, token))?;
    Ok(())
}

async fn run(portal: &str, token: String) -> Result<(), ApiError> {
    let endpoint = bx_events::bitrix::parse_portal_url(portal)
        .map_err(ApiError::InvalidRequest)?
        .join("rest/")
        .map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    // Without an application (client id and secret) the token is used until it
    // expires; with one, the client refreshes it and saves the new pair in the store.
    let store = Arc::new(MemoryTokenStore::new(OAuthTokens {
        access_token: Secret::new(token),
        refresh_token: None,
        expires_at: None,
    }));
    let credentials = Credentials::OAuth {
        endpoint,
        app: None,
        store,
    };
    let client = Client::new(credentials, ClientOptions::default())?;

    let request = BindRequest {
        event: "ONCRMDEALADD".into(),
        handler: None,
        auth_type: None,
        kind: BindingKind::Offline,
        connector: None,
        min_timeout_secs: None,
    };
    println!("bind: {:?}", events::bind(&client, &request).await?);
    for binding in events::list_bindings(&client).await? {
        println!("bound: {} ({:?})", binding.event, binding.kind);
    }

    // At least once: a reservation is confirmed only after its records are handled.
    let mut handled = 0;
    loop {
        let query = GetQuery {
            limit: Some(50),
            ..GetQuery::default()
        };
        let reservation = offline::get(&client, &query).await?;
        let Some(process_id) = reservation.process_id else {
            break;
        };
        if reservation.events.is_empty() {
            break;
        }
        for record in &reservation.events {
            println!("{} {} {}", record.id, record.event, record.data);
            handled += 1;
        }
        offline::clear(&client, &process_id, &ClearSelection::All, &None).await?;
    }
    println!(
        "handled {handled} offline records in {} requests",
        client.request_count()
    );
    Ok(())
}
