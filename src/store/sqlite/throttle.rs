//! Throttle buckets in the embedded store ([`Throttle`]): the bucket's row
//! is read and rewritten in one immediate transaction; the arithmetic is
//! the store's shared [`bucket_take`].

use super::Sqlite;
use crate::error::Result;
use crate::store::{Bucket, Throttle, bucket_give, bucket_take};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use std::time::Duration;

#[async_trait]
impl Throttle for Sqlite {
    async fn take(
        &self,
        key: &str,
        bucket: Bucket,
        cost: u32,
        now_ms: i64,
    ) -> Result<Option<Duration>> {
        let key = key.to_owned();
        let bucket_of = move |row: Option<(f64, i64)>| {
            row.map_or((f64::from(bucket.capacity), 0), |(t, at)| (t, now_ms - at))
        };
        if cost == 0 {
            // Only asks: a read, so sign-ins from one address (a NAT, a
            // proxy) do not queue on that address's row.
            return self.read(move |conn| {
                let row = conn
                    .prepare_cached("SELECT tokens, updated FROM throttle WHERE key = ?1")?
                    .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                let (tokens, elapsed) = bucket_of(row);
                Ok(bucket_take(bucket, tokens, elapsed, 0).err())
            });
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row: Option<(f64, i64)> = tx
                .prepare_cached("SELECT tokens, updated FROM throttle WHERE key = ?1")?
                .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let (tokens, elapsed) = bucket_of(row);
            let answer = match bucket_take(bucket, tokens, elapsed, cost) {
                Ok(left) => {
                    tx.prepare_cached(
                        "INSERT INTO throttle (key, tokens, updated) VALUES (?1, ?2, ?3)
                         ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens,
                                                         updated = excluded.updated",
                    )?
                    .execute(params![key, left, now_ms])?;
                    None
                }
                Err(wait) => Some(wait),
            };
            tx.commit()?;
            Ok(answer)
        })
        .await
    }

    async fn give(&self, key: &str, bucket: Bucket, tokens: u32, now_ms: i64) -> Result<()> {
        let key = key.to_owned();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row: Option<(f64, i64)> = tx
                .prepare_cached("SELECT tokens, updated FROM throttle WHERE key = ?1")?
                .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((held, at)) = row {
                let left = bucket_give(bucket, held, now_ms - at, tokens);
                tx.prepare_cached("UPDATE throttle SET tokens = ?2, updated = ?3 WHERE key = ?1")?
                    .execute(params![key, left, now_ms])?;
            }
            tx.commit()
        })
        .await
    }
}
