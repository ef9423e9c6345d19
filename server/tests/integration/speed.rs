//! Speed a user feels: no stall on a kept-alive connection, and a browser bundle compressed once
//! and kept by the browser.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use http_body_util::BodyExt;
use server::config::Config;
use tower::ServiceExt;

use crate::common::World;

const HASH: &str = "0123456789abcdef";

/// A site folder as `build_site` leaves it: the bundle in `pkg/<hash>/`, brotli and gzip copies
/// beside each file (here with bytes no compressor would make, so a test sees which was sent).
fn site_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let pkg = root.path().join("pkg").join(HASH);
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(root.path().join("pkg/current"), format!("{HASH}\n")).unwrap();
    let css = ".loan { color: #123456; }\n".repeat(4000);
    for dir in [pkg.as_path(), &root.path().join("pkg")] {
        std::fs::write(dir.join("loaner.css"), &css).unwrap();
        std::fs::write(dir.join("loaner.css.br"), b"made once by brotli").unwrap();
        std::fs::write(dir.join("loaner.css.gz"), b"made once by gzip").unwrap();
    }
    std::fs::write(pkg.join("loaner.js"), "export default function init() {}\n").unwrap();
    std::fs::write(pkg.join("loaner_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    root
}

fn config(root: &Path) -> Config {
    Config {
        dev_mode: Some(true),
        site_root: root.to_owned(),
        ..Config::default()
    }
}

/// Reads one HTTP/1.1 response (fixed length or chunked) from a kept-alive connection.
fn read_response(reader: &mut BufReader<TcpStream>) -> (u16, usize) {
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    let code: u16 = status.split(' ').nth(1).unwrap().parse().unwrap();
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("content-length:") {
            length = n.trim().parse().unwrap();
        }
        if line == "transfer-encoding: chunked" {
            chunked = true;
        }
    }
    if !chunked {
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        return (code, length);
    }
    let mut total = 0;
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).unwrap();
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        let mut chunk = vec![0; n + 2];
        reader.read_exact(&mut chunk).unwrap();
        total += n;
        if n == 0 {
            return (code, total);
        }
    }
}

