//! The audit log of the embedded store ([`Events`]): a batch of events is
//! one transaction on the writing connection, and a choice among them
//! becomes the user's current answer (`choices`) in the same transaction.
//! Listing reads the whole log, so it runs on the blocking pool.

use super::Sqlite;
use crate::audit::{Entry, Event, Record, groups_of, groups_text};
use crate::error::Result;
use crate::model::EnrollmentKind;
use crate::model::policy::Choice;
use crate::store::{Events, Filter};
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

/// The conditions of `filter` as SQL, `?N` numbered in order, and their
/// values: only those given, so each query can use the index it needs.
fn conditions(filter: &Filter) -> (Vec<String>, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    let mut add = |clause: &str, value: Value| {
        values.push(value);
        clauses.push(clause.replace('?', &format!("?{}", values.len())));
    };
    if let Some(user) = &filter.user {
        add("user = ?", Value::Text(user.to_ascii_lowercase()));
    }
    if let Some(serial) = &filter.serial {
        add("serial = ?", Value::Text(serial.to_ascii_uppercase()));
    }
    if let Some(since) = filter.since {
        add("time >= ?", Value::Integer(since));
    }
    if let Some(until) = filter.until {
        add("time <= ?", Value::Integer(until));
    }
    if let Some(event) = filter.event {
        add("event = ?", Value::Text(event.as_str().into()));
    }
    if let Some(channel) = filter.channel {
        add("channel = ?", Value::Text(channel.as_str().into()));
    }
    if let Some(uuid) = &filter.payload_uuid {
        add("payload_uuid = ?", Value::Text(uuid.to_ascii_uppercase()));
    }
    (clauses, values)
}

fn where_clause(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    }
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

    async fn count_events(&self, user: &str, event: Event) -> Result<u64> {
        let user = user.to_ascii_lowercase();
        self.read(move |conn| {
            conn.prepare_cached("SELECT count(*) FROM events WHERE user = ?1 AND event = ?2")?
                .query_row(params![user, event.as_str()], |r| r.get::<_, i64>(0))
                .map(|n| n.max(0) as u64)
        })
    }

    async fn find(&self, filter: Filter) -> Result<Vec<Entry>> {
        let (clauses, values) = conditions(&filter);
        let limit = filter
            .limit
            .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        self.scan(move |conn| {
            // The newest `limit` by id (the primary key), then oldest first.
            let sql = format!(
                "SELECT {COLUMNS} FROM (SELECT id, {COLUMNS} FROM events{} ORDER BY id DESC LIMIT {limit}) ORDER BY id",
                where_clause(&clauses)
            );
            let mut stmt = conn.prepare(&sql)?;
            stmt.query_map(rusqlite::params_from_iter(values), entry)?
                .collect()
        })
        .await
    }
}
