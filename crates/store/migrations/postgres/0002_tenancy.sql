-- Tenancy documents: virtual keys, teams, users and orgs, one JSON document each. The
-- gateway keeps them in memory; the store persists them and lets replicas notice each
-- other's changes. Timestamps are unix milliseconds (UTC).
CREATE TABLE tenants (
    id         TEXT   NOT NULL PRIMARY KEY,
    -- key | team | user | org
    kind       TEXT   NOT NULL,
    -- Keys only: the hash a presented key is looked up by.
    key_hash   TEXT   UNIQUE,
    data       JSONB  NOT NULL,
    -- From tenant_versions: unique across replicas, never reused.
    version    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE SEQUENCE tenant_versions;

-- The change counter: every insert, update and delete of a tenant row adds one to `n` in
-- the same transaction (the trigger below), whoever writes it. The row lock this takes
-- orders concurrent writers, so `n` counts commits in commit order.
CREATE TABLE tenant_changes (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    n  BIGINT  NOT NULL
);
INSERT INTO tenant_changes (id, n) VALUES (1, 0);

CREATE FUNCTION tenant_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tenant_changes SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER tenants_changed AFTER INSERT OR UPDATE OR DELETE ON tenants
FOR EACH ROW EXECUTE FUNCTION tenant_changed();
