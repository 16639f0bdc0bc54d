-- Tenancy documents: virtual keys, teams, users and orgs, one JSON document each. The
-- gateway keeps them in memory; the store persists them and lets replicas notice each
-- other's changes. Timestamps are unix milliseconds (UTC).
CREATE TABLE tenants (
    id         TEXT    NOT NULL PRIMARY KEY,
    -- key | team | user | org
    kind       TEXT    NOT NULL,
    -- Keys only: the hash a presented key is looked up by.
    key_hash   TEXT    UNIQUE,
    -- The document, as JSON text.
    data       TEXT    NOT NULL,
    -- Greater than every version assigned before it, and never reused.
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- The change counter: every insert, update and delete of a tenant row adds one to `n` in
-- the same transaction (the triggers below), whoever writes it.
CREATE TABLE tenant_changes (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO tenant_changes (id, n) VALUES (1, 0);

CREATE TRIGGER tenants_inserted AFTER INSERT ON tenants
BEGIN
    UPDATE tenant_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER tenants_updated AFTER UPDATE ON tenants
BEGIN
    UPDATE tenant_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER tenants_deleted AFTER DELETE ON tenants
BEGIN
    UPDATE tenant_changes SET n = n + 1 WHERE id = 1;
END;
