//! Enrollment restrictions (`[[restriction]]`), played from outside over
//! real HTTP on every channel where they apply: account-driven discovery
//! and the enroll POST, the portal, Automated Device Enrollment. Every
//! refusal is checked for its status, Apple's error code and `details`,
//! the message naming the restriction, its audit row (`refused`), and that
//! no profile and no per-profile secret was issued. The device limit is
//! counted in devices whose challenge `aspen scep-verify` accepted.
//!
//! Over 600 lines: one test per rule and channel, all sharing the
//! settings, users and helpers at the top; split, each file would repeat
//! them.

use crate::account_driven::{access_token, post};
use crate::common;
use crate::server;

use common::{aspen, cert, have_tools, openssl_verify, plistlib_json};
use serde_json::Value;
use server::{Server, Visitor, client, machine_info};

/// One restriction per rule, each for its own group, and one for
/// everyone (and for ADE devices nobody signed in on).
const RESTRICTIONS: &str = r#"
[[restriction]]
name = "Macs only"
priority = 1
groups = ["MacOnly"]
platforms = ["macOS"]

[[restriction]]
name = "Current iOS"
priority = 2
groups = ["Current"]
minimum_os = { iOS = "18.0" }
maximum_os = { iOS = "18.4" }

[[restriction]]
name = "Old floor"
priority = 3
groups = ["OldFloor"]
minimum_os = { iOS = "16.0" }

[[restriction]]
name = "Company devices only"
priority = 4
groups = ["CompanyOnly"]
personal = "block"

[[restriction]]
name = "One device"
priority = 5
groups = ["OneDevice"]
device_limit = 1

[[restriction]]
name = "Everyone"
priority = 9
platforms = ["iOS", "macOS"]
minimum_os = { iOS = "17.2" }
maximum_os = { iOS = "17.4" }
"#;

/// The demo's policies: Leadership → device, Staff → user-choice,
/// Contractors → user (User Enrollment).
const USERS: &str = "email,managed_apple_id,groups
mac@contoso.com,mac@contoso.com,Staff;MacOnly
cur@contoso.com,cur@contoso.com,Leadership;Current
old@contoso.com,old@contoso.com,Leadership;OldFloor
co@contoso.com,co@contoso.com,Staff;CompanyOnly
con@contoso.com,con@contoso.com,Contractors;CompanyOnly
one@contoso.com,one@contoso.com,Leadership;OneDevice
both@contoso.com,both@contoso.com,Leadership;OneDevice;MacOnly
free@contoso.com,free@contoso.com,Leadership
";

/// The demo settings with per-profile challenges and [`RESTRICTIONS`].
fn restricted(demo: String) -> String {
    format!(
        "{}\n{RESTRICTIONS}",
        demo.replace("\"demo-challenge-not-secret\"", "\"per-profile\"")
    )
}

fn start() -> Server {
    Server::start_custom("", Some(USERS), &restricted)
}

fn have() -> bool {
    have_tools(&[("openssl", "openssl"), ("python3", "python3")])
}

/// Every audit row, as `aspen issued --json` lists them.
fn rows(s: &Server) -> Vec<Value> {
    let settings = s.ws.settings();
    let out = common::ok(aspen(&[
        "issued",
        "-c",
        settings.to_str().unwrap(),
        "--json",
    ]));
    serde_json::from_slice(&out).unwrap()
}

fn events<'a>(rows: &'a [Value], event: &str) -> Vec<&'a Value> {
    rows.iter().filter(|r| r["event"] == event).collect()
}

/// Per-profile secrets recorded in the store, read with SQLite itself.
fn secrets(s: &Server) -> i64 {
    let db = rusqlite::Connection::open(s.ws.path("state").join("aspen.sqlite3")).unwrap();
    db.query_row("SELECT count(*) FROM secrets", [], |r| r.get(0))
        .unwrap()
}

