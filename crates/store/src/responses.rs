//! Stored responses of the Responses API, for `previous_response_id` on models the
//! gateway translates: each is the conversation up to and including the answer, as a JSON
//! array of chat messages, under the response's id. They follow the request log's
//! retention (`logging.retention`).

use sqlx::{QueryBuilder, Row};

use crate::{Store, StoreError, with_pool};

impl Store {
    /// Stores (or replaces) the conversation of response `id`, made at `created_ms`.
    pub async fn put_response(
        &self,
        id: &str,
        created_ms: i64,
        messages: &str,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut q = QueryBuilder::new("INSERT INTO responses (id, created_at, messages) VALUES (");
            q.push_bind(id).push(", ").push_bind(created_ms).push(", ").push_bind(messages);
            q.push(") ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at, messages = excluded.messages");
            q.build().execute(pool).await?;
        });
        Ok(())
    }

    /// The conversation of response `id`, when it is stored.
    pub async fn response(&self, id: &str) -> Result<Option<String>, StoreError> {
        let messages = with_pool!(self, pool => {
            let mut q = QueryBuilder::new("SELECT messages FROM responses WHERE id = ");
            q.push_bind(id);
            match q.build().fetch_optional(pool).await? {
                Some(row) => Some(row.try_get::<String, _>(0)?),
                None => None,
            }
        });
        Ok(messages)
    }

    /// Deletes responses made before `older_than` (unix ms); answers how many.
    pub async fn prune_responses(&self, older_than: i64) -> Result<u64, StoreError> {
        let n = with_pool!(self, pool => {
            let mut q = QueryBuilder::new("DELETE FROM responses WHERE created_at < ");
            q.push_bind(older_than);
            q.build().execute(pool).await?.rows_affected()
        });
        Ok(n)
    }
}
