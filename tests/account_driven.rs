//! Device-aware account-driven enrollment, played from outside over real
//! HTTP: devices post their `MachineInfo` (CMS-signed with the test-only
//! device key in fixtures/certs, or a bare plist), an OS too old for the
//! user's policy gets Apple's software-update error naming the version it
//! needs, ACME falls back to `[identity.fallback]`, and the kind discovery
//! announced is the kind served, whatever changes in between.

use crate::common;
use crate::server;

use aspen::store::Events as _;
use common::{cert, have_tool, openssl_verify, plistlib_json};
use server::{Server, client, field, header, machine_info, set_cookie};

/// Step 1: (BaseURL, Version).
async fn discover(s: &Server, user: &str, family: &str) -> (String, String) {
    let res = client()
        .get(format!("{}/.well-known/com.apple.remotemanagement", s.url))
        .query(&[("user-identifier", user), ("model-family", family)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    let server = &body["Servers"][0];
    (
        server["BaseURL"].as_str().unwrap().to_owned(),
        server["Version"].as_str().unwrap().to_owned(),
    )
}

/// Step 3: the web sign-in with a one-time code; the access token.
pub async fn access_token(s: &Server, user: &str) -> String {
    let code = s.invite(user);
    let login = format!("{}/account-driven/login", s.url);
    let res = client()
        .get(&login)
        .query(&[("user-identifier", user)])
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
            ("user_identifier", user),
            ("code", &code),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    header(&res, "location")
        .rsplit_once("access-token=")
        .unwrap()
        .1
        .to_owned()
}

/// Steps 2 and 4: POST `body` to `base`, with the token when given.
pub async fn post(
    base: &str,
    token: Option<&str>,
    body: Vec<u8>,
    signed: bool,
) -> reqwest::Response {
    let mut req = client().post(base).header(
        "content-type",
        if signed {
            "application/pkcs7-signature"
        } else {
            "application/xml"
        },
    );
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    req.body(body).send().await.unwrap()
}

/// `plist` signed as a device signs its MachineInfo (CMS SignedData, DER,
/// content attached), with the test-only device key, by openssl.
fn device_signed(s: &Server, plist: &[u8]) -> Vec<u8> {
    let input = s.ws.path("machineinfo.plist");
    let output = s.ws.path("machineinfo.p7s");
    std::fs::write(&input, plist).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "cms",
            "-sign",
            "-binary",
            "-nodetach",
            "-outform",
            "DER",
            "-signer",
        ])
        .arg(cert("device.pem"))
        .arg("-inkey")
        .arg(cert("device.key"))
        .arg("-in")
        .arg(&input)
        .arg("-out")
        .arg(&output)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let der = std::fs::read(&output).unwrap();
    assert_eq!(der[0], 0x30, "DER SignedData");
    der
}

/// The signed profile of a 200 answer: verified by openssl, read by plistlib.
async fn profile(s: &Server, res: reqwest::Response, name: &str) -> serde_json::Value {
    assert_eq!(res.status(), 200);
    let path = s.ws.path(name);
    std::fs::write(&path, res.bytes().await.unwrap()).unwrap();
    plistlib_json(&openssl_verify(&path, &cert("ca.pem")).expect("openssl cms -verify"))
}

fn payload<'a>(
    profile: &'a serde_json::Value,
    payload_type: &str,
) -> Option<&'a serde_json::Value> {
    profile["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["PayloadType"] == payload_type)
}

/// The `issued` rows of `user`, as `aspen issued --json` lists them.
fn issued(s: &Server, user: &str) -> Vec<serde_json::Value> {
    let out = common::ok(common::aspen(&[
        "issued",
        "-c",
        s.ws.settings().to_str().unwrap(),
        "--user",
        user,
        "--json",
    ]));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
    rows.into_iter()
        .filter(|r| r["event"] == "issued")
        .collect()
}

