//! Live updates: what changed, pushed to open pages. The database announces every committed
//! change a page shows on the channel `loaner_live` (triggers, migration `live_updates`); one
//! `LISTEN` per process (a connection taken out of the pool for good) fans each announcement out
//! to every subscribed stream through a broadcast channel. A page's stream only says *that*
//! something changed; the page then reads it through its server function, which checks who
//! asks, as always.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use diesel_async::pooled_connection::deadpool::Object;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::StreamExt;
use tokio::sync::{broadcast, watch};

use super::DbPool;
use crate::types::{LoanId, UserId};

/// The channel the triggers notify.
pub const CHANNEL: &str = "loaner_live";

/// How many announcements a slow stream may fall behind before it is told to reload.
const BACKLOG: usize = 4096;

/// How many live pages one person may hold open at once (tabs, browsers), unless configured.
pub const DEFAULT_STREAMS_PER_PERSON: usize = 20;

/// One announcement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A loan or its history changed.
    Loan(LoanId),
    /// A machine changed.
    Machines,
    /// A manual-step task opened or closed.
    Tasks,
    /// A pool or the site's policy changed (the catalogue).
    Pools,
    /// Announcements may have been missed (the listener reconnected, or a stream fell behind):
    /// reload everything.
    Resync,
}

impl Change {
    /// Reads a notification's payload.
    pub fn parse(payload: &str) -> Option<Self> {
        match payload {
            "machines" => Some(Self::Machines),
            "tasks" => Some(Self::Tasks),
            "pools" => Some(Self::Pools),
            _ => payload
                .strip_prefix("loan:")
                .and_then(|id| id.parse().ok())
                .map(Self::Loan),
        }
    }

    /// Whether a page about `loan` must reload.
    pub fn concerns_loan(self, loan: LoanId) -> bool {
        matches!(self, Self::Loan(id) if id == loan) || self == Self::Resync
    }
}

/// The process's one listener and its subscribers.
#[derive(Clone)]
pub struct Live {
    inner: Arc<Inner>,
}

struct Inner {
    pool: DbPool,
    changes: broadcast::Sender<Change>,
    listening: watch::Sender<bool>,
    /// Counts announcements (and every start or loss of the listener): whatever was read from
    /// the database while it stays the same is still true (`version`).
    version: AtomicU64,
    /// Turns true when the process shuts down: every stream ends, so the server's graceful
    /// shutdown does not wait for pages left open.
    closing: watch::Sender<bool>,
    started: OnceLock<()>,
    /// Open streams per person, and how many one may hold.
    open: Mutex<HashMap<UserId, usize>>,
    per_person: usize,
}

/// One person's open stream, counted until dropped.
pub struct Ticket {
    inner: Arc<Inner>,
    user: UserId,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Ok(mut open) = self.inner.open.lock() {
            if let Some(n) = open.get_mut(&self.user) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.remove(&self.user);
                }
            }
        }
    }
}

impl Live {
    /// A hub on `pool` allowing `per_person` open streams to each person; it starts listening
    /// when the first page subscribes.
    pub fn new(pool: DbPool, per_person: usize) -> Self {
        let (changes, _) = broadcast::channel(BACKLOG);
        let (listening, _) = watch::channel(false);
        let (closing, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                pool,
                changes,
                listening,
                version: AtomicU64::new(0),
                closing,
                started: OnceLock::new(),
                open: Mutex::new(HashMap::new()),
                per_person,
            }),
        }
    }

    /// Every change from now on. Waits (up to `wait`) until the listener is listening, so that
    /// nothing committed after this returns is missed; `None` when it is not.
    pub async fn subscribe(&self, wait: Duration) -> Option<broadcast::Receiver<Change>> {
        self.start();
        let receiver = self.inner.changes.subscribe();
        let mut listening = self.inner.listening.subscribe();
        tokio::time::timeout(wait, listening.wait_for(|on| *on))
            .await
            .ok()?
            .ok()?;
        Some(receiver)
    }

    /// The database's version as this process knows it: it moves on with every announced
    /// change, so a value read from the database under one version is still current while the
    /// version stays the same. `None` while nobody listens (changes could go unseen); the first
    /// call starts the listener.
    pub fn version(&self) -> Option<u64> {
        self.start();
        self.inner
            .listening
            .borrow()
            .then(|| AtomicU64::load(&self.inner.version, Ordering::SeqCst))
    }

    fn start(&self) {
        self.inner.started.get_or_init(|| {
            tokio::spawn(listen(self.inner.clone()));
        });
    }

    /// How many streams one person may hold open.
    pub fn per_person(&self) -> usize {
        self.inner.per_person
    }

    /// Counts a new stream of `user`'s; `None` when they already hold `per_person`.
    pub fn admit(&self, user: UserId) -> Option<Ticket> {
        let mut open = self.inner.open.lock().ok()?;
        let n = open.entry(user).or_insert(0);
        if *n >= self.inner.per_person {
            return None;
        }
        *n += 1;
        Some(Ticket {
            inner: self.inner.clone(),
            user,
        })
    }

    /// Ends every stream (the process is shutting down).
    pub fn close(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Turns true when the streams must end.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }
}

/// Listens for good: reconnects after a failure (every stream is told to reload once the
/// listener is back, by `listen_once`).
async fn listen(inner: Arc<Inner>) {
    let mut failures = 0u32;
    loop {
        let result = listen_once(&inner).await;
        inner.listening.send_replace(false);
        inner.version.fetch_add(1, Ordering::SeqCst);
        if let Err(err) = result {
            tracing::warn!(error = %err, "live updates interrupted; reconnecting");
        }
        failures = failures.saturating_add(1);
        tokio::time::sleep(Duration::from_millis(250 * u64::from(failures.min(20)))).await;
    }
}

async fn listen_once(inner: &Inner) -> anyhow::Result<()> {
    let pooled = inner.pool.get().await?;
    // Out of the pool for good: a listening connection must never serve a request.
    let mut conn: AsyncPgConnection = Object::take(pooled);
    diesel::sql_query(format!("LISTEN {CHANNEL}"))
        .execute(&mut conn)
        .await?;
    inner.version.fetch_add(1, Ordering::SeqCst);
    inner.listening.send_replace(true);
    // Something may have changed while nobody listened.
    let _ = inner.changes.send(Change::Resync);
    let mut notifications = std::pin::pin!(conn.notifications_stream());
    while let Some(notification) = notifications.next().await {
        let notification = notification?;
        inner.version.fetch_add(1, Ordering::SeqCst);
        if let Some(change) = Change::parse(&notification.payload) {
            let _ = inner.changes.send(change);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_read_as_changes() {
        assert_eq!(Change::parse("loan:42"), Some(Change::Loan(LoanId(42))));
        assert_eq!(Change::parse("machines"), Some(Change::Machines));
        assert_eq!(Change::parse("tasks"), Some(Change::Tasks));
        assert_eq!(Change::parse("pools"), Some(Change::Pools));
        assert_eq!(Change::parse("loan:x"), None);
        assert_eq!(Change::parse(""), None);
        assert!(Change::Loan(LoanId(1)).concerns_loan(LoanId(1)));
        assert!(!Change::Loan(LoanId(2)).concerns_loan(LoanId(1)));
        assert!(!Change::Machines.concerns_loan(LoanId(1)));
        assert!(!Change::Pools.concerns_loan(LoanId(1)));
        assert!(Change::Resync.concerns_loan(LoanId(1)));
    }
}
