//! Calling the real router in process, as a browser or the app's WASM would: server functions,
//! pages, plain form posts, the development login.

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use server::config::Config;
use tower::ServiceExt;

use super::World;

/// A router and the `Host` it answers for.
#[derive(Clone)]
pub struct Site {
    pub router: Router,
    /// `host:port` of its public URL.
    pub host: String,
}

impl World {
    /// The web application as `loaner serve` runs it, bound to `bind` (public URL `http://{bind}`)
    /// in development mode or not.
    pub fn web(&self, dev_mode: bool, bind: &str) -> Site {
        self.web_with(
            Config {
                dev_mode: Some(dev_mode),
                ..Config::default()
            },
            bind,
        )
    }

    /// The web application run with `config`, bound to `bind`.
    pub fn web_with(&self, config: Config, bind: &str) -> Site {
        let state = self.app_state(config, bind);
        let host = format!(
            "{}:{}",
            state.site.public_url.host, state.site.public_url.port
        );
        Site {
            router: server::http::router(state),
            host,
        }
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The session cookie the reply sets, as a `Cookie` header value.
    pub fn cookie(&self) -> Option<String> {
        self.header("set-cookie")
            .and_then(|c| c.split(';').next())
            .map(str::to_owned)
    }
}

impl Site {
    /// A request to this site, with its `Host`.
    pub fn request(&self, method: Method, path: &str) -> axum::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.host)
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// Calls a server function the way the app's WASM does.
    pub async fn call(&self, path: &str, cookie: Option<&str>, form: &str) -> Reply {
        let mut request = self
            .request(Method::POST, path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::from(form.to_owned())).unwrap())
            .await
    }

    /// Opens a page as a browser does.
    pub async fn page(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut request = self
            .request(Method::GET, path)
            .header(header::ACCEPT, "text/html");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    /// A plain HTML form post (no JavaScript) from this site's page `referer`.
    pub async fn form_post(&self, path: &str, referer: &str, form: &str) -> Reply {
        let origin = format!("http://{}", self.host);
        let request = self
            .request(Method::POST, path)
            .header(header::ORIGIN, &origin)
            .header(header::REFERER, format!("{origin}{referer}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "text/html,application/xhtml+xml")
            .body(Body::from(form.to_owned()))
            .unwrap();
        self.send(request).await
    }

    /// Signs in through the development login; returns the `Cookie` header value.
    pub async fn sign_in(&self, name: &str, role: &str) -> String {
        let email = format!("{}@example.com", name.to_lowercase());
        let reply = self
            .call(
                "/api/dev_login",
                None,
                &format!("name={name}&email={email}&role={role}"),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let cookie = reply
            .header("set-cookie")
            .expect("a session cookie")
            .to_owned();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        reply.cookie().unwrap()
    }
}
