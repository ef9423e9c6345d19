//! Walking the provider's own pages as a browser would, without JavaScript: sign-in, cancel,
//! sign-out. Each walk ends where the provider sends the browser away (to the client) or on a
//! page of its own.

use std::time::Duration;

use reqwest::{StatusCode, Url};

use super::Provider;

/// Where a walk through the provider's pages stopped.
#[derive(Clone)]
pub enum Landing {
    /// The provider sent the browser away (to the client): this URL, e.g. the client's
    /// callback with `code`, `state`, `iss`, or with `error`.
    Away(String),
    /// The provider showed one of its own pages.
    Page {
        url: String,
        status: StatusCode,
        html: String,
    },
}

/// A page shows as its title and message, not its whole HTML.
impl std::fmt::Debug for Landing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Landing::Away(url) => f.debug_tuple("Away").field(url).finish(),
            Landing::Page { url, status, html } => f
                .debug_struct("Page")
                .field("url", url)
                .field("status", status)
                .field("title", &markup::title(html))
                .field("alert", &markup::alert(html))
                .finish_non_exhaustive(),
        }
    }
}

/// A browser-like HTTP client: keeps cookies, follows no redirects (the caller sees each hop).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

impl Provider {
    fn is_own(&self, url: &Url) -> bool {
        url.host_str() == Some("127.0.0.1") && url.port() == Some(self.port)
    }

    /// Requests `url` and follows redirects while they stay on the provider.
    pub async fn follow(&self, http: &reqwest::Client, url: &str) -> Landing {
        let response = http.get(url).send().await.expect("request the provider");
        self.land(http, response).await
    }

    async fn land(&self, http: &reqwest::Client, mut response: reqwest::Response) -> Landing {
        loop {
            let url = response.url().clone();
            if !response.status().is_redirection() {
                let status = response.status();
                let html = response.text().await.expect("read the provider's page");
                return Landing::Page {
                    url: url.to_string(),
                    status,
                    html,
                };
            }
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .expect("a redirect with a Location");
            let next = url.join(location).expect("a valid Location");
            if !self.is_own(&next) {
                return Landing::Away(next.to_string());
            }
            response = http.get(next).send().await.expect("request the provider");
        }
    }

    /// Posts the page's first form (its inputs, with `fields` set) and follows the answer.
    async fn submit(
        &self,
        http: &reqwest::Client,
        page: &str,
        html: &str,
        fields: &[(&str, &str)],
    ) -> Landing {
        let form = markup::first_form(html).unwrap_or_else(|| panic!("no form on {page}"));
        let action = Url::parse(page).unwrap().join(&form.action).unwrap();
        let mut values = form.inputs;
        for (name, value) in fields {
            values.retain(|(n, _)| n != name);
            values.push(((*name).to_owned(), (*value).to_owned()));
        }
        let response = http
            .post(action)
            .form(&values)
            .send()
            .await
            .expect("post the provider's form");
        self.land(http, response).await
    }

    /// Follows `authorize_url` (the provider's authorization URL, as a client redirects to it)
    /// to the sign-in page, which it must show, and signs in there as `login`.
    pub async fn try_sign_in(
        &self,
        http: &reqwest::Client,
        authorize_url: &str,
        login: &str,
    ) -> Landing {
        let (url, html) = self.sign_in_page(http, authorize_url).await;
        let fields = [("login", login), ("password", "any password")];
        self.submit(http, &url, &html, &fields).await
    }

    /// Signs in as `login` and returns where the provider sends the browser back: the client's
    /// callback URL with `code`, `state` and `iss`.
    pub async fn sign_in(
        &self,
        http: &reqwest::Client,
        authorize_url: &str,
        login: &str,
    ) -> String {
        match self.try_sign_in(http, authorize_url, login).await {
            Landing::Away(callback) => callback,
            Landing::Page { url, status, html } => panic!(
                "signed in as {login}, the provider stayed on {url} ({status}): {}",
                markup::alert(&html).unwrap_or("no message")
            ),
        }
    }

