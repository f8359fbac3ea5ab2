//! The shared store: one PostgreSQL database behind several `aspen serve`
//! replicas (and the CLI). Every "use once" is one atomic statement or a
//! row lock, so replicas agree without talking to each other; appends of a
//! whole batch are one statement; every call is bounded in time, so a dead
//! database fails requests instead of hanging them.
//!
//! TLS: `sslmode=require` in the URL connects over TLS and verifies the
//! server's certificate and name against the system's trust store (OpenSSL's
//! default paths; `SSL_CERT_FILE` names a private CA). Without it (or with
//! `sslmode=prefer`, the default, or `disable`) the connection is plain: use
//! a unix socket (`?host=/run/postgresql`) or a private network.

use super::{
    BUCKET_IDLE_SECONDS, Bucket, Choices, Codes, Events, Health, Invite, IssuedSecret, Location,
    Refused, SECRET_GRACE_SECONDS, SecretKind, Secrets, Sessions, Throttle, bucket_take,
};
use crate::audit::{Entry, Event, Record};
use crate::error::Result;
use crate::model::EnrollmentKind;
use crate::model::policy::Choice;
use async_trait::async_trait;
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime, TimeoutType,
};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio_postgres::config::SslMode;

/// The schema, one step per version; `aspen_schema_migrations` holds a row
/// for each step applied. The steps are those of the SQLite store, so a
/// version number means the same tables on both backends.
pub const MIGRATIONS: &[&str] = &[
    // 1: the audit log and one-time codes.
    "
    CREATE TABLE events (
        id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        time         BIGINT NOT NULL,   -- Unix seconds, UTC
        event        TEXT NOT NULL,     -- audit::Event
        channel      TEXT NOT NULL,     -- audit::Source
        email        TEXT,              -- lower-case e-mail
        policy       TEXT,
        choice       TEXT,              -- 'corporate' | 'device' | 'work'
        kind         TEXT,              -- EnrollmentKind::slug
        ownership    TEXT,
        payload_uuid TEXT,
        sha256       TEXT,
        client       TEXT               -- client address
    );
    CREATE INDEX events_by_email ON events (email, event, id);
    CREATE TABLE invites (
        lookup  BYTEA PRIMARY KEY,      -- HMAC of the code, never the code
        id      TEXT NOT NULL,
        email   TEXT NOT NULL,
        created BIGINT NOT NULL,
        expires BIGINT NOT NULL,
        used    BIGINT                  -- when it was redeemed
    );
    CREATE INDEX invites_by_email ON invites (email, expires);
    ",
    // 2: current choices, sessions, per-profile secrets, throttle buckets;
    // the subject and reason of identity-secret checks.
    "
    ALTER TABLE events ADD COLUMN subject TEXT, ADD COLUMN reason TEXT;
    CREATE INDEX invites_by_expiry ON invites (expires);
    CREATE TABLE choices (
        email  TEXT NOT NULL,
        policy TEXT NOT NULL,
        choice TEXT NOT NULL,
        time   BIGINT NOT NULL,
        PRIMARY KEY (email, policy)
    );
    INSERT INTO choices (email, policy, choice, time)
        SELECT DISTINCT ON (email, policy) email, policy, choice, time FROM events
        WHERE event = 'choice' AND email IS NOT NULL AND policy IS NOT NULL
              AND choice IS NOT NULL
        ORDER BY email, policy, id DESC;
    CREATE TABLE sessions (
        id      BYTEA PRIMARY KEY,      -- keyed hash of the cookie's secret
        email   TEXT NOT NULL,
        created BIGINT NOT NULL,
        expires BIGINT NOT NULL,
        ended   BIGINT                  -- when it was signed out
    );
    CREATE INDEX sessions_by_expiry ON sessions (expires);
    CREATE TABLE secrets (
        lookup       BYTEA PRIMARY KEY, -- keyed hash of the secret
        kind         TEXT NOT NULL,     -- SecretKind
        email        TEXT,
        payload_uuid TEXT NOT NULL,
        created      BIGINT NOT NULL,
        expires      BIGINT NOT NULL,
        used         BIGINT
    );
    CREATE INDEX secrets_by_expiry ON secrets (expires);
    CREATE TABLE throttle (
        key     TEXT PRIMARY KEY,
        tokens  DOUBLE PRECISION NOT NULL,
        updated BIGINT NOT NULL         -- Unix milliseconds
    );
    CREATE TABLE health (
        id      INTEGER PRIMARY KEY CHECK (id = 1),
        checked BIGINT NOT NULL
    );
    ",
];

