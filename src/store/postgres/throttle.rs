//! Throttle buckets in the shared store ([`Throttle`]). Taking is one
//! statement, one round trip: an upsert whose `WHERE` lets it change the
//! row only when the bucket holds the tokens (PostgreSQL locks the row and
//! judges its latest version, so concurrent takers never share a token).
//! Only a refusal reads the row again, to say how long to wait; asking is
//! a plain read. The arithmetic is the store's shared [`bucket_take`],
//! written once more in SQL for the upsert (the conformance suite holds the
//! two to the same answers).

use super::{CALL_TIMEOUT, Failure, Postgres};
use crate::error::Result;
use crate::store::{Bucket, Throttle, bucket_take};
use async_trait::async_trait;
use std::time::Duration;

/// Tokens in the bucket `t` now: its tokens plus what refilled since,
/// capped at the capacity ($2, tokens; $3, ms per token; $5, now in ms).
const REFILLED: &str =
    "LEAST($2::float8, t.tokens + GREATEST($5::bigint - t.updated, 0)::float8 / $3::float8)";

#[async_trait]
impl Throttle for Postgres {
    async fn take(
        &self,
        key: &str,
        bucket: Bucket,
        cost: u32,
        now_ms: i64,
    ) -> Result<Option<Duration>> {
        let key = key.to_owned();
        let capacity = f64::from(bucket.capacity);
        let refill_ms = bucket.refill.as_millis().max(1) as f64;
        // Only asks (a plain read, no row lock: sign-ins from one address,
        // a NAT or a proxy, do not queue on that address's row), or asks
        // for more than the bucket can ever hold.
        if cost == 0 || f64::from(cost) > capacity {
            return self
                .with("throttling", CALL_TIMEOUT, move |c| {
                    Box::pin(async move { wait(c, &key, bucket, cost, now_ms).await })
                })
                .await;
        }
        let cost_f = f64::from(cost);
        let taken = {
            let key = key.clone();
            self.with("throttling", CALL_TIMEOUT, move |c| {
                Box::pin(async move {
                    let take = c
                        .prepare_cached(&format!(
                            "INSERT INTO throttle AS t (key, tokens, updated)
                             VALUES ($1, $2::float8 - $4::float8, $5::bigint)
                             ON CONFLICT (key) DO UPDATE
                                 SET tokens = {REFILLED} - $4::float8, updated = $5::bigint
                                 WHERE {REFILLED} + 1e-9 >= $4::float8
                             RETURNING tokens"
                        ))
                        .await?;
                    let row = c
                        .query_opt(&take, &[&key, &capacity, &refill_ms, &cost_f, &now_ms])
                        .await?;
                    Ok(row.is_some())
                })
            })
            .await?
        };
        if taken {
            return Ok(None);
        }
        // Refused: how long until the bucket holds the tokens.
        let wait = self
            .with("throttling", CALL_TIMEOUT, move |c| {
                Box::pin(async move { wait(c, &key, bucket, cost, now_ms).await })
            })
            .await?;
        // Refilled between the two statements: a try again will pass.
        Ok(Some(wait.unwrap_or(Duration::from_millis(1))))
    }

    async fn give(&self, key: &str, bucket: Bucket, tokens: u32, now_ms: i64) -> Result<()> {
        let key = key.to_owned();
        let capacity = f64::from(bucket.capacity);
        let refill_ms = bucket.refill.as_millis().max(1) as f64;
        let given = f64::from(tokens);
        self.with("throttling", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let give = c
                    .prepare_cached(&format!(
                        "UPDATE throttle AS t SET tokens = LEAST($2::float8, {REFILLED} + $4::float8),
                             updated = $5::bigint
                         WHERE key = $1"
                    ))
                    .await?;
                c.execute(&give, &[&key, &capacity, &refill_ms, &given, &now_ms])
                    .await?;
                Ok(())
            })
        })
        .await
    }
}

/// How long until bucket `key` holds `cost` tokens (`None`: it does now),
/// by a plain read.
async fn wait(
    c: &deadpool_postgres::Object,
    key: &str,
    bucket: Bucket,
    cost: u32,
    now_ms: i64,
) -> Result<Option<Duration>, Failure> {
    let read = c
        .prepare_cached("SELECT tokens, updated FROM throttle WHERE key = $1")
        .await?;
    let (tokens, elapsed) = match c.query_opt(&read, &[&key]).await? {
        Some(r) => (r.get::<_, f64>(0), now_ms - r.get::<_, i64>(1)),
        None => (f64::from(bucket.capacity), 0),
    };
    Ok(bucket_take(bucket, tokens, elapsed, cost).err())
}
