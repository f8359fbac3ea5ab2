//! Revocation in every backend: the codes still usable are listed and
//! ended per user; identity secrets not yet used are ended per profile or
//! per user; both are then refused as revoked, while used and expired ones
//! keep their reason.

use super::{Db, backends, code};
use aspen::secret::{IssuedSecret, SecretKind};
use aspen::store::{Refused, Revoke};

every_backend!(
    codes_still_usable_are_listed_and_revoked_per_user,
    secrets_not_yet_used_are_revoked_per_profile_or_user,
);

async fn codes_still_usable_are_listed_and_revoked_per_user(db: &Db) {
    let (a, b) = (db.open().await, db.open().await);
    a.add_code(b"a1".to_vec(), code("1", "alice@contoso.com", 300), 10)
        .await
        .unwrap();
    a.add_code(b"a2".to_vec(), code("2", "Alice@Contoso.com", 200), 10)
        .await
        .unwrap();
    a.add_code(b"b1".to_vec(), code("3", "bob@contoso.com", 400), 10)
        .await
        .unwrap();
    a.add_code(b"old".to_vec(), code("4", "alice@contoso.com", 50), 10)
        .await
        .unwrap();
    a.add_code(b"used".to_vec(), code("5", "alice@contoso.com", 500), 10)
        .await
        .unwrap();
    assert!(a.use_code(b"used".to_vec(), 60).await.unwrap());

    let listed = |v: Vec<aspen::store::Invite>| {
        v.into_iter()
            .map(|i| (i.id, i.user, i.expires))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        listed(b.outstanding_codes(None, 100).await.unwrap()),
        [
            ("2".into(), "alice@contoso.com".into(), 200),
            ("1".into(), "alice@contoso.com".into(), 300),
            ("3".into(), "bob@contoso.com".into(), 400),
        ],
        "by user, then expiry; not the expired or used ones"
    );
    assert_eq!(
        b.outstanding_codes(Some("BOB@contoso.com"), 100)
            .await
            .unwrap()
            .len(),
        1
    );

    assert_eq!(b.revoke_codes("ALICE@contoso.com", 100).await.unwrap(), 2);
    for lookup in [b"a1", b"a2"] {
        assert_eq!(
            a.find_code(lookup.to_vec(), 101).await.unwrap(),
            Err(Refused::Revoked)
        );
        assert!(!a.use_code(lookup.to_vec(), 101).await.unwrap());
    }
    assert_eq!(
        a.find_code(b"used".to_vec(), 101).await.unwrap(),
        Err(Refused::Used),
        "a used code stays used"
    );
    assert_eq!(
        listed(a.outstanding_codes(None, 101).await.unwrap()),
        [("3".into(), "bob@contoso.com".into(), 400)]
    );
    assert!(
        a.unused_code("alice@contoso.com", 101, 1000)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(a.revoke_codes("alice@contoso.com", 102).await.unwrap(), 0);
    assert!(a.find_code(b"b1".to_vec(), 102).await.unwrap().is_ok());
}

async fn secrets_not_yet_used_are_revoked_per_profile_or_user(db: &Db) {
    let (a, b) = (db.open().await, db.open().await);
    let secret = |lookup: &[u8], user: Option<&str>, uuid: &str, expires| IssuedSecret {
        lookup: lookup.to_vec(),
        kind: SecretKind::ScepChallenge,
        user: user.map(str::to_owned),
        payload_uuid: uuid.into(),
        expires,
        serial: None,
        udid: None,
    };
    a.add_secrets(
        vec![
            secret(b"p1", Some("bob@contoso.com"), "P", 1000),
            secret(b"p2", Some("bob@contoso.com"), "P", 1000),
            secret(b"p-used", Some("bob@contoso.com"), "P", 1000),
            secret(b"p-old", Some("bob@contoso.com"), "P", 100),
            secret(b"q", Some("Alice@Contoso.com"), "Q", 1000),
            secret(b"r", Some("alice@contoso.com"), "R", 1000),
            secret(b"device", None, "D", 1000),
        ],
        10,
    )
    .await
    .unwrap();
    assert!(b.use_secret(b"p-used".to_vec(), 20).await.unwrap().is_ok());

    let mut ended = b
        .revoke_secrets(Revoke::Profile("P".into()), 200)
        .await
        .unwrap();
    ended.sort_by(|x, y| x.lookup.cmp(&y.lookup));
    assert_eq!(
        ended
            .iter()
            .map(|s| (
                s.lookup.as_slice(),
                s.user.as_deref(),
                s.payload_uuid.as_str()
            ))
            .collect::<Vec<_>>(),
        [
            (&b"p1"[..], Some("bob@contoso.com"), "P"),
            (&b"p2"[..], Some("bob@contoso.com"), "P"),
        ],
        "neither the used nor the expired one"
    );
    for (lookup, why) in [
        (&b"p1"[..], Refused::Revoked),
        (b"p2", Refused::Revoked),
        (b"p-used", Refused::Used),
        (b"p-old", Refused::Expired),
    ] {
        assert_eq!(
            a.use_secret(lookup.to_vec(), 201).await.unwrap(),
            Err(why),
            "{}",
            String::from_utf8_lossy(lookup)
        );
    }
    // Whose it was stays known, for the refusal's audit row.
    let found = a.find_secret(b"p1".to_vec()).await.unwrap().unwrap();
    assert_eq!(found.user.as_deref(), Some("bob@contoso.com"));

    let mut ended = a
        .revoke_secrets(Revoke::User("ALICE@contoso.com".into()), 300)
        .await
        .unwrap();
    ended.sort_by(|x, y| x.payload_uuid.cmp(&y.payload_uuid));
    let uuids: Vec<_> = ended.iter().map(|s| s.payload_uuid.as_str()).collect();
    assert_eq!(uuids, ["Q", "R"]);
    assert_eq!(
        b.use_secret(b"q".to_vec(), 301).await.unwrap(),
        Err(Refused::Revoked)
    );
    assert!(
        b.revoke_secrets(Revoke::User("alice@contoso.com".into()), 302)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(b.use_secret(b"device".to_vec(), 303).await.unwrap().is_ok());
}
