//! Signing in to the portal through a real OpenID provider (tests/idp/):
//! the whole flow over HTTP, the IdP's groups choosing the policy, the audit
//! row saying which groups and claim did, key rotation, sign-out, an IdP
//! that is down, and every way a callback is refused — each with its
//! status, its page, a warning in the log without a secret, and no session.
//! (A little over 600 lines: it also holds the helpers tests/oidc_devices.rs
//! and the browser test share — `Setup`, `Person`, `refused`.)

use crate::common;
use crate::idp::{self, CLIENT_SECRET, Idp, IdpBrowser, query};
use crate::server::{self, Server, client, header};
use std::collections::HashMap;
use std::time::Duration;

/// dana's group at the IdP: an Entra-style object ID, listed beside the
/// name in the demo's "Executives" policy.
pub const DANA_GROUP: &str = "6f1c2a9e-5b0d-4c3e-9a8f-7e6d5c4b3a21";

/// A test IdP and aspen signing people in through it.
pub struct Setup {
    pub idp: Idp,
    pub s: Server,
}

/// The demo settings with `[portal] auth = "oidc"`, `[oidc]` (plus
/// `oidc_extra`), a failure budget the tests do not exhaust (unless
/// `serve_extra` says otherwise), and the Executives policy assigned to
/// dana's group ID as well as to "Leadership".
pub async fn setup_with(oidc_extra: &str, serve_extra: &str, idp: Idp) -> Setup {
    let serve = if serve_extra.is_empty() {
        "signin_failures_per_address = 1000\n"
    } else {
        serve_extra
    };
    let extra = format!(
        "auth = \"oidc\"\n\n[serve]\n{serve}{}",
        idp.settings(oidc_extra)
    );
    let s = Server::start_custom(&extra, None, &|text| {
        text.replace(
            "groups = [\"Leadership\"]",
            &format!("groups = [\"Leadership\", \"{DANA_GROUP}\"]"),
        )
    });
    idp.register(&s.url).await;
    Setup { idp, s }
}

pub async fn setup(oidc_extra: &str) -> Setup {
    setup_with(oidc_extra, "", Idp::start(0)).await
}

/// A person's browser: aspen's cookies (each checked for its flags as it
/// is set) and the IdP's.
#[derive(Default)]
pub struct Person {
    pub aspen: HashMap<String, String>,
    pub idp: IdpBrowser,
}

/// The flags each of aspen's cookies must carry.
fn flags(name: &str) -> &'static [&'static str] {
    match name {
        "aspen_oidc" => &["HttpOnly", "Secure", "SameSite=Lax", "Path=/"],
        _ => &["HttpOnly", "Secure", "SameSite=Strict", "Path=/"],
    }
}

/// The value `res` sets cookie `name` to, if it sets it.
pub fn sets(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            for flag in flags(name) {
                assert!(
                    v.split("; ").any(|f| f == *flag),
                    "{name} lacks {flag}: {v}"
                );
            }
            v.split(';').next().unwrap()[name.len() + 1..].to_owned()
        })
}

/// Whether `res` starts a session.
pub fn starts_session(res: &reqwest::Response) -> bool {
    sets(res, "aspen_session").is_some_and(|v| !v.is_empty())
}

impl Person {
    fn keep(&mut self, res: &reqwest::Response) {
        for name in ["aspen_csrf", "aspen_session", "aspen_oidc"] {
            match sets(res, name) {
                Some(v) if v.is_empty() => {
                    self.aspen.remove(name);
                }
                Some(v) => {
                    self.aspen.insert(name.into(), v);
                }
                None => {}
            }
        }
    }

