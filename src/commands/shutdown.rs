//! Ctrl-C / SIGTERM as a signal commands can watch, so long-running ones stop cleanly.

use tokio::sync::watch;

/// Watches for an interruption request.
#[derive(Debug, Clone)]
pub struct Shutdown {
    receiver: watch::Receiver<bool>,
}

impl Shutdown {
    /// A pair: the sender trips it, the `Shutdown` observes it.
    pub fn channel() -> (watch::Sender<bool>, Self) {
        let (sender, receiver) = watch::channel(false);
        (sender, Self { receiver })
    }

    /// True once an interruption was requested.
    pub fn is_requested(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Resolves when an interruption is requested (at once if it already was).
    pub async fn requested(&self) {
        let mut receiver = self.receiver.clone();
        // An error means the sender is gone: no interruption can come any more.
        if receiver.wait_for(|requested| *requested).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Sleeps for `duration` unless interrupted first; returns false when interrupted.
    pub async fn sleep(&self, duration: std::time::Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(duration) => true,
            _ = self.requested() => false,
        }
    }
}
