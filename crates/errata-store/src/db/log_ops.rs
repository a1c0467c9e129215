//! The request log's and usage's statements, written once for SQLite and PostgreSQL as the
//! `log_ops!` macro each store expands in a module of its own (the SQL is the same;
//! `QueryBuilder` writes each database's placeholders). What they read and write is described
//! in [`super::log`].

/// The log operations, written once for both databases. `$take_legacy`: the statement that
/// deletes and returns up to `CHUNK_ROWS` rows of the old `request_log`. `$partitions`: called
/// as `$partitions(pool, &error, &max_times).await` when inserting chunks (whose newest records
/// are at `max_times`) failed with `error`: `Ok(true)` when it failed for want of a partition
/// that the hook has now made, and the write is worth one more try (PostgreSQL's
/// `partitions::made_for`); without one, [`super::log::one_table`]. `spill`: where big chunks'
/// records go instead of the row (a SQLite file store's [`Spill`]); none for PostgreSQL.
///
/// Reads take no snapshot: a chunk that retention or a merge rewrote between the listing of
/// chunks and the reading of its records is noticed (it is gone) and the read starts again.
macro_rules! log_ops {
    ($db:ty, $pool:ty, $take_legacy:expr) => {
        crate::db::log_ops::log_ops!($db, $pool, $take_legacy, crate::db::log::one_table);
    };
    ($db:ty, $pool:ty, $take_legacy:expr, $partitions:path) => {
        use std::collections::HashSet;

        use sqlx::{QueryBuilder, Transaction};

        use crate::db::StoreError;
        use crate::db::log::{
            ADOPT_RETRIES, CHUNK_ROWS, ChunkAt, ChunkRead, INSERT_CHUNKS, MERGE_CHUNKS, MERGED_ROWS,
            MERGES, READ_ATTEMPTS, RecordRow, RequestQuery, Retention, SMALL_CHUNK, TenantUsageRow,
            UsageQuery, UsageRow, add_matching, could_match, find_newest, listing_done, same_day,
            usage_rows,
        };
        use crate::db::spill::{SPILL_BYTES, Spill};
        use crate::reqlog::chunk::{decode_all, id_hash, may_hold_hash};
        use crate::reqlog::{Chunk, Record, UsageKey};

        type Tx = Transaction<'static, $db>;

        fn count(n: usize) -> i64 {
            i64::try_from(n).unwrap_or(i64::MAX)
        }

        /// Inserts chunks, all in one statement (up to [`INSERT_CHUNKS`] of them); a big
        /// one's records go to a file first (its name added to `written`) when the store
        /// spills.
        async fn insert_chunks(
            tx: &mut Tx,
            spill: Option<&Spill>,
            chunks: &[&Chunk],
            written: &mut Vec<String>,
        ) -> Result<(), sqlx::Error> {
            for part in chunks.chunks(INSERT_CHUNKS) {
                let mut files = Vec::with_capacity(part.len());
                for c in part {
                    let mut file = None;
                    if let Some(s) = spill.filter(|_| c.data.len() >= SPILL_BYTES) {
                        match s.write(&c.data) {
                            Ok(name) => {
                                written.push(name.clone());
                                file = Some(name);
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "request log chunk kept in the database")
                            }
                        }
                    }
                    files.push(file);
                }
                let mut q = QueryBuilder::<$db>::new(
                    "INSERT INTO request_log_chunks (min_time_ms, max_time_ms, record_count, \
                     names, ids, data, file) ",
                );
                q.push_values(part.iter().zip(&files), |mut b, (c, file)| {
                    let data: &[u8] = if file.is_some() { &[] } else { &c.data };
                    b.push_bind(c.min_time_ms)
                        .push_bind(c.max_time_ms)
                        .push_bind(count(c.rows))
                        .push_bind(c.names.as_slice())
                        .push_bind(c.ids.as_slice())
                        .push_bind(data)
                        .push_bind(file.as_deref());
                });
                q.build().execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// ` WHERE` the chunk at `at`.
        fn push_at(q: &mut QueryBuilder<'_, $db>, at: ChunkAt) {
            q.push(" WHERE max_time_ms = ").push_bind(at.max_time_ms);
            q.push(" AND id = ").push_bind(at.id);
        }

        /// A chunk's names and records.
        async fn chunk_data(
            conn: &mut <$db as sqlx::Database>::Connection,
            spill: Option<&Spill>,
            at: ChunkAt,
        ) -> Result<ChunkRead, StoreError> {
            let mut q = QueryBuilder::<$db>::new("SELECT names, data, file FROM request_log_chunks");
            push_at(&mut q, at);
            let row = q
                .build_query_as::<(Vec<u8>, Vec<u8>, Option<String>)>()
                .fetch_optional(&mut *conn)
                .await?;
            let Some((names, data, file)) = row else {
                return Ok(ChunkRead::Gone);
            };
            let Some(file) = file else {
                return Ok(ChunkRead::Records { names, data, spilled: false });
            };
            let Some(spill) = spill else {
                return Ok(ChunkRead::Lost);
            };
            match spill.read(&file).await {
                Ok(Some(data)) => Ok(ChunkRead::Records { names, data, spilled: true }),
                // Removed with its row since the row was read, or lost.
                Ok(None) => {
                    let mut q = QueryBuilder::<$db>::new("SELECT id FROM request_log_chunks");
                    push_at(&mut q, at);
                    let still = q.build_query_as::<(i64,)>().fetch_optional(&mut *conn).await?;
                    Ok(if still.is_some() { ChunkRead::Lost } else { ChunkRead::Gone })
                }
                Err(e) => {
                    tracing::warn!(file, error = %e, "could not read a request log chunk");
                    Ok(ChunkRead::Lost)
                }
            }
        }

        /// Every record of a chunk, or none when they are lost.
        async fn chunk_records(
            tx: &mut Tx,
            spill: Option<&Spill>,
            at: ChunkAt,
        ) -> Result<Option<Vec<Record>>, StoreError> {
            match chunk_data(&mut **tx, spill, at).await? {
                ChunkRead::Records { names, data, spilled } => match decode_all(&names, &data) {
                    Ok(records) => Ok(Some(records)),
                    Err(_) if spilled => Ok(Some(Vec::new())),
                    Err(e) => Err(e),
                },
                ChunkRead::Lost => Ok(Some(Vec::new())),
                ChunkRead::Gone => Ok(None),
            }
        }

        /// Deletes a chunk (its file, if any, added to `doomed`); false when it is gone
        /// already (another instance's retention).
        async fn delete_chunk(
            tx: &mut Tx,
            at: ChunkAt,
            doomed: &mut Vec<String>,
        ) -> Result<bool, StoreError> {
            let mut q = QueryBuilder::<$db>::new("DELETE FROM request_log_chunks");
            push_at(&mut q, at);
            q.push(" RETURNING file");
            let Some((file,)) = q
                .build_query_as::<(Option<String>,)>()
                .fetch_optional(&mut **tx)
                .await?
            else {
                return Ok(false);
            };
            doomed.extend(file);
            Ok(true)
        }

        /// What a retention or merge transaction changes beside the rows.
        #[derive(Default)]
        struct Files {
            /// Files of deleted rows: removed once the transaction commits.
            doomed: Vec<String>,
            /// Files of inserted rows: removed if it does not.
            written: Vec<String>,
        }

        impl Files {
            fn settle(self, spill: Option<&Spill>, committed: bool) {
                if let Some(s) = spill {
                    s.remove(if committed { &self.doomed } else { &self.written });
                }
            }
        }

        /// Replaces a chunk by one of `records` (none: no chunk); false when it is gone already.
        async fn replace_chunk(
            tx: &mut Tx,
            spill: Option<&Spill>,
            at: ChunkAt,
            records: &[Record],
            files: &mut Files,
        ) -> Result<bool, StoreError> {
            if !delete_chunk(tx, at, &mut files.doomed).await? {
                return Ok(false);
            }
            if !records.is_empty() {
                let chunk = Chunk::from_records(records);
                insert_chunks(tx, spill, &[&chunk], &mut files.written).await?;
            }
            Ok(true)
        }

        /// Commits `tx`, then removes the files it let go (or, failing, the files it wrote).
        async fn commit(tx: Tx, spill: Option<&Spill>, files: Files) -> Result<(), StoreError> {
            match tx.commit().await {
                Ok(()) => {
                    files.settle(spill, true);
                    Ok(())
                }
                Err(e) => {
                    files.settle(spill, false);
                    Err(e.into())
                }
            }
        }

        /// Writes a flush: its chunks in one INSERT and its usage (to the rows of `writer`, the
        /// store's id), in one transaction. One that failed for want of a partition is tried
        /// once more once it is made.
        pub(crate) async fn write_chunks(
            pool: &$pool,
            spill: Option<&Spill>,
            writer: i64,
            chunks: &[Chunk],
            counts: &[(UsageKey, u64)],
        ) -> Result<(), StoreError> {
            let chunks: Vec<&Chunk> = chunks.iter().filter(|c| c.rows > 0).collect();
            let Err(e) = write_once(pool, spill, writer, &chunks, counts).await else {
                return Ok(());
            };
            let times: Vec<i64> = chunks.iter().map(|c| c.max_time_ms).collect();
            match $partitions(pool, &e, &times).await {
                Ok(true) => Ok(write_once(pool, spill, writer, &chunks, counts).await?),
                Ok(false) => Err(e.into()),
                Err(p) => Err(StoreError(format!("{e}; making its partition: {}", p.0))),
            }
        }

        async fn write_once(
            pool: &$pool,
            spill: Option<&Spill>,
            writer: i64,
            chunks: &[&Chunk],
            counts: &[(UsageKey, u64)],
        ) -> Result<(), sqlx::Error> {
            let mut files = Files::default();
            let mut tx = pool.begin().await?;
            let written = &mut files.written;
            let res = match write_in(&mut tx, spill, writer, chunks, counts, written).await {
                Ok(()) => tx.commit().await,
                Err(e) => {
                    // At once, not when the connection is next used: a partition made next
                    // waits for the locks the transaction holds.
                    let _ = tx.rollback().await;
                    Err(e)
                }
            };
            if res.is_err() {
                files.settle(spill, false);
            }
            res
        }

        async fn write_in(
            tx: &mut Tx,
            spill: Option<&Spill>,
            writer: i64,
            chunks: &[&Chunk],
            counts: &[(UsageKey, u64)],
            written: &mut Vec<String>,
        ) -> Result<(), sqlx::Error> {
            if !chunks.is_empty() {
                insert_chunks(tx, spill, chunks, written).await?;
            }
            let rows = usage_rows(counts);
            // A statement binds at most a few thousand values in either database. The rows are
            // this writer's own: no other store upserts them, so no flush waits for another
            // instance's.
            for chunk in rows.chunks(500) {
                let mut q = QueryBuilder::<$db>::new(
                    "INSERT INTO usage_counts (step, bucket, key_id, tenant, route, status, code, \
                     count, writer) ",
                );
                q.push_values(chunk, |mut b, (step, bucket, k, n)| {
                    b.push_bind(step.as_str())
                        .push_bind(*bucket)
                        .push_bind(k.key_id.as_str())
                        .push_bind(k.tenant.as_str())
                        .push_bind(k.route.as_str())
                        .push_bind(i64::from(k.status))
                        .push_bind(k.code.as_str())
                        .push_bind(*n)
                        .push_bind(writer);
                });
                q.push(
                    " ON CONFLICT (step, bucket, key_id, route, status, code, writer) \
                     DO UPDATE SET count = usage_counts.count + excluded.count",
                );
                q.build().execute(&mut **tx).await?;
            }
            Ok(())
        }

        pub(crate) async fn write(
            pool: &$pool,
            spill: Option<&Spill>,
            writer: i64,
            records: &[Record],
            counts: &[(UsageKey, u64)],
        ) -> Result<(), StoreError> {
            let chunks: Vec<Chunk> = records.chunks(CHUNK_ROWS).map(Chunk::from_records).collect();
            write_chunks(pool, spill, writer, &chunks, counts).await
        }

        pub(crate) async fn get(
            pool: &$pool,
            spill: Option<&Spill>,
            id: &str,
        ) -> Result<Option<Record>, StoreError> {
            let h = id_hash(id.as_bytes());
            // One connection for every statement (one health check).
            let mut conn = pool.acquire().await?;
            let mut attempt = 0;
            'read: loop {
                attempt += 1;
                let filters: Vec<(i64, i64, Vec<u8>)> = sqlx::query_as(
                    "SELECT id, max_time_ms, ids FROM request_log_chunks \
                     ORDER BY max_time_ms DESC, id DESC",
                )
                .fetch_all(&mut *conn)
                .await?;
                let mut best = None;
                for (chunk, max_time_ms, ids) in filters {
                    if best.as_ref().is_some_and(|b: &Record| max_time_ms < b.time_ms) {
                        break;
                    }
                    if !may_hold_hash(&ids, h) {
                        continue;
                    }
                    let at = ChunkAt { id: chunk, max_time_ms };
                    match chunk_data(&mut conn, spill, at).await? {
                        ChunkRead::Records { names, data, spilled } => {
                            let found = find_newest(id, &names, &data, &mut best);
                            if found.is_err() && !spilled {
                                found?;
                            }
                        }
                        // Rewritten since (retention, a merge): read again.
                        ChunkRead::Gone if attempt < READ_ATTEMPTS => continue 'read,
                        ChunkRead::Gone | ChunkRead::Lost => {}
                    }
                }
                return Ok(best);
            }
        }

        pub(crate) async fn list(
            pool: &$pool,
            spill: Option<&Spill>,
            f: &RequestQuery,
        ) -> Result<Vec<Record>, StoreError> {
            let mut conn = pool.acquire().await?;
            let mut attempt = 0;
            'read: loop {
                attempt += 1;
                let mut q = QueryBuilder::<$db>::new(
                    "SELECT id, max_time_ms, names FROM request_log_chunks WHERE 1 = 1",
                );
                if let Some(s) = f.since_ms {
                    q.push(" AND max_time_ms >= ").push_bind(s);
                }
                if let Some(u) = f.until_ms {
                    q.push(" AND min_time_ms < ").push_bind(u);
                }
                if let Some((t, _)) = &f.before {
                    q.push(" AND min_time_ms <= ").push_bind(*t);
                }
                q.push(" ORDER BY max_time_ms DESC, id DESC");
                let chunks = q
                    .build_query_as::<(i64, i64, Vec<u8>)>()
                    .fetch_all(&mut *conn)
                    .await?;
                let mut found = Vec::new();
                for (chunk, max_time_ms, names) in chunks {
                    if listing_done(f, &found, max_time_ms) {
                        break;
                    }
                    // Most chunks a filtered listing skips, it skips by their names alone.
                    if !could_match(f, &names)? {
                        continue;
                    }
                    let at = ChunkAt { id: chunk, max_time_ms };
                    match chunk_data(&mut conn, spill, at).await? {
                        ChunkRead::Records { names, data, spilled } => {
                            let added = add_matching(f, &names, &data, &mut found);
                            if added.is_err() && !spilled {
                                added?;
                            }
                        }
                        ChunkRead::Gone if attempt < READ_ATTEMPTS => continue 'read,
                        ChunkRead::Gone | ChunkRead::Lost => {}
                    }
                }
                return Ok(found);
            }
        }

        /// `SELECT <what> FROM usage_counts WHERE` the query's step, tenant, key and range.
        /// A bucket has a row per writer that counted in it: every reading sums them.
        fn usage_select<'q>(what: &str, f: &'q UsageQuery) -> QueryBuilder<'q, $db> {
            let mut q = QueryBuilder::<$db>::new(format!(
                "SELECT {what} FROM usage_counts WHERE step = "
            ));
            q.push_bind(f.step.as_str());
            if let Some(t) = &f.tenant {
                q.push(" AND tenant = ").push_bind(t.as_str());
            }
            if let Some(k) = &f.key_id {
                q.push(" AND key_id = ").push_bind(k.as_str());
            }
            q.push(" AND bucket >= ").push_bind(f.since);
            q.push(" AND bucket < ").push_bind(f.until);
            q
        }

        pub(crate) async fn usage(
            pool: &$pool,
            f: &UsageQuery,
        ) -> Result<Vec<UsageRow>, StoreError> {
            let mut q = usage_select(
                "bucket, status, code, CAST(SUM(count) AS BIGINT) AS count",
                f,
            );
            q.push(" GROUP BY bucket, status, code ORDER BY bucket, status, code");
            Ok(q.build_query_as::<UsageRow>().fetch_all(pool).await?)
        }

        pub(crate) async fn usage_by_tenant(
            pool: &$pool,
            f: &UsageQuery,
        ) -> Result<Vec<TenantUsageRow>, StoreError> {
            let mut q = usage_select("tenant, status, CAST(SUM(count) AS BIGINT) AS count", f);
            q.push(" GROUP BY tenant, status ORDER BY tenant, status");
            Ok(q.build_query_as::<TenantUsageRow>().fetch_all(pool).await?)
        }

        /// Writes a key's editable fields; `None` when there is no such key.
        pub(crate) async fn update_key(
            pool: &$pool,
            k: &crate::db::KeyRecord,
        ) -> Result<bool, StoreError> {
            let mut q = QueryBuilder::<$db>::new("UPDATE api_keys SET name = ");
            q.push_bind(k.name.as_str());
            q.push(", scopes = ")
                .push_bind(serde_json::to_string(&k.scopes).unwrap_or_else(|_| "[]".into()));
            q.push(", plan = ").push_bind(k.plan.as_str());
            q.push(", ip_allowlist = ").push_bind(
                serde_json::to_string(&k.ip_allowlist).unwrap_or_else(|_| "[]".into()),
            );
            q.push(", limits = ").push_bind(
                k.limits
                    .as_ref()
                    .and_then(|l| serde_json::to_string(l).ok()),
            );
            q.push(", expires_at = ").push_bind(k.expires_at);
            q.push(" WHERE id = ").push_bind(k.id.as_str());
            Ok(q.build().execute(pool).await?.rows_affected() > 0)
        }

        pub(crate) async fn prune(
            pool: &$pool,
            spill: Option<&Spill>,
            r: &Retention,
        ) -> Result<u64, StoreError> {
            let mut files = Files::default();
            let mut tx = pool.begin().await?;
            let gone = match prune_in(&mut tx, spill, r, &mut files).await {
                Ok(gone) => gone,
                Err(e) => {
                    files.settle(spill, false);
                    return Err(e);
                }
            };
            commit(tx, spill, files).await?;
            merge_small(pool, spill).await?;
            if let Some(s) = spill {
                let named: Vec<(String,)> = sqlx::query_as(
                    "SELECT file FROM request_log_chunks WHERE file IS NOT NULL",
                )
                .fetch_all(pool)
                .await?;
                s.sweep(&named.into_iter().map(|(f,)| f).collect::<HashSet<String>>());
            }
            Ok(u64::try_from(gone).unwrap_or(0))
        }

        async fn prune_in(
            tx: &mut Tx,
            spill: Option<&Spill>,
            r: &Retention,
            files: &mut Files,
        ) -> Result<i64, StoreError> {
            let mut gone = 0i64;
            // Chunks all too old go whole.
            let mut q = QueryBuilder::<$db>::new(
                "DELETE FROM request_log_chunks WHERE max_time_ms < ",
            );
            q.push_bind(r.before_ms);
            q.push(" RETURNING record_count, file");
            let deleted = q
                .build_query_as::<(i64, Option<String>)>()
                .fetch_all(&mut **tx)
                .await?;
            for (n, file) in deleted {
                gone += n;
                files.doomed.extend(file);
            }
            // Chunks partly too old are written again without the old records.
            let mut q = QueryBuilder::<$db>::new(
                "SELECT id, max_time_ms FROM request_log_chunks WHERE min_time_ms < ",
            );
            q.push_bind(r.before_ms);
            let cut = q.build_query_as::<(i64, i64)>().fetch_all(&mut **tx).await?;
            for (id, max_time_ms) in cut {
                let at = ChunkAt { id, max_time_ms };
                let Some(mut records) = chunk_records(tx, spill, at).await? else {
                    continue;
                };
                let had = records.len();
                records.retain(|rec| rec.time_ms >= r.before_ms);
                if replace_chunk(tx, spill, at, &records, files).await? {
                    gone += count(had - records.len());
                }
            }
            // Beyond max_rows the oldest chunks go, and the oldest records of the next one.
            let (total,): (i64,) = sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(record_count), 0) AS BIGINT) FROM request_log_chunks",
            )
            .fetch_one(&mut **tx)
            .await?;
            let mut excess = total.saturating_sub(i64::try_from(r.max_rows).unwrap_or(i64::MAX));
            if excess > 0 {
                let oldest: Vec<(i64, i64, i64)> = sqlx::query_as(
                    "SELECT id, max_time_ms, record_count FROM request_log_chunks \
                     ORDER BY max_time_ms, id",
                )
                .fetch_all(&mut **tx)
                .await?;
                for (id, max_time_ms, n) in oldest {
                    let chunk = ChunkAt { id, max_time_ms };
                    if excess <= 0 {
                        break;
                    }
                    if n <= excess {
                        if !delete_chunk(tx, chunk, &mut files.doomed).await? {
                            break;
                        }
                        excess -= n;
                        gone += n;
                        continue;
                    }
                    let Some(mut records) = chunk_records(tx, spill, chunk).await? else {
                        break;
                    };
                    records.sort_by_key(|rec| rec.time_ms);
                    let drop = usize::try_from(excess)
                        .unwrap_or(records.len())
                        .min(records.len());
                    records.drain(..drop);
                    if !replace_chunk(tx, spill, chunk, &records, files).await? {
                        break;
                    }
                    gone += count(drop);
                    excess = 0;
                }
            }
            for (step, before) in r.usage_before {
                let mut q = QueryBuilder::<$db>::new("DELETE FROM usage_counts WHERE step = ");
                q.push_bind(step.as_str());
                q.push(" AND bucket < ").push_bind(before);
                q.build().execute(&mut **tx).await?;
            }
            Ok(gone)
        }

        /// Merges small chunks (a quiet gateway writes one per flush) into fewer, bigger ones, so
        /// that a lookup reads few filters.
        async fn merge_small(pool: &$pool, spill: Option<&Spill>) -> Result<(), StoreError> {
            let mut q = QueryBuilder::<$db>::new(
                "SELECT id, max_time_ms, record_count FROM request_log_chunks \
                 WHERE record_count < ",
            );
            q.push_bind(SMALL_CHUNK);
            q.push(" ORDER BY max_time_ms, id LIMIT ");
            q.push_bind(count(MERGES * MERGE_CHUNKS));
            let small = q.build_query_as::<(i64, i64, i64)>().fetch_all(pool).await?;
            let mut groups: Vec<Vec<ChunkAt>> = Vec::new();
            let mut rows = 0;
            for (id, max_time_ms, n) in small {
                let chunk = ChunkAt { id, max_time_ms };
                // Within a day: a merged chunk stays in its records' partition (PostgreSQL's),
                // which retention drops whole.
                match groups.last_mut() {
                    Some(g)
                        if g.len() < MERGE_CHUNKS
                            && rows + n <= MERGED_ROWS
                            && g.last().is_some_and(|l| same_day(l.max_time_ms, max_time_ms)) =>
                    {
                        g.push(chunk);
                        rows += n;
                    }
                    _ => {
                        groups.push(vec![chunk]);
                        rows = n;
                    }
                }
            }
            for group in groups.into_iter().filter(|g| g.len() > 1) {
                let mut files = Files::default();
                let mut tx = pool.begin().await?;
                match merge_in(&mut tx, spill, &group, &mut files).await {
                    Ok(true) => commit(tx, spill, files).await?,
                    // Another instance merged some of them first: leave them to it.
                    Ok(false) => {
                        files.settle(spill, false);
                        tx.rollback().await?;
                    }
                    Err(e) => {
                        files.settle(spill, false);
                        return Err(e);
                    }
                }
            }
            Ok(())
        }

        /// Replaces the chunks of `group` by one; false when some are gone.
        async fn merge_in(
            tx: &mut Tx,
            spill: Option<&Spill>,
            group: &[ChunkAt],
            files: &mut Files,
        ) -> Result<bool, StoreError> {
            let mut records = Vec::new();
            for &chunk in group {
                let Some(r) = chunk_records(tx, spill, chunk).await? else {
                    return Ok(false);
                };
                records.extend(r);
                if !delete_chunk(tx, chunk, &mut files.doomed).await? {
                    return Ok(false);
                }
            }
            if !records.is_empty() {
                records.sort_by_key(|rec: &Record| rec.time_ms);
                let chunk = Chunk::from_records(&records);
                insert_chunks(tx, spill, &[&chunk], &mut files.written).await?;
            }
            Ok(true)
        }

        /// Moves the rows of the table chunks replaced into chunks (once, after an upgrade).
        pub(crate) async fn adopt_old_rows(
            pool: &$pool,
            spill: Option<&Spill>,
        ) -> Result<u64, StoreError> {
            let any: Option<(i64,)> =
                sqlx::query_as("SELECT CAST(1 AS BIGINT) FROM request_log LIMIT 1")
                    .fetch_optional(pool)
                    .await?;
            if any.is_none() {
                return Ok(0);
            }
            let (mut moved, mut retries) = (0, 0);
            loop {
                let mut files = Files::default();
                let mut tx = pool.begin().await?;
                let rows: Vec<RecordRow> =
                    sqlx::query_as($take_legacy).fetch_all(&mut *tx).await?;
                if rows.is_empty() {
                    tx.commit().await?;
                    return Ok(moved);
                }
                let mut records: Vec<Record> = rows.into_iter().map(Record::from).collect();
                records.sort_by_key(|rec| rec.time_ms);
                let chunk = Chunk::from_records(&records);
                if let Err(e) = insert_chunks(&mut tx, spill, &[&chunk], &mut files.written).await
                {
                    files.settle(spill, false);
                    // The rows go back to the old table; its locks must go before a partition
                    // is made.
                    let _ = tx.rollback().await;
                    retries += 1;
                    if retries <= ADOPT_RETRIES
                        && $partitions(pool, &e, &[chunk.max_time_ms]).await?
                    {
                        continue;
                    }
                    return Err(e.into());
                }
                commit(tx, spill, files).await?;
                retries = 0;
                moved += records.len() as u64;
            }
        }
    };
}
pub(crate) use log_ops;
