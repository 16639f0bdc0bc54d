//! The one gateway error type and its mapping to an HTTP status and an OpenAI error body.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

/// What went wrong, independent of where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is malformed or has a field of the wrong type.
    InvalidRequest,
    /// No key, or a key that is not valid.
    Unauthorized,
    /// The key may not use this model or route.
    Forbidden,
    /// The requested model is not configured.
    ModelNotFound,
    /// The route does not exist.
    RouteNotFound,
    /// The method is not allowed on this route.
    MethodNotAllowed,
    /// The body exceeds `server.max_body`.
    PayloadTooLarge,
    /// A rate limit or budget refused the request.
    RateLimited,
    /// The upstream could not be reached (refused, DNS, TLS).
    UpstreamConnect,
    /// The upstream dropped the connection or stream mid-way.
    UpstreamReset,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// The upstream answered with an error status.
    UpstreamStatus,
    /// The prompt does not fit the model's context window (a bigger model may take it).
    ContextLength,
    /// The provider refused the content under its policy.
    ContentFilter,
    /// The upstream answered with something that is not its protocol.
    UpstreamProtocol,
    /// The provider cannot serve this kind of request.
    Unsupported,
    /// A bug or an unexpected state inside the gateway.
    Internal,
}

/// How the router treats a failure: which class it belongs to decides retry and fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The upstream could not be reached, or dropped the connection.
    Connect,
    /// A connect, first-byte, idle or total deadline passed.
    Timeout,
    /// The upstream failed: 5xx, or an answer that breaks its protocol.
    Server,
    /// 429, or the provider says it is overloaded.
    RateLimit,
    /// The prompt does not fit the model's context window.
    ContextLength,
    /// The provider refused the content under its policy.
    ContentPolicy,
    /// Anything the client must fix (other 4xx, gateway-side refusals).
    Client,
}

impl ErrorClass {
    /// Every class, in documentation order.
    pub const ALL: [ErrorClass; 7] = [
        ErrorClass::Connect,
        ErrorClass::Timeout,
        ErrorClass::Server,
        ErrorClass::RateLimit,
        ErrorClass::ContextLength,
        ErrorClass::ContentPolicy,
        ErrorClass::Client,
    ];

    /// The name used in config (`connect`, `timeout`, `5xx`, `429`, `context-length`,
    /// `content-policy`, `client-error`).
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Connect => "connect",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Server => "5xx",
            ErrorClass::RateLimit => "429",
            ErrorClass::ContextLength => "context-length",
            ErrorClass::ContentPolicy => "content-policy",
            ErrorClass::Client => "client-error",
        }
    }

    /// The class with this config name.
    pub fn from_name(name: &str) -> Option<ErrorClass> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// A set of error classes (retry on, fall back on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClassSet(u8);

impl ClassSet {
    /// Retried by default: connect, timeout, 5xx, 429.
    pub const DEFAULT_RETRY: ClassSet = ClassSet::of(&[
        ErrorClass::Connect,
        ErrorClass::Timeout,
        ErrorClass::Server,
        ErrorClass::RateLimit,
    ]);
    /// Fallen back on by default: the retried classes plus context-length.
    pub const DEFAULT_FALLBACK: ClassSet = ClassSet::of(&[
        ErrorClass::Connect,
        ErrorClass::Timeout,
        ErrorClass::Server,
        ErrorClass::RateLimit,
        ErrorClass::ContextLength,
    ]);

    /// The set of `classes`.
    pub const fn of(classes: &[ErrorClass]) -> ClassSet {
        let mut bits = 0u8;
        let mut i = 0;
        while i < classes.len() {
            bits |= 1 << classes[i] as u8;
            i += 1;
        }
        ClassSet(bits)
    }

    /// Whether `class` is in the set.
    pub fn contains(self, class: ErrorClass) -> bool {
        self.0 & (1 << class as u8) != 0
    }

