//! One conformance suite for every store backend: the same test functions
//! run against each (`every_backend!` below). Each test gets a fresh,
//! empty database and opens it as often as it likes: two handles on one
//! database stand for two `aspen serve` replicas.

use crate::common;
use crate::pg;

use aspen::audit::{Record, Source};
use aspen::model::policy::Choice;
use aspen::model::{EnrollmentKind, Ownership};
use aspen::secret::{IssuedSecret, SecretKind};
use aspen::store::{self, Bucket, ClaimedGroups, IdpClaims, Invite, Location, Refused, Store};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// A fresh database of one backend; dropping it removes it.
pub struct Db {
    pub location: Location,
    _keep: Box<dyn std::any::Any + Send + Sync>,
}

impl Db {
    async fn open(&self) -> Arc<dyn Store> {
        store::open(&self.location).await.unwrap()
    }
}

mod backends {
    use super::*;

    pub async fn sqlite() -> Option<Db> {
        let dir = tempfile::tempdir().unwrap();
        Some(Db {
            location: Location::Sqlite(dir.path().join("state")),
            _keep: Box::new(dir),
        })
    }

    pub async fn postgres() -> Option<Db> {
        let db = tokio::task::spawn_blocking(pg::database).await.unwrap()?;
        Some(Db {
            location: Location::parse(&db.url, std::path::Path::new("/")).unwrap(),
            _keep: Box::new(db),
        })
    }
}

macro_rules! conformance {
    ($backend:ident: $($test:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let Some(db) = super::backends::$backend().await else { return };
                    super::$test(&db).await;
                }
            )*
        }
    };
}

macro_rules! every_backend {
    ($($test:ident),* $(,)?) => {
        conformance!(sqlite: $($test),*);
        conformance!(postgres: $($test),*);
    };
}

mod filters;
mod revocation;

every_backend!(
    one_of_twenty_concurrent_redemptions_wins,
    codes_expire_and_are_found_by_user,
    a_choice_recorded_through_one_handle_is_seen_by_another_at_once,
    concurrent_writers_never_lose_or_duplicate_audit_rows,
    listing_keeps_every_field_and_filters_by_user,
    signing_out_ends_a_session_everywhere,
    a_session_keeps_what_the_identity_provider_said,
    a_sign_in_is_finished_once_even_when_twenty_try_at_once,
    a_secret_is_used_once_even_when_twenty_try_at_once,
    throttle_buckets_are_shared_and_refill,
    expired_state_is_purged,
    the_store_says_it_is_writable,
    a_device_is_recorded_and_found_by_serial,
    events_are_counted_by_user_and_event,
);

fn code(id: &str, user: &str, expires: i64) -> Invite {
    Invite {
        id: id.into(),
        user: user.into(),
        expires,
    }
}

fn issued(user: &str, uuid: &str) -> Record {
    Record::issued(
        Source::Portal,
        Some(user),
        Some("Corporate"),
        EnrollmentKind::Device(Ownership::Corporate),
        uuid,
        &aspen::audit::sha256_hex(uuid.as_bytes()),
    )
}

fn choice(user: &str, policy: &str, choice: Choice) -> Record {
    Record::choice(
        Source::Portal,
        user,
        policy,
        choice,
        choice.management().kind(aspen::model::Channel::Profile),
    )
}

async fn one_of_twenty_concurrent_redemptions_wins(db: &Db) {
    let (a, b) = (db.open().await, db.open().await);
    let now = aspen::audit::now();
    a.add_code(
        b"k1".to_vec(),
        code("id1", "alice@contoso.com", now + 600),
        now,
    )
    .await
    .unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { s.use_code(b"k1".to_vec(), now).await.unwrap() })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1, "exactly one of 20 redemptions wins");
    assert_eq!(
        b.find_code(b"k1".to_vec(), now).await.unwrap(),
        Err(Refused::Used)
    );
}

async fn codes_expire_and_are_found_by_user(db: &Db) {
    let s = db.open().await;
    s.add_code(b"k1".to_vec(), code("id1", "Alice@Contoso.com", 1000), 10)
        .await
        .unwrap();
    let found = s.find_code(b"k1".to_vec(), 999).await.unwrap().unwrap();
    assert_eq!(found, code("id1", "alice@contoso.com", 1000));
    assert_eq!(
        s.find_code(b"k1".to_vec(), 1000).await.unwrap(),
        Err(Refused::Expired)
    );
    assert_eq!(
        s.find_code(b"nope".to_vec(), 1).await.unwrap(),
        Err(Refused::Unknown)
    );
    assert!(!s.use_code(b"k1".to_vec(), 1000).await.unwrap(), "expired");
    // Several codes of one user: the latest in the window is offered.
    for (k, exp) in [(&b"a"[..], 100), (b"b", 200), (b"c", 300)] {
        let id = String::from_utf8(k.to_vec()).unwrap();
        s.add_code(k.to_vec(), code(&id, "bob@contoso.com", exp), 10)
            .await
            .unwrap();
    }
    let id = |i: Option<Invite>| i.map(|i| i.id);
    assert_eq!(
        id(s.unused_code("BOB@contoso.com", 150, 250).await.unwrap()),
        Some("b".into())
    );
    assert_eq!(
        id(s.unused_code("bob@contoso.com", 0, 1000).await.unwrap()),
        Some("c".into())
    );
    assert!(s.use_code(b"c".to_vec(), 150).await.unwrap());
    assert_eq!(
        id(s.unused_code("bob@contoso.com", 250, 1000).await.unwrap()),
        None,
        "a used code is never offered again"
    );
    // Adding a code sweeps those that expired by then.
    s.add_code(b"d".to_vec(), code("d", "carol@contoso.com", 900), 200)
        .await
        .unwrap();
    assert_eq!(
        s.find_code(b"a".to_vec(), 0).await.unwrap(),
        Err(Refused::Unknown)
    );
    assert_eq!(
        s.find_code(b"c".to_vec(), 0).await.unwrap(),
        Err(Refused::Used)
    );
}

