//! Single sign-on against a real OpenID Connect provider (`oidc-provider`, started once per
//! test run): sign-in, roles from groups, and every way a callback can be wrong — each refused
//! with an explanation and nothing stored.

use axum::http::StatusCode;

use crate::common::http::{Jar, SsoSite};
use crate::common::oidc::{http_client, unique, Account};
use crate::common::World;

/// A new account at the provider, `login@example.com`, in `groups`.
fn account(sso: &SsoSite, groups: &[&str]) -> String {
    let login = unique("person");
    sso.provider.set_account(
        &login,
        &format!("{login}@example.com"),
        true,
        "Pat Doe",
        groups,
    );
    login
}

/// The problem code a refused callback sends the browser to the sign-in page with.
fn problem_of(location: Option<&str>) -> Option<String> {
    let location = location?;
    let query = location.strip_prefix("/login?")?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("problem="))
        .map(str::to_owned)
}

async fn stored(w: &World) -> (i64, i64) {
    (
        w.count("SELECT count(*) FROM users").await,
        w.count("SELECT count(*) FROM sessions").await,
    )
}

#[tokio::test]
async fn a_developer_signs_in_through_the_provider_and_lands_where_they_asked() {
    let w = World::new().await;
    let sso = w.sso_web().await;
    let login = account(&sso, &["gfx", "qa"]);
    let mut jar = Jar::default();
    let authorize = sso.start("/request/build?x=1", &mut jar).await;
    for part in [
        "code_challenge_method=S256",
        "code_challenge=",
        "state=",
        "nonce=",
        "scope=openid",
    ] {
        assert!(authorize.contains(part), "{part} in {authorize}");
    }
    assert!(
        jar.has("loaner_sign_in_"),
        "the attempt is bound to the browser"
    );
    let callback = sso
        .provider
        .sign_in(&http_client(), &authorize, &login)
        .await;
    let reply = sso.callback(&callback, &mut jar).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), Some("/request/build?x=1"));
    assert!(!jar.has("loaner_sign_in_"), "the binding cookie is cleared");
    let email = format!("{login}@example.com");
    assert_eq!(
        sso.who(&jar).await,
        Some((email.clone(), "developer".into()))
    );
    let sql = w.sql().await;
    let row = sql
        .query_one(
            "SELECT name, groups, sso_issuer, sso_subject FROM users WHERE email = $1",
            &[&email],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "Pat Doe");
    assert_eq!(row.get::<_, Vec<String>>(1), vec!["gfx", "qa"]);
    assert_eq!(row.get::<_, String>(2), sso.provider.issuer);
    assert_eq!(row.get::<_, String>(3), login);
    let session = sql
        .query_one("SELECT via, id_token IS NOT NULL FROM sessions", &[])
        .await
        .unwrap();
    assert_eq!(session.get::<_, String>(0), "Test SSO");
    assert!(
        session.get::<_, bool>(1),
        "the ID token is kept for the provider's sign-out"
    );
    assert_eq!(
        w.count("SELECT count(*) FROM audit_log WHERE kind = 'user.sign_in'")
            .await,
        1
    );
    assert_eq!(
        w.count("SELECT count(*) FROM sign_in_attempts").await,
        0,
        "used up"
    );
}

#[tokio::test]
async fn admins_come_from_the_admin_group_and_lose_the_role_and_their_sessions_when_removed() {
    let w = World::new().await;
    let sso = w.sso_web().await;
    let login = account(&sso, &["loaner-admins"]);
    let first = sso.sign_in(&login).await;
    let second = sso.sign_in(&login).await;
    let email = format!("{login}@example.com");
    assert_eq!(sso.who(&first).await, Some((email.clone(), "admin".into())));
    let admin_page = sso
        .site
        .page("/admin/people", first.header().as_deref())
        .await;
    assert_eq!(admin_page.status, StatusCode::OK);

    sso.provider
        .set_account(&login, &email, true, "Pat Doe", &["gfx"]);
    let third = sso.sign_in(&login).await;
    assert_eq!(
        sso.who(&third).await,
        Some((email.clone(), "developer".into()))
    );
    assert_eq!(sso.who(&first).await, None, "the admin sessions ended");
    assert_eq!(sso.who(&second).await, None);
    let admin_page = sso
        .site
        .page("/admin/people", third.header().as_deref())
        .await;
    assert_eq!(admin_page.status, StatusCode::FORBIDDEN);
    assert_eq!(
        w.count("SELECT count(*) FROM audit_log WHERE kind = 'user.sessions_ended'")
            .await,
        1
    );
}

