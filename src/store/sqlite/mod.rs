//! The embedded store: one SQLite file (`aspen.sqlite3`, WAL) in a private
//! folder. Writes run on tokio's blocking pool, one at a time on the
//! process's one writing connection; point reads run where they are asked
//! for, on a small pool of reading connections. SQLite's write lock makes
//! every "use once" update atomic, across threads and across processes
//! sharing the folder.

use super::{
    BUCKET_IDLE_SECONDS, Bucket, Choices, Codes, Events, Health, Invite, IssuedSecret, Location,
    Refused, SECRET_GRACE_SECONDS, SecretKind, Secrets, Sessions, Throttle, bucket_take,
};
use crate::audit::{Entry, Event, Record};
use crate::error::Result;
use crate::model::EnrollmentKind;
use crate::model::policy::Choice;
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The database file inside the store's folder.
pub const FILE_NAME: &str = "aspen.sqlite3";

/// The schema, one step per version; `PRAGMA user_version` is the number of
/// steps applied. Step 1 is the schema of aspen before versions were kept
/// (a store with its tables and version 0 is at version 1).
pub const MIGRATIONS: &[&str] = &[
    // 1: the audit log and one-time codes.
    "
    CREATE TABLE IF NOT EXISTS events (
        id           INTEGER PRIMARY KEY,
        time         INTEGER NOT NULL,  -- Unix seconds, UTC
        event        TEXT NOT NULL,     -- audit::Event
        channel      TEXT NOT NULL,     -- audit::Source
        user         TEXT,              -- lower-case e-mail
        policy       TEXT,
        choice       TEXT,              -- 'corporate' | 'device' | 'work'
        kind         TEXT,              -- EnrollmentKind::slug
        ownership    TEXT,
        payload_uuid TEXT,
        sha256       TEXT,
        client       TEXT               -- client address
    );
    CREATE INDEX IF NOT EXISTS events_by_user ON events(user, event, id);
    CREATE TABLE IF NOT EXISTS invites (
        lookup  BLOB PRIMARY KEY,       -- HMAC of the code, never the code
        id      TEXT NOT NULL,
        user    TEXT NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL,
        used    INTEGER                 -- when it was redeemed
    );
    CREATE INDEX IF NOT EXISTS invites_by_user ON invites(user, expires);
    ",
    // 2: current choices, sessions, per-profile secrets, throttle buckets;
    // the subject and reason of identity-secret checks.
    "
    ALTER TABLE events ADD COLUMN subject TEXT;
    ALTER TABLE events ADD COLUMN reason TEXT;
    CREATE INDEX invites_by_expiry ON invites(expires);
    CREATE TABLE choices (
        user   TEXT NOT NULL,
        policy TEXT NOT NULL,
        choice TEXT NOT NULL,
        time   INTEGER NOT NULL,
        PRIMARY KEY (user, policy)
    ) WITHOUT ROWID;
    INSERT INTO choices (user, policy, choice, time)
        SELECT user, policy, choice, time FROM events
        WHERE event = 'choice' AND user IS NOT NULL AND policy IS NOT NULL
              AND choice IS NOT NULL
        ORDER BY id
        ON CONFLICT (user, policy) DO UPDATE SET choice = excluded.choice, time = excluded.time;
    CREATE TABLE sessions (
        id      BLOB PRIMARY KEY,       -- keyed hash of the cookie's secret
        user    TEXT NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL,
        ended   INTEGER                 -- when it was signed out
    );
    CREATE INDEX sessions_by_expiry ON sessions(expires);
    CREATE TABLE secrets (
        lookup       BLOB PRIMARY KEY,  -- keyed hash of the secret
        kind         TEXT NOT NULL,     -- SecretKind
        user         TEXT,
        payload_uuid TEXT NOT NULL,
        created      INTEGER NOT NULL,
        expires      INTEGER NOT NULL,
        used         INTEGER
    );
    CREATE INDEX secrets_by_expiry ON secrets(expires);
    CREATE TABLE throttle (
        key     TEXT PRIMARY KEY,
        tokens  REAL NOT NULL,
        updated INTEGER NOT NULL        -- Unix milliseconds
    ) WITHOUT ROWID;
    CREATE TABLE health (
        id      INTEGER PRIMARY KEY CHECK (id = 1),
        checked INTEGER NOT NULL
    );
    ",
];