async fn discovery(s: &Server, user: &str, family: &str) -> reqwest::Response {
    client()
        .get(format!("{}/.well-known/com.apple.remotemanagement", s.url))
        .query(&[("user-identifier", user), ("model-family", family)])
        .send()
        .await
        .unwrap()
}

/// A 403 in Apple's error shape: its JSON.
async fn apple_error(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 403);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    res.json().await.unwrap()
}

/// The one `refused` row, checked against what it must say.
fn refused_row<'a>(
    rows: &'a [Value],
    channel: &str,
    user: Option<&str>,
    restriction: &str,
    reason: &str,
) -> &'a Value {
    let refused = events(rows, "refused");
    assert_eq!(refused.len(), 1, "{rows:#?}");
    let row = refused[0];
    assert_eq!(row["channel"], channel);
    assert_eq!(row["user"], user.map_or(Value::Null, Value::from));
    assert_eq!(row["policy"], restriction);
    let why = row["reason"].as_str().unwrap();
    assert!(
        why.starts_with(&format!("restriction {restriction:?}, ")) && why.contains(reason),
        "{why}"
    );
    row
}

fn enroll_url(s: &Server, version: &str) -> String {
    format!("{}/account-driven/enroll?version={version}", s.url)
}

/// The signed profile of a 200 answer, verified by openssl, read by
/// plistlib.
async fn profile(s: &Server, res: reqwest::Response, name: &str) -> Value {
    assert_eq!(res.status(), 200);
    let path = s.ws.path(name);
    std::fs::write(&path, res.bytes().await.unwrap()).unwrap();
    plistlib_json(&openssl_verify(&path, &cert("ca.pem")).expect("openssl cms -verify"))
}

fn payload<'a>(profile: &'a Value, kind: &str) -> &'a Value {
    profile["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["PayloadType"] == kind)
        .unwrap()
}

#[tokio::test]
async fn a_platform_not_allowed_is_refused_at_discovery_and_at_the_post() {
    if !have() {
        return;
    }
    let s = start();
    // An iPhone asks for Macs-only mac@: Apple's well-known failure,
    // naming the restriction.
    let body = apple_error(discovery(&s, "mac@contoso.com", "iPhone").await).await;
    assert_eq!(body["code"], "com.apple.well-known.failed");
    assert_eq!(body.get("details"), None);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("does not allow iOS devices") && message.contains("Macs only"),
        "{message}"
    );
    let all = rows(&s);
    let row = refused_row(
        &all,
        "account-driven",
        Some("mac@contoso.com"),
        "Macs only",
        "platforms: iOS may not enroll (platforms: macOS)",
    );
    assert_eq!(row["product"], "iPhone");
    // A Mac is told where to enroll (User Enrollment: user-choice, unanswered).
    let res = discovery(&s, "mac@contoso.com", "Mac").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["Servers"][0]["Version"], "mdm-byod");
    // An iPhone that skipped discovery is refused at the POST, after
    // sign-in: aspen's code in Apple's shape.
    let base = enroll_url(&s, "mdm-byod");
    let token = access_token(&s, "mac@contoso.com").await;
    let iphone = machine_info("iPhone15,2", "21F90", Some("17.5.1"));
    let body = apple_error(post(&base, Some(&token), iphone, false).await).await;
    assert_eq!(body["code"], "aspen.restriction.platforms");
    assert_eq!(body.get("details"), None);
    assert!(body["message"].as_str().unwrap().contains("Macs only"));
    let all = rows(&s);
    let refused = events(&all, "refused");
    assert_eq!(refused.len(), 2);
    assert_eq!(
        (&refused[1]["product"], &refused[1]["os_version"]),
        (&"iPhone15,2".into(), &"17.5.1".into())
    );
    // A POST that does not say what the device is cannot show it is a Mac.
    let body = apple_error(post(&base, Some(&token), Vec::new(), false).await).await;
    assert_eq!(body["code"], "aspen.restriction.platforms");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("the device did not say its platform"),
        "{body}"
    );
    assert!(events(&rows(&s), "issued").is_empty());
    assert_eq!(secrets(&s), 0);
    // A Mac gets its profile with the same token.
    let mac = machine_info("Mac14,2", "23E224", Some("14.4"));
    let p = profile(
        &s,
        post(&base, Some(&token), mac, false).await,
        "mac.mobileconfig",
    )
    .await;
    assert_eq!(payload(&p, "com.apple.mdm")["EnrollmentMode"], "BYOD");
    assert_eq!(events(&rows(&s), "issued").len(), 1);
    assert_eq!(secrets(&s), 1);
}

