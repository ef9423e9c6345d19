//! `[metrics]`: the Prometheus endpoint.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::Secret;

/// `/metrics` in Prometheus's text format: on by default in development mode only. Outside it,
/// a scraper must show `token` (`Authorization: Bearer …`), or the endpoint is served on a
/// separate `bind` address (and not on the site's), or both.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` (default: in development mode only).
    pub enabled: Option<bool>,
    /// The bearer token scrapers send; set it through `LOANER_METRICS__TOKEN`, never in the
    /// configuration file. At least 16 characters.
    pub token: Option<Secret>,
    /// Serve `/metrics` on this address alone (for example `127.0.0.1:9464`), and not on the
    /// site's.
    pub bind: Option<SocketAddr>,
}

impl MetricsConfig {
    pub fn enabled(&self, dev_mode: bool) -> bool {
        self.enabled.unwrap_or(dev_mode)
    }

    pub fn validate(&self, dev_mode: bool) -> anyhow::Result<()> {
        if let Some(token) = &self.token {
            anyhow::ensure!(
                token.0.chars().count() >= 16 && !token.0.chars().any(char::is_whitespace),
                "metrics.token must be at least 16 characters, without spaces"
            );
        }
        if let (Some(bind), None) = (self.bind, &self.token) {
            anyhow::ensure!(
                bind.ip().is_loopback() || !self.enabled(dev_mode),
                "metrics.bind {bind} is reachable from other machines: set metrics.token (LOANER_METRICS__TOKEN) too, or bind to a loopback address"
            );
        }
        anyhow::ensure!(
            !self.enabled(dev_mode) || dev_mode || self.token.is_some() || self.bind.is_some(),
            "metrics.enabled needs metrics.token (LOANER_METRICS__TOKEN, a bearer token scrapers send) or metrics.bind (a separate address for /metrics) outside development mode: the figures are not for everyone"
        );
        Ok(())
    }
}
