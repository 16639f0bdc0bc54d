-- The logs API pages newest first by (received_at, id). An index in exactly that order
-- answers a page without sorting, so the planner never prefers scanning another index
-- (status, model) and sorting every match, which took SQLite 0.3 s on 10M rows. Its
-- leading column serves time ranges and retention deletes as the old index did.
CREATE INDEX request_logs_received_at_id ON request_logs (received_at, id);
DROP INDEX request_logs_received_at;