#[tokio::test]
async fn groups_only_the_userinfo_endpoint_gives_still_count() {
    let w = World::new().await;
    let sso = w.sso_web().await;
    let login = unique("userinfo");
    sso.provider.put_account(
        &login,
        &Account {
            email: format!("{login}@example.com"),
            email_verified: true,
            name: "Una Info".into(),
            groups: vec!["loaner-admins".into()],
            groups_in_userinfo_only: true,
        },
    );
    let jar = sso.sign_in(&login).await;
    assert_eq!(sso.who(&jar).await.unwrap().1, "admin");
}

#[tokio::test]
async fn two_sign_ins_started_in_one_browser_both_finish() {
    let w = World::new().await;
    let sso = w.sso_web().await;
    let login = account(&sso, &[]);
    let http = http_client();
    let mut jar = Jar::default();
    // Two tabs press "Sign in"; the second one's cookie must not spoil the first.
    let first = sso.start("/loans", &mut jar).await;
    let second = sso.start("/", &mut jar).await;
    let first_back = sso.provider.sign_in(&http, &first, &login).await;
    let reply = sso.callback(&first_back, &mut jar).await;
    assert_eq!(reply.header("location"), Some("/loans"), "{}", reply.body);
    let second_back = match sso.provider.follow(&http, &second).await {
        crate::common::oidc::Landing::Away(url) => url,
        page => panic!("already signed in at the provider: {page:?}"),
    };
    let reply = sso.callback(&second_back, &mut jar).await;
    assert_eq!(reply.header("location"), Some("/"), "{}", reply.body);
    assert!(!jar.has("loaner_sign_in_"), "both binding cookies cleared");
}

#[tokio::test]
async fn a_replayed_callback_is_refused_and_stores_nothing_more() {
    let w = World::new().await;
    let sso = w.sso_web().await;
    let login = account(&sso, &[]);
    let (mut jar, callback) = sso.back_from_provider(&login).await;
    let binding = jar.clone();
    let first = sso.callback(&callback, &mut jar).await;
    assert_eq!(first.header("location"), Some("/"));
    assert_eq!(stored(&w).await, (1, 1));

    let mut replay = binding;
    let again = sso.callback(&callback, &mut replay).await;
    assert_eq!(
        problem_of(again.header("location")).as_deref(),
        Some("expired")
    );
    assert!(
        replay.get("loaner_session").is_none(),
        "no session for the replay"
    );
    assert_eq!(stored(&w).await, (1, 1));
}

