//! Verifying ID tokens: tokens signed by RSA keys generated for this test process (by the
//! `openssl` command, once per key), checked as a sign-in would check them.

use std::process::Command;
use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::TimeZone as _;
use openidconnect::core::CoreHmacKey;
use openidconnect::core::CoreRsaPrivateSigningKey;
use openidconnect::{
    Audience, EndUserEmail, EndUserName, IdTokenClaims, JsonWebKeyId, PrivateSigningKey,
    StandardClaims, SubjectIdentifier,
};
use serde_json::json;

use super::*;

const ISSUER: &str = "https://id.example.test/realms/lab";
const CLIENT_ID: &str = "loaner";
const CLIENT_SECRET: &str = "loaner-client-secret";
const KID: &str = "lab-2026";
const NONCE: &str = "n-0S6_WzA2Mj";

/// A new 2048-bit RSA key in the PKCS#1 PEM form (`BEGIN RSA PRIVATE KEY`) that
/// `CoreRsaPrivateSigningKey::from_pem` reads.
fn generated_pem() -> String {
    let out = Command::new("openssl")
        .args(["genrsa", "-traditional", "2048"])
        .output()
        .expect("the openssl command runs");
    assert!(
        out.status.success(),
        "openssl genrsa failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("a PEM key is text")
}

/// The provider's signing key.
fn provider_pem() -> &'static str {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(generated_pem)
}

/// Someone else's key.
fn forger_pem() -> &'static str {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(generated_pem)
}

fn rsa_key(pem: &str, kid: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.to_string())))
        .expect("a generated key parses")
}

/// The moment of every check.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
}

/// The provider's published key set: its one public key, with its key id.
fn checks() -> TokenChecks {
    TokenChecks {
        client_id: CLIENT_ID.to_string(),
        issuer: ISSUER.to_string(),
        keys: CoreJsonWebKeySet::new(vec![rsa_key(provider_pem(), KID).as_verification_key()]),
    }
}

fn verify(raw: &str) -> Result<VerifiedToken, TokenProblem> {
    verify_id_token(raw, &checks(), &Nonce::new(NONCE.to_string()), now())
}

/// The reason a token failed verification; any other outcome fails the test.
fn refusal(raw: &str) -> String {
    match verify(raw) {
        Err(TokenProblem::Invalid(reason)) => reason,
        other => panic!("expected the token to fail verification, got {other:?}"),
    }
}

/// An ID token as the provider would issue it; each test changes one thing.
struct Token {
    iss: &'static str,
    aud: Vec<&'static str>,
    azp: Option<&'static str>,
    exp: DateTime<Utc>,
    iat: DateTime<Utc>,
    nonce: Option<&'static str>,
    kid: &'static str,
    pem: &'static str,
}

impl Default for Token {
    fn default() -> Self {
        Token {
            iss: ISSUER,
            aud: vec![CLIENT_ID],
            azp: None,
            exp: now() + Duration::minutes(5),
            iat: now(),
            nonce: Some(NONCE),
            kid: KID,
            pem: provider_pem(),
        }
    }
}

impl Token {
    fn claims(&self) -> IdTokenClaims<OtherClaims, CoreGenderClaim> {
        let standard = StandardClaims::new(SubjectIdentifier::new("u-7f3a".to_string()))
            .set_email(Some(EndUserEmail::new("ada@example.test".to_string())))
            .set_email_verified(Some(true))
            .set_name(Some(EndUserName::new("Ada Lovelace".to_string()).into()));
        let other: OtherClaims =
            serde_json::from_value(json!({ "groups": ["lab-admins", "staff"] })).unwrap();
        IdTokenClaims::new(
            IssuerUrl::new(self.iss.to_string()).unwrap(),
            self.aud
                .iter()
                .map(|aud| Audience::new(aud.to_string()))
                .collect(),
            self.exp,
            self.iat,
            standard,
            other,
        )
        .set_nonce(self.nonce.map(|n| Nonce::new(n.to_string())))
        .set_authorized_party(self.azp.map(|azp| ClientId::new(azp.to_string())))
    }

    /// Signed with RS256 by `pem`, naming `kid`.
    fn signed(&self) -> String {
        SsoIdToken::new(
            self.claims(),
            &rsa_key(self.pem, self.kid),
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            None,
            None,
        )
        .unwrap()
        .to_string()
    }
}

