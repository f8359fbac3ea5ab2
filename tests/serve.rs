//! `aspen serve` played from outside, over real HTTP: a device walking
//! Apple's account-driven enrollment (steps 1–4), the portal's download, and
//! everything that must be refused. Profiles are checked with
//! `openssl cms -verify` and python3's plistlib.

use crate::common;
use crate::server;

use aspen::store::Codes as _;
use common::{cert, openssl_verify, plistlib_json};
use server::{Server, Visitor, client, field, header, keys, set_cookie, tls_pair};
use std::collections::HashMap;

const BASE: &str = "/account-driven/enroll";

/// Step 1.
async fn well_known(s: &Server, user: &str) -> reqwest::Response {
    client()
        .get(format!("{}/.well-known/com.apple.remotemanagement", s.url))
        .query(&[("user-identifier", user), ("model-family", "iPhone")])
        .send()
        .await
        .unwrap()
}

/// Parses `Bearer method="apple-as-web", url="…"` into its parameters.
fn bearer_params(value: &str) -> HashMap<String, String> {
    let rest = value.strip_prefix("Bearer ").expect("a Bearer challenge");
    rest.split(", ")
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), v.trim_matches('"').to_owned())
        })
        .collect()
}

/// Steps 1–3 for `user` signing in with `code`: returns (BaseURL, version,
/// access token).
async fn sign_in_device(s: &Server, user: &str, code: &str) -> (String, String, String) {
    let res = well_known(s, user).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "application/json");
    let body: serde_json::Value = res.json().await.unwrap();
    let server = &body["Servers"][0];
    let base = server["BaseURL"].as_str().unwrap().to_owned();
    let version = server["Version"].as_str().unwrap().to_owned();
    assert_eq!(base, format!("{}{BASE}?version={version}", s.url));

    // Step 2: the device's first POST carries its signed request, no token.
    let res = client()
        .post(&base)
        .header("content-type", "application/xml")
        .body(server::iphone_18())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let params = bearer_params(&header(&res, "www-authenticate"));
    assert_eq!(params["method"], "apple-as-web");
    let login = params["url"].clone();
    assert_eq!(login, format!("{}/account-driven/login", s.url));

    // Step 3: the web sheet opens the URL with user-identifier appended.
    let res = client()
        .get(&login)
        .query(&[("user-identifier", user)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let csrf_cookie = set_cookie(&res, "aspen_csrf").unwrap();
    let html = res.text().await.unwrap();
    assert!(
        html.contains(&format!("Signing in as <strong>{user}</strong>")),
        "{html}"
    );
    let res = client()
        .post(&login)
        .header("cookie", &csrf_cookie)
        .form(&[
            ("csrf", field(&html, "csrf").as_str()),
            ("user_identifier", user),
            ("code", code),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308, "{}", res.text().await.unwrap());
    let location = header(&res, "location");
    let token = location
        .strip_prefix("apple-remotemanagement-user-login://authentication-results?access-token=")
        .unwrap_or_else(|| panic!("unexpected Location {location}"))
        .to_owned();
    assert!(!token.is_empty() && !token.contains(['&', '#', ' ']));
    (base, version, token)
}

/// Step 4.
async fn fetch_profile(base: &str, token: &str) -> reqwest::Response {
    client()
        .post(base)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/xml")
        .body(server::iphone_18())
        .send()
        .await
        .unwrap()
}

/// Checks a profile download's headers, verifies its signature with
/// openssl and returns the MDM payload as plistlib reads it.
async fn check_profile(
    s: &Server,
    res: reqwest::Response,
    name: &str,
) -> (serde_json::Value, Vec<u8>) {
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "content-type"),
        "application/x-apple-aspen-config"
    );
    assert_eq!(header(&res, "x-content-type-options"), "nosniff");
    assert_eq!(header(&res, "cache-control"), "no-store");
    assert!(
        header(&res, "content-disposition").starts_with("attachment; filename=\"com.contoso.mdm.")
    );
    let length: usize = header(&res, "content-length").parse().unwrap();
    let bytes = res.bytes().await.unwrap().to_vec();
    assert_eq!(length, bytes.len());
    let path = s.ws.path(name);
    std::fs::write(&path, &bytes).unwrap();
    let xml = openssl_verify(&path, &cert("ca.pem")).expect("openssl cms -verify");
    let profile = plistlib_json(&xml);
    assert_eq!(profile["PayloadType"], "Configuration");
    let mdm = profile["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["PayloadType"] == "com.apple.mdm")
        .cloned()
        .expect("an MDM payload");
    // And aspen's own linter (built-in rules and Apple's schema) finds
    // nothing wrong with what the server hands out.
    let kind = match mdm["EnrollmentMode"].as_str() {
        Some("BYOD") => "user-byod",
        Some("ADDE") => "adde",
        _ => "device",
    };
    common::lints_clean(&path, kind);
    (mdm, bytes)
}

fn issued_json(s: &Server, user: &str) -> Vec<serde_json::Value> {
    let out = common::ok(common::aspen(&[
        "issued",
        "-c",
        s.ws.settings().to_str().unwrap(),
        "--user",
        user,
        "--json",
    ]));
    serde_json::from_slice(&out).unwrap()
}

/// The top-level PayloadUUID of a signed profile, as plistlib reads it.
fn profile_uuid(signed: &std::path::Path) -> serde_json::Value {
    let xml = openssl_verify(signed, &cert("ca.pem")).expect("openssl cms -verify");
    plistlib_json(&xml)["PayloadUUID"].clone()
}

fn sha256_hex(bytes: &[u8]) -> String {
    aspen::audit::sha256_hex(bytes)
}

#[tokio::test]
async fn a_device_enrolls_a_user_through_account_driven_enrollment() {
    if !common::have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let s = Server::start("");
    let code = s.invite("carol@contoso.com");
    let (base, version, token) = sign_in_device(&s, "carol@contoso.com", &code).await;
    assert_eq!(version, "mdm-byod");
    let (mdm, bytes) =
        check_profile(&s, fetch_profile(&base, &token).await, "carol.mobileconfig").await;
    assert_eq!(mdm["EnrollmentMode"], "BYOD");
    assert_eq!(mdm["AssignedManagedAppleID"], "carol@contoso.com");
    assert!(
        mdm.get("AccessRights").is_none(),
        "BYOD must not carry AccessRights: {mdm}"
    );
    assert!(mdm.get("ManagedAppleID").is_none());

    let rows = issued_json(&s, "carol@contoso.com");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["event"], "issued");
    assert_eq!(rows[0]["channel"], "account-driven");
    assert_eq!(rows[0]["kind"], "user-byod");
    assert_eq!(rows[0]["policy"], "Contractors");
    assert_eq!(rows[0]["client"], "127.0.0.1");
    assert_eq!(rows[0]["sha256"], sha256_hex(&bytes));
    assert_eq!(
        rows[0]["payload_uuid"],
        profile_uuid(&s.ws.path("carol.mobileconfig"))
    );
    // Tokens and codes never reach the log.
    let log = s.log();
    assert!(
        log.contains("method=POST path=/account-driven/enroll status=200"),
        "{log}"
    );
    assert!(
        !log.contains(&token) && !log.contains(&code) && !log.contains("carol@"),
        "{log}"
    );
}