#[tokio::test]
async fn os_versions_below_and_above_and_the_higher_minimum_wins() {
    if !have() {
        return;
    }
    let s = start();
    // cur@ (device enrollment: ADDE, which itself needs iOS 17.0) under
    // "Current iOS": 18.0 to 18.4.
    let base = enroll_url(&s, "mdm-adde");
    let token = access_token(&s, "cur@contoso.com").await;
    let ios17 = machine_info("iPhone15,2", "21F90", Some("17.5.1"));
    let body = apple_error(post(&base, Some(&token), ios17, false).await).await;
    assert_eq!(body["code"], "com.apple.softwareupdate.required");
    assert_eq!(body["details"], serde_json::json!({"OSVersion": "18.0"}));
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("iOS 18.0 or later (Current iOS)"),
        "{message}"
    );
    refused_row(
        &rows(&s),
        "account-driven",
        Some("cur@contoso.com"),
        "Current iOS",
        "minimum_os: iOS 17.5.1 is below the minimum iOS 18.0",
    );
    let ios26 = machine_info("iPhone17,1", "23A341", Some("26.0"));
    let body = apple_error(post(&base, Some(&token), ios26, false).await).await;
    assert_eq!(body["code"], "aspen.restriction.maximum-os");
    assert_eq!(body.get("details"), None);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("up to 18.4")
            && message.contains("Current iOS")
            && message.contains("26.0"),
        "{message}"
    );
    let all = rows(&s);
    let refused = events(&all, "refused");
    assert_eq!(refused.len(), 2);
    assert!(
        refused[1]["reason"]
            .as_str()
            .unwrap()
            .contains("maximum_os: iOS 26.0 is above the maximum iOS 18.4"),
        "{refused:#?}"
    );
    assert!(events(&all, "issued").is_empty());
    assert_eq!(secrets(&s), 0);
    // 18.4.0 is within; 18.4 is the maximum.
    let ok = machine_info("iPhone17,1", "22E240", Some("18.4"));
    let p = profile(
        &s,
        post(&base, Some(&token), ok, false).await,
        "cur.mobileconfig",
    )
    .await;
    assert_eq!(payload(&p, "com.apple.mdm")["EnrollmentMode"], "ADDE");

    // old@ under "Old floor" (16.0), lower than ADDE's own 17.0: the
    // higher wins (here ADDE's, said before sign-in).
    let token = access_token(&s, "old@contoso.com").await;
    let ios16 = machine_info("iPhone14,2", "20H19", Some("15.8"));
    let body = apple_error(post(&base, Some(&token), ios16, false).await).await;
    assert_eq!(body["code"], "com.apple.softwareupdate.required");
    assert_eq!(body["details"]["OSVersion"], "17.0");
    // Above the restriction's floor and below ADDE's: ADDE's answer, and
    // nothing recorded against the restriction.
    let before = events(&rows(&s), "refused").len();
    let ios16 = machine_info("iPhone14,2", "20H19", Some("16.7"));
    let body = apple_error(post(&base, Some(&token), ios16, false).await).await;
    assert_eq!(body["details"]["OSVersion"], "17.0");
    assert!(
        !body["message"].as_str().unwrap().contains("Old floor"),
        "{body}"
    );
    assert_eq!(events(&rows(&s), "refused").len(), before);
}

