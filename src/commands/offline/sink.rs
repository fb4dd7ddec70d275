//! Where `consume` delivers records: a shell command, an HTTP endpoint, or stdout.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::portal_form::PortalIdentity;
use crate::bitrix::client::http_client;
use crate::bitrix::offline::OfflineRecord;
use crate::bitrix::ClientOptions;
use crate::cli::ConsumeArgs;
use crate::commands::CliError;

/// A delivery target.
pub(super) enum Sink {
    Exec {
        command: String,
        timeout: Duration,
    },
    Forward {
        url: url::Url,
        http: reqwest::Client,
        /// `--format portal`: who the portal-shaped requests come from.
        portal: Option<Box<PortalIdentity>>,
    },
    Stdout,
}

impl Sink {
    pub(super) fn from_args(args: &ConsumeArgs) -> anyhow::Result<Self> {
        Self::new(
            args.exec.as_deref(),
            args.forward_to.as_deref(),
            args.handler_timeout,
        )
    }

    /// A command (`--exec`), else a URL (`--forward-to`), else stdout.
    pub(super) fn new(
        exec: Option<&str>,
        forward_to: Option<&str>,
        handler_timeout: u64,
    ) -> anyhow::Result<Self> {
        let timeout = Duration::from_secs(handler_timeout.max(1));
        if let Some(command) = exec {
            if command.trim().is_empty() {
                return Err(CliError::Usage("--exec needs a command".into()).into());
            }
            return Ok(Self::Exec {
                command: command.to_string(),
                timeout,
            });
        }
        if let Some(raw) = forward_to {
            let url = crate::commands::http_url(raw, "--forward-to")?;
            let http = http_client(&ClientOptions {
                timeout,
                ..ClientOptions::default()
            })?;
            return Ok(Self::Forward {
                url,
                http,
                portal: None,
            });
        }
        Ok(Self::Stdout)
    }

    /// Makes `--forward-to` POST the portal's online form instead of JSON.
    pub(super) fn use_portal_form(&mut self, identity: PortalIdentity) {
        if let Self::Forward { portal, .. } = self {
            *portal = Some(Box::new(identity));
        }
    }

    /// Delivers one record.
    pub(super) async fn deliver(
        &self,
        record: &OfflineRecord,
        process_id: Option<&str>,
    ) -> Result<(), DeliveryError> {
        let json =
            serde_json::to_string(record).map_err(|e| DeliveryError::Failed(e.to_string()))?;
        match self {
            Self::Stdout => {
                use std::io::Write;
                let mut stdout = std::io::stdout().lock();
                let mut line = json.into_bytes();
                line.push(b'\n');
                stdout
                    .write_all(&line)
                    .and_then(|()| stdout.flush())
                    // Any failure to write stdout (a closed pipe, a full disk under a
                    // redirection) makes the sink unusable, not the record bad.
                    .map_err(|e| match e.kind() {
                        std::io::ErrorKind::BrokenPipe => DeliveryError::Closed {
                            by_reader: true,
                            why: "stdout was closed by its reader".into(),
                        },
                        _ => DeliveryError::Closed {
                            by_reader: false,
                            why: format!("cannot write stdout: {e}"),
                        },
                    })
            }
            Self::Forward { url, http, portal } => {
                let (content_type, body) = match portal {
                    Some(identity) => (
                        "application/x-www-form-urlencoded",
                        super::portal_form::form_body(record, identity),
                    ),
                    None => ("application/json", json),
                };
                let response = http
                    .post(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| {
                        DeliveryError::Failed(format!("POST failed: {}", e.without_url()))
                    })?;
                let status = response.status();
                if status.is_success() {
                    Ok(())
                } else {
                    Err(DeliveryError::Failed(format!(
                        "handler answered HTTP {}",
                        status.as_u16()
                    )))
                }
            }
            Self::Exec { command, timeout } => {
                run_command(command, *timeout, record, process_id, &json)
                    .await
                    .map_err(DeliveryError::Failed)
            }
        }
    }
}

/// Why a delivery did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DeliveryError {
    /// The handler refused or failed this record.
    Failed(String),
    /// The sink is gone (stdout's reader closed the pipe, or stdout cannot be
    /// written): nothing more can be delivered, and what was written lately may
    /// never have been read.
    Closed {
        /// The reader went away (`| head`): a normal way for a pipeline to end.
        by_reader: bool,
        why: String,
    },
}

impl std::fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Failed(why) => f.write_str(why),
            Self::Closed { why, .. } => f.write_str(why),
        }
    }
}

async fn run_command(
    command: &str,
    timeout: Duration,
    record: &OfflineRecord,
    process_id: Option<&str>,
    json: &str,
) -> Result<(), String> {
    let mut child = tokio::process::Command::new("sh");
    child
        .arg("-c")
        .arg(command)
        .env("BX_EVENT_NAME", &record.event)
        .env("BX_EVENT_ID", record.id.to_string())
        .env("BX_MESSAGE_ID", &record.message_id)
        .env("BX_PROCESS_ID", process_id.unwrap_or(""))
        .stdin(Stdio::piped())
        .stdout(handler_stdout())
        .kill_on_drop(true);
    crate::config::env::remove_secrets(&mut child);
    // Its own process group: a Ctrl-C at the terminal stops the consumer gracefully
    // and must not kill the handler in the middle of a record.
    #[cfg(unix)]
    child.process_group(0);
    let mut child = child.spawn().map_err(|e| format!("cannot run sh: {e}"))?;
    let group = child.id();
    let stdin = child.stdin.take();
    // The timeout covers feeding the record too: a handler that never reads its
    // input must not hold the consumer beyond it.
    let run = async {
        if let Some(mut stdin) = stdin {
            // A handler that ignores its input may exit before reading it: not an error.
            let _ = stdin.write_all(json.as_bytes()).await;
            let _ = stdin.write_all(b"\n").await;
            drop(stdin);
        }
        child.wait().await
    };
    let outcome = tokio::time::timeout(timeout, run).await;
    match outcome {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(match status.code() {
            Some(code) => format!("exit code {code}"),
            None => "killed by a signal".into(),
        }),
        Ok(Err(e)) => Err(format!("waiting for the handler: {e}")),
        Err(_) => {
            kill_group(group);
            let _ = child.kill().await;
            Err(format!(
                "timed out after {} s; its process group was killed",
                timeout.as_secs()
            ))
        }
    }
}

/// Kills the handler's whole process group (the shell and everything it started).
fn kill_group(group: Option<u32>) {
    #[cfg(unix)]
    if let Some(id) = group.and_then(|id| libc::pid_t::try_from(id).ok()) {
        // SAFETY: killpg only sends a signal; the group is the handler's own,
        // created with process_group(0) at spawn.
        unsafe {
            libc::killpg(id, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = group;
}

/// The handler's own output goes to our stderr: stdout is for data.
fn handler_stdout() -> Stdio {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        if let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() {
            return Stdio::from(fd);
        }
    }
    Stdio::inherit()
}