async fn a_choice_recorded_through_one_handle_is_seen_by_another_at_once(db: &Db) {
    let (a, b) = (db.open().await, db.open().await);
    assert_eq!(b.choice("alice@contoso.com", "BYOD").await.unwrap(), None);
    a.append(vec![choice("Alice@Contoso.com", "BYOD", Choice::Work)], 1)
        .await
        .unwrap();
    assert_eq!(
        b.choice("alice@contoso.com", "BYOD").await.unwrap(),
        Some(Choice::Work)
    );
    // The latest answer wins, and an answer belongs to its policy.
    b.append(
        vec![
            choice("alice@contoso.com", "BYOD", Choice::Device),
            choice("alice@contoso.com", "BYOD 2026", Choice::Corporate),
        ],
        2,
    )
    .await
    .unwrap();
    assert_eq!(
        a.choice("ALICE@contoso.com", "BYOD").await.unwrap(),
        Some(Choice::Device)
    );
    assert_eq!(
        a.choice("alice@contoso.com", "BYOD 2026").await.unwrap(),
        Some(Choice::Corporate)
    );
    assert_eq!(a.choice("alice@contoso.com", "Other").await.unwrap(), None);
    assert_eq!(a.choice("bob@contoso.com", "BYOD").await.unwrap(), None);
}

