//! The identity provider as Loaner sees it: its discovery document (with the sign-out endpoint
//! and whether it names itself in the callback), its signing keys, and the checks an ID token
//! must pass. The protocol itself — PKCE, the code exchange, signatures — is the
//! `openidconnect` crate's; this module chooses its settings.

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod,
    CoreGenderClaim, CoreGrantType, CoreJsonWebKey, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalClaims, AdditionalProviderMetadata, ClaimsVerificationError, ClientId,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IdToken, IdTokenVerifier, IssuerUrl,
    LogoutProviderMetadata, Nonce, ProviderMetadata, SignatureVerificationError,
};
use serde::{Deserialize, Serialize};

/// What the discovery document says beyond the core: RFC 9207's promise to put `iss` in the
/// authorization response.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct IssParameter {
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}
impl AdditionalProviderMetadata for IssParameter {}

/// The discovery document, with RP-initiated logout's `end_session_endpoint`.
pub type Metadata = ProviderMetadata<
    LogoutProviderMetadata<IssParameter>,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The client built from discovery: authorization endpoint set, token and userinfo endpoints
/// as the provider says.
pub type SsoClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Every claim of a token or userinfo answer, so the configured groups claim can be read.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct OtherClaims(pub serde_json::Map<String, serde_json::Value>);
impl AdditionalClaims for OtherClaims {}

pub type SsoIdToken = IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// Signatures Loaner accepts: public-key ones only. `HS*` would make the client secret a
/// signing key, and `none` is never accepted.
pub const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 10] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EcdsaP521Sha512,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// Clocks differ: `exp` and `iat` are allowed this much slack.
pub const CLOCK_SKEW: Duration = Duration::seconds(60);

/// What an ID token must be checked against.
#[derive(Clone, Debug)]
pub struct TokenChecks {
    pub client_id: String,
    pub issuer: String,
    pub keys: CoreJsonWebKeySet,
}

/// Who the ID token says signed in, once it passed every check.
#[derive(Clone, Debug)]
pub struct VerifiedToken {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub other: OtherClaims,
}

/// Why an ID token was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenProblem {
    #[error("the ID token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("no signing key of the provider matches the ID token's key id")]
    UnknownKey,
    #[error("the ID token failed verification: {0}")]
    Invalid(String),
}

/// Verifies an ID token: a signature by one of the provider's keys with an allowed algorithm,
/// `iss`, `aud` (and `azp` when present or when there are several audiences), `exp` and `iat`
/// within the allowed skew of `now`, and `nonce`.
pub fn verify_id_token(
    raw: &str,
    checks: &TokenChecks,
    nonce: &Nonce,
    now: DateTime<Utc>,
) -> Result<VerifiedToken, TokenProblem> {
    let token: SsoIdToken = raw
        .parse()
        .map_err(|e: serde_json::Error| TokenProblem::Malformed(e.to_string()))?;
    let issuer = IssuerUrl::new(checks.issuer.clone())
        .map_err(|e| TokenProblem::Invalid(format!("issuer: {e}")))?;
    let verifier: IdTokenVerifier<'_, CoreJsonWebKey> = IdTokenVerifier::new_public_client(
        ClientId::new(checks.client_id.clone()),
        issuer,
        checks.keys.clone(),
    )
    .set_allowed_algs(ALLOWED_ALGS)
    // `exp` is compared with a clock set back by the skew; `iat` may not be in the future.
    .set_time_fn(move || now - CLOCK_SKEW)
    .set_issue_time_verifier_fn(move |iat| {
        if iat > now + CLOCK_SKEW {
            Err(format!("issued in the future ({iat})"))
        } else {
            Ok(())
        }
    });
    let claims = token.claims(&verifier, nonce).map_err(|err| match err {
        ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        ) => TokenProblem::UnknownKey,
        ClaimsVerificationError::SignatureVerification(cause) => {
            TokenProblem::Invalid(format!("signature: {cause}"))
        }
        other => TokenProblem::Invalid(other.to_string()),
    })?;
    let audiences = claims.audiences();
    match claims.authorized_party() {
        Some(azp) if **azp != checks.client_id => {
            return Err(TokenProblem::Invalid(format!(
                "authorized party (azp) is {}, not this client",
                **azp
            )))
        }
        None if audiences.len() > 1 => {
            return Err(TokenProblem::Invalid(
                "several audiences but no authorized party (azp)".into(),
            ))
        }
        _ => {}
    }
    Ok(VerifiedToken {
        issuer: claims.issuer().to_string(),
        subject: claims.subject().to_string(),
        email: claims.email().map(|e| e.to_string()),
        email_verified: claims.email_verified(),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.to_string()),
        other: claims.additional_claims().clone(),
    })
}

/// The signing keys, refetched when a token names a key id we do not know (the provider
/// rotated its keys) — but not more than once per `REFETCH_AFTER`, so forged key ids cannot
/// make Loaner hammer the provider.
pub const REFETCH_AFTER: StdDuration = StdDuration::from_secs(30);

/// Whether the keys were fetched long enough ago to fetch them again.
pub fn may_refetch(last: Option<Instant>) -> bool {
    last.is_none_or(|at| at.elapsed() >= REFETCH_AFTER)
}

#[cfg(test)]
#[path = "provider_tests.rs"]
mod tests;
