-- Responses API answers the gateway translated, for `previous_response_id`: the
-- conversation up to and including the answer, as a JSON array of chat messages.
-- `created_at` is unix ms; rows older than `logging.retention` are pruned with the log.
CREATE TABLE responses (
    id         TEXT    NOT NULL PRIMARY KEY,
    created_at INTEGER NOT NULL,
    messages   TEXT    NOT NULL
);

CREATE INDEX responses_created_at ON responses (created_at);