#[tokio::test]
async fn personal_block_announces_device_enrollment_or_refuses() {
    if !have() {
        return;
    }
    let s = start();
    // co@ is user-choice: unanswered, discovery would announce User
    // Enrollment (personal); blocked, it announces ADDE.
    let res = discovery(&s, "co@contoso.com", "iPhone").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["Servers"][0]["Version"], "mdm-adde");
    let token = access_token(&s, "co@contoso.com").await;
    let p = profile(
        &s,
        post(
            &enroll_url(&s, "mdm-adde"),
            Some(&token),
            server::iphone_18(),
            false,
        )
        .await,
        "co.mobileconfig",
    )
    .await;
    assert_eq!(payload(&p, "com.apple.mdm")["EnrollmentMode"], "ADDE");
    let issued = events(&rows(&s), "issued")[0].clone();
    assert_eq!(issued["ownership"], "corporate");
    // con@'s policy is User Enrollment only: nothing to offer.
    let body = apple_error(discovery(&s, "con@contoso.com", "iPhone").await).await;
    assert_eq!(body["code"], "com.apple.well-known.failed");
    assert_eq!(body.get("details"), None);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("does not allow personally owned devices to enroll for your account (Company devices only)"),
        "{body}"
    );
    let all = rows(&s);
    refused_row(
        &all,
        "account-driven",
        Some("con@contoso.com"),
        "Company devices only",
        "personal: personally owned devices may not enroll",
    );
    // And at the POST (a device that skipped discovery).
    let token = access_token(&s, "con@contoso.com").await;
    let body = apple_error(
        post(
            &enroll_url(&s, "mdm-byod"),
            Some(&token),
            server::iphone_18(),
            false,
        )
        .await,
    )
    .await;
    assert_eq!(body["code"], "aspen.restriction.personal");
    let all = rows(&s);
    assert_eq!(events(&all, "refused").len(), 2);
    assert_eq!(events(&all, "issued").len(), 1);
    assert_eq!(secrets(&s), 1);
}

/// The per-profile SCEP challenge of a profile.
fn challenge(p: &Value) -> String {
    payload(p, "com.apple.security.scep")["PayloadContent"]["Challenge"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `aspen scep-verify` on a CSR carrying `challenge`: its exit status.
fn scep_verify(s: &Server, name: &str, challenge: &str) -> Option<i32> {
    let csr = crate::step_ca::csr(&s.ws, name, name, challenge);
    let settings = s.ws.settings();
    aspen(&[
        "scep-verify",
        "-c",
        settings.to_str().unwrap(),
        csr.to_str().unwrap(),
    ])
    .status
    .code()
}

#[tokio::test]
async fn the_device_limit_counts_devices_whose_challenge_was_accepted() {
    if !have() {
        return;
    }
    let s = start();
    let base = enroll_url(&s, "mdm-adde");
    let enroll = async || {
        let token = access_token(&s, "one@contoso.com").await;
        post(&base, Some(&token), server::iphone_18(), false).await
    };
    // Limit 1. The first device gets its profile; a second one asking
    // before the first really enrolled gets one too: an abandoned attempt
    // uses nothing up.
    let first = profile(&s, enroll().await, "first.mobileconfig").await;
    let second = profile(&s, enroll().await, "second.mobileconfig").await;
    assert_ne!(challenge(&first), challenge(&second));
    assert_eq!(secrets(&s), 2);
    // The first device's CA accepts its challenge: it has enrolled.
    assert_eq!(scep_verify(&s, "first", &challenge(&first)), Some(0));
    // Now the next device is refused, and nothing is issued.
    let body = apple_error(enroll().await).await;
    assert_eq!(body["code"], "aspen.restriction.device-limit");
    assert_eq!(body.get("details"), None);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("as many devices as Contoso allows (1, One device)"),
        "{message}"
    );
    let all = rows(&s);
    refused_row(
        &all,
        "account-driven",
        Some("one@contoso.com"),
        "One device",
        "device_limit: the user has enrolled 1 device of 1",
    );
    assert_eq!(events(&all, "issued").len(), 2);
    assert_eq!(secrets(&s), 2);
    // The portal's download is held to the same count.
    let mut one = Visitor::default();
    assert_eq!(one.sign_in(&s, &s.invite("one@contoso.com")).await, 303);
    let res = get_as(&one, &s, "/enroll/profile.mobileconfig", IPHONE_UA).await;
    assert_eq!(res.status(), 403);
    let page = res.text().await.unwrap();
    assert!(page.contains("One device"), "{page}");
    let all = rows(&s);
    let refused = events(&all, "refused");
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[1]["channel"], "portal");
    assert_eq!(events(&all, "issued").len(), 2);
    assert_eq!(secrets(&s), 2);
    // `aspen issued --user` shows the count.
    let settings = s.ws.settings();
    let out = common::ok(aspen(&[
        "issued",
        "-c",
        settings.to_str().unwrap(),
        "--user",
        "one@contoso.com",
    ]));
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("devices: one@contoso.com has enrolled 1 (per-profile challenges accepted); restriction \"One device\" allows 1"),
        "{text}"
    );
}

