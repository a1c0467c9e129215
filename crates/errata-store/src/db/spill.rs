//! Big request log chunks of a SQLite store, kept in files beside the database.
//!
//! SQLite writes every byte of a row twice in WAL mode (to the WAL, then to the database at
//! the checkpoint), a page at a time, each page checksummed: for the request log that was most
//! of what a record cost. A chunk of [`SPILL_BYTES`] or more is therefore written as one file in
//! `FILE-requests/` (one `write`), and its row names the file instead of holding the records.
//! The row is still the truth: a file is written before its row commits and removed after its
//! row is deleted, so a crash leaves at worst a file no row names, which [`Spill::sweep`]
//! removes once it is old enough that no writer can still be about to commit its row. A file
//! lost or cut short (a power loss before the kernel wrote it back, as for the WAL's last
//! transactions) costs its records, not the listing: readers skip it.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Chunks this big or bigger go to a file (about 1,300 records).
pub(crate) const SPILL_BYTES: usize = 64 * 1024;
/// How old a file no row names must be before it is removed.
pub(crate) const ORPHAN_AGE: Duration = Duration::from_secs(600);

const SUFFIX: &str = ".chunk";

/// The directory of a store's chunk files.
#[derive(Clone, Debug)]
pub(crate) struct Spill {
    dir: PathBuf,
}

impl Spill {
    /// The chunk directory of the database file `db` (made if missing); `None` when it cannot
    /// be made (chunks then stay in the database).
    pub(crate) fn beside(db: &Path) -> Option<Spill> {
        let mut name = db.file_name()?.to_owned();
        name.push("-requests");
        let dir = db.with_file_name(name);
        match std::fs::create_dir_all(&dir) {
            Ok(()) => Some(Spill { dir }),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "request log chunks stay in the database");
                None
            }
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes a chunk's records to a new file; its name.
    pub(crate) fn write(&self, data: &[u8]) -> io::Result<String> {
        use rand::Rng;
        let name = format!("{:032x}{SUFFIX}", rand::rng().random::<u128>());
        let path = self.path(&name);
        blocking(|| std::fs::write(&path, data))?;
        Ok(name)
    }

    /// A chunk file's records; `None` when there is no such file.
    pub(crate) async fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        if !is_chunk_name(name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a chunk file name",
            ));
        }
        match tokio::fs::read(self.path(name)).await {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes chunk files whose rows are gone.
    pub(crate) fn remove(&self, names: &[String]) {
        for name in names.iter().filter(|n| is_chunk_name(n)) {
            let path = self.path(name);
            if let Err(e) = blocking(|| std::fs::remove_file(&path))
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(file = %path.display(), error = %e, "could not remove a request log chunk");
            }
        }
    }

    /// Removes the chunk files older than [`ORPHAN_AGE`] that no row names.
    pub(crate) fn sweep(&self, named: &HashSet<String>) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let now = SystemTime::now();
        let orphans: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let age = now
                    .duration_since(e.metadata().ok()?.modified().ok()?)
                    .ok()?;
                (is_chunk_name(&name) && !named.contains(&name) && age >= ORPHAN_AGE)
                    .then_some(name)
            })
            .collect();
        self.remove(&orphans);
    }
}

/// A name this module made: hex and the suffix, nothing that could leave the directory.
fn is_chunk_name(name: &str) -> bool {
    name.strip_suffix(SUFFIX)
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Runs blocking file work, off the runtime's other tasks when the runtime allows.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
