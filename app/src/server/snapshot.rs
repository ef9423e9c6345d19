//! A value read from the database once and kept while the database announces no change (the
//! process's `live` listener counts announcements): the catalogue every visitor opens is read
//! and rendered once per change to the inventory, not once per request. While nobody listens,
//! nothing is kept.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::live::Live;

/// One kept value and the database version it was read under.
pub struct Snapshot<T> {
    kept: Mutex<Option<(u64, Arc<T>)>>,
    computed: AtomicU64,
}

impl<T> Default for Snapshot<T> {
    fn default() -> Self {
        Self {
            kept: Mutex::new(None),
            computed: AtomicU64::new(0),
        }
    }
}

impl<T> Snapshot<T> {
    /// The kept value if nothing changed since it was read; otherwise `read` runs, and its value
    /// is kept under the version seen *before* it started (a change committed while it ran moves
    /// the version on, so that value is never served as current).
    pub async fn get<E>(
        &self,
        live: &Live,
        read: impl AsyncFnOnce() -> Result<T, E>,
    ) -> Result<Arc<T>, E> {
        let version = live.version();
        if let (Some(now), Ok(kept)) = (version, self.kept.lock()) {
            if let Some((at, value)) = kept.as_ref() {
                if *at == now {
                    return Ok(value.clone());
                }
            }
        }
        let value = Arc::new(read().await?);
        self.computed.fetch_add(1, Ordering::Relaxed);
        if let (Some(at), Ok(mut kept)) = (version, self.kept.lock()) {
            if kept.as_ref().is_none_or(|(before, _)| *before <= at) {
                *kept = Some((at, value.clone()));
            }
        }
        Ok(value)
    }

    /// How many times the value was read from the database (for tests and diagnosis).
    pub fn times_read(&self) -> u64 {
        self.computed.load(Ordering::Relaxed)
    }
}
