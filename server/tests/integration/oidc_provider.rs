//! The OpenID Connect provider that the sign-in tests run against (`common::oidc`), proven on its
//! own, without Loaner: discovery, a code + PKCE sign-in and the tokens it yields, cancelling,
//! an unknown login, and a sign-out that really ends the provider's session.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use crate::common::oidc::{self, Account, Client, Landing, Provider};
use reqwest::{StatusCode, Url};
use sha2::{Digest, Sha256};

/// Nothing listens there: the tests only read the URLs the provider sends the browser to.
const CALLBACK: &str = "http://127.0.0.1:9/auth/callback";
const SIGNED_OUT: &str = "http://127.0.0.1:9/";

async fn discovery(provider: &Provider) -> serde_json::Value {
    let url = format!("{}/.well-known/openid-configuration", provider.issuer);
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn endpoint(discovery: &serde_json::Value, name: &str) -> String {
    discovery[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in discovery"))
        .to_owned()
}

/// An authorization request as a client makes it: the URL, and what the client keeps.
struct Authorization {
    url: String,
    state: String,
    nonce: String,
    verifier: String,
}

async fn authorization(provider: &Provider, client: &Client) -> Authorization {
    let verifier = hex::encode(rand::random::<[u8; 32]>());
    let state = oidc::unique("state");
    let nonce = oidc::unique("nonce");
    let url = Url::parse_with_params(
        &endpoint(&discovery(provider).await, "authorization_endpoint"),
        [
            ("response_type", "code"),
            ("client_id", &client.client_id),
            ("redirect_uri", CALLBACK),
            ("scope", "openid email profile groups"),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", &pkce_challenge(&verifier)),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    Authorization {
        url: url.into(),
        state,
        nonce,
        verifier,
    }
}

fn query(url: &str) -> HashMap<String, String> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// The token endpoint's answer for `code`, which must be a success.
async fn tokens(
    provider: &Provider,
    client: &Client,
    auth: &Authorization,
    code: &str,
) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(endpoint(&discovery(provider).await, "token_endpoint"))
        .basic_auth(&client.client_id, client.client_secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &auth.verifier),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "token endpoint: {body}");
    body
}

async fn userinfo(provider: &Provider, access_token: &str) -> serde_json::Value {
    let response = reqwest::Client::new()
        .get(endpoint(&discovery(provider).await, "userinfo_endpoint"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The claims of a JWT (not verified: the provider made it a moment ago).
fn jwt_claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64url_decode(payload)).unwrap()
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let bits = chunk.iter().enumerate().fold(0u32, |bits, (i, byte)| {
            bits | u32::from(*byte) << (16 - 8 * i)
        });
        for i in 0..=chunk.len() {
            out.push(BASE64URL[(bits >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn base64url_decode(text: &str) -> Vec<u8> {
    let (mut bits, mut count, mut out) = (0u32, 0, Vec::new());
    for c in text.bytes() {
        let value = BASE64URL.iter().position(|&a| a == c).expect("base64url");
        bits = (bits << 6) | value as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

fn pkce_challenge(verifier: &str) -> String {
    base64url(&Sha256::digest(verifier.as_bytes()))
}

#[test]
fn the_pkce_challenge_is_the_one_of_rfc_7636() {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    assert_eq!(pkce_challenge(verifier), challenge);
    assert_eq!(
        base64url_decode(challenge),
        Sha256::digest(verifier).to_vec()
    );
}

#[tokio::test]
async fn discovery_names_the_issuer_sign_out_and_s256() {
    let provider = Provider::shared().await;
    let document = discovery(&provider).await;

    assert_eq!(
        document["issuer"],
        format!("http://127.0.0.1:{}", provider.port)
    );
    assert_eq!(document["issuer"], provider.issuer.as_str());
    assert!(endpoint(&document, "end_session_endpoint").starts_with(&provider.issuer));
    let methods = document["code_challenge_methods_supported"]
        .as_array()
        .unwrap();
    assert!(methods.contains(&"S256".into()), "{methods:?}");
}

#[tokio::test]
async fn a_sign_in_yields_a_code_that_the_token_endpoint_exchanges_for_the_claims() {
    let provider = Provider::shared().await;
    let client = provider.register_client(CALLBACK, SIGNED_OUT, Some("secret"));
    let login = oidc::unique("dana");
    provider.set_account(
        &login,
        "dana@example.com",
        true,
        "Dana Scully",
        &["dev", "ops"],
    );
    let auth = authorization(&provider, &client).await;

    let callback = provider
        .sign_in(&oidc::http_client(), &auth.url, &login)
        .await;

    assert!(callback.starts_with(&format!("{CALLBACK}?")), "{callback}");
    let params = query(&callback);
    assert_eq!(params["state"], auth.state);
    assert_eq!(params["iss"], provider.issuer);
    let tokens = tokens(&provider, &client, &auth, &params["code"]).await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], provider.issuer.as_str());
    assert_eq!(id["aud"], client.client_id.as_str());
    assert_eq!(id["sub"], login.as_str());
    assert_eq!(id["nonce"], auth.nonce.as_str());
    assert_eq!(id["email"], "dana@example.com");
    assert_eq!(id["email_verified"], true);
    assert_eq!(id["name"], "Dana Scully");
    assert_eq!(id["groups"], serde_json::json!(["dev", "ops"]));
}

#[tokio::test]
async fn accounts_are_read_at_each_sign_in_and_groups_can_be_in_userinfo_only() {
    let provider = Provider::shared().await;
    let client = provider.register_client(CALLBACK, SIGNED_OUT, Some("secret"));
    let login = oidc::unique("erin");
    provider.set_account(&login, "erin@example.com", true, "Erin", &["dev"]);
    let auth = authorization(&provider, &client).await;
    provider
        .sign_in(&oidc::http_client(), &auth.url, &login)
        .await;

    provider.put_account(
        &login,
        &Account {
            email: "erin@example.org".to_owned(),
            email_verified: false,
            name: "Erin".to_owned(),
            groups: vec!["admins".to_owned()],
            groups_in_userinfo_only: true,
        },
    );
    let auth = authorization(&provider, &client).await;
    let callback = provider
        .sign_in(&oidc::http_client(), &auth.url, &login)
        .await;

    let tokens = tokens(&provider, &client, &auth, &query(&callback)["code"]).await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["email"], "erin@example.org");
    assert_eq!(id["email_verified"], false);
    assert!(id.get("groups").is_none(), "{id}");
    let info = userinfo(&provider, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(info["sub"], login.as_str());
    assert_eq!(info["groups"], serde_json::json!(["admins"]));
}

#[tokio::test]
async fn cancelling_the_sign_in_returns_access_denied() {
    let provider = Provider::shared().await;
    let client = provider.register_client(CALLBACK, SIGNED_OUT, None);
    let auth = authorization(&provider, &client).await;

    let callback = provider.cancel(&oidc::http_client(), &auth.url).await;

    assert!(callback.starts_with(&format!("{CALLBACK}?")), "{callback}");
    let params = query(&callback);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], auth.state);
    assert!(!params.contains_key("code"));
}

#[tokio::test]
async fn an_unknown_login_stays_on_the_sign_in_page_without_a_code() {
    let provider = Provider::shared().await;
    let client = provider.register_client(CALLBACK, SIGNED_OUT, Some("secret"));
    // An account that existed: no file now, as for a login that never had one.
    let removed = oidc::unique("removed");
    provider.set_account(&removed, "removed@example.com", true, "Removed", &[]);
    provider.remove_account(&removed);
    let auth = authorization(&provider, &client).await;

    let landing = provider
        .try_sign_in(&oidc::http_client(), &auth.url, &removed)
        .await;

    let Landing::Page { url, html, .. } = landing else {
        panic!("a removed account signed in: {landing:?}");
    };
    assert!(
        url.starts_with(&format!("{}/interaction/", provider.issuer)),
        "{url}"
    );
    assert!(html.contains("Unknown login"), "no refusal on {url}");
    assert!(html.contains(r#"name="login""#), "no sign-in form on {url}");
}

#[tokio::test]
async fn pkce_is_required() {
    let provider = Provider::shared().await;
    let client = provider.register_client(CALLBACK, SIGNED_OUT, Some("secret"));
    let auth = authorization(&provider, &client).await;
    let mut url = Url::parse(&auth.url).unwrap();
    let without_pkce: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .filter(|(name, _)| !name.starts_with("code_challenge"))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(without_pkce);

    let landing = provider.follow(&oidc::http_client(), url.as_str()).await;

    let Landing::Away(callback) = landing else {
        panic!("expected an error back at the client: {landing:?}");
    };
    assert_eq!(query(&callback)["error"], "invalid_request", "{callback}");
}

#[tokio::test]
async fn signing_out_ends_the_provider_session() {
    let provider = Provider::shared().await;
    let client = provider.register_client(CALLBACK, SIGNED_OUT, Some("secret"));
    let login = oidc::unique("fox");
    provider.set_account(&login, "fox@example.com", true, "Fox", &[]);
    let http = oidc::http_client();
    let auth = authorization(&provider, &client).await;
    provider.sign_in(&http, &auth.url, &login).await;
    let Landing::Away(single_sign_on) = provider.follow(&http, &auth.url).await else {
        panic!("signed in at the provider, a new request still shows a page");
    };
    assert!(
        query(&single_sign_on).contains_key("code"),
        "{single_sign_on}"
    );

    let end_session = Url::parse_with_params(
        &endpoint(&discovery(&provider).await, "end_session_endpoint"),
        [
            ("client_id", client.client_id.as_str()),
            ("post_logout_redirect_uri", SIGNED_OUT),
            ("state", "bye"),
        ],
    )
    .unwrap();
    let landing = provider.sign_out(&http, end_session.as_str()).await;

    let Landing::Away(back) = landing else {
        panic!("signing out stayed at the provider: {landing:?}");
    };
    assert_eq!(back, format!("{SIGNED_OUT}?state=bye"));
    match provider.follow(&http, &auth.url).await {
        Landing::Page { url, html, .. } => {
            assert!(
                html.contains(r#"name="login""#),
                "not the sign-in page: {url}"
            );
        }
        Landing::Away(url) => panic!("still signed in at the provider: {url}"),
    }
}
