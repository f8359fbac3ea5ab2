//! The state aspen keeps, behind small traits: the audit log of events, each
//! user's current answer under a user-choice policy, one-time sign-in codes,
//! portal sessions, per-profile identity secrets and sign-in throttle
//! buckets. The server, the CLI and bulk hold an `Arc<dyn Store>` and never a
//! database type; [`sqlite`] (embedded, the default) and `postgres` (shared
//! by several `aspen serve` replicas) implement it, and one conformance suite
//! (tests/store.rs) runs against both.
//!
//! The store is the truth: nothing here is cached, so two replicas on one
//! database always agree. Secrets are never stored: codes, sessions and
//! identity secrets are kept under a keyed hash of the value (computed by
//! the caller), so reading the database reveals nothing usable.

mod location;
pub mod postgres;
mod recorder;
pub mod sqlite;

pub use location::Location;
pub use recorder::Recorder;

use crate::audit::{Entry, Event, Record, Source};
use crate::error::Result;
use crate::model::policy::Choice;
use crate::secret::IssuedSecret;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// Every part of the state, as one object.
pub trait Store: Events + Choices + Codes + Sessions + Flows + Secrets + Throttle + Health {}

impl<T: Events + Choices + Codes + Sessions + Flows + Secrets + Throttle + Health> Store for T {}

/// Opens (creating and migrating when needed) the store at `location`.
pub async fn open(location: &Location) -> Result<Arc<dyn Store>> {
    match location {
        Location::Sqlite(dir) => Ok(Arc::new(sqlite::Sqlite::open(dir).await?)),
        Location::Postgres(_) => Ok(Arc::new(postgres::Postgres::open(location).await?)),
    }
}

/// The store at `location` if it exists, for commands that only read it
/// (`aspen issued`): they must not create an empty store.
pub async fn open_existing(location: &Location) -> Result<Option<Arc<dyn Store>>> {
    match location {
        Location::Sqlite(dir) if !sqlite::exists(dir) => Ok(None),
        Location::Sqlite(_) => open(location).await.map(Some),
        Location::Postgres(_) => Ok(postgres::Postgres::open_existing(location)
            .await?
            .map(|s| Arc::new(s) as Arc<dyn Store>)),
    }
}

/// What a store's schema is, read without writing anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// The schema version it holds; `None`: no store there yet.
    pub version: Option<i64>,
    /// The version this aspen writes.
    pub current: i64,
}

/// Reads the schema version at `location` without creating, migrating or
/// writing anything (`aspen check`).
pub async fn probe(location: &Location) -> Result<Probe> {
    let version = match location {
        Location::Sqlite(dir) => {
            let dir = dir.clone();
            let loc = location.clone();
            tokio::task::spawn_blocking(move || sqlite::probe(&dir))
                .await
                .map_err(|e| loc.error(format!("reading: {e}")))?
                .map_err(|e| location.error(e))?
        }
        Location::Postgres(_) => postgres::Postgres::probe(location).await?,
    };
    Ok(Probe {
        version,
        current: sqlite::MIGRATIONS.len() as i64,
    })
}

/// Which audit rows to read (`aspen issued`): every condition given must
/// hold. The backends filter in SQL, since the log can be large.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// This user's (any case).
    pub user: Option<String>,
    /// About the device with this serial number (any case).
    pub serial: Option<String>,
    /// At or after this time (Unix seconds).
    pub since: Option<i64>,
    /// At or before this time (Unix seconds).
    pub until: Option<i64>,
    pub event: Option<Event>,
    pub channel: Option<Source>,
    /// About the profile with this `PayloadUUID` (any case).
    pub payload_uuid: Option<String>,
    /// Only the newest this many (still listed oldest first).
    pub limit: Option<u64>,
}

/// The audit log: every choice, issued profile and identity-secret check.
#[async_trait]
pub trait Events: Send + Sync {
    /// Appends `rows`, stamped `time` (Unix seconds), in one transaction:
    /// all or none. A choice row also becomes the user's current answer
    /// under its policy ([`Choices::choice`]), in the same transaction.
    async fn append(&self, rows: Vec<Record>, time: i64) -> Result<()>;

    /// The rows `filter` lets through, oldest first.
    async fn find(&self, filter: Filter) -> Result<Vec<Entry>>;

