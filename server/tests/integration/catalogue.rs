//! The catalogue every visitor opens is read and rendered once per change to the inventory:
//! visits in between read nothing from the database, and each kind of change (a machine taken,
//! a pool edited, the site's policy) shows on the next visit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crate::common::http::Site;
use crate::common::World;

/// The pool cards of a catalogue page (the rest carries a fresh nonce each time).
fn cards(page: &str) -> &str {
    let start = page
        .find("<div class=\"pool-grid\">")
        .expect("the pool cards");
    &page[start..start + page[start..].find("</main>").expect("the page's end")]
}

/// Visits the catalogue until it shows `text` (the change has been announced); fails after 3 s.
async fn shows(site: &Site, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let page = site.page("/", None).await;
        assert_eq!(page.status, 200);
        if page.body.contains(text) {
            return page.body;
        }
        assert!(
            Instant::now() < deadline,
            "the catalogue never showed {text:?}:\n{}",
            page.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_is_read_once_per_change_and_every_change_shows() {
    let w = World::new().await;
    let mut spec = w.pool_spec("build");
    spec.machines = 2;
    w.add_pool(spec).await;
    let site = w.web(true, "127.0.0.1:3000");
    let kept = &site.state.catalogue;

    // The first visit starts the process's listener; until it listens, nothing is kept.
    let deadline = Instant::now() + Duration::from_secs(5);
    while site.state.live.version().is_none() {
        assert!(Instant::now() < deadline, "the listener never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = shows(&site, "2 of 2 free now").await;
    let reads = kept.times_read();
    for _ in 0..5 {
        let again = site.page("/", None).await;
        assert_eq!(
            cards(&again.body),
            cards(&first),
            "nothing changed, nor do the cards"
        );
    }
    assert_eq!(
        kept.times_read(),
        reads,
        "visits with no change read nothing"
    );

    // A machine is taken.
    let ada = w.developer("ada").await;
    w.borrow(&ada, "build").await;
    shows(&site, "1 of 2 free now").await;
    assert!(kept.times_read() > reads);

    // A pool is edited (its policy left to the site's), then the site's policy changes.
    let sql = w.sql().await;
    sql.execute(
        "UPDATE pools SET name = 'Build farm', approval_mode = NULL WHERE slug = 'build'",
        &[],
    )
    .await
    .unwrap();
    let renamed = shows(&site, "Build farm").await;
    assert!(renamed.contains("Approved automatically"));
    sql.execute("UPDATE site_policy SET approval_mode = 'manual'", &[])
        .await
        .unwrap();
    shows(&site, "Needs admin approval").await;

    // A machine leaves service.
    sql.execute(
        "UPDATE machines SET state = 'maintenance' WHERE state = 'available'",
        &[],
    )
    .await
    .unwrap();
    shows(&site, "None free right now (0 of 1)").await;
}