/// Times `count` requests for `path`, one after another on one kept-alive connection.
fn timings(address: std::net::SocketAddr, path: &str, count: usize) -> Vec<Duration> {
    let stream = TcpStream::connect(address).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    (0..count)
        .map(|_| {
            let started = Instant::now();
            write!(
                writer,
                "GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: text/html\r\n\r\n"
            )
            .unwrap();
            let (status, length) = read_response(&mut reader);
            assert_eq!(status, 200, "GET {path}");
            assert!(length > 1000, "GET {path} answered {length} bytes");
            started.elapsed()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_request_on_a_kept_alive_connection_is_as_fast_as_the_first() {
    let w = World::new().await;
    let root = site_root();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let state = w.app_state(config(root.path()), &address.to_string());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let serving = tokio::spawn(server::runtime::serve_http(
        listener,
        server::http::router(state),
        stopped,
    ));

    for path in ["/login", &format!("/pkg/{HASH}/loaner.css")] {
        let target = path.to_owned();
        let times = tokio::task::spawn_blocking(move || timings(address, &target, 6))
            .await
            .unwrap();
        // The first request warms up; the rest must not wait for a delayed acknowledgement
        // (about 40 ms each without TCP_NODELAY).
        let fastest = times.iter().min().unwrap();
        for (i, time) in times.iter().enumerate().skip(1) {
            assert!(
                *time <= *fastest + Duration::from_millis(10),
                "request {} of {path} on one connection took {time:?}; the fastest took {fastest:?} (all: {times:?})",
                i + 1
            );
        }
    }
    stop.send(true).unwrap();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_bundle_is_compressed_once_named_by_its_content_and_kept_for_a_year() {
    let w = World::new().await;
    let root = site_root();
    let site = w.web_with(config(root.path()), "127.0.0.1:3000");
    let get = |path: String, encoding: Option<&'static str>| {
        let site = site.clone();
        async move {
            let mut request = site.request(Method::GET, &path);
            if let Some(encoding) = encoding {
                request = request.header(header::ACCEPT_ENCODING, encoding);
            }
            let response = site
                .router
                .clone()
                .oneshot(request.body(Body::empty()).unwrap())
                .await
                .unwrap();
            let (parts, body) = response.into_parts();
            (parts, body.collect().await.unwrap().to_bytes())
        }
    };

    // Pages name the bundle by its folder.
    let page = site.page("/login", None).await;
    assert!(
        page.body
            .contains(&format!("href=\"/pkg/{HASH}/loaner.css\"")),
        "the page links the hashed stylesheet"
    );
    assert!(page.body.contains(&format!("/pkg/{HASH}/loaner.js")));
    assert!(page.body.contains(&format!("/pkg/{HASH}/loaner_bg.wasm")));

    let css = format!("/pkg/{HASH}/loaner.css");
    let (parts, body) = get(css.clone(), Some("gzip, deflate, br")).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.headers[header::CONTENT_ENCODING], "br");
    assert_eq!(&body[..], b"made once by brotli", "the copy made at build");
    assert_eq!(
        parts.headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    let (parts, body) = get(css.clone(), Some("gzip")).await;
    assert_eq!(parts.headers[header::CONTENT_ENCODING], "gzip");
    assert_eq!(&body[..], b"made once by gzip");
    let (parts, body) = get(css.clone(), None).await;
    assert!(parts.headers.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(body.len(), ".loan { color: #123456; }\n".len() * 4000);

    // A revalidation downloads nothing.
    let modified = parts.headers[header::LAST_MODIFIED]
        .to_str()
        .unwrap()
        .to_owned();
    let request = site
        .request(Method::GET, &css)
        .header(header::IF_MODIFIED_SINCE, modified)
        .body(Body::empty())
        .unwrap();
    let reply = site.send(request).await;
    assert_eq!(reply.status, StatusCode::NOT_MODIFIED);
    assert!(reply.body.is_empty());

    // The unhashed stylesheet (for refusal pages) may change, so it is revalidated.
    let (parts, _) = get("/pkg/loaner.css".into(), Some("br")).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.headers[header::CACHE_CONTROL], "no-cache");

    // Nothing outside the bundle folder is reachable through it.
    let (parts, _) = get("/pkg/../../etc/passwd".into(), None).await;
    assert_ne!(parts.status, StatusCode::OK);
}

#[tokio::test]
async fn only_islands_hydrate_and_the_admin_pages_load_a_bundle_of_their_own() {
    let w = World::new().await;
    w.add_pool(w.pool_spec("gpu")).await;
    let root = site_root();
    let site = w.web_with(config(root.path()), "127.0.0.1:3000");
    let developer = site.sign_in("Dora", "developer").await;
    let admin = site.sign_in("Ada", "admin").await;
    let people_bundle = format!("/pkg/{HASH}/loaner_bg.wasm");
    let admin_bundle = format!("/pkg/{HASH}/loaner_admin_bg.wasm");

    // The catalogue is rendered, not hydrated: its pools are in the HTML once, not again as
    // data for the browser.
    let catalogue = site.page("/", Some(&developer)).await;
    assert_eq!(catalogue.status, StatusCode::OK);
    assert!(catalogue.body.contains("Pool gpu"), "{}", catalogue.body);
    assert!(
        !catalogue.body.contains("description_html"),
        "the pool list is sent again as hydration data: {}",
        catalogue.body
    );
    assert!(catalogue.body.contains(&people_bundle));

    // The request form is an island: its data travels with it.
    let form = site.page("/request/gpu", Some(&developer)).await;
    assert!(form.body.contains("<leptos-island"), "{}", form.body);
    assert!(form.body.contains(&people_bundle));
    assert!(!form.body.contains(&admin_bundle));

    // Admin pages name the admin pages' bundle, the pool and machine editors theirs, and only it.
    let inventory_bundle = format!("/pkg/{HASH}/loaner_inventory_bg.wasm");
    for (path, bundle) in [
        ("/admin", &admin_bundle),
        ("/admin/approvals", &admin_bundle),
        ("/admin/people", &admin_bundle),
        ("/admin/pools/gpu", &inventory_bundle),
        ("/admin/machines/new", &inventory_bundle),
    ] {
        let page = site.page(path, Some(&admin)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            page.body.contains("<leptos-island"),
            "{path}: {}",
            page.body
        );
        let named: Vec<&String> = [&people_bundle, &admin_bundle, &inventory_bundle]
            .into_iter()
            .filter(|b| page.body.contains(b.as_str()))
            .collect();
        assert_eq!(named, vec![bundle], "{path}");
    }
}

/// The pool hands out connections without a round trip to check each; connections the database
/// closed meanwhile (a restart, terminated backends) are known to be closed and cost no request
/// an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_the_database_dropped_cost_no_request_an_error() {
    let w = World::new().await;
    w.add_pool(w.pool_spec("build")).await;
    let site = w.web(true, "127.0.0.1:3000");
    let cookie = site.sign_in("ada", "developer").await;
    for _ in 0..4 {
        assert_eq!(site.page("/loans", Some(&cookie)).await.status, 200);
    }
    let dropped = w
        .sql()
        .await
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .len();
    assert!(dropped > 0, "the pool held connections");
    tokio::time::sleep(Duration::from_millis(200)).await;
    for n in 0..8 {
        let page = site.page("/loans", Some(&cookie)).await;
        assert_eq!(
            page.status, 200,
            "request {n} after the drop: {}",
            page.body
        );
    }
}
