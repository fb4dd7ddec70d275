//! The authorization-code flow: authorize URL, browser, and the loopback redirect catcher.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::bitrix::form;
use crate::commands::context::Context;
use crate::commands::errors::CliError;

/// How long to wait for the user to approve in the browser.
const WAIT_FOR_REDIRECT: Duration = Duration::from_secs(300);

/// Sends the user to the portal's consent page and returns the code from the redirect.
pub(super) async fn obtain_code(
    ctx: &Context,
    portal: &url::Url,
    client_id: &str,
    port: u16,
) -> anyhow::Result<String> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
        CliError::Usage(format!(
            "cannot listen on 127.0.0.1:{port} for the OAuth redirect ({e}); pass --redirect-port PORT, or --code CODE"
        ))
    })?;
    // Port 0 picks a free one (the sandbox accepts any loopback redirect).
    let port = listener.local_addr().map_or(port, |address| address.port());
    let redirect_uri = format!("http://127.0.0.1:{port}/");
    let state = crate::support::random::random_hex(24);
    let mut authorize = portal.join("/oauth/authorize/")?;
    authorize
        .query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("state", &state)
        .append_pair("redirect_uri", &redirect_uri);
    ctx.out.notice(&format!(
        "Open this address in a browser and allow access:\n\n  {authorize}\n\nWaiting for the portal to redirect to {redirect_uri} ...\n(On a machine without a browser, copy the `code` parameter of the address the browser ends on and run `bx-events auth login ... --code CODE` within 30 seconds.)"
    ));
    if ctx.input_allowed && webbrowser::open(authorize.as_str()).is_err() {
        tracing::debug!("could not open a browser");
    }
    tokio::time::timeout(WAIT_FOR_REDIRECT, catch_redirect(&listener, &state))
        .await
        .map_err(|_| {
            CliError::Usage(
                "no authorization arrived within 5 minutes; run the login again, or use --code"
                    .into(),
            )
        })?
}

async fn catch_redirect(listener: &TcpListener, state: &str) -> anyhow::Result<String> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        let mut buffer = vec![0u8; 8192];
        let mut filled = 0;
        while filled < buffer.len() {
            let read = stream.read(&mut buffer[filled..]).await?;
            if read == 0 {
                break;
            }
            filled += read;
            if buffer[..filled].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        let head = String::from_utf8_lossy(&buffer[..filled]).to_string();
        let target = head.split_whitespace().nth(1).unwrap_or("/");
        let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
        let params = form::decode(query);
        let field = |name: &str| {
            params
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let (status, page, outcome) = match (field("code"), field("error")) {
            (_, Some(error)) => (
                "400 Bad Request",
                "Authorization was refused. You can close this tab.",
                Some(Err(CliError::Usage(format!(
                    "the portal refused authorization: {error}"
                )))),
            ),
            (Some(code), None) if field("state").as_deref() == Some(state) => (
                "200 OK",
                "bx-events is authorized. You can close this tab and return to the terminal.",
                Some(Ok(code)),
            ),
            (Some(_), None) => (
                "400 Bad Request",
                "The state parameter did not match; ignored.",
                None,
            ),
            (None, None) => ("404 Not Found", "Waiting for the portal's redirect.", None),
        };
        let body = format!("<!doctype html><title>bx-events</title><p>{page}</p>");
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
        if let Some(outcome) = outcome {
            return outcome.map_err(Into::into);
        }
    }
}