/// Whether a store exists in `dir`.
pub fn exists(dir: &Path) -> bool {
    dir.join(FILE_NAME).is_file()
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
            migrate(&mut conn).map_err(|e| location.error(e))?;
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

/// Applies the steps the store lacks, in one transaction (two processes
/// opening a new store at once: the second waits, then finds it current).
fn migrate(conn: &mut Connection) -> std::result::Result<(), String> {
    let known = MIGRATIONS.len() as i64;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    let mut version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if version == 0 {
        let legacy: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| e.to_string())?;
        if legacy {
            version = 1;
        }
    }
    if version > known {
        return Err(format!(
            "written by a newer aspen (schema version {version}; this aspen knows versions up to {known}): upgrade aspen"
        ));
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(step)
            .map_err(|e| format!("schema step {}: {e}", i + 1))?;
    }
    tx.pragma_update(None, "user_version", known)
        .map_err(|e| e.to_string())?;
    tx.commit().map_err(|e| e.to_string())
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

fn insert_event(conn: &Connection, r: &Record, time: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO events (time, event, channel, user, policy, choice, kind, ownership,
                             payload_uuid, sha256, client, subject, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        time,
        r.event.as_str(),
        r.source.as_str(),
        r.user,
        r.policy,
        r.choice.map(Choice::as_str),
        r.kind.map(EnrollmentKind::slug),
        r.kind.map(|k| k.ownership().as_str()),
        r.payload_uuid,
        r.sha256,
        r.client,
        r.subject,
        r.reason,
    ])?;
    if let (Event::Choice, Some(user), Some(policy), Some(choice)) =
        (r.event, &r.user, &r.policy, r.choice)
    {
        conn.prepare_cached(
            "INSERT INTO choices (user, policy, choice, time) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (user, policy) DO UPDATE SET choice = excluded.choice, time = excluded.time",
        )?
        .execute(params![user, policy, choice.as_str(), time])?;
    }
    Ok(())
}

#[async_trait]
impl Events for Sqlite {
    async fn append(&self, rows: Vec<Record>, time: i64) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for r in &rows {
                insert_event(&tx, r, time)?;
            }
            tx.commit()
        })
        .await
    }

    async fn list(&self, user: Option<&str>) -> Result<Vec<Entry>> {
        let user = user.map(str::to_ascii_lowercase);
        self.scan(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT time, event, channel, user, policy, choice, kind, ownership,
                        payload_uuid, sha256, client, subject, reason
                 FROM events WHERE ?1 IS NULL OR user = ?1 ORDER BY id",
            )?;
            stmt.query_map([user], |r| {
                Ok(Entry {
                    time: r.get(0)?,
                    event: r.get(1)?,
                    channel: r.get(2)?,
                    user: r.get(3)?,
                    policy: r.get(4)?,
                    choice: r.get(5)?,
                    kind: r.get(6)?,
                    ownership: r.get(7)?,
                    payload_uuid: r.get(8)?,
                    sha256: r.get(9)?,
                    client: r.get(10)?,
                    subject: r.get(11)?,
                    reason: r.get(12)?,
                })
            })?
            .collect()
        })
        .await
    }
}

#[async_trait]
impl Choices for Sqlite {
    async fn choice(&self, user: &str, policy: &str) -> Result<Option<Choice>> {
        let (user, policy) = (user.to_ascii_lowercase(), policy.to_owned());
        self.read(move |conn| {
            let text: Option<String> = conn
                .prepare_cached("SELECT choice FROM choices WHERE user = ?1 AND policy = ?2")?
                .query_row(params![user, policy], |r| r.get(0))
                .optional()?;
            text.map(|t| parsed(0, &t, Choice::parse)).transpose()
        })
    }
}