async fn concurrent_writers_never_lose_or_duplicate_audit_rows(db: &Db) {
    const WRITERS: usize = 8;
    const ROWS: usize = 250;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let s = db.open().await;
        tasks.push(tokio::spawn(async move {
            // Half through the group-commit writer, half appended directly.
            let recorder = store::Recorder::start(s.clone());
            for i in 0..ROWS {
                let row = issued("user@contoso.com", &format!("{w}-{i}"));
                if i % 2 == 0 {
                    recorder.record(row).await.unwrap();
                } else {
                    s.append(vec![row], 1).await.unwrap();
                }
            }
            recorder.finish().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rows = db.open().await.list(None).await.unwrap();
    assert_eq!(rows.len(), WRITERS * ROWS, "no row lost or doubled");
    let uuids: HashSet<String> = rows.into_iter().filter_map(|r| r.payload_uuid).collect();
    let expected: HashSet<String> = (0..WRITERS)
        .flat_map(|w| (0..ROWS).map(move |i| format!("{w}-{i}")))
        .collect();
    assert_eq!(uuids, expected);
}

async fn listing_keeps_every_field_and_filters_by_user(db: &Db) {
    let s = db.open().await;
    let mut checked = issued("Bob@Contoso.com", "UUID-1").with_client(Some("192.0.2.7".into()));
    checked.subject = Some("CN=bob".into());
    checked.reason = Some("because".into());
    // Groups may hold any character; an IdP's object IDs come as they are.
    let groups = vec![
        "Staff; Sales".to_owned(),
        "0b5c4c8e-7f2d-4a9b-8e1f-3c2d1b0a9f8e".to_owned(),
        "Zoë \"quoted\"".to_owned(),
    ];
    let checked = checked.with_groups(&groups, Some("groups"));
    s.append(
        vec![
            choice("alice@contoso.com", "BYOD", Choice::Work).with_groups(&["Staff".into()], None),
            checked,
            issued("carol@contoso.com", "UUID-2"),
        ],
        1_740_837_907,
    )
    .await
    .unwrap();
    let all = s.list(None).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        ["choice", "issued", "issued"],
        "oldest first"
    );
    assert_eq!(all[0].choice.as_deref(), Some("work"));
    assert_eq!(all[0].kind.as_deref(), Some("user-byod"));
    assert_eq!(all[0].ownership.as_deref(), Some("personal"));
    // Groups from users.csv (no claim); none recorded at all.
    assert_eq!(all[0].groups.as_deref(), Some(&["Staff".to_owned()][..]));
    assert_eq!(all[0].groups_claim, None);
    assert_eq!(
        (all[2].groups.as_ref(), all[2].groups_claim.as_ref()),
        (None, None)
    );
    let bob = s.list(Some("BOB@contoso.com")).await.unwrap();
    assert_eq!(bob.len(), 1);
    let e = &bob[0];
    assert_eq!(e.user.as_deref(), Some("bob@contoso.com"));
    assert_eq!(e.channel, "portal");
    assert_eq!(e.policy.as_deref(), Some("Corporate"));
    assert_eq!(e.kind.as_deref(), Some("device-corporate"));
    assert_eq!(e.ownership.as_deref(), Some("corporate"));
    assert_eq!(e.payload_uuid.as_deref(), Some("UUID-1"));
    assert_eq!(e.client.as_deref(), Some("192.0.2.7"));
    assert_eq!(e.subject.as_deref(), Some("CN=bob"));
    assert_eq!(e.reason.as_deref(), Some("because"));
    assert_eq!(e.groups.as_ref(), Some(&groups));
    assert_eq!(e.groups_claim.as_deref(), Some("groups"));
    // sha256("UUID-1") as sha256sum prints it.
    let out = std::process::Command::new("sh")
        .args(["-c", "printf UUID-1 | sha256sum"])
        .output()
        .unwrap();
    let sum = String::from_utf8(out.stdout).unwrap();
    assert_eq!(e.sha256.as_deref(), sum.split_whitespace().next());
    let json = serde_json::to_value(e).unwrap();
    assert_eq!(json["time"], "2025-03-01T14:05:07Z");
    assert_eq!(json["groups"][0], "Staff; Sales");
    assert_eq!(json["groups_claim"], "groups");
}

async fn signing_out_ends_a_session_everywhere(db: &Db) {
    let (a, b) = (db.open().await, db.open().await);
    a.start_session(b"s1".to_vec(), "Alice@Contoso.com", 1000)
        .await
        .unwrap();
    assert_eq!(
        b.session_user(b"s1".to_vec(), 999)
            .await
            .unwrap()
            .as_deref(),
        Some("alice@contoso.com")
    );
    assert_eq!(b.session_user(b"s1".to_vec(), 1000).await.unwrap(), None);
    assert_eq!(b.session_user(b"s2".to_vec(), 1).await.unwrap(), None);
    assert!(b.end_session(b"s1".to_vec(), 500).await.unwrap());
    assert!(!a.end_session(b"s1".to_vec(), 501).await.unwrap(), "once");
    assert_eq!(a.session_user(b"s1".to_vec(), 502).await.unwrap(), None);
}

/// A sign-in at the identity provider: what it said (Managed Apple
/// Account, groups, their claim) is kept with the session, for every
/// replica; a code sign-in keeps nothing but the user.
async fn a_session_keeps_what_the_identity_provider_said(db: &Db) {
    let (a, b) = (db.open().await, db.open().await);
    let said = IdpClaims {
        managed_apple_id: Some("alice@appleid.contoso.com".into()),
        groups: Some(ClaimedGroups {
            claim: "groups".into(),
            values: vec![
                "Staff".into(),
                "0b5c4c8e-7f2d-4a9b-8e1f-3c2d1b0a9f8e".into(),
                "a;b,c".into(),
            ],
        }),
    };
    a.start_signed_in(b"idp".to_vec(), "Alice@Contoso.com", said.clone(), 1000)
        .await
        .unwrap();
    assert_eq!(
        b.session(b"idp".to_vec(), 999).await.unwrap(),
        Some(("alice@contoso.com".to_owned(), said))
    );
    // No groups at all is not "groups unknown".
    let none = IdpClaims {
        managed_apple_id: None,
        groups: Some(ClaimedGroups {
            claim: "roles".into(),
            values: Vec::new(),
        }),
    };
    a.start_signed_in(b"empty".to_vec(), "bob@contoso.com", none.clone(), 1000)
        .await
        .unwrap();
    assert_eq!(
        b.session(b"empty".to_vec(), 1).await.unwrap().unwrap().1,
        none
    );
    a.start_session(b"code".to_vec(), "carol@contoso.com", 1000)
        .await
        .unwrap();
    assert_eq!(
        b.session(b"code".to_vec(), 1).await.unwrap(),
        Some(("carol@contoso.com".to_owned(), IdpClaims::default()))
    );
    assert!(b.end_session(b"idp".to_vec(), 2).await.unwrap());
    assert_eq!(a.session(b"idp".to_vec(), 3).await.unwrap(), None);
    assert_eq!(
        a.session(b"code".to_vec(), 1000).await.unwrap(),
        None,
        "expired"
    );
}

/// The callback of a sign-in at the IdP works once: of twenty concurrent
/// finishes on two replicas, exactly one wins; another sign-in is its own.
async fn a_sign_in_is_finished_once_even_when_twenty_try_at_once(db: &Db) {
    let (a, b) = (db.open().await, db.open().await);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                s.finish_flow(b"state-1".to_vec(), 2000, 1000)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
    assert!(
        a.finish_flow(b"state-2".to_vec(), 2000, 1000)
            .await
            .unwrap()
    );
    assert!(
        !b.finish_flow(b"state-2".to_vec(), 2000, 1001)
            .await
            .unwrap()
    );
}

async fn a_secret_is_used_once_even_when_twenty_try_at_once(db: &Db) {
    let (a, b) = (db.open().await, db.open().await);
    let secret = |lookup: &[u8], expires| IssuedSecret {
        lookup: lookup.to_vec(),
        kind: SecretKind::ScepChallenge,
        user: Some("Alice@Contoso.com".into()),
        payload_uuid: "PAYLOAD".into(),
        expires,
        serial: None,
        udid: None,
    };
    a.add_secrets(vec![secret(b"live", 1000), secret(b"old", 100)], 10)
        .await
        .unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { s.use_secret(b"live".to_vec(), 500).await.unwrap() })
        })
        .collect();
    let mut won = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(s) => won.push(s),
            Err(why) => assert_eq!(why, Refused::Used),
        }
    }
    assert_eq!(won.len(), 1, "exactly one of 20 uses wins");
    assert_eq!(won[0].user.as_deref(), Some("alice@contoso.com"));
    assert_eq!(won[0].payload_uuid, "PAYLOAD");
    assert_eq!(won[0].kind, SecretKind::ScepChallenge);
    assert_eq!(
        b.use_secret(b"old".to_vec(), 500).await.unwrap(),
        Err(Refused::Expired)
    );
    assert_eq!(
        b.use_secret(b"nope".to_vec(), 500).await.unwrap(),
        Err(Refused::Unknown)
    );
    let acme = IssuedSecret {
        kind: SecretKind::AcmeClientIdentifier,
        user: None,
        ..secret(b"acme", 1000)
    };
    a.add_secrets(vec![acme.clone()], 10).await.unwrap();
    assert_eq!(b.use_secret(b"acme".to_vec(), 11).await.unwrap(), Ok(acme));
    // Whom a refused secret was issued to, used or expired, for the audit;
    // looking changes nothing.
    let used = b.find_secret(b"live".to_vec()).await.unwrap().unwrap();
    assert_eq!(
        (
            used.user.as_deref(),
            used.payload_uuid.as_str(),
            used.expires
        ),
        (Some("alice@contoso.com"), "PAYLOAD", 1000)
    );
    let old = a.find_secret(b"old".to_vec()).await.unwrap().unwrap();
    assert_eq!(old.expires, 100);
    assert_eq!(a.find_secret(b"nope".to_vec()).await.unwrap(), None);
    let fresh = secret(b"looked-at", 1000);
    a.add_secrets(vec![fresh], 10).await.unwrap();
    assert!(
        b.find_secret(b"looked-at".to_vec())
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        a.use_secret(b"looked-at".to_vec(), 11)
            .await
            .unwrap()
            .is_ok()
    );
}

