//! Pool descriptions are Markdown, written by admins and shown to everyone: rendered to HTML
//! with raw HTML dropped and only safe link targets kept.

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};

fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    ["https://", "http://", "mailto:", "/", "#"]
        .iter()
        .any(|ok| lower.starts_with(ok))
        || !lower.contains(':')
}

/// HTML for `markdown`, safe to put in a page.
pub fn render(markdown: &str) -> String {
    let parser = Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    )
    .filter_map(|event| match event {
        // Raw HTML in the source is shown as text, never as markup.
        Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let dest_url = if safe_url(&dest_url) {
                dest_url
            } else {
                CowStr::from("#")
            };
            Some(Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }))
        }
        Event::Start(Tag::Image { .. }) | Event::End(pulldown_cmark::TagEnd::Image) => None,
        other => Some(other),
    });
    let mut out = String::new();
    html::push_html(&mut out, parser);
    out
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn markdown_becomes_html() {
        let html =
            render("**16 cores**, see [the runbook](https://wiki.example.com/x).\n\n- a\n- b");
        assert!(html.contains("<strong>16 cores</strong>"));
        assert!(html.contains("<a href=\"https://wiki.example.com/x\">the runbook</a>"));
        assert!(html.contains("<li>a</li>"));
    }

    #[test]
    fn raw_html_is_shown_as_text() {
        let html = render("<script>alert(1)</script>\n\nHi <img src=x onerror=alert(1)>");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
    }

    #[test]
    fn script_links_lead_nowhere() {
        let html = render("See [x](javascript:alert(1)) and [y](data:text/html,hi).");
        assert!(html.contains("<a href=\"#\">x</a>"), "{html}");
        assert!(html.contains("<a href=\"#\">y</a>"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
    }
}
