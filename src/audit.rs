//! The embedded audit store (SQLite, one file in `[portal] state_dir`):
//! every choice a user makes and every profile issued, by the CLI, the portal
//! or account-driven enrollment; plus the portal's one-time enrollment codes.
//!
//! Codes are stored only as a keyed hash (see `serve::tokens`): reading the
//! database does not reveal a usable code.

use crate::error::{Error, Result};
use crate::model::policy::Choice;
use crate::model::{Enrollment, EnrollmentKind};
use crate::profile;
use crate::settings::Settings;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The database file inside the state folder.
pub const FILE_NAME: &str = "aspen.sqlite3";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id           INTEGER PRIMARY KEY,
    time         INTEGER NOT NULL,  -- Unix seconds, UTC
    event        TEXT NOT NULL,     -- 'choice' | 'issued'
    channel      TEXT NOT NULL,     -- 'cli' | 'portal' | 'account-driven'
    user         TEXT,              -- lower-case e-mail; NULL for CLI profiles without one
    policy       TEXT,
    choice       TEXT,              -- 'corporate' | 'device' | 'work'
    kind         TEXT,              -- EnrollmentKind::slug
    ownership    TEXT,
    payload_uuid TEXT,
    sha256       TEXT,
    client       TEXT               -- client address (portal, account-driven)
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
";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A user answered the user-choice questions.
    Choice,
    /// A profile was issued.
    Issued,
}

impl Event {
    fn as_str(self) -> &'static str {
        match self {
            Event::Choice => "choice",
            Event::Issued => "issued",
        }
    }
}

/// Which way the profile or choice came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cli,
    Portal,
    AccountDriven,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cli => "cli",
            Source::Portal => "portal",
            Source::AccountDriven => "account-driven",
        }
    }
}

/// One row to record.
#[derive(Debug, Clone)]
pub struct Record {
    pub event: Event,
    pub source: Source,
    pub user: Option<String>,
    pub policy: Option<String>,
    pub choice: Option<Choice>,
    pub kind: Option<EnrollmentKind>,
    pub payload_uuid: Option<String>,
    pub sha256: Option<String>,
    pub client: Option<String>,
}

impl Record {
    /// The profile for `enrollment` was issued (by the CLI, the portal or
    /// account-driven enrollment): recorded with the profile's PayloadUUID
    /// and `sha256`, the [`sha256_hex`] of exactly the bytes handed out,
    /// signed or not.
    pub fn for_profile(
        settings: &Settings,
        enrollment: &Enrollment,
        sha256: &str,
        source: Source,
        user: Option<&str>,
        policy: Option<&str>,
    ) -> Record {
        Record::issued(
            source,
            user,
            policy,
            enrollment.kind(),
            &profile::profile_uuid(settings, enrollment),
            sha256,
        )
    }

    fn issued(
        source: Source,
        user: Option<&str>,
        policy: Option<&str>,
        kind: EnrollmentKind,
        payload_uuid: &str,
        sha256: &str,
    ) -> Record {
        Record {
            event: Event::Issued,
            source,
            user: user.map(str::to_ascii_lowercase),
            policy: policy.map(str::to_owned),
            choice: None,
            kind: Some(kind),
            payload_uuid: Some(payload_uuid.to_owned()),
            sha256: Some(sha256.to_owned()),
            client: None,
        }
    }

    /// A user's answer under a user-choice policy, and the kind it yields.
    pub fn choice(
        source: Source,
        user: &str,
        policy: &str,
        choice: Choice,
        kind: EnrollmentKind,
    ) -> Record {
        Record {
            event: Event::Choice,
            source,
            user: Some(user.to_ascii_lowercase()),
            policy: Some(policy.to_owned()),
            choice: Some(choice),
            kind: Some(kind),
            payload_uuid: None,
            sha256: None,
            client: None,
        }
    }

    pub fn with_client(mut self, client: Option<String>) -> Record {
        self.client = client;
        self
    }
}

/// Lower-case hex SHA-256, as `sha256sum` prints it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::hex::lower(&openssl::sha::sha256(bytes))
}

