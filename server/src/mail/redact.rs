//! Cutting one-click link tokens out of a stored message once it has been sent (or given up
//! on): a copy of the `emails` table must not let anyone return, extend, approve or deny a loan.
//! A token is 64 hex digits; every run of exactly 64 hex digits is cut, whatever surrounds it
//! (`/l/`, an HTML entity, percent-encoding), since nothing else in a message looks like one.

/// What a link's token is replaced by.
pub const REDACTED: &str = "sent-link-removed";

const TOKEN_LEN: usize = 64;

/// `text` with every run of exactly 64 hex digits replaced by [`REDACTED`].
pub fn redact_links(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        // A percent-encoded character (`%2F` before a token) is not part of a hex run.
        let escaped = bytes[i] == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if escaped {
            i += 3;
            continue;
        }
        if !bytes[i].is_ascii_hexdigit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_hexdigit() {
            i += 1;
        }
        if i - start == TOKEN_LEN {
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED);
            copied = i;
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_tokens_are_cut_however_they_are_written() {
        let token = "ab12".repeat(16);
        let upper = token.to_uppercase();
        let text = format!(
            "Return: http://x.test/l/{token}\nLoan: http://x.test/loans/7\n<a href=\"http:&#x2F;&#x2F;x.test&#47;l&#x2f;{upper}\">%2Fl%2F{token}"
        );
        let redacted = redact_links(&text);
        assert!(!redacted.to_lowercase().contains(&token), "{redacted}");
        assert_eq!(redacted.matches(REDACTED).count(), 3);
        assert!(redacted.contains("http://x.test/loans/7"));
        let longer = "a".repeat(65);
        assert_eq!(redact_links(&longer), longer, "not a token");
        assert_eq!(redact_links("/l/abc and /l/"), "/l/abc and /l/");
    }
}