    /// Presses "[ Cancel ]" on the sign-in page and returns the client's callback URL (with
    /// `error=access_denied`).
    pub async fn cancel(&self, http: &reqwest::Client, authorize_url: &str) -> String {
        let (url, html) = self.sign_in_page(http, authorize_url).await;
        let cancel = markup::link(&html, "[ Cancel ]").expect("a [ Cancel ] link");
        let cancel = Url::parse(&url).unwrap().join(&cancel).unwrap();
        match self.follow(http, cancel.as_str()).await {
            Landing::Away(callback) => callback,
            Landing::Page { url, status, .. } => {
                panic!("cancelled, the provider stayed on {url} ({status})")
            }
        }
    }

    async fn sign_in_page(&self, http: &reqwest::Client, authorize_url: &str) -> (String, String) {
        match self.follow(http, authorize_url).await {
            Landing::Page { url, html, .. } if html.contains(r#"name="login""#) => (url, html),
            page @ Landing::Page { .. } => {
                panic!("expected the provider's sign-in page, got {page:?}")
            }
            Landing::Away(url) => panic!(
                "expected the provider's sign-in page, it sent the browser to {url} (already \
                 signed in at the provider? `follow` walks a single sign-on)"
            ),
        }
    }

    /// Follows an end-session URL (as a client redirects to it for sign-out), submits the
    /// confirmation as the page's script would, and returns where the provider sends the
    /// browser: the client's post-logout redirect URI (with `state`), or the provider's own
    /// "signed out" page when none was given.
    pub async fn sign_out(&self, http: &reqwest::Client, end_session_url: &str) -> Landing {
        let mut landing = self.follow(http, end_session_url).await;
        // The confirmation, then (when there was no provider session) a self-posting form.
        for _ in 0..2 {
            match landing {
                Landing::Page { url, html, .. } if markup::first_form(&html).is_some() => {
                    landing = self.submit(http, &url, &html, &[]).await;
                }
                other => return other,
            }
        }
        landing
    }
}

/// Just enough HTML reading for the provider's own pages.
mod markup {
    pub struct Form {
        pub action: String,
        /// Every named input, with its value (empty when it has none).
        pub inputs: Vec<(String, String)>,
    }

    pub fn first_form(html: &str) -> Option<Form> {
        let start = html.find("<form")?;
        let end = html[start..]
            .find("</form>")
            .map_or(html.len(), |i| start + i);
        let body = &html[start..end];
        let tag = &body[..body.find('>')?];
        let inputs = body
            .match_indices("<input")
            .filter_map(|(i, _)| {
                let tag = &body[i..i + body[i..].find('>')?];
                Some((
                    attribute(tag, "name")?,
                    attribute(tag, "value").unwrap_or_default(),
                ))
            })
            .collect();
        Some(Form {
            action: attribute(tag, "action")?,
            inputs,
        })
    }

    /// The `href` of the link whose text is `text`.
    pub fn link(html: &str, text: &str) -> Option<String> {
        let end = html.find(&format!(">{text}</a>"))?;
        let start = html[..end].rfind("<a ")?;
        attribute(&html[start..end], "href")
    }

    pub fn title(html: &str) -> Option<&str> {
        let start = html.find("<title>")? + "<title>".len();
        let end = start + html[start..].find('<')?;
        Some(&html[start..end])
    }

    /// The text of the page's `role="alert"` paragraph (why a sign-in was refused).
    pub fn alert(html: &str) -> Option<&str> {
        let start = html.find(r#"role="alert">"#)? + r#"role="alert">"#.len();
        let end = start + html[start..].find('<')?;
        Some(&html[start..end])
    }

    /// The value of attribute `name="..."` in one tag, unescaped.
    fn attribute(tag: &str, name: &str) -> Option<String> {
        let needle = format!(" {name}=\"");
        let start = tag.find(&needle)? + needle.len();
        let end = start + tag[start..].find('"')?;
        Some(unescape(&tag[start..end]))
    }

    fn unescape(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find('&') {
            out.push_str(&rest[..i]);
            rest = &rest[i..];
            let Some(end) = rest.find(';') else { break };
            let entity = &rest[1..end];
            let decoded = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => entity
                    .strip_prefix('#')
                    .and_then(|n| n.parse::<u32>().ok())
                    .and_then(char::from_u32),
            };
            match decoded {
                Some(c) => {
                    out.push(c);
                    rest = &rest[end + 1..];
                }
                None => {
                    out.push('&');
                    rest = &rest[1..];
                }
            }
        }
        out.push_str(rest);
        out
    }
}
