//! Account-driven enrollment through a real OpenID provider (tests/idp/):
//! `apple-as-web` (the device opens aspen's sign-in page, which sends the
//! person to the IdP, and gets aspen's access token) end to end to a signed
//! profile with the right `AssignedManagedAppleID`; someone signed in as A
//! asking for B's enrollment is refused; and `apple-oauth2` (the device
//! signs in at the IdP itself and brings the IdP's JWT access token).

use crate::common::{self, cert, openssl_verify, plistlib_json};
use crate::idp::{self, Idp, IdpBrowser, query};
use crate::oidc::{Person, Setup, log_after, refused, sets, setup_with, starts_session};
use crate::server::{Server, client, header, iphone_18};
use std::collections::HashMap;

/// Step 1: the BaseURL and Version discovery announces for `user`.
async fn discover(s: &Server, user: &str) -> (String, String) {
    let res = client()
        .get(format!("{}/.well-known/com.apple.remotemanagement", s.url))
        .query(&[("user-identifier", user), ("model-family", "iPhone")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", s.log());
    let body: serde_json::Value = res.json().await.unwrap();
    let server = &body["Servers"][0];
    (
        server["BaseURL"].as_str().unwrap().to_owned(),
        server["Version"].as_str().unwrap().to_owned(),
    )
}

/// Steps 2 and 4: the device's POST of its MachineInfo, with a token if
/// given.
async fn enroll(base: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = client()
        .post(base)
        .header("content-type", "application/xml");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    req.body(iphone_18()).send().await.unwrap()
}

/// The parameters of a `WWW-Authenticate: Bearer k="v", …` challenge.
fn challenge(res: &reqwest::Response) -> HashMap<String, String> {
    let value = header(res, "www-authenticate");
    let rest = value.strip_prefix("Bearer ").expect("a Bearer challenge");
    rest.split(", ")
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), v.trim_matches('"').to_owned())
        })
        .collect()
}

/// The MDM payload of a 200 answer, its signature verified by openssl and
/// read by plistlib.
async fn mdm_payload(s: &Server, res: reqwest::Response, name: &str) -> serde_json::Value {
    assert_eq!(res.status(), 200, "{}", s.log());
    let path = s.ws.path(name);
    std::fs::write(&path, res.bytes().await.unwrap()).unwrap();
    let profile = plistlib_json(&openssl_verify(&path, &cert("ca.pem")).expect("cms -verify"));
    profile["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["PayloadType"] == "com.apple.mdm")
        .cloned()
        .expect("an MDM payload")
}

/// aspen with the IdP's groups and the Managed Apple Account from
/// `preferred_username` (frank's is at appleid.contoso.com), plus `extra`.
async fn setup_devices(extra: &str, idp: Idp) -> Setup {
    setup_with(
        &format!(
            "groups_claim = \"groups\"\nmanaged_apple_id_claim = \"preferred_username\"\n{extra}"
        ),
        "",
        idp,
    )
    .await
}

#[tokio::test]
async fn a_device_enrolls_through_the_idp_to_a_signed_user_enrollment_profile() {
    if !idp::available() || !common::have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let t = setup_devices("", Idp::start(0)).await;
    // frank is in no users.csv: the IdP names his Managed Apple Account
    // (preferred_username) and his group (Contractors: User Enrollment).
    let apple_id = "frank@appleid.contoso.com";
    let (base, version) = discover(&t.s, apple_id).await;
    assert_eq!(version, "mdm-byod");
    let res = enroll(&base, None).await;
    assert_eq!(res.status(), 401);
    let params = challenge(&res);
    assert_eq!(params["method"], "apple-as-web");
    let login = params["url"].clone();
    assert_eq!(login, format!("{}/account-driven/login", t.s.url));

    // Step 3: the sheet opens aspen's page, which sends it to the IdP with
    // the account as a hint; the person signs in there.
    let mut frank = Person::default();
    let url = frank
        .start(
            &t.s,
            &format!("/account-driven/login?user-identifier={apple_id}"),
        )
        .await;
    assert!(url.starts_with(&format!("{}/auth?", t.idp.issuer)), "{url}");
    assert_eq!(query(&url, "login_hint").as_deref(), Some(apple_id));
    let back = frank
        .idp
        .sign_in(&t.idp.issuer, &url, "frank")
        .await
        .location;
    let res = frank.get(&t.s, &back).await;
    assert_eq!(res.status(), 308, "{}", t.s.log());
    assert!(
        !starts_session(&res),
        "a device's sign-in is no portal session"
    );
    assert_eq!(sets(&res, "aspen_oidc").as_deref(), Some(""));
    let location = header(&res, "location");
    let token = location
        .strip_prefix("apple-remotemanagement-user-login://authentication-results?access-token=")
        .unwrap_or_else(|| panic!("unexpected Location {location}"))
        .to_owned();
    assert!(!token.is_empty());

    // Step 4: the token gets the signed profile for frank's Managed Apple
    // Account.
    let mdm = mdm_payload(
        &t.s,
        enroll(&base, Some(&token)).await,
        "frank.mobileconfig",
    )
    .await;
    assert_eq!(mdm["AssignedManagedAppleID"], apple_id);
    assert_eq!(mdm["EnrollmentMode"], "BYOD");
    let rows = crate::oidc::issued(&t.s, "frank@contoso.com");
    let rows: Vec<_> = rows.iter().filter(|r| r["event"] == "issued").collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["channel"], "account-driven");
    assert_eq!(rows[0]["policy"], "Contractors");
    assert_eq!(rows[0]["groups"], serde_json::json!(["Contractors"]));
    assert_eq!(rows[0]["groups_claim"], "groups");
    // A made-up token is sent back to sign in.
    let res = enroll(&base, Some("not-a-token")).await;
    assert_eq!(res.status(), 401);
    assert_eq!(challenge(&res)["method"], "apple-as-web");
}

