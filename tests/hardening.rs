//! `aspen serve` on the open internet: each finding of issue 9, reproduced
//! against a real server on a free loopback port (or the real binary) and
//! shown fixed. Finding 4 (bulk and the directory's rule) is in
//! tests/bulk.rs, next to the other bulk tests.

mod common;
mod server;

use server::{Server, client, field, header, keys, set_cookie};

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
    for token in [
        keys().csrf(forged).unwrap(),
        keys().csrf(&format!("p:{forged}:")).unwrap(),
    ] {
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

/// A self-signed certificate for 127.0.0.1 and its key.
fn tls_pair(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (crt, key) = (dir.join("tls.pem"), dir.join("tls.key"));
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    (crt, key)
}