/// The table of applied steps.
pub const MIGRATIONS_TABLE: &str = "aspen_schema_migrations";

/// Connections per process for requests: enough for those that wait on
/// the store at once; two replicas stay far below PostgreSQL's default
/// `max_connections` (100).
const POOL_SIZE: usize = 16;
/// Connections for appending to the audit log, apart: the group-commit
/// writer never queues behind the requests waiting for it (under load that
/// inversion halved the throughput).
const WRITER_POOL_SIZE: usize = 2;
/// Connecting, unless the URL says `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The server cancels a statement after this (unless the URL's `options`
/// set `statement_timeout`), and a transaction left idle after
/// `IDLE_IN_TRANSACTION`: a lock is never held for long.
const STATEMENT_TIMEOUT: &str = "10s";
const IDLE_IN_TRANSACTION: &str = "30s";
/// The bound on one call, waiting for a connection included: it also
/// covers a server that stopped answering without closing the connection,
/// which no server-side timeout can.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// Migrating may copy a large audit log; replicas starting together wait
/// for the first one's migration.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(600);
/// The advisory lock under which the schema is migrated ("aspen_mg").
const MIGRATION_LOCK: i64 = 0x6173_7065_6e5f_6d67;

/// An open PostgreSQL store.
pub struct Postgres {
    pool: Pool,
    writer: Pool,
    location: Location,
}

/// Why a call failed inside a connection.
enum Failure {
    Db(tokio_postgres::Error),
    /// A value the database holds that this aspen cannot use.
    Bad(String),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Failure {
        Failure::Db(e)
    }
}

type Call<'c, T> = Pin<Box<dyn Future<Output = Result<T, Failure>> + Send + 'c>>;

impl Postgres {
    /// Connects to the database `location` names and brings its schema up
    /// to date (creating it in an empty database).
    pub async fn open(location: &Location) -> Result<Postgres> {
        let store = Postgres::connect(location)?;
        store.migrate().await?;
        Ok(store)
    }

    /// The store if the database holds one (`aspen issued` must not create
    /// the schema); an older one is migrated.
    pub async fn open_existing(location: &Location) -> Result<Option<Postgres>> {
        let store = Postgres::connect(location)?;
        let exists = store
            .with("reading the schema version", CALL_TIMEOUT, |c| {
                Box::pin(async move { Ok(has_migrations_table(c).await?) })
            })
            .await?;
        if !exists {
            return Ok(None);
        }
        store.migrate().await?;
        Ok(Some(store))
    }

