//! `Events::find` in every backend: each condition of a `Filter` in SQL,
//! alone and together, and `limit` keeping the newest rows.

use super::{Db, backends, issued};
use aspen::audit::{Event, Record, Source};
use aspen::store::Filter;

every_backend!(the_audit_log_is_filtered_in_the_store);

async fn the_audit_log_is_filtered_in_the_store(db: &Db) {
    let s = db.open().await;
    let a = "0A1B2C3D-0000-4000-8000-00000000000A";
    let b = "0A1B2C3D-0000-4000-8000-00000000000B";
    s.append(vec![issued("alice@contoso.com", a)], 100)
        .await
        .unwrap();
    s.append(
        vec![
            Record::secret_check(Some("alice@contoso.com"), Some(a), None, Some("used")),
            Record {
                serial: Some("c02xk1abjg5h".into()),
                ..Record::revoked(None, Some(b), "1 identity secret revoked".into())
            },
        ],
        200,
    )
    .await
    .unwrap();
    s.append(vec![issued("bob@contoso.com", b)], 300)
        .await
        .unwrap();
    let find = |f: Filter| {
        let s = s.clone();
        async move {
            s.find(f)
                .await
                .unwrap()
                .into_iter()
                .map(|e| (e.time, e.event))
                .collect::<Vec<_>>()
        }
    };
    let all = find(Filter::default()).await;
    assert_eq!(all.len(), 4);
    let at = |t: i64, e: &str| (t, e.to_owned());
    assert_eq!(
        find(Filter {
            since: Some(200),
            until: Some(200),
            ..Filter::default()
        })
        .await,
        [at(200, "secret-refused"), at(200, "revoked")]
    );
    assert_eq!(
        find(Filter {
            event: Some(Event::Issued),
            ..Filter::default()
        })
        .await,
        [at(100, "issued"), at(300, "issued")]
    );
    assert_eq!(
        find(Filter {
            channel: Some(Source::Scep),
            ..Filter::default()
        })
        .await,
        [at(200, "secret-refused")]
    );
    assert_eq!(
        find(Filter {
            payload_uuid: Some(b.to_ascii_lowercase()),
            ..Filter::default()
        })
        .await,
        [at(200, "revoked"), at(300, "issued")]
    );
    assert_eq!(
        find(Filter {
            limit: Some(3),
            ..Filter::default()
        })
        .await,
        [
            at(200, "secret-refused"),
            at(200, "revoked"),
            at(300, "issued")
        ],
        "the newest three, oldest first"
    );
    assert_eq!(
        find(Filter {
            user: Some("ALICE@contoso.com".into()),
            since: Some(150),
            limit: Some(10),
            ..Filter::default()
        })
        .await,
        [at(200, "secret-refused")]
    );
    assert_eq!(
        find(Filter {
            serial: Some("C02XK1ABJG5H".into()),
            channel: Some(Source::Cli),
            ..Filter::default()
        })
        .await,
        [at(200, "revoked")]
    );
    assert!(
        find(Filter {
            since: Some(301),
            ..Filter::default()
        })
        .await
        .is_empty()
    );
}
