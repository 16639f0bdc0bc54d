//! Cross-site request forgery protection. Every form of a session carries the session's
//! random token in the hidden field `_csrf`, and every POST is refused (403) unless the
//! field matches, compared in constant time. The sign-in form, which has no session yet,
//! uses a double-submit token instead: a random value in a short-lived `SameSite=Strict`
//! cookie that the form must repeat. The session cookie itself is `SameSite=Strict` too,
//! so a forged cross-site request carries no session at all.

use std::collections::HashMap;

use maud::{Markup, html};

use axum::response::{IntoResponse, Response};

use super::layout;
use super::session::Session;

/// The form field that carries the token.
pub(crate) const FIELD: &str = "_csrf";

/// The hidden field carrying `token`, for every form.
pub(crate) fn field(token: &str) -> Markup {
    html! { input type="hidden" name=(FIELD) value=(token); }
}

/// Whether `given` is `expected`, compared in constant time.
pub(crate) fn matches(expected: &str, given: Option<&str>) -> bool {
    let Some(given) = given else {
        return false;
    };
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    !a.is_empty()
        && a.len() == b.len()
        && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a form was refused; answered with 403 and a page that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The form's token is missing or not the session's.
    Forged,
    /// A viewer tried to change something.
    ReadOnly,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let message = match self {
            Refusal::Forged => {
                "This form has expired or did not come from this dashboard. Reload the page and try again."
            }
            Refusal::ReadOnly => {
                "Viewers can look but not change anything. Sign in with the admin key to make changes."
            }
        };
        layout::refusal(http::StatusCode::FORBIDDEN, message)
    }
}

/// Refuses a form whose token is not the session's.
pub(crate) fn check(session: &Session, form: &HashMap<String, String>) -> Result<(), Refusal> {
    if matches(&session.csrf, form.get(FIELD).map(String::as_str)) {
        Ok(())
    } else {
        Err(Refusal::Forged)
    }
}

/// Refuses a change unless the form's token is the session's and the session is an
/// admin's.
pub(crate) fn check_change(
    session: &Session,
    form: &HashMap<String, String>,
) -> Result<(), Refusal> {
    check(session, form)?;
    if session.is_admin() {
        Ok(())
    } else {
        Err(Refusal::ReadOnly)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::session::Role;

    fn form(token: Option<&str>) -> HashMap<String, String> {
        token
            .map(|t| (FIELD.to_owned(), t.to_owned()))
            .into_iter()
            .collect()
    }

    #[test]
    fn tokens_must_match_exactly() {
        assert!(matches("abc", Some("abc")));
        assert!(!matches("abc", Some("abd")));
        assert!(!matches("abc", Some("ab")));
        assert!(!matches("abc", None));
        assert!(!matches("", Some("")), "an empty token never matches");
    }

    #[test]
    fn changes_need_the_token_and_an_admin() {
        let admin = Session {
            role: Role::Admin,
            csrf: "t0k3n".into(),
        };
        let viewer = Session {
            role: Role::Viewer("v".into()),
            csrf: "t0k3n".into(),
        };
        assert!(check_change(&admin, &form(Some("t0k3n"))).is_ok());
        let refused = |f| check_change(&admin, &form(f)).err();
        assert_eq!(refused(Some("other")), Some(Refusal::Forged));
        assert_eq!(refused(None), Some(Refusal::Forged));
        assert_eq!(
            check_change(&viewer, &form(Some("t0k3n"))).err(),
            Some(Refusal::ReadOnly)
        );
        assert_eq!(Refusal::ReadOnly.into_response().status().as_u16(), 403);
        // A viewer may still submit forms that change nothing (signing out).
        assert!(check(&viewer, &form(Some("t0k3n"))).is_ok());
    }

    #[test]
    fn the_hidden_field_carries_the_token() {
        assert_eq!(
            field("a\"b").into_string(),
            r#"<input type="hidden" name="_csrf" value="a&quot;b">"#
        );
    }
}
