//! Portal sessions in the shared store ([`Sessions`]), kept under a keyed
//! hash of the cookie's secret, so that signing out on one replica ends the
//! session on all of them; with what the identity provider said about the
//! person, when they signed in there.

use super::{CALL_TIMEOUT, Postgres};
use crate::audit::{groups_of, groups_text};
use crate::error::Result;
use crate::store::{ClaimedGroups, IdpClaims, Sessions};
use async_trait::async_trait;

#[async_trait]
impl Sessions for Postgres {
    async fn start_signed_in(
        &self,
        id: Vec<u8>,
        user: &str,
        claims: IdpClaims,
        expires: i64,
    ) -> Result<()> {
        let user = user.to_ascii_lowercase();
        let now = crate::audit::now();
        let (groups, claim) = match claims.groups {
            Some(g) => (groups_text(&Some(g.values)), Some(g.claim)),
            None => (None, None),
        };
        let managed = claims.managed_apple_id;
        self.with("starting a session", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO sessions (id, email, created, expires, managed_apple_id, user_groups, groups_claim)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .await?;
                c.execute(
                    &stmt,
                    &[&id, &user, &now, &expires, &managed, &groups, &claim],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn session(&self, id: Vec<u8>, now: i64) -> Result<Option<(String, IdpClaims)>> {
        self.with("reading a session", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "SELECT email, managed_apple_id, user_groups, groups_claim FROM sessions
                         WHERE id = $1 AND expires > $2 AND ended IS NULL",
                    )
                    .await?;
                Ok(c.query_opt(&stmt, &[&id, &now]).await?.map(|r| {
                    let claim: Option<String> = r.get(3);
                    (
                        r.get(0),
                        IdpClaims {
                            managed_apple_id: r.get(1),
                            groups: claim.map(|claim| ClaimedGroups {
                                claim,
                                values: groups_of(r.get(2)).unwrap_or_default(),
                            }),
                        },
                    )
                }))
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
