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
    expires_at    INTEGER,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER,
    replaced_by   TEXT
);

CREATE INDEX api_keys_tenant ON api_keys (tenant);

-- A revision bumped by every change that can make a cached verification wrong; gateways poll it.
CREATE TABLE key_revision (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    revision  INTEGER NOT NULL
);
INSERT INTO key_revision (id, revision) VALUES (1, 0);

CREATE TRIGGER api_keys_changed
AFTER UPDATE OF revoked_at, scopes, plan, ip_allowlist, limits, expires_at, environment, tenant
ON api_keys
BEGIN
    UPDATE key_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER api_keys_deleted
AFTER DELETE ON api_keys
BEGIN
    UPDATE key_revision SET revision = revision + 1 WHERE id = 1;
END;
