//! Portal sessions in the embedded store ([`Sessions`]), kept under a keyed
//! hash of the cookie's secret, so that signing out ends one everywhere;
//! with what the identity provider said about the person, when they
//! signed in there.

use super::Sqlite;
use crate::audit::{groups_of, groups_text};
use crate::error::Result;
use crate::store::{ClaimedGroups, IdpClaims, Sessions};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

#[async_trait]
impl Sessions for Sqlite {
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
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO sessions (id, user, created, expires, managed_apple_id, user_groups, groups_claim)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                id,
                user,
                now,
                expires,
                claims.managed_apple_id,
                groups,
                claim
            ])
            .map(drop)
        })
        .await
    }

    async fn session(&self, id: Vec<u8>, now: i64) -> Result<Option<(String, IdpClaims)>> {
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT user, managed_apple_id, user_groups, groups_claim FROM sessions
                 WHERE id = ?1 AND expires > ?2 AND ended IS NULL",
            )?
            .query_row(params![id, now], |r| {
                let groups: Option<String> = r.get(2)?;
                let claim: Option<String> = r.get(3)?;
                Ok((
                    r.get(0)?,
                    IdpClaims {
                        managed_apple_id: r.get(1)?,
                        groups: claim.map(|claim| ClaimedGroups {
                            claim,
                            values: groups_of(groups).unwrap_or_default(),
                        }),
                    },
                ))
            })
            .optional()
        })
    }

    async fn end_session(&self, id: Vec<u8>, now: i64) -> Result<bool> {
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE sessions SET ended = ?2 WHERE id = ?1 AND ended IS NULL AND expires > ?2",
            )?
            .execute(params![id, now])
            .map(|n| n == 1)
        })
        .await
    }
}
