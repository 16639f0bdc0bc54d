//! Dashboard sessions: a random id in a cookie; the session (who signed in, its CSRF token,
//! when it expires) in this process's memory. A session expires after `ui.session_ttl`
//! without use; every use extends it. The cookie itself lasts until the browser closes, so
//! the server alone decides when a session ends. Sessions do not survive a restart and are not shared
//! between replicas: signing in again is the remedy for both.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Redirect, Response};
use http::request::Parts;
use http::{HeaderMap, HeaderValue};
use sluice_types::GatewayError;

use crate::Gateway;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "sluice_session";
/// The most sessions kept at once; the one closest to expiring makes room for a new one.
const MAX_SESSIONS: usize = 10_000;
/// Random bytes in a session id or token (256 bits).
const TOKEN_BYTES: usize = 32;

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Role {
    /// Signed in with the admin key (or to a gateway without one): may change things.
    Admin,
    /// A `ui.viewers` login: reads only.
    Viewer(String),
}

/// One signed-in browser.
#[derive(Debug)]
pub(crate) struct Session {
    /// Who signed in.
    pub(crate) role: Role,
    /// The token every form of this session carries.
    pub(crate) csrf: String,
}

impl Session {
    /// Whether this session may change things (only admins may).
    pub(crate) fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

struct Entry {
    session: Arc<Session>,
    expires: Instant,
}

/// Every live session, by id.
pub(crate) struct Sessions {
    ttl: Duration,
    map: Mutex<HashMap<String, Entry>>,
}

impl Sessions {
    /// No sessions yet; each lasts `ttl` past its last use.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            map: Mutex::default(),
        }
    }

    /// Starts a session for `role`; returns its id (for the cookie) and the session.
    pub(crate) fn create(&self, role: Role) -> Result<(String, Arc<Session>), GatewayError> {
        self.create_at(role, Instant::now())
    }

    fn create_at(&self, role: Role, now: Instant) -> Result<(String, Arc<Session>), GatewayError> {
        let id = random_token()?;
        let session = Arc::new(Session {
            role,
            csrf: random_token()?,
        });
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, e| e.expires > now);
        if map.len() >= MAX_SESSIONS {
            let soonest = map
                .iter()
                .min_by_key(|(_, e)| e.expires)
                .map(|(id, _)| id.clone());
            if let Some(soonest) = soonest {
                map.remove(&soonest);
            }
        }
        map.insert(
            id.clone(),
            Entry {
                session: session.clone(),
                expires: now + self.ttl,
            },
        );
        Ok((id, session))
    }

    /// The live session with `id`, its expiry pushed back by a full `ttl`.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.get_at(id, Instant::now())
    }

    fn get_at(&self, id: &str, now: Instant) -> Option<Arc<Session>> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get_mut(id) {
            Some(e) if e.expires > now => {
                e.expires = now + self.ttl;
                Some(e.session.clone())
            }
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends the session with `id` (signing out).
    pub(crate) fn remove(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }
}

/// 32 random bytes from the operating system's CSPRNG, as 64 hex digits.
pub(crate) fn random_token() -> Result<String, GatewayError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| GatewayError::internal(format!("no randomness available: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value for a dashboard cookie: `Secure`, `HttpOnly`, `SameSite=Strict`,
/// sent only to `/ui`; kept until the browser closes without `max_age`, deleted with zero.
pub(crate) fn set_cookie(name: &str, value: &str, max_age: Option<Duration>) -> HeaderValue {
    let age = max_age.map_or_else(String::new, |a| format!("; Max-Age={}", a.as_secs()));
    let text = format!("{name}={value}; Path=/ui{age}; HttpOnly; Secure; SameSite=Strict");
    // Names are constants and values hex digits, so this cannot fail; be safe anyway.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The request's session; without one, the request is redirected to the sign-in page.
pub(crate) struct Signed(pub(crate) Arc<Session>);

impl FromRequestParts<Arc<Gateway>> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        gw: &Arc<Gateway>,
    ) -> Result<Self, Self::Rejection> {
        cookie(&parts.headers, COOKIE)
            .and_then(|id| gw.ui.sessions.get(id))
            .map(Signed)
            .ok_or_else(|| Redirect::to("/ui/login").into_response())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_after_the_ttl_without_use() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let (id, s) = sessions.create_at(Role::Admin, t0).unwrap();
        assert!(s.is_admin());
        assert_eq!((id.len(), s.csrf.len()), (64, 64));
        assert_ne!(id, s.csrf);
        // Used at 50 s, so it lives until 110 s.
        assert!(sessions.get_at(&id, t0 + Duration::from_secs(50)).is_some());
        assert!(
            sessions
                .get_at(&id, t0 + Duration::from_secs(100))
                .is_some()
        );
        assert!(
            sessions
                .get_at(&id, t0 + Duration::from_secs(161))
                .is_none()
        );
        // Gone for good, even at an earlier time.
        assert!(sessions.get_at(&id, t0).is_none());
        assert!(sessions.get("not-a-session").is_none());
    }

    #[test]
    fn signing_out_ends_only_that_session() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let (a, _) = sessions.create(Role::Admin).unwrap();
        let (b, viewer) = sessions.create(Role::Viewer("alice".into())).unwrap();
        assert!(!viewer.is_admin());
        sessions.remove(&a);
        assert!(sessions.get(&a).is_none());
        assert_eq!(
            sessions.get(&b).map(|s| s.role.clone()),
            Some(Role::Viewer("alice".into()))
        );
    }

    #[test]
    fn cookies_are_read_from_any_cookie_header_and_set_strictly() {
        let mut h = HeaderMap::new();
        h.append(
            "cookie",
            HeaderValue::from_static("a=1; sluice_session=abc"),
        );
        h.append("cookie", HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&h, COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "sluice"), None);
        let set = set_cookie(COOKIE, "abc", None);
        assert_eq!(
            set.to_str().unwrap(),
            "sluice_session=abc; Path=/ui; HttpOnly; Secure; SameSite=Strict"
        );
        let gone = set_cookie(COOKIE, "", Some(Duration::ZERO));
        assert!(gone.to_str().unwrap().contains("; Max-Age=0;"));
    }
}
