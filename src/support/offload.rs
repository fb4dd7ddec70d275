//! State whose operations block (a file sync, a database round trip), driven
//! from async code on tokio's blocking threads, so that no runtime worker waits
//! on them: a fleet runs every portal's turn on the same workers.

use std::sync::{Arc, Mutex, MutexGuard};

/// A blocking step that never ran: the runtime was shutting down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a blocking step was cancelled: the runtime is shutting down")
    }
}

impl std::error::Error for Cancelled {}

/// Runs `work` on one of tokio's blocking threads and waits for it without
/// holding a worker. A panic in `work` is a bug: it carries on here.
pub(crate) async fn blocking<R: Send + 'static>(
    work: impl FnOnce() -> R + Send + 'static,
) -> Result<R, Cancelled> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => Ok(result),
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => Err(Cancelled),
    }
}

/// A value whose slow operations run on a blocking thread and whose quick,
/// in-memory ones run where they are called.
pub(crate) struct Offloaded<T>(Arc<Mutex<T>>);

impl<T: Send + 'static> Offloaded<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(Arc::new(Mutex::new(value)))
    }

    /// Runs `work` on the value, on a blocking thread ([`blocking`]).
    pub(crate) async fn run<R, E>(
        &self,
        work: impl FnOnce(&mut T) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<Cancelled> + Send + 'static,
    {
        let shared = self.0.clone();
        blocking(move || work(&mut lock(&shared))).await?
    }

    /// Runs quick work that does no I/O, on this thread.
    pub(crate) fn now<R>(&self, work: impl FnOnce(&mut T) -> R) -> R {
        work(&mut lock(&self.0))
    }
}

/// The value, even when a panic on another thread poisoned the lock (the
/// panic itself is reported there).
fn lock<T>(shared: &Mutex<T>) -> MutexGuard<'_, T> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The work's own error, or the step never running.
    #[derive(Debug, PartialEq)]
    enum Failure {
        DiskFull,
        Cancelled,
    }

    impl From<Cancelled> for Failure {
        fn from(_: Cancelled) -> Self {
            Self::Cancelled
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn blocking_work_runs_off_the_runtime_thread_and_keeps_its_changes() {
        let offloaded = Offloaded::new(Vec::<std::thread::ThreadId>::new());
        let here = std::thread::current().id();
        offloaded
            .run(|seen| {
                seen.push(std::thread::current().id());
                Ok::<(), Failure>(())
            })
            .await
            .unwrap();
        let seen = offloaded.now(|seen| seen.clone());
        assert_eq!(seen.len(), 1);
        assert_ne!(
            seen[0], here,
            "the blocking work ran on the runtime's thread"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_error_from_the_work_is_returned() {
        let offloaded = Offloaded::new(0);
        let result: Result<(), Failure> = offloaded.run(|_| Err(Failure::DiskFull)).await;
        assert_eq!(result, Err(Failure::DiskFull));
    }
}
