//! The snapshot store of embedded mode: one process, so the lease is a field and the
//! announcements a watch channel.

use std::{sync::Mutex, time::Duration};

use alerting_handlers::{
    ports::{SnapshotError, SnapshotStore, StoreOutcome},
    snapshot_format::EncodedSnapshot,
};
use async_trait::async_trait;
use tokio::{
    sync::{mpsc, watch},
    time::Instant,
};

pub struct MemorySnapshotStore {
    state: Mutex<State>,
    announcements: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    snapshot: Option<EncodedSnapshot>,
    lease: Option<(String, Instant)>,
}

impl Default for MemorySnapshotStore {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            announcements: watch::channel(0).0,
        }
    }
}

impl MemorySnapshotStore {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl SnapshotStore for MemorySnapshotStore {
    async fn load(&self) -> Result<Option<EncodedSnapshot>, SnapshotError> {
        Ok(self.state().snapshot.clone())
    }

    async fn version(&self) -> Result<Option<u64>, SnapshotError> {
        Ok(self.state().snapshot.as_ref().map(EncodedSnapshot::version))
    }

    async fn store(
        &self,
        holder: &str,
        snapshot: &EncodedSnapshot,
    ) -> Result<StoreOutcome, SnapshotError> {
        let mut state = self.state();
        let holds =
            matches!(&state.lease, Some((h, until)) if h == holder && *until > Instant::now());
        if !holds {
            return Ok(StoreOutcome::NotLeaseHolder);
        }
        if let Some(current) = &state.snapshot
            && current.version() >= snapshot.version()
        {
            return Ok(StoreOutcome::NotNewer {
                current: current.version(),
            });
        }
        state.snapshot = Some(snapshot.clone());
        self.announcements.send_replace(snapshot.version());
        Ok(StoreOutcome::Written)
    }

    async fn try_acquire_lease(&self, holder: &str, ttl: Duration) -> Result<bool, SnapshotError> {
        let mut state = self.state();
        let now = Instant::now();
        let free = match &state.lease {
            None => true,
            Some((h, until)) => h == holder || *until <= now,
        };
        if free {
            state.lease = Some((holder.to_owned(), now + ttl));
        }
        Ok(free)
    }

    async fn renew_lease(&self, holder: &str, ttl: Duration) -> Result<bool, SnapshotError> {
        let mut state = self.state();
        let now = Instant::now();
        match &mut state.lease {
            Some((h, until)) if h == holder && *until > now => {
                *until = now + ttl;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release_lease(&self, holder: &str) -> Result<(), SnapshotError> {
        let mut state = self.state();
        if matches!(&state.lease, Some((h, _)) if h == holder) {
            state.lease = None;
        }
        Ok(())
    }

    async fn subscribe(&self) -> Result<mpsc::Receiver<u64>, SnapshotError> {
        let (sender, receiver) = mpsc::channel(16);
        let mut watch = self.announcements.subscribe();
        tokio::spawn(async move {
            while watch.changed().await.is_ok() {
                let version = *watch.borrow_and_update();
                if sender.send(version).await.is_err() {
                    break;
                }
            }
        });
        Ok(receiver)
    }
}
