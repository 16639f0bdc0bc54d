//! Native embeddings: OpenAI's `/v1/embeddings` translated to a provider's own embeddings
//! API and its answers back into OpenAI's.
//!
//! A codec that has such an API returns an [`Embedder`] from [`crate::Codec::embedder`];
//! the transport then answers `POST /embeddings` itself instead of forwarding it. The
//! [`EmbeddingsRequest`] (text input only: token arrays are refused) is cut into batches of
//! at most [`Embedder::batch_size`] inputs, each batch is one upstream call
//! ([`Embedder::encode_batch`], all encoded before anything is sent, so a refused parameter
//! costs no call), the calls run at most [`MAX_CONCURRENT_CALLS`] at a time, and their
//! answers ([`Embedder::decode_batch`]) are joined in input order into OpenAI's answer:
//! `data[i]` as floats or as base64 of little-endian `f32`s (`encoding_format`), the target's
//! model, and `usage.prompt_tokens`: the provider's own counts where it reports them, else
//! an estimate with the gateway's tokenizer (`sluice-tokens`).
//!
//! [`encode_calls`] and [`answer`] are pure, so the translation is tested with fixtures.

mod request;
mod response;
mod transport;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use sluice_types::{ErrorKind, GatewayError, Origin};

use crate::{Target, UpstreamRequest};

pub use request::{EmbeddingsRequest, EncodingFormat};

/// The most upstream calls of one embeddings request in flight at once.
pub const MAX_CONCURRENT_CALLS: usize = 4;

/// One upstream call's answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Embedded {
    /// One vector per input the call carried, in order.
    pub vectors: Vec<Vec<f32>>,
    /// The input tokens the provider counted, when it reports them.
    pub tokens: Option<u64>,
}

/// A provider's own embeddings API.
pub trait Embedder: Send + Sync {
    /// The most inputs one upstream call for `model` may carry.
    fn batch_size(&self, model: &str) -> usize;

    /// The upstream call embedding `inputs` (consecutive inputs of `req`) with `target`'s
    /// model. Parameters the API cannot honour are refused with
    /// [`crate::unsupported_parameter`].
    fn encode_batch(
        &self,
        req: &EmbeddingsRequest,
        inputs: &[String],
        target: &Target,
    ) -> Result<UpstreamRequest, GatewayError>;

    /// One call's successful answer, for `model`.
    fn decode_batch(&self, model: &str, body: &[u8]) -> Result<Embedded, GatewayError>;

    /// Refuses the request's other fields ([`EmbeddingsRequest::extra`]) that the API has no
    /// place for. Default: all of them.
    fn check_extra(&self, req: &EmbeddingsRequest, provider: &str) -> Result<(), GatewayError> {
        req.check_extra(provider)
    }
}

/// The upstream calls for `req` on `target`, one per batch, in input order.
pub fn encode_calls(
    e: &dyn Embedder,
    req: &EmbeddingsRequest,
    target: &Target,
) -> Result<Vec<UpstreamRequest>, GatewayError> {
    e.check_extra(req, &target.provider)?;
    let size = e.batch_size(&target.model).max(1);
    req.input
        .chunks(size)
        .map(|inputs| e.encode_batch(req, inputs, target))
        .collect()
}

/// OpenAI's answer for `req` on `model`, from the bodies of the calls [`encode_calls`] made
/// (in the same order).
pub fn answer(
    e: &dyn Embedder,
    req: &EmbeddingsRequest,
    model: &str,
    bodies: &[Bytes],
) -> Result<Bytes, GatewayError> {
    let size = e.batch_size(model).max(1);
    let batches = req.input.chunks(size);
    if batches.len() != bodies.len() {
        return Err(GatewayError::internal(format!(
            "{} embeddings answers for {} calls",
            bodies.len(),
            batches.len()
        )));
    }
    let mut vectors = Vec::with_capacity(req.input.len());
    let mut tokens = 0;
    for (inputs, body) in batches.zip(bodies) {
        let batch = e.decode_batch(model, body)?;
        if batch.vectors.len() != inputs.len() {
            return Err(protocol(format!(
                "the upstream answered {} embeddings for {} inputs",
                batch.vectors.len(),
                inputs.len()
            )));
        }
        tokens += batch
            .tokens
            .unwrap_or_else(|| inputs.iter().map(|t| sluice_tokens::count(t)).sum());
        vectors.extend(batch.vectors);
    }
    response::render(vectors, req.encoding_format, model, tokens)
}

