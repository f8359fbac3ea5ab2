//! `aspen serve` on the open internet: each finding of issue 9, reproduced
//! against a real server on a free loopback port (or the real binary) and
//! shown fixed. Finding 4 (bulk and the directory's rule) is in
//! tests/bulk.rs, next to the other bulk tests.

use crate::common;
use crate::server;

use server::{Server, client, field, header, keys, set_cookie, tls_pair};

/// Finding 3: a portal secret that group or others can read is refused by
/// every command that loads or guards it, naming the file and the fix.
#[cfg(unix)]
#[test]
fn a_secret_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let ws = common::Workspace::new(&format!(
        "{}\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nsecret_file = \"portal.secret\"\nstate_dir = \"state\"\n",
        common::demo_settings()
    ));
    let secret = ws.path("portal.secret");
    // As `openssl rand -hex 32 > FILE` makes it under the usual umask.
    std::fs::write(&secret, "5a".repeat(32) + "\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = ws.settings();
    let config = config.to_str().unwrap();
    for args in [
        &["serve", "-c", config, "--listen", "127.0.0.1:0", "--quiet"][..],
        &["invite", "-c", config, "--user", "bob@contoso.com"],
        &["issued", "-c", config],
    ] {
        let err = common::fails(common::aspen(args));
        assert!(
            err.contains(&secret.display().to_string())
                && err.contains("mode 0644")
                && err.contains("chmod 600")
                && err.contains("(umask 077; openssl rand -hex 32 > FILE)"),
            "{args:?}: {err}"
        );
        assert!(!err.contains(&"5a".repeat(32)), "never the secret: {err}");
    }
    // Nothing was written for the refused invite.
    assert!(!ws.path("state").join("aspen.sqlite3").exists());
    // Private again: the same commands work.
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    common::ok(common::aspen(&[
        "invite",
        "-c",
        config,
        "--user",
        "bob@contoso.com",
    ]));
    common::ok(common::aspen(&["issued", "-c", config]));
    // The store the invite made is private (0700 folder, 0600 file).
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&ws.path("state")), 0o700);
    assert_eq!(mode(&ws.path("state").join("aspen.sqlite3")), 0o600);
}

/// Finding 3, second half: an existing state folder and database that the
/// umask left readable are tightened when a command opens them.
#[cfg(unix)]
#[test]
fn an_existing_state_folder_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let ws = common::Workspace::new(&format!(
        "{}\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nsecret_file = \"portal.secret\"\nstate_dir = \"state\"\n",
        common::demo_settings()
    ));
    let secret = ws.path("portal.secret");
    std::fs::write(&secret, "5a".repeat(32) + "\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = ws.settings();
    let config = config.to_str().unwrap();
    common::ok(common::aspen(&[
        "invite",
        "-c",
        config,
        "--user",
        "bob@contoso.com",
    ]));
    let (dir, db) = (ws.path("state"), ws.path("state").join("aspen.sqlite3"));
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    common::ok(common::aspen(&["issued", "-c", config]));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&dir), mode(&db)), (0o700, 0o600));
}

