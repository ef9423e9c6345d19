//! Cutting one-click link tokens out of a stored message once it has been sent: a copy of the
//! `emails` table must not let anyone return, extend, approve or deny a loan.

/// What a link's token is replaced by.
pub const REDACTED: &str = "sent-link-removed";

/// `text` with every link token (64 hex digits after `/l/`, or `&#x2f;l&#x2f;` in HTML)
/// replaced by [`REDACTED`].
pub fn redact_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = next_link(rest) {
        let (before, after) = rest.split_at(at);
        out.push_str(before);
        let token_len = after.bytes().take_while(u8::is_ascii_hexdigit).count();
        if token_len == 64 {
            out.push_str(REDACTED);
        } else {
            out.push_str(&after[..token_len]);
        }
        rest = &after[token_len..];
    }
    out.push_str(rest);
    out
}

/// The position just after the next `/l/` (plain or HTML-escaped) in `text`.
fn next_link(text: &str) -> Option<usize> {
    ["/l/", "&#x2f;l&#x2f;"]
        .iter()
        .filter_map(|marker| text.find(marker).map(|at| at + marker.len()))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_tokens_are_cut_and_the_rest_is_kept() {
        let token = "ab12".repeat(16);
        let text = format!(
            "Return: http://x.test/l/{token}\nLoan: http://x.test/loans/7\n<a href=\"http:&#x2f;&#x2f;x.test&#x2f;l&#x2f;{token}\">"
        );
        let redacted = redact_links(&text);
        assert!(!redacted.contains(&token), "{redacted}");
        assert_eq!(redacted.matches(REDACTED).count(), 2);
        assert!(redacted.contains("http://x.test/loans/7"));
        assert_eq!(redact_links("/l/abc and /l/"), "/l/abc and /l/");
    }
}