async fn throttle_buckets_are_shared_and_refill(db: &Db) {
    let (a, b) = (db.open().await, db.open().await);
    let bucket = Bucket {
        capacity: 3,
        refill: Duration::from_secs(10),
    };
    let t0 = 1_000_000;
    // A bucket nobody has used is full; asking leaves no trace.
    assert_eq!(a.take("ip:192.0.2.1", bucket, 0, t0).await.unwrap(), None);
    assert_eq!(a.take("ip:192.0.2.1", bucket, 1, t0).await.unwrap(), None);
    assert_eq!(b.take("ip:192.0.2.1", bucket, 1, t0).await.unwrap(), None);
    assert_eq!(a.take("ip:192.0.2.1", bucket, 0, t0).await.unwrap(), None);
    assert_eq!(b.take("ip:192.0.2.1", bucket, 1, t0).await.unwrap(), None);
    // Empty on both handles; a peek takes nothing and says how long.
    assert_eq!(
        a.take("ip:192.0.2.1", bucket, 0, t0).await.unwrap(),
        Some(Duration::from_secs(10))
    );
    assert_eq!(
        b.take("ip:192.0.2.1", bucket, 1, t0 + 4_000).await.unwrap(),
        Some(Duration::from_secs(6))
    );
    assert_eq!(
        a.take("ip:192.0.2.1", bucket, 1, t0 + 10_000)
            .await
            .unwrap(),
        None
    );
    // A refund gives a token back (seen from the other handle), and never
    // fills a bucket beyond its capacity.
    let t1 = t0 + 10_000;
    a.give("ip:192.0.2.1", bucket, 1, t1).await.unwrap();
    assert_eq!(b.take("ip:192.0.2.1", bucket, 1, t1).await.unwrap(), None);
    assert_eq!(
        b.take("ip:192.0.2.1", bucket, 0, t1).await.unwrap(),
        Some(Duration::from_secs(10))
    );
    b.give("ip:192.0.2.1", bucket, 10, t1).await.unwrap();
    for _ in 0..3 {
        assert_eq!(a.take("ip:192.0.2.1", bucket, 1, t1).await.unwrap(), None);
    }
    assert!(
        a.take("ip:192.0.2.1", bucket, 1, t1)
            .await
            .unwrap()
            .is_some()
    );
    // Giving to a bucket nobody took from leaves it full.
    a.give("never", bucket, 1, t1).await.unwrap();
    assert_eq!(a.take("never", bucket, 3, t1).await.unwrap(), None);
    // Another key is its own bucket.
    assert_eq!(
        a.take("user:alice@contoso.com", bucket, 1, t0)
            .await
            .unwrap(),
        None
    );
    // Twenty at once on a full bucket of five: five pass.
    let five = Bucket {
        capacity: 5,
        refill: Duration::from_secs(3600),
    };
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { s.take("burst", five, 1, t0).await.unwrap().is_none() })
        })
        .collect();
    let mut passed = 0;
    for t in tasks {
        passed += usize::from(t.await.unwrap());
    }
    assert_eq!(passed, 5);
}

