//! The audit log of the embedded store ([`Events`]): a batch of events is
//! one transaction on the writing connection, and a choice among them
//! becomes the user's current answer (`choices`) in the same transaction.
//! Listing reads the whole log, so it runs on the blocking pool.

use super::Sqlite;
use crate::audit::{Entry, Event, Record, groups_of, groups_text};
use crate::error::Result;
use crate::model::EnrollmentKind;
use crate::model::policy::Choice;
use crate::store::Events;
use async_trait::async_trait;
use rusqlite::{Connection, TransactionBehavior, params};

fn insert_event(conn: &Connection, r: &Record, time: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO events (time, event, channel, user, policy, choice, kind, ownership,
                             payload_uuid, sha256, client, subject, reason,
                             serial, udid, product, os_version, user_groups, groups_claim)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
    )?
    .execute(params![
        time,
        r.event.as_str(),
        r.source.as_str(),
        r.user,
        r.policy,
        r.choice.map(Choice::as_str),
        r.kind.map(EnrollmentKind::slug),
        r.kind.map(|k| k.ownership().as_str()),
        r.payload_uuid,
        r.sha256,
        r.client,
        r.subject,
        r.reason,
        r.serial.as_deref().map(str::to_ascii_uppercase),
        r.udid,
        r.product,
        r.os_version,
        groups_text(&r.groups),
        r.groups_claim,
    ])?;
    if let (Event::Choice, Some(user), Some(policy), Some(choice)) =
        (r.event, &r.user, &r.policy, r.choice)
    {
        conn.prepare_cached(
            "INSERT INTO choices (user, policy, choice, time) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (user, policy) DO UPDATE SET choice = excluded.choice, time = excluded.time",
        )?
        .execute(params![user, policy, choice.as_str(), time])?;
    }
    Ok(())
}

const COLUMNS: &str = "time, event, channel, user, policy, choice, kind, ownership, \
                       payload_uuid, sha256, client, subject, reason, \
                       serial, udid, product, os_version, user_groups, groups_claim";

fn entry(r: &rusqlite::Row) -> rusqlite::Result<Entry> {
    Ok(Entry {
        time: r.get(0)?,
        event: r.get(1)?,
        channel: r.get(2)?,
        user: r.get(3)?,
        policy: r.get(4)?,
        choice: r.get(5)?,
        kind: r.get(6)?,
        ownership: r.get(7)?,
        payload_uuid: r.get(8)?,
        sha256: r.get(9)?,
        client: r.get(10)?,
        subject: r.get(11)?,
        reason: r.get(12)?,
        serial: r.get(13)?,
        udid: r.get(14)?,
        product: r.get(15)?,
        os_version: r.get(16)?,
        groups: groups_of(r.get(17)?),
        groups_claim: r.get(18)?,
    })
}

#[async_trait]
impl Events for Sqlite {
    async fn append(&self, rows: Vec<Record>, time: i64) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for r in &rows {
                insert_event(&tx, r, time)?;
            }
            tx.commit()
        })
        .await
    }

    async fn list(&self, user: Option<&str>) -> Result<Vec<Entry>> {
        let user = user.map(str::to_ascii_lowercase);
        self.scan(move |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM events WHERE ?1 IS NULL OR user = ?1 ORDER BY id"
            ))?;
            stmt.query_map([user], entry)?.collect()
        })
        .await
    }

    async fn count_events(&self, user: &str, event: Event) -> Result<u64> {
        let user = user.to_ascii_lowercase();
        self.read(move |conn| {
            conn.prepare_cached("SELECT count(*) FROM events WHERE user = ?1 AND event = ?2")?
                .query_row(params![user, event.as_str()], |r| r.get::<_, i64>(0))
                .map(|n| n.max(0) as u64)
        })
    }

    async fn list_by_serial(&self, serial: &str) -> Result<Vec<Entry>> {
        let serial = serial.to_ascii_uppercase();
        self.scan(move |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM events WHERE serial = ?1 ORDER BY id"
            ))?;
            stmt.query_map([serial], entry)?.collect()
        })
        .await
    }
}
