//! Upkeep and health of the shared store ([`Health`]): the write that
//! `/readyz` makes, and the purge of what can never be used again, across
//! every table, in one statement.

use super::{CALL_TIMEOUT, Postgres};
use crate::error::Result;
use crate::store::{BUCKET_IDLE_SECONDS, Health, SECRET_GRACE_SECONDS};
use async_trait::async_trait;

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
                              t AS (DELETE FROM throttle WHERE updated <= $3 RETURNING 1),
                              f AS (DELETE FROM oidc_flows WHERE expires <= $1 RETURNING 1)
                         SELECT (SELECT count(*) FROM i) + (SELECT count(*) FROM s)
                              + (SELECT count(*) FROM x) + (SELECT count(*) FROM t)
                              + (SELECT count(*) FROM f)",
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