    fn cookies(&self) -> String {
        self.aspen
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// GET `url` (a path on `s`, or a whole URL) with aspen's cookies.
    pub async fn get(&mut self, s: &Server, url: &str) -> reqwest::Response {
        let url = if url.starts_with('/') {
            format!("{}{url}", s.url)
        } else {
            url.to_owned()
        };
        let res = client()
            .get(url)
            .header("cookie", self.cookies())
            .send()
            .await
            .unwrap();
        self.keep(&res);
        res
    }

    pub async fn post(&mut self, s: &Server, path: &str, html: &str) -> reqwest::Response {
        let csrf = server::field(html, "csrf");
        let res = client()
            .post(format!("{}{path}", s.url))
            .header("cookie", self.cookies())
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        self.keep(&res);
        res
    }

    /// GET `path` (a sign-in page), which sends the browser to the IdP:
    /// the authorization request.
    pub async fn start(&mut self, s: &Server, path: &str) -> String {
        let res = self.get(s, path).await;
        assert_eq!(res.status(), 303, "GET {path}: {}", s.log());
        assert!(
            self.aspen.contains_key("aspen_oidc"),
            "the sign-in's cookie"
        );
        header(&res, "location")
    }

    /// Signs in at the IdP as `login` from `path`: where the IdP sent the
    /// browser back (aspen's callback URL).
    pub async fn through_idp(&mut self, t: &Setup, path: &str, login: &str) -> String {
        let url = self.start(&t.s, path).await;
        self.idp.sign_in(&t.idp.issuer, &url, login).await.location
    }

    /// The whole portal sign-in as `login`: the callback's answer.
    pub async fn sign_in(&mut self, t: &Setup, login: &str) -> reqwest::Response {
        let callback = self.through_idp(t, "/signin", login).await;
        assert!(
            callback.starts_with(&format!("{}/oidc/callback?", t.s.url)),
            "{callback}"
        );
        self.get(&t.s, &callback).await
    }
}

/// Waits (at most 10 s: the log is read by another thread) until the log
/// after byte `from` holds `want`; that part of the log.
pub async fn log_after(s: &Server, from: usize, want: &str) -> String {
    for _ in 0..200 {
        let log = s.log();
        if log[from..].contains(want) {
            return log[from..].to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {want:?} in the log: {}", &s.log()[from..]);
}

/// A refused callback: its status, a page that says `page`, a warning
/// with `reason`, no secret in that warning, and no session.
pub async fn refused(
    t: &Setup,
    from: usize,
    res: reqwest::Response,
    status: u16,
    page: &str,
    reason: &str,
) {
    assert_eq!(res.status(), status, "{}", t.s.log());
    assert!(!starts_session(&res), "a refused sign-in starts no session");
    assert_eq!(
        sets(&res, "aspen_oidc").as_deref(),
        Some(""),
        "the sign-in's cookie is cleared"
    );
    let html = res.text().await.unwrap();
    assert!(html.contains(page), "the page says {page:?}: {html}");
    let log = log_after(&t.s, from, "sign-in through the identity provider refused").await;
    let line = log
        .lines()
        .find(|l| l.contains("sign-in through the identity provider refused"))
        .unwrap();
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains(reason), "the warning says {reason:?}: {line}");
    assert!(!log.contains(CLIENT_SECRET));
    if let Ok(last) = reqwest::get(format!("{}/__test/last-token", t.idp.issuer)).await
        && let Ok(v) = last.json::<serde_json::Value>().await
    {
        for key in ["id_token", "served_id_token", "access_token"] {
            if let Some(token) = v[key].as_str() {
                assert!(!log.contains(token), "the log shows the {key}");
                let signature = token.rsplit('.').next().unwrap();
                assert!(
                    signature.len() < 8 || !log.contains(signature),
                    "the log shows the {key}'s signature"
                );
            }
        }
    }
}

/// The rows `aspen issued --json` lists for `user`.
pub fn issued(s: &Server, user: &str) -> Vec<serde_json::Value> {
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

#[tokio::test]
async fn a_person_signs_in_at_the_idp_and_its_groups_choose_the_policy() {
    if !idp::available() || !common::have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let t = setup("groups_claim = \"groups\"").await;
    let ready: serde_json::Value = client()
        .get(format!("{}/readyz", t.s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            ready["ready"].as_bool(),
            ready["identity provider"].as_str()
        ),
        (Some(true), Some("reachable"))
    );

    // /signin sends the browser to the IdP: code flow, PKCE S256, state
    // and nonce, aspen's redirect URI.
    let mut dana = Person::default();
    let url = dana.start(&t.s, "/signin").await;
    assert!(url.starts_with(&format!("{}/auth?", t.idp.issuer)), "{url}");
    let q = |k| query(&url, k).unwrap_or_default();
    assert_eq!(
        (q("response_type"), q("client_id")),
        ("code".into(), idp::CLIENT_ID.into())
    );
    assert_eq!(q("redirect_uri"), format!("{}/oidc/callback", t.s.url));
    assert_eq!(q("code_challenge_method"), "S256");
    assert_eq!(q("code_challenge").len(), 43);
    assert_eq!(q("scope"), "openid email profile groups");
    assert!(q("state").len() >= 43 && q("nonce").len() >= 43 && q("state") != q("nonce"));
    let flow_cookie = dana.aspen["aspen_oidc"].clone();
    for secret in [q("state"), q("nonce")] {
        assert!(
            !flow_cookie.contains(&secret),
            "the cookie shows no value of the sign-in"
        );
    }

    // dana is in no users.csv; the IdP says she is in the group (an object
    // ID) of the highest-priority policy: device enrollment.
    let back = dana.idp.sign_in(&t.idp.issuer, &url, "dana").await.location;
    assert_eq!(query(&back, "state"), Some(q("state")));
    let res = dana.get(&t.s, &back).await;
    assert_eq!(res.status(), 200, "{}", t.s.log());
    assert!(starts_session(&res));
    assert_eq!(
        sets(&res, "aspen_oidc").as_deref(),
        Some(""),
        "the sign-in's cookie is cleared"
    );
    let html = res.text().await.unwrap();
    assert!(
        html.contains("<meta http-equiv=\"refresh\" content=\"0; url=/access\">"),
        "{html}"
    );
    let html = dana.get(&t.s, "/access").await.text().await.unwrap();
    assert!(
        html.contains("Executives") && html.contains("dana@contoso.com"),
        "{html}"
    );
    let res = dana.get(&t.s, "/enroll/profile.mobileconfig").await;
    assert_eq!(res.status(), 200);
    let path = t.s.ws.path("dana.mobileconfig");
    std::fs::write(&path, res.bytes().await.unwrap()).unwrap();
    let profile =
        common::plistlib_json(&common::openssl_verify(&path, &common::cert("ca.pem")).unwrap());
    let mdm = profile["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["PayloadType"] == "com.apple.mdm")
        .unwrap();
    assert_eq!(mdm["AccessRights"], 8191, "a corporate device");
    // The audit row says which groups chose the policy, and from where.
    let rows = issued(&t.s, "dana@contoso.com");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["policy"], "Executives");
    assert_eq!(rows[0]["groups"], serde_json::json!([DANA_GROUP]));
    assert_eq!(rows[0]["groups_claim"], "groups");
    let table = String::from_utf8(common::ok(common::aspen(&[
        "issued",
        "-c",
        t.s.ws.settings().to_str().unwrap(),
        "--wide",
    ])))
    .unwrap();
    assert!(
        table.contains("GROUPS FROM") && table.contains(&format!("{DANA_GROUP}  claim:groups")),
        "{table}"
    );

    // bob is in Leadership in users.csv, but the IdP says Staff only: a
    // person known to both gets the IdP's groups.
    let mut bob = Person::default();
    assert_eq!(bob.sign_in(&t, "bob").await.status(), 200);
    let html = bob.get(&t.s, "/access").await.text().await.unwrap();
    assert!(
        html.contains("BYOD staff") && !html.contains("Executives"),
        "{html}"
    );

    // Signing out ends aspen's session and continues to the IdP's.
    let res = dana.get(&t.s, "/access").await;
    let html = res.text().await.unwrap();
    let res = dana.post(&t.s, "/signout", &html).await;
    assert_eq!(res.status(), 200);
    assert_eq!(sets(&res, "aspen_session").as_deref(), Some(""));
    let html = res.text().await.unwrap();
    let end = format!(
        "{}/session/end?client_id={}&#38;post_logout_redirect_uri=",
        t.idp.issuer,
        idp::CLIENT_ID
    );
    let back =
        url::form_urlencoded::byte_serialize(format!("{}/oidc/signed-out", t.s.url).as_bytes())
            .collect::<String>();
    assert!(
        html.contains(&format!("{end}{back}")) && html.contains("http-equiv=\"refresh\""),
        "{html}"
    );
    let res = dana.get(&t.s, "/access").await;
    assert_eq!(header(&res, "location"), "/signin");
    let res = dana.get(&t.s, "/oidc/signed-out").await;
    assert!(res.text().await.unwrap().contains("You are signed out"));
}

#[tokio::test]
async fn every_refused_callback_says_why_logs_it_and_starts_no_session() {
    if !idp::available() {
        return;
    }
    let t = setup("groups_claim = \"groups\"").await;
    // The ID token is changed on its way to aspen, one way at a time.
    for (mode, reason) in [
        ("resign", "signature does not verify"),
        ("none", "alg \"none\""),
        ("hs256", "alg \"HS256\""),
        ("audience", "aud does not include"),
        ("expired", "the token expired"),
        ("nonce", "nonce is not the one"),
        ("issuer", "iss is not the configured issuer"),
    ] {
        t.idp.tamper(mode).await;
        let from = t.s.log().len();
        let res = Person::default().sign_in(&t, "alice").await;
        refused(&t, from, res, 401, "could not be verified", reason).await;
    }
    t.idp.tamper("off").await;

    // The IdP's own refusal (an account it does not know).
    let from = t.s.log().len();
    let res = Person::default().sign_in(&t, "mallory").await;
    refused(
        &t,
        from,
        res,
        403,
        "was cancelled or refused",
        "error=access_denied",
    )
    .await;

    // A callback used twice: the second is refused before the IdP is asked.
    let mut alice = Person::default();
    let callback = alice.through_idp(&t, "/signin", "alice").await;
    let flow = alice.aspen["aspen_oidc"].clone();
    let res = alice.get(&t.s, &callback).await;
    assert_eq!(res.status(), 200);
    alice.aspen.insert("aspen_oidc".into(), flow.clone());
    let from = t.s.log().len();
    let res = alice.get(&t.s, &callback).await;
    refused(
        &t,
        from,
        res,
        400,
        "already completed once",
        "finished already",
    )
    .await;
    let code = query(&callback, "code").unwrap();
    assert!(!t.s.log().contains(&code), "the code is never logged");

    // No state; another browser's state; no sign-in cookie at all.
    let mut p = Person::default();
    let callback = p.through_idp(&t, "/signin", "alice").await;
    let state = query(&callback, "state").unwrap();
    let from = t.s.log().len();
    let res = p
        .get(&t.s, &callback.replace(&format!("state={state}"), "x=1"))
        .await;
    refused(&t, from, res, 400, "Sign-in expired", "has no state").await;
    let mut q = Person::default();
    let theirs = q.through_idp(&t, "/signin", "alice").await;
    q.aspen.insert(
        "aspen_oidc".into(),
        p.aspen.get("aspen_oidc").cloned().unwrap_or(flow),
    );
    let from = t.s.log().len();
    let res = q.get(&t.s, &theirs).await;
    refused(
        &t,
        from,
        res,
        400,
        "Sign-in expired",
        "state is not the one",
    )
    .await;
    let from = t.s.log().len();
    let res = Person::default().get(&t.s, &theirs).await;
    refused(&t, from, res, 400, "Sign-in expired", "no sign-in cookie").await;

    // Too late: a sign-in cookie (made with the portal key) past its time.
    let keys = server::keys();
    let seed = "00112233445566778899aabbccddeeff";
    let late = keys
        .issue(
            aspen::tokens::Purpose::OidcFlow,
            &format!("p.{seed}"),
            aspen::audit::now() - 1,
        )
        .unwrap();
    let state = keys
        .derive(aspen::tokens::Purpose::OidcState, seed)
        .unwrap();
    let mut r = Person::default();
    r.aspen.insert("aspen_oidc".into(), late);
    let from = t.s.log().len();
    let res = r
        .get(&t.s, &format!("/oidc/callback?code=x&state={state}"))
        .await;
    refused(&t, from, res, 400, "Sign-in expired", "cookie expired").await;

    // The IdP says the e-mail (user_claim) is not verified.
    let from = t.s.log().len();
    let res = Person::default().sign_in(&t, "erin").await;
    refused(&t, from, res, 401, "could not be verified", "not verified").await;

    // Without a groups claim, someone the IdP knows but the directory
    // does not gets no session.
    let t2 = setup("").await;
    t2.idp
        .admin(
            "accounts",
            serde_json::json!({"accounts": [{"id": "zoe", "email": "zoe@contoso.com"}]}),
        )
        .await;
    let from = t2.s.log().len();
    let res = Person::default().sign_in(&t2, "zoe").await;
    refused(
        &t2,
        from,
        res,
        403,
        "is not set up for enrollment",
        "not in the directory",
    )
    .await;
}

#[tokio::test]
async fn the_callback_is_throttled_like_failed_sign_ins() {
    if !idp::available() {
        return;
    }
    let t = setup_with(
        "groups_claim = \"groups\"",
        "signin_failures_per_address = 2\n",
        Idp::start(0),
    )
    .await;
    for _ in 0..2 {
        let from = t.s.log().len();
        let res = Person::default()
            .get(&t.s, "/oidc/callback?code=x&state=y")
            .await;
        refused(&t, from, res, 400, "Sign-in expired", "no sign-in cookie").await;
    }
    // The budget is spent: even a sign-in that would work is refused now.
    let mut alice = Person::default();
    let callback = alice.through_idp(&t, "/signin", "alice").await;
    let res = alice.get(&t.s, &callback).await;
    assert_eq!(res.status(), 429);
    assert!(header(&res, "retry-after").parse::<u64>().unwrap() >= 1);
    assert!(!starts_session(&res));
    assert!(
        log_after(&t.s, 0, "too many failed sign-ins")
            .await
            .contains("WARN")
    );
}

#[tokio::test]
async fn after_the_idp_rotates_its_key_the_next_sign_in_works() {
    if !idp::available() {
        return;
    }
    let t = setup("groups_claim = \"groups\"").await;
    assert_eq!(Person::default().sign_in(&t, "alice").await.status(), 200);
    let kid = t.idp.rotate().await;
    let mut alice = Person::default();
    let res = alice.sign_in(&t, "alice").await;
    assert_eq!(res.status(), 200, "{}", t.s.log());
    assert!(starts_session(&res));
    assert_eq!(t.idp.last_token().await["header"]["kid"], kid.as_str());
    assert!(
        log_after(&t.s, 0, "reading the identity provider's keys again")
            .await
            .contains("INFO")
    );
}

#[tokio::test]
async fn with_the_idp_down_at_start_aspen_is_not_ready_and_says_why() {
    if !idp::available() {
        return;
    }
    // An IdP that was there, and is gone when aspen starts.
    let gone = Idp::start(0);
    let (port, issuer) = (gone.port, gone.issuer.clone());
    drop(gone);
    let dir = tempfile::tempdir().unwrap();
    let secret = idp::write_secret(dir.path());
    let extra = format!(
        "auth = \"oidc\"\n\n[oidc]\nissuer = \"{issuer}\"\nclient_id = \"{}\"\nclient_secret_file = {secret:?}\ngroups_claim = \"groups\"\n",
        idp::CLIENT_ID
    );
    let s = Server::start_custom(&extra, None, &|t| t);
    let res = client()
        .get(format!("{}/readyz", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body["identity provider"],
        "cannot be reached (see the server's log)"
    );
    let res = Person::default().get(&s, "/signin").await;
    assert_eq!(res.status(), 503);
    assert!(!starts_session(&res) && sets(&res, "aspen_oidc").is_none());
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Sign-in is unavailable")
            && html.contains("cannot reach Contoso&#39;s sign-in service"),
        "{html}"
    );
    let log = log_after(&s, 0, "the identity provider cannot be used").await;
    assert!(
        log.contains("WARN") && log.contains(&format!("127.0.0.1:{port}")),
        "{log}"
    );

    // Back on its port: aspen notices, becomes ready, and sign-ins work.
    let back = Idp::start(port);
    back.register(&s.url).await;
    let mut ready = false;
    for _ in 0..120 {
        let res = client()
            .get(format!("{}/readyz", s.url))
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(ready, "aspen did not become ready: {}", s.log());
    let t = Setup { idp: back, s };
    assert_eq!(Person::default().sign_in(&t, "alice").await.status(), 200);
}
