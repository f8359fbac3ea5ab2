//! Finished sign-ins at the identity provider in the embedded store
//! ([`Flows`]): one insert, which SQLite's write lock makes the one winner's.

use super::Sqlite;
use crate::error::Result;
use crate::store::Flows;
use async_trait::async_trait;
use rusqlite::params;

#[async_trait]
impl Flows for Sqlite {
    async fn finish_flow(&self, id: Vec<u8>, expires: i64, _now: i64) -> Result<bool> {
        // Ids come from random seeds: a finished one is never started
        // again, and the purge deletes it once expired.
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO oidc_flows (id, expires) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![id, expires])
            .map(|n| n == 1)
        })
        .await
    }
}