    /// Every row, oldest first; only `user`'s (any case) when given.
    async fn list(&self, user: Option<&str>) -> Result<Vec<Entry>> {
        self.find(Filter {
            user: user.map(str::to_owned),
            ..Filter::default()
        })
        .await
    }

    /// The rows about the device with this serial number (any case),
    /// oldest first.
    async fn list_by_serial(&self, serial: &str) -> Result<Vec<Entry>> {
        self.find(Filter {
            serial: Some(serial.to_owned()),
            ..Filter::default()
        })
        .await
    }

    /// How many `event` rows are about `user` (any case): the devices a
    /// user enrolled, for a restriction's `device_limit` (accepted
    /// per-profile secrets, or issued profiles). Read through the index by
    /// user and event, never the whole log.
    async fn count_events(&self, user: &str, event: Event) -> Result<u64>;
}

/// What each user answered under each user-choice policy.
#[async_trait]
pub trait Choices: Send + Sync {
    /// `user`'s latest answer under `policy`. An answer belongs to the
    /// policy it was given under: under another policy the user answers
    /// again.
    async fn choice(&self, user: &str, policy: &str) -> Result<Option<Choice>>;
}

/// A one-time sign-in code's record. The code itself is a MAC of these
/// fields (see `tokens`); the store keys it by `lookup`, a keyed hash
/// of the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub id: String,
    /// Lower-case e-mail.
    pub user: String,
    pub expires: i64,
}

/// Why a code or secret could not be used. Callers that face clients answer
/// all of them alike, so a guesser learns nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Unknown,
    Expired,
    Used,
    /// An admin ended it (`aspen invite --revoke`, `aspen revoke`).
    Revoked,
}

impl Refused {
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::Unknown => "unknown",
            Refused::Expired => "expired",
            Refused::Used => "already used",
            Refused::Revoked => "revoked",
        }
    }
}

/// One-time sign-in codes (`aspen invite`, the User Enrollment page).
#[async_trait]
pub trait Codes: Send + Sync {
    /// Stores a new code under `lookup`; `now` is its creation time. Codes
    /// that expired by `now` are deleted in passing.
    async fn add_code(&self, lookup: Vec<u8>, invite: Invite, now: i64) -> Result<()>;

    /// `user`'s unused code expiring after `after` and no later than
    /// `until` (the latest such), if any.
    async fn unused_code(&self, user: &str, after: i64, until: i64) -> Result<Option<Invite>>;

    /// The unused, unexpired code stored under `lookup`, without using it.
    async fn find_code(&self, lookup: Vec<u8>, now: i64) -> Result<Result<Invite, Refused>>;

    /// Marks the code used; false when it is not usable (someone else used
    /// it first, or it expired). Of many concurrent calls, exactly one wins.
    async fn use_code(&self, lookup: Vec<u8>, now: i64) -> Result<bool>;

    /// The codes still usable at `now` (unused, unexpired), `user`'s only
    /// when given; by user, then expiry. Records only: a code cannot be
    /// rebuilt from them.
    async fn outstanding_codes(&self, user: Option<&str>, now: i64) -> Result<Vec<Invite>>;

    /// Ends `user`'s codes still usable at `now` (see [`REVOKED`]); how
    /// many it ended.
    async fn revoke_codes(&self, user: &str, now: i64) -> Result<u64>;
}

/// How a revoked code or secret is kept, without a column of its own: its
/// `used` and `expires` both become the time it was revoked. A real use
/// always comes before expiry (`used < expires`), so `used >= expires`
/// can only mean revoked, and every check that refuses a used or expired
/// one refuses it. The revoked rows then go when expired ones do.
pub const REVOKED: &str = "used = expires = revocation time";

/// Whose per-profile secrets to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoke {
    /// The secrets of the profile with this `PayloadUUID` (the
    /// enrollment profile's own).
    Profile(String),
    /// Every secret issued to this user (any case).
    User(String),
}

/// What the identity provider said about a signed-in person, besides
/// their e-mail: kept with their session (or with the access token a
/// device got after the sign-in), so every replica knows it. All `None`
/// for a code sign-in, and for claims the settings do not read: then the
/// directory (users.csv) says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdpClaims {
    /// The Managed Apple Account (`[oidc] managed_apple_id_claim`).
    pub managed_apple_id: Option<String>,
    /// The groups (`[oidc] groups_claim`).
    pub groups: Option<ClaimedGroups>,
}