#[tokio::test]
async fn an_ios_16_device_under_a_device_policy_is_told_it_needs_ios_17() {
    if !have_tool("openssl", "openssl") || !have_tool("python3", "python3") {
        return;
    }
    let s = Server::start("");
    // Bob's policy is device enrollment: discovery announces ADDE.
    let (base, version) = discover(&s, "bob@contoso.com", "iPhone").await;
    assert_eq!(version, "mdm-adde");
    assert_eq!(
        base,
        format!("{}/account-driven/enroll?version=mdm-adde", s.url)
    );
    // An iOS 16 iPhone posts its CMS-signed MachineInfo: iOS 16 sends no
    // OS_VERSION, its build (20H19) says 16.
    let ios16 = device_signed(&s, &machine_info("iPhone14,2", "20H19", None));
    let res = post(&base, None, ios16.clone(), true).await;
    assert_eq!(res.status(), 403);
    assert_eq!(header(&res, "content-type"), "application/json");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "com.apple.softwareupdate.required");
    assert_eq!(body["details"]["OSVersion"], "17.0");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("iOS 17.0 or later"), "{message}");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("the device runs 16.0"),
        "{body}"
    );
    // Signed in or not, and whether it says its version (unsigned, as
    // OS_VERSION 16.7.10) or not: the same answer, and no profile.
    let token = access_token(&s, "bob@contoso.com").await;
    let res = post(&base, Some(&token), ios16, true).await;
    assert_eq!(res.status(), 403);
    let res = post(
        &base,
        Some(&token),
        machine_info("iPhone14,2", "20H19", Some("16.7.10")),
        false,
    )
    .await;
    assert_eq!(res.status(), 403);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["details"]["OSVersion"], "17.0");
    // An iPad says iPadOS.
    let res = post(&base, None, machine_info("iPad13,4", "20H19", None), false).await;
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("iPadOS 17.0"),
        "{body}"
    );
    assert!(issued(&s, "bob@contoso.com").is_empty());

    // iOS 17.5, signed: the sign-in challenge, then the ADDE profile.
    let ios17 = device_signed(&s, &machine_info("iPhone15,2", "21F90", Some("17.5.1")));
    let res = post(&base, None, ios17.clone(), true).await;
    assert_eq!(res.status(), 401);
    let p = profile(
        &s,
        post(&base, Some(&token), ios17, true).await,
        "bob.mobileconfig",
    )
    .await;
    assert_eq!(
        payload(&p, "com.apple.mdm").unwrap()["EnrollmentMode"],
        "ADDE"
    );
    assert_eq!(issued(&s, "bob@contoso.com").len(), 1);
}

#[tokio::test]
async fn user_enrollment_takes_ios_15_and_16_and_garbage_is_refused() {
    if !have_tool("openssl", "openssl") || !have_tool("python3", "python3") {
        return;
    }
    let s = Server::start("");
    // Carol's policy is User Enrollment: iOS 15 is enough.
    let (base, version) = discover(&s, "carol@contoso.com", "iPhone").await;
    assert_eq!(version, "mdm-byod");
    let token = access_token(&s, "carol@contoso.com").await;
    let ios15 = device_signed(&s, &machine_info("iPhone13,2", "19H12", None));
    let p = profile(
        &s,
        post(&base, Some(&token), ios15, true).await,
        "carol.mobileconfig",
    )
    .await;
    assert_eq!(
        payload(&p, "com.apple.mdm").unwrap()["EnrollmentMode"],
        "BYOD"
    );
    // A Mac below 14 cannot do account-driven User Enrollment.
    let res = post(
        &base,
        None,
        machine_info("MacBookPro18,3", "22G91", None),
        false,
    )
    .await;
    assert_eq!(res.status(), 403);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["details"]["OSVersion"], "14.0");
    assert!(body["message"].as_str().unwrap().contains("macOS 14.0"));
    // What the endpoint cannot read is a 400, not a guess.
    for bad in [
        &b"not a plist"[..],
        b"\x30\x82\x01\x00garbage",
        b"<?xml version=\"1.0\"?><plist version=\"1.0\"><array/></plist>",
    ] {
        let res = post(&base, Some(&token), bad.to_vec(), false).await;
        assert_eq!(res.status(), 400, "{bad:?}");
    }
    let res = post(
        &format!("{}/account-driven/enroll?version=mdm-nonsense", s.url),
        None,
        Vec::new(),
        false,
    )
    .await;
    assert_eq!(res.status(), 400);
    // A device that says nothing is judged by nothing. (The same access
    // token fetching the same profile again within `[serve]
    // download_repeat_window` gets the same bytes, recorded once.)
    let res = post(&base, Some(&token), Vec::new(), false).await;
    assert_eq!(res.status(), 200);
    assert_eq!(issued(&s, "carol@contoso.com").len(), 1);
}

