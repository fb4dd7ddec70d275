//! Runs a user's handler command (`--exec` of `consume`, `dev` and `listen`):
//! `sh -c COMMAND` with the event on stdin and its facts in `BX_*` variables,
//! without the secret variables, in its own process group, under a timeout that
//! also covers feeding it the event, its output on our stderr (stdout is data).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

/// A handler command, ready to run once per event.
#[derive(Debug, Clone)]
pub(crate) struct HandlerCommand {
    command: String,
    timeout: Duration,
    /// `sh`, found on PATH once rather than for every event.
    shell: PathBuf,
}

/// How one run ended, when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HandlerFailure {
    /// The shell could not be started.
    CannotRun(String),
    /// It exited with this non-zero status.
    Exited(i32),
    /// A signal ended it.
    Signalled,
    /// It outlived the timeout; its process group was killed.
    TimedOut(Duration),
    /// Waiting for it failed.
    Lost(String),
}

impl std::fmt::Display for HandlerFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::CannotRun(why) => write!(f, "cannot run sh: {why}"),
            Self::Exited(code) => write!(f, "exit code {code}"),
            Self::Signalled => f.write_str("killed by a signal"),
            Self::TimedOut(after) => write!(
                f,
                "timed out after {} s; its process group was killed",
                after.as_secs()
            ),
            Self::Lost(why) => write!(f, "waiting for the handler: {why}"),
        }
    }
}

impl HandlerCommand {
    pub(crate) fn new(command: &str, timeout: Duration) -> Self {
        Self {
            command: command.to_string(),
            timeout: timeout.max(Duration::from_secs(1)),
            shell: find_shell(),
        }
    }

    /// Runs the command once with `input` (plus a line break) on its stdin and
    /// `variables` in its environment.
    pub(crate) async fn run(
        &self,
        variables: &[(&str, &str)],
        input: &[u8],
    ) -> Result<(), HandlerFailure> {
        let mut child = tokio::process::Command::new(&self.shell);
        child
            .arg("-c")
            .arg(&self.command)
            .envs(variables.iter().copied())
            .stdin(Stdio::piped())
            .stdout(our_stderr())
            .kill_on_drop(true);
        crate::config::env::remove_secrets(&mut child);
        // Its own process group: a Ctrl-C at the terminal stops bx-events gracefully
        // and must not kill the handler in the middle of an event.
        #[cfg(unix)]
        child.process_group(0);
        let mut child = child
            .spawn()
            .map_err(|e| HandlerFailure::CannotRun(e.to_string()))?;
        let group = child.id();
        let stdin = child.stdin.take();
        // The timeout covers feeding the event too: a handler that never reads its
        // input must not hold us beyond it.
        let run = async {
            if let Some(mut stdin) = stdin {
                // A handler that ignores its input may exit before reading it.
                let _ = stdin.write_all(input).await;
                let _ = stdin.write_all(b"\n").await;
                drop(stdin);
            }
            child.wait().await
        };
        match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(match status.code() {
                Some(code) => HandlerFailure::Exited(code),
                None => HandlerFailure::Signalled,
            }),
            Ok(Err(e)) => Err(HandlerFailure::Lost(e.to_string())),
            Err(_) => {
                kill_group(group);
                let _ = child.kill().await;
                Err(HandlerFailure::TimedOut(self.timeout))
            }
        }
    }
}

/// The first `sh` on PATH, or plain `sh` (then the spawn reports what is wrong).
fn find_shell() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("sh"))
                .find(|candidate| candidate.is_file())
        })
        .unwrap_or_else(|| PathBuf::from("sh"))
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
fn our_stderr() -> Stdio {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        if let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() {
            return Stdio::from(fd);
        }
    }
    Stdio::inherit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_exit_codes_and_passes_input_and_variables() {
        let ok = HandlerCommand::new(
            r#"read line; [ "$line" = "hello" ] && [ "$BX_EVENT_NAME" = "ONX" ]"#,
            Duration::from_secs(10),
        );
        assert_eq!(ok.run(&[("BX_EVENT_NAME", "ONX")], b"hello").await, Ok(()));
        let failing = HandlerCommand::new("exit 3", Duration::from_secs(10));
        assert_eq!(failing.run(&[], b"").await, Err(HandlerFailure::Exited(3)));
    }

    #[tokio::test]
    async fn a_handler_that_outlives_its_timeout_is_killed() {
        let slow = HandlerCommand::new("sleep 30", Duration::from_secs(1));
        assert_eq!(
            slow.run(&[], b"").await,
            Err(HandlerFailure::TimedOut(Duration::from_secs(1)))
        );
    }
}
