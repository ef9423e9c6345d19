//! The browser bundle and other static files. `scripts/common.sh` (`build_site`) puts the bundle
//! in `site/pkg/<hash>/`, named by its content, with brotli and gzip copies made once at build;
//! `site/pkg/current` names that folder. Files under a hashed folder never change, so browsers
//! keep them for a year and a repeat visit downloads nothing; the rest is revalidated
//! (`Last-Modified`, answered with 304).

use std::path::Path;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use tower_http::services::ServeDir;

/// The bundle's folder under the site root, as pages name it: `pkg/<hash>` when the site was
/// built with hashed names, else `pkg`.
pub fn pkg_dir(site_root: &Path) -> String {
    std::fs::read_to_string(site_root.join("pkg").join("current"))
        .ok()
        .map(|hash| hash.trim().to_owned())
        .filter(|hash| is_hash(hash) && site_root.join("pkg").join(hash).is_dir())
        .map_or_else(|| "pkg".to_owned(), |hash| format!("pkg/{hash}"))
}

/// `/pkg/…` from the files on disk, the precompressed copy when the browser takes it.
pub fn routes<S: Clone + Send + Sync + 'static>(site_root: &Path) -> Router<S> {
    let files = ServeDir::new(site_root.join("pkg"))
        .precompressed_br()
        .precompressed_gzip();
    Router::new().nest_service("/pkg", files)
}

/// How long a browser may keep a static file.
pub async fn cache_headers(request: Request, next: Next) -> Response {
    let policy = cache_policy(request.uri().path());
    let mut response = next.run(request).await;
    if let Some(policy) = policy {
        if matches!(response.status(), StatusCode::OK | StatusCode::NOT_MODIFIED) {
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
        }
    }
    response
}

fn cache_policy(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/pkg/")?;
    Some(match rest.split_once('/') {
        Some((folder, _)) if is_hash(folder) => "public, max-age=31536000, immutable",
        _ => "no-cache",
    })
}

/// A bundle folder name: 16 lowercase hex digits.
fn is_hash(name: &str) -> bool {
    name.len() == 16 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_in_a_hashed_folder_are_kept_for_a_year() {
        assert_eq!(
            cache_policy("/pkg/0123456789abcdef/loaner_bg.wasm"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(cache_policy("/pkg/loaner.css"), Some("no-cache"));
        assert_eq!(cache_policy("/pkg/0123456789ABCDEF/x.js"), Some("no-cache"));
        assert_eq!(cache_policy("/pkg/0123/x.js"), Some("no-cache"));
        assert_eq!(cache_policy("/loans/1"), None);
    }
}
