//! Calling the real router in process, as a browser or the app's WASM would: server functions,
//! pages, plain form posts, the development login.

use app::server::AppState;
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
    /// The state it serves from (its caches, its live listener).
    pub state: AppState,
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
            router: server::http::router(state.clone()),
            state,
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

    /// Sends a request; reads the whole body, or only the first event of an event stream
    /// (which never ends).
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let streaming = headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let mut body = response.into_body();
        let body = match streaming {
            true => {
                let frame = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame())
                    .await
                    .expect("an event stream sends its first event");
                frame
                    .and_then(|f| f.ok())
                    .and_then(|f| f.into_data().ok())
                    .unwrap_or_default()
            }
            false => body.collect().await.unwrap().to_bytes(),
        };
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

/// A site signing people in through the shared test provider ("Test SSO"): admins are the
/// members of `loaner-admins`, and only `example.com` addresses may sign in.
pub struct SsoSite {
    pub site: Site,
    pub provider: super::oidc::Provider,
}

impl World {
    /// The web application with single sign-on through the shared test provider, discovered.
    pub async fn sso_web(&self) -> SsoSite {
        self.sso_web_with(|_| {}).await
    }

    /// As `sso_web`, with the `[oidc]` settings changed by `change`.
    pub async fn sso_web_with(
        &self,
        change: impl FnOnce(&mut server::config::OidcConfig),
    ) -> SsoSite {
        let provider = super::oidc::Provider::shared().await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bind = format!("127.0.0.1:{port}");
        let client = provider.register_client(
            &format!("http://{bind}/auth/callback"),
            &format!("http://{bind}/signed-out"),
            Some("a client secret"),
        );
        let mut oidc = server::config::OidcConfig {
            issuer: provider.issuer.clone(),
            client_id: client.client_id.clone(),
            client_secret: client.client_secret.clone().map(server::config::Secret),
            scopes: ["openid", "email", "profile", "groups"]
                .map(String::from)
                .to_vec(),
            admin_groups: vec!["loaner-admins".into()],
            allowed_email_domains: vec!["example.com".into()],
            display_name: "Test SSO".into(),
            ..Default::default()
        };
        change(&mut oidc);
        let config = Config {
            dev_mode: Some(true),
            bind: bind.parse().unwrap(),
            oidc: Some(oidc.clone()),
            ..Config::default()
        };
        config.validate().expect("a valid configuration");
        let state = self.app_state(config, &bind);
        let sso = server::auth::Sso::new(&oidc, &state.site.public_url).expect("sso");
        sso.discover().await.expect("discover the test provider");
        let host = format!(
            "{}:{}",
            state.site.public_url.host, state.site.public_url.port
        );
        let router =
            server::http::router_with(state.clone(), server::auth::SignIn { sso: Some(sso) });
        SsoSite {
            site: Site {
                router,
                state,
                host,
            },
            provider,
        }
    }
}

/// Cookies a browser holds for the site, by name.
#[derive(Clone, Debug, Default)]
pub struct Jar(pub Vec<(String, String)>);

impl Jar {
    /// Takes in what a reply's `Set-Cookie` headers say (a `Max-Age=0` one deletes).
    pub fn take(&mut self, reply: &Reply) {
        for value in reply.headers.get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.0.retain(|(n, _)| n != name);
            if !attributes.contains("Max-Age=0") {
                self.0.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    /// Whether the browser holds a cookie whose name starts with `prefix`.
    pub fn has(&self, prefix: &str) -> bool {
        self.0.iter().any(|(n, _)| n.starts_with(prefix))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `Cookie` header value.
    pub fn header(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| {
            self.0
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

impl SsoSite {
    /// Opens `path` with the browser's cookies, keeping what the reply sets.
    pub async fn open(&self, path: &str, jar: &mut Jar) -> Reply {
        let reply = self.site.page(path, jar.header().as_deref()).await;
        jar.take(&reply);
        reply
    }

    /// Presses "Sign in" (asking to come back to `next`): the provider's authorization URL.
    pub async fn start(&self, next: &str, jar: &mut Jar) -> String {
        let reply = self
            .open(&format!("/auth/login?next={}", urlencode(next)), jar)
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let location = reply.header("location").unwrap().to_owned();
        assert!(
            location.starts_with(&self.provider.issuer),
            "off to the provider: {location}"
        );
        location
    }

    /// Opens the callback URL the provider sent the browser to.
    pub async fn callback(&self, callback_url: &str, jar: &mut Jar) -> Reply {
        let path = callback_url
            .split_once("/auth/callback")
            .map(|(_, rest)| format!("/auth/callback{rest}"))
            .unwrap_or_else(|| panic!("not our callback: {callback_url}"));
        self.open(&path, jar).await
    }

    /// Presses "Sign in" (to come back to `/`) in a fresh browser and signs in at the provider as
    /// `login`: the browser's cookies, and the callback URL the provider sends it to (not opened).
    pub async fn back_from_provider(&self, login: &str) -> (Jar, String) {
        let mut jar = Jar::default();
        let authorize = self.start("/", &mut jar).await;
        let http = super::oidc::http_client();
        let callback = self.provider.sign_in(&http, &authorize, login).await;
        (jar, callback)
    }

    /// A whole sign-in as `login` in a fresh browser; returns its cookies.
    pub async fn sign_in(&self, login: &str) -> Jar {
        let (mut jar, callback) = self.back_from_provider(login).await;
        let reply = self.callback(&callback, &mut jar).await;
        assert_eq!(reply.header("location"), Some("/"), "{}", reply.body);
        assert!(jar.get("loaner_session").is_some(), "a session cookie");
        jar
    }

    /// Who the site says the browser is: (email, role) or None.
    pub async fn who(&self, jar: &Jar) -> Option<(String, String)> {
        let reply = self
            .site
            .call("/api/get_session", jar.header().as_deref(), "")
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let info: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        info["user"].as_object().map(|user| {
            (
                user["email"].as_str().unwrap().to_owned(),
                user["role"].as_str().unwrap().to_owned(),
            )
        })
    }
}

/// Percent-encodes a query parameter value.
pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
