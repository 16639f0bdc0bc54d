-- The request log: one row per request. Timestamps are unix milliseconds (UTC).
-- JSON columns (tags, attempts, guardrails) are JSONB.
CREATE TABLE request_logs (
    id                 TEXT             NOT NULL,
    received_at        BIGINT           NOT NULL,
    first_byte_at      BIGINT,
    done_at            BIGINT           NOT NULL,
    api                TEXT             NOT NULL,
    method             TEXT             NOT NULL,
    path               TEXT             NOT NULL,
    key_id             TEXT,
    team_id            TEXT,
    user_id            TEXT,
    tags               JSONB,
    requested_model    TEXT,
    resolved_model     TEXT,
    variant            TEXT,
    rule               TEXT,
    provider           TEXT,
    upstream_model     TEXT,
    attempts           JSONB            NOT NULL DEFAULT '[]',
    status             INTEGER          NOT NULL,
    error_type         TEXT,
    error_code         TEXT,
    error_message      TEXT,
    stream             BOOLEAN          NOT NULL DEFAULT FALSE,
    ttft_ms            BIGINT,
    duration_ms        BIGINT           NOT NULL,
    prompt_tokens      BIGINT,
    completion_tokens  BIGINT,
    cached_tokens      BIGINT,
    cache_write_tokens BIGINT,
    reasoning_tokens   BIGINT,
    usage_source       TEXT             NOT NULL DEFAULT 'none',
    cost_usd           DOUBLE PRECISION,
    saved_usd          DOUBLE PRECISION,
    cache              TEXT,
    guardrails         JSONB,
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
