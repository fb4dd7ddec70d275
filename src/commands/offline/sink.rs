//! Where `consume` delivers records: a shell command, an HTTP endpoint, or stdout.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::bitrix::client::http_client;
use crate::bitrix::offline::OfflineRecord;
use crate::bitrix::ClientOptions;
use crate::cli::ConsumeArgs;
use crate::commands::CliError;

/// A delivery target.
pub enum Sink {
    Exec {
        command: String,
        timeout: Duration,
    },
    Forward {
        url: url::Url,
        http: reqwest::Client,
    },
    Stdout,
}

impl Sink {
    pub fn from_args(args: &ConsumeArgs) -> anyhow::Result<Self> {
        let timeout = Duration::from_secs(args.handler_timeout.max(1));
        if let Some(command) = &args.exec {
            if command.trim().is_empty() {
                return Err(CliError::Usage("--exec needs a command".into()).into());
            }
            return Ok(Self::Exec {
                command: command.clone(),
                timeout,
            });
        }
        if let Some(raw) = &args.forward_to {
            let url = crate::commands::http_url(raw, "--forward-to")?;
            let http = http_client(&ClientOptions {
                timeout,
                ..ClientOptions::default()
            })?;
            return Ok(Self::Forward { url, http });
        }
        Ok(Self::Stdout)
    }

    /// Delivers one record; `Err` carries why it failed.
    pub async fn deliver(
        &self,
        record: &OfflineRecord,
        process_id: Option<&str>,
    ) -> Result<(), String> {
        let json = serde_json::to_string(record).map_err(|e| e.to_string())?;
        match self {
            Self::Stdout => {
                use std::io::Write;
                let mut stdout = std::io::stdout().lock();
                writeln!(stdout, "{json}")
                    .and_then(|_| stdout.flush())
                    .map_err(|e| format!("stdout: {e}"))
            }
            Self::Forward { url, http } => {
                let response = http
                    .post(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(json)
                    .send()
                    .await
                    .map_err(|e| format!("POST failed: {}", e.without_url()))?;
                let status = response.status();
                if status.is_success() {
                    Ok(())
                } else {
                    Err(format!("handler answered HTTP {}", status.as_u16()))
                }
            }
            Self::Exec { command, timeout } => {
                run_command(command, *timeout, record, process_id, &json).await
            }
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
    // Its own process group: a Ctrl-C at the terminal stops the consumer gracefully
    // and must not kill the handler in the middle of a record.
    #[cfg(unix)]
    child.process_group(0);
    let mut child = child.spawn().map_err(|e| format!("cannot run sh: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A handler that ignores its input may exit before reading it: not an error.
        let _ = stdin.write_all(json.as_bytes()).await;
        let _ = stdin.write_all(b"\n").await;
    }
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(match status.code() {
            Some(code) => format!("exit code {code}"),
            None => "killed by a signal".into(),
        }),
        Ok(Err(e)) => Err(format!("waiting for the handler: {e}")),
        Err(_) => {
            let _ = child.kill().await;
            Err(format!("timed out after {} s", timeout.as_secs()))
        }
    }
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