/// A person's groups as a claim of the identity provider named them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedGroups {
    /// The claim's name, e.g. `groups`.
    pub claim: String,
    /// Its values: names or object IDs, as the IdP sends them.
    pub values: Vec<String>,
}

/// Portal sessions, so that signing out ends one everywhere.
#[async_trait]
pub trait Sessions: Send + Sync {
    /// Records session `id` (a keyed hash of the cookie's secret) for
    /// `user` until `expires`.
    async fn start_session(&self, id: Vec<u8>, user: &str, expires: i64) -> Result<()> {
        self.start_signed_in(id, user, IdpClaims::default(), expires)
            .await
    }

    /// [`Sessions::start_session`] for a sign-in at the identity provider,
    /// with what it said about the person.
    async fn start_signed_in(
        &self,
        id: Vec<u8>,
        user: &str,
        claims: IdpClaims,
        expires: i64,
    ) -> Result<()>;

    /// The user of session `id` if it is unexpired at `now` and not ended.
    async fn session_user(&self, id: Vec<u8>, now: i64) -> Result<Option<String>> {
        Ok(self.session(id, now).await?.map(|(user, _)| user))
    }

    /// The user of session `id` and what the identity provider said about
    /// them, if it is unexpired at `now` and not ended.
    async fn session(&self, id: Vec<u8>, now: i64) -> Result<Option<(String, IdpClaims)>>;

    /// Ends session `id`; true when it was live.
    async fn end_session(&self, id: Vec<u8>, now: i64) -> Result<bool>;
}

/// Sign-ins at the identity provider, each finished at most once: the
/// callback that ends one cannot be replayed, on any replica.
#[async_trait]
pub trait Flows: Send + Sync {
    /// Records sign-in `id` (a value derived from its cookie) as finished,
    /// kept until `expires` (its cookie is refused after that anyway): true
    /// for the first call, false when it was finished already. Of many
    /// concurrent calls, exactly one wins.
    async fn finish_flow(&self, id: Vec<u8>, expires: i64, now: i64) -> Result<bool>;
}

/// Per-profile identity secrets, each usable once.
#[async_trait]
pub trait Secrets: Send + Sync {
    /// Records secrets issued at `now`, in one transaction.
    async fn add_secrets(&self, secrets: Vec<IssuedSecret>, now: i64) -> Result<()>;

    /// Uses the secret stored under `lookup`: its record for the one caller
    /// that wins, else why not. Of many concurrent calls, exactly one wins.
    async fn use_secret(&self, lookup: Vec<u8>, now: i64) -> Result<Result<IssuedSecret, Refused>>;

    /// The record stored under `lookup`, used or not, expired or not: whom
    /// a refused secret was issued to, for the audit log. Changes nothing.
    async fn find_secret(&self, lookup: Vec<u8>) -> Result<Option<IssuedSecret>>;

    /// Ends the secrets `which` names that are still usable at `now` (see
    /// [`REVOKED`]), so the profile they are in can no longer get a
    /// certificate; their records, for the audit log.
    async fn revoke_secrets(&self, which: Revoke, now: i64) -> Result<Vec<IssuedSecret>>;
}

/// A token bucket: it holds at most `capacity` tokens and gains one every
/// `refill`. A bucket never seen before is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub capacity: u32,
    pub refill: Duration,
}

/// Shared counters for throttling (e.g. failed sign-ins per client address
/// and per account), so that every replica counts the same failures.
#[async_trait]
pub trait Throttle: Send + Sync {
    /// Takes `cost` tokens from bucket `key` at `now_ms` (Unix
    /// milliseconds). `None` when it had them (they are taken); otherwise
    /// nothing is taken and the answer is how long until it will have
    /// them. `cost` 0 asks whether at least one token is left, taking none.
    async fn take(
        &self,
        key: &str,
        bucket: Bucket,
        cost: u32,
        now_ms: i64,
    ) -> Result<Option<Duration>>;

    /// Gives `tokens` back to bucket `key` at `now_ms`, never beyond its
    /// capacity: a charge refunded (a sign-in taken before its code was
    /// checked, and the code was right). A bucket nobody took from is full
    /// and stays as it is.
    async fn give(&self, key: &str, bucket: Bucket, tokens: u32, now_ms: i64) -> Result<()>;
}