#[tokio::test]
async fn a_forged_state_is_refused_and_stores_nothing() {
    let w = World::new().await;
    let sso = w.sso_web().await;
    let login = account(&sso, &[]);
    let (mut jar, callback) = sso.back_from_provider(&login).await;
    let forged = replace_param(&callback, "state", "forged-state-value");
    let reply = sso.callback(&forged, &mut jar).await;
    assert_eq!(
        problem_of(reply.header("location")).as_deref(),
        Some("expired")
    );
    assert_eq!(stored(&w).await, (0, 0));
    // Not a sign-in this site started: logged, not audited.
    assert_eq!(
        w.count("SELECT count(*) FROM audit_log WHERE kind LIKE 'user.%'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_code_exchanged_twice_is_refused_and_stores_nothing_more() {
    let w = World::new().await;
    let sso = w.sso_web().await;
    let login = account(&sso, &[]);
    let (mut jar, callback) = sso.back_from_provider(&login).await;
    let reply = sso.callback(&callback, &mut jar).await;
    assert_eq!(reply.header("location"), Some("/"));
    assert_eq!(stored(&w).await, (1, 1));

    // A second sign-in attempt of the same browser, finished with the first code.
    let mut second = Jar::default();
    let authorize = sso.start("/", &mut second).await;
    let state = param(&authorize, "state").unwrap();
    let reused = replace_param(&callback, "state", &state);
    let reply = sso.callback(&reused, &mut second).await;
    assert_eq!(
        problem_of(reply.header("location")).as_deref(),
        Some("rejected")
    );
    assert!(second.get("loaner_session").is_none());
    assert_eq!(stored(&w).await, (1, 1));
    assert_eq!(
        w.count("SELECT count(*) FROM audit_log WHERE kind = 'user.sign_in_refused'")
            .await,
        1
    );
}

#[tokio::test]
async fn an_email_domain_not_allowed_is_refused_audited_and_stores_nothing() {
    let w = World::new().await;
    let sso = w.sso_web().await;
    let login = unique("outsider");
    sso.provider.set_account(
        &login,
        &format!("{login}@evil.example"),
        true,
        "Mal",
        &["loaner-admins"],
    );
    let (mut jar, callback) = sso.back_from_provider(&login).await;
    let reply = sso.callback(&callback, &mut jar).await;
    assert_eq!(
        problem_of(reply.header("location")).as_deref(),
        Some("domain_not_allowed")
    );
    assert_eq!(stored(&w).await, (0, 0));
    let sql = w.sql().await;
    let audit = sql
        .query_one(
            "SELECT actor, target, after::text FROM audit_log WHERE kind = 'user.sign_in_refused'",
            &[],
        )
        .await
        .unwrap();
    assert!(
        audit.get::<_, String>(0).contains(&login),
        "the subject is named"
    );
    assert_eq!(audit.get::<_, String>(1), format!("{login}@evil.example"));
    assert!(audit.get::<_, String>(2).contains("domain_not_allowed"));
}

#[tokio::test]
async fn an_unverified_email_is_refused() {
    let w = World::new().await;
    let sso = w.sso_web().await;
    let login = unique("unverified");
    sso.provider
        .set_account(&login, &format!("{login}@example.com"), false, "Una", &[]);
    let (mut jar, callback) = sso.back_from_provider(&login).await;
    let reply = sso.callback(&callback, &mut jar).await;
    assert_eq!(
        problem_of(reply.header("location")).as_deref(),
        Some("no_verified_email")
    );
    assert_eq!(stored(&w).await, (0, 0));
}

#[tokio::test]
async fn cancel_at_the_provider_lands_on_the_explanation() {
    let w = World::new().await;
    let sso = w.sso_web().await;
    let mut jar = Jar::default();
    let authorize = sso.start("/loans", &mut jar).await;
    let callback = sso.provider.cancel(&http_client(), &authorize).await;
    assert!(callback.contains("error=access_denied"), "{callback}");
    let reply = sso.callback(&callback, &mut jar).await;
    let location = reply.header("location").unwrap().to_owned();
    assert_eq!(problem_of(Some(&location)).as_deref(), Some("cancelled"));
    assert!(
        location.contains("next=%2Floans"),
        "keeps where they were going: {location}"
    );
    assert_eq!(stored(&w).await, (0, 0));
    let page = sso.site.page(&location, None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Sign-in cancelled"), "explained");
    assert!(
        page.body.contains("Try again with Test SSO"),
        "offers to try again"
    );
}

#[tokio::test]
async fn a_callback_finished_in_another_browser_is_refused() {
    let w = World::new().await;
    let sso = w.sso_web().await;
    let login = account(&sso, &[]);
    let (mut victim, callback) = sso.back_from_provider(&login).await;
    // Login CSRF: the attacker's completed callback opened in someone else's browser.
    let mut other = Jar::default();
    let reply = sso.callback(&callback, &mut other).await;
    assert_eq!(
        problem_of(reply.header("location")).as_deref(),
        Some("other_browser")
    );
    assert_eq!(stored(&w).await, (0, 0));
    // And the attempt is spent: the right browser cannot use it afterwards either.
    let reply = sso.callback(&callback, &mut victim).await;
    assert_eq!(
        problem_of(reply.header("location")).as_deref(),
        Some("expired")
    );
}

#[tokio::test]
async fn an_expired_attempt_and_a_mixed_up_issuer_are_refused() {
    let w = World::new().await;
    let sso = w.sso_web().await;
    let login = account(&sso, &[]);
    let (mut jar, callback) = sso.back_from_provider(&login).await;
    let wrong_issuer = replace_param(&callback, "iss", "https://evil.example");
    let reply = sso.callback(&wrong_issuer, &mut jar).await;
    assert_eq!(
        problem_of(reply.header("location")).as_deref(),
        Some("rejected")
    );

    let (mut late, callback) = sso.back_from_provider(&login).await;
    w.clock.advance(chrono::Duration::minutes(11));
    let reply = sso.callback(&callback, &mut late).await;
    assert_eq!(
        problem_of(reply.header("location")).as_deref(),
        Some("expired")
    );
    assert_eq!(stored(&w).await, (0, 0));
}

#[tokio::test]
async fn signing_out_ends_the_session_here_and_at_the_provider() {
    let w = World::new().await;
    let sso = w.sso_web().await;
    let login = account(&sso, &[]);
    let http = http_client();
    let mut jar = Jar::default();
    let authorize = sso.start("/", &mut jar).await;
    let callback = sso.provider.sign_in(&http, &authorize, &login).await;
    sso.callback(&callback, &mut jar).await;
    assert!(sso.who(&jar).await.is_some());

    let origin = format!("http://{}", sso.site.host);
    let request = sso
        .site
        .request(axum::http::Method::POST, "/auth/logout")
        .header("origin", &origin)
        .header("cookie", jar.header().unwrap())
        .body(axum::body::Body::empty())
        .unwrap();
    let reply = sso.site.send(request).await;
    let signed_in_cookie = jar.clone();
    jar.take(&reply);
    // A page that moves on by itself (a redirect would be stopped by `form-action 'self'`).
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.body.contains(r#"http-equiv="refresh""#),
        "{}",
        reply.body
    );
    let end_session = reply
        .body
        .split(r#"href=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .replace("&amp;", "&");
    assert!(
        end_session.starts_with(&sso.provider.issuer),
        "{end_session}"
    );
    assert!(end_session.contains("id_token_hint="), "{end_session}");
    assert!(
        end_session.contains("post_logout_redirect_uri="),
        "{end_session}"
    );
    assert_eq!(w.count("SELECT count(*) FROM sessions").await, 0);
    assert_eq!(
        sso.who(&signed_in_cookie).await,
        None,
        "the old cookie is dead"
    );
    assert_eq!(
        w.count("SELECT count(*) FROM audit_log WHERE kind = 'user.sign_out'")
            .await,
        1,
        "the sign-out is audited"
    );

    let back = sso.provider.sign_out(&http, &end_session).await;
    match back {
        crate::common::oidc::Landing::Away(url) => {
            assert!(
                url.ends_with("/signed-out") || url.contains("/signed-out?"),
                "{url}"
            )
        }
        page => panic!("expected a way back to Loaner, got {page:?}"),
    }
    // The provider's session is gone: the next sign-in asks for the login again.
    let authorize = sso.start("/", &mut Jar::default()).await;
    match sso.provider.follow(&http, &authorize).await {
        crate::common::oidc::Landing::Page { html, .. } => {
            assert!(html.contains(r#"name="login""#))
        }
        away => panic!("signed in without a login: {away:?}"),
    }
}

#[tokio::test]
async fn the_development_login_is_refused_when_single_sign_on_is_configured() {
    let w = World::new().await;
    let sso = w.sso_web().await;
    let reply = sso
        .site
        .call(
            "/api/dev_login",
            None,
            "name=Eve&email=eve@example.com&role=admin",
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert!(reply.body.contains("dev_login"), "{}", reply.body);
    assert_eq!(stored(&w).await, (0, 0));
    let login = sso.site.page("/login", None).await;
    assert!(login.body.contains("Sign in with Test SSO"));
    assert!(!login.body.contains("Development login"), "never shown");
}

#[tokio::test]
async fn an_unreachable_provider_makes_the_site_unready_and_sign_ins_explain() {
    let w = World::new().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let oidc = server::config::OidcConfig {
        issuer: format!("http://127.0.0.1:{closed}"),
        client_id: "loaner".into(),
        display_name: "Down SSO".into(),
        ..Default::default()
    };
    let config = server::config::Config {
        dev_mode: Some(true),
        oidc: Some(oidc.clone()),
        ..server::config::Config::default()
    };
    let state = w.app_state(config, "127.0.0.1:3999");
    let sso = server::auth::Sso::new(&oidc, &state.site.public_url).unwrap();
    assert!(sso.discover().await.is_err());
    let site = crate::common::http::Site {
        router: server::http::router_with(state.clone(), server::auth::SignIn { sso: Some(sso) }),
        state,
        host: "127.0.0.1:3999".into(),
    };
    let ready = site.page("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body, "identity provider unavailable");
    let login = site.page("/auth/login", None).await;
    assert_eq!(
        problem_of(login.header("location")).as_deref(),
        Some("provider_unavailable")
    );
}

/// The value of `name` in a URL's query.
fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    openidconnect::url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `url` with the query parameter `name` set to `value`.
fn replace_param(url: &str, name: &str, value: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut pairs: Vec<(String, String)> =
        openidconnect::url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .filter(|(k, _)| k != name)
            .collect();
    pairs.push((name.to_owned(), value.to_owned()));
    let query: String = openidconnect::url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{base}?{query}")
}
