-- Every answered request (never the key, never a body), kept for the retention days.
CREATE TABLE request_log (
    request_id           TEXT NOT NULL,
    time_ms              BIGINT NOT NULL,
    method               TEXT NOT NULL,
    path                 TEXT NOT NULL,
    route                TEXT NOT NULL,
    key_id               TEXT,
    tenant               TEXT,
    status               BIGINT NOT NULL,
    code                 TEXT,
    latency_us           BIGINT NOT NULL,
    upstream_status      BIGINT,
    upstream_request_id  TEXT,
    -- The request id's last byte: lookups by id go through (id_tail, time_ms, request_id), so
    -- that each write appends at the end of one of a few dozen ranges instead of at a random
    -- place in an index of random ids (one page rewritten per record).
    id_tail              INTEGER NOT NULL
);

CREATE INDEX request_log_id ON request_log (id_tail, time_ms, request_id);
CREATE INDEX request_log_time ON request_log (time_ms);
-- Refusals without a key carry neither tenant nor key: they are left out of these two.
CREATE INDEX request_log_tenant_time ON request_log (tenant, time_ms) WHERE tenant IS NOT NULL;
CREATE INDEX request_log_key_time ON request_log (key_id, time_ms) WHERE key_id IS NOT NULL;

-- Requests counted per bucket (step 'minute', 'hour' or 'day'; bucket = its start in Unix
-- seconds), key, route, status and code ('' for none).
CREATE TABLE usage_counts (
    step    TEXT NOT NULL,
    bucket  BIGINT NOT NULL,
    key_id  TEXT NOT NULL,
    tenant  TEXT NOT NULL,
    route   TEXT NOT NULL,
    status  BIGINT NOT NULL,
    code    TEXT NOT NULL,
    count   BIGINT NOT NULL,
    PRIMARY KEY (step, bucket, key_id, route, status, code)
);

CREATE INDEX usage_counts_tenant ON usage_counts (step, tenant, bucket);
CREATE INDEX usage_counts_key ON usage_counts (step, key_id, bucket);
