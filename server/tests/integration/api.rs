//! The JSON API through the real router and database: the scope matrix (every endpoint × no
//! token, an unknown, expired or revoked one, each scope, a developer's and an admin's), the one
//! error shape, a token acting as its owner (and named in the audit log), an admin demoted at
//! sign-in losing `admin` on their tokens, revoking, and the per-token rate limit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use crate::common::http::{Reply, Site};
use crate::common::*;
use app::server::tokens;
use app::types::{NewApiToken, Scope};
use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use server::api::v1::ENDPOINTS;
use server::config::Config;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN2f8Txvd4Df7k7+yCspE9CRdOHU+q8ScWEUPH01OALC ada@laptop";

/// A token for `owner` with `scopes`, made as the tokens page makes one; its secret.
pub(crate) async fn token(
    w: &World,
    owner: &app::server::models::User,
    name: &str,
    scopes: &[Scope],
) -> String {
    let input = NewApiToken {
        name: name.into(),
        scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        expires_in_days: String::new(),
    };
    let (_, secret) = tokens::create(&mut *w.conn().await, owner, &input, 365, w.clock.now())
        .await
        .unwrap();
    secret
}

/// Calls the API with `secret` (none with `None`) and an optional JSON body.
pub(crate) async fn api(
    site: &Site,
    method: Method,
    path: &str,
    secret: Option<&str>,
    body: Option<&str>,
) -> Reply {
    let mut request = site
        .request(method, path)
        .header(header::ACCEPT, "application/json");
    if let Some(secret) = secret {
        request = request.header(header::AUTHORIZATION, format!("Bearer {secret}"));
    }
    let request = match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_owned())),
        None => request.body(Body::empty()),
    };
    site.send(request.unwrap()).await
}

pub(crate) fn json(reply: &Reply) -> serde_json::Value {
    serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", reply.body))
}

/// The routes `server/src/api/v1/mod.rs` registers, as "METHOD /path".
fn routed() -> BTreeSet<String> {
    let source = include_str!("../../src/api/v1/mod.rs");
    source
        .match_indices(".route(")
        .filter_map(|(at, call)| {
            let rest = source[at + call.len()..].trim_start().strip_prefix('"')?;
            let (path, after) = rest.split_once('"')?;
            let method = ["get", "post"]
                .into_iter()
                .filter_map(|m| after.find(&format!("{m}(")).map(|i| (i, m)))
                .min()?
                .1;
            (!path.contains('*') && !["/api/v1/docs", "/api/v1/openapi.json"].contains(&path))
                .then(|| format!("{} {path}", method.to_uppercase()))
        })
        .collect()
}

/// What each kind of caller may do, written out: the scopes it satisfies.
fn satisfies(kind: &str) -> &'static [Scope] {
    match kind {
        "Dana: loans:read" | "Rex: loans:read" => &[Scope::LoansRead],
        "Dana: loans:write" => &[Scope::LoansRead, Scope::LoansWrite],
        "Rex: admin" => Scope::ALL,
        // Dana's machines scopes touch no loan; her admin scope does nothing (she is no admin).
        "Dana: machines:read" | "Dana: machines:act" | "Dana: admin" => &[],
        // No token, or one that grants nothing.
        _ => &[],
    }
}

/// The status of an allowed call. The test pools' machines have no hardware drivers, so an
/// admin's action is refused on its merits (422, the field named) and there is no action to read.
fn success(method: &str, path: &str) -> u16 {
    match (method, path) {
        ("POST", "/api/v1/loans") => 201,
        ("POST", "/api/v1/machines/{host}/actions") => 422,
        ("GET", "/api/v1/machines/{host}/actions/{id}") => 404,
        _ => 200,
    }
}