#[async_trait]
impl Codes for Sqlite {
    async fn add_code(&self, lookup: Vec<u8>, invite: Invite, now: i64) -> Result<()> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached("DELETE FROM invites WHERE expires <= ?1")?
                .execute([now])?;
            tx.prepare_cached(
                "INSERT INTO invites (lookup, id, user, created, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                lookup,
                invite.id,
                invite.user.to_ascii_lowercase(),
                now,
                invite.expires
            ])?;
            tx.commit()
        })
        .await
    }

    async fn unused_code(&self, user: &str, after: i64, until: i64) -> Result<Option<Invite>> {
        let user = user.to_ascii_lowercase();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT id, user, expires FROM invites
                 WHERE user = ?1 AND used IS NULL AND expires > ?2 AND expires <= ?3
                 ORDER BY expires DESC LIMIT 1",
            )?
            .query_row(params![user, after, until], |r| {
                Ok(Invite {
                    id: r.get(0)?,
                    user: r.get(1)?,
                    expires: r.get(2)?,
                })
            })
            .optional()
        })
    }

    async fn find_code(&self, lookup: Vec<u8>, now: i64) -> Result<Result<Invite, Refused>> {
        self.read(move |conn| {
            let row: Option<(String, String, i64, Option<i64>)> = conn
                .prepare_cached("SELECT id, user, expires, used FROM invites WHERE lookup = ?1")?
                .query_row([lookup], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            Ok(match row {
                None => Err(Refused::Unknown),
                Some((_, _, _, Some(_))) => Err(Refused::Used),
                Some((_, _, expires, None)) if expires <= now => Err(Refused::Expired),
                Some((id, user, expires, None)) => Ok(Invite { id, user, expires }),
            })
        })
    }

    async fn use_code(&self, lookup: Vec<u8>, now: i64) -> Result<bool> {
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE invites SET used = ?2 WHERE lookup = ?1 AND used IS NULL AND expires > ?2",
            )?
            .execute(params![lookup, now])
            .map(|n| n == 1)
        })
        .await
    }
}

#[async_trait]
impl Sessions for Sqlite {
    async fn start_session(&self, id: Vec<u8>, user: &str, expires: i64) -> Result<()> {
        let user = user.to_ascii_lowercase();
        let now = crate::audit::now();
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO sessions (id, user, created, expires) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![id, user, now, expires])
            .map(drop)
        })
        .await
    }

    async fn session_user(&self, id: Vec<u8>, now: i64) -> Result<Option<String>> {
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT user FROM sessions WHERE id = ?1 AND expires > ?2 AND ended IS NULL",
            )?
            .query_row(params![id, now], |r| r.get(0))
            .optional()
        })
    }

    async fn end_session(&self, id: Vec<u8>, now: i64) -> Result<bool> {
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE sessions SET ended = ?2 WHERE id = ?1 AND ended IS NULL AND expires > ?2",
            )?
            .execute(params![id, now])
            .map(|n| n == 1)
        })
        .await
    }
}

#[async_trait]
impl Secrets for Sqlite {
    async fn add_secrets(&self, secrets: Vec<IssuedSecret>, now: i64) -> Result<()> {
        if secrets.is_empty() {
            return Ok(());
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for s in &secrets {
                tx.prepare_cached(
                    "INSERT INTO secrets (lookup, kind, user, payload_uuid, created, expires)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    s.lookup,
                    s.kind.as_str(),
                    s.user.as_deref().map(str::to_ascii_lowercase),
                    s.payload_uuid,
                    now,
                    s.expires
                ])?;
            }
            tx.commit()
        })
        .await
    }

    async fn use_secret(&self, lookup: Vec<u8>, now: i64) -> Result<Result<IssuedSecret, Refused>> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row: Option<(String, Option<String>, String, i64, Option<i64>)> = tx
                .prepare_cached(
                    "SELECT kind, user, payload_uuid, expires, used FROM secrets WHERE lookup = ?1",
                )?
                .query_row([&lookup], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()?;
            let answer = match row {
                None => Err(Refused::Unknown),
                Some((.., Some(_))) => Err(Refused::Used),
                Some((_, _, _, expires, None)) if expires <= now => Err(Refused::Expired),
                Some((kind, user, payload_uuid, expires, None)) => {
                    tx.prepare_cached("UPDATE secrets SET used = ?2 WHERE lookup = ?1")?
                        .execute(params![lookup, now])?;
                    Ok(IssuedSecret {
                        kind: parsed(0, &kind, SecretKind::parse)?,
                        lookup,
                        user,
                        payload_uuid,
                        expires,
                    })
                }
            };
            tx.commit()?;
            Ok(answer)
        })
        .await
    }

    async fn find_secret(&self, lookup: Vec<u8>) -> Result<Option<IssuedSecret>> {
        self.read(move |conn| {
            let row: Option<(String, Option<String>, String, i64)> = conn
                .prepare_cached(
                    "SELECT kind, user, payload_uuid, expires FROM secrets WHERE lookup = ?1",
                )?
                .query_row([&lookup], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            row.map(|(kind, user, payload_uuid, expires)| {
                Ok(IssuedSecret {
                    kind: parsed(0, &kind, SecretKind::parse)?,
                    lookup,
                    user,
                    payload_uuid,
                    expires,
                })
            })
            .transpose()
        })
    }
}

