//! The audit log of the shared store ([`Events`]): a whole batch of events
//! is one statement (column arrays through `UNNEST`), on a pool of its own
//! so the group-commit writer never queues behind requests; the choices
//! among them become each user's current answer in the same statement.

use super::{CALL_TIMEOUT, Postgres};
use crate::audit::{Entry, Event, Record, groups_of, groups_text};
use crate::error::Result;
use crate::model::EnrollmentKind;
use crate::model::policy::Choice;
use crate::store::{Events, Filter};
use async_trait::async_trait;
use std::collections::HashMap;
use tokio_postgres::types::ToSql;

/// One batch of events as column arrays, for one `UNNEST` insert, and the
/// choices among them (the latest per user and policy: one statement may
/// not update a row twice).
struct Batch {
    event: Vec<&'static str>,
    channel: Vec<&'static str>,
    email: Vec<Option<String>>,
    policy: Vec<Option<String>>,
    choice: Vec<Option<&'static str>>,
    kind: Vec<Option<&'static str>>,
    ownership: Vec<Option<&'static str>>,
    payload_uuid: Vec<Option<String>>,
    sha256: Vec<Option<String>>,
    client: Vec<Option<String>>,
    subject: Vec<Option<String>>,
    reason: Vec<Option<String>>,
    serial: Vec<Option<String>>,
    udid: Vec<Option<String>>,
    product: Vec<Option<String>>,
    os_version: Vec<Option<String>>,
    groups: Vec<Option<String>>,
    groups_claim: Vec<Option<String>>,
    choice_email: Vec<String>,
    choice_policy: Vec<String>,
    choice_choice: Vec<&'static str>,
}

impl Batch {
    fn new(rows: Vec<Record>) -> Batch {
        let mut latest: HashMap<(String, String), (usize, &'static str)> = HashMap::new();
        for (i, r) in rows.iter().enumerate() {
            if let (Event::Choice, Some(user), Some(policy), Some(choice)) =
                (r.event, &r.user, &r.policy, r.choice)
            {
                latest.insert((user.clone(), policy.clone()), (i, choice.as_str()));
            }
        }
        let mut choices: Vec<_> = latest.into_iter().collect();
        choices.sort_by_key(|(_, (i, _))| *i);
        let mut b = Batch {
            event: Vec::with_capacity(rows.len()),
            channel: Vec::with_capacity(rows.len()),
            email: Vec::with_capacity(rows.len()),
            policy: Vec::with_capacity(rows.len()),
            choice: Vec::with_capacity(rows.len()),
            kind: Vec::with_capacity(rows.len()),
            ownership: Vec::with_capacity(rows.len()),
            payload_uuid: Vec::with_capacity(rows.len()),
            sha256: Vec::with_capacity(rows.len()),
            client: Vec::with_capacity(rows.len()),
            subject: Vec::with_capacity(rows.len()),
            reason: Vec::with_capacity(rows.len()),
            serial: Vec::with_capacity(rows.len()),
            udid: Vec::with_capacity(rows.len()),
            product: Vec::with_capacity(rows.len()),
            os_version: Vec::with_capacity(rows.len()),
            groups: Vec::with_capacity(rows.len()),
            groups_claim: Vec::with_capacity(rows.len()),
            choice_email: Vec::with_capacity(choices.len()),
            choice_policy: Vec::with_capacity(choices.len()),
            choice_choice: Vec::with_capacity(choices.len()),
        };
        for ((email, policy), (_, choice)) in choices {
            b.choice_email.push(email);
            b.choice_policy.push(policy);
            b.choice_choice.push(choice);
        }
        for r in rows {
            b.event.push(r.event.as_str());
            b.channel.push(r.source.as_str());
            b.email.push(r.user);
            b.policy.push(r.policy);
            b.choice.push(r.choice.map(Choice::as_str));
            b.kind.push(r.kind.map(EnrollmentKind::slug));
            b.ownership.push(r.kind.map(|k| k.ownership().as_str()));
            b.payload_uuid.push(r.payload_uuid);
            b.sha256.push(r.sha256);
            b.client.push(r.client);
            b.subject.push(r.subject);
            b.reason.push(r.reason);
            b.serial
                .push(r.serial.as_deref().map(str::to_ascii_uppercase));
            b.udid.push(r.udid);
            b.product.push(r.product);
            b.os_version.push(r.os_version);
            b.groups.push(groups_text(&r.groups));
            b.groups_claim.push(r.groups_claim);
        }
        b
    }
}

/// A whole batch in one statement: the events in order, and the choices
/// among them as each user's current answer, atomically.
const APPEND: &str = "
    WITH added AS (
        INSERT INTO events (time, event, channel, email, policy, choice, kind, ownership,
                            payload_uuid, sha256, client, subject, reason,
                            serial, udid, product, os_version, user_groups, groups_claim)
        SELECT $1, r.event, r.channel, r.email, r.policy, r.choice, r.kind, r.ownership,
               r.payload_uuid, r.sha256, r.client, r.subject, r.reason,
               r.serial, r.udid, r.product, r.os_version, r.user_groups, r.groups_claim
        FROM UNNEST($2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[],
                    $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::TEXT[], $12::TEXT[], $13::TEXT[],
                    $17::TEXT[], $18::TEXT[], $19::TEXT[], $20::TEXT[], $21::TEXT[], $22::TEXT[])
             WITH ORDINALITY AS r(event, channel, email, policy, choice, kind, ownership,
                                  payload_uuid, sha256, client, subject, reason,
                                  serial, udid, product, os_version, user_groups, groups_claim, n)
        ORDER BY r.n
    )
    INSERT INTO choices (email, policy, choice, time)
    SELECT c.email, c.policy, c.choice, $1
    FROM UNNEST($14::TEXT[], $15::TEXT[], $16::TEXT[]) AS c(email, policy, choice)
    ON CONFLICT (email, policy) DO UPDATE SET choice = EXCLUDED.choice, time = EXCLUDED.time";

const COLUMNS: &str = "time, event, channel, email, policy, choice, kind, ownership, \
                       payload_uuid, sha256, client, subject, reason, \
                       serial, udid, product, os_version, user_groups, groups_claim";

fn entry(r: &tokio_postgres::Row) -> Entry {
    Entry {
        time: r.get(0),
        event: r.get(1),
        channel: r.get(2),
        user: r.get(3),
        policy: r.get(4),
        choice: r.get(5),
        kind: r.get(6),
        ownership: r.get(7),
        payload_uuid: r.get(8),
        sha256: r.get(9),
        client: r.get(10),
        subject: r.get(11),
        reason: r.get(12),
        serial: r.get(13),
        udid: r.get(14),
        product: r.get(15),
        os_version: r.get(16),
        groups: groups_of(r.get(17)),
        groups_claim: r.get(18),
    }
}

#[async_trait]
impl Events for Postgres {
    async fn append(&self, rows: Vec<Record>, time: i64) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let b = Batch::new(rows);
        self.run(&self.writer, "recording events", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c.prepare_cached(APPEND).await?;
                c.execute(
                    &stmt,
                    &[
                        &time,
                        &b.event,
                        &b.channel,
                        &b.email,
                        &b.policy,
                        &b.choice,
                        &b.kind,
                        &b.ownership,
                        &b.payload_uuid,
                        &b.sha256,
                        &b.client,
                        &b.subject,
                        &b.reason,
                        &b.choice_email,
                        &b.choice_policy,
                        &b.choice_choice,
                        &b.serial,
                        &b.udid,
                        &b.product,
                        &b.os_version,
                        &b.groups,
                        &b.groups_claim,
                    ],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn count_events(&self, user: &str, event: Event) -> Result<u64> {
        let user = user.to_ascii_lowercase();
        self.with("counting events", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached("SELECT count(*) FROM events WHERE email = $1 AND event = $2")
                    .await?;
                let row = c.query_one(&stmt, &[&user, &event.as_str()]).await?;
                Ok(row.get::<_, i64>(0).max(0) as u64)
            })
        })
        .await
    }