#[tokio::test]
async fn a_device_policy_gives_account_driven_device_enrollment() {
    if !common::have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let s = Server::start("");
    let code = s.invite("bob@contoso.com");
    let (base, version, token) = sign_in_device(&s, "bob@contoso.com", &code).await;
    assert_eq!(version, "mdm-adde");
    let (mdm, _) = check_profile(&s, fetch_profile(&base, &token).await, "bob.mobileconfig").await;
    assert_eq!(mdm["EnrollmentMode"], "ADDE");
    assert_eq!(mdm["AssignedManagedAppleID"], "bob@contoso.com");
    assert_eq!(mdm["AccessRights"], 8191);
}

/// The portal as a browser would use it: a [`Visitor`] of one server.
struct Browser<'a> {
    s: &'a Server,
    v: Visitor,
}

impl<'a> Browser<'a> {
    fn new(s: &'a Server) -> Self {
        Browser {
            s,
            v: Visitor::default(),
        }
    }

    async fn get(&mut self, path: &str) -> reqwest::Response {
        self.v.get(self.s, path).await
    }

    async fn page(&mut self, path: &str) -> String {
        self.v.page(self.s, path).await
    }

    /// Posts a form (with the CSRF token of `html`), returns the response.
    async fn post(&mut self, path: &str, html: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.v.post(self.s, path, html, fields).await
    }

    async fn sign_in(&mut self, code: &str) {
        assert_eq!(self.v.sign_in(self.s, code).await, 303);
        assert!(self.v.cookies.contains_key("aspen_session"));
    }
}

