//! Running an embeddings request on an HTTP provider with an [`Embedder`]: read the client's
//! body, encode every call, send them a few at a time, and answer in OpenAI's shape.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response};
use sluice_types::GatewayError;

use super::{Embedder, EmbeddingsRequest, MAX_CONCURRENT_CALLS, answer, encode_calls};
use crate::codec::UNSUPPORTED_PARAMETER;
use crate::http::read_request_body;
use crate::{CallCx, Codec, ForwardRequest, HttpProvider, Target, UpstreamBody, box_body};

impl<C: Codec> HttpProvider<C> {
    /// Answers an OpenAI embeddings request (`req`, a `POST /embeddings`) through `e`.
    pub(crate) async fn embed(
        &self,
        e: &dyn Embedder,
        req: ForwardRequest,
        cx: &CallCx,
    ) -> Result<Response<UpstreamBody>, GatewayError> {
        let own = Instant::now() + req.timeouts.total;
        let deadline = cx.deadline.map_or(own, |d| d.min(own));
        let body = read_request_body(req.body, deadline, self.name(), "the request body").await?;
        let mut embed_req = EmbeddingsRequest::parse(&body)?;
        if let Some(model) = req.model {
            embed_req.model = model;
        }
        let target = Target {
            provider: self.name().clone(),
            model: Arc::from(embed_req.model.as_str()),
            timeouts: req.timeouts,
        };
        let calls = self.encode_embeddings(e, &mut embed_req, &target, cx)?;
        let bodies: Vec<Bytes> = futures_util::stream::iter(calls)
            .map(|up| self.call_json(up, &target, deadline, cx))
            .buffered(MAX_CONCURRENT_CALLS)
            .try_collect()
            .await?;
        let json = answer(e, &embed_req, &target.model, &bodies)?;
        let mut resp = Response::new(box_body(json));
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(resp)
    }

    /// [`encode_calls`]; with `drop_unsupported`, parameters the embedder refuses as
    /// unsupported are removed one by one (each with a warning) until it accepts.
    fn encode_embeddings(
        &self,
        e: &dyn Embedder,
        req: &mut EmbeddingsRequest,
        target: &Target,
        cx: &CallCx,
    ) -> Result<Vec<crate::UpstreamRequest>, GatewayError> {
        // Each round removes one parameter; a request has only so many.
        for _ in 0..16 {
            let err = match encode_calls(e, req, target) {
                Ok(calls) => return Ok(calls),
                Err(err) => err,
            };
            let droppable = self.drop_unsupported() && err.code() == Some(UNSUPPORTED_PARAMETER);
            match err.param().filter(|_| droppable).map(str::to_owned) {
                Some(param) if req.remove_param(&param) => {
                    tracing::warn!(provider = %self.name(), param, "dropped an embeddings parameter the provider cannot honour");
                    cx.note_dropped(&param);
                }
                _ => return Err(err),
            }
        }
        encode_calls(e, req, target)
    }
}