    /// The pool (no connection is made yet).
    fn connect(location: &Location) -> Result<Postgres> {
        let Location::Postgres(url) = location else {
            return Err(location.error("not a PostgreSQL URL"));
        };
        let config = config(url.expose()).map_err(|e| location.error(e))?;
        let tls = (config.get_ssl_mode() == SslMode::Require)
            .then(|| {
                openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls_client())
                    .map(|b| postgres_openssl::MakeTlsConnector::new(b.build()))
                    .map_err(|e| location.error(format!("TLS: {e}")))
            })
            .transpose()?;
        let pool = |size: usize| {
            let manager = match &tls {
                Some(tls) => Manager::from_config(config.clone(), tls.clone(), manager_config()),
                None => {
                    Manager::from_config(config.clone(), tokio_postgres::NoTls, manager_config())
                }
            };
            Pool::builder(manager)
                .max_size(size)
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(CALL_TIMEOUT))
                .create_timeout(Some(CONNECT_TIMEOUT + Duration::from_secs(1)))
                .recycle_timeout(Some(CONNECT_TIMEOUT))
                .build()
                .map_err(|e| location.error(format!("connection pool: {e}")))
        };
        Ok(Postgres {
            pool: pool(POOL_SIZE)?,
            writer: pool(WRITER_POOL_SIZE)?,
            location: location.clone(),
        })
    }

    /// Runs `f` on a connection of the request pool within `limit`.
    async fn with<T: Send>(
        &self,
        what: &str,
        limit: Duration,
        f: impl for<'c> FnOnce(&'c mut Object) -> Call<'c, T> + Send,
    ) -> Result<T> {
        self.run(&self.pool, what, limit, f).await
    }

    /// Runs `f` on a connection of `pool`, waiting for it included, within
    /// `limit`. A connection whose call ran out of time is closed, not
    /// returned to the pool: it may be stuck on a dead peer.
    async fn run<T: Send>(
        &self,
        pool: &Pool,
        what: &str,
        limit: Duration,
        f: impl for<'c> FnOnce(&'c mut Object) -> Call<'c, T> + Send,
    ) -> Result<T> {
        let deadline = tokio::time::Instant::now() + limit;
        let late = || {
            self.location
                .error(format!("{what}: no answer within {} s", limit.as_secs()))
        };
        let mut client = tokio::time::timeout_at(deadline, pool.get())
            .await
            .map_err(|_| late())?
            .map_err(|e| self.location.error(pool_error(e)))?;
        let outcome = tokio::time::timeout_at(deadline, f(&mut client)).await;
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(Failure::Db(e))) => Err(self.location.error(format!("{what}: {}", message(&e)))),
            Ok(Err(Failure::Bad(why))) => Err(self.location.error(format!("{what}: {why}"))),
            Err(_) => {
                drop(Object::take(client));
                Err(late())
            }
        }
    }

    /// Applies the steps the database lacks. Replicas starting together
    /// serialise on an advisory lock; the first migrates, the others find
    /// the schema current. A current schema is only read (no lock, no DDL),
    /// so a role without CREATE rights can run a migrated database.
    async fn migrate(&self) -> Result<()> {
        let known = MIGRATIONS.len() as i64;
        let newer = move |version: i64| {
            Failure::Bad(format!(
                "written by a newer aspen (schema version {version}; this aspen knows versions up to {known}): upgrade aspen"
            ))
        };
        self.with("migrating the schema", MIGRATION_TIMEOUT, move |c| {
            Box::pin(async move {
                let current = schema_version(c).await?;
                if current == known {
                    return Ok(());
                }
                if current > known {
                    return Err(newer(current));
                }
                let tx = c.transaction().await?;
                tx.batch_execute("SET LOCAL statement_timeout = '10min'")
                    .await?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                    .await?;
                tx.batch_execute(&format!(
                    "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
                         version INTEGER PRIMARY KEY,
                         applied TIMESTAMPTZ NOT NULL DEFAULT now()
                     )"
                ))
                .await?;
                let current = version_in(&tx).await?;
                if current > known {
                    return Err(newer(current));
                }
                for (i, step) in MIGRATIONS.iter().enumerate().skip(current as usize) {
                    let version = i as i32 + 1;
                    tx.batch_execute(step).await.map_err(|e| {
                        Failure::Bad(format!("schema step {version}: {}", message(&e)))
                    })?;
                    tx.execute(
                        &format!("INSERT INTO {MIGRATIONS_TABLE} (version) VALUES ($1)"),
                        &[&version],
                    )
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            })
        })
        .await
    }
}

fn manager_config() -> ManagerConfig {
    // Fast: a connection is checked only for being closed; a broken one
    // fails its call, which the caller sees as an error.
    ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    }
}

/// The connection settings from the URL, with aspen's timeouts where the
/// URL gives none. Parse errors name the option, never a value.
fn config(url: &str) -> std::result::Result<tokio_postgres::Config, String> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| format!("the URL is not valid: {}", message(&e)))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("aspen");
    }
    let mut options = config.get_options().unwrap_or_default().to_owned();
    for (name, value) in [
        ("statement_timeout", STATEMENT_TIMEOUT),
        ("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION),
    ] {
        if !options.contains(name) {
            options.push_str(&format!(" -c {name}={value}"));
        }
    }
    config.options(options.trim());
    // Notice a vanished peer of an idle pooled connection within minutes,
    // not the two hours of the default.
    config.keepalives_idle(Duration::from_secs(60));
    Ok(config)
}

/// What went wrong: the server's message, else the driver's with its
/// causes (e.g. "error connecting to server: Connection refused"). Neither
/// holds the connection string; a bad option is named, not its value.
fn message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().to_owned();
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        // Some causes (OpenSSL's) print their own causes already.
        let shown = c.to_string();
        if !text.contains(&shown) {
            text.push_str(&format!(": {shown}"));
        }
        cause = c.source();
    }
    text
}

