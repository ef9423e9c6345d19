//! Limits on what one client may send: the size of a request body (413 beyond it, nothing
//! read further), and how often one address may sign in or open email links (429 with
//! `Retry-After`). The per-person limit on loan requests is checked where loans are requested.

use std::net::{IpAddr, SocketAddr};

use app::error::AppError;
use app::server::context::ClientAddress;
use app::server::limits::AddressLimit;
use app::server::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;

use super::refusal::refuse;

/// Refuses bodies over the limit: at once when `Content-Length` says so, else while reading.
pub async fn body_size(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = state.site.body_limit_bytes;
    let too_large = || AppError::TooLarge {
        limit_kib: limit / 1024,
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => refuse(
            request.headers(),
            request.uri().path(),
            "Too large",
            too_large(),
        ),
        Some(_) => next.run(request).await,
        None if matches!(*request.method(), Method::GET | Method::HEAD) => next.run(request).await,
        None => {
            // A chunked body: read at most the limit before the app sees it.
            let (parts, body) = request.into_parts();
            match axum::body::to_bytes(body, limit).await {
                Ok(bytes) => {
                    next.run(Request::from_parts(parts, Body::from(bytes)))
                        .await
                }
                Err(_) => refuse(&parts.headers, parts.uri.path(), "Too large", too_large()),
            }
        }
    }
}

/// The client's address: the peer, or — when the peer is a trusted proxy — the last address in
/// `X-Forwarded-For` that is not one of ours.
/// IPv4 clients of a dual-stack listener arrive as `::ffff:a.b.c.d`: counted as themselves.
pub fn client_address(state: &AppState, request: &Request) -> IpAddr {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip().to_canonical());
    let trusted = |ip: &IpAddr| {
        state
            .site
            .trusted_proxies
            .iter()
            .any(|t| t.to_canonical() == *ip)
    };
    if !trusted(&peer) {
        return peer;
    }
    // From the right: our proxies append; the first entry that is not one of them is the
    // client. An entry that does not read as an address ends the walk (the proxy is counted),
    // so a client cannot slip in an address of its choosing behind one.
    for entry in forwarded_for(request.headers()).iter().rev() {
        match entry.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
            Ok(ip) if trusted(&ip) => continue,
            Ok(ip) => return ip,
            Err(_) => return peer,
        }
    }
    peer
}

fn forwarded_for(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|entry| entry.trim().to_owned())
        .collect()
}

/// Which address limit a request counts against, if any.
fn address_limit(method: &Method, path: &str) -> Option<AddressLimit> {
    match (method, path) {
        (&Method::POST, "/api/dev_login") | (_, "/auth/login") => Some(AddressLimit::SignIn),
        (_, "/api/get_link" | "/api/use_link") => Some(AddressLimit::Links),
        (_, path) if path.starts_with("/l/") => Some(AddressLimit::Links),
        _ => None,
    }
}

/// Counts requests against their address limit. Also notes the client's address on every
/// request, for the sessions list and the audit log.
pub async fn rate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let client = client_address(&state, &request);
    request.extensions_mut().insert(ClientAddress(client));
    let Some(limit) = address_limit(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    match state.limits.check_address(limit, client) {
        Ok(()) => next.run(request).await,
        Err(limited) => {
            tracing::warn!(client = %client, what = limited.what, "rate limit reached");
            refuse(
                request.headers(),
                request.uri().path(),
                "Slow down",
                limited.into(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_and_link_paths_count() {
        assert_eq!(
            address_limit(&Method::POST, "/api/dev_login"),
            Some(AddressLimit::SignIn)
        );
        assert_eq!(
            address_limit(&Method::GET, "/l/abc"),
            Some(AddressLimit::Links)
        );
        assert_eq!(
            address_limit(&Method::POST, "/api/use_link"),
            Some(AddressLimit::Links)
        );
        assert_eq!(address_limit(&Method::GET, "/loans/1"), None);
    }
}
