//! Portal sessions in the shared store ([`Sessions`]), kept under a keyed
//! hash of the cookie's secret, so that signing out on one replica ends the
//! session on all of them.

use super::{CALL_TIMEOUT, Postgres};
use crate::error::Result;
use crate::store::Sessions;
use async_trait::async_trait;

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