#[async_trait]
impl Throttle for Sqlite {
    async fn take(
        &self,
        key: &str,
        bucket: Bucket,
        cost: u32,
        now_ms: i64,
    ) -> Result<Option<Duration>> {
        let key = key.to_owned();
        let bucket_of = move |row: Option<(f64, i64)>| {
            row.map_or((f64::from(bucket.capacity), 0), |(t, at)| (t, now_ms - at))
        };
        if cost == 0 {
            // Only asks: a read, so sign-ins from one address (a NAT, a
            // proxy) do not queue on that address's row.
            return self.read(move |conn| {
                let row = conn
                    .prepare_cached("SELECT tokens, updated FROM throttle WHERE key = ?1")?
                    .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                let (tokens, elapsed) = bucket_of(row);
                Ok(bucket_take(bucket, tokens, elapsed, 0).err())
            });
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row: Option<(f64, i64)> = tx
                .prepare_cached("SELECT tokens, updated FROM throttle WHERE key = ?1")?
                .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let (tokens, elapsed) = bucket_of(row);
            let answer = match bucket_take(bucket, tokens, elapsed, cost) {
                Ok(left) => {
                    tx.prepare_cached(
                        "INSERT INTO throttle (key, tokens, updated) VALUES (?1, ?2, ?3)
                         ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens,
                                                         updated = excluded.updated",
                    )?
                    .execute(params![key, left, now_ms])?;
                    None
                }
                Err(wait) => Some(wait),
            };
            tx.commit()?;
            Ok(answer)
        })
        .await
    }
}

#[async_trait]
impl Health for Sqlite {
    async fn check_writable(&self) -> Result<()> {
        let now = crate::audit::now();
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO health (id, checked) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET checked = excluded.checked",
            )?
            .execute([now])
            .map(drop)
        })
        .await
    }

    async fn purge(&self, now: i64) -> Result<u64> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut n = tx.execute("DELETE FROM invites WHERE expires <= ?1", [now])?;
            n += tx.execute("DELETE FROM sessions WHERE expires <= ?1", [now])?;
            n += tx.execute(
                "DELETE FROM secrets WHERE expires <= ?1",
                [now - SECRET_GRACE_SECONDS],
            )?;
            n += tx.execute(
                "DELETE FROM throttle WHERE updated <= ?1",
                [(now - BUCKET_IDLE_SECONDS) * 1000],
            )?;
            tx.commit()?;
            Ok(n as u64)
        })
        .await
    }

    fn describe(&self) -> String {
        self.inner.location.describe()
    }
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sqlite({})", self.inner.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step that has shipped never changes (a store that applied it would
    /// not get the change): the SHA-256 of each step's statements, as
    /// aspen has run them since the step was written.
    #[test]
    fn shipped_schema_steps_never_change() {
        let pinned = [
            "d4c0efc0dba40824455418f5a3f600d73088f99878514baa40eaa423f9079a2f",
            "2a855342ffbdd9a38a835fd06dd00496dffbc302f99cdbd45600b93936453dcc",
        ];
        assert_eq!(MIGRATIONS.len(), pinned.len(), "a new step: pin it here");
        for (i, (step, digest)) in MIGRATIONS.iter().zip(pinned).enumerate() {
            assert_eq!(
                crate::audit::sha256_hex(super::super::statements(step).as_bytes()),
                digest,
                "schema step {} changed: add a step instead",
                i + 1
            );
        }
    }

    /// The schema a new store gets, as SQLite keeps it (each CREATE's text
    /// as written, ALTERs folded in): the same as every store made before.
    #[test]
    fn a_new_store_gets_the_schema_every_store_has() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let schema: Vec<String> = conn
            .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
            .unwrap()
            .query_map([], |r| {
                Ok(format!(
                    "{}|{}|{}|{}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?.unwrap_or_default()
                ))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let schema = schema.join("\n");
        assert_eq!(
            crate::audit::sha256_hex(schema.as_bytes()),
            "6af663afff9f0b08ed9456bbc6ab50e289733cf793cd986c87f251f8822fa665",
            "{schema}"
        );
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }
}
