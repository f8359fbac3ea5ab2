//! Upkeep and health of the embedded store ([`Health`]): the write that
//! `/readyz` makes, and the purge of what can never be used again, across
//! every table, in one transaction.

use super::Sqlite;
use crate::error::Result;
use crate::store::{BUCKET_IDLE_SECONDS, Health, SECRET_GRACE_SECONDS};
use async_trait::async_trait;
use rusqlite::TransactionBehavior;

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
            n += tx.execute("DELETE FROM oidc_flows WHERE expires <= ?1", [now])?;
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
