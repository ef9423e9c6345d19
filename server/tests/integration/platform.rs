//! What the server stands on: migrations that revert, and the private PostgreSQL of the
//! zero-configuration mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;

#[tokio::test]
async fn every_migration_reverts_and_applies_again() {
    let w = World::new().await;
    let tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations'";
    assert_eq!(w.count(tables).await, 17);

    let reverted = server::database::revert_all(&w.db.url).await.unwrap();
    assert_eq!(w.count(tables).await, 0);
    let applied = server::database::migrate(&w.db.url).await.unwrap();

    assert_eq!(reverted, applied);
    assert_eq!(w.count(tables).await, 17);
}

#[tokio::test]
async fn the_private_cluster_starts_serves_and_stops() {
    let dir = tempfile::Builder::new()
        .prefix("lpg")
        .tempdir_in("/tmp")
        .unwrap();
    // As root the cluster runs as `postgres`, which must be able to reach the folder.
    let mut perms = std::fs::metadata(dir.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(dir.path(), perms).unwrap();

    let data_dir = dir.path().to_owned();
    let cluster =
        tokio::task::spawn_blocking(move || server::private_pg::PrivateCluster::start(&data_dir))
            .await
            .unwrap()
            .unwrap();
    let url = cluster.database_url();
    assert!(url.starts_with("postgres://loaner@/loaner?host=/"), "{url}");
    assert!(server::database::migrate(&url).await.unwrap() >= 5);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let listen: String = client
        .query_one("SHOW listen_addresses", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(listen, "", "no TCP port: unix socket only");
    drop(client);

    cluster.stop();
    assert!(tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .is_err());
}