#[tokio::test]
async fn a_person_signed_in_as_a_asking_for_bs_enrollment_is_refused() {
    if !idp::available() {
        return;
    }
    let t = setup_devices("", Idp::start(0)).await;
    // The device enrolls carol; alice signs in at the IdP.
    let mut alice = Person::default();
    let back = alice
        .through_idp(
            &t,
            "/account-driven/login?user-identifier=carol@contoso.com",
            "alice",
        )
        .await;
    let from = t.s.log().len();
    let res = alice.get(&t.s, &back).await;
    assert!(
        res.headers().get("location").is_none(),
        "no token for anyone"
    );
    refused(
        &t,
        from,
        res,
        403,
        "but this device is enrolling carol@contoso.com",
        "alice@contoso.com signed in, but the device enrolls carol@contoso.com",
    )
    .await;
    assert!(!t.s.log().contains("access-token="));

    // The same the other way: a Managed Apple Account from the claim that
    // is not the one the device asked for.
    let mut frank = Person::default();
    let back = frank
        .through_idp(
            &t,
            "/account-driven/login?user-identifier=frank@contoso.com.evil",
            "frank",
        )
        .await;
    let from = t.s.log().len();
    let res = frank.get(&t.s, &back).await;
    refused(
        &t,
        from,
        res,
        403,
        "Wrong account",
        "but the device enrolls",
    )
    .await;

    // A device that names no account is told so, and goes nowhere.
    let res = Person::default()
        .get(&t.s, "/account-driven/login?user-identifier=")
        .await;
    assert_eq!(res.status(), 400);
    assert!(sets(&res, "aspen_oidc").is_none());
}

