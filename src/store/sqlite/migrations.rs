//! How the embedded store's schema comes up to date: the steps, one `.sql`
//! file each in `schema/` (so the schema reads as SQL, and each step stays
//! as it shipped), and applying those a store lacks when it is opened. The
//! tests pin every shipped step and the schema a new store gets.

use rusqlite::{Connection, TransactionBehavior};

/// The schema, one step per version; `PRAGMA user_version` is the number of
/// steps applied. Step 1 is the schema of aspen before versions were kept
/// (a store with its tables and version 0 is at version 1).
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

/// Applies the steps the store lacks, in one transaction (two processes
/// opening a new store at once: the second waits, then finds it current).
pub(super) fn migrate(conn: &mut Connection) -> std::result::Result<(), String> {
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
            "566788aaea1cd1dc9ac470442c3c3f5bd0eb24c94680c46f85eb7a572126344b",
            "c08af03d4491ad6c8ebe5d8a4b81d88c91b9ef7657296fbc695715ae1c1db45b",
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
            "a5df7f3ce21d47008541b0032baaf497a1d1aeaa597c868a62fd789b9a4ea6da",
            "{schema}"
        );
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }
}