#[tokio::test]
async fn priority_decides_between_restrictions_like_policies() {
    if !have() {
        return;
    }
    let s = start();
    // both@ is in MacOnly (priority 1) and OneDevice (5): Macs only
    // applies, its limit does not.
    let body = apple_error(discovery(&s, "both@contoso.com", "iPhone").await).await;
    assert!(body["message"].as_str().unwrap().contains("Macs only"));
    // free@ is in no restricted group: the restriction for everyone
    // (iOS 17.2 to 17.4) applies.
    let token = access_token(&s, "free@contoso.com").await;
    let body = apple_error(
        post(
            &enroll_url(&s, "mdm-adde"),
            Some(&token),
            server::iphone_18(),
            false,
        )
        .await,
    )
    .await;
    assert_eq!(body["code"], "aspen.restriction.maximum-os");
    assert!(body["message"].as_str().unwrap().contains("Everyone"));
    // aspen resolve says the same.
    let settings = s.ws.settings();
    let resolve = |user: &str, extra: &[&str]| {
        let mut args = vec!["resolve", "-c", settings.to_str().unwrap(), "--user", user];
        args.extend_from_slice(extra);
        args.push("--json");
        let out = aspen(&args);
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), json)
    };
    let (code, json) = resolve("both@contoso.com", &[]);
    assert_eq!(code, Some(0));
    assert_eq!(json["restriction"], "Macs only");
    let names: Vec<&str> = json["restrictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Macs only", "One device", "Everyone"]);
    assert_eq!(
        json["restrictions"][0]["via"],
        serde_json::json!(["MacOnly"])
    );
    assert_eq!(json["restrictions"][2]["via"], serde_json::json!([]));
    let (code, json) = resolve("both@contoso.com", &["--platform", "iOS", "--os", "18.1"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        json["refused"],
        "restriction \"Macs only\", platforms: iOS may not enroll (platforms: macOS)"
    );
    let (code, _) = resolve("both@contoso.com", &["--platform", "macOS", "--os", "15.1"]);
    assert_eq!(code, Some(0));
    let (code, json) = resolve("co@contoso.com", &["--owner", "personal"]);
    assert_eq!(code, Some(1));
    assert!(
        json["refused"].as_str().unwrap().contains("personal:"),
        "{json}"
    );
    let (code, json) = resolve("free@contoso.com", &["--platform", "iOS", "--os", "17.3"]);
    assert_eq!((code, &json["restriction"]), (Some(0), &"Everyone".into()));
}

/// GET `path` as the signed-in `v`, with this `User-Agent`.
async fn get_as(v: &Visitor, s: &Server, path: &str, ua: &str) -> reqwest::Response {
    client()
        .get(format!("{}{path}", s.url))
        .header("cookie", v.cookie_header())
        .header("user-agent", ua)
        .send()
        .await
        .unwrap()
}

