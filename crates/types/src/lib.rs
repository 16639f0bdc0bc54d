//! The vocabulary every Sluice crate speaks, with no I/O.
//!
//! Each inbound API (OpenAI chat today; Anthropic Messages and Responses later) is decoded
//! into one [`ChatRequest`], and each provider codec encodes from it, so N APIs and M
//! providers need N+M conversions rather than N×M. The types follow the OpenAI chat shape,
//! the widest common denominator, and every struct keeps the fields it does not model in an
//! `extra` map: an OpenAI client talking to an OpenAI-family upstream loses nothing in
//! either direction. [`GatewayError`] is the one error type of the request path; its kind,
//! origin and retryability are separate, and [`GatewayError::status`] plus
//! [`GatewayError::to_openai_body`] are the one place a kind becomes an HTTP answer.

mod chat;
mod error;

pub use chat::*;
pub use error::*;

/// A JSON object: the `extra` bag of fields a type does not model.
pub type JsonMap = serde_json::Map<String, serde_json::Value>;