fn pool_error(e: PoolError) -> String {
    match e {
        PoolError::Timeout(TimeoutType::Wait) => format!(
            "no free connection within {} s (all {POOL_SIZE} busy)",
            CALL_TIMEOUT.as_secs()
        ),
        PoolError::Timeout(_) => format!(
            "cannot connect: no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        ),
        PoolError::Backend(e) => format!("cannot connect: {}", message(&e)),
        other => format!("cannot connect: {other}"),
    }
}

async fn has_migrations_table(
    c: &impl deadpool_postgres::GenericClient,
) -> std::result::Result<bool, tokio_postgres::Error> {
    let row = c
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&MIGRATIONS_TABLE])
        .await?;
    Ok(row.get(0))
}

/// The number of steps applied (0: an empty database).
async fn schema_version(
    c: &impl deadpool_postgres::GenericClient,
) -> std::result::Result<i64, tokio_postgres::Error> {
    if !has_migrations_table(c).await? {
        return Ok(0);
    }
    version_in(c).await
}

async fn version_in(
    c: &impl deadpool_postgres::GenericClient,
) -> std::result::Result<i64, tokio_postgres::Error> {
    let row = c
        .query_one(
            &format!("SELECT COALESCE(MAX(version), 0)::BIGINT FROM {MIGRATIONS_TABLE}"),
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// A value read back as a type it was written from.
fn parsed<T>(column: &str, text: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, Failure> {
    parse(text).ok_or_else(|| Failure::Bad(format!("{column}: unexpected value {text:?}")))
}

/// One batch of events as column arrays, for one `UNNEST` insert, and the
/// choices among them (the latest per user and policy: one statement may
/// not update a row twice).
struct Batch {
    event: Vec<&'static str>,
    channel: Vec<&'static str>,
    email: Vec<Option<String>>,
    policy: Vec<Option<String>>,
    choice: Vec<Option<&'static str>>,
    kind: Vec<Option<&'static str>>,
    ownership: Vec<Option<&'static str>>,
    payload_uuid: Vec<Option<String>>,
    sha256: Vec<Option<String>>,
    client: Vec<Option<String>>,
    subject: Vec<Option<String>>,
    reason: Vec<Option<String>>,
    choice_email: Vec<String>,
    choice_policy: Vec<String>,
    choice_choice: Vec<&'static str>,
}

impl Batch {
    fn new(rows: Vec<Record>) -> Batch {
        let mut latest: HashMap<(String, String), (usize, &'static str)> = HashMap::new();
        for (i, r) in rows.iter().enumerate() {
            if let (Event::Choice, Some(user), Some(policy), Some(choice)) =
                (r.event, &r.user, &r.policy, r.choice)
            {
                latest.insert((user.clone(), policy.clone()), (i, choice.as_str()));
            }
        }
        let mut choices: Vec<_> = latest.into_iter().collect();
        choices.sort_by_key(|(_, (i, _))| *i);
        let mut b = Batch {
            event: Vec::with_capacity(rows.len()),
            channel: Vec::with_capacity(rows.len()),
            email: Vec::with_capacity(rows.len()),
            policy: Vec::with_capacity(rows.len()),
            choice: Vec::with_capacity(rows.len()),
            kind: Vec::with_capacity(rows.len()),
            ownership: Vec::with_capacity(rows.len()),
            payload_uuid: Vec::with_capacity(rows.len()),
            sha256: Vec::with_capacity(rows.len()),
            client: Vec::with_capacity(rows.len()),
            subject: Vec::with_capacity(rows.len()),
            reason: Vec::with_capacity(rows.len()),
            choice_email: Vec::with_capacity(choices.len()),
            choice_policy: Vec::with_capacity(choices.len()),
            choice_choice: Vec::with_capacity(choices.len()),
        };
        for ((email, policy), (_, choice)) in choices {
            b.choice_email.push(email);
            b.choice_policy.push(policy);
            b.choice_choice.push(choice);
        }
        for r in rows {
            b.event.push(r.event.as_str());
            b.channel.push(r.source.as_str());
            b.email.push(r.user);
            b.policy.push(r.policy);
            b.choice.push(r.choice.map(Choice::as_str));
            b.kind.push(r.kind.map(EnrollmentKind::slug));
            b.ownership.push(r.kind.map(|k| k.ownership().as_str()));
            b.payload_uuid.push(r.payload_uuid);
            b.sha256.push(r.sha256);
            b.client.push(r.client);
            b.subject.push(r.subject);
            b.reason.push(r.reason);
        }
        b
    }
}

/// A whole batch in one statement: the events in order, and the choices
/// among them as each user's current answer, atomically.
const APPEND: &str = "
    WITH added AS (
        INSERT INTO events (time, event, channel, email, policy, choice, kind, ownership,
                            payload_uuid, sha256, client, subject, reason)
        SELECT $1, r.event, r.channel, r.email, r.policy, r.choice, r.kind, r.ownership,
               r.payload_uuid, r.sha256, r.client, r.subject, r.reason
        FROM UNNEST($2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[],
                    $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::TEXT[], $12::TEXT[], $13::TEXT[])
             WITH ORDINALITY AS r(event, channel, email, policy, choice, kind, ownership,
                                  payload_uuid, sha256, client, subject, reason, n)
        ORDER BY r.n
    )
    INSERT INTO choices (email, policy, choice, time)
    SELECT c.email, c.policy, c.choice, $1
    FROM UNNEST($14::TEXT[], $15::TEXT[], $16::TEXT[]) AS c(email, policy, choice)
    ON CONFLICT (email, policy) DO UPDATE SET choice = EXCLUDED.choice, time = EXCLUDED.time";

const COLUMNS: &str = "time, event, channel, email, policy, choice, kind, ownership, \
                       payload_uuid, sha256, client, subject, reason";

fn entry(r: &tokio_postgres::Row) -> Entry {
    Entry {
        time: r.get(0),
        event: r.get(1),
        channel: r.get(2),
        user: r.get(3),
        policy: r.get(4),
        choice: r.get(5),
        kind: r.get(6),
        ownership: r.get(7),
        payload_uuid: r.get(8),
        sha256: r.get(9),
        client: r.get(10),
        subject: r.get(11),
        reason: r.get(12),
    }
}

#[async_trait]
impl Events for Postgres {
    async fn append(&self, rows: Vec<Record>, time: i64) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let b = Batch::new(rows);
        self.run(&self.writer, "recording events", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c.prepare_cached(APPEND).await?;
                c.execute(
                    &stmt,
                    &[
                        &time,
                        &b.event,
                        &b.channel,
                        &b.email,
                        &b.policy,
                        &b.choice,
                        &b.kind,
                        &b.ownership,
                        &b.payload_uuid,
                        &b.sha256,
                        &b.client,
                        &b.subject,
                        &b.reason,
                        &b.choice_email,
                        &b.choice_policy,
                        &b.choice_choice,
                    ],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn list(&self, user: Option<&str>) -> Result<Vec<Entry>> {
        let user = user.map(str::to_ascii_lowercase);
        self.with("listing events", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let rows = match &user {
                    Some(user) => {
                        let sql =
                            format!("SELECT {COLUMNS} FROM events WHERE email = $1 ORDER BY id");
                        c.query(&c.prepare_cached(&sql).await?, &[user]).await?
                    }
                    None => {
                        let sql = format!("SELECT {COLUMNS} FROM events ORDER BY id");
                        c.query(&c.prepare_cached(&sql).await?, &[]).await?
                    }
                };
                Ok(rows.iter().map(entry).collect())
            })
        })
        .await
    }
}

#[async_trait]
impl Choices for Postgres {
    async fn choice(&self, user: &str, policy: &str) -> Result<Option<Choice>> {
        let (user, policy) = (user.to_ascii_lowercase(), policy.to_owned());
        self.with("reading a choice", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached("SELECT choice FROM choices WHERE email = $1 AND policy = $2")
                    .await?;
                let row = c.query_opt(&stmt, &[&user, &policy]).await?;
                row.map(|r| parsed("choices.choice", r.get(0), Choice::parse))
                    .transpose()
            })
        })
        .await
    }
}