#[tokio::test]
async fn a_choice_changed_after_discovery_does_not_change_the_served_kind() {
    if !have_tool("openssl", "openssl") || !have_tool("python3", "python3") {
        return;
    }
    let s = Server::start("");
    // Alice (user-choice, no answer yet): discovery announces User Enrollment.
    let (base, version) = discover(&s, "alice@contoso.com", "iPhone").await;
    assert_eq!(version, "mdm-byod");
    let token = access_token(&s, "alice@contoso.com").await;
    // Meanwhile she answers "my device, secure all of it" (through the
    // store, as the portal or another replica records it).
    let store = aspen::store::sqlite::Sqlite::open(&s.ws.path("state"))
        .await
        .unwrap();
    store
        .append(
            vec![aspen::audit::Record::choice(
                aspen::audit::Source::Portal,
                "alice@contoso.com",
                "BYOD staff",
                aspen::model::policy::Choice::Device,
                aspen::model::EnrollmentKind::Device(aspen::model::Ownership::Personal),
            )],
            aspen::audit::now(),
        )
        .await
        .unwrap();
    // The POST to the BaseURL that announced BYOD gets no device profile.
    let res = post(&base, Some(&token), server::iphone_18(), false).await;
    assert_eq!(res.status(), 409);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "aspen.enrollment-changed");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("announced mdm-byod, the user's policy now gives mdm-adde"),
        "{body}"
    );
    assert!(issued(&s, "alice@contoso.com").is_empty());
    // Discovery again announces what she chose, and that is served.
    let (base, version) = discover(&s, "alice@contoso.com", "iPhone").await;
    assert_eq!(version, "mdm-adde");
    let p = profile(
        &s,
        post(&base, Some(&token), server::iphone_18(), false).await,
        "alice.mobileconfig",
    )
    .await;
    let mdm = payload(&p, "com.apple.mdm").unwrap();
    assert_eq!(mdm["EnrollmentMode"], "ADDE");
    assert_eq!(mdm["AccessRights"], 8179, "personal device rights");
    let rows = issued(&s, "alice@contoso.com");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["kind"], "adde-personal");
}

#[tokio::test]
async fn platforms_without_account_driven_enrollment_are_told_at_discovery() {
    let s = Server::start("");
    for family in ["AppleTV", "Watch"] {
        let res = client()
            .get(format!("{}/.well-known/com.apple.remotemanagement", s.url))
            .query(&[
                ("user-identifier", "carol@contoso.com"),
                ("model-family", family),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{family}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], "com.apple.well-known.failed");
        // Apple's ErrorWellKnownFailed keys, and no others.
        let mut keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["code", "description", "message"], "{family}");
        // The same for a user who is not in the directory: nothing told.
        let other = client()
            .get(format!("{}/.well-known/com.apple.remotemanagement", s.url))
            .query(&[
                ("user-identifier", "nobody@contoso.com"),
                ("model-family", family),
            ])
            .send()
            .await
            .unwrap();
        let other: serde_json::Value = other.json().await.unwrap();
        assert_eq!(other, body);
    }
}

