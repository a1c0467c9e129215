-- Usage counts per writer: each opened store (a gateway instance) adds to rows of its own,
-- `writer` being a random id it picks when it opens. Instances used to upsert the same rows (the
-- same hour and day of the same key, route, status and code), and each flush waited for the
-- row locks of every other instance's flush in progress: four instances wrote no faster than
-- one. Now no two instances ever touch one row; the usage queries sum the writers' rows
-- (`SUM(count) ... GROUP BY`), so their answers are unchanged. A bucket holds a row per
-- writer that counted in it; retention deletes old buckets as before.
--
-- Rows written before this migration are writer 0. Adding a column with a constant default
-- rewrites nothing; the primary key is built again. An instance of an earlier version upserts
-- on the old key, which no longer exists: its flushes fail (and are held and retried) until it
-- runs this version.
ALTER TABLE usage_counts ADD COLUMN writer BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_counts DROP CONSTRAINT usage_counts_pkey;
ALTER TABLE usage_counts ADD CONSTRAINT usage_counts_pkey
    PRIMARY KEY (step, bucket, key_id, route, status, code, writer);
