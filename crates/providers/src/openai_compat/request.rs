//! Encoding a chat request in the OpenAI wire format: every field the client sent, with the
//! target's model name. A request that arrived as OpenAI JSON and is unchanged is forwarded
//! as those bytes with only `model` replaced; otherwise the typed fields are serialized.
//!
//! A stream always asks for usage where the upstream accepts it ([`OpenAiCodec`]'s
//! `stream_usage`): `stream_options.include_usage` is set to `true` (merged into the
//! client's `stream_options`), so that spend and limits see the real counts even when the
//! client did not ask; the server drops the usage chunk for such a client.

use bytes::Bytes;
use sluice_types::{ChatRequest, GatewayError, StreamOptions};

use super::OpenAiCodec;
use super::splice::{Splice, splice};
use crate::{Target, UpstreamRequest};

/// The splice that turns `include_usage` on inside `stream_options`.
const INCLUDE_USAGE: &[(&str, Splice<'static>)] = &[("include_usage", Splice::Set(b"true"))];

impl OpenAiCodec {
    pub(super) fn encode_chat(
        &self,
        req: &ChatRequest,
        target: &Target,
    ) -> Result<UpstreamRequest, GatewayError> {
        let adapted = match self.mistral {
            true => super::mistral::adapt(req, target)?,
            false => None,
        };
        let req = adapted.as_ref().unwrap_or(req);
        let url = self.url("/chat/completions", None, Some(&target.model))?;
        let ask_usage = self.stream_usage && req.is_stream() && !req.wants_stream_usage();
        let body = match req.raw.as_deref().and_then(|raw| {
            let model = serde_json::to_vec(&*target.model).ok()?;
            let mut edits = vec![("model", Splice::Set(&model))];
            if ask_usage {
                edits.push(("stream_options", Splice::Merge(INCLUDE_USAGE)));
            }
            splice(raw, &edits)
        }) {
            Some(spliced) => spliced,
            // A request the gateway changed: serialize its fields with the target's model.
            None => {
                let mut changed = req.clone();
                changed.model = target.model.to_string();
                if ask_usage {
                    let options = changed
                        .stream_options
                        .get_or_insert_with(StreamOptions::default);
                    options.include_usage = Some(true);
                }
                serde_json::to_vec(&changed).map_err(|e| {
                    GatewayError::internal(format!("could not encode the request: {e}"))
                })?
            }
        };
        Ok(UpstreamRequest {
            url,
            headers: Vec::new(),
            body: Bytes::from(body),
        })
    }
}
