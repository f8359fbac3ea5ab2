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
//!
//! This file holds the connections (the URL's settings, the two pools, the
//! bound on every call and its errors) and what every part shares; each
//! trait of the store is implemented in the file of its name (`events.rs`,
//! `codes.rs`, …, the same names as in `sqlite/`), and the schema is in
//! `schema/`, one `.sql` file per step (`migrations.rs`).

mod choices;
mod codes;
mod events;
mod flows;
mod health;
mod migrations;
mod secrets;
mod sessions;
mod throttle;

pub use migrations::{MIGRATIONS, MIGRATIONS_TABLE};

use crate::error::Result;
use crate::store::Location;
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime, TimeoutType,
};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio_postgres::config::SslMode;

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
                Box::pin(async move { Ok(migrations::has_migrations_table(c).await?) })
            })
            .await?;
        if !exists {
            return Ok(None);
        }
        store.migrate().await?;
        Ok(Some(store))
    }

    /// The schema version of the database, read without writing anything
    /// (`aspen check`): `None` when it holds no store yet.
    pub async fn probe(location: &Location) -> Result<Option<i64>> {
        let store = Postgres::connect(location)?;
        store
            .with("reading the schema version", CALL_TIMEOUT, |c| {
                Box::pin(async move {
                    if !migrations::has_migrations_table(c).await? {
                        return Ok(None);
                    }
                    Ok(Some(migrations::schema_version(c).await?))
                })
            })
            .await
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

/// A value read back as a type it was written from.
fn parsed<T>(column: &str, text: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, Failure> {
    parse(text).ok_or_else(|| Failure::Bad(format!("{column}: unexpected value {text:?}")))
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
}