#[async_trait]
impl Codes for Postgres {
    async fn add_code(&self, lookup: Vec<u8>, invite: Invite, now: i64) -> Result<()> {
        self.with("storing a code", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let tx = c.transaction().await?;
                let sweep = tx
                    .prepare_cached("DELETE FROM invites WHERE expires <= $1")
                    .await?;
                tx.execute(&sweep, &[&now]).await?;
                let add = tx
                    .prepare_cached(
                        "INSERT INTO invites (lookup, id, email, created, expires)
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .await?;
                tx.execute(
                    &add,
                    &[
                        &lookup,
                        &invite.id,
                        &invite.user.to_ascii_lowercase(),
                        &now,
                        &invite.expires,
                    ],
                )
                .await?;
                tx.commit().await?;
                Ok(())
            })
        })
        .await
    }

    async fn unused_code(&self, user: &str, after: i64, until: i64) -> Result<Option<Invite>> {
        let user = user.to_ascii_lowercase();
        self.with("reading codes", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "SELECT id, email, expires FROM invites
                         WHERE email = $1 AND used IS NULL AND expires > $2 AND expires <= $3
                         ORDER BY expires DESC LIMIT 1",
                    )
                    .await?;
                let row = c.query_opt(&stmt, &[&user, &after, &until]).await?;
                Ok(row.map(|r| Invite {
                    id: r.get(0),
                    user: r.get(1),
                    expires: r.get(2),
                }))
            })
        })
        .await
    }

    async fn find_code(&self, lookup: Vec<u8>, now: i64) -> Result<Result<Invite, Refused>> {
        self.with("reading a code", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "SELECT id, email, expires, used FROM invites WHERE lookup = $1",
                    )
                    .await?;
                let row = c.query_opt(&stmt, &[&lookup]).await?;
                Ok(match row {
                    None => Err(Refused::Unknown),
                    Some(r) if r.get::<_, Option<i64>>(3).is_some() => Err(Refused::Used),
                    Some(r) if r.get::<_, i64>(2) <= now => Err(Refused::Expired),
                    Some(r) => Ok(Invite {
                        id: r.get(0),
                        user: r.get(1),
                        expires: r.get(2),
                    }),
                })
            })
        })
        .await
    }

    async fn use_code(&self, lookup: Vec<u8>, now: i64) -> Result<bool> {
        self.with("using a code", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                // One statement: the row lock makes concurrent callers wait
                // and then find it used.
                let stmt = c
                    .prepare_cached(
                        "UPDATE invites SET used = $2
                         WHERE lookup = $1 AND used IS NULL AND expires > $2",
                    )
                    .await?;
                Ok(c.execute(&stmt, &[&lookup, &now]).await? == 1)
            })
        })
        .await
    }
}

