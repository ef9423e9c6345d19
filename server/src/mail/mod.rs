//! Email: what each message says (`messages`), rendered from the templates in `templates/`
//! (text and HTML for each kind), sent over SMTP with lettre — or, in development, kept for the
//! development mailbox — and stripped of its one-click links once sent (`redact`).

mod compose;
pub mod messages;
mod redact;
mod transport;

pub use compose::{to_value, Composed, LoanFacts, Templates};
pub use messages::{Draft, MailJob};
pub use redact::{redact_links, REDACTED};
pub use transport::Mailer;
