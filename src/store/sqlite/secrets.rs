//! Per-profile identity secrets in the embedded store ([`Secrets`]), kept
//! under a keyed hash of the secret. Using one reads and marks it in one
//! immediate transaction, so of many concurrent callers exactly one wins.

use super::{Sqlite, parsed};
use crate::error::Result;
use crate::secret::{IssuedSecret, SecretKind};
use crate::store::{Refused, Revoke, Secrets};
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
                    "INSERT INTO secrets (lookup, kind, user, payload_uuid, created, expires,
                                          serial, udid)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![
                    s.lookup,
                    s.kind.as_str(),
                    s.user.as_deref().map(str::to_ascii_lowercase),
                    s.payload_uuid,
                    now,
                    s.expires,
                    s.serial.as_deref().map(str::to_ascii_uppercase),
                    s.udid,
                ])?;
            }
            tx.commit()
        })
        .await
    }

    async fn use_secret(&self, lookup: Vec<u8>, now: i64) -> Result<Result<IssuedSecret, Refused>> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row = tx
                .prepare_cached(&format!(
                    "SELECT {SECRET}, used FROM secrets WHERE lookup = ?1"
                ))?
                .query_row([&lookup], |r| {
                    Ok((secret(r, &lookup)?, r.get::<_, Option<i64>>(6)?))
                })
                .optional()?;
            let answer = match row {
                None => Err(Refused::Unknown),
                Some((s, Some(used))) if used >= s.expires => Err(Refused::Revoked),
                Some((_, Some(_))) => Err(Refused::Used),
                Some((s, None)) if s.expires <= now => Err(Refused::Expired),
                Some((s, None)) => {
                    tx.prepare_cached("UPDATE secrets SET used = ?2 WHERE lookup = ?1")?
                        .execute(params![lookup, now])?;
                    Ok(s)
                }
            };
            tx.commit()?;
            Ok(answer)
        })
        .await
    }

    async fn find_secret(&self, lookup: Vec<u8>) -> Result<Option<IssuedSecret>> {
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT {SECRET} FROM secrets WHERE lookup = ?1"))?
                .query_row([&lookup], |r| secret(r, &lookup))
                .optional()
        })
    }

    async fn revoke_secrets(&self, which: Revoke, now: i64) -> Result<Vec<IssuedSecret>> {
        let (column, value) = match which {
            Revoke::Profile(uuid) => ("payload_uuid", uuid),
            Revoke::User(user) => ("user", user.to_ascii_lowercase()),
        };
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let ended = tx
                .prepare_cached(&format!(
                    "UPDATE secrets SET used = ?2, expires = ?2
                     WHERE {column} = ?1 AND used IS NULL AND expires > ?2
                     RETURNING {SECRET}, lookup"
                ))?
                .query_map(params![value, now], |r| secret(r, &r.get::<_, Vec<u8>>(6)?))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            tx.commit()?;
            Ok(ended)
        })
        .await
    }
}

/// The columns [`secret`] reads, in its order.
const SECRET: &str = "kind, user, payload_uuid, expires, serial, udid";

fn secret(r: &rusqlite::Row, lookup: &[u8]) -> rusqlite::Result<IssuedSecret> {
    let kind: String = r.get(0)?;
    Ok(IssuedSecret {
        kind: parsed(0, &kind, SecretKind::parse)?,
        lookup: lookup.to_vec(),
        user: r.get(1)?,
        payload_uuid: r.get(2)?,
        expires: r.get(3)?,
        serial: r.get(4)?,
        udid: r.get(5)?,
    })
}