const IPHONE_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
const MAC_UA: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15";

#[tokio::test]
async fn the_portal_hides_personal_and_refuses_what_the_browser_says() {
    if !have() {
        return;
    }
    let s = start();
    // co@ (user-choice, personal blocked): "I own this device" is not
    // offered, and posting it anyway is refused.
    let mut co = Visitor::default();
    assert_eq!(co.sign_in(&s, &s.invite("co@contoso.com")).await, 303);
    let html = co.page(&s, "/choose").await;
    assert!(!html.contains("value=\"personal\""), "{html}");
    assert!(html.contains("value=\"corporate\""), "{html}");
    let res = co
        .post(&s, "/choose", &html, &[("owner", "personal")])
        .await;
    assert_eq!(res.status(), 403);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("Company devices only") && page.contains("personally owned"),
        "{page}"
    );
    refused_row(
        &rows(&s),
        "portal",
        Some("co@contoso.com"),
        "Company devices only",
        "personal: personally owned devices may not enroll",
    );
    let res = co.get(&s, "/choose/scope").await;
    assert_eq!(res.status(), 403);
    // The corporate answer leads to a download.
    let res = co
        .post(&s, "/choose", &html, &[("owner", "corporate")])
        .await;
    assert_eq!(res.status(), 303);
    let res = get_as(&co, &s, "/enroll/profile.mobileconfig", IPHONE_UA).await;
    let p = profile(&s, res, "co.mobileconfig").await;
    assert!(p["PayloadContent"].is_array());

    // con@'s User Enrollment is personal: the page says why, the download
    // is refused and recorded.
    let mut con = Visitor::default();
    assert_eq!(con.sign_in(&s, &s.invite("con@contoso.com")).await, 303);
    let res = con.get(&s, "/access").await;
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("Company devices only"));
    let res = get_as(&con, &s, "/enroll/profile.mobileconfig", IPHONE_UA).await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "text/html; charset=utf-8"
    );
    assert_eq!(events(&rows(&s), "refused").len(), 2);

    // mac@ (Macs only): a browser saying iPhone is refused, one saying
    // Mac is not; one saying nothing Apple is let through (a hint only).
    let mut mac = Visitor::default();
    assert_eq!(mac.sign_in(&s, &s.invite("mac@contoso.com")).await, 303);
    let html = mac.page(&s, "/choose").await;
    assert!(html.contains("value=\"personal\""), "{html}");
    let res = mac
        .post(&s, "/choose", &html, &[("owner", "corporate")])
        .await;
    assert_eq!(res.status(), 303);
    let res = get_as(&mac, &s, "/enroll/profile.mobileconfig", IPHONE_UA).await;
    assert_eq!(res.status(), 403);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("does not allow iOS devices") && page.contains("Macs only"),
        "{page}"
    );
    let all = rows(&s);
    let refused = events(&all, "refused");
    assert_eq!(refused.len(), 3);
    assert_eq!(refused[2]["channel"], "portal");
    assert_eq!(refused[2]["os_version"], "18.1");
    assert!(
        refused[2]["reason"]
            .as_str()
            .unwrap()
            .contains("platforms: iOS may not enroll"),
        "{refused:#?}"
    );
    assert_eq!(events(&all, "issued").len(), 1);
    assert_eq!(secrets(&s), 1);
    let res = get_as(&mac, &s, "/enroll/profile.mobileconfig", MAC_UA).await;
    profile(&s, res, "mac.mobileconfig").await;
    let res = get_as(&mac, &s, "/enroll/profile.mobileconfig", "curl/8.5.0").await;
    assert_eq!(res.status(), 200);
}

/// The ADE settings of tests/ade.rs plus [`RESTRICTIONS`].
fn ade_restricted(demo: String) -> String {
    format!("{}\n{RESTRICTIONS}", crate::ade::ade_settings("")(demo))
}