/// The demo settings with an ACME identity (per-profile client
/// identifiers) and, when `fallback`, a per-profile SCEP fallback.
fn acme_settings(fallback: bool) -> impl Fn(String) -> String {
    move |text: String| {
        let start = text.find("[identity]").unwrap();
        let end = text.find("[[anchor]]").unwrap();
        let fallback = if fallback {
            "\n[identity.fallback]\nurl = \"https://mdm.contoso.com/scep\"\nchallenge = \"per-profile\"\nsubject = \"O=Contoso/CN=Contoso MDM Identity\"\n"
        } else {
            ""
        };
        format!(
            "{}[identity]\nkind = \"acme\"\ndirectory_url = \"https://acme.contoso.com/directory\"\nclient_identifier = \"per-profile\"\nkey_type = \"ECSECPrimeRandom\"\nkey_size = 256\n{fallback}\n{}",
            &text[..start],
            &text[end..]
        )
    }
}

#[tokio::test]
async fn a_device_too_old_for_acme_gets_the_scep_fallback() {
    if !have_tool("openssl", "openssl") || !have_tool("python3", "python3") {
        return;
    }
    let s = Server::start_edited(&acme_settings(true));
    let (base, _) = discover(&s, "carol@contoso.com", "iPhone").await;
    let token = access_token(&s, "carol@contoso.com").await;
    // iOS 17: ACME (iOS 16 and later).
    let p = profile(
        &s,
        post(&base, Some(&token), server::iphone_18(), false).await,
        "acme.mobileconfig",
    )
    .await;
    let acme = payload(&p, "com.apple.security.acme").expect("an ACME payload");
    assert!(payload(&p, "com.apple.security.scep").is_none());
    assert_eq!(
        payload(&p, "com.apple.mdm").unwrap()["IdentityCertificateUUID"],
        acme["PayloadUUID"]
    );
    // iOS 15 (build 19H12): no ACME, so the fallback's SCEP, with a fresh
    // challenge the SCEP server's check accepts once. (Another device:
    // another sign-in, an access token enrolls once.)
    let token = access_token(&s, "carol@contoso.com").await;
    let ios15 = device_signed(&s, &machine_info("iPhone13,2", "19H12", None));
    let p = profile(
        &s,
        post(&base, Some(&token), ios15, true).await,
        "scep.mobileconfig",
    )
    .await;
    assert!(payload(&p, "com.apple.security.acme").is_none());
    let scep = payload(&p, "com.apple.security.scep").expect("the fallback's SCEP payload");
    assert_eq!(
        payload(&p, "com.apple.mdm").unwrap()["IdentityCertificateUUID"],
        scep["PayloadUUID"]
    );
    let challenge = scep["PayloadContent"]["Challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(challenge.len(), 32);
    let config = s.ws.path("req.cnf");
    std::fs::write(
        &config,
        format!("[req]\nprompt = no\ndistinguished_name = dn\nattributes = a\n[dn]\nCN = carol-iphone\n[a]\nchallengePassword = {challenge}\n"),
    )
    .unwrap();
    let csr = s.ws.path("req.der");
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
        ])
        .arg(s.ws.path("req.key"))
        .arg("-config")
        .arg(&config)
        .args(["-outform", "DER", "-out"])
        .arg(&csr)
        .output()
        .unwrap();
    assert!(out.status.success());
    let settings = s.ws.settings();
    let verify = || {
        common::aspen(&[
            "scep-verify",
            "-c",
            settings.to_str().unwrap(),
            csr.to_str().unwrap(),
        ])
        .status
        .code()
    };
    assert_eq!(verify(), Some(0), "the fallback's challenge is accepted");
    assert_eq!(verify(), Some(1), "once");
}

#[tokio::test]
async fn without_a_fallback_a_device_too_old_for_acme_is_told_it_needs_ios_16() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let s = Server::start_edited(&acme_settings(false));
    let (base, _) = discover(&s, "carol@contoso.com", "iPhone").await;
    let ios15 = device_signed(&s, &machine_info("iPhone13,2", "19H12", None));
    let res = post(&base, None, ios15, true).await;
    assert_eq!(res.status(), 403);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "com.apple.softwareupdate.required");
    assert_eq!(body["details"]["OSVersion"], "16.0");
    assert!(
        body["description"].as_str().unwrap().contains("ACME"),
        "{body}"
    );
}
