//! One-time sign-in codes in the embedded store ([`Codes`]), kept under a
//! keyed hash of the code. Using one is a single conditional `UPDATE` on
//! the writing connection, so of many concurrent callers exactly one wins.

use super::Sqlite;
use crate::error::Result;
use crate::store::{Codes, Invite, Refused};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

#[async_trait]
impl Codes for Sqlite {
    async fn add_code(&self, lookup: Vec<u8>, invite: Invite, now: i64) -> Result<()> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached("DELETE FROM invites WHERE expires <= ?1")?
                .execute([now])?;
            tx.prepare_cached(
                "INSERT INTO invites (lookup, id, user, created, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                lookup,
                invite.id,
                invite.user.to_ascii_lowercase(),
                now,
                invite.expires
            ])?;
            tx.commit()
        })
        .await
    }

    async fn unused_code(&self, user: &str, after: i64, until: i64) -> Result<Option<Invite>> {
        let user = user.to_ascii_lowercase();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT id, user, expires FROM invites
                 WHERE user = ?1 AND used IS NULL AND expires > ?2 AND expires <= ?3
                 ORDER BY expires DESC LIMIT 1",
            )?
            .query_row(params![user, after, until], |r| {
                Ok(Invite {
                    id: r.get(0)?,
                    user: r.get(1)?,
                    expires: r.get(2)?,
                })
            })
            .optional()
        })
    }

    async fn find_code(&self, lookup: Vec<u8>, now: i64) -> Result<Result<Invite, Refused>> {
        self.read(move |conn| {
            let row: Option<(String, String, i64, Option<i64>)> = conn
                .prepare_cached("SELECT id, user, expires, used FROM invites WHERE lookup = ?1")?
                .query_row([lookup], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            Ok(match row {
                None => Err(Refused::Unknown),
                Some((_, _, expires, Some(used))) if used >= expires => Err(Refused::Revoked),
                Some((_, _, _, Some(_))) => Err(Refused::Used),
                Some((_, _, expires, None)) if expires <= now => Err(Refused::Expired),
                Some((id, user, expires, None)) => Ok(Invite { id, user, expires }),
            })
        })
    }

    async fn use_code(&self, lookup: Vec<u8>, now: i64) -> Result<bool> {
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE invites SET used = ?2 WHERE lookup = ?1 AND used IS NULL AND expires > ?2",
            )?
            .execute(params![lookup, now])
            .map(|n| n == 1)
        })
        .await
    }

    async fn outstanding_codes(&self, user: Option<&str>, now: i64) -> Result<Vec<Invite>> {
        let user = user.map(str::to_ascii_lowercase);
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT id, user, expires FROM invites
                 WHERE (?1 IS NULL OR user = ?1) AND used IS NULL AND expires > ?2
                 ORDER BY user, expires",
            )?
            .query_map(params![user, now], |r| {
                Ok(Invite {
                    id: r.get(0)?,
                    user: r.get(1)?,
                    expires: r.get(2)?,
                })
            })?
            .collect()
        })
    }

    async fn revoke_codes(&self, user: &str, now: i64) -> Result<u64> {
        let user = user.to_ascii_lowercase();
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE invites SET used = ?2, expires = ?2
                 WHERE user = ?1 AND used IS NULL AND expires > ?2",
            )?
            .execute(params![user, now])
            .map(|n| n as u64)
        })
        .await
    }
}