/// Each user's latest answer under each user-choice policy. An answer
/// belongs to the policy it was given under: when the user's policy becomes
/// another one, they answer again.
#[derive(Debug, Default, Clone)]
pub struct Choices(HashMap<(String, String), Choice>);

impl Choices {
    /// `user`'s latest answer under `policy`.
    pub fn get(&self, user: &str, policy: &str) -> Option<Choice> {
        self.0
            .get(&(user.to_ascii_lowercase(), policy.to_owned()))
            .copied()
    }

    pub fn set(&mut self, user: &str, policy: &str, choice: Choice) {
        self.0
            .insert((user.to_ascii_lowercase(), policy.to_owned()), choice);
    }
}

/// One recorded row, for `aspen issued`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    /// RFC 3339, UTC.
    pub time: String,
    pub event: String,
    pub channel: String,
    pub user: Option<String>,
    pub policy: Option<String>,
    pub choice: Option<String>,
    pub kind: Option<String>,
    pub ownership: Option<String>,
    pub payload_uuid: Option<String>,
    pub sha256: Option<String>,
    pub client: Option<String>,
}

/// A one-time code's record, as found when it is redeemed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub id: String,
    pub user: String,
    pub expires: i64,
}

/// Why a code could not be redeemed (the portal shows one message for all,
/// so a guesser learns nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeem {
    Unknown,
    Expired,
    Used,
}

/// An open store. Not `Sync`: share it behind a mutex.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Seconds since the Unix epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Store {
    /// Opens (creating if needed) the store in `state_dir`. The folder is
    /// created private to the user (0700): it holds who enrolled what.
    pub fn open(state_dir: &Path) -> Result<Store> {
        if !state_dir.is_dir() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder
                .create(state_dir)
                .map_err(|e| Error::io(state_dir, e))?;
        }
        let path = state_dir.join(FILE_NAME);
        let fail = |e: rusqlite::Error| Error::invalid(format!("{}: {e}", path.display()));
        let conn = Connection::open(&path).map_err(fail)?;
        // WAL: readers never block the writer; NORMAL: no fsync per commit
        // (a crash may lose the last records, never corrupt the file).
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(fail)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(fail)?;
        conn.execute_batch(SCHEMA).map_err(fail)?;
        Ok(Store { conn, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fail(&self, e: rusqlite::Error) -> Error {
        Error::invalid(format!("{}: {e}", self.path.display()))
    }

    /// Records one row, timestamped now.
    pub fn record(&self, r: &Record) -> Result<()> {
        insert(&self.conn, r, now()).map_err(|e| self.fail(e))
    }

    /// Records many rows in one transaction (what `aspen bulk` wants: one
    /// commit for the whole run instead of one per profile).
    pub fn record_many<'a>(&mut self, rows: impl IntoIterator<Item = &'a Record>) -> Result<usize> {
        let time = now();
        let path = &self.path;
        let fail = |e: rusqlite::Error| Error::invalid(format!("{}: {e}", path.display()));
        let tx = self.conn.transaction().map_err(fail)?;
        let mut n = 0;
        for r in rows {
            insert(&tx, r, time).map_err(fail)?;
            n += 1;
        }
        tx.commit().map_err(fail)?;
        Ok(n)
    }

    /// Every user's latest answer under each policy (what the server keeps
    /// in memory while it runs).
    pub fn latest_choices(&self) -> Result<Choices> {
        let mut choices = Choices::default();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT user, policy, choice FROM events
                 WHERE event = 'choice' AND user IS NOT NULL AND policy IS NOT NULL
                 ORDER BY id",
            )
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })
            .map_err(|e| self.fail(e))?;
        for row in rows {
            let (user, policy, choice) = row.map_err(|e| self.fail(e))?;
            if let Some(choice) = choice.as_deref().and_then(Choice::parse) {
                choices.set(&user, &policy, choice);
            }
        }
        Ok(choices)
    }

    /// Every row, oldest first; only `user`'s when given.
    pub fn list(&self, user: Option<&str>) -> Result<Vec<Entry>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', time, 'unixepoch'), event, channel, user,
                        policy, choice, kind, ownership, payload_uuid, sha256, client
                 FROM events WHERE ?1 IS NULL OR user = ?1 ORDER BY id",
            )
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map([user.map(str::to_ascii_lowercase)], |r| {
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
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.fail(e))?;
        Ok(rows)
    }

    /// Stores a new one-time code under its keyed hash `lookup`.
    pub fn add_invite(&self, lookup: &[u8], id: &str, user: &str, expires: i64) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO invites (lookup, id, user, created, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![lookup, id, user.to_ascii_lowercase(), now(), expires],
            )
            .map(drop)
            .map_err(|e| self.fail(e))
    }

    /// Deletes the invites that expired by `now` (used or not): they can
    /// never be redeemed again.
    pub fn delete_expired_invites(&self, now: i64) -> Result<usize> {
        self.conn
            .execute("DELETE FROM invites WHERE expires <= ?1", [now])
            .map_err(|e| self.fail(e))
    }

    /// `user`'s unused invite expiring after `after` and no later than
    /// `until` (the latest such), if any.
    pub fn unused_invite(&self, user: &str, after: i64, until: i64) -> Result<Option<Invite>> {
        self.conn
            .prepare_cached(
                "SELECT id, user, expires FROM invites
                 WHERE user = ?1 AND used IS NULL AND expires > ?2 AND expires <= ?3
                 ORDER BY expires DESC LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![user.to_ascii_lowercase(), after, until], |r| {
                    Ok(Invite {
                        id: r.get(0)?,
                        user: r.get(1)?,
                        expires: r.get(2)?,
                    })
                })
                .optional()
            })
            .map_err(|e| self.fail(e))
    }

    /// The unused, unexpired invite stored under `lookup`, without using it.
    pub fn find_invite(&self, lookup: &[u8], now: i64) -> Result<Result<Invite, Redeem>> {
        let row: Option<(String, String, i64, Option<i64>)> = self
            .conn
            .prepare_cached("SELECT id, user, expires, used FROM invites WHERE lookup = ?1")
            .and_then(|mut s| {
                s.query_row([lookup], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()
            })
            .map_err(|e| self.fail(e))?;
        Ok(match row {
            None => Err(Redeem::Unknown),
            Some((_, _, _, Some(_))) => Err(Redeem::Used),
            Some((_, _, expires, None)) if expires <= now => Err(Redeem::Expired),
            Some((id, user, expires, None)) => Ok(Invite { id, user, expires }),
        })
    }

    /// Marks the invite used; false if someone else used it first (two
    /// concurrent sign-ins with one code: exactly one wins).
    pub fn use_invite(&self, lookup: &[u8], now: i64) -> Result<bool> {
        self.conn
            .execute(
                "UPDATE invites SET used = ?2 WHERE lookup = ?1 AND used IS NULL AND expires > ?2",
                params![lookup, now],
            )
            .map(|n| n == 1)
            .map_err(|e| self.fail(e))
    }
}