#[async_trait]
impl Sessions for Postgres {
    async fn start_session(&self, id: Vec<u8>, user: &str, expires: i64) -> Result<()> {
        let user = user.to_ascii_lowercase();
        let now = crate::audit::now();
        self.with("starting a session", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO sessions (id, email, created, expires) VALUES ($1, $2, $3, $4)",
                    )
                    .await?;
                c.execute(&stmt, &[&id, &user, &now, &expires]).await?;
                Ok(())
            })
        })
        .await
    }

    async fn session_user(&self, id: Vec<u8>, now: i64) -> Result<Option<String>> {
        self.with("reading a session", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "SELECT email FROM sessions WHERE id = $1 AND expires > $2 AND ended IS NULL",
                    )
                    .await?;
                Ok(c.query_opt(&stmt, &[&id, &now]).await?.map(|r| r.get(0)))
            })
        })
        .await
    }

    async fn end_session(&self, id: Vec<u8>, now: i64) -> Result<bool> {
        self.with("ending a session", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "UPDATE sessions SET ended = $2
                         WHERE id = $1 AND ended IS NULL AND expires > $2",
                    )
                    .await?;
                Ok(c.execute(&stmt, &[&id, &now]).await? == 1)
            })
        })
        .await
    }
}

#[async_trait]
impl Secrets for Postgres {
    async fn add_secrets(&self, secrets: Vec<IssuedSecret>, now: i64) -> Result<()> {
        if secrets.is_empty() {
            return Ok(());
        }
        let mut lookup = Vec::with_capacity(secrets.len());
        let mut kind = Vec::with_capacity(secrets.len());
        let mut email = Vec::with_capacity(secrets.len());
        let mut payload_uuid = Vec::with_capacity(secrets.len());
        let mut expires = Vec::with_capacity(secrets.len());
        for s in secrets {
            lookup.push(s.lookup);
            kind.push(s.kind.as_str());
            email.push(s.user.map(|u| u.to_ascii_lowercase()));
            payload_uuid.push(s.payload_uuid);
            expires.push(s.expires);
        }
        self.with("storing secrets", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO secrets (lookup, kind, email, payload_uuid, created, expires)
                         SELECT s.lookup, s.kind, s.email, s.payload_uuid, $6, s.expires
                         FROM UNNEST($1::BYTEA[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[])
                              AS s(lookup, kind, email, payload_uuid, expires)",
                    )
                    .await?;
                c.execute(
                    &stmt,
                    &[&lookup, &kind, &email, &payload_uuid, &expires, &now],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn use_secret(&self, lookup: Vec<u8>, now: i64) -> Result<Result<IssuedSecret, Refused>> {
        self.with("using a secret", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                // The winner's update returns the record; the others find it
                // used, and only then is the reason looked up.
                let take = c
                    .prepare_cached(
                        "UPDATE secrets SET used = $2
                         WHERE lookup = $1 AND used IS NULL AND expires > $2
                         RETURNING kind, email, payload_uuid, expires",
                    )
                    .await?;
                if let Some(r) = c.query_opt(&take, &[&lookup, &now]).await? {
                    return Ok(Ok(IssuedSecret {
                        kind: parsed("secrets.kind", r.get(0), SecretKind::parse)?,
                        user: r.get(1),
                        payload_uuid: r.get(2),
                        expires: r.get(3),
                        lookup,
                    }));
                }
                let why = c
                    .prepare_cached("SELECT used FROM secrets WHERE lookup = $1")
                    .await?;
                Ok(Err(match c.query_opt(&why, &[&lookup]).await? {
                    None => Refused::Unknown,
                    Some(r) if r.get::<_, Option<i64>>(0).is_some() => Refused::Used,
                    Some(_) => Refused::Expired,
                }))
            })
        })
        .await
    }

