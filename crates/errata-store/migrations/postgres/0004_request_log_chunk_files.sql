-- A big chunk of a SQLite file store keeps its records in a file beside the database (the
-- file's name here, `data` empty): written once, instead of twice a page at a time through the
-- WAL (crates/errata-store/src/db/spill.rs). Always null in PostgreSQL, which has the column so
-- that both share their statements.
ALTER TABLE request_log_chunks ADD COLUMN file TEXT;
