-- The similarity of a semantic cache hit (or of the best match its verifier vetoed).
ALTER TABLE request_logs ADD COLUMN cache_score REAL;
