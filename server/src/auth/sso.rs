//! The configured identity provider: discovery kept current, the client built from it, and
//! the signing keys refetched when a token names one we do not know.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration as StdDuration, Instant};

use app::server::PublicUrl;
use openidconnect::core::CoreJsonWebKeySet;
use openidconnect::{AuthType, ClientId, ClientSecret, IssuerUrl, RedirectUrl};
use tokio::sync::watch;

use super::provider;
use super::provider::{Metadata, SsoClient, TokenChecks};
use crate::config::{ClientAuthMethod, OidcConfig, Secret};

/// The configured identity provider and what was discovered about it.
pub struct Sso {
    pub(super) config: OidcConfig,
    pub(super) secret: Option<Secret>,
    pub(super) http: openidconnect::reqwest::Client,
    pub(super) callback_url: RedirectUrl,
    pub(super) signed_out_url: String,
    pub(super) discovered: RwLock<Option<Arc<Metadata>>>,
    pub(super) keys_fetched: Mutex<Option<Instant>>,
}

impl Sso {
    pub fn new(config: &OidcConfig, public_url: &PublicUrl) -> anyhow::Result<Arc<Self>> {
        let http = openidconnect::reqwest::Client::builder()
            // The provider's answers are never followed elsewhere (SSRF).
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(StdDuration::from_secs(10))
            .build()?;
        Ok(Arc::new(Self {
            secret: config.secret()?,
            config: config.clone(),
            http,
            callback_url: RedirectUrl::new(format!("{}/auth/callback", public_url.url))?,
            signed_out_url: format!("{}/signed-out", public_url.url),
            discovered: RwLock::new(None),
            keys_fetched: Mutex::new(None),
        }))
    }

    pub fn display_name(&self) -> &str {
        &self.config.display_name
    }

    /// Discovery has succeeded: sign-ins can start.
    pub fn is_ready(&self) -> bool {
        self.metadata().is_some()
    }

    pub(super) fn metadata(&self) -> Option<Arc<Metadata>> {
        self.discovered.read().ok().and_then(|d| d.clone())
    }

    /// Reads the discovery document and the signing keys.
    pub async fn discover(&self) -> anyhow::Result<()> {
        // Exactly as configured: discovery must name the same issuer, trailing slash and all.
        let issuer = IssuerUrl::new(self.config.issuer.trim().to_owned())?;
        let metadata = Metadata::discover_async(issuer, &self.http).await?;
        if let Ok(mut at) = self.keys_fetched.lock() {
            *at = Some(Instant::now());
        }
        if let Ok(mut slot) = self.discovered.write() {
            *slot = Some(Arc::new(metadata));
        }
        Ok(())
    }

    /// Keeps discovery current: retried with backoff (1 s doubling to a minute) while the
    /// provider is unreachable, then refreshed hourly.
    pub fn keep_discovered(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        tokio::spawn(async move {
            let mut backoff = StdDuration::from_secs(1);
            let mut healthy = false;
            loop {
                let wait = match self.discover().await {
                    Ok(()) => {
                        if !healthy {
                            tracing::info!(issuer = %self.config.issuer, "identity provider discovered");
                        }
                        healthy = true;
                        backoff = StdDuration::from_secs(1);
                        StdDuration::from_secs(3600)
                    }
                    Err(err) => {
                        healthy = false;
                        tracing::warn!(issuer = %self.config.issuer, error = %err, retry_in = ?backoff, "identity provider discovery failed");
                        let wait = backoff;
                        backoff = (backoff * 2).min(StdDuration::from_secs(60));
                        wait
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
            }
        });
    }

    pub(super) fn client(&self, metadata: &Metadata) -> SsoClient {
        SsoClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            self.secret.as_ref().map(|s| ClientSecret::new(s.0.clone())),
        )
        .set_redirect_uri(self.callback_url.clone())
        .set_auth_type(match self.config.client_auth_method {
            ClientAuthMethod::ClientSecretBasic => AuthType::BasicAuth,
            ClientAuthMethod::ClientSecretPost => AuthType::RequestBody,
        })
    }

    pub(super) fn checks(&self, metadata: &Metadata) -> TokenChecks {
        TokenChecks {
            client_id: self.config.client_id.clone(),
            issuer: metadata.issuer().to_string(),
            keys: metadata.jwks().clone(),
        }
    }

    /// Fetches the signing keys again (a token named a key id we do not know), at most once per
    /// `provider::REFETCH_AFTER`. Returns whether new keys were stored.
    pub(super) async fn refetch_keys(&self, metadata: &Metadata) -> bool {
        {
            let Ok(mut last) = self.keys_fetched.lock() else {
                return false;
            };
            if !provider::may_refetch(*last) {
                return false;
            }
            *last = Some(Instant::now());
        }
        match CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.http).await {
            Ok(keys) => {
                let updated = metadata.clone().set_jwks(keys);
                if let Ok(mut slot) = self.discovered.write() {
                    *slot = Some(Arc::new(updated));
                }
                tracing::info!("refetched the identity provider's signing keys");
                true
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot refetch the identity provider's signing keys");
                false
            }
        }
    }
}