/// Upkeep and health.
#[async_trait]
pub trait Health: Send + Sync {
    /// Whether the store accepts writes now (for `/readyz`).
    async fn check_writable(&self) -> Result<()>;

    /// Deletes what can never be used again at `now`: expired codes,
    /// sessions and finished sign-ins, identity secrets a week past expiry (until then a late CSR
    /// is refused as "expired", not "unknown"), and throttle buckets idle
    /// for a day. Returns how many rows went.
    async fn purge(&self, now: i64) -> Result<u64>;

    /// Where the store is, for messages (never a password).
    fn describe(&self) -> String;
}

/// The state of one token bucket after `elapsed_ms` since it held `tokens`:
/// the shared arithmetic of every backend. Returns the tokens after taking
/// `cost` (`None`: not enough, with the wait until there are).
pub fn bucket_take(
    bucket: Bucket,
    tokens: f64,
    elapsed_ms: i64,
    cost: u32,
) -> Result<f64, Duration> {
    let refill_ms = bucket.refill.as_millis().max(1) as f64;
    let capacity = f64::from(bucket.capacity);
    let now_tokens = (tokens + elapsed_ms.max(0) as f64 / refill_ms).min(capacity);
    let need = f64::from(cost.max(1));
    if now_tokens + 1e-9 >= need {
        Ok(now_tokens - f64::from(cost))
    } else {
        let wait_ms = ((need - now_tokens) * refill_ms).ceil().max(1.0);
        Err(Duration::from_millis(wait_ms as u64))
    }
}

/// The tokens of a bucket after `elapsed_ms` since it held `tokens`, with
/// `given` tokens given back: never more than its capacity.
pub fn bucket_give(bucket: Bucket, tokens: f64, elapsed_ms: i64, given: u32) -> f64 {
    let refill_ms = bucket.refill.as_millis().max(1) as f64;
    let now_tokens = tokens + elapsed_ms.max(0) as f64 / refill_ms + f64::from(given);
    now_tokens.min(f64::from(bucket.capacity))
}

/// Seconds a spent identity secret is kept past its expiry (see
/// [`Health::purge`]).
pub const SECRET_GRACE_SECONDS: i64 = 7 * 86_400;
/// Seconds an idle throttle bucket is kept (it is full again long before).
pub const BUCKET_IDLE_SECONDS: i64 = 86_400;

/// A schema step's statements: its text without a leading header comment
/// and the blank space around it, which no database keeps. What the tests
/// that pin shipped steps compare.
#[cfg(test)]
fn statements(step: &str) -> &str {
    let mut rest = step.trim_start();
    while rest.starts_with("--") {
        rest = rest.split_once('\n').map_or("", |(_, r)| r).trim_start();
    }
    rest.trim_end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_and_says_how_long_to_wait() {
        let b = Bucket {
            capacity: 3,
            refill: Duration::from_secs(10),
        };
        assert_eq!(bucket_take(b, 3.0, 0, 1), Ok(2.0));
        assert_eq!(bucket_take(b, 0.0, 0, 1), Err(Duration::from_secs(10)));
        assert_eq!(bucket_take(b, 0.0, 4_000, 1), Err(Duration::from_secs(6)));
        assert_eq!(bucket_take(b, 0.0, 10_000, 1), Ok(0.0));
        // Never more than capacity, however long it was idle.
        assert_eq!(bucket_take(b, 0.0, 1_000_000, 0), Ok(3.0));
        // Cost 0 asks for one token and takes none.
        assert_eq!(bucket_take(b, 0.5, 0, 0), Err(Duration::from_secs(5)));
        assert_eq!(bucket_take(b, 1.0, 0, 0), Ok(1.0));
    }

    #[test]
    fn a_refund_never_fills_a_bucket_beyond_its_capacity() {
        let b = Bucket {
            capacity: 3,
            refill: Duration::from_secs(10),
        };
        assert_eq!(bucket_give(b, 0.0, 0, 1), 1.0);
        assert_eq!(bucket_give(b, 1.5, 5_000, 1), 3.0);
        assert_eq!(bucket_give(b, 2.5, 0, 4), 3.0);
    }
}
