//! The consume journal as the async consume loop drives it: its writes and
//! syncs (a file's `fdatasync`, a shared store's round trip) run on blocking
//! threads, so that a fleet's other portals keep their runtime workers meanwhile;
//! what it remembers is read in memory.

use crate::bitrix::offline::{MessageId, ProcessId};
use crate::support::offload::Offloaded;

use super::journal::{Intent, Journal, Pending, Settled};

/// A [`Journal`] whose slow steps run off the runtime's workers. Each method
/// does what the journal's method of the same name does.
pub(super) struct AsyncJournal {
    journal: Offloaded<Journal>,
    /// Where the journal is, for messages.
    location: String,
}

impl AsyncJournal {
    pub(super) fn new(journal: Journal) -> Self {
        Self {
            location: journal.location().to_string(),
            journal: Offloaded::new(journal),
        }
    }

    pub(super) fn location(&self) -> &str {
        &self.location
    }

    pub(super) fn pending(&self) -> Option<Pending> {
        self.journal.now(|journal| journal.pending().cloned())
    }

    pub(super) fn dangling_intent(&self) -> Option<Intent> {
        self.journal
            .now(|journal| journal.dangling_intent().cloned())
    }

    pub(super) async fn intend(&self, limit: u32, errors: bool) -> anyhow::Result<()> {
        self.journal
            .run(move |journal| journal.intend(limit, errors))
            .await
    }

    /// Records a reservation (made durable by the sync before its confirmation)
    /// and returns it as the journal now holds it.
    pub(super) async fn begin(
        &self,
        process_id: &ProcessId,
        errors: bool,
        message_ids: Vec<MessageId>,
    ) -> anyhow::Result<Pending> {
        let process_id = process_id.clone();
        self.journal
            .run(move |journal| {
                journal.begin(&process_id, errors, message_ids)?;
                journal.begun()
            })
            .await
    }

    pub(super) async fn resolve_intent(&self) -> anyhow::Result<()> {
        self.journal.run(Journal::resolve_intent).await
    }

    /// In memory until the next flush, entry or sync: no I/O, so it runs here.
    pub(super) fn record(&self, message_id: &MessageId, outcome: Settled) -> anyhow::Result<()> {
        self.journal
            .now(|journal| journal.record(message_id, outcome))
    }

    pub(super) async fn flush(&self) -> anyhow::Result<()> {
        self.journal.run(Journal::flush).await
    }

    pub(super) async fn forget_outcomes(&self, process_id: &ProcessId) -> anyhow::Result<()> {
        let process_id = process_id.clone();
        self.journal
            .run(move |journal| journal.forget_outcomes(&process_id))
            .await
    }

    pub(super) async fn sync(&self) -> anyhow::Result<()> {
        self.journal.run(Journal::sync).await
    }

    pub(super) async fn finish(&self, process_id: &ProcessId) -> anyhow::Result<()> {
        let process_id = process_id.clone();
        self.journal
            .run(move |journal| journal.finish(&process_id))
            .await
    }

    pub(super) async fn release(&self) {
        let _ = self
            .journal
            .run(|journal| {
                journal.release();
                Ok::<(), anyhow::Error>(())
            })
            .await;
    }
}