#[tokio::test]
async fn ade_devices_meet_the_platform_and_os_rules_of_the_restriction_for_everyone() {
    if !have() {
        return;
    }
    let s = Server::start_custom("", Some(USERS), &ade_restricted);
    let dir = s.ws.path("");
    let info = |os: &str| {
        crate::ade::device_signed(
            &dir,
            &crate::ade::machine_info(crate::ade::SERIAL, "iPhone15,2", Some(os), true),
        )
    };
    // No one signed in: "Everyone" (iOS 17.2 to 17.4) applies. Above it:
    let body = apple_error(crate::ade::post(&s, info("17.5.1")).await).await;
    assert_eq!(body["code"], "aspen.restriction.maximum-os");
    assert_eq!(body.get("details"), None);
    assert!(body["message"].as_str().unwrap().contains("Everyone"));
    let all = rows(&s);
    let row = refused_row(
        &all,
        "ade",
        None,
        "Everyone",
        "maximum_os: iOS 17.5.1 is above the maximum iOS 17.4",
    );
    assert_eq!(
        (&row["serial"], &row["product"], &row["os_version"]),
        (
            &crate::ade::SERIAL.into(),
            &"iPhone15,2".into(),
            &"17.5.1".into()
        )
    );
    // Below it, and above [ade] minimum_os (17.0): the restriction's
    // minimum is the higher, and the device is told to update to it.
    let body = apple_error(crate::ade::post(&s, info("17.1")).await).await;
    assert_eq!(body["code"], "com.apple.softwareupdate.required");
    assert_eq!(body["details"], serde_json::json!({"OSVersion": "17.2"}));
    assert!(body["message"].as_str().unwrap().contains("(Everyone)"));
    let all = rows(&s);
    let refused = events(&all, "refused");
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[1]["policy"], "Everyone");
    assert!(
        refused[1]["reason"]
            .as_str()
            .unwrap()
            .contains("restriction \"Everyone\" (minimum_os) needs 17.2"),
        "{refused:#?}"
    );
    // Below both: [ade]'s 17.0 is lower, the restriction's 17.2 is said.
    let body = apple_error(crate::ade::post(&s, info("16.7")).await).await;
    assert_eq!(body["details"]["OSVersion"], "17.2");
    assert!(events(&rows(&s), "issued").is_empty());
    assert_eq!(secrets(&s), 0);
    // A platform it does not allow: an iPad.
    let ipad = crate::ade::device_signed(
        &dir,
        &crate::ade::machine_info(crate::ade::SERIAL, "iPad13,4", Some("17.3"), true),
    );
    let body = apple_error(crate::ade::post(&s, ipad).await).await;
    assert_eq!(body["code"], "aspen.restriction.platforms");
    // Within: the corporate profile. personal does not apply to ADE.
    let p = crate::ade::profile(
        &s,
        crate::ade::post(&s, info("17.3")).await,
        "ade.mobileconfig",
    )
    .await;
    assert!(p["PayloadContent"].is_array());
    assert_eq!(events(&rows(&s), "issued").len(), 1);
    assert_eq!(secrets(&s), 1);
}

#[test]
fn bad_restrictions_are_refused_at_load_with_file_and_line() {
    for (rule, expected) in [
        (
            "platforms = [\"iOS\", \"Android\"]",
            "restriction[0].platforms[1] = \"Android\": \"Android\" is not an OS aspen knows",
        ),
        (
            "minimum_os = { iOS = \"18.x\" }",
            "restriction[0].minimum_os.iOS = \"18.x\": must be a version such as \"17.0\"",
        ),
        (
            "minimum_os = { macOS = \"15.1\" }\nmaximum_os = { macOS = \"15\" }",
            "restriction[0].minimum_os.macOS = \"15.1\": is above maximum_os.macOS = \"15.0\"",
        ),
    ] {
        let text = format!(
            "{}\n[[restriction]]\nname = \"R\"\npriority = 1\n{rule}\n",
            common::demo_settings()
        );
        let ws = common::Workspace::new(&text);
        let line = text
            .lines()
            .position(|l| l == rule.lines().next().unwrap())
            .unwrap()
            + 1;
        let err = common::fails(aspen(&[
            "resolve",
            "-c",
            ws.settings().to_str().unwrap(),
            "--user",
            "alice@contoso.com",
        ]));
        let at = format!("{}:{line}: {expected}", ws.settings().display());
        assert!(err.contains(&at), "{at}\n{err}");
    }
}

