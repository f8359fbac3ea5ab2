//! Throttle buckets in the shared store ([`Throttle`]): taking locks the
//! bucket's row (a new bucket is inserted by whoever comes first); asking
//! is a plain read. The arithmetic is the store's shared [`bucket_take`].

use super::{CALL_TIMEOUT, Failure, Postgres};
use crate::error::Result;
use crate::store::{Bucket, Throttle, bucket_take};
use async_trait::async_trait;
use std::time::Duration;

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
        if cost == 0 {
            // Only asks: one plain read, no transaction and no row lock, so
            // sign-ins from one address (a NAT, a proxy) do not queue on
            // that address's row.
            return self
                .with("throttling", CALL_TIMEOUT, move |c| {
                    Box::pin(async move {
                        let read = c
                            .prepare_cached("SELECT tokens, updated FROM throttle WHERE key = $1")
                            .await?;
                        let (tokens, elapsed) = match c.query_opt(&read, &[&key]).await? {
                            Some(r) => (r.get::<_, f64>(0), now_ms - r.get::<_, i64>(1)),
                            None => (f64::from(bucket.capacity), 0),
                        };
                        Ok(bucket_take(bucket, tokens, elapsed, 0).err())
                    })
                })
                .await;
        }
        self.with("throttling", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let tx = c.transaction().await?;
                let read = tx
                    .prepare_cached(
                        "SELECT tokens, updated FROM throttle WHERE key = $1 FOR UPDATE",
                    )
                    .await?;
                // A bucket nobody has yet cannot be locked: the first taker
                // inserts it, and one that loses that race reads it again
                // (now locked).
                for _ in 0..2 {
                    let row = tx.query_opt(&read, &[&key]).await?;
                    let (tokens, elapsed) = match &row {
                        Some(r) => (r.get::<_, f64>(0), now_ms - r.get::<_, i64>(1)),
                        None => (f64::from(bucket.capacity), 0),
                    };
                    let left = match bucket_take(bucket, tokens, elapsed, cost) {
                        Ok(left) => left,
                        Err(wait) => {
                            tx.commit().await?;
                            return Ok(Some(wait));
                        }
                    };
                    if row.is_some() {
                        let update = tx
                            .prepare_cached(
                                "UPDATE throttle SET tokens = $2, updated = $3 WHERE key = $1",
                            )
                            .await?;
                        tx.execute(&update, &[&key, &left, &now_ms]).await?;
                    } else {
                        let insert = tx
                            .prepare_cached(
                                "INSERT INTO throttle (key, tokens, updated) VALUES ($1, $2, $3)
                                 ON CONFLICT (key) DO NOTHING",
                            )
                            .await?;
                        if tx.execute(&insert, &[&key, &left, &now_ms]).await? == 0 {
                            continue;
                        }
                    }
                    tx.commit().await?;
                    return Ok(None);
                }
                Err(Failure::Bad(format!(
                    "bucket {key:?} was created and removed while in use"
                )))
            })
        })
        .await
    }
}
