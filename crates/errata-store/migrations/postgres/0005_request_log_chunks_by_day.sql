-- The request log's chunks partitioned by the UTC day of their newest record (`max_time_ms`), so
-- that retention drops a whole day (DROP TABLE of one partition, instant and without dead rows
-- to vacuum) instead of deleting its rows. A day wholly before the retention cutoff holds only
-- chunks whose every record is too old: exactly the chunks retention removes whole.
--
-- The primary key of a partitioned table must hold the partition key: (max_time_ms, id). With
-- the partition key first it is also the index listings walk (newest first, `ORDER BY
-- max_time_ms DESC, id DESC`) and the one a chunk is read by (`WHERE max_time_ms = $1 AND id =
-- $2`, one partition and one index probe), so the table needs no other index. Ids stay unique
-- across partitions because they all come from one sequence, the one the table had.
--
-- Partitions are made by `errata_request_log_partition(day)` below: at this migration for the
-- days the table holds, then by the store for today and tomorrow (at open and once a minute)
-- and for the day of any chunk whose insert finds no partition. There is no DEFAULT partition:
-- one holding rows would stop the partition of their day from being created.

ALTER TABLE request_log_chunks RENAME TO request_log_chunks_unpartitioned;
ALTER TABLE request_log_chunks_unpartitioned
    RENAME CONSTRAINT request_log_chunks_pkey TO request_log_chunks_unpartitioned_pkey;
ALTER INDEX request_log_chunks_time RENAME TO request_log_chunks_unpartitioned_time;
-- Kept when the old table is dropped: new ids go on from the last one.
ALTER SEQUENCE request_log_chunks_id_seq OWNED BY NONE;

CREATE TABLE request_log_chunks (
    id            BIGINT NOT NULL DEFAULT nextval('request_log_chunks_id_seq'),
    min_time_ms   BIGINT NOT NULL,
    max_time_ms   BIGINT NOT NULL,
    record_count  BIGINT NOT NULL,
    names         BYTEA NOT NULL,
    ids           BYTEA NOT NULL,
    data          BYTEA NOT NULL,
    file          TEXT,
    PRIMARY KEY (max_time_ms, id)
) PARTITION BY RANGE (max_time_ms);

-- As before: out of line, uncompressed. Partitions take their columns' storage from here.
ALTER TABLE request_log_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE request_log_chunks ALTER COLUMN ids SET STORAGE EXTERNAL;
ALTER SEQUENCE request_log_chunks_id_seq OWNED BY request_log_chunks.id;

-- Makes the partition of one UTC day (days since 1970-01-01) unless it exists: named
-- request_log_chunks_YYYYMMDD (request_log_chunks_dN for a day outside years 1970 to 9999),
-- holding max_time_ms in [day * 86400000, (day + 1) * 86400000). True when this call made it.
--
-- Safe when several sessions make the same day at once: IF NOT EXISTS is checked before the
-- table is made, so the one that comes second fails (the name taken in pg_class or pg_type, or
-- its range overlapping the partition just made); the partition being there then is success.
CREATE FUNCTION errata_request_log_partition(day BIGINT) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
DECLARE
    part TEXT := 'request_log_chunks_' || CASE
        WHEN day BETWEEN 0 AND 2932896 THEN to_char(DATE '1970-01-01' + day::INTEGER, 'YYYYMMDD')
        ELSE 'd' || day::TEXT
    END;
    lo TEXT := CASE
        WHEN day <= -106751991168 THEN 'MINVALUE'
        ELSE (day * 86400000)::TEXT
    END;
    hi TEXT := CASE
        WHEN day >= 106751991167 THEN 'MAXVALUE'
        ELSE ((day + 1) * 86400000)::TEXT
    END;
BEGIN
    IF to_regclass(quote_ident(part)) IS NOT NULL THEN
        RETURN FALSE;
    END IF;
    BEGIN
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF request_log_chunks FOR VALUES FROM (%s) TO (%s)',
            part, lo, hi);
        RETURN TRUE;
    EXCEPTION WHEN duplicate_table OR unique_violation OR invalid_object_definition THEN
        IF to_regclass(quote_ident(part)) IS NULL THEN
            RAISE;
        END IF;
        RETURN FALSE;
    END;
END;
$$;

-- The days the old table holds, then its rows, ids and all.
DO $$
DECLARE
    d BIGINT;
BEGIN
    FOR d IN
        SELECT DISTINCT floor(max_time_ms::NUMERIC / 86400000)::BIGINT
        FROM request_log_chunks_unpartitioned
    LOOP
        PERFORM errata_request_log_partition(d);
    END LOOP;
END;
$$;

INSERT INTO request_log_chunks (id, min_time_ms, max_time_ms, record_count, names, ids, data, file)
SELECT id, min_time_ms, max_time_ms, record_count, names, ids, data, file
FROM request_log_chunks_unpartitioned;

DROP TABLE request_log_chunks_unpartitioned;