async fn expired_state_is_purged(db: &Db) {
    let s = db.open().await;
    let now = 10_000_000;
    s.add_code(
        b"old".to_vec(),
        code("old", "a@contoso.com", now - 1),
        now - 100,
    )
    .await
    .unwrap();
    s.add_code(
        b"new".to_vec(),
        code("new", "a@contoso.com", now + 1),
        now - 100,
    )
    .await
    .unwrap();
    s.start_session(b"old".to_vec(), "a@contoso.com", now - 1)
        .await
        .unwrap();
    s.start_session(b"new".to_vec(), "a@contoso.com", now + 1)
        .await
        .unwrap();
    let secret = |lookup: &[u8], expires| IssuedSecret {
        lookup: lookup.to_vec(),
        kind: SecretKind::ScepChallenge,
        user: None,
        payload_uuid: "P".into(),
        expires,
        serial: None,
        udid: None,
    };
    let grace = store::SECRET_GRACE_SECONDS;
    s.add_secrets(
        vec![secret(b"gone", now - grace - 1), secret(b"late", now - 1)],
        now - 2 * grace,
    )
    .await
    .unwrap();
    let bucket = Bucket {
        capacity: 1,
        refill: Duration::from_secs(1),
    };
    let idle_ms = store::BUCKET_IDLE_SECONDS * 1000;
    s.take("idle", bucket, 1, now * 1000 - idle_ms - 1)
        .await
        .unwrap();
    s.take("busy", bucket, 1, now * 1000).await.unwrap();
    assert!(
        s.finish_flow(b"done".to_vec(), now - 1, now - 600)
            .await
            .unwrap()
    );
    assert!(
        s.finish_flow(b"live".to_vec(), now + 1, now - 600)
            .await
            .unwrap()
    );
    assert_eq!(s.purge(now).await.unwrap(), 5);
    // A finished sign-in still in its time stays finished.
    assert!(!s.finish_flow(b"live".to_vec(), now + 1, now).await.unwrap());
    assert_eq!(
        s.find_code(b"old".to_vec(), 0).await.unwrap(),
        Err(Refused::Unknown)
    );
    assert!(s.find_code(b"new".to_vec(), now).await.unwrap().is_ok());
    assert!(
        s.session_user(b"new".to_vec(), now)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        s.use_secret(b"gone".to_vec(), now).await.unwrap(),
        Err(Refused::Unknown)
    );
    // Within the grace period a late use is refused as expired.
    assert_eq!(
        s.use_secret(b"late".to_vec(), now).await.unwrap(),
        Err(Refused::Expired)
    );
    // The busy bucket is still empty; the idle one was forgotten (full).
    assert!(
        s.take("busy", bucket, 1, now * 1000)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(s.purge(now).await.unwrap(), 0);
}

/// A restriction's device limit counts a user's rows of one event (any
/// case), through either handle.
async fn events_are_counted_by_user_and_event(db: &Db) {
    use aspen::audit::Event;
    let (a, b) = (db.open().await, db.open().await);
    let accepted =
        |user: &str, uuid: &str| Record::secret_check(Some(user), Some(uuid), None, None);
    a.append(
        vec![
            issued("Alice@Contoso.com", "U1"),
            issued("alice@contoso.com", "U2"),
            accepted("alice@contoso.com", "U1"),
            Record::secret_check(Some("alice@contoso.com"), Some("U2"), None, Some("used")),
            issued("bob@contoso.com", "U3"),
            accepted("bob@contoso.com", "U3"),
        ],
        1_740_837_907,
    )
    .await
    .unwrap();
    let count = async |user: &str, event| b.count_events(user, event).await.unwrap();
    assert_eq!(count("alice@contoso.com", Event::Issued).await, 2);
    assert_eq!(count("ALICE@contoso.com", Event::SecretAccepted).await, 1);
    assert_eq!(count("alice@contoso.com", Event::SecretRefused).await, 1);
    assert_eq!(count("bob@contoso.com", Event::SecretAccepted).await, 1);
    assert_eq!(count("carol@contoso.com", Event::Issued).await, 0);
}

/// Automated Device Enrollment's rows name the device (serial number,
/// UDID, product, OS version); `list_by_serial` finds them in any case, and
/// a per-profile secret issued to a device gives its serial and UDID back
/// when it is used or looked up.
async fn a_device_is_recorded_and_found_by_serial(db: &Db) {
    use aspen::model::machine_info::DeviceIds;
    let (a, b) = (db.open().await, db.open().await);
    let device = DeviceIds {
        serial: Some("c02xk1abjg5h".into()),
        udid: Some("00008030-001A2B3C4D5E802E".into()),
        product: Some("iPhone15,2".into()),
        os_version: Some("17.5.1".into()),
    };
    let mut ade = issued("alice@contoso.com", "UUID-ADE").with_device(Some(&device));
    ade.source = Source::Ade;
    let refused = Record::refused(Source::Ade, "MachineInfo is not signed")
        .with_client(Some("192.0.2.9".into()));
    let other = DeviceIds {
        serial: Some("F4GXK2ZZQ1".into()),
        ..DeviceIds::default()
    };
    a.append(
        vec![
            ade,
            refused,
            issued("bob@contoso.com", "UUID-2").with_device(Some(&other)),
            issued("carol@contoso.com", "UUID-3"),
        ],
        1_740_837_907,
    )
    .await
    .unwrap();
    let rows = b.list_by_serial("C02XK1ABJG5H").await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let e = &rows[0];
    assert_eq!(e.channel, "ade");
    assert_eq!(e.serial.as_deref(), Some("C02XK1ABJG5H"), "kept upper-case");
    assert_eq!(e.udid.as_deref(), Some("00008030-001A2B3C4D5E802E"));
    assert_eq!(e.product.as_deref(), Some("iPhone15,2"));
    assert_eq!(e.os_version.as_deref(), Some("17.5.1"));
    assert_eq!(e.payload_uuid.as_deref(), Some("UUID-ADE"));
    assert_eq!(
        b.list_by_serial("c02xk1abjg5h").await.unwrap().len(),
        1,
        "any case"
    );
    assert!(b.list_by_serial("NOSUCH").await.unwrap().is_empty());
    let all = b.list(None).await.unwrap();
    assert_eq!(all[1].event, "refused");
    assert_eq!(all[1].reason.as_deref(), Some("MachineInfo is not signed"));
    assert_eq!(all[1].serial, None);
    assert_eq!(all[3].serial, None);
    let json = serde_json::to_value(e).unwrap();
    assert_eq!(json["serial"], "C02XK1ABJG5H");
    assert_eq!(json["os_version"], "17.5.1");

    let secret = IssuedSecret {
        lookup: b"device".to_vec(),
        kind: SecretKind::ScepChallenge,
        user: None,
        payload_uuid: "UUID-ADE".into(),
        expires: 1000,
        serial: device.serial.clone(),
        udid: device.udid.clone(),
    };
    a.add_secrets(vec![secret], 10).await.unwrap();
    let found = b.find_secret(b"device".to_vec()).await.unwrap().unwrap();
    assert_eq!(found.serial.as_deref(), Some("C02XK1ABJG5H"));
    assert_eq!(found.udid, device.udid);
    let used = b.use_secret(b"device".to_vec(), 11).await.unwrap().unwrap();
    assert_eq!(
        (used.serial.as_deref(), used.udid.as_deref()),
        (Some("C02XK1ABJG5H"), device.udid.as_deref())
    );
}

async fn the_store_says_it_is_writable(db: &Db) {
    let s = db.open().await;
    s.check_writable().await.unwrap();
    s.check_writable().await.unwrap();
    assert_eq!(s.describe(), db.location.describe());
}

// ---- SQLite: the schema's versions ----

/// The store of aspen before schema versions (version 0 with the tables of
/// step 1), holding a choice: opening it migrates it and keeps its rows.
#[tokio::test]
async fn sqlite_migrates_the_previous_version_and_refuses_a_newer_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(store::sqlite::FILE_NAME);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(store::sqlite::MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "INSERT INTO events (time, event, channel, user, policy, choice, kind, ownership)
             VALUES (1, 'choice', 'portal', 'alice@contoso.com', 'BYOD', 'work', 'user-byod', 'personal'),
                    (2, 'choice', 'portal', 'alice@contoso.com', 'BYOD', 'device', 'device-personal', 'personal');
             INSERT INTO invites (lookup, id, user, created, expires) VALUES (x'6b31', 'id1', 'bob@contoso.com', 1, 99999999999);",
        )
        .unwrap();
    }
    let s = store::open(&Location::Sqlite(dir.path().into()))
        .await
        .unwrap();
    assert_eq!(
        s.choice("alice@contoso.com", "BYOD").await.unwrap(),
        Some(Choice::Device),
        "the latest answer became the current choice"
    );
    assert_eq!(s.list(None).await.unwrap().len(), 2);
    assert!(s.find_code(b"k1".to_vec(), 2).await.unwrap().is_ok());
    let version = |p: &std::path::Path| -> i64 {
        rusqlite::Connection::open(p)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(version(&path), store::sqlite::MIGRATIONS.len() as i64);
    drop(s);
    // Reopening a current store changes nothing.
    let s = store::open(&Location::Sqlite(dir.path().into()))
        .await
        .unwrap();
    assert_eq!(s.list(None).await.unwrap().len(), 2);
    drop(s);
    // A store from a newer aspen: a clear error naming [store], no change.
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = store::open(&Location::Sqlite(dir.path().into()))
        .await
        .err()
        .expect("a newer schema is refused")
        .to_string();
    assert!(
        err.starts_with("[store] sqlite:") && err.contains("newer aspen") && err.contains("99"),
        "{err}"
    );
    assert_eq!(version(&path), 99);
}

