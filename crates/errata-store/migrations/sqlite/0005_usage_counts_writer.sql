-- Usage counts per writer, as in PostgreSQL (its 0006): the table has the same columns and key
-- in both databases, so that both share their statements. A SQLite store always writes as
-- writer 0: one file has one writer at a time anyway.
--
-- SQLite cannot change a table's primary key: the table is made again, its rows copied (all
-- writer 0) and its indexes made again.
CREATE TABLE usage_counts_new (
    step    TEXT NOT NULL,
    bucket  BIGINT NOT NULL,
    key_id  TEXT NOT NULL,
    tenant  TEXT NOT NULL,
    route   TEXT NOT NULL,
    status  BIGINT NOT NULL,
    code    TEXT NOT NULL,
    count   BIGINT NOT NULL,
    writer  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (step, bucket, key_id, route, status, code, writer)
);

INSERT INTO usage_counts_new (step, bucket, key_id, tenant, route, status, code, count, writer)
SELECT step, bucket, key_id, tenant, route, status, code, count, 0 FROM usage_counts;

DROP TABLE usage_counts;
ALTER TABLE usage_counts_new RENAME TO usage_counts;

CREATE INDEX usage_counts_tenant ON usage_counts (step, tenant, bucket);
CREATE INDEX usage_counts_key ON usage_counts (step, key_id, bucket);
