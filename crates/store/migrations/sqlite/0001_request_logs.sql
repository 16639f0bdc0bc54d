-- The request log: one row per request. Timestamps are unix milliseconds (UTC).
-- JSON columns (tags, attempts, guardrails) hold JSON text.
CREATE TABLE request_logs (
    id                 TEXT    NOT NULL,
    received_at        INTEGER NOT NULL,
    first_byte_at      INTEGER,
    done_at            INTEGER NOT NULL,
    api                TEXT    NOT NULL,
    method             TEXT    NOT NULL,
    path               TEXT    NOT NULL,
    key_id             TEXT,
    team_id            TEXT,
    user_id            TEXT,
    tags               TEXT,
    requested_model    TEXT,
    resolved_model     TEXT,
    variant            TEXT,
    rule               TEXT,
    provider           TEXT,
    upstream_model     TEXT,
    attempts           TEXT    NOT NULL DEFAULT '[]',
    status             INTEGER NOT NULL,
    error_type         TEXT,
    error_code         TEXT,
    error_message      TEXT,
    stream             INTEGER NOT NULL DEFAULT 0,
    ttft_ms            INTEGER,
    duration_ms        INTEGER NOT NULL,
    prompt_tokens      INTEGER,
    completion_tokens  INTEGER,
    cached_tokens      INTEGER,
    cache_write_tokens INTEGER,
    reasoning_tokens   INTEGER,
    usage_source       TEXT    NOT NULL DEFAULT 'none',
    cost_usd           REAL,
    saved_usd          REAL,
    cache              TEXT,
    guardrails         TEXT,
    client_ip          TEXT,
    user_agent         TEXT,
    request_body       TEXT,
    response_body      TEXT,
    -- A client may reuse an x-request-id; two requests only collide when they also arrive in
    -- the same millisecond. The key makes journal replays idempotent.
    PRIMARY KEY (id, received_at)
);

CREATE INDEX request_logs_received_at ON request_logs (received_at);
CREATE INDEX request_logs_resolved_model ON request_logs (resolved_model, received_at);
CREATE INDEX request_logs_requested_model ON request_logs (requested_model, received_at);
CREATE INDEX request_logs_status ON request_logs (status, received_at);
