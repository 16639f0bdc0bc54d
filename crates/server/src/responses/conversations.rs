//! Stored conversations for `previous_response_id` on translated models: each response's
//! messages up to and including its answer (without its `instructions`, which the API does
//! not carry over), as JSON under the response id. In the store when the gateway has one
//! (SQLite or Postgres, shared by replicas, pruned with the request log); otherwise in
//! process, bounded to [`MEMORY_BYTES`].

use std::sync::Arc;

use sluice_store::Store;
use sluice_types::{GatewayError, Message};

use crate::body::invalid_at;

/// The most conversation JSON kept in process when there is no store.
const MEMORY_BYTES: u64 = 64 << 20;

/// Where conversations are kept.
pub(crate) enum Conversations {
    Store(Store),
    Memory(moka::sync::Cache<String, Arc<str>>),
}

impl Conversations {
    /// In `store` when given, else in process.
    pub(crate) fn new(store: Option<Store>) -> Self {
        match store {
            Some(store) => Conversations::Store(store),
            None => Conversations::Memory(
                moka::sync::Cache::builder()
                    .max_capacity(MEMORY_BYTES)
                    .weigher(|k: &String, v: &Arc<str>| {
                        u32::try_from(k.len() + v.len()).unwrap_or(u32::MAX)
                    })
                    .build(),
            ),
        }
    }

    /// Keeps `messages` as the conversation of response `id`, made at `created_ms`.
    pub(crate) async fn save(&self, id: &str, created_ms: i64, messages: &[Message]) {
        let json = match serde_json::to_string(messages) {
            Ok(json) => json,
            Err(e) => {
                tracing::warn!(response = id, error = %e, "could not encode a conversation");
                return;
            }
        };
        match self {
            Conversations::Store(store) => {
                if let Err(e) = store.put_response(id, created_ms, &json).await {
                    tracing::warn!(response = id, error = %e, "could not store a response");
                }
            }
            Conversations::Memory(cache) => cache.insert(id.to_owned(), json.into()),
        }
    }

    /// The conversation of response `id`; a 400 naming `previous_response_id` when there is
    /// none.
    pub(crate) async fn load(&self, id: &str) -> Result<Vec<Message>, GatewayError> {
        let json: Option<Arc<str>> = match self {
            Conversations::Store(store) => store
                .response(id)
                .await
                .map_err(|e| GatewayError::internal(format!("reading stored responses: {e}")))?
                .map(Into::into),
            Conversations::Memory(cache) => cache.get(id),
        };
        let json = json.ok_or_else(|| {
            invalid_at(
                "previous_response_id",
                &format!("previous response with id {id:?} not found"),
            )
        })?;
        serde_json::from_str(&json).map_err(|e| {
            GatewayError::internal(format!(
                "the stored conversation of {id} does not parse: {e}"
            ))
        })
    }
}
