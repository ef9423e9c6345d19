//! Email: messages composed from the templates in `templates/` (text and HTML for each kind),
//! and sent over SMTP with lettre — or, in development, kept for the development mailbox.

mod compose;
mod transport;

pub use compose::{to_value, Composed, LoanFacts, Templates};
pub use transport::Mailer;
