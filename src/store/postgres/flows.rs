//! Finished sign-ins at the identity provider in the shared store
//! ([`Flows`]): one insert; the primary key makes the first replica's win.

use super::{CALL_TIMEOUT, Postgres};
use crate::error::Result;
use crate::store::Flows;
use async_trait::async_trait;

#[async_trait]
impl Flows for Postgres {
    async fn finish_flow(&self, id: Vec<u8>, expires: i64, _now: i64) -> Result<bool> {
        // Ids come from random seeds: a finished one is never started
        // again, and the purge deletes it once expired.
        self.with("finishing a sign-in", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO oidc_flows (id, expires) VALUES ($1, $2)
                         ON CONFLICT (id) DO NOTHING",
                    )
                    .await?;
                Ok(c.execute(&stmt, &[&id, &expires]).await? == 1)
            })
        })
        .await
    }
}
