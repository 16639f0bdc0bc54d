-- The spend ledger, and the org of each logged request.
ALTER TABLE request_logs ADD COLUMN org_id TEXT;

-- Spend per UTC hour and per value of one dimension, summed as log records are written
-- (only records actually inserted, so journal replays add nothing twice). `bucket` is the
-- unix ms at which the hour starts; `dim` is key, team, org, user, model, provider, tag
-- (`value` is `name=value`) or all (`value` is `*`). Costs are nano-USD (1e-9 USD).
-- The key leads with `dim` so every query reads one range. The log pruner never touches it.
CREATE TABLE spend_hourly (
    bucket            BIGINT NOT NULL,
    dim               TEXT   NOT NULL,
    value             TEXT   NOT NULL,
    requests          BIGINT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cached_tokens     BIGINT NOT NULL,
    cost_nano         BIGINT NOT NULL,
    saved_nano        BIGINT NOT NULL,
    PRIMARY KEY (dim, bucket, value)
);

-- One value's hourly series.
CREATE INDEX spend_hourly_value ON spend_hourly (dim, value, bucket);
