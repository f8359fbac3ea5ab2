//! Per-profile identity secrets in the embedded store ([`Secrets`]), kept
//! under a keyed hash of the secret. Using one reads and marks it in one
//! immediate transaction, so of many concurrent callers exactly one wins.

use super::{Sqlite, parsed};
use crate::error::Result;
use crate::secret::{IssuedSecret, SecretKind};
use crate::store::{Refused, Secrets};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

#[async_trait]
impl Secrets for Sqlite {
    async fn add_secrets(&self, secrets: Vec<IssuedSecret>, now: i64) -> Result<()> {
        if secrets.is_empty() {
            return Ok(());
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for s in &secrets {
                tx.prepare_cached(
                    "INSERT INTO secrets (lookup, kind, user, payload_uuid, created, expires)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    s.lookup,
                    s.kind.as_str(),
                    s.user.as_deref().map(str::to_ascii_lowercase),
                    s.payload_uuid,
                    now,
                    s.expires
                ])?;
            }
            tx.commit()
        })
        .await
    }

    async fn use_secret(&self, lookup: Vec<u8>, now: i64) -> Result<Result<IssuedSecret, Refused>> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row: Option<(String, Option<String>, String, i64, Option<i64>)> = tx
                .prepare_cached(
                    "SELECT kind, user, payload_uuid, expires, used FROM secrets WHERE lookup = ?1",
                )?
                .query_row([&lookup], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()?;
            let answer = match row {
                None => Err(Refused::Unknown),
                Some((.., Some(_))) => Err(Refused::Used),
                Some((_, _, _, expires, None)) if expires <= now => Err(Refused::Expired),
                Some((kind, user, payload_uuid, expires, None)) => {
                    tx.prepare_cached("UPDATE secrets SET used = ?2 WHERE lookup = ?1")?
                        .execute(params![lookup, now])?;
                    Ok(IssuedSecret {
                        kind: parsed(0, &kind, SecretKind::parse)?,
                        lookup,
                        user,
                        payload_uuid,
                        expires,
                    })
                }
            };
            tx.commit()?;
            Ok(answer)
        })
        .await
    }

    async fn find_secret(&self, lookup: Vec<u8>) -> Result<Option<IssuedSecret>> {
        self.read(move |conn| {
            let row: Option<(String, Option<String>, String, i64)> = conn
                .prepare_cached(
                    "SELECT kind, user, payload_uuid, expires FROM secrets WHERE lookup = ?1",
                )?
                .query_row([&lookup], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            row.map(|(kind, user, payload_uuid, expires)| {
                Ok(IssuedSecret {
                    kind: parsed(0, &kind, SecretKind::parse)?,
                    lookup,
                    user,
                    payload_uuid,
                    expires,
                })
            })
            .transpose()
        })
    }
}