    async fn find(&self, filter: Filter) -> Result<Vec<Entry>> {
        self.with("listing events", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let mut clauses: Vec<String> = Vec::new();
                let mut values: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
                let mut add = |clause: &str, value: Box<dyn ToSql + Sync + Send>| {
                    values.push(value);
                    clauses.push(clause.replace('$', &format!("${}", values.len())));
                };
                if let Some(user) = &filter.user {
                    add("email = $", Box::new(user.to_ascii_lowercase()));
                }
                if let Some(serial) = &filter.serial {
                    add("serial = $", Box::new(serial.to_ascii_uppercase()));
                }
                if let Some(since) = filter.since {
                    add("time >= $", Box::new(since));
                }
                if let Some(until) = filter.until {
                    add("time <= $", Box::new(until));
                }
                if let Some(event) = filter.event {
                    add("event = $", Box::new(event.as_str()));
                }
                if let Some(channel) = filter.channel {
                    add("channel = $", Box::new(channel.as_str()));
                }
                if let Some(uuid) = &filter.payload_uuid {
                    add("payload_uuid = $", Box::new(uuid.to_ascii_uppercase()));
                }
                let conditions = if clauses.is_empty() {
                    String::new()
                } else {
                    format!(" WHERE {}", clauses.join(" AND "))
                };
                let limit = filter
                    .limit
                    .map_or("ALL".to_owned(), |n| n.min(i64::MAX as u64).to_string());
                // The newest `limit` by id (the primary key), then oldest first.
                let sql = format!(
                    "SELECT {COLUMNS} FROM (SELECT id, {COLUMNS} FROM events{conditions} ORDER BY id DESC LIMIT {limit}) AS newest ORDER BY id"
                );
                let params: Vec<&(dyn ToSql + Sync)> =
                    values.iter().map(|v| v.as_ref() as &(dyn ToSql + Sync)).collect();
                let rows = c.query(&sql, &params).await?;
                Ok(rows.iter().map(entry).collect())
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_keeps_the_latest_choice_per_user_and_policy() {
        use crate::audit::Source;
        let choice = |user: &str, policy: &str, c: Choice| {
            Record::choice(
                Source::Portal,
                user,
                policy,
                c,
                c.management().kind(crate::model::Channel::Profile),
            )
        };
        let b = Batch::new(vec![
            choice("a@x", "P", Choice::Work),
            choice("b@x", "P", Choice::Device),
            choice("a@x", "P", Choice::Corporate),
        ]);
        assert_eq!(b.event.len(), 3);
        assert_eq!(b.choice_email, ["b@x", "a@x"]);
        assert_eq!(b.choice_choice, ["device", "corporate"]);
    }
}
