//! One-time sign-in codes in the shared store ([`Codes`]), kept under a
//! keyed hash of the code. Using one is a single conditional `UPDATE`: the
//! row lock makes concurrent callers, on any replica, wait and then find it
//! used.

use super::{CALL_TIMEOUT, Postgres};
use crate::error::Result;
use crate::store::{Codes, Invite, Refused};
use async_trait::async_trait;

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
                    Some(r) if r.get::<_, Option<i64>>(3) >= Some(r.get::<_, i64>(2)) => {
                        Err(Refused::Revoked)
                    }
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

    async fn outstanding_codes(&self, user: Option<&str>, now: i64) -> Result<Vec<Invite>> {
        let user = user.map(str::to_ascii_lowercase);
        self.with("reading codes", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "SELECT id, email, expires FROM invites
                         WHERE ($1::TEXT IS NULL OR email = $1) AND used IS NULL AND expires > $2
                         ORDER BY email, expires",
                    )
                    .await?;
                let rows = c.query(&stmt, &[&user, &now]).await?;
                Ok(rows
                    .iter()
                    .map(|r| Invite {
                        id: r.get(0),
                        user: r.get(1),
                        expires: r.get(2),
                    })
                    .collect())
            })
        })
        .await
    }

    async fn revoke_codes(&self, user: &str, now: i64) -> Result<u64> {
        let user = user.to_ascii_lowercase();
        self.with("revoking codes", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "UPDATE invites SET used = $2, expires = $2
                         WHERE email = $1 AND used IS NULL AND expires > $2",
                    )
                    .await?;
                Ok(c.execute(&stmt, &[&user, &now]).await?)
            })
        })
        .await
    }
}
