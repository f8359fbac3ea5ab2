//! How the shared store's schema comes up to date: the steps, one `.sql`
//! file each in `schema/` (so the schema reads as SQL, and each step stays
//! as it shipped), and applying those a database lacks, under an advisory
//! lock so that replicas starting together migrate it once. The tests pin
//! every shipped step.

use super::{Failure, Postgres, message};
use crate::error::Result;
use std::time::Duration;

/// The schema, one step per version; `aspen_schema_migrations` holds a row
/// for each step applied. The steps are those of the SQLite store, so a
/// version number means the same tables on both backends.
pub const MIGRATIONS: &[&str] = &[
    // 1: the audit log and one-time codes.
    include_str!("schema/001_events_and_codes.sql"),
    // 2: current choices, sessions, per-profile secrets, throttle buckets;
    // the subject and reason of identity-secret checks.
    include_str!("schema/002_choices_sessions_secrets_throttle.sql"),
    // 3: the device of an audit row and of a per-profile secret.
    include_str!("schema/003_devices.sql"),
    // 4: what the identity provider said, with sessions and audit rows;
    // finished sign-ins.
    include_str!("schema/004_identity_provider.sql"),
];

/// The table of applied steps.
pub const MIGRATIONS_TABLE: &str = "aspen_schema_migrations";

/// Migrating may copy a large audit log; replicas starting together wait
/// for the first one's migration.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(600);
/// The advisory lock under which the schema is migrated ("aspen_mg").
const MIGRATION_LOCK: i64 = 0x6173_7065_6e5f_6d67;

impl Postgres {
    /// Applies the steps the database lacks. Replicas starting together
    /// serialise on an advisory lock; the first migrates, the others find
    /// the schema current. A current schema is only read (no lock, no DDL),
    /// so a role without CREATE rights can run a migrated database.
    pub(super) async fn migrate(&self) -> Result<()> {
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

pub(super) async fn has_migrations_table(
    c: &impl deadpool_postgres::GenericClient,
) -> std::result::Result<bool, tokio_postgres::Error> {
    let row = c
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&MIGRATIONS_TABLE])
        .await?;
    Ok(row.get(0))
}

/// The number of steps applied (0: an empty database).
pub(super) async fn schema_version(
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A step that has shipped never changes (a database that applied it
    /// would not get the change): the SHA-256 of each step's statements,
    /// as aspen has run them since the step was written.
    #[test]
    fn shipped_schema_steps_never_change() {
        let pinned = [
            "79229f8853638edec76b79b38f132ebf6695aceb93241903d1419e1842e3d056",
            "e5daf8cf386b5e06f3054e7f9a360d658f995587de6c86dd73e1ca9ea9e34aaa",
            "5a43921ecde14b165d08205003306cb16096359f087955a0918dfe341439d90f",
            "4480039e23e2b55e911722194d9d9869b20f6f7c05fafe34c2f4dc2dcd54f2ae",
        ];
        assert_eq!(MIGRATIONS.len(), pinned.len(), "a new step: pin it here");
        for (i, (step, digest)) in MIGRATIONS.iter().zip(pinned).enumerate() {
            assert_eq!(
                crate::audit::sha256_hex(crate::store::statements(step).as_bytes()),
                digest,
                "schema step {} changed: add a step instead",
                i + 1
            );
        }
    }
}