#[tokio::test]
async fn with_a_static_secret_issued_profiles_count() {
    if !have() {
        return;
    }
    // The demo's static challenge: aspen cannot tell who enrolled.
    let s = Server::start_custom("", Some(USERS), &|demo| format!("{demo}\n{RESTRICTIONS}"));
    assert!(
        s.log()
            .contains("restriction \"One device\" has a device_limit, but without"),
        "{}",
        s.log()
    );
    let base = enroll_url(&s, "mdm-adde");
    let token = access_token(&s, "one@contoso.com").await;
    let res = post(&base, Some(&token), server::iphone_18(), false).await;
    profile(&s, res, "static.mobileconfig").await;
    let token = access_token(&s, "one@contoso.com").await;
    let body = apple_error(post(&base, Some(&token), server::iphone_18(), false).await).await;
    assert_eq!(body["code"], "aspen.restriction.device-limit");
    let all = rows(&s);
    refused_row(
        &all,
        "account-driven",
        Some("one@contoso.com"),
        "One device",
        "device_limit: the user has enrolled 1 device of 1",
    );
    assert_eq!(events(&all, "issued").len(), 1);
}

#[tokio::test]
async fn the_ade_web_sign_in_applies_the_restriction_of_who_signs_in() {
    if !have() {
        return;
    }
    let s = Server::start_custom("", Some(USERS), &|demo| {
        format!(
            "{}\n{RESTRICTIONS}",
            crate::ade::ade_settings("configuration_web_url = true")(demo)
        )
    });
    let dir = s.ws.path("");
    // iOS 17.3: within "Everyone", below cur@'s "Current iOS" (18.0).
    let info = crate::ade::device_signed(
        &dir,
        &crate::ade::machine_info(crate::ade::SERIAL, "iPhone15,2", Some("17.3"), true),
    );
    let web = format!("{}/ade/web", s.url);
    let sign_in = async |user: &str| {
        let res = client()
            .get(&web)
            .header(
                "x-apple-aspen-deviceinfo",
                openssl::base64::encode_block(&info),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let cookie = server::set_cookie(&res, "aspen_csrf").unwrap();
        let html = res.text().await.unwrap();
        client()
            .post(&web)
            .header("cookie", &cookie)
            .form(&[
                ("csrf", server::field(&html, "csrf")),
                ("device", server::field(&html, "device")),
                ("code", s.invite(user)),
            ])
            .send()
            .await
            .unwrap()
    };
    let body = apple_error(sign_in("cur@contoso.com").await).await;
    assert_eq!(body["code"], "com.apple.softwareupdate.required");
    assert_eq!(body["details"], serde_json::json!({"OSVersion": "18.0"}));
    assert!(body["message"].as_str().unwrap().contains("(Current iOS)"));
    let all = rows(&s);
    let refused = events(&all, "refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(
        (
            &refused[0]["user"],
            &refused[0]["policy"],
            &refused[0]["serial"]
        ),
        (
            &"cur@contoso.com".into(),
            &"Current iOS".into(),
            &crate::ade::SERIAL.into()
        )
    );
    assert!(events(&all, "issued").is_empty());
    assert_eq!(secrets(&s), 0);
    // con@ ("Company devices only"): personal does not apply to ADE.
    let p = crate::ade::profile(&s, sign_in("con@contoso.com").await, "web.mobileconfig").await;
    assert!(p["PayloadContent"].is_array());
    let all = rows(&s);
    assert_eq!(events(&all, "issued")[0]["user"], "con@contoso.com");
    assert_eq!(secrets(&s), 1);
}