/// A store at version 2 with a session and an audit row: opening it
/// applies step 3, and both read back as before (no claims, no groups).
#[tokio::test]
async fn sqlite_migrates_version_2_keeping_sessions_and_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(store::sqlite::FILE_NAME);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(store::sqlite::MIGRATIONS[0]).unwrap();
        conn.execute_batch(store::sqlite::MIGRATIONS[1]).unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute_batch(
            "INSERT INTO sessions (id, user, created, expires) VALUES (x'7331', 'alice@contoso.com', 1, 99999999999);
             INSERT INTO events (time, event, channel, user, policy, kind, ownership)
             VALUES (1, 'issued', 'portal', 'alice@contoso.com', 'BYOD', 'user-byod', 'personal');",
        )
        .unwrap();
    }
    let s = store::open(&Location::Sqlite(dir.path().into()))
        .await
        .unwrap();
    assert_eq!(
        s.session(b"s1".to_vec(), 2).await.unwrap(),
        Some(("alice@contoso.com".to_owned(), IdpClaims::default()))
    );
    let rows = s.list(None).await.unwrap();
    assert_eq!((rows.len(), rows[0].groups.as_ref()), (1, None));
    assert!(s.finish_flow(b"f".to_vec(), 10, 1).await.unwrap());
}

/// A new store is private: the folder 0700, the database and its WAL 0600;
/// an existing folder others can read is tightened.
#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = store::open(&Location::Sqlite(state.clone())).await.unwrap();
    s.append(vec![issued("a@contoso.com", "U")], 1)
        .await
        .unwrap();
    assert_eq!(mode(&state), 0o700);
    for name in ["aspen.sqlite3", "aspen.sqlite3-wal", "aspen.sqlite3-shm"] {
        assert_eq!(mode(&state.join(name)), 0o600, "{name}");
    }
    drop(s);
    std::fs::set_permissions(
        state.join("aspen.sqlite3"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    drop(store::open(&Location::Sqlite(state.clone())).await.unwrap());
    assert_eq!(mode(&state.join("aspen.sqlite3")), 0o600);
}

/// `open_existing` never creates a store.
#[tokio::test]
async fn listing_a_missing_sqlite_store_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    assert!(
        store::open_existing(&Location::Sqlite(state.clone()))
            .await
            .unwrap()
            .is_none()
    );
    assert!(!state.exists());
}

// ---- PostgreSQL: the schema's versions, errors, timeouts ----