#[tokio::test]
async fn the_portal_downloads_a_signed_device_profile() {
    if !common::have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let s = Server::start("");
    let mut b = Browser::new(&s);
    b.sign_in(&s.invite("bob@contoso.com")).await;
    let html = b.page("/access").await;
    assert!(
        html.contains("Executives") && html.contains("href=\"/privacy\""),
        "{html}"
    );
    let html = b.page("/privacy").await;
    assert!(
        html.contains("Erase the entire device"),
        "corporate rights include erase: {html}"
    );
    let html = b.page("/enroll").await;
    assert!(html.contains("/enroll/profile.mobileconfig"), "{html}");
    let res = b.get("/enroll/profile.mobileconfig").await;
    let (mdm, bytes) = check_profile(&s, res, "bob-portal.mobileconfig").await;
    assert_eq!(mdm["AccessRights"], 8191);
    assert!(
        mdm.get("EnrollmentMode").is_none(),
        "a downloaded profile is not account-driven"
    );
    assert!(mdm.get("AssignedManagedAppleID").is_none());
    let rows = issued_json(&s, "bob@contoso.com");
    assert_eq!(rows.last().unwrap()["channel"], "portal");
    assert_eq!(rows.last().unwrap()["sha256"], sha256_hex(&bytes));
    assert_eq!(rows.last().unwrap()["kind"], "device-corporate");
    assert_eq!(
        rows.last().unwrap()["payload_uuid"],
        profile_uuid(&s.ws.path("bob-portal.mobileconfig"))
    );
}

#[tokio::test]
async fn user_choice_is_recorded_and_steers_discovery() {
    if !common::have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let s = Server::start("");
    // No answer yet: account-driven discovery offers BYOD.
    let body: serde_json::Value = well_known(&s, "alice@contoso.com")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["Servers"][0]["Version"], "mdm-byod");

    let mut b = Browser::new(&s);
    b.sign_in(&s.invite("alice@contoso.com")).await;
    // Without an answer the later pages send the user to the choice.
    let res = b.get("/privacy").await;
    assert_eq!(
        (res.status().as_u16(), header(&res, "location")),
        (303, "/choose".into())
    );
    let html = b.page("/choose").await;
    assert!(html.contains("I own this device") && html.contains("Contoso owns this device"));
    let res = b.post("/choose", &html, &[("owner", "personal")]).await;
    assert_eq!(header(&res, "location"), "/choose/scope");
    let html = b.page("/choose/scope").await;
    let res = b.post("/choose/scope", &html, &[("scope", "device")]).await;
    assert_eq!(header(&res, "location"), "/privacy");
    let html = b.page("/privacy").await;
    assert!(
        html.contains("device enrollment of your own device"),
        "{html}"
    );
    let cannot = &html[html.find("id=\"cannot\"").unwrap()..];
    assert!(
        cannot.contains("Erase the entire device"),
        "personal rights exclude erase: {cannot}"
    );
    let res = b.get("/enroll/profile.mobileconfig").await;
    let (mdm, _) = check_profile(&s, res, "alice-device.mobileconfig").await;
    assert_eq!(mdm["AccessRights"], 8179);
    let body: serde_json::Value = well_known(&s, "alice@contoso.com")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["Servers"][0]["Version"], "mdm-adde");

    // Changing the answer to work-only: no download, steps and a fresh code.
    let html = b.page("/choose/scope").await;
    b.post("/choose/scope", &html, &[("scope", "work")]).await;
    let res = b.get("/enroll/profile.mobileconfig").await;
    assert_eq!(
        (res.status().as_u16(), header(&res, "location")),
        (303, "/enroll".into())
    );
    let html = b.page("/enroll").await;
    assert!(html.contains("VPN &amp; Device Management"), "{html}");
    let device_code = shown_code(&html);
    let body: serde_json::Value = well_known(&s, "alice@contoso.com")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["Servers"][0]["Version"], "mdm-byod");
    // The code from the page signs the device in.
    let (base, _, token) = sign_in_device(&s, "alice@contoso.com", &device_code).await;
    let (mdm, _) = check_profile(
        &s,
        fetch_profile(&base, &token).await,
        "alice-byod.mobileconfig",
    )
    .await;
    assert_eq!(mdm["EnrollmentMode"], "BYOD");

    let rows = issued_json(&s, "alice@contoso.com");
    let choices: Vec<&str> = rows
        .iter()
        .filter(|r| r["event"] == "choice")
        .map(|r| r["choice"].as_str().unwrap())
        .collect();
    assert_eq!(choices, ["device", "work"]);
    assert_eq!(rows[0]["ownership"], "personal");
}