#[tokio::test]
async fn apple_oauth2_devices_sign_in_at_the_idp_and_bring_its_access_token() {
    if !idp::available() || !common::have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let idp = Idp::start_with(0, serde_json::json!({"resource": idp::RESOURCE}));
    let t = setup_devices(
        &format!(
            "device_method = \"apple-oauth2\"\ndevice_client_id = \"{}\"\ndevice_scopes = [\"device\"]\ndevice_audience = \"{}\"\n",
            idp::DEVICE_CLIENT_ID,
            idp::RESOURCE
        ),
        idp,
    )
    .await;
    let (base, _) = discover(&t.s, "alice@contoso.com").await;
    let res = enroll(&base, None).await;
    assert_eq!(res.status(), 401);
    let p = challenge(&res);
    assert_eq!(p["method"], "apple-oauth2");
    assert_eq!(p["authorization-url"], format!("{}/auth", t.idp.issuer));
    assert_eq!(p["token-url"], format!("{}/token", t.idp.issuer));
    assert_eq!(
        p["redirect-url"],
        "apple-remotemanagement-user-login://oauth2-callback"
    );
    assert_eq!(p["client-id"], idp::DEVICE_CLIENT_ID);
    assert_eq!(p["scope"], "device");

    // The device, as a public client: code flow with PKCE at the IdP.
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge_s256 = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let mut url = url::Url::parse(&p["authorization-url"]).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &p["client-id"])
        .append_pair("redirect_uri", &p["redirect-url"])
        .append_pair("scope", &p["scope"])
        .append_pair("state", "device-state")
        .append_pair("code_challenge", challenge_s256)
        .append_pair("code_challenge_method", "S256");
    let left = IdpBrowser::default()
        .sign_in(&t.idp.issuer, url.as_str(), "alice")
        .await;
    assert!(left.location.starts_with(&p["redirect-url"]), "{left:?}");
    let code = query(&left.location, "code").unwrap();
    let answer: serde_json::Value = client()
        .post(&p["token-url"])
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &p["redirect-url"]),
            ("client_id", &p["client-id"]),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = answer["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();
    assert_eq!(access.split('.').count(), 3, "a JWT: {answer}");

    // Step 4 with the IdP's access token: alice's profile.
    let mdm = mdm_payload(
        &t.s,
        enroll(&base, Some(&access)).await,
        "alice.mobileconfig",
    )
    .await;
    assert_eq!(mdm["AssignedManagedAppleID"], "alice@contoso.com");
    let rows = crate::oidc::issued(&t.s, "alice@contoso.com");
    assert!(
        rows.iter()
            .any(|r| r["event"] == "issued" && r["channel"] == "account-driven"),
        "{rows:?}"
    );

    // Tokens that are not an access token for aspen are refused: an ID
    // token (aud is aspen's client), a token re-signed with another key,
    // and garbage. Each is logged without the token, and answered with the
    // challenge again.
    let mut portal = Person::default();
    assert_eq!(portal.sign_in(&t, "alice").await.status(), 200);
    let id_token = t.idp.last_token().await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut parts: Vec<&str> = access.split('.').collect();
    let forged = {
        let other = other_key_signature();
        parts[2] = other.as_str();
        parts.join(".")
    };
    for (token, reason) in [
        (id_token.as_str(), "aud does not include"),
        (forged.as_str(), "signature does not verify"),
        ("e30.e30.AAAA", "a device's access token was refused"),
    ] {
        let from = t.s.log().len();
        let res = enroll(&base, Some(token)).await;
        assert_eq!(res.status(), 401, "{reason}");
        assert_eq!(challenge(&res)["method"], "apple-oauth2");
        let log = log_after(&t.s, from, "a device's access token was refused").await;
        let line = log
            .lines()
            .find(|l| l.contains("a device's access token was refused"))
            .unwrap();
        assert!(line.contains("WARN") && line.contains(reason), "{line}");
        assert!(!log.contains(token), "the log shows the token");
    }
}

/// A base64url RS256-sized signature from a key the IdP never had.
pub fn other_key_signature() -> String {
    use base64::Engine as _;
    let key = openssl::rsa::Rsa::generate(2048).unwrap();
    let pkey = openssl::pkey::PKey::from_rsa(key).unwrap();
    let mut signer =
        openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &pkey).unwrap();
    signer.update(b"anything").unwrap();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signer.sign_to_vec().unwrap())
}
