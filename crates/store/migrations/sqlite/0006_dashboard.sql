-- What the dashboard reads besides spend: errors and cache outcomes per hour and dimension
-- value, and latency histograms, summed by the same writer as the spend ledger (only for
-- records actually inserted), so the overview never scans the log.
--
-- `errors`: records with status 400 and above (499 included). `cache_hits`: records answered
-- by the response cache (HIT, SEMANTIC-HIT). `cache_lookups`: records of a caching model that
-- looked the cache up (any outcome but BYPASS). Rows written before this migration count 0.
ALTER TABLE spend_hourly ADD COLUMN errors INTEGER NOT NULL DEFAULT 0;
ALTER TABLE spend_hourly ADD COLUMN cache_hits INTEGER NOT NULL DEFAULT 0;
ALTER TABLE spend_hourly ADD COLUMN cache_lookups INTEGER NOT NULL DEFAULT 0;

-- Latency histograms per UTC hour, dimension (all, key, team, org, model, provider) and
-- value: `metric` is `total` (duration_ms) or `ttft` (ttft_ms of streams), of records with a
-- status below 400; `bin` is a fixed log-scale bin (four per doubling of milliseconds, see
-- sluice-store's `latency` module); only bins that hold a request have a row. The key leads
-- with the dimension and value, so a series or a few values' sums read one range each.
CREATE TABLE latency_hourly (
    dim      TEXT    NOT NULL,
    bucket   INTEGER NOT NULL,
    value    TEXT    NOT NULL,
    metric   TEXT    NOT NULL,
    bin      INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    PRIMARY KEY (dim, value, bucket, metric, bin)
) WITHOUT ROWID;
