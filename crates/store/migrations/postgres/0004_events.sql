-- Events the gateway records for operators, such as a budget crossing its alert threshold.
-- `at` is unix milliseconds (UTC); `kind` names the event (`budget_alert`); `scope` is
-- whose event it is (`key:key_…`, `team:…`); `data` is the event's JSON. The log pruner
-- never touches this table.
CREATE TABLE events (
    id    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at    BIGINT NOT NULL,
    kind  TEXT   NOT NULL,
    scope TEXT   NOT NULL,
    data  JSONB  NOT NULL
);

-- Newest first, of every kind or of one.
CREATE INDEX events_at ON events (at);
CREATE INDEX events_kind_at ON events (kind, at);