#[test]
fn a_good_token_yields_who_signed_in() {
    let verified = verify(&Token::default().signed()).unwrap();
    assert_eq!(verified.issuer, ISSUER);
    assert_eq!(verified.subject, "u-7f3a");
    assert_eq!(verified.email.as_deref(), Some("ada@example.test"));
    assert_eq!(verified.email_verified, Some(true));
    assert_eq!(verified.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(
        verified.other.0.get("groups"),
        Some(&json!(["lab-admins", "staff"]))
    );
}

#[test]
fn a_token_signed_by_another_key_is_refused() {
    let raw = Token {
        pem: forger_pem(),
        ..Token::default()
    }
    .signed();
    let reason = refusal(&raw);
    assert!(reason.starts_with("signature: Crypto error"), "{reason}");
}

#[test]
fn a_token_naming_an_unknown_key_id_is_refused_as_unknown_key() {
    let raw = Token {
        kid: "lab-2027",
        ..Token::default()
    }
    .signed();
    assert!(matches!(verify(&raw), Err(TokenProblem::UnknownKey)));
}

#[test]
fn a_token_for_another_audience_is_refused() {
    let raw = Token {
        aud: vec!["printer"],
        ..Token::default()
    }
    .signed();
    let reason = refusal(&raw);
    assert!(
        reason.starts_with("Invalid audiences: must contain `loaner`"),
        "{reason}"
    );
}

#[test]
fn a_token_for_us_and_another_audience_without_authorized_party_is_refused() {
    let raw = Token {
        aud: vec![CLIENT_ID, "printer"],
        ..Token::default()
    }
    .signed();
    // The crate refuses every audience besides ours before `azp` is looked at.
    assert_eq!(
        refusal(&raw),
        "Invalid audiences: `printer` is not a trusted audience"
    );
}

#[test]
fn a_token_authorized_for_another_client_is_refused() {
    let raw = Token {
        azp: Some("printer"),
        ..Token::default()
    }
    .signed();
    let reason = refusal(&raw);
    assert!(
        reason.contains("authorized party (azp) is printer"),
        "{reason}"
    );
}

#[test]
fn a_token_from_another_issuer_is_refused() {
    let raw = Token {
        iss: "https://id.example.test/realms/other",
        ..Token::default()
    }
    .signed();
    let reason = refusal(&raw);
    assert!(reason.starts_with("Invalid issuer"), "{reason}");
}

#[test]
fn a_token_expired_longer_ago_than_the_clock_skew_is_refused() {
    let raw = Token {
        iat: now() - Duration::minutes(10),
        exp: now() - CLOCK_SKEW - Duration::seconds(1),
        ..Token::default()
    }
    .signed();
    let reason = refusal(&raw);
    assert!(reason.starts_with("Expired: ID token expired"), "{reason}");
}

#[test]
fn a_token_expired_within_the_clock_skew_passes() {
    let raw = Token {
        iat: now() - Duration::minutes(10),
        exp: now() - Duration::seconds(30),
        ..Token::default()
    }
    .signed();
    assert_eq!(verify(&raw).unwrap().subject, "u-7f3a");
}

#[test]
fn a_token_issued_far_in_the_future_is_refused() {
    let raw = Token {
        iat: now() + Duration::minutes(10),
        exp: now() + Duration::minutes(15),
        ..Token::default()
    }
    .signed();
    let reason = refusal(&raw);
    assert!(reason.contains("issued in the future"), "{reason}");
}

#[test]
fn a_token_issued_within_the_clock_skew_in_the_future_passes() {
    let raw = Token {
        iat: now() + Duration::seconds(30),
        ..Token::default()
    }
    .signed();
    assert_eq!(verify(&raw).unwrap().subject, "u-7f3a");
}

#[test]
fn a_token_with_another_nonce_is_refused() {
    let raw = Token {
        nonce: Some("replayed"),
        ..Token::default()
    }
    .signed();
    assert_eq!(refusal(&raw), "Invalid nonce: nonce mismatch");
}

#[test]
fn a_token_without_a_nonce_is_refused() {
    let raw = Token {
        nonce: None,
        ..Token::default()
    }
    .signed();
    assert_eq!(refusal(&raw), "Invalid nonce: missing nonce claim");
}

#[test]
fn an_unsigned_token_is_refused() {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&Token::default().claims()).unwrap());
    let raw = format!("{header}.{payload}.");
    let reason = refusal(&raw);
    assert!(
        reason.starts_with("signature: No signature found"),
        "{reason}"
    );
}

#[test]
fn a_token_signed_with_the_client_secret_is_refused() {
    let raw = SsoIdToken::new(
        Token::default().claims(),
        &CoreHmacKey::new(CLIENT_SECRET),
        CoreJwsSigningAlgorithm::HmacSha256,
        None,
        None,
    )
    .unwrap()
    .to_string();
    let reason = refusal(&raw);
    assert!(
        reason.starts_with("signature: Disallowed signature algorithm"),
        "{reason}"
    );
}

#[test]
fn garbage_text_is_refused_as_malformed() {
    match verify("this is not a token") {
        Err(TokenProblem::Malformed(reason)) => {
            assert!(reason.contains("expected 3"), "{reason}")
        }
        other => panic!("expected a malformed token, got {other:?}"),
    }
}