#[tokio::test]
async fn every_endpoint_answers_each_token_by_its_scopes_and_its_owners_role() {
    let w = World::new().await;
    let mut build = w.pool_spec("build");
    build.machines = 30;
    w.add_pool(build).await;
    let mut gated = w.pool_spec("gated");
    gated.approval = app::types::ApprovalMode::Manual;
    w.add_pool(gated).await;
    let site = w.web(true, "127.0.0.1:3000");
    let dana = w.developer("Dana").await;
    let rex = w.admin("Rex").await;

    // The list the docs and the OpenAPI document are made from is what the router serves.
    let listed: BTreeSet<String> = ENDPOINTS
        .iter()
        .map(|e| format!("{} {}", e.method, e.path))
        .collect();
    assert_eq!(listed, routed(), "ENDPOINTS and the router differ");
    // The endpoints page lists every one of them.
    let docs = site.page("/api/v1/docs", None).await;
    assert_eq!(docs.status, StatusCode::OK);
    for endpoint in ENDPOINTS {
        let row = format!(
            "<code>{}</code></td><td><code>{}</code>",
            endpoint.method, endpoint.path
        );
        assert!(
            docs.body.contains(&row),
            "{row} is missing from /api/v1/docs"
        );
    }

    let expired = token(&w, &dana, "old", &[Scope::LoansRead, Scope::LoansWrite]).await;
    let revoked = token(&w, &dana, "gone", &[Scope::LoansRead, Scope::LoansWrite]).await;
    let sql = w.sql().await;
    sql.execute(
        "UPDATE api_tokens SET created_at = now() - interval '10 days', expires_at = now() - interval '1 day' WHERE name = 'old'",
        &[],
    )
    .await
    .unwrap();
    sql.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE name = 'gone'",
        &[],
    )
    .await
    .unwrap();
    // A developer cannot make an admin token; one written straight into the database (an admin
    // demoted since, say) must still do nothing.
    let dana_admin = token(&w, &dana, "sneaky", &[Scope::LoansRead]).await;
    sql.execute(
        "UPDATE api_tokens SET scopes = '{admin}' WHERE name = 'sneaky'",
        &[],
    )
    .await
    .unwrap();
    let mut callers: Vec<(String, Option<String>, Option<&app::server::models::User>)> = vec![
        ("no token".into(), None, None),
        (
            "unknown token".into(),
            Some(format!("loaner_{}", "0".repeat(64))),
            None,
        ),
        ("not a Loaner token".into(), Some("hunter2".into()), None),
        ("expired".into(), Some(expired), None),
        ("revoked".into(), Some(revoked), None),
        ("Dana: admin".into(), Some(dana_admin), Some(&dana)),
    ];
    for scope in [
        Scope::LoansRead,
        Scope::LoansWrite,
        Scope::MachinesRead,
        Scope::MachinesAct,
    ] {
        // A developer cannot make machines tokens; ones written into the database (made while
        // an admin, say) must do nothing either.
        let secret = token(&w, &dana, scope.as_str(), &[Scope::LoansRead]).await;
        sql.execute(
            "UPDATE api_tokens SET scopes = ARRAY[$1] WHERE name = $1",
            &[&scope.as_str()],
        )
        .await
        .unwrap();
        callers.push((format!("Dana: {scope}"), Some(secret), Some(&dana)));
    }
    for scope in [Scope::Admin, Scope::LoansRead] {
        let secret = token(&w, &rex, scope.as_str(), &[scope]).await;
        callers.push((format!("Rex: {scope}"), Some(secret), Some(&rex)));
    }

    // A ready loan each of Dana and Rex; a call acts on its token owner's (Dana's for callers
    // without one), and cancelling on a requested loan of its own.
    let dana_ready = w.borrow(&dana, "build").await;
    let rex_ready = w.borrow(&rex, "build").await;
    w.drain().await;
    let mut problems = Vec::new();
    for endpoint in ENDPOINTS {
        for (kind, secret, owner) in &callers {
            let target_owner = owner.unwrap_or(&dana);
            let target = if endpoint.path.ends_with("/cancel") {
                w.borrow(target_owner, "gated").await
            } else if endpoint.path.starts_with("/api/v1/approvals/") {
                w.borrow(&dana, "gated").await
            } else if target_owner.id == rex.id {
                rex_ready
            } else {
                dana_ready
            };
            let path = endpoint
                .path
                .replace("{id}", &target.to_string())
                .replace("{host}", "build-01.test.example");
            let path = match endpoint.path {
                "/api/v1/loans" if endpoint.method == "GET" => {
                    "/api/v1/loans?state=active&limit=5".to_owned()
                }
                _ => path,
            };
            let body = match (endpoint.method, endpoint.path) {
                ("POST", "/api/v1/loans") => Some(serde_json::json!({"pool": "build", "reason": "Matrix", "duration_hours": 8, "ssh_public_key": KEY})),
                ("POST", "/api/v1/approvals/{id}/deny") => Some(serde_json::json!({"reason": "Not this week"})),
                ("POST", "/api/v1/machines/{host}/actions") => Some(serde_json::json!({"action": "reboot", "reason": "Matrix"})),
                _ => None,
            }
            .map(|b| b.to_string());
            let method = Method::from_bytes(endpoint.method.as_bytes()).unwrap();
            let reply = api(&site, method, &path, secret.as_deref(), body.as_deref()).await;
            // `/me` answers any live token.
            let allowed = match endpoint.scope {
                Some(scope) => satisfies(kind).contains(&scope),
                None => owner.is_some(),
            };
            let expected = match (secret, allowed) {
                (_, true) => success(endpoint.method, endpoint.path),
                (Some(_), false) if owner.is_some() => 403,
                _ => 401,
            };
            if reply.status.as_u16() != expected {
                problems.push(format!(
                    "{} {} as {kind}: {} (expected {expected}): {}",
                    endpoint.method, endpoint.path, reply.status, reply.body
                ));
                continue;
            }
            let body = json(&reply);
            match expected {
                401 => {
                    assert_eq!(
                        body["error"]["code"], "unauthorized",
                        "{kind}: {}",
                        reply.body
                    );
                    assert_eq!(
                        reply.header("www-authenticate"),
                        Some("Bearer realm=\"loaner\"")
                    );
                }
                403 => {
                    // A developer's machines scopes are refused as such: machines are admins'.
                    let machines = endpoint.path.starts_with("/api/v1/machines");
                    let rule = match kind.as_str() {
                        "Dana: machines:act" | "Dana: machines:read" if machines => "admins_only",
                        _ => "token_scope",
                    };
                    assert_eq!(body["error"]["rule"], rule, "{kind}: {}", reply.body);
                }
                200 | 201 => assert!(body.get("error").is_none(), "{}", reply.body),
                _ => assert!(body["error"]["code"].is_string(), "{}", reply.body),
            }
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[tokio::test]
async fn a_token_borrows_follows_extends_and_returns_as_its_owner_and_the_audit_log_names_it() {
    let w = World::new().await;
    w.add_pool(w.pool_spec("build")).await;
    let site = w.web(true, "127.0.0.1:3000");
    let dana = w.developer("Dana").await;
    let eve = w.developer("Eve").await;
    let secret = token(&w, &dana, "laptop", &[Scope::LoansWrite]).await;

    let me = json(&api(&site, Method::GET, "/api/v1/me", Some(&secret), None).await);
    assert_eq!(me["name"], "Dana");
    assert_eq!(
        me["token"]["effective_scopes"],
        serde_json::json!(["loans:read", "loans:write"])
    );
    let pools = json(&api(&site, Method::GET, "/api/v1/pools", Some(&secret), None).await);
    assert_eq!(pools["pools"][0]["slug"], "build");
    assert_eq!(pools["pools"][0]["free"], 3);

    let body = serde_json::json!({"pool": "build", "reason": "Bisect a crash", "bug_ref": "4711", "ssh_public_key": KEY});
    let made = api(
        &site,
        Method::POST,
        "/api/v1/loans",
        Some(&secret),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let loan = json(&made);
    let id = loan["summary"]["id"].as_i64().unwrap();
    assert_eq!(
        made.header("location"),
        Some(format!("/api/v1/loans/{id}").as_str())
    );
    assert_eq!(loan["summary"]["state"], "provisioning");
    assert_eq!(loan["summary"]["borrower_name"], "Dana");
    // Left out, the duration is the pool's default (8 hours in the test pools).
    assert_eq!(loan["duration_hours"], 8);

    // `?wait=` answers once the loan has moved on: the worker makes it ready meanwhile.
    let follow = format!("/api/v1/loans/{id}?wait=20");
    let (ready, ()) = tokio::join!(
        api(&site, Method::GET, &follow, Some(&secret), None),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            w.drain().await
        }
    );
    assert_eq!(json(&ready)["summary"]["state"], "ready", "{}", ready.body);
    assert!(
        json(&ready)["connection"]["ssh_command"]
            .as_str()
            .is_some_and(|c| c.starts_with("ssh ")),
        "{}",
        ready.body
    );

    let listed = json(
        &api(
            &site,
            Method::GET,
            "/api/v1/loans?state=ready&pool=build",
            Some(&secret),
            None,
        )
        .await,
    );
    assert_eq!(listed["loans"].as_array().unwrap().len(), 1);
    let none = json(
        &api(
            &site,
            Method::GET,
            "/api/v1/loans?state=returned",
            Some(&secret),
            None,
        )
        .await,
    );
    assert_eq!(none["loans"], serde_json::json!([]));

    let extended = api(
        &site,
        Method::POST,
        &format!("/api/v1/loans/{id}/extend"),
        Some(&secret),
        None,
    )
    .await;
    assert_eq!(extended.status, StatusCode::OK, "{}", extended.body);
    // Another developer's token cannot see or touch Dana's loan: it is "not found". Nor can an
    // admin's token without the admin scope (a CI token of an admin's, say): it acts as a
    // developer would.
    let eves = token(&w, &eve, "eve", &[Scope::LoansWrite]).await;
    let rex = w.admin("Rex").await;
    let rex_ci = token(&w, &rex, "rex-ci", &[Scope::LoansWrite]).await;
    for (method, path, secret) in [
        (Method::GET, format!("/api/v1/loans/{id}"), &eves),
        (Method::POST, format!("/api/v1/loans/{id}/return"), &eves),
        (Method::GET, format!("/api/v1/loans/{id}"), &rex_ci),
        (Method::POST, format!("/api/v1/loans/{id}/return"), &rex_ci),
        (Method::POST, format!("/api/v1/loans/{id}/extend"), &rex_ci),
    ] {
        let reply = api(&site, method, &path, Some(secret), None).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            reply.body
        );
        assert_eq!(json(&reply)["error"]["code"], "not_found");
        assert!(!reply.body.contains("Bisect"), "{}", reply.body);
    }
    let eve_all = api(
        &site,
        Method::GET,
        "/api/v1/loans?scope=all",
        Some(&eves),
        None,
    )
    .await;
    assert_eq!(eve_all.status, StatusCode::FORBIDDEN, "{}", eve_all.body);
    // A cursor that is someone else's loan finds nothing (it would tell when it was requested).
    let probe = json(
        &api(
            &site,
            Method::GET,
            &format!("/api/v1/loans?before={id}"),
            Some(&eves),
            None,
        )
        .await,
    );
    assert_eq!(probe["loans"], serde_json::json!([]), "{probe}");

    let returned = api(
        &site,
        Method::POST,
        &format!("/api/v1/loans/{id}/return"),
        Some(&secret),
        None,
    )
    .await;
    assert_eq!(returned.status, StatusCode::OK, "{}", returned.body);
    assert_eq!(json(&returned)["summary"]["state"], "returning");

    let actors: Vec<String> = w
        .sql()
        .await
        .query(
            "SELECT DISTINCT actor FROM audit_log WHERE target_type = 'loans' AND target_id = $1 AND actor LIKE 'Dana%'",
            &[&id.to_string()],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!actors.is_empty());
    for actor in &actors {
        assert!(
            actor.starts_with("Dana via API token “laptop” (#"),
            "{actor}"
        );
    }
    let used: i64 = w
        .count("SELECT count(*) FROM api_tokens WHERE name = 'laptop' AND last_used_at IS NOT NULL")
        .await;
    assert_eq!(used, 1, "the token's last use is recorded");
}

#[tokio::test]
async fn api_errors_have_one_shape_that_names_the_field_or_the_rule() {
    let w = World::new().await;
    w.add_pool(w.pool_spec("build")).await;
    w.set_caps(Some(1), None).await;
    let site = w.web(true, "127.0.0.1:3000");
    let dana = w.developer("Dana").await;
    let secret = token(&w, &dana, "ci", &[Scope::LoansWrite]).await;
    let post = async |body: serde_json::Value| {
        api(
            &site,
            Method::POST,
            "/api/v1/loans",
            Some(&secret),
            Some(&body.to_string()),
        )
        .await
    };

    let invalid = post(serde_json::json!({"pool": "build", "reason": " ", "duration_hours": 9999, "ssh_public_key": "not a key"})).await;
    assert_eq!(
        invalid.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        invalid.body
    );
    let error = &json(&invalid)["error"];
    assert_eq!(error["code"], "invalid");
    assert_eq!(
        error["message"],
        "Invalid reason, duration_hours, ssh_public_key: see fields."
    );
    let fields: BTreeSet<&str> = error["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from(["reason", "duration_hours", "ssh_public_key"]),
        "{}",
        invalid.body
    );

    let first =
        post(serde_json::json!({"pool": "build", "reason": "One", "ssh_public_key": KEY})).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let capped =
        post(serde_json::json!({"pool": "build", "reason": "Two", "ssh_public_key": KEY})).await;
    assert_eq!(capped.status, StatusCode::FORBIDDEN, "{}", capped.body);
    assert_eq!(json(&capped)["error"]["code"], "refused");
    assert_eq!(
        json(&capped)["error"]["rule"],
        "max_loans_per_user",
        "{}",
        capped.body
    );

    for (body, what) in [
        ("{not json", "broken JSON"),
        (r#"{"pool": "build"}"#, "missing fields"),
        (
            r#"{"pool": "build", "reason": "x", "ssh_public_key": "k", "admin": true}"#,
            "an unknown field",
        ),
    ] {
        let reply = api(
            &site,
            Method::POST,
            "/api/v1/loans",
            Some(&secret),
            Some(body),
        )
        .await;
        assert!(
            reply.status.is_client_error() && reply.status != StatusCode::NOT_FOUND,
            "{what}: {} {}",
            reply.status,
            reply.body
        );
        assert!(
            json(&reply)["error"]["message"].is_string(),
            "{what}: {}",
            reply.body
        );
    }
    for (path, status) in [
        ("/api/v1/loans/abc", StatusCode::BAD_REQUEST),
        ("/api/v1/loans?limit=1000", StatusCode::UNPROCESSABLE_ENTITY),
        ("/api/v1/loans?state=lost", StatusCode::UNPROCESSABLE_ENTITY),
        ("/api/v1/loans?sort=evil", StatusCode::BAD_REQUEST),
        (
            "/api/v1/loans/1?wait=3600",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/api/v1/nothing-here", StatusCode::NOT_FOUND),
    ] {
        let reply = api(&site, Method::GET, path, Some(&secret), None).await;
        assert_eq!(reply.status, status, "{path}: {}", reply.body);
        assert!(
            json(&reply)["error"]["code"].is_string(),
            "{path}: {}",
            reply.body
        );
    }
    assert_eq!(
        w.count("SELECT count(*) FROM loans").await,
        1,
        "nothing refused was stored"
    );
}

#[tokio::test]
async fn an_admin_demoted_at_sign_in_loses_admin_on_their_tokens_and_a_revoked_token_is_refused_at_once(
) {
    let w = World::new().await;
    w.add_pool(w.pool_spec("build")).await;
    let site = w.web(true, "127.0.0.1:3000");
    let rex = w.admin("Rex").await;
    let secret = token(&w, &rex, "ops", &[Scope::Admin]).await;
    let all = api(
        &site,
        Method::GET,
        "/api/v1/loans?scope=all",
        Some(&secret),
        None,
    )
    .await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);

    // Rex signs in again as a developer (the identity provider no longer says admin).
    w.developer("Rex").await;
    let refused = api(
        &site,
        Method::GET,
        "/api/v1/loans?scope=all",
        Some(&secret),
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(
        json(&refused)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not an admin"),
        "{}",
        refused.body
    );

    // Revoked from the tokens page: the next call is refused.
    let rex_now = w.developer("Rex").await;
    let id: i64 = w
        .sql()
        .await
        .query_one("SELECT id FROM api_tokens WHERE name = 'ops'", &[])
        .await
        .unwrap()
        .get(0);
    tokens::revoke(
        &mut *w.conn().await,
        &rex_now,
        app::types::ApiTokenId(id),
        w.clock.now(),
    )
    .await
    .unwrap();
    let gone = api(&site, Method::GET, "/api/v1/me", Some(&secret), None).await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED, "{}", gone.body);
    assert!(
        json(&gone)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{}",
        gone.body
    );
    assert_eq!(w.count("SELECT count(*) FROM audit_log WHERE kind IN ('api_tokens.create', 'api_tokens.revoke')").await, 2);
}

#[tokio::test]
async fn tokens_are_made_shown_once_listed_and_revoked_through_the_account_page_functions() {
    let w = World::new().await;
    let site = w.web(true, "127.0.0.1:3000");
    let dana = site.sign_in("Dana", "developer").await;
    let eve = site.sign_in("Eve", "developer").await;
    let rex = site.sign_in("Rex", "admin").await;

    let made = site
        .call(
            "/api/create_api_token",
            Some(&dana),
            "name=CI+runner&scope_loans_read=on&scope_loans_write=on&expires_in_days=30",
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let made = json(&made);
    let secret = made["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("loaner_") && secret.len() == 71,
        "{secret}"
    );
    assert_eq!(
        made["token"]["scopes"],
        serde_json::json!(["loans:read", "loans:write"])
    );
    // Only the secret's SHA-256 is kept, and a hint of a few characters.
    let stored = w
        .count(&format!("SELECT count(*) FROM api_tokens WHERE token_hash = sha256('{secret}'::bytea) AND length(hint) < 16"))
        .await;
    assert_eq!(stored, 1, "the secret itself is not stored");

    let listed = site.call("/api/list_api_tokens", Some(&dana), "").await;
    assert!(
        !listed.body.contains(&secret),
        "the list never shows the secret"
    );
    assert!(listed.body.contains("CI runner"));
    // Eve sees nothing of it and cannot revoke it; a developer cannot list everyone's.
    assert!(!site
        .call("/api/list_api_tokens", Some(&eve), "")
        .await
        .body
        .contains("CI runner"));
    let id = made["token"]["id"].as_i64().unwrap();
    let eve_revoke = site
        .call("/api/revoke_api_token", Some(&eve), &format!("id={id}"))
        .await;
    assert_eq!(
        eve_revoke.status,
        StatusCode::NOT_FOUND,
        "{}",
        eve_revoke.body
    );
    let eves = json(&site.call("/api/list_api_tokens", Some(&eve), "").await);
    assert!(
        eves["everyone"].is_null(),
        "a developer sees no one else's tokens: {eves}"
    );
    // A developer cannot make an admin token, nor one that lives past the site's maximum.
    let admin = site
        .call("/api/create_api_token", Some(&eve), "name=x&scope_admin=on")
        .await;
    assert_eq!(
        admin.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        admin.body
    );
    assert!(admin.body.contains("scopes"), "{}", admin.body);
    let long = site
        .call(
            "/api/create_api_token",
            Some(&eve),
            "name=x&scope_loans_read=on&expires_in_days=4000",
        )
        .await;
    assert!(long.body.contains("expires_in_days"), "{}", long.body);
    let none = site
        .call(
            "/api/create_api_token",
            Some(&eve),
            "name=&expires_in_days=",
        )
        .await;
    assert!(
        none.body.contains("\"name\"") && none.body.contains("\"scopes\""),
        "{}",
        none.body
    );
    // Names go into the audit log's "… via API token “name”": no quotes, no hidden characters.
    for name in ["ci%E2%80%9D+(%231)", "evil%E2%80%AEnur", "a%0Ab"] {
        let bad = site
            .call(
                "/api/create_api_token",
                Some(&eve),
                &format!("name={name}&scope_loans_read=on"),
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(bad.body.contains("\"name\""), "{name}: {}", bad.body);
    }
    let machines = site
        .call(
            "/api/create_api_token",
            Some(&eve),
            "name=x&scope_machines_act=on",
        )
        .await;
    assert_eq!(
        machines.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        machines.body
    );
    assert_eq!(
        w.count("SELECT count(*) FROM api_tokens WHERE user_id = (SELECT id FROM users WHERE name = 'Eve')")
            .await,
        0,
        "nothing refused was stored"
    );

    assert_eq!(
        api(&site, Method::GET, "/api/v1/me", Some(&secret), None)
            .await
            .status,
        StatusCode::OK
    );
    // An admin sees everyone's tokens and revokes Dana's.
    let all = json(&site.call("/api/list_api_tokens", Some(&rex), "").await);
    assert_eq!(all["everyone"][0]["name"], "CI runner", "{all}");
    assert_eq!(all["everyone"][0]["owner"], "Dana", "{all}");
    let revoked = site
        .call("/api/revoke_api_token", Some(&rex), &format!("id={id}"))
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert_eq!(
        api(&site, Method::GET, "/api/v1/me", Some(&secret), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let page = site.page("/account/tokens", Some(&dana)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("API tokens"));
}

#[tokio::test]
async fn calls_over_a_persons_rate_limit_are_refused_with_a_wait_whichever_token_makes_them() {
    let w = World::new().await;
    let mut config = Config {
        dev_mode: Some(true),
        ..Config::default()
    };
    config.limits.api_calls_per_minute = 3;
    let site = w.web_with(config, "127.0.0.1:3000");
    let dana = w.developer("Dana").await;
    let secret = token(&w, &dana, "busy", &[Scope::LoansRead]).await;
    let other = token(&w, &dana, "calm", &[Scope::LoansRead]).await;
    let eve = w.developer("Eve").await;
    let eves = token(&w, &eve, "eve", &[Scope::LoansRead]).await;
    for _ in 0..3 {
        assert_eq!(
            api(&site, Method::GET, "/api/v1/me", Some(&secret), None)
                .await
                .status,
            StatusCode::OK
        );
    }
    let limited = api(&site, Method::GET, "/api/v1/me", Some(&secret), None).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert_eq!(json(&limited)["error"]["code"], "rate_limited");
    assert!(limited.header("retry-after").is_some());
    assert_eq!(
        api(&site, Method::GET, "/api/v1/me", Some(&other), None)
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS,
        "another token of the same person buys no more calls"
    );
    assert_eq!(
        api(&site, Method::GET, "/api/v1/me", Some(&eves), None)
            .await
            .status,
        StatusCode::OK,
        "limits are per person"
    );
}

#[tokio::test]
async fn the_openapi_document_lists_every_endpoint_and_is_valid_openapi_3_1() {
    let w = World::new().await;
    let site = w.web(true, "127.0.0.1:3000");
    let reply = api(&site, Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let document = json(&reply);
    assert_eq!(document["openapi"], "3.1.0");
    for endpoint in ENDPOINTS {
        let operation = &document["paths"][endpoint.path][endpoint.method.to_lowercase()];
        assert!(
            operation.is_object(),
            "{} {} is missing from the OpenAPI document",
            endpoint.method,
            endpoint.path
        );
        assert_eq!(
            operation["security"][0]["token"],
            serde_json::json!(endpoint
                .scope
                .map(Scope::as_str)
                .into_iter()
                .collect::<Vec<_>>()),
            "{} {}",
            endpoint.method,
            endpoint.path
        );
    }
    let operations: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(
        operations,
        ENDPOINTS.len(),
        "the document has no endpoint the API lacks"
    );

    // A real validator (PyPI openapi-spec-validator) checks it against the OpenAPI 3.1 schema.
    let check = validate(&reply.body);
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // And it tells a broken document from a good one.
    let mut broken = document.clone();
    broken["paths"]["/api/v1/me"]["get"]["responses"] = serde_json::json!("none");
    let refused = validate(&broken.to_string());
    assert!(
        !refused.status.success(),
        "the validator accepted a broken document"
    );
}

/// Runs PyPI's openapi-spec-validator (which scripts/test installs in target/venv) on `document`.
fn validate(document: &str) -> std::process::Output {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), document).unwrap();
    let python =
        std::env::var("SMTP_SINK_PYTHON").unwrap_or_else(|_| "target/venv/bin/python".into());
    std::process::Command::new(python)
        .args(["-m", "openapi_spec_validator", "--schema", "3.1"])
        .arg(file.path())
        .output()
        .expect("run openapi-spec-validator (scripts/test installs it in target/venv)")
}

#[tokio::test]
async fn an_admin_signing_someone_out_everywhere_ends_their_api_tokens_too() {
    let w = World::new().await;
    let site = w.web(true, "127.0.0.1:3000");
    let dana = w.developer("Dana").await;
    let rex = w.admin("Rex").await;
    let secret = token(&w, &dana, "laptop", &[Scope::LoansRead]).await;
    let own = token(&w, &rex, "rex", &[Scope::LoansRead]).await;
    // Dana signing out her other browsers keeps her tokens (they are for her scripts).
    app::server::people::end_sessions(
        &mut *w.conn().await,
        &dana,
        &dana,
        None,
        "signed out elsewhere",
        w.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(
        api(&site, Method::GET, "/api/v1/me", Some(&secret), None)
            .await
            .status,
        StatusCode::OK
    );
    // An admin ending her sessions on the people page ends them.
    app::server::people::end_sessions(
        &mut *w.conn().await,
        &rex,
        &dana,
        None,
        "left the team",
        w.clock.now(),
    )
    .await
    .unwrap();
    let gone = api(&site, Method::GET, "/api/v1/me", Some(&secret), None).await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED, "{}", gone.body);
    assert!(gone.body.contains("revoked"), "{}", gone.body);
    assert_eq!(
        api(&site, Method::GET, "/api/v1/me", Some(&own), None)
            .await
            .status,
        StatusCode::OK,
        "only hers"
    );
    let audited = w
        .count("SELECT count(*) FROM audit_log WHERE kind = 'api_tokens.revoke' AND actor = 'Rex'")
        .await;
    assert_eq!(audited, 1);
}
