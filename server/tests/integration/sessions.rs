//! Sessions people can trust: an idle timeout and an absolute lifetime, a list of one's own
//! sessions with a way to end the others, admins ending anyone's, and the daily clean-up.

use axum::http::StatusCode;
use chrono::Duration;

use crate::common::World;

const BIND: &str = "127.0.0.1:3000";

async fn signed_in(site: &crate::common::http::Site, cookie: &str) -> bool {
    let reply = site.call("/api/get_session", Some(cookie), "").await;
    let info: serde_json::Value = serde_json::from_str(&reply.body).unwrap_or_default();
    info["user"].is_object()
}

#[tokio::test]
async fn a_session_ends_when_unused_too_long_or_too_old_however_busy() {
    let w = World::new().await;
    let site = w.web(true, BIND);
    let idle = site.sign_in("Ida", "developer").await;
    w.clock.advance(Duration::minutes(239));
    assert!(
        signed_in(&site, &idle).await,
        "used within the idle timeout"
    );
    w.clock.advance(Duration::minutes(239));
    assert!(signed_in(&site, &idle).await, "each use keeps it alive");
    w.clock.advance(Duration::minutes(241));
    assert!(
        !signed_in(&site, &idle).await,
        "unused for longer than 240 minutes"
    );

    let busy = site.sign_in("Bea", "developer").await;
    for _ in 0..5 {
        w.clock.advance(Duration::minutes(140));
        assert!(signed_in(&site, &busy).await);
    }
    w.clock.advance(Duration::minutes(60));
    assert!(
        !signed_in(&site, &busy).await,
        "12 hours after sign-in, however busy"
    );
}

#[tokio::test]
async fn people_see_their_sessions_and_end_the_others_but_never_someone_elses() {
    let w = World::new().await;
    let site = w.web(true, BIND);
    let laptop = site.sign_in("Ada", "developer").await;
    let desktop = site.sign_in("Ada", "developer").await;
    let bob = site.sign_in("Bob", "developer").await;

    let reply = site.call("/api/my_sessions", Some(&laptop), "").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(rows.len(), 2, "Ada's two sessions, not Bob's");
    assert_eq!(rows.iter().filter(|r| r["current"] == true).count(), 1);
    assert!(rows.iter().all(|r| r["via"] == "development login"));
    let desktop_id = rows.iter().find(|r| r["current"] == false).unwrap()["id"].clone();

    // Bob cannot end Ada's session: it is "not found" for him, and stays.
    let reply = site
        .call(
            "/api/end_my_session",
            Some(&bob),
            &format!("id={desktop_id}"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    assert!(signed_in(&site, &desktop).await);

    let reply = site
        .call(
            "/api/end_my_session",
            Some(&laptop),
            &format!("id={desktop_id}"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(!signed_in(&site, &desktop).await);
    assert!(signed_in(&site, &laptop).await);

    let phone = site.sign_in("Ada", "developer").await;
    let reply = site
        .call("/api/end_other_sessions", Some(&laptop), "")
        .await;
    assert_eq!(reply.body, "1");
    assert!(!signed_in(&site, &phone).await);
    assert!(signed_in(&site, &laptop).await, "the one in use stays");
    assert!(signed_in(&site, &bob).await, "nobody else's");
    assert_eq!(
        w.count("SELECT count(*) FROM audit_log WHERE kind = 'user.sessions_ended'")
            .await,
        2
    );
}

#[tokio::test]
async fn admins_end_anyones_sessions_and_developers_cannot() {
    let w = World::new().await;
    let site = w.web(true, BIND);
    let ada = site.sign_in("Ada", "developer").await;
    let bob = site.sign_in("Bob", "developer").await;
    let root = site.sign_in("Root", "admin").await;
    let ada_id: i64 = w
        .sql()
        .await
        .query_one("SELECT id FROM users WHERE email = 'ada@example.com'", &[])
        .await
        .unwrap()
        .get(0);

    let reply = site
        .call(
            "/api/admin/end_sessions",
            Some(&bob),
            &format!("id={ada_id}"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(signed_in(&site, &ada).await);

    let reply = site.call("/api/admin/list_people", Some(&root), "").await;
    let people: Vec<serde_json::Value> = serde_json::from_str(&reply.body).unwrap();
    let row = people
        .iter()
        .find(|p| p["email"] == "ada@example.com")
        .unwrap();
    assert_eq!(row["active_sessions"], 1);

    let reply = site
        .call(
            "/api/admin/end_sessions",
            Some(&root),
            &format!("id={ada_id}"),
        )
        .await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "1"));
    assert!(!signed_in(&site, &ada).await);
    let actor: String = w
        .sql()
        .await
        .query_one(
            "SELECT actor FROM audit_log WHERE kind = 'user.sessions_ended'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(actor, "Root");
    let reply = site
        .call("/api/admin/end_sessions", Some(&root), "id=999999")
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_daily_clean_up_deletes_ended_sessions_and_unfinished_sign_ins() {
    let w = World::new().await;
    let site = w.web(true, BIND);
    let _old = site.sign_in("Old", "developer").await;
    let mut conn = w.conn().await;
    server::auth::attempts::start(&mut conn, "s", "b", "n", "v", "/", w.clock.now())
        .await
        .unwrap();
    w.clock.advance(Duration::minutes(200));
    let fresh = site.sign_in("Fresh", "developer").await;
    w.clock.advance(Duration::minutes(60));
    let policy = w.site().session_policy();
    let sessions = app::server::sessions::purge_stale(&mut conn, w.clock.now(), policy)
        .await
        .unwrap();
    let attempts = server::auth::attempts::purge_expired(&mut conn, w.clock.now())
        .await
        .unwrap();
    assert_eq!((sessions, attempts), (1, 1));
    assert!(signed_in(&site, &fresh).await);
    assert_eq!(w.count("SELECT count(*) FROM sessions").await, 1);
}

#[tokio::test]
async fn a_page_polling_for_news_does_not_keep_its_session_alive() {
    let w = World::new().await;
    let site = w.web(true, BIND);
    let left_open = site.sign_in("Lea", "developer").await;
    let in_use = site.sign_in("Uma", "developer").await;
    w.clock.advance(Duration::minutes(200));
    let poll = site
        .call("/api/get_loan", Some(&left_open), "id=1&polling=true")
        .await;
    assert_eq!(poll.status, StatusCode::NOT_FOUND, "{}", poll.body);
    let look = site.call("/api/get_loan", Some(&in_use), "id=1").await;
    assert_eq!(look.status, StatusCode::NOT_FOUND, "{}", look.body);
    w.clock.advance(Duration::minutes(50));
    assert!(!signed_in(&site, &left_open).await, "polling is not use");
    assert!(signed_in(&site, &in_use).await, "looking is");
}
