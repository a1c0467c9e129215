-- API keys: only the SHA-256 of a key is stored.
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    key_hash      TEXT NOT NULL UNIQUE,
    hint          TEXT NOT NULL,
    tenant        TEXT NOT NULL,
    name          TEXT NOT NULL,
    environment   TEXT NOT NULL CHECK (environment IN ('live', 'test')),
    scopes        TEXT NOT NULL DEFAULT '[]',
    plan          TEXT NOT NULL,
    ip_allowlist  TEXT NOT NULL DEFAULT '[]',
    limits        TEXT,
    expires_at    BIGINT,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT,
    replaced_by   TEXT
);

CREATE INDEX api_keys_tenant ON api_keys (tenant);

-- A revision bumped by every change that can make a cached verification wrong, and a NOTIFY so
-- every gateway forgets its cache at once.
CREATE TABLE key_revision (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    revision  BIGINT NOT NULL
);
INSERT INTO key_revision (id, revision) VALUES (1, 0);

CREATE FUNCTION errata_keys_changed() RETURNS trigger AS $$
BEGIN
    UPDATE key_revision SET revision = revision + 1 WHERE id = 1;
    PERFORM pg_notify('errata_keys', COALESCE(OLD.id, ''));
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER api_keys_changed
AFTER UPDATE OF revoked_at, scopes, plan, ip_allowlist, limits, expires_at, environment, tenant
ON api_keys
FOR EACH ROW EXECUTE FUNCTION errata_keys_changed();

CREATE TRIGGER api_keys_deleted
AFTER DELETE ON api_keys
FOR EACH ROW EXECUTE FUNCTION errata_keys_changed();