/// Finding 7: behind an authenticating proxy, a request with the trusted
/// header twice (a proxy that appends instead of replacing) is a 400, on
/// every route, and signs nobody in.
#[tokio::test]
async fn a_doubled_trusted_header_is_refused() {
    let s = Server::start("auth = \"header\"\ntrusted_header = \"X-Remote-User\"\n");
    for path in [
        "/access",
        "/account-driven/login?user-identifier=bob@contoso.com",
    ] {
        let res = client()
            .get(format!("{}{path}", s.url))
            .header("x-remote-user", "bob@contoso.com")
            .header("x-remote-user", "alice@contoso.com")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{path}");
        assert!(res.headers().get("location").is_none(), "{path}");
        let body = res.text().await.unwrap();
        assert!(!body.contains("@contoso.com"), "{path}: {body}");
    }
    // One value is still how a user signs in (so the 400 was about the
    // second value).
    let res = client()
        .get(format!(
            "{}/account-driven/login?user-identifier=bob@contoso.com",
            s.url
        ))
        .header("x-remote-user", "bob@contoso.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    assert!(header(&res, "location").starts_with("apple-remotemanagement-user-login://"));
}

/// Signs `user` in as a browser would: the cookies to send afterwards.
async fn sign_in(s: &Server, user: &str) -> String {
    let res = client()
        .get(format!("{}/signin", s.url))
        .send()
        .await
        .unwrap();
    let pre = set_cookie(&res, "aspen_csrf").unwrap();
    let html = res.text().await.unwrap();
    let res = client()
        .post(format!("{}/signin", s.url))
        .header("cookie", &pre)
        .form(&[
            ("csrf", field(&html, "csrf").as_str()),
            ("code", s.invite(user).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let session = set_cookie(&res, "aspen_session").unwrap();
    format!("{pre}; {session}")
}

/// The CSRF token of a page, fetched with `cookies`.
async fn form_token(s: &Server, path: &str, cookies: &str) -> String {
    let res = client()
        .get(format!("{}{path}", s.url))
        .header("cookie", cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{path}");
    field(&res.text().await.unwrap(), "csrf")
}

/// Posts Alice's answer "the organisation owns this device".
async fn choose_corporate(
    s: &Server,
    cookies: &str,
    token: &str,
    origin: Option<&str>,
) -> reqwest::Response {
    let mut req = client()
        .post(format!("{}/choose", s.url))
        .header("cookie", cookies)
        .form(&[("csrf", token), ("owner", "corporate")]);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.unwrap()
}

fn choices(s: &Server) -> usize {
    let out = common::ok(common::aspen(&[
        "issued",
        "-c",
        s.ws.settings().to_str().unwrap(),
        "--json",
    ]));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
    rows.iter().filter(|r| r["event"] == "choice").count()
}

/// Finding 5: a CSRF cookie the client makes up is never a binding (even
/// with a token computed the way the old binding was), a token is bound to
/// its session, and a form from another origin is refused.
#[tokio::test]
async fn forged_csrf_cookies_foreign_sessions_and_other_origins_are_refused() {
    let s = Server::start("");
    // An attacker-chosen cookie, with the token the old double-submit
    // scheme would have accepted for it (the tests know the key).
    let forged = "AAAAAAAAAAAAAAAAAAAAAA";
    for token in [keys().csrf(forged), keys().csrf(&format!("p:{forged}:"))] {
        let res = client()
            .post(format!("{}/signin", s.url))
            .header("cookie", format!("aspen_csrf={forged}"))
            .form(&[
                ("csrf", token.as_str()),
                ("code", s.invite("bob@contoso.com").as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        // The server replaces the made-up value with one it issued.
        let fresh = set_cookie(&res, "aspen_csrf").unwrap();
        assert_ne!(fresh, format!("aspen_csrf={forged}"));
        assert!(res.headers().get("location").is_none());
    }

    // Two sessions of Alice: the token of one does not pass for the other.
    let first = sign_in(&s, "alice@contoso.com").await;
    let second = sign_in(&s, "alice@contoso.com").await;
    let first_token = form_token(&s, "/choose", &first).await;
    let res = choose_corporate(&s, &second, &first_token, None).await;
    assert_eq!(res.status(), 403);
    // Nor does a token made before signing in.
    let pre_token = {
        let pre = first.split("; ").next().unwrap();
        let res = client()
            .get(format!("{}/signin", s.url))
            .header("cookie", pre)
            .send()
            .await
            .unwrap();
        field(&res.text().await.unwrap(), "csrf")
    };
    assert_eq!(
        choose_corporate(&s, &first, &pre_token, None)
            .await
            .status(),
        403
    );
    // A sibling site (or a page under a no-referrer policy) posting with
    // the right cookie and token: refused by origin.
    for origin in ["https://evil.contoso.com", "null", "http://127.0.0.1:1"] {
        let res = choose_corporate(&s, &first, &first_token, Some(origin)).await;
        assert_eq!(res.status(), 403, "{origin}");
    }
    let res = client()
        .post(format!("{}/choose", s.url))
        .header("cookie", &first)
        .header("referer", "https://evil.contoso.com/page")
        .form(&[("csrf", first_token.as_str()), ("owner", "corporate")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(choices(&s), 0, "nothing refused was recorded");
    // The real page's form from the portal's own origin is taken.
    let res = choose_corporate(&s, &first, &first_token, Some(&s.url)).await;
    assert_eq!(res.status(), 303);
    assert_eq!(header(&res, "location"), "/privacy");
    assert_eq!(choices(&s), 1);
}

/// Finding 6: signing out ends the session in the store; the old cookie
/// no longer signs anyone in.
#[tokio::test]
async fn signing_out_revokes_the_session() {
    let s = Server::start("");
    let cookies = sign_in(&s, "bob@contoso.com").await;
    let get = |path: &'static str| {
        let (url, cookies) = (s.url.clone(), cookies.clone());
        async move {
            client()
                .get(format!("{url}{path}"))
                .header("cookie", cookies)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(get("/enroll/profile.mobileconfig").await.status(), 200);
    let token = form_token(&s, "/access", &cookies).await;
    let res = client()
        .post(format!("{}/signout", s.url))
        .header("cookie", &cookies)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The browser is told to forget it…
    let cleared = set_cookie(&res, "aspen_session").unwrap();
    assert_eq!(cleared, "aspen_session=");
    // …and a browser (or thief) that kept it gets nothing.
    for path in ["/access", "/enroll/profile.mobileconfig"] {
        let res = get(path).await;
        assert_eq!(res.status(), 303, "{path}");
        assert_eq!(header(&res, "location"), "/signin", "{path}");
    }
}

/// Finding 5, https: the cookies carry the `__Host-` prefix (and so no
/// Domain, Path=/ and Secure), which a sibling subdomain cannot set.
#[tokio::test]
async fn https_portals_use_host_prefixed_cookies() {
    if !common::have_tool("curl", "curl") || !common::have_tool("openssl", "openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (crt, key) = tls_pair(dir.path());
    let s = Server::start_with(
        "",
        &[
            "--tls-cert",
            crt.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-D", "-", "--cacert"])
        .arg(&crt)
        .arg(format!("{}/signin", s.url))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    let cookie = head
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie: {head}"));
    assert!(
        cookie.starts_with("set-cookie: __host-aspen_csrf="),
        "{cookie}"
    );
    for flag in ["; path=/", "; secure", "; httponly", "; samesite=strict"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("domain="), "{cookie}");
}

/// Reads whatever the server sends until it closes the connection (or
/// `bound` reads time out), writing one more body byte between reads: a
/// client that sends a 64 KiB body one byte at a time. Returns what was
/// read and how many body bytes had been sent when the server closed.
fn trickle<S: std::io::Read + std::io::Write>(stream: &mut S, bound: usize) -> (String, usize) {
    let head =
        "POST /account-driven/enroll HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 65536\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    for sent in 0..bound {
        if stream
            .write_all(b"x")
            .and_then(|()| stream.flush())
            .is_err()
        {
            return (String::from_utf8_lossy(&got).into_owned(), sent);
        }
        match stream.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into_owned(), sent),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // The read timeout paces the trickle.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), sent),
        }
    }
    panic!(
        "the server kept a {bound}-byte trickle open: {}",
        String::from_utf8_lossy(&got)
    );
}

fn tcp(s: &Server) -> std::net::TcpStream {
    let addr = s.url.split("://").nth(1).unwrap();
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_millis(250)))
        .unwrap();
    stream
}

/// Finding 1: a body trickling in is cut off at `request_timeout` (408),
/// over plain http and over TLS, long before it is complete.
#[tokio::test]
async fn slow_bodies_are_closed_at_the_deadline_also_over_tls() {
    if !common::have_tool("openssl", "openssl") {
        return;
    }
    let limits = "\n[serve]\nrequest_timeout = 2\nidle_timeout = 2\n";
    let s = Server::start(limits);
    let (got, sent) = tokio::task::spawn_blocking({
        let mut stream = tcp(&s);
        move || trickle(&mut stream, 240)
    })
    .await
    .unwrap();
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(sent < 65536);

    let dir = tempfile::tempdir().unwrap();
    let (crt, key) = tls_pair(dir.path());
    let t = Server::start_with(
        limits,
        &[
            "--tls-cert",
            crt.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let tcp = tcp(&t);
    let (got, sent) = tokio::task::spawn_blocking(move || {
        let mut ctx = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).unwrap();
        ctx.set_ca_file(&crt).unwrap();
        let mut tls = ctx.build().connect("127.0.0.1", tcp).unwrap();
        trickle(&mut tls, 240)
    })
    .await
    .unwrap();
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(sent < 65536);
}

/// Finding 1: with every connection slot taken by slow clients, one more
/// slow client and then a normal request: the normal request is answered
/// (the connection that waited longest makes room), and the number of open
/// connections stays at the limit.
#[tokio::test]
async fn slow_connections_at_the_limit_do_not_starve_a_normal_request() {
    let s = Server::start(
        "\n[serve]\nmax_connections = 8\nrequest_timeout = 120\nidle_timeout = 120\n",
    );
    let head =
        "POST /account-driven/enroll HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 65536\r\n\r\nx";
    let mut slow = Vec::new();
    for _ in 0..9 {
        use std::io::Write;
        let mut c = tcp(&s);
        c.write_all(head.as_bytes()).unwrap();
        slow.push(c);
        // Each is registered before the next connects: its request head is
        // answered by nothing, but a request to another connection is.
        let res = client()
            .get(format!("{}/healthz", s.url))
            .timeout(std::time::Duration::from_secs(20))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    // The normal request after all nine, on a fresh connection.
    let res = client()
        .get(format!("{}/healthz", s.url))
        .timeout(std::time::Duration::from_secs(20))
        .send()
        .await
        .expect("a normal request is answered while slow clients hold every slot");
    assert_eq!(res.status(), 200);
    // The oldest slow connection was the one closed to make room.
    use std::io::Read;
    slow[0]
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 64];
    let closed = match slow[0].read(&mut buf) {
        Ok(0) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_) => false,
    };
    assert!(closed, "the slow client waiting longest was closed");
}

/// A client whose requests come from `ip` (any 127.x address is this
/// machine): another address for the throttle.
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// A sign-in form (pre-session cookie and CSRF token) for `c`.
async fn form(c: &reqwest::Client, url: &str) -> (String, String) {
    let res = c.get(url).send().await.unwrap();
    let cookie = set_cookie(&res, "aspen_csrf").unwrap();
    (cookie, field(&res.text().await.unwrap(), "csrf"))
}

/// Posts a sign-in form from `c` to `url`: the pre-session cookie and CSRF
/// token [`form`] gave, and `fields`.
async fn submit(
    c: &reqwest::Client,
    url: &str,
    (cookie, token): (&str, &str),
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("csrf", token)];
    form.extend_from_slice(fields);
    c.post(url)
        .header("cookie", cookie)
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Finding 2: guessing codes collapses to the budget and then `429` with
/// `Retry-After`, from the guessing address only: the owner signs in with
/// the right code from another address. On the account-driven sign-in,
/// which names its user, the user's budget also runs out, yet only for the
/// addresses that keep failing.
#[tokio::test]
async fn guessing_codes_is_throttled_but_the_owner_still_signs_in() {
    let s =
        Server::start("\n[serve]\nsignin_failures_per_address = 5\nsignin_failures_per_user = 3\n");
    let bob = s.invite("bob@contoso.com");
    let attacker = client_from("127.0.0.2");
    let url = format!("{}/signin", s.url);
    let (cookie, token) = form(&attacker, &url).await;
    let started = std::time::Instant::now();
    let (mut checked, mut throttled) = (0u64, 0u64);
    for i in 0..60 {
        let guess = format!("{:05}-{:05}", 10000 + i, 20000 + i);
        let res = submit(
            &attacker,
            &url,
            (&cookie, &token),
            &[("code", guess.as_str())],
        )
        .await;
        match res.status().as_u16() {
            401 => checked += 1,
            429 => {
                throttled += 1;
                let wait: u64 = header(&res, "retry-after").parse().unwrap();
                assert!((1..=6).contains(&wait), "{wait}");
            }
            other => panic!("{other}"),
        }
    }
    // 5 guesses, plus one per 6 s the loop took.
    let refills = started.elapsed().as_secs() / 6 + 1;
    assert!(
        (5..=5 + refills).contains(&checked),
        "{checked} codes checked"
    );
    assert_eq!(checked + throttled, 60);
    // The right code from the guessing address is not even checked…
    let res = submit(
        &attacker,
        &url,
        (&cookie, &token),
        &[("code", bob.as_str())],
    )
    .await;
    assert_eq!(res.status(), 429);
    // …and still works for Bob, from his own address.
    let (cookie, token) = form(&client(), &url).await;
    let res = submit(
        &client(),
        &url,
        (&cookie, &token),
        &[("code", bob.as_str())],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(header(&res, "location"), "/access");
    let log = s.log();
    assert!(
        log.contains("WARN")
            && log.contains("failed sign-ins from this address")
            && log.contains("127.0.0.2"),
        "{log}"
    );

    // The account-driven sign-in names Carol: three failures (from two
    // addresses) use up her budget; those addresses are refused for her…
    let carol = s.invite("carol@contoso.com");
    let login = format!(
        "{}/account-driven/login?user-identifier=carol@contoso.com",
        s.url
    );
    let post = format!("{}/account-driven/login", s.url);
    for (ip, guesses) in [("127.0.0.3", 2), ("127.0.0.4", 1)] {
        let c = client_from(ip);
        let (cookie, token) = form(&c, &login).await;
        for i in 0..guesses {
            let res = submit(
                &c,
                &post,
                (&cookie, &token),
                &[
                    ("user_identifier", "carol@contoso.com"),
                    ("code", format!("AAAAA-{:05}", 30000 + i).as_str()),
                ],
            )
            .await;
            assert_eq!(res.status(), 401, "{ip}");
        }
    }
    let c = client_from("127.0.0.3");
    let (cookie, token) = form(&c, &login).await;
    let res = submit(
        &c,
        &post,
        (&cookie, &token),
        &[
            ("user_identifier", "carol@contoso.com"),
            ("code", carol.as_str()),
        ],
    )
    .await;
    assert_eq!(res.status(), 429, "a failing address, Carol's budget spent");
    // …but Carol, from an address that has not failed, signs her device in.
    let c = client_from("127.0.0.5");
    let (cookie, token) = form(&c, &login).await;
    let res = submit(
        &c,
        &post,
        (&cookie, &token),
        &[
            ("user_identifier", "carol@contoso.com"),
            ("code", carol.as_str()),
        ],
    )
    .await;
    assert_eq!(res.status(), 308);
}

/// Finding 10: the same session downloading the same profile again and
/// again gets the same bytes and adds one audit row; another session adds
/// its own.
#[tokio::test]
async fn repeated_downloads_by_one_session_are_recorded_once() {
    let s = Server::start("");
    let issued = || {
        let out = common::ok(common::aspen(&[
            "issued",
            "-c",
            s.ws.settings().to_str().unwrap(),
            "--json",
        ]));
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
        rows.iter().filter(|r| r["event"] == "issued").count()
    };
    let first = sign_in(&s, "bob@contoso.com").await;
    let mut bodies = std::collections::HashSet::new();
    for _ in 0..50 {
        let res = client()
            .get(format!("{}/enroll/profile.mobileconfig", s.url))
            .header("cookie", &first)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        bodies.insert(res.bytes().await.unwrap());
    }
    assert_eq!(bodies.len(), 1, "the same bytes each time");
    assert_eq!(issued(), 1);
    let second = sign_in(&s, "bob@contoso.com").await;
    let res = client()
        .get(format!("{}/enroll/profile.mobileconfig", s.url))
        .header("cookie", &second)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(issued(), 2);
}

pub fn signal(pid: u32, name: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Finding 8: SIGTERM (like SIGINT) lets the request in flight finish,
/// flushes the audit writer and exits 0: every answered download is on
/// disk.
#[tokio::test]
async fn sigterm_drains_flushes_and_exits_zero() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = Server::start("");
    let mut answered = 0;
    for _ in 0..5 {
        // A session each, so each download is a new audit row.
        let cookies = sign_in(&s, "bob@contoso.com").await;
        let res = client()
            .get(format!("{}/enroll/profile.mobileconfig", s.url))
            .header("cookie", &cookies)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        answered += 1;
    }
    // A request in flight: its head sent, its body not yet. `Expect:
    // 100-continue` makes the server say when its handler waits for the
    // body, so the signal surely comes mid-request.
    let addr = s.url.strip_prefix("http://").unwrap().to_owned();
    let mut inflight = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = "csrf=x&code=y";
    inflight
        .write_all(
            format!(
                "POST /signin HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut continued = Vec::new();
    while !continued.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(inflight.read(&mut byte).await.unwrap(), 1);
        continued.push(byte[0]);
    }
    assert!(continued.starts_with(b"HTTP/1.1 100"), "{continued:?}");
    signal(s.pid(), "TERM");
    inflight.write_all(body.as_bytes()).await.unwrap();
    let mut answer = String::new();
    inflight.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 403"),
        "the request in flight is answered: {answer}"
    );
    let status = s.wait();
    assert!(status.success(), "{status:?}\n{}", s.log());
    // New connections are refused now.
    assert!(tokio::net::TcpStream::connect(&addr).await.is_err());
    let out = common::ok(common::aspen(&[
        "issued",
        "-c",
        s.ws.settings().to_str().unwrap(),
        "--json",
    ]));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        rows.iter().filter(|r| r["event"] == "issued").count(),
        answered
    );
    let log = s.log();
    assert!(
        log.contains("SIGTERM") && log.contains("audit records flushed"),
        "{log}"
    );
}

/// Finding 8: `serve --demo` removes its folder (signing key, portal
/// secret) on SIGTERM as on SIGINT.
#[test]
fn the_demo_removes_its_folder_on_sigterm() {
    the_demo_removes_its_folder_on(&["TERM", "INT"]);
}

/// `serve --demo`, stopped by each of `signals` in turn, removes its folder
/// and exits 0.
pub fn the_demo_removes_its_folder_on(signals: &[&str]) {
    use std::io::BufRead;
    for &sig in signals {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aspen"))
            .args(["serve", "--demo", "--quiet", "--listen", "127.0.0.1:0"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut root = None;
        // Kept open to the end: the demo still writes after the last line
        // read here, and a closed pipe would make that fail.
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        for line in stdout.by_ref() {
            let line = line.unwrap();
            if let Some(rest) = line.split("-CAfile ").nth(1) {
                root = Some(std::path::PathBuf::from(
                    rest.split_whitespace().next().unwrap(),
                ));
            }
            if line.starts_with("Audit log") {
                break;
            }
        }
        let folder = root
            .expect("the demo root is printed")
            .parent()
            .unwrap()
            .to_owned();
        assert!(folder.join("signer.key").exists() && folder.join("portal.secret").exists());
        // Up once it logs that it serves; the log is drained to the end.
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if line.contains("serving") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(std::time::Duration::from_secs(30))
            .expect("the demo serves");
        signal(child.id(), sig);
        let status = server::wait_bounded(&mut child);
        assert!(status.success(), "{sig}: {status:?}");
        assert!(!folder.exists(), "{sig}: the demo folder is removed");
        drop(stdout);
    }
}

/// Finding 9: `--log-format json` writes one JSON object per line, each
/// with a timestamp and a level, access lines with the request id the
/// response carries; the client behind a trusted proxy is the address the
/// proxy recorded (in the log and in the audit store), from anyone else
/// the peer; no code, session or token is ever logged. Health endpoints
/// answer.
#[tokio::test]
async fn json_logs_request_ids_proxied_clients_and_health() {
    let s = Server::start_with(
        "\n[serve]\ntrusted_proxies = [\"127.0.0.1/32\"]\n",
        &["--log-format", "json"],
    );
    let res = client()
        .get(format!("{}/healthz", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let health_id = header(&res, "x-request-id");
    let res = client()
        .get(format!("{}/readyz", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let ready: serde_json::Value = res.json().await.unwrap();
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["store"], "writable");

    // Through the "proxy" (127.0.0.1 is trusted): the client it recorded.
    let code = s.invite("bob@contoso.com");
    let (cookie, token) = form(&client(), &format!("{}/signin", s.url)).await;
    let res = client()
        .post(format!("{}/signin", s.url))
        .header("cookie", &cookie)
        .header("x-forwarded-for", "6.6.6.6, 198.51.100.7")
        .form(&[("csrf", token.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let session = set_cookie(&res, "aspen_session").unwrap();
    let res = client()
        .get(format!("{}/enroll/profile.mobileconfig", s.url))
        .header("cookie", format!("{cookie}; {session}"))
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // From an address that is not a proxy the header is not believed.
    let res = client_from("127.0.0.2")
        .get(format!("{}/healthz", s.url))
        .header("x-forwarded-for", "203.0.113.66")
        .send()
        .await
        .unwrap();
    let stranger_id = header(&res, "x-request-id");

    let out = common::ok(common::aspen(&[
        "issued",
        "-c",
        s.ws.settings().to_str().unwrap(),
        "--json",
    ]));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
    assert_eq!(rows.last().unwrap()["client"], "198.51.100.7");

    let log = s.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for line in &lines {
        assert!(
            line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );
        assert!(line["level"].is_string(), "{line}");
    }
    let access = |id: &str| {
        lines
            .iter()
            .find(|l| l["span"]["id"] == id && l["fields"]["path"].is_string())
            .unwrap_or_else(|| panic!("no access line for {id}: {log}"))
            .clone()
    };
    assert_eq!(access(&health_id)["fields"]["path"], "/healthz");
    assert_eq!(access(&stranger_id)["fields"]["client"], "127.0.0.2");
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["path"] == "/enroll/profile.mobileconfig"
                && l["fields"]["client"] == "198.51.100.7"),
        "{log}"
    );
    assert!(
        !log.contains("6.6.6.6") && !log.contains("203.0.113.66"),
        "{log}"
    );
    let session_value = session.split_once('=').unwrap().1;
    for secret in [code.as_str(), session_value, token.as_str(), "5a5a5a5a"] {
        assert!(!log.contains(secret), "{secret} in the log: {log}");
    }
}

/// `/readyz` says no once the directory has nobody in it (an admin's bad
/// edit), and yes again when it is fixed; `/healthz` stays up.
#[tokio::test]
async fn readiness_follows_the_directory() {
    let users = std::fs::read_to_string(common::fixture("demo/users.csv")).unwrap();
    let s = Server::start_users(&users);
    let ready = || async {
        client()
            .get(format!("{}/readyz", s.url))
            .send()
            .await
            .unwrap()
    };
    assert_eq!(ready().await.status(), 200);
    std::fs::write(s.ws.path("users.csv"), "email,managed_apple_id,groups\n").unwrap();
    // The directory is looked at once a second: poll, bounded.
    let mut seen = None;
    for _ in 0..100 {
        let res = ready().await;
        if res.status() == 503 {
            seen = Some(res.json::<serde_json::Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let body = seen.expect("/readyz turns 503");
    assert_eq!(body["ready"], false);
    assert!(
        body["directory"].as_str().unwrap().starts_with("no user"),
        "{body}"
    );
    assert_eq!(
        client()
            .get(format!("{}/healthz", s.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// The shipped systemd unit is hardened as documented and passes
/// `systemd-analyze verify` (with ExecStart pointed at this build's binary,
/// which verify requires to exist).
#[test]
fn the_systemd_unit_verifies() {
    if !common::have_tool("systemd-analyze", "systemd") {
        return;
    }
    let unit = std::fs::read_to_string(common::root().join("contrib/aspen.service")).unwrap();
    for line in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=aspen",
        "LoadCredential=portal.secret:/etc/aspen/portal.secret",
        "NoNewPrivileges=yes",
        "ExecStart=/usr/local/bin/aspen serve -c /etc/aspen/aspen.toml --log-format json",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aspen.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/aspen", env!("CARGO_BIN_EXE_aspen")),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("aspen.service"),
        "warnings about the unit: {stderr}"
    );
}