fn insert(conn: &Connection, r: &Record, time: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO events (time, event, channel, user, policy, choice, kind, ownership,
                             payload_uuid, sha256, client)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
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
    ])
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Ownership;

    #[test]
    fn records_and_lists_choices_and_profiles() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("state")).unwrap();
        assert!(store.latest_choices().unwrap().0.is_empty());
        store
            .record(&Record::choice(
                Source::Portal,
                "Alice@Contoso.com",
                "BYOD staff",
                Choice::Work,
                EnrollmentKind::AccountDrivenUser,
            ))
            .unwrap();
        store
            .record(&Record::choice(
                Source::Portal,
                "alice@contoso.com",
                "BYOD staff",
                Choice::Device,
                EnrollmentKind::Device(Ownership::Personal),
            ))
            .unwrap();
        let issued = [Record::issued(
            Source::Cli,
            Some("bob@contoso.com"),
            Some("Executives"),
            EnrollmentKind::Device(Ownership::Corporate),
            "UUID",
            &sha256_hex(b"abc"),
        )
        .with_client(Some("127.0.0.1".into()))];
        assert_eq!(store.record_many(&issued).unwrap(), 1);
        assert_eq!(
            store
                .latest_choices()
                .unwrap()
                .get("ALICE@contoso.com", "BYOD staff"),
            Some(Choice::Device)
        );
        let all = store.list(None).unwrap();
        assert_eq!(all.len(), 3);
        let bob = store.list(Some("Bob@contoso.com")).unwrap();
        assert_eq!(bob.len(), 1);
        assert_eq!(bob[0].event, "issued");
        assert_eq!(bob[0].kind.as_deref(), Some("device-corporate"));
        assert_eq!(bob[0].ownership.as_deref(), Some("corporate"));
        // sha256("abc"), as every implementation computes it.
        assert_eq!(
            bob[0].sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert!(
            bob[0].time.ends_with('Z') && bob[0].time.len() == 20,
            "{}",
            bob[0].time
        );
        // Reopening keeps the rows.
        drop(store);
        let store = Store::open(&dir.path().join("state")).unwrap();
        assert_eq!(store.list(None).unwrap().len(), 3);
    }

    #[test]
    fn an_answer_belongs_to_the_policy_it_was_given_under() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let answer = |policy: &str, choice| {
            let kind = EnrollmentKind::Device(Ownership::Personal);
            store
                .record(&Record::choice(
                    Source::Portal,
                    "alice@contoso.com",
                    policy,
                    choice,
                    kind,
                ))
                .unwrap();
        };
        answer("BYOD 2024", Choice::Work);
        answer("BYOD 2025", Choice::Device);
        let choices = store.latest_choices().unwrap();
        assert_eq!(
            choices.get("alice@contoso.com", "BYOD 2024"),
            Some(Choice::Work)
        );
        assert_eq!(
            choices.get("alice@contoso.com", "BYOD 2025"),
            Some(Choice::Device)
        );
        assert_eq!(choices.get("alice@contoso.com", "Another policy"), None);
        answer("BYOD 2024", Choice::Corporate);
        assert_eq!(
            store
                .latest_choices()
                .unwrap()
                .get("alice@contoso.com", "BYOD 2024"),
            Some(Choice::Corporate)
        );
    }

    #[test]
    fn an_invite_is_used_once_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .add_invite(b"k1", "id1", "Alice@contoso.com", 1000)
            .unwrap();
        let found = store.find_invite(b"k1", 999).unwrap().unwrap();
        assert_eq!(found.user, "alice@contoso.com");
        assert_eq!(
            store.find_invite(b"k1", 1000).unwrap(),
            Err(Redeem::Expired)
        );
        assert_eq!(store.find_invite(b"nope", 1).unwrap(), Err(Redeem::Unknown));
        assert!(!store.use_invite(b"k1", 1000).unwrap());
        assert!(store.use_invite(b"k1", 999).unwrap());
        assert!(!store.use_invite(b"k1", 999).unwrap());
        assert_eq!(store.find_invite(b"k1", 999).unwrap(), Err(Redeem::Used));
    }

    #[test]
    fn unused_invites_are_found_by_user_and_expired_ones_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .add_invite(b"a", "a", "alice@contoso.com", 100)
            .unwrap();
        store
            .add_invite(b"b", "b", "alice@contoso.com", 200)
            .unwrap();
        store
            .add_invite(b"c", "c", "alice@contoso.com", 300)
            .unwrap();
        store.add_invite(b"d", "d", "bob@contoso.com", 250).unwrap();
        let id = |found: Option<Invite>| found.map(|i| i.id);
        assert_eq!(
            id(store.unused_invite("Alice@contoso.com", 150, 250).unwrap()),
            Some("b".into())
        );
        assert_eq!(
            id(store.unused_invite("alice@contoso.com", 0, 1000).unwrap()),
            Some("c".into())
        );
        assert!(store.use_invite(b"c", 150).unwrap());
        assert_eq!(
            id(store.unused_invite("alice@contoso.com", 250, 1000).unwrap()),
            None,
            "a used invite is never offered again"
        );
        assert_eq!(store.delete_expired_invites(200).unwrap(), 2);
        assert_eq!(store.find_invite(b"b", 0).unwrap(), Err(Redeem::Unknown));
        assert_eq!(store.find_invite(b"c", 0).unwrap(), Err(Redeem::Used));
        assert!(store.find_invite(b"d", 0).unwrap().is_ok());
    }
}
