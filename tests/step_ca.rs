//! The CA side, from outside: step-ca's SCEP challenge webhook (a call
//! signed as step-ca signs it, by `openssl dgst -mac HMAC`: accepted once,
//! a replay, an unknown challenge and a bad signature refused, failures
//! throttled), ACME with `client_identifier = "serial"` carrying the
//! device's serial number (and refused where no device is known), subject
//! placeholders, and the account-driven discovery path answering as the
//! well-known one.

use crate::ade::{
    SERIAL, UDID, ade_settings, device_signed, issued, machine_info, payload, post, profile,
};
use crate::common;
use crate::server;

use common::{Workspace, aspen, fails, have_tools, ok, plistlib_json};
use server::{Server, client};

/// A PKCS#10 request with `challenge` (as a SCEP client makes one), DER.
pub fn csr(ws: &Workspace, name: &str, cn: &str, challenge: &str) -> std::path::PathBuf {
    let config = ws.path(&format!("{name}.cnf"));
    std::fs::write(
        &config,
        format!("[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\n[dn]\nCN = {cn}\n[attrs]\nchallengePassword = {challenge}\n"),
    )
    .unwrap();
    let out = ws.path(name);
    let status = std::process::Command::new("openssl")
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
        .arg(ws.path(&format!("{name}.key")))
        .arg("-config")
        .arg(&config)
        .args(["-outform", "DER", "-out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    out
}

/// The webhook's secret as step-ca prints it (base64 of 64 bytes), in a
/// private file outside the workspace (the settings name it absolutely).
pub struct WebhookSecret {
    _dir: tempfile::TempDir,
    pub path: std::path::PathBuf,
    pub key_hex: String,
}

pub fn webhook_secret() -> WebhookSecret {
    use std::os::unix::fs::PermissionsExt;
    let key: Vec<u8> = (0..64u8)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("step-ca-webhook.secret");
    std::fs::write(&path, format!("{}\n", openssl::base64::encode_block(&key))).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    WebhookSecret {
        _dir: dir,
        path,
        key_hex: key.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// step-ca's SCEPCHALLENGE request body (webhook.RequestBody) for `csr`.
pub fn step_ca_body(challenge: &str, csr: &std::path::Path) -> Vec<u8> {
    let der = std::fs::read(csr).unwrap();
    serde_json::to_vec(&serde_json::json!({
        "timestamp": "2026-05-01T12:00:00Z",
        "provisionerName": "apple-scep",
        "scepChallenge": challenge,
        "scepTransactionID": "5d3f2a",
        "x509CertificateRequest": {
            "version": 0,
            "subject": {"commonName": SERIAL},
            "publicKeyAlgorithm": "ECDSA",
            "raw": openssl::base64::encode_block(&der),
        }
    }))
    .unwrap()
}

/// `X-Smallstep-Signature` of `body`, made by openssl, not by aspen.
pub fn sign(ws: &Workspace, key_hex: &str, body: &[u8]) -> String {
    let file = ws.path("webhook-body.json");
    std::fs::write(&file, body).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-mac", "HMAC", "-macopt"])
        .arg(format!("hexkey:{key_hex}"))
        .arg("-r")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

pub async fn call(s: &Server, body: &[u8], signature: Option<&str>) -> reqwest::Response {
    let mut req = client()
        .post(format!("{}/ca/scep-challenge", s.url))
        .header(
            "x-smallstep-webhook-id",
            "9a4c1d2e-0000-4000-8000-000000000001",
        );
    if let Some(sig) = signature {
        req = req.header("x-smallstep-signature", sig);
    }
    req.body(body.to_vec()).send().await.unwrap()
}

pub async fn allowed(res: reqwest::Response) -> bool {
    assert_eq!(res.status(), 200);
    let v: serde_json::Value = res.json().await.unwrap();
    v["allow"].as_bool().unwrap()
}

#[tokio::test]
async fn the_webhook_allows_a_challenge_once_and_refuses_the_rest() {
    if !have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let secret = webhook_secret();
    let ca = format!(
        "\n[ca]\nscep_webhook_secret_file = {:?}\n",
        secret.path.display().to_string()
    );
    let settings = ade_settings("");
    let s = Server::start_edited(&move |demo| settings(demo) + &ca);
    let info = device_signed(
        s.ws.dir.path(),
        &machine_info(SERIAL, "iPhone15,2", Some("18.5"), true),
    );
    let p = profile(&s, post(&s, info).await, "ade.mobileconfig").await;
    let challenge = payload(&p, "com.apple.security.scep")["PayloadContent"]["Challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    let request = csr(&s.ws, "device.csr", SERIAL, &challenge);
    let body = step_ca_body(&challenge, &request);
    let signature = sign(&s.ws, &secret.key_hex, &body);
    assert!(
        allowed(call(&s, &body, Some(&signature)).await).await,
        "issued, unused"
    );
    assert!(
        !allowed(call(&s, &body, Some(&signature)).await).await,
        "a replay"
    );
    // scep-verify shares the store and the rule: the challenge is spent.
    let settings = s.ws.settings();
    let out = aspen(&[
        "scep-verify",
        "-c",
        settings.to_str().unwrap(),
        request.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let unknown = step_ca_body("0123456789ABCDEFGHJKMNPQRSTVWXYZ", &request);
    let unknown_sig = sign(&s.ws, &secret.key_hex, &unknown);
    assert!(
        !allowed(call(&s, &unknown, Some(&unknown_sig)).await).await,
        "not issued"
    );
    // The rows: like scep-verify's, naming the device the challenge was for.
    let rows = issued(&s, &["--serial", SERIAL]);
    let events: Vec<&str> = rows.iter().map(|r| r["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        [
            "issued",
            "secret-accepted",
            "secret-refused",
            "secret-refused"
        ]
    );
    assert_eq!(rows[1]["channel"], "scep");
    assert_eq!(rows[1]["client"], "127.0.0.1");
    assert_eq!(rows[1]["subject"], format!("CN={SERIAL}"));
    assert_eq!(rows[1]["payload_uuid"], p["PayloadUUID"]);
    assert_eq!(rows[2]["reason"], "the challenge was already used");
    let all = issued(&s, &[]);
    assert!(
        all.iter()
            .any(|r| r["reason"] == "the challenge is not one aspen issued")
    );
    assert!(
        !s.log().contains(&challenge),
        "the challenge is never logged"
    );

    // A bad or missing signature: 401 before the body is read, a warning,
    // a row; the challenge is not touched.
    let fresh = device_signed(
        s.ws.dir.path(),
        &machine_info(SERIAL, "iPhone15,2", Some("18.5"), true),
    );
    let p = profile(&s, post(&s, fresh).await, "ade2.mobileconfig").await;
    let second = payload(&p, "com.apple.security.scep")["PayloadContent"]["Challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = step_ca_body(&second, &request);
    let good = sign(&s.ws, &secret.key_hex, &body);
    let wrong = sign(&s.ws, &"ab".repeat(64), &body);
    let mut tampered = body.clone();
    tampered.push(b' ');
    let bad: [(&[u8], Option<&str>); 4] = [
        (&body, Some(&wrong)),
        (&body, None),
        (&tampered, Some(&good)),
        (&body, Some("not-hex")),
    ];
    let mut statuses = Vec::new();
    for (b, sig) in bad {
        statuses.push(call(&s, b, sig).await.status());
    }
    // The budget is four failures: the fifth call is throttled, even a
    // good one.
    let throttled = call(&s, &body, Some(&good)).await;
    assert_eq!(statuses, [401; 4]);
    assert_eq!(throttled.status(), 429);
    assert!(
        s.log()
            .contains("SCEP challenge webhook: a wrong X-Smallstep-Signature")
    );
    assert!(
        s.log()
            .contains("SCEP challenge webhook: no X-Smallstep-Signature")
    );
    let all = issued(&s, &[]);
    let unsigned = all
        .iter()
        .filter(|r| r["reason"] == "the webhook call's signature does not verify")
        .count();
    assert_eq!(unsigned, 4);
    // The second challenge was never used: scep-verify takes it.
    let request = csr(&s.ws, "second.csr", SERIAL, &second);
    let out = aspen(&[
        "scep-verify",
        "-c",
        settings.to_str().unwrap(),
        request.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
}

/// ACME with `client_identifier = "serial"` and the default key settings.
fn acme_serial(ade: &'static str) -> impl Fn(String) -> String {
    let inner = ade_settings(ade);
    move |demo: String| {
        inner(demo).replace(
            "kind = \"scep\"\nurl = \"https://mdm.contoso.com/scep\"\nchallenge = \"per-profile\"\nkey_size = 2048\nsubject = \"O=Contoso/CN={serial}/OU={profile_uuid}\"\n",
            "kind = \"acme\"\ndirectory_url = \"https://ca.contoso.com/acme/apple/directory\"\nclient_identifier = \"serial\"\n",
        )
    }
}

#[tokio::test]
async fn acme_with_serial_carries_the_devices_serial_and_nothing_else_can() {
    if !have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let s = Server::start_edited(&acme_serial(""));
    assert!(
        std::fs::read_to_string(s.ws.settings())
            .unwrap()
            .contains("client_identifier = \"serial\""),
        "the settings were edited"
    );
    let info = device_signed(
        s.ws.dir.path(),
        &machine_info(SERIAL, "iPhone15,2", Some("18.5"), true),
    );
    let p = profile(&s, post(&s, info).await, "acme.mobileconfig").await;
    let acme = payload(&p, "com.apple.security.acme");
    assert_eq!(acme["ClientIdentifier"], SERIAL);
    assert_eq!(acme["Subject"], serde_json::json!([[["CN", SERIAL]]]));
    assert_eq!(
        (
            &acme["KeyType"],
            &acme["KeySize"],
            &acme["HardwareBound"],
            &acme["Attest"]
        ),
        (
            &"ECSECPrimeRandom".into(),
            &256.into(),
            &true.into(),
            &true.into()
        )
    );
    let row = &issued(&s, &["--serial", SERIAL])[0];
    assert_eq!(
        (&row["channel"], &row["udid"]),
        (&"ade".into(), &UDID.into())
    );

    // A portal download knows no serial: the documented error, in the log.
    let code = s.invite("bob@contoso.com");
    let res = client()
        .get(format!("{}/signin", s.url))
        .send()
        .await
        .unwrap();
    let csrf = server::set_cookie(&res, "aspen_csrf").unwrap();
    let html = res.text().await.unwrap();
    let res = client()
        .post(format!("{}/signin", s.url))
        .header("cookie", &csrf)
        .form(&[
            ("csrf", server::field(&html, "csrf").as_str()),
            ("code", &code),
        ])
        .send()
        .await
        .unwrap();
    let session = server::set_cookie(&res, "aspen_session").unwrap();
    let res = client()
        .get(format!("{}/enroll/profile.mobileconfig", s.url))
        .header("cookie", format!("{csrf}; {session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    let why = "identity.client_identifier = \"serial\": the ACME ClientIdentifier is the device's own serial number, and this profile is issued without one";
    let log = s.log_with(why);
    assert!(log.contains(why), "{log}");

    // `aspen profile device`: without --serial the same error (exit 2),
    // with it the device's serial, recorded.
    let settings = s.ws.settings();
    let err = fails(aspen(&[
        "profile",
        "device",
        "--unsigned",
        "-c",
        settings.to_str().unwrap(),
    ]));
    assert!(
        err.contains("identity.client_identifier = \"serial\""),
        "{err}"
    );
    let out = ok(aspen(&[
        "profile",
        "device",
        "--unsigned",
        "-c",
        settings.to_str().unwrap(),
        "--serial",
        "F4GXK2ZZQ1",
        "--udid",
        UDID,
    ]));
    let p = plistlib_json(&out);
    assert_eq!(
        payload(&p, "com.apple.security.acme")["ClientIdentifier"],
        "F4GXK2ZZQ1"
    );
    let rows = issued(&s, &["--serial", "F4GXK2ZZQ1"]);
    assert_eq!(
        (&rows[0]["channel"], &rows[0]["udid"]),
        (&"cli".into(), &UDID.into())
    );
    let err = fails(aspen(&[
        "profile",
        "device",
        "-c",
        settings.to_str().unwrap(),
        "--serial",
        "F4G/../x",
    ]));
    assert!(err.contains("--serial \"F4G/../x\" must be"), "{err}");
}

#[test]
fn subject_placeholders_are_filled_or_the_profile_is_refused() {
    if !have_tools(&[("python3", "python3")]) {
        return;
    }
    let ws = Workspace::new(
        &common::demo_settings().replace("CN=Contoso MDM Identity", "CN={user}/OU={profile_uuid}"),
    );
    let settings = ws.settings();
    let out = ok(aspen(&[
        "profile",
        "for",
        "--unsigned",
        "-c",
        settings.to_str().unwrap(),
        "--user",
        "bob@contoso.com",
    ]));
    let p = plistlib_json(&out);
    let subject = &payload(&p, "com.apple.security.scep")["PayloadContent"]["Subject"];
    assert_eq!(
        subject,
        &serde_json::json!([
            [["O", "Contoso"]],
            [["CN", "bob@contoso.com"]],
            [["OU", p["PayloadUUID"].as_str().unwrap()]]
        ])
    );
    // A bare device profile has no user: the subject names what it lacks.
    let err = fails(aspen(&[
        "profile",
        "device",
        "--unsigned",
        "-c",
        settings.to_str().unwrap(),
    ]));
    assert!(
        err.contains("identity.subject = \"O=Contoso/CN={user}/OU={profile_uuid}\": this profile cannot fill {user}"),
        "{err}"
    );
    // bulk: two users of one kind without a Managed Apple ID once shared
    // one build; with {user} in the subject each gets their own.
    std::fs::write(
        ws.path("users.csv"),
        "email,managed_apple_id,groups\nx@contoso.com,,Leadership\ny@contoso.com,,Leadership\n",
    )
    .unwrap();
    let out_dir = ws.path("bulk");
    let users = ws.path("users.csv");
    ok(aspen(&[
        "bulk",
        "-c",
        settings.to_str().unwrap(),
        "--users",
        users.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--unsigned",
    ]));
    let mut cns = Vec::new();
    for entry in std::fs::read_dir(&out_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "mobileconfig") {
            let p = plistlib_json(&std::fs::read(&path).unwrap());
            cns.push(
                payload(&p, "com.apple.security.scep")["PayloadContent"]["Subject"][1][0][1]
                    .clone(),
            );
        }
    }
    cns.sort_by_key(|v| v.to_string());
    assert_eq!(cns, ["x@contoso.com", "y@contoso.com"]);
    // {serial} without a device, and with one.
    let ws =
        Workspace::new(&common::demo_settings().replace("CN=Contoso MDM Identity", "CN={serial}"));
    let settings = ws.settings();
    let err = fails(aspen(&[
        "profile",
        "device",
        "--unsigned",
        "-c",
        settings.to_str().unwrap(),
    ]));
    assert!(
        err.contains("cannot fill {serial}: it is issued for no device"),
        "{err}"
    );
    let out = ok(aspen(&[
        "profile",
        "device",
        "--unsigned",
        "-c",
        settings.to_str().unwrap(),
        "--serial",
        SERIAL,
    ]));
    let p = plistlib_json(&out);
    assert_eq!(
        payload(&p, "com.apple.security.scep")["PayloadContent"]["Subject"][1],
        serde_json::json!([["CN", SERIAL]])
    );
}

#[tokio::test]
async fn the_discovery_path_answers_exactly_as_the_well_known_path() {
    let s = Server::start("");
    let queries = [
        vec![
            ("user-identifier", "bob@contoso.com"),
            ("model-family", "iPhone"),
        ],
        vec![
            ("user-identifier", "carol@contoso.com"),
            ("model-family", "iPad"),
        ],
        vec![
            ("user-identifier", "nobody@contoso.com"),
            ("model-family", "Mac"),
        ],
        vec![
            ("user-identifier", "bob@contoso.com"),
            ("model-family", "AppleTV"),
        ],
        vec![],
    ];
    let mut statuses = Vec::new();
    for q in &queries {
        let mut answers = Vec::new();
        for path in [
            "/.well-known/com.apple.remotemanagement",
            "/account-driven/discovery",
        ] {
            let res = client()
                .get(format!("{}{path}", s.url))
                .query(q)
                .send()
                .await
                .unwrap();
            let status = res.status();
            let kind = res.headers().get("content-type").cloned();
            answers.push((status, kind, res.text().await.unwrap()));
        }
        assert_eq!(answers[0], answers[1], "{q:?}");
        statuses.push(answers[0].0.as_u16());
    }
    // The cases differ among themselves: the comparison means something.
    assert!(
        statuses.contains(&200) && statuses.contains(&403),
        "{statuses:?}"
    );
}
