//! The embedded store: one SQLite file (`aspen.sqlite3`, WAL) in a private
//! folder. Writes run on tokio's blocking pool, one at a time on the
//! process's one writing connection; point reads run where they are asked
//! for, on a small pool of reading connections. SQLite's write lock makes
//! every "use once" update atomic, across threads and across processes
//! sharing the folder.
//!
//! This file holds the connections (opening the store, its files and their
//! modes, the writer and the pool of readers) and what every part shares;
//! each trait of the store is implemented in the file of its name
//! (`events.rs`, `codes.rs`, …, the same names as in `postgres/`), and the
//! schema is in `schema/`, one `.sql` file per step (`migrations.rs`).

mod choices;
mod codes;
mod events;
mod flows;
mod health;
mod migrations;
mod secrets;
mod sessions;
mod throttle;

pub use migrations::MIGRATIONS;

use crate::error::Result;
use crate::store::Location;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The database file inside the store's folder.
pub const FILE_NAME: &str = "aspen.sqlite3";

/// Whether a store exists in `dir`.
pub fn exists(dir: &Path) -> bool {
    dir.join(FILE_NAME).is_file()
}

/// The schema version of the store in `dir`, read without writing
/// anything (`aspen check`): `None` when there is no store yet.
pub fn probe(dir: &Path) -> std::result::Result<Option<i64>, String> {
    if !exists(dir) {
        return Ok(None);
    }
    let conn = rusqlite::Connection::open_with_flags(
        dir.join(FILE_NAME),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .map_err(|e| e.to_string())?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    Ok(Some(version))
}

/// Idle connections kept for reuse.
const IDLE: usize = 8;

/// An open embedded store.
pub struct Sqlite {
    inner: Arc<Inner>,
}

struct Inner {
    location: Location,
    path: PathBuf,
    /// Reading connections kept for reuse.
    idle: Mutex<Vec<Connection>>,
    /// The one connection this process writes on. SQLite admits one writer
    /// at a time anyway; writers of one process queueing on an async mutex
    /// are handed the lock at once and wait without a thread, where
    /// connections racing for SQLite's lock would sleep in its busy handler
    /// (1 to 100 ms a round), each holding a blocking thread and a
    /// connection. Other processes (`aspen invite`, a second replica) still
    /// meet the busy timeout.
    writer: Arc<tokio::sync::Mutex<Option<Connection>>>,
}

impl Sqlite {
    /// Opens the store in `dir`, creating the folder (0700) and the file
    /// (0600) when needed, tightening them when others could read them,
    /// and bringing the schema up to date.
    pub async fn open(dir: &Path) -> Result<Sqlite> {
        let location = Location::Sqlite(dir.to_owned());
        let dir = dir.to_owned();
        let fail = location.clone();
        let inner = tokio::task::spawn_blocking(move || -> Result<Inner> {
            let path = prepare_files(&dir).map_err(|e| location.error(e))?;
            let mut conn = connect(&path).map_err(|e| location.error(e))?;
            migrations::migrate(&mut conn).map_err(|e| location.error(e))?;
            Ok(Inner {
                location,
                path,
                idle: Mutex::new(Vec::new()),
                writer: Arc::new(tokio::sync::Mutex::new(Some(conn))),
            })
        })
        .await
        .map_err(|e| fail.error(format!("opening: {e}")))??;
        Ok(Sqlite {
            inner: Arc::new(inner),
        })
    }

    /// Runs `f`, which writes, on the writing connection, on the blocking
    /// pool (it may wait for another process's write).
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let mut writer = self.inner.writer.clone().lock_owned().await;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = match writer.take() {
                Some(conn) => conn,
                None => connect(&inner.path).map_err(|e| inner.location.error(e))?,
            };
            let result = f(&mut conn).map_err(|e| inner.location.error(e));
            *writer = Some(conn);
            result
        })
        .await
        .map_err(|e| self.inner.location.error(format!("store task: {e}")))?
    }

    /// Runs `f`, a read that may be long (a whole table), on a reading
    /// connection on the blocking pool.
    async fn scan<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.run(f))
            .await
            .map_err(|e| self.inner.location.error(format!("store task: {e}")))?
    }

    /// Runs `f`, a point read, on a pooled connection right here. In WAL
    /// mode a reader never waits for the writer, and a lookup by key reads
    /// a few cached pages: handing it to another thread would cost more
    /// (two wake-ups) than the read itself. Every request of the server
    /// makes one or two of these (its session, the user's choice).
    fn read<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        self.inner.run(f)
    }
}

impl Inner {
    fn run<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut conn = match pooled {
            Some(c) => c,
            None => connect(&self.path).map_err(|e| self.location.error(e))?,
        };
        let result = f(&mut conn).map_err(|e| self.location.error(e));
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < IDLE
        {
            idle.push(conn);
        }
        result
    }
}

/// Creates or tightens the folder (0700) and the database file (0600): they
/// hold who enrolled what. SQLite gives its `-wal` and `-shm` files the
/// database file's mode.
fn prepare_files(dir: &Path) -> std::result::Result<PathBuf, String> {
    let shown = |e: std::io::Error| format!("{}: {e}", dir.display());
    if !dir.is_dir() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(shown)?;
    }
    let path = dir.join(FILE_NAME);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let tighten = |p: &Path, mode: u32| -> std::result::Result<(), String> {
            match std::fs::metadata(p) {
                Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
                        .map_err(|e| format!("{}: cannot make it private: {e}", p.display()))
                }
                _ => Ok(()),
            }
        };
        tighten(dir, 0o700)?;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        for suffix in ["", "-wal", "-shm"] {
            tighten(&dir.join(format!("{FILE_NAME}{suffix}")), 0o600)?;
        }
    }
    Ok(path)
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    // WAL: readers never block the writer; NORMAL: no fsync per commit (a
    // crash may lose the last records, never corrupt the file).
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// A column value read back as a type it was written from.
fn parsed<T>(col: usize, text: &str, parse: impl Fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    parse(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            col,
            rusqlite::types::Type::Text,
            format!("unexpected value {text:?}").into(),
        )
    })
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sqlite({})", self.inner.path.display())
    }
}
