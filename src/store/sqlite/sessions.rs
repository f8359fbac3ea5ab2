//! Portal sessions in the embedded store ([`Sessions`]), kept under a keyed
//! hash of the cookie's secret, so that signing out ends one everywhere.

use super::Sqlite;
use crate::error::Result;
use crate::store::Sessions;
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

#[async_trait]
impl Sessions for Sqlite {
    async fn start_session(&self, id: Vec<u8>, user: &str, expires: i64) -> Result<()> {
        let user = user.to_ascii_lowercase();
        let now = crate::audit::now();
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO sessions (id, user, created, expires) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![id, user, now, expires])
            .map(drop)
        })
        .await
    }

    async fn session_user(&self, id: Vec<u8>, now: i64) -> Result<Option<String>> {
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT user FROM sessions WHERE id = ?1 AND expires > ?2 AND ended IS NULL",
            )?
            .query_row(params![id, now], |r| r.get(0))
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