/// An upstream answer that is not what the embeddings API promises.
fn protocol(message: String) -> GatewayError {
    GatewayError::new(ErrorKind::UpstreamProtocol, Origin::Upstream, message)
}

/// `body` read as the `what` of `api` (for error messages, e.g. "Gemini
/// BatchEmbedContentsResponse").
pub(crate) fn parse_answer<T: DeserializeOwned>(
    what: &str,
    body: &[u8],
) -> Result<T, GatewayError> {
    serde_json::from_slice(body).map_err(|e| {
        let head = String::from_utf8_lossy(&body[..body.len().min(200)]);
        protocol(format!(
            "the upstream returned a body that is not a {what} ({e}); it starts with: {head:?}"
        ))
    })
}

/// A JSON request body.
pub(crate) fn json_body<T: serde::Serialize>(body: &T) -> Result<Bytes, GatewayError> {
    serde_json::to_vec(body)
        .map(Bytes::from)
        .map_err(|e| GatewayError::internal(format!("could not encode the request: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};
    use sluice_config::Timeouts;

    use super::*;

    /// Two inputs a call; each answer is `[len(text)]` per input, tokens only for `"counted"`.
    struct Pairs;

    impl Embedder for Pairs {
        fn batch_size(&self, _model: &str) -> usize {
            2
        }
        fn encode_batch(
            &self,
            req: &EmbeddingsRequest,
            inputs: &[String],
            target: &Target,
        ) -> Result<UpstreamRequest, GatewayError> {
            if req.dimensions == Some(7) {
                return Err(crate::unsupported_parameter("dimensions", "no".into()));
            }
            Ok(UpstreamRequest {
                url: format!("http://h/{}", target.model),
                headers: Vec::new(),
                body: json_body(&inputs)?,
            })
        }
        fn decode_batch(&self, _model: &str, body: &[u8]) -> Result<Embedded, GatewayError> {
            let inputs: Vec<String> = parse_answer("list", body)?;
            Ok(Embedded {
                tokens: (inputs.first().map(String::as_str) == Some("counted")).then_some(10),
                vectors: inputs.iter().map(|t| vec![t.len() as f32]).collect(),
            })
        }
    }

    fn target() -> Target {
        Target {
            provider: Arc::from("p"),
            model: Arc::from("m"),
            timeouts: Timeouts::default(),
        }
    }

    fn request(v: Value) -> EmbeddingsRequest {
        EmbeddingsRequest::parse(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn batches_go_out_in_order_and_come_back_joined() {
        let req = request(json!({"model": "m", "input": ["counted", "bb", "ccc"]}));
        let calls = encode_calls(&Pairs, &req, &target()).unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(&calls[0].body[..], br#"["counted","bb"]"#);
        assert_eq!(&calls[1].body[..], br#"["ccc"]"#);
        let bodies: Vec<Bytes> = calls.into_iter().map(|c| c.body).collect();
        let out: Value =
            serde_json::from_slice(&answer(&Pairs, &req, "m", &bodies).unwrap()).unwrap();
        let lens: Vec<Value> = out["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["embedding"][0].clone())
            .collect();
        assert_eq!(lens, [json!(7.0), json!(2.0), json!(3.0)]);
        assert_eq!(out["data"][2]["index"], 2);
        // The first call reported 10 tokens; "ccc" is estimated (one token).
        assert_eq!(
            out["usage"],
            json!({"prompt_tokens": 11, "total_tokens": 11})
        );
    }

    #[test]
    fn refusals_come_before_any_call_and_short_answers_are_protocol_errors() {
        let req = request(json!({"model": "m", "input": "a", "dimensions": 7}));
        let e = encode_calls(&Pairs, &req, &target()).unwrap_err();
        assert_eq!(e.param(), Some("dimensions"));
        let req = request(json!({"model": "m", "input": "a", "truncate": "END"}));
        let e = encode_calls(&Pairs, &req, &target()).unwrap_err();
        assert_eq!(e.param(), Some("truncate"));

        let req = request(json!({"model": "m", "input": ["a", "b"]}));
        let e = answer(&Pairs, &req, "m", &[Bytes::from_static(br#"["a"]"#)]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UpstreamProtocol);
        assert!(
            e.message().contains("1 embeddings for 2 inputs"),
            "{}",
            e.message()
        );
        let e = answer(&Pairs, &req, "m", &[Bytes::from_static(b"<html>")]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UpstreamProtocol);
    }
}