/// The steps recorded in `aspen_schema_migrations`, as psql prints them.
fn pg_versions(db: &pg::Database) -> Vec<i32> {
    db.psql("SELECT version FROM aspen_schema_migrations ORDER BY version")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

fn pg_location(url: &str) -> Location {
    Location::parse(url, std::path::Path::new("/")).unwrap()
}

fn every_step() -> Vec<i32> {
    (1..=store::postgres::MIGRATIONS.len() as i32).collect()
}

/// An empty database gets every step, each recorded once, even when
/// several replicas open it at the same moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_migrates_an_empty_database_once_for_replicas_starting_together() {
    let Some(db) = tokio::task::spawn_blocking(pg::database).await.unwrap() else {
        return;
    };
    assert_eq!(
        db.psql("SELECT to_regclass('aspen_schema_migrations') IS NULL"),
        "t\n"
    );
    let location = pg_location(&db.url);
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let location = location.clone();
            tokio::spawn(async move { store::open(&location).await.map(drop) })
        })
        .collect();
    for o in opens {
        o.await.unwrap().unwrap();
    }
    assert_eq!(pg_versions(&db), every_step());
    let tables = db.psql(
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables
         WHERE schemaname = 'public'",
    );
    assert_eq!(
        tables.trim(),
        "aspen_schema_migrations,choices,events,health,invites,oidc_flows,secrets,sessions,throttle"
    );
    // The tables are aspen's (its role created them), not the superuser's.
    assert_eq!(
        db.psql("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"),
        format!("{}\n", pg::ROLE)
    );
}

/// A database at version 1 (the audit log and codes) holding two answers
/// and a code: opening it applies step 2, keeps every row and makes the
/// latest answer the current choice; a version from a newer aspen is
/// refused with a clear error, and nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrates_the_previous_version_and_refuses_a_newer_one() {
    let Some(db) = tokio::task::spawn_blocking(pg::database).await.unwrap() else {
        return;
    };
    db.psql_as_aspen(&format!(
        "{}
         CREATE TABLE aspen_schema_migrations (
             version INTEGER PRIMARY KEY, applied TIMESTAMPTZ NOT NULL DEFAULT now());
         INSERT INTO aspen_schema_migrations (version) VALUES (1);
         INSERT INTO events (time, event, channel, email, policy, choice, kind, ownership)
         VALUES (1, 'choice', 'portal', 'alice@contoso.com', 'BYOD', 'work', 'user-byod', 'personal'),
                (2, 'choice', 'portal', 'alice@contoso.com', 'BYOD', 'device', 'device-personal', 'personal');
         INSERT INTO invites (lookup, id, email, created, expires)
         VALUES ('\\x6b31', 'id1', 'bob@contoso.com', 1, 99999999999);",
        store::postgres::MIGRATIONS[0]
    ));
    let location = pg_location(&db.url);
    let s = store::open(&location).await.unwrap();
    assert_eq!(
        s.choice("alice@contoso.com", "BYOD").await.unwrap(),
        Some(Choice::Device),
        "the latest answer became the current choice"
    );
    assert_eq!(s.list(None).await.unwrap().len(), 2);
    assert!(s.find_code(b"k1".to_vec(), 2).await.unwrap().is_ok());
    assert_eq!(pg_versions(&db), every_step());
    drop(s);
    // Reopening a current store changes nothing.
    let s = store::open(&location).await.unwrap();
    assert_eq!(s.list(None).await.unwrap().len(), 2);
    drop(s);
    assert_eq!(pg_versions(&db), every_step());

    db.psql("INSERT INTO aspen_schema_migrations (version) VALUES (99)");
    let err = store::open(&location)
        .await
        .err()
        .expect("a newer schema is refused")
        .to_string();
    let shown = location.describe();
    assert!(
        err.starts_with(&format!("[store] {shown}: ")) && err.contains("newer aspen"),
        "{err}"
    );
    assert!(err.contains("99") && !err.contains(pg::PASSWORD), "{err}");
    let mut expected = every_step();
    expected.push(99);
    assert_eq!(pg_versions(&db), expected);
}

/// A database at version 2 with a session and an audit row: opening it
/// applies step 3, and both read back as before (no claims, no groups).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrates_version_2_keeping_sessions_and_rows() {
    let Some(db) = tokio::task::spawn_blocking(pg::database).await.unwrap() else {
        return;
    };
    db.psql_as_aspen(&format!(
        "{}
         {}
         CREATE TABLE aspen_schema_migrations (
             version INTEGER PRIMARY KEY, applied TIMESTAMPTZ NOT NULL DEFAULT now());
         INSERT INTO aspen_schema_migrations (version) VALUES (1), (2);
         INSERT INTO sessions (id, email, created, expires) VALUES ('\\x7331', 'alice@contoso.com', 1, 99999999999);
         INSERT INTO events (time, event, channel, email, policy, kind, ownership)
         VALUES (1, 'issued', 'portal', 'alice@contoso.com', 'BYOD', 'user-byod', 'personal');",
        store::postgres::MIGRATIONS[0],
        store::postgres::MIGRATIONS[1]
    ));
    let s = store::open(&pg_location(&db.url)).await.unwrap();
    assert_eq!(pg_versions(&db), every_step());
    assert_eq!(
        s.session(b"s1".to_vec(), 2).await.unwrap(),
        Some(("alice@contoso.com".to_owned(), IdpClaims::default()))
    );
    let rows = s.list(None).await.unwrap();
    assert_eq!((rows.len(), rows[0].groups.as_ref()), (1, None));
    assert!(s.finish_flow(b"f".to_vec(), 10, 1).await.unwrap());
}

