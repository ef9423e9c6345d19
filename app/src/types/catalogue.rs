//! What the catalogue and the request form show of the pools.

use serde::{Deserialize, Serialize};

use super::Policy;

/// The catalogue's pool cards, rendered: what the home page shows below its heading.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedCatalogue {
    /// How many pools are in service.
    pub pools: usize,
    /// One `<article class="pool-card">` per pool, by name.
    pub html: String,
}

/// A pool as the catalogue shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolCard {
    pub slug: String,
    pub name: String,
    pub platform: String,
    /// The description as written (Markdown), and rendered to safe HTML.
    pub description: String,
    pub description_html: String,
    pub image_name: String,
    pub image_version: String,
    pub free: i64,
    pub total: i64,
    /// Approved loans waiting for a machine of this pool.
    pub waiting: i64,
    pub policy: Policy,
    /// The caps that apply, as sentences.
    pub caps: Vec<String>,
}

/// What the request form needs to know about a pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFormInfo {
    pub pool: PoolCard,
    /// The durations offered, in hours, never above the pool's maximum.
    pub durations: Vec<i32>,
}
