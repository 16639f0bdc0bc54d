-- The spend ledger, and the org of each logged request.
ALTER TABLE request_logs ADD COLUMN org_id TEXT;

-- Spend per UTC hour and per value of one dimension, summed as log records are written
-- (only records actually inserted, so journal replays add nothing twice). `bucket` is the
-- unix ms at which the hour starts; `dim` is key, team, org, user, model, provider, tag
-- (`value` is `name=value`) or all (`value` is `*`). Costs are nano-USD (1e-9 USD).
-- The key leads with `dim` so every query reads one range. The log pruner never touches it.
CREATE TABLE spend_hourly (
    bucket            INTEGER NOT NULL,
    dim               TEXT    NOT NULL,
    value             TEXT    NOT NULL,
    requests          INTEGER NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens     INTEGER NOT NULL,
    cost_nano         INTEGER NOT NULL,
    saved_nano        INTEGER NOT NULL,
    PRIMARY KEY (dim, bucket, value)
) WITHOUT ROWID;

-- One value's hourly series.
CREATE INDEX spend_hourly_value ON spend_hourly (dim, value, bucket);