    /// The classes in the set, in documentation order.
    pub fn iter(self) -> impl Iterator<Item = ErrorClass> {
        ErrorClass::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

/// Who caused the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The client's request.
    Client,
    /// The gateway itself (config, limits, bugs).
    Gateway,
    /// The upstream provider.
    Upstream,
}

/// The error of the request path. Cheap to clone.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.0.message)]
pub struct GatewayError(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    origin: Origin,
    message: String,
    param: Option<String>,
    code: Option<String>,
    status: Option<u16>,
    upstream_type: Option<String>,
    retry_after: Option<Duration>,
    attempts: Option<u32>,
}

impl GatewayError {
    /// A new error of `kind` caused by `origin`.
    pub fn new(kind: ErrorKind, origin: Origin, message: impl Into<String>) -> Self {
        Self(Arc::new(Inner {
            kind,
            origin,
            message: message.into(),
            param: None,
            code: None,
            status: None,
            upstream_type: None,
            retry_after: None,
            attempts: None,
        }))
    }

    /// A 400 caused by the client's request.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, Origin::Client, message)
    }

    /// A gateway bug or unexpected state.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, Origin::Gateway, message)
    }

    /// An upstream error status, keeping the upstream's status, message, type and code.
    pub fn upstream_status(
        status: u16,
        message: impl Into<String>,
        upstream_type: Option<String>,
        code: Option<String>,
    ) -> Self {
        Self::upstream(
            ErrorKind::UpstreamStatus,
            status,
            message,
            upstream_type,
            code,
        )
    }

    /// An upstream error of a specific kind (context length, content filter, …), keeping
    /// the upstream's status, message, type and code.
    pub fn upstream(
        kind: ErrorKind,
        status: u16,
        message: impl Into<String>,
        upstream_type: Option<String>,
        code: Option<String>,
    ) -> Self {
        let mut e = Self::new(kind, Origin::Upstream, message);
        if let Some(inner) = Arc::get_mut(&mut e.0) {
            inner.status = Some(status);
            inner.upstream_type = upstream_type;
            inner.code = code;
        }
        e
    }

    fn with(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        match Arc::get_mut(&mut self.0) {
            Some(inner) => f(inner),
            None => {
                let mut inner = Inner {
                    kind: self.0.kind,
                    origin: self.0.origin,
                    message: self.0.message.clone(),
                    param: self.0.param.clone(),
                    code: self.0.code.clone(),
                    status: self.0.status,
                    upstream_type: self.0.upstream_type.clone(),
                    retry_after: self.0.retry_after,
                    attempts: self.0.attempts,
                };
                f(&mut inner);
                self.0 = Arc::new(inner);
            }
        }
        self
    }

    /// Replaces the message, keeping everything else.
    pub fn with_message(self, message: impl Into<String>) -> Self {
        let message = message.into();
        self.with(|i| i.message = message)
    }

    /// Sets the upstream status the error came with.
    pub fn with_status(self, status: u16) -> Self {
        self.with(|i| i.status = Some(status))
    }

    /// Records how many upstream attempts were made before this error.
    pub fn with_attempts(self, attempts: u32) -> Self {
        self.with(|i| i.attempts = Some(attempts))
    }

    /// How many upstream attempts were made, when the error ends an attempt loop.
    pub fn attempts(&self) -> Option<u32> {
        self.0.attempts
    }

    /// Names the request field the error is about.
    pub fn with_param(self, param: impl Into<String>) -> Self {
        let param = param.into();
        self.with(|i| i.param = Some(param))
    }

    /// Sets the machine-readable `code`.
    pub fn with_code(self, code: impl Into<String>) -> Self {
        let code = code.into();
        self.with(|i| i.code = Some(code))
    }

    /// Sets how long the client should wait before retrying.
    pub fn with_retry_after(self, after: Duration) -> Self {
        self.with(|i| i.retry_after = Some(after))
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// Who caused it.
    pub fn origin(&self) -> Origin {
        self.0.origin
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The request field the error is about, if any.
    pub fn param(&self) -> Option<&str> {
        self.0.param.as_deref()
    }

    /// How long the client should wait, when known.
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// The upstream's status code, for upstream status errors.
    pub fn upstream_status_code(&self) -> Option<u16> {
        self.0.status
    }

    /// The class the router uses to decide retry and fallback.
    pub fn class(&self) -> ErrorClass {
        match self.0.kind {
            ErrorKind::UpstreamConnect | ErrorKind::UpstreamReset => ErrorClass::Connect,
            ErrorKind::UpstreamTimeout => ErrorClass::Timeout,
            ErrorKind::UpstreamProtocol => ErrorClass::Server,
            ErrorKind::ContextLength => ErrorClass::ContextLength,
            ErrorKind::ContentFilter => ErrorClass::ContentPolicy,
            ErrorKind::UpstreamStatus => match self.0.status {
                Some(429 | 529) => ErrorClass::RateLimit,
                Some(408) => ErrorClass::Timeout,
                Some(409) | Some(500..=599) | None => ErrorClass::Server,
                Some(_) => ErrorClass::Client,
            },
            ErrorKind::InvalidRequest
            | ErrorKind::Unauthorized
            | ErrorKind::Forbidden
            | ErrorKind::ModelNotFound
            | ErrorKind::RouteNotFound
            | ErrorKind::MethodNotAllowed
            | ErrorKind::PayloadTooLarge
            | ErrorKind::RateLimited
            | ErrorKind::Unsupported
            | ErrorKind::Internal => ErrorClass::Client,
        }
    }

    /// Whether another attempt (same or next target) may succeed under the default policy.
    pub fn is_retryable(&self) -> bool {
        ClassSet::DEFAULT_RETRY.contains(self.class())
    }

    /// The HTTP status a client sees.
    pub fn status(&self) -> u16 {
        match self.0.kind {
            ErrorKind::InvalidRequest | ErrorKind::ContextLength | ErrorKind::ContentFilter => self
                .0
                .status
                .filter(|s| (400..=499).contains(s))
                .unwrap_or(400),
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::ModelNotFound | ErrorKind::RouteNotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::RateLimited => 429,
            ErrorKind::UpstreamConnect | ErrorKind::UpstreamReset | ErrorKind::UpstreamProtocol => {
                502
            }
            ErrorKind::UpstreamTimeout => 504,
            ErrorKind::UpstreamStatus => self
                .0
                .status
                .filter(|s| (400..=599).contains(s))
                .unwrap_or(502),
            ErrorKind::Unsupported => 501,
            ErrorKind::Internal => 500,
        }
    }

    /// The OpenAI error `type` for this error.
    pub fn error_type(&self) -> &str {
        if let Some(t) = &self.0.upstream_type {
            return t;
        }
        match self.0.kind {
            ErrorKind::InvalidRequest
            | ErrorKind::ContextLength
            | ErrorKind::ContentFilter
            | ErrorKind::ModelNotFound
            | ErrorKind::RouteNotFound
            | ErrorKind::MethodNotAllowed
            | ErrorKind::PayloadTooLarge
            | ErrorKind::Unsupported => "invalid_request_error",
            ErrorKind::Unauthorized => "authentication_error",
            ErrorKind::Forbidden => "permission_error",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::UpstreamConnect
            | ErrorKind::UpstreamReset
            | ErrorKind::UpstreamTimeout
            | ErrorKind::UpstreamStatus
            | ErrorKind::UpstreamProtocol => "upstream_error",
            ErrorKind::Internal => "server_error",
        }
    }

    /// The machine-readable `code`.
    pub fn code(&self) -> Option<&str> {
        if let Some(c) = &self.0.code {
            return Some(c);
        }
        Some(match self.0.kind {
            ErrorKind::InvalidRequest => return None,
            ErrorKind::ContextLength => "context_length_exceeded",
            ErrorKind::ContentFilter => "content_filter",
            ErrorKind::Unauthorized => "invalid_api_key",
            ErrorKind::Forbidden => "model_not_allowed",
            ErrorKind::ModelNotFound => "model_not_found",
            ErrorKind::RouteNotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::PayloadTooLarge => "request_too_large",
            ErrorKind::RateLimited => "rate_limit_exceeded",
            ErrorKind::UpstreamConnect => "upstream_connect_error",
            ErrorKind::UpstreamReset => "upstream_reset",
            ErrorKind::UpstreamTimeout => "upstream_timeout",
            ErrorKind::UpstreamStatus => return None,
            ErrorKind::UpstreamProtocol => "upstream_bad_response",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Internal => "internal_error",
        })
    }

    /// The OpenAI-shaped body: `{"error":{"message","type","param","code"}}`.
    pub fn to_openai_body(&self) -> Value {
        json!({
            "error": {
                "message": self.message(),
                "type": self.error_type(),
                "param": self.param(),
                "code": self.code(),
            }
        })
    }

    /// The Anthropic-shaped body, `{"type":"error","error":{"type","message"}}`, for the
    /// inbound Anthropic Messages API. The type follows the status: 400
    /// `invalid_request_error`, 401 `authentication_error`, 403 `permission_error`, 404
    /// `not_found_error`, 413 `request_too_large`, 429 `rate_limit_error`, 529
    /// `overloaded_error`, any other 5xx `api_error`, any other 4xx `invalid_request_error`.
    pub fn to_anthropic_body(&self) -> Value {
        let kind = match self.status() {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            529 => "overloaded_error",
            500..=599 => "api_error",
            _ => "invalid_request_error",
        };
        json!({
            "type": "error",
            "error": {
                "type": kind,
                "message": self.message(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_status_keeps_status_and_message() {
        let e = GatewayError::upstream_status(
            400,
            "bad thing",
            Some("invalid_request_error".into()),
            Some("x".into()),
        );
        assert_eq!(e.status(), 400);
        assert!(!e.is_retryable());
        let body = e.to_openai_body();
        assert_eq!(body["error"]["message"], "bad thing");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["code"], "x");
        let e = GatewayError::upstream_status(503, "down", None, None);
        assert!(e.is_retryable());
        assert_eq!(e.class(), ErrorClass::Server);
        let busy = GatewayError::upstream_status(529, "overloaded", None, None);
        assert_eq!(
            (busy.class(), busy.is_retryable()),
            (ErrorClass::RateLimit, true)
        );
        let long = GatewayError::new(ErrorKind::ContextLength, Origin::Upstream, "too long");
        assert!(!long.is_retryable());
        assert!(ClassSet::DEFAULT_FALLBACK.contains(long.class()));
        for c in ErrorClass::ALL {
            assert_eq!(ErrorClass::from_name(c.name()), Some(c));
        }
        assert_eq!(e.status(), 503);
    }

    #[test]
    fn anthropic_bodies_name_the_type_by_status() {
        let cases = [
            (
                GatewayError::invalid_request("bad"),
                "invalid_request_error",
            ),
            (
                GatewayError::new(ErrorKind::Unauthorized, Origin::Client, "no key"),
                "authentication_error",
            ),
            (
                GatewayError::new(ErrorKind::Forbidden, Origin::Client, "no"),
                "permission_error",
            ),
            (
                GatewayError::new(ErrorKind::ModelNotFound, Origin::Client, "which?"),
                "not_found_error",
            ),
            (
                GatewayError::new(ErrorKind::PayloadTooLarge, Origin::Client, "big"),
                "request_too_large",
            ),
            (
                GatewayError::new(ErrorKind::RateLimited, Origin::Gateway, "slow"),
                "rate_limit_error",
            ),
            (
                GatewayError::upstream_status(529, "busy", None, None),
                "overloaded_error",
            ),
            (
                GatewayError::new(ErrorKind::UpstreamTimeout, Origin::Upstream, "late"),
                "api_error",
            ),
            (
                GatewayError::new(ErrorKind::MethodNotAllowed, Origin::Client, "GET"),
                "invalid_request_error",
            ),
        ];
        for (e, kind) in cases {
            assert_eq!(
                e.to_anthropic_body(),
                json!({"type": "error", "error": {"type": kind, "message": e.message()}})
            );
        }
    }

    #[test]
    fn builders_work_on_shared_errors() {
        let e = GatewayError::invalid_request("x");
        let shared = e.clone();
        let e = e.with_param("messages[0].content");
        assert_eq!(e.param(), Some("messages[0].content"));
        assert_eq!(shared.param(), None);
    }
}
