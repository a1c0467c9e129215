-- The request log in chunks (crates/errata-store/src/reqlog/chunk.rs): each row holds the
-- records one worker gathered between two flushes, encoded, so that a request costs a few
-- bytes appended instead of a row and four index entries. `names` lists the routes, methods,
-- keys, tenants and codes its records name (a filtered listing skips chunks without the value
-- asked for), `ids` is a Bloom filter of its request ids (a lookup opens only the chunks it
-- names). The rows of `request_log` are moved into chunks when the store opens; the table
-- stays, empty.
CREATE TABLE request_log_chunks (
    id            BIGSERIAL PRIMARY KEY,
    min_time_ms   BIGINT NOT NULL,
    max_time_ms   BIGINT NOT NULL,
    record_count  BIGINT NOT NULL,
    names         BYTEA NOT NULL,
    ids           BYTEA NOT NULL,
    data          BYTEA NOT NULL
);

-- Stored out of line, uncompressed: the records are compact already, and compressing them
-- would cost the server more than it saves.
ALTER TABLE request_log_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE request_log_chunks ALTER COLUMN ids SET STORAGE EXTERNAL;

CREATE INDEX request_log_chunks_time ON request_log_chunks (max_time_ms);