    async fn find_secret(&self, lookup: Vec<u8>) -> Result<Option<IssuedSecret>> {
        self.with("reading a secret", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "SELECT kind, email, payload_uuid, expires FROM secrets WHERE lookup = $1",
                    )
                    .await?;
                match c.query_opt(&stmt, &[&lookup]).await? {
                    None => Ok(None),
                    Some(r) => Ok(Some(IssuedSecret {
                        kind: parsed("secrets.kind", r.get(0), SecretKind::parse)?,
                        user: r.get(1),
                        payload_uuid: r.get(2),
                        expires: r.get(3),
                        lookup,
                    })),
                }
            })
        })
        .await
    }
}

#[async_trait]
impl Throttle for Postgres {
    async fn take(
        &self,
        key: &str,
        bucket: Bucket,
        cost: u32,
        now_ms: i64,
    ) -> Result<Option<Duration>> {
        let key = key.to_owned();
        if cost == 0 {
            // Only asks: one plain read, no transaction and no row lock, so
            // sign-ins from one address (a NAT, a proxy) do not queue on
            // that address's row.
            return self
                .with("throttling", CALL_TIMEOUT, move |c| {
                    Box::pin(async move {
                        let read = c
                            .prepare_cached("SELECT tokens, updated FROM throttle WHERE key = $1")
                            .await?;
                        let (tokens, elapsed) = match c.query_opt(&read, &[&key]).await? {
                            Some(r) => (r.get::<_, f64>(0), now_ms - r.get::<_, i64>(1)),
                            None => (f64::from(bucket.capacity), 0),
                        };
                        Ok(bucket_take(bucket, tokens, elapsed, 0).err())
                    })
                })
                .await;
        }
        self.with("throttling", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let tx = c.transaction().await?;
                let read = tx
                    .prepare_cached(
                        "SELECT tokens, updated FROM throttle WHERE key = $1 FOR UPDATE",
                    )
                    .await?;
                // A bucket nobody has yet cannot be locked: the first taker
                // inserts it, and one that loses that race reads it again
                // (now locked).
                for _ in 0..2 {
                    let row = tx.query_opt(&read, &[&key]).await?;
                    let (tokens, elapsed) = match &row {
                        Some(r) => (r.get::<_, f64>(0), now_ms - r.get::<_, i64>(1)),
                        None => (f64::from(bucket.capacity), 0),
                    };
                    let left = match bucket_take(bucket, tokens, elapsed, cost) {
                        Ok(left) => left,
                        Err(wait) => {
                            tx.commit().await?;
                            return Ok(Some(wait));
                        }
                    };
                    if row.is_some() {
                        let update = tx
                            .prepare_cached(
                                "UPDATE throttle SET tokens = $2, updated = $3 WHERE key = $1",
                            )
                            .await?;
                        tx.execute(&update, &[&key, &left, &now_ms]).await?;
                    } else {
                        let insert = tx
                            .prepare_cached(
                                "INSERT INTO throttle (key, tokens, updated) VALUES ($1, $2, $3)
                                 ON CONFLICT (key) DO NOTHING",
                            )
                            .await?;
                        if tx.execute(&insert, &[&key, &left, &now_ms]).await? == 0 {
                            continue;
                        }
                    }
                    tx.commit().await?;
                    return Ok(None);
                }
                Err(Failure::Bad(format!(
                    "bucket {key:?} was created and removed while in use"
                )))
            })
        })
        .await
    }
}

