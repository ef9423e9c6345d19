//! The one error type that crosses the wire: what a server function or the API may tell a caller.
//! Every variant is safe to show; database and driver errors are logged where they happen and
//! arrive here as [`AppError::Internal`].

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// A problem with one input field, shown next to that field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please sign in first.")]
    Unauthorized,
    #[error("You are not allowed to do that.")]
    Forbidden,
    /// A rule refused the request; `rule` names it (`max_loans_per_user`, …) for programs, the
    /// message says it for people, with the numbers.
    #[error("{message}")]
    Refused { rule: String, message: String },
    #[error("Too many requests. Please wait {retry_after_secs} seconds and try again.")]
    RateLimited { retry_after_secs: u64 },
    #[error("The request is too large (at most {limit_kib} KiB).")]
    TooLarge { limit_kib: usize },
    #[error("{0} was not found.")]
    NotFound(String),
    #[error("Please correct the highlighted fields.")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    Conflict(String),
    /// The request itself could not be read (a number that is not one, a missing argument).
    #[error("The request could not be read: {0}")]
    BadRequest(String),
    #[error("Something went wrong on our side. It has been logged; please try again.")]
    Internal,
    #[error("Could not talk to the server: {0}")]
    Transport(String),
}

impl AppError {
    /// One field's validation error.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// The message for `field`, if this is a validation error that names it.
    pub fn field_message(&self, field: &str) -> Option<String> {
        match self {
            Self::Validation(errors) => errors
                .iter()
                .find(|e| e.field == field)
                .map(|e| e.message.clone()),
            _ => None,
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::Refused { .. } => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Internal | Self::Transport(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[cfg(feature = "ssr")]
impl From<crate::server::limits::RateLimited> for AppError {
    fn from(limited: crate::server::limits::RateLimited) -> Self {
        Self::RateLimited {
            retry_after_secs: limited.retry_after_secs,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    /// On the server, arguments that do not deserialize are the caller's fault: 400, not 500.
    /// In the browser, every such error is the trip to the server failing.
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        #[cfg(feature = "ssr")]
        if let ServerFnErrorErr::Args(message)
        | ServerFnErrorErr::MissingArg(message)
        | ServerFnErrorErr::Deserialization(message) = &value
        {
            let err = Self::BadRequest(message.clone());
            if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
                response.set_status(err.status());
            }
            return err;
        }
        Self::Transport(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_message_finds_the_named_field_only() {
        let err = AppError::Validation(vec![
            FieldError::new("reason", "Say why you need the machine."),
            FieldError::new("bug_ref", "Give a bug number or URL."),
        ]);
        assert_eq!(
            err.field_message("bug_ref").as_deref(),
            Some("Give a bug number or URL.")
        );
        assert_eq!(err.field_message("duration_hours"), None);
        assert_eq!(AppError::Forbidden.field_message("reason"), None);
    }

    #[test]
    fn statuses_match_the_meaning() {
        assert_eq!(AppError::Forbidden.status().as_u16(), 403);
        assert_eq!(AppError::Unauthorized.status().as_u16(), 401);
        assert_eq!(AppError::field("x", "y").status().as_u16(), 422);
        let refused = AppError::Refused {
            rule: "max_loans_per_user".into(),
            message: "You already hold 3 loans; the site allows 3 per person.".into(),
        };
        assert_eq!(refused.status().as_u16(), 403);
        assert_eq!(
            refused.to_string(),
            "You already hold 3 loans; the site allows 3 per person."
        );
        assert_eq!(
            AppError::RateLimited {
                retry_after_secs: 5
            }
            .status()
            .as_u16(),
            429
        );
    }
}
