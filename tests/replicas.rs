//! Two `aspen serve` replicas on one PostgreSQL database, as behind a load
//! balancer without sticky sessions: whatever one replica did, the other
//! knows at once — codes used, sessions, answers, the audit log — and when
//! one dies mid-load the other goes on, with every profile handed out on
//! record. Loopback only; every loop is bounded.

use crate::common;
use crate::pg;
use crate::server;

use server::{Server, Visitor, client, field, header, set_cookie};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// One PostgreSQL database and two replicas on it (`None`: PostgreSQL is
/// not installed, after a loud skip).
fn replicas() -> Option<(pg::Database, Server, Server)> {
    let db = pg::database()?;
    let mut servers = Server::replicas(2, &db.url);
    let b = servers.pop().unwrap();
    let a = servers.pop().unwrap();
    Some((db, a, b))
}

async fn start() -> Option<(pg::Database, Server, Server)> {
    tokio::task::spawn_blocking(replicas).await.unwrap()
}

/// The well-known answer's `Version` for `user`, from `on`.
async fn well_known_version(on: &Server, user: &str) -> String {
    let res = client()
        .get(format!("{}/.well-known/com.apple.remotemanagement", on.url))
        .query(&[("user-identifier", user), ("model-family", "iPhone")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    body["Servers"][0]["Version"].as_str().unwrap().to_owned()
}

/// `aspen issued --json` on the replicas' settings and database.
fn issued(s: &Server) -> Vec<serde_json::Value> {
    let out = common::ok(common::aspen_env(
        &["issued", "-c", s.ws.settings().to_str().unwrap(), "--json"],
        &s.env(),
    ));
    serde_json::from_slice(&out).unwrap()
}

fn count(rows: &[serde_json::Value], event: &str, user: &str, channel: &str) -> usize {
    rows.iter()
        .filter(|r| r["event"] == event && r["user"] == user && r["channel"] == channel)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_used_on_one_replica_is_refused_on_the_other_and_sessions_are_shared() {
    let Some((_db, a, b)) = start().await else {
        return;
    };
    let code = a.invite("bob@contoso.com");
    let mut bob = Visitor::default();
    assert_eq!(bob.sign_in(&a, &code).await, 303);
    assert!(bob.cookies.contains_key("aspen_session"));
    let mut thief = Visitor::default();
    assert_eq!(
        thief.sign_in(&b, &code).await,
        401,
        "used on A, refused on B"
    );

    // The session started on A is good on B, and signing out on B ends it
    // on A too: a copy of the cookie is worth nothing afterwards.
    let html = bob.page(&b, "/access").await;
    assert!(html.contains("Executives"), "{html}");
    let copy = bob.cookies["aspen_session"].clone();
    let res = bob.post(&b, "/signout", &html, &[]).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("You are signed out"));
    assert!(!bob.cookies.contains_key("aspen_session"), "cookie cleared");
    let mut replay = Visitor::default();
    replay.cookies.insert("aspen_session".into(), copy);
    let res = replay.get(&a, "/access").await;
    assert_eq!(
        (res.status().as_u16(), header(&res, "location")),
        (303, "/signin".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_twenty_parallel_redemptions_across_two_replicas_one_wins() {
    let Some((_db, a, b)) = start().await else {
        return;
    };
    let code = a.invite("carol@contoso.com");
    // Twenty sign-in pages, half from each replica, then every form posted
    // at once.
    let mut forms = Vec::new();
    for i in 0..20 {
        let on = if i % 2 == 0 { &a } else { &b };
        let mut v = Visitor::default();
        let html = v.page(on, "/signin").await;
        forms.push((on.url.clone(), v.cookie_header(), field(&html, "csrf")));
    }
    let gate = Arc::new(tokio::sync::Barrier::new(forms.len()));
    let tasks: Vec<_> = forms
        .into_iter()
        .map(|(base, cookie, csrf)| {
            let (gate, code) = (gate.clone(), code.clone());
            tokio::spawn(async move {
                let request = client()
                    .post(format!("{base}/signin"))
                    .header("cookie", cookie)
                    .form(&[("csrf", csrf.as_str()), ("code", code.as_str())]);
                gate.wait().await;
                let res = request.send().await.unwrap();
                (base, res.status().as_u16())
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let wins: Vec<_> = statuses.iter().filter(|(_, s)| *s == 303).collect();
    assert_eq!(wins.len(), 1, "exactly one sign-in: {statuses:?}");
    assert!(
        statuses.iter().all(|(_, s)| *s == 303 || *s == 401),
        "the others are refused as a bad code: {statuses:?}"
    );
    for replica in [&a.url, &b.url] {
        assert_eq!(
            statuses.iter().filter(|(base, _)| base == replica).count(),
            10
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_given_through_one_replica_steers_the_others_well_known_answer() {
    let Some((_db, a, b)) = start().await else {
        return;
    };
    let alice = "alice@contoso.com";
    assert_eq!(
        well_known_version(&b, alice).await,
        "mdm-byod",
        "no answer yet"
    );
    let mut v = Visitor::default();
    assert_eq!(v.sign_in(&a, &a.invite(alice)).await, 303);
    let html = v.page(&a, "/choose").await;
    let res = v.post(&a, "/choose", &html, &[("owner", "personal")]).await;
    assert_eq!(header(&res, "location"), "/choose/scope");
    let html = v.page(&a, "/choose/scope").await;
    let res = v
        .post(&a, "/choose/scope", &html, &[("scope", "device")])
        .await;
    assert_eq!(header(&res, "location"), "/privacy");
    assert_eq!(well_known_version(&b, alice).await, "mdm-adde");
    // Changed again, through the other replica this time.
    let html = v.page(&b, "/choose/scope").await;
    v.post(&b, "/choose/scope", &html, &[("scope", "work")])
        .await;
    assert_eq!(well_known_version(&a, alice).await, "mdm-byod");
    assert_eq!(well_known_version(&b, alice).await, "mdm-byod");
}

/// Apple's account-driven steps 1–4 for `user` with `code`, every request
/// sent to `on`; returns the status of the final profile request.
async fn enroll_account_driven(on: &Server, user: &str, code: &str) -> u16 {
    let http = client();
    assert_eq!(well_known_version(on, user).await, "mdm-byod");
    let enroll = format!("{}/account-driven/enroll", on.url);
    let res = http
        .post(&enroll)
        .header("content-type", "application/xml")
        .body(server::iphone_18())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(header(&res, "www-authenticate").contains("/account-driven/login"));
    let login = format!("{}/account-driven/login", on.url);
    let res = http
        .get(&login)
        .query(&[("user-identifier", user)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let csrf_cookie = set_cookie(&res, "aspen_csrf").unwrap();
    let html = res.text().await.unwrap();
    let res = http
        .post(&login)
        .header("cookie", csrf_cookie)
        .form(&[
            ("csrf", field(&html, "csrf").as_str()),
            ("user_identifier", user),
            ("code", code),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    let location = header(&res, "location");
    let token = location.split("access-token=").nth(1).unwrap().to_owned();
    let res = http
        .post(&enroll)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/xml")
        .body(server::iphone_18())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    if status == 200 {
        assert!(!res.bytes().await.unwrap().is_empty());
    }
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aspen_issued_lists_what_both_replicas_issued() {
    let Some((_db, a, b)) = start().await else {
        return;
    };
    let mut bob = Visitor::default();
    assert_eq!(bob.sign_in(&a, &a.invite("bob@contoso.com")).await, 303);
    let res = bob.get(&a, "/enroll/profile.mobileconfig").await;
    assert_eq!(res.status(), 200);
    let sha = aspen::audit::sha256_hex(&res.bytes().await.unwrap());
    let carol = "carol@contoso.com";
    assert_eq!(
        enroll_account_driven(&b, carol, &a.invite(carol)).await,
        200
    );
    let rows = issued(&a);
    assert_eq!(count(&rows, "issued", "bob@contoso.com", "portal"), 1);
    assert_eq!(count(&rows, "issued", carol, "account-driven"), 1);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let bob_row = rows
        .iter()
        .find(|r| r["user"] == "bob@contoso.com")
        .unwrap();
    assert_eq!(bob_row["sha256"], sha);
    assert_eq!(bob_row["client"], "127.0.0.1");
}

/// Load on both replicas; replica A is killed (SIGKILL) once it has served
/// 40 downloads. B keeps serving, and every download either one answered
/// 200 is in the audit log: B's exactly, A's at least (A may have recorded a
/// few it never got to answer, at most as many as failed on it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_replica_under_load_loses_no_audit_row() {
    const WORKERS: usize = 4;
    const MAX_A: usize = 100;
    const MAX_B: usize = 300;
    const AFTER_KILL: usize = 25;
    let Some((_db, mut a, b)) = start().await else {
        return;
    };
    let mut bob = Visitor::default();
    assert_eq!(bob.sign_in(&a, &a.invite("bob@contoso.com")).await, 303);
    let mut alice = Visitor::default();
    assert_eq!(alice.sign_in(&b, &b.invite("alice@contoso.com")).await, 303);
    let html = alice.page(&b, "/choose").await;
    alice
        .post(&b, "/choose", &html, &[("owner", "personal")])
        .await;
    let html = alice.page(&b, "/choose/scope").await;
    alice
        .post(&b, "/choose/scope", &html, &[("scope", "device")])
        .await;

    #[derive(Default)]
    struct Tally {
        ok_a: AtomicUsize,
        failed_a: AtomicUsize,
        ok_b: AtomicUsize,
        failed_b: AtomicUsize,
        ok_b_after_kill: AtomicUsize,
        killed: AtomicBool,
    }
    let tally = Arc::new(Tally::default());
    let enough_on_a = Arc::new(tokio::sync::Notify::new());
    let download = |base: &str| format!("{base}/enroll/profile.mobileconfig");
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        // Bob's downloads go to A until it dies.
        let (t, enough, url) = (tally.clone(), enough_on_a.clone(), download(&a.url));
        let cookie = bob.cookie_header();
        workers.push(tokio::spawn(async move {
            let http = client();
            let tally = t;
            for _ in 0..MAX_A {
                let killed = tally.killed.load(Ordering::SeqCst);
                let ok = match http.get(&url).header("cookie", &cookie).send().await {
                    Ok(res) if res.status() == 200 => res.bytes().await.is_ok(),
                    _ => false,
                };
                if ok {
                    if tally.ok_a.fetch_add(1, Ordering::SeqCst) + 1 == 40 {
                        enough.notify_one();
                    }
                } else {
                    tally.failed_a.fetch_add(1, Ordering::SeqCst);
                }
                if killed {
                    break;
                }
            }
        }));
        // Alice's go to B throughout.
        let (t, url) = (tally.clone(), download(&b.url));
        let cookie = alice.cookie_header();
        workers.push(tokio::spawn(async move {
            let http = client();
            let tally = t;
            let mut after_kill = 0;
            for _ in 0..MAX_B {
                let killed = tally.killed.load(Ordering::SeqCst);
                let ok = match http.get(&url).header("cookie", &cookie).send().await {
                    Ok(res) if res.status() == 200 => res.bytes().await.is_ok(),
                    _ => false,
                };
                if ok {
                    tally.ok_b.fetch_add(1, Ordering::SeqCst);
                } else {
                    tally.failed_b.fetch_add(1, Ordering::SeqCst);
                }
                if killed {
                    after_kill += 1;
                    if ok {
                        tally.ok_b_after_kill.fetch_add(1, Ordering::SeqCst);
                    }
                    if after_kill == AFTER_KILL {
                        break;
                    }
                }
            }
        }));
    }
    tokio::time::timeout(std::time::Duration::from_secs(120), enough_on_a.notified())
        .await
        .unwrap_or_else(|_| panic!("A never served 40 downloads: {}", a.log()));
    a.kill();
    tally.killed.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    let t = &*tally;
    let (ok_a, failed_a) = (
        t.ok_a.load(Ordering::SeqCst),
        t.failed_a.load(Ordering::SeqCst),
    );
    let ok_b = t.ok_b.load(Ordering::SeqCst);
    assert_eq!(t.failed_b.load(Ordering::SeqCst), 0, "B never failed");
    assert!(
        t.ok_b_after_kill.load(Ordering::SeqCst) >= WORKERS * AFTER_KILL,
        "B served after A died"
    );
    assert!(ok_a >= 40);
    // A session started on A still works on B: A's users fail over.
    let res = bob.get(&b, "/enroll/profile.mobileconfig").await;
    assert_eq!(res.status(), 200);
    let rows = issued(&b);
    let on_a = count(&rows, "issued", "bob@contoso.com", "portal");
    let on_b = count(&rows, "issued", "alice@contoso.com", "portal");
    assert_eq!(on_b, ok_b, "every download B answered is recorded, once");
    assert!(
        (ok_a + 1..=ok_a + failed_a + 1).contains(&on_a),
        "A's {ok_a} answered downloads (and the one B served) are recorded: {on_a} rows, {failed_a} failed on A"
    );
}