#[async_trait]
impl Health for Postgres {
    async fn check_writable(&self) -> Result<()> {
        let now = crate::audit::now();
        self.with("checking the store", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO health (id, checked) VALUES (1, $1)
                         ON CONFLICT (id) DO UPDATE SET checked = EXCLUDED.checked",
                    )
                    .await?;
                c.execute(&stmt, &[&now]).await?;
                Ok(())
            })
        })
        .await
    }

    async fn purge(&self, now: i64) -> Result<u64> {
        let secrets_before = now - SECRET_GRACE_SECONDS;
        let buckets_before = (now - BUCKET_IDLE_SECONDS) * 1000;
        self.with("purging", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "WITH i AS (DELETE FROM invites WHERE expires <= $1 RETURNING 1),
                              s AS (DELETE FROM sessions WHERE expires <= $1 RETURNING 1),
                              x AS (DELETE FROM secrets WHERE expires <= $2 RETURNING 1),
                              t AS (DELETE FROM throttle WHERE updated <= $3 RETURNING 1)
                         SELECT (SELECT count(*) FROM i) + (SELECT count(*) FROM s)
                              + (SELECT count(*) FROM x) + (SELECT count(*) FROM t)",
                    )
                    .await?;
                let row = c
                    .query_one(&stmt, &[&now, &secrets_before, &buckets_before])
                    .await?;
                Ok(row.get::<_, i64>(0) as u64)
            })
        })
        .await
    }

    fn describe(&self) -> String {
        self.location.describe()
    }
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Postgres({})", self.location.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_gets_timeouts_unless_it_sets_them() {
        let c = config("postgres://aspen:pw@db.internal/aspen").unwrap();
        assert_eq!(c.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        assert_eq!(
            c.get_options(),
            Some("-c statement_timeout=10s -c idle_in_transaction_session_timeout=30s")
        );
        assert_eq!(c.get_application_name(), Some("aspen"));
        let c = config(
            "postgres://aspen@db/aspen?connect_timeout=2&options=-c%20statement_timeout%3D1s&application_name=x",
        )
        .unwrap();
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(2)));
        assert_eq!(
            c.get_options(),
            Some("-c statement_timeout=1s -c idle_in_transaction_session_timeout=30s")
        );
        assert_eq!(c.get_application_name(), Some("x"));
    }

    #[test]
    fn a_bad_url_is_refused_without_showing_it() {
        let err = config("postgres://aspen:s3cret@db/aspen?port=nope").unwrap_err();
        assert!(err.contains("port") && !err.contains("s3cret"), "{err}");
        let err = config("postgres://aspen:s3cret@db/aspen?bogus=1").unwrap_err();
        assert!(err.contains("bogus") && !err.contains("s3cret"), "{err}");
    }

    #[test]
    fn a_batch_keeps_the_latest_choice_per_user_and_policy() {
        use crate::audit::Source;
        let choice = |user: &str, policy: &str, c: Choice| {
            Record::choice(
                Source::Portal,
                user,
                policy,
                c,
                c.management().kind(crate::model::Channel::Profile),
            )
        };
        let b = Batch::new(vec![
            choice("a@x", "P", Choice::Work),
            choice("b@x", "P", Choice::Device),
            choice("a@x", "P", Choice::Corporate),
        ]);
        assert_eq!(b.event.len(), 3);
        assert_eq!(b.choice_email, ["b@x", "a@x"]);
        assert_eq!(b.choice_choice, ["device", "corporate"]);
    }

    /// A step that has shipped never changes (a database that applied it
    /// would not get the change): the SHA-256 of each step's statements,
    /// as aspen has run them since the step was written.
    #[test]
    fn shipped_schema_steps_never_change() {
        let pinned = [
            "79229f8853638edec76b79b38f132ebf6695aceb93241903d1419e1842e3d056",
            "e5daf8cf386b5e06f3054e7f9a360d658f995587de6c86dd73e1ca9ea9e34aaa",
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
}