/// Opening a store that cannot be used: a closed port, a wrong password, a
/// missing database, a server that never answers. Each is one error naming
/// [store] and the URL without its password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_errors_name_the_store_and_never_the_password() {
    let Some(db) = tokio::task::spawn_blocking(pg::database).await.unwrap() else {
        return;
    };
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    // Accepts connections (the kernel does) and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let wrong = "wrong-test-only-password";
    let cases = [
        (
            format!(
                "postgres://aspen:{}@127.0.0.1:{closed_port}/x",
                pg::PASSWORD
            ),
            "cannot connect",
        ),
        (
            db.url_with_password(wrong),
            "password authentication failed",
        ),
        (
            format!(
                "postgres://aspen:{}@127.0.0.1:{}/no_such_db",
                pg::PASSWORD,
                db.port()
            ),
            "database \"no_such_db\" does not exist",
        ),
        (
            format!(
                "postgres://aspen:{}@127.0.0.1:{silent_port}/x",
                pg::PASSWORD
            ),
            "cannot connect",
        ),
    ];
    for (url, why) in cases {
        let location = pg_location(&url);
        let err = store::open(&location)
            .await
            .err()
            .unwrap_or_else(|| panic!("{} opened", location.describe()))
            .to_string();
        assert!(
            err.starts_with(&format!("[store] {}: ", location.describe())) && err.contains(why),
            "{err}"
        );
        assert!(!err.contains(pg::PASSWORD) && !err.contains(wrong), "{err}");
    }
    drop(silent);
}

/// A call that would wait on a lock someone holds forever fails after the
/// statement timeout, and the store works again once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_database_fails_calls_instead_of_hanging_them() {
    let Some(db) = tokio::task::spawn_blocking(pg::database).await.unwrap() else {
        return;
    };
    let s = store::open(&pg_location(&db.url)).await.unwrap();
    let now = aspen::audit::now();
    s.add_code(b"k".to_vec(), code("id", "a@contoso.com", now + 600), now)
        .await
        .unwrap();
    let held = db.hold("BEGIN; LOCK TABLE invites IN ACCESS EXCLUSIVE MODE;");
    let err = s
        .use_code(b"k".to_vec(), now)
        .await
        .expect_err("a locked table fails the call")
        .to_string();
    assert!(
        err.starts_with("[store] postgres://aspen@127.0.0.1:") && err.contains("statement timeout"),
        "{err}"
    );
    drop(held);
    assert!(s.use_code(b"k".to_vec(), now).await.unwrap());
}

/// The CLI with `[store] url_env`: `aspen issued` on an empty database
/// lists nothing and creates nothing; a wrong password is one error line
/// naming [store], exit 1, no password anywhere.
#[test]
fn the_cli_reads_the_url_from_the_environment_and_says_what_is_wrong() {
    let Some(db) = pg::database() else { return };
    let ws = common::Workspace::new(&format!(
        "{}\n[store]\nurl_env = \"ASPEN_DATABASE_URL\"\n",
        common::demo_settings()
    ));
    let settings = ws.settings();
    let args = ["issued", "-c", settings.to_str().unwrap(), "--json"];
    let out = common::ok(common::aspen_env(&args, &[("ASPEN_DATABASE_URL", &db.url)]));
    assert_eq!(String::from_utf8(out).unwrap().trim(), "[]");
    assert_eq!(
        db.psql("SELECT to_regclass('aspen_schema_migrations') IS NULL"),
        "t\n",
        "listing created no schema"
    );
    let wrong = db.url_with_password("wrong-test-only-password");
    let out = common::aspen_env(&args, &[("ASPEN_DATABASE_URL", &wrong)]);
    assert!(out.stdout.is_empty());
    let err = common::fails(out);
    let shown = format!("postgres://aspen@127.0.0.1:{}/{}", db.port(), db.name);
    assert!(
        err.contains(&format!(
            "[store] {shown}: cannot connect: password authentication failed"
        )),
        "{err}"
    );
    assert!(!err.contains("wrong-test-only-password") && !err.contains(pg::PASSWORD));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// `sslmode=require`: aspen talks TLS to the server and checks its
/// certificate against the trust store, here the test server's own
/// certificate through SSL_CERT_FILE; without it the handshake fails with a
/// clear error (so the connection really was TLS, and verified).
#[test]
fn sslmode_require_connects_over_verified_tls() {
    let Some(db) = pg::database() else { return };
    if !common::have_tool("openssl", "openssl") {
        return;
    }
    let cert = pg::cluster()
        .unwrap()
        .tls_cert
        .clone()
        .expect("the server's certificate");
    let ws = common::Workspace::new(&format!(
        "{}\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nsecret_file = \"portal.secret\"\n\n[store]\nurl_env = \"ASPEN_DATABASE_URL\"\n",
        common::demo_settings()
    ));
    {
        use std::os::unix::fs::PermissionsExt;
        let secret = ws.path("portal.secret");
        std::fs::write(&secret, format!("{}\n", "5a".repeat(32))).unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let settings = ws.settings();
    let url = format!("{}?sslmode=require", db.url);
    let args = [
        "invite",
        "-c",
        settings.to_str().unwrap(),
        "--user",
        "bob@contoso.com",
    ];
    let trusted = [
        ("ASPEN_DATABASE_URL", url.as_str()),
        ("SSL_CERT_FILE", cert.to_str().unwrap()),
    ];
    common::ok(common::aspen_env(&args, &trusted));
    assert_eq!(db.psql("SELECT count(*) FROM invites"), "1\n");
    let empty = ws.path("no-cas.pem");
    std::fs::write(&empty, "").unwrap();
    let untrusted = [
        ("ASPEN_DATABASE_URL", url.as_str()),
        ("SSL_CERT_FILE", empty.to_str().unwrap()),
        ("SSL_CERT_DIR", ws.dir.path().to_str().unwrap()),
    ];
    let err = common::fails(common::aspen_env(&args, &untrusted));
    assert!(
        err.contains("[store] postgres://aspen@127.0.0.1:")
            && err.contains("cannot connect")
            && err.contains("certificate verify failed"),
        "{err}"
    );
    assert!(!err.contains(pg::PASSWORD), "{err}");
    assert_eq!(db.psql("SELECT count(*) FROM invites"), "1\n");
}