#[tokio::test]
async fn wrong_expired_tampered_and_missing_tokens_are_refused() {
    let s = Server::start("");
    let carol = s.invite("carol@contoso.com");
    let base = format!("{}{BASE}", s.url);
    let login = format!("{}/account-driven/login", s.url);

    // Carol's code does not sign in Bob's device, and is not used up by trying.
    let res = client()
        .get(&login)
        .query(&[("user-identifier", "bob@contoso.com")])
        .send()
        .await
        .unwrap();
    let cookie = set_cookie(&res, "aspen_csrf").unwrap();
    let html = res.text().await.unwrap();
    let res = client()
        .post(&login)
        .header("cookie", &cookie)
        .form(&[
            ("csrf", field(&html, "csrf").as_str()),
            ("user_identifier", "bob@contoso.com"),
            ("code", &carol),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("location").is_none());
    let (_, _, token) = sign_in_device(&s, "carol@contoso.com", &carol).await;

    // A used code does not work twice.
    let res = client()
        .get(&login)
        .query(&[("user-identifier", "carol@contoso.com")])
        .send()
        .await
        .unwrap();
    let cookie = set_cookie(&res, "aspen_csrf").unwrap();
    let html = res.text().await.unwrap();
    let res = client()
        .post(&login)
        .header("cookie", &cookie)
        .form(&[
            ("csrf", field(&html, "csrf").as_str()),
            ("user_identifier", "carol@contoso.com"),
            ("code", &carol),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // Missing, tampered, expired, wrong-purpose and foreign-key tokens: 401
    // with the challenge again.
    let now = aspen::audit::now();
    let k = keys();
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let parts: Vec<&str> = token.split('.').collect();
    let other_user = format!(
        "{}.{}.{}.{}",
        aspen::tokens::b64url(b"bob@contoso.com"),
        parts[1],
        parts[2],
        parts[3]
    );
    let foreign = aspen::tokens::Keys::from_bytes(&[1u8; 32])
        .unwrap()
        .issue(
            aspen::tokens::Purpose::Access,
            "carol@contoso.com",
            now + 600,
        )
        .unwrap();
    let cases = [
        ("missing", None),
        ("tampered", Some(String::from_utf8(tampered).unwrap())),
        ("other user", Some(other_user)),
        (
            "expired",
            Some(
                k.issue(aspen::tokens::Purpose::Access, "carol@contoso.com", now - 1)
                    .unwrap(),
            ),
        ),
        (
            "session token",
            Some(
                k.issue(
                    aspen::tokens::Purpose::Session,
                    "carol@contoso.com",
                    now + 600,
                )
                .unwrap(),
            ),
        ),
        ("other key", Some(foreign)),
        ("garbage", Some("not-a-token".into())),
    ];
    for (what, token) in cases {
        let mut req = client().post(&base).body(server::iphone_18());
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{what}");
        assert!(
            header(&res, "www-authenticate").contains("apple-as-web"),
            "{what}"
        );
        assert!(
            res.headers()
                .get("content-type")
                .is_none_or(|v| v != "application/x-apple-aspen-config")
        );
    }
    // A genuine token minted with the server's key works: the refusals above
    // were about the token, not the setup.
    let good = k
        .issue(
            aspen::tokens::Purpose::Access,
            "carol@contoso.com",
            now + 600,
        )
        .unwrap();
    assert_eq!(fetch_profile(&base, &good).await.status(), 200);
    assert_eq!(fetch_profile(&base, &token).await.status(), 200);
}

#[tokio::test]
async fn discovery_refuses_who_cannot_enroll_with_apples_error() {
    let s = Server::start("");
    for user in [
        "nobody@contoso.com",
        "erin@contoso.com",
        "dave@contoso.com",
        "",
    ] {
        let res = well_known(&s, user).await;
        assert_eq!(res.status(), 403, "{user}");
        assert_eq!(header(&res, "content-type"), "application/json");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], "com.apple.well-known.failed", "{user}");
        assert!(body["message"].as_str().unwrap().contains("Contoso"));
        assert!(body["description"].is_string());
    }
}

#[tokio::test]
async fn the_portal_refuses_forged_sessions_bad_codes_and_missing_csrf() {
    let s = Server::start("");
    let now = aspen::audit::now();
    let k = keys();
    // A session cookie signed with another key, or an access token used as
    // a session: back to sign-in, no profile.
    let forged = aspen::tokens::Keys::from_bytes(&[2u8; 32])
        .unwrap()
        .issue(
            aspen::tokens::Purpose::Session,
            "bob@contoso.com",
            now + 600,
        )
        .unwrap();
    let access = k
        .issue(aspen::tokens::Purpose::Access, "bob@contoso.com", now + 600)
        .unwrap();
    let expired = k
        .issue(aspen::tokens::Purpose::Session, "bob@contoso.com", now - 5)
        .unwrap();
    for cookie in [forged, access, expired] {
        let res = client()
            .get(format!("{}/enroll/profile.mobileconfig", s.url))
            .header("cookie", format!("aspen_session={cookie}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(header(&res, "location"), "/signin");
    }
    // Even a token made with the real key signs nobody in: a session is
    // one the server started (and has not ended).
    let minted = k
        .issue(
            aspen::tokens::Purpose::Session,
            "bob@contoso.com",
            now + 600,
        )
        .unwrap();
    let res = client()
        .get(format!("{}/enroll/profile.mobileconfig", s.url))
        .header("cookie", format!("aspen_session={minted}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    // A real sign-in's session works (so the refusals were about the cookie).
    let mut b = Browser::new(&s);
    b.sign_in(&s.invite("bob@contoso.com")).await;
    assert_eq!(b.get("/enroll/profile.mobileconfig").await.status(), 200);

    // A form without the CSRF cookie/token pair is refused, code untouched.
    let code = s.invite("bob@contoso.com");
    let res = client()
        .post(format!("{}/signin", s.url))
        .form(&[("code", code.as_str()), ("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let mut b = Browser::new(&s);
    let html = b.page("/signin").await;
    let res = b.post("/signin", &html, &[("code", "AAAAA-AAAAA")]).await;
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("That code is not valid"));
    b.sign_in(&code.to_lowercase().replace('-', " ")).await;
}

#[tokio::test]
async fn an_expired_invite_does_not_sign_in() {
    let s = Server::start("");
    // Invites minted as `aspen invite` mints them: one expired a second
    // ago, and one still valid to show the refusal is about the expiry.
    let k = keys();
    let store = aspen::store::sqlite::Sqlite::open(&s.ws.path("state"))
        .await
        .unwrap();
    let now = aspen::audit::now();
    let mut minted = Vec::new();
    for (id, expires) in [("expired", now - 1), ("valid", now + 600)] {
        let code = k.code("bob@contoso.com", id, expires);
        let normalized = aspen::tokens::normalize_code(&code).unwrap();
        let invite = aspen::store::Invite {
            id: id.into(),
            user: "bob@contoso.com".into(),
            expires,
        };
        let lookup = k.code_lookup(&normalized).to_vec();
        // Stored as of a minute ago, so the expired one is not swept.
        store.add_code(lookup, invite, now - 60).await.unwrap();
        minted.push(code);
    }
    let (expired, valid) = (&minted[0], &minted[1]);
    let mut b = Browser::new(&s);
    let html = b.page("/signin").await;
    let res = b.post("/signin", &html, &[("code", expired)]).await;
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("That code is not valid"));
    b.sign_in(valid).await;
}

/// The invites in the store as python3's sqlite3 reads them: (user, used).
fn invites(s: &Server) -> Vec<(String, bool)> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sqlite3, sys; c = sqlite3.connect(sys.argv[1]); \
             print(json.dumps(c.execute('SELECT user, used IS NOT NULL FROM invites ORDER BY user, rowid').fetchall()))",
        ])
        .arg(s.ws.path("state/aspen.sqlite3"))
        .output()
        .expect("python3 is needed by this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<(String, u8)>>(&out.stdout)
        .unwrap()
        .into_iter()
        .map(|(user, used)| (user, used == 1))
        .collect()
}

/// The one-time code a User Enrollment page shows.
fn shown_code(html: &str) -> String {
    let start = html.find("class=\"code mono\">").expect("a code") + "class=\"code mono\">".len();
    html[start..start + 11].to_owned()
}

#[tokio::test]
async fn the_user_enrollment_page_reuses_its_code_and_expired_invites_go() {
    if !common::have_tool("python3", "python3") {
        return;
    }
    let s = Server::start("");
    // An invite that expired, left behind.
    let store = aspen::store::sqlite::Sqlite::open(&s.ws.path("state"))
        .await
        .unwrap();
    let old = aspen::store::Invite {
        id: "old".into(),
        user: "bob@contoso.com".into(),
        expires: aspen::audit::now() - 1,
    };
    store
        .add_code(b"old".to_vec(), old, aspen::audit::now() - 60)
        .await
        .unwrap();
    drop(store);
    assert_eq!(invites(&s), [("bob@contoso.com".to_owned(), false)]);
    let mut b = Browser::new(&s);
    b.sign_in(&s.invite("carol@contoso.com")).await;
    // Creating carol's code deleted the expired one.
    assert_eq!(invites(&s), [("carol@contoso.com".to_owned(), true)]);
    let first = shown_code(&b.page("/enroll").await);
    for _ in 0..3 {
        assert_eq!(shown_code(&b.page("/enroll").await), first);
    }
    assert_eq!(
        invites(&s),
        [
            ("carol@contoso.com".to_owned(), true),
            ("carol@contoso.com".to_owned(), false)
        ]
    );
    // Once used, the page shows a new code.
    let (base, _, token) = sign_in_device(&s, "carol@contoso.com", &first).await;
    assert_eq!(fetch_profile(&base, &token).await.status(), 200);
    let second = shown_code(&b.page("/enroll").await);
    assert_ne!(second, first);
}

/// A row whose Managed Apple ID is another user's e-mail must not make that
/// user's code, session or identifier lead to the row's user.
#[tokio::test]
async fn an_apple_id_equal_to_another_users_email_takes_nothing_over() {
    if !common::have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let s = Server::start_users(
        "email,managed_apple_id,groups\n\
         mallory@contoso.com,alice@contoso.com,Staff\n\
         alice@contoso.com,alice@appleid.contoso.com,Staff\n",
    );
    // alice's own code signs the browser in as alice.
    let mut b = Browser::new(&s);
    b.sign_in(&s.invite("alice@contoso.com")).await;
    let html = b.page("/access").await;
    assert!(
        html.contains("<span class=\"who\">alice@contoso.com</span>") && !html.contains("mallory"),
        "{html}"
    );
    // A device naming alice by e-mail or by Apple ID enrolls alice.
    for identifier in ["alice@contoso.com", "alice@appleid.contoso.com"] {
        let code = s.invite("alice@contoso.com");
        let (base, _, token) = sign_in_device(&s, identifier, &code).await;
        let (mdm, _) = check_profile(
            &s,
            fetch_profile(&base, &token).await,
            "alice-byod.mobileconfig",
        )
        .await;
        assert_eq!(mdm["AssignedManagedAppleID"], "alice@appleid.contoso.com");
    }
    // mallory's row is refused, by the CLI as by the server.
    let out = common::aspen(&[
        "invite",
        "-c",
        s.ws.settings().to_str().unwrap(),
        "--user",
        "mallory@contoso.com",
    ]);
    let err = common::fails(out);
    assert!(err.contains("line 2") && err.contains("line 3"), "{err}");
    assert!(
        s.log().contains("users.csv: line 2: managed_apple_id"),
        "{}",
        s.log()
    );
}

#[tokio::test]
async fn path_traversal_and_unknown_paths_are_404() {
    let s = Server::start("");
    for path in [
        "/assets/../../../../etc/passwd",
        "/assets/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/enroll/..%2f..%2f..%2fetc%2fpasswd",
        "/%2e%2e/%2e%2e/aspen.toml",
        "/portal.secret",
        "/state/aspen.sqlite3",
        "/assets/aspen.css/../../portal.secret",
    ] {
        // Sent raw: no client-side normalisation of the dots.
        let res = raw_get(&s, path).await;
        assert!(res.starts_with("HTTP/1.1 404"), "{path}: {res}");
        assert!(
            !res.contains("root:") && !res.contains("5a5a5a") && !res.contains("[portal]"),
            "{path}"
        );
    }
    assert!(
        raw_get(&s, "/assets/aspen.css")
            .await
            .starts_with("HTTP/1.1 200")
    );
}

/// A GET with the path exactly as given, over a plain socket.
async fn raw_get(s: &Server, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = s.url.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn bodies_and_headers_are_capped() {
    let s = Server::start("");
    let res = client()
        .post(format!("{}{BASE}", s.url))
        .body(vec![b'x'; 200 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let res = client()
        .get(format!("{}/signin", s.url))
        .header("x-filler", "y".repeat(32 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 431);
    // The server is still fine.
    assert_eq!(well_known(&s, "bob@contoso.com").await.status(), 200);
}

#[tokio::test]
async fn an_authenticating_proxy_header_signs_users_in() {
    if !common::have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let s = Server::start("auth = \"header\"\ntrusted_header = \"X-Remote-User\"\n");
    let login = format!("{}/account-driven/login", s.url);
    let res = client()
        .get(&login)
        .query(&[("user-identifier", "carol@contoso.com")])
        .header("x-remote-user", "carol@contoso.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    let token = header(&res, "location")
        .rsplit('=')
        .next()
        .unwrap()
        .to_owned();
    let (mdm, _) = check_profile(
        &s,
        fetch_profile(&format!("{}{BASE}", s.url), &token).await,
        "proxy.mobileconfig",
    )
    .await;
    assert_eq!(mdm["AssignedManagedAppleID"], "carol@contoso.com");
    // Signed in as someone else, or not at all: no token.
    for who in [Some("bob@contoso.com"), None] {
        let mut req = client()
            .get(&login)
            .query(&[("user-identifier", "carol@contoso.com")]);
        if let Some(w) = who {
            req = req.header("x-remote-user", w);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 403, "{who:?}");
        assert!(res.headers().get("location").is_none());
    }
    // The portal takes the header as the user, no cookie needed.
    let res = client()
        .get(format!("{}/access", s.url))
        .header("x-remote-user", "bob@contoso.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("bob@contoso.com"));
    let res = client()
        .get(format!("{}/access", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // Codes are not used in this mode.
    let out = common::aspen(&[
        "invite",
        "-c",
        s.ws.settings().to_str().unwrap(),
        "--user",
        "bob@contoso.com",
    ]);
    assert!(common::fails(out).contains("portal.auth is \"header\""));
}

#[test]
fn the_cli_records_profiles_and_lists_them() {
    if !common::have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let ws = common::Workspace::new(&format!(
        "{}\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nsecret_file = \"portal.secret\"\nstate_dir = \"state\"\n",
        common::demo_settings()
    ));
    let settings = ws.settings();
    let settings = settings.to_str().unwrap();
    let out = ws.path("p.mobileconfig");
    common::ok(common::aspen(&[
        "profile",
        "user",
        "-c",
        settings,
        "--managed-apple-id",
        "alice@contoso.com",
        "-o",
        out.to_str().unwrap(),
    ]));
    let bytes = std::fs::read(&out).unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&common::ok(common::aspen(&[
        "issued", "-c", settings, "--json",
    ])))
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["channel"], "cli");
    assert_eq!(rows[0]["user"], "alice@contoso.com");
    assert_eq!(rows[0]["sha256"], sha256_hex(&bytes));
    assert_eq!(rows[0]["payload_uuid"], profile_uuid(&out));
    let table = String::from_utf8(common::ok(common::aspen(&[
        "issued", "-c", settings, "--wide",
    ])))
    .unwrap();
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with("TIME"));
    let row = lines.next().unwrap();
    assert!(
        row.contains("issued") && row.contains("user-byod") && row.contains(&sha256_hex(&bytes)),
        "{row}"
    );
    // Unknown users get no code.
    let msg = common::fails(common::aspen(&[
        "invite",
        "-c",
        settings,
        "--user",
        "zed@contoso.com",
    ]));
    assert!(
        msg.contains("no user with email \"zed@contoso.com\""),
        "{msg}"
    );
    // ...and a missing secret is named.
    let msg = common::fails(common::aspen(&[
        "invite",
        "-c",
        settings,
        "--user",
        "bob@contoso.com",
    ]));
    assert!(
        msg.contains("portal.secret") && msg.contains("aspen init"),
        "{msg}"
    );
}

/// Every command that needs the state folder says so the same way.
#[test]
fn commands_without_a_state_dir_say_so_alike() {
    let ws = common::Workspace::new(&format!(
        "{}\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nsecret_file = \"portal.secret\"\n",
        common::demo_settings()
    ));
    std::fs::write(ws.path("portal.secret"), "5a".repeat(32) + "\n").unwrap();
    let config = ws.settings();
    let config = config.to_str().unwrap();
    let expected = format!("{config}: needs [store] url (or url_env) or portal.state_dir");
    for args in [
        &["invite", "-c", config, "--user", "bob@contoso.com"][..],
        &["issued", "-c", config],
        &["serve", "-c", config, "--listen", "127.0.0.1:0", "--quiet"],
    ] {
        let err = common::fails(common::aspen(args));
        assert!(err.contains(&expected), "{args:?}: {err}");
    }
}

#[test]
fn init_writes_a_private_portal_secret() {
    let dir = tempfile::tempdir().unwrap();
    common::ok(common::aspen(&["init", dir.path().to_str().unwrap()]));
    let secret = dir.path().join("portal.secret");
    let text = std::fs::read_to_string(&secret).unwrap();
    assert_eq!(text.trim().len(), 64);
    assert!(text.trim().chars().all(|c| c.is_ascii_hexdigit()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let toml = std::fs::read_to_string(dir.path().join("aspen.toml")).unwrap();
    assert!(toml.contains("[portal]") && toml.contains("secret_file = \"portal.secret\""));
}

#[tokio::test]
async fn tls_is_served_with_the_given_certificate() {
    if !common::have_tools(&[("openssl", "openssl"), ("curl", "curl")]) {
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
        .args(["-s", "--cacert"])
        .arg(&crt)
        .arg(format!(
            "{}/.well-known/com.apple.remotemanagement?user-identifier=carol@contoso.com",
            s.url
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        body["Servers"][0]["BaseURL"],
        format!("{}{BASE}?version=mdm-byod", s.url)
    );
    // Plain http to the TLS port gets nothing useful.
    let plain = s.url.replace("https://", "http://");
    let plain_ok = client()
        .get(format!("{plain}/signin"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200);
    assert!(!plain_ok);
}

#[tokio::test]
async fn the_demo_serves_everything_with_one_command() {
    if !common::have_tools(&[
        ("openssl", "openssl"),
        ("python3", "python3"),
        ("kill", "procps"),
    ]) {
        return;
    }
    // Port 0: the demo binds a port the kernel chooses and prints its URL.
    let mut child = Reap(
        std::process::Command::new(env!("CARGO_BIN_EXE_aspen"))
            .args(["serve", "--demo", "--quiet", "--listen", "127.0.0.1:0"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let child = &mut child.0;
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut codes = HashMap::new();
    let mut root = None;
    let mut url = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("Open ") {
            url = rest.split('/').take(3).collect::<Vec<_>>().join("/").into();
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() > 2 && words[1].ends_with("@contoso.com") {
            codes.insert(words[1].to_owned(), words[0].to_owned());
        }
        if let Some(rest) = line.split("-CAfile ").nth(1) {
            root = Some(rest.split_whitespace().next().unwrap().to_owned());
        }
        if line.starts_with("Audit log") {
            break;
        }
    }
    assert_eq!(codes.len(), 5, "{codes:?}");
    let root = std::path::PathBuf::from(root.expect("the demo root is printed"));
    assert!(root.exists());
    // Wait for the listener, then download Bob's profile as a browser would.
    let printed: String = url.expect("the demo prints its URL");
    let port = printed
        .strip_prefix("http://localhost:")
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p != 0)
        .unwrap_or_else(|| panic!("{printed}"));
    let url = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..100 {
        if client().get(format!("{url}/signin")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(up);
    let res = client().get(format!("{url}/signin")).send().await.unwrap();
    let csrf = set_cookie(&res, "aspen_csrf").unwrap();
    let html = res.text().await.unwrap();
    let res = client()
        .post(format!("{url}/signin"))
        .header("cookie", &csrf)
        .form(&[
            ("csrf", field(&html, "csrf").as_str()),
            ("code", codes["bob@contoso.com"].as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let session = set_cookie(&res, "aspen_session").unwrap();
    let res = client()
        .get(format!("{url}/enroll/profile.mobileconfig"))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.mobileconfig");
    std::fs::write(&file, res.bytes().await.unwrap()).unwrap();
    let xml = openssl_verify(&file, &root).expect("verifies against the demo's ephemeral root");
    let signers = common::openssl_cms_subjects(&file);
    assert!(
        signers.iter().any(|s| s.contains("ephemeral")),
        "{signers:?}"
    );
    assert!(
        !signers.iter().any(|s| s.contains("Test")),
        "the fixture's test key is not used: {signers:?}"
    );
    assert_eq!(plistlib_json(&xml)["PayloadOrganization"], "Contoso");
    // Ctrl-C removes the demo folder.
    let demo_dir = root.parent().unwrap().to_owned();
    unsafe_sigint(child.id());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!demo_dir.exists(), "the demo folder is removed on exit");
}

/// Kills the server if the test fails before stopping it (a panic would
/// otherwise leave it running, adopted by init).
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn unsafe_sigint(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}
