//! Automated Device Enrollment, played from outside over real HTTP: a
//! device posts its `MachineInfo`, CMS-signed by openssl with the test-only
//! device identity of fixtures/ade (its CA's certificate in the signature,
//! as devices send it), to `/ade/enroll` and gets a corporate profile whose
//! per-profile challenge names it; bodies that are unsigned, signed under
//! another CA or truncated are refused (403, an audit row, no profile); an
//! OS below `[ade] minimum_os` is told to update; the web sign-in binds a
//! device to the person who signs in; `aspen ade profile` writes Apple's
//! define-profile body.

use crate::common;
use crate::server;

use common::{
    Workspace, aspen, cert, fails, fixture, have_tools, ok, openssl_verify, plistlib_json,
};
use server::{Server, client, field, set_cookie};

pub const SERIAL: &str = "C02XK1ABJG5H";
pub const UDID: &str = "00008030-001A2B3C4D5E802E";

pub fn ade_fixture(name: &str) -> std::path::PathBuf {
    fixture("ade").join(name)
}

/// A `MachineInfo` plist (Apple: other/machineinfo.yaml), made by hand.
pub fn machine_info(serial: &str, product: &str, os: Option<&str>, can_update: bool) -> Vec<u8> {
    let os = os
        .map(|v| format!("<key>OS_VERSION</key><string>{v}</string>"))
        .unwrap_or_default();
    let update = if can_update {
        "<key>MDM_CAN_REQUEST_SOFTWARE_UPDATE</key><true/>"
    } else {
        ""
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\"><dict><key>LANGUAGE</key><string>en</string>{update}{os}<key>PRODUCT</key><string>{product}</string><key>SERIAL</key><string>{serial}</string><key>UDID</key><string>{UDID}</string><key>VERSION</key><string>21F90</string></dict></plist>\n"
    )
    .into_bytes()
}

/// `plist` signed as a device signs it (CMS SignedData, DER, content
/// attached, the signer's and `extra` certificates carried), by openssl.
pub fn signed_with(
    dir: &std::path::Path,
    plist: &[u8],
    signer: &str,
    key: &str,
    extra: Option<&str>,
) -> Vec<u8> {
    let input = dir.join("machineinfo.plist");
    let output = dir.join("machineinfo.p7s");
    std::fs::write(&input, plist).unwrap();
    let mut cmd = std::process::Command::new("openssl");
    cmd.args([
        "cms",
        "-sign",
        "-binary",
        "-nodetach",
        "-outform",
        "DER",
        "-signer",
    ])
    .arg(signer)
    .arg("-inkey")
    .arg(key);
    if let Some(extra) = extra {
        cmd.arg("-certfile").arg(extra);
    }
    let out = cmd
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
    std::fs::read(&output).unwrap()
}

/// Signed by the test device, its CA in the signature.
pub fn device_signed(dir: &std::path::Path, plist: &[u8]) -> Vec<u8> {
    let (leaf, key, ca) = (
        ade_fixture("iphone.pem"),
        ade_fixture("iphone.key"),
        ade_fixture("device-ca.pem"),
    );
    signed_with(
        dir,
        plist,
        leaf.to_str().unwrap(),
        key.to_str().unwrap(),
        Some(ca.to_str().unwrap()),
    )
}

/// The demo settings with a per-profile SCEP challenge, a subject naming
/// the device, and `[ade]` (the test device CA, `minimum_os`) plus `ade`.
pub fn ade_settings(ade: &'static str) -> impl Fn(String) -> String {
    move |demo: String| {
        let bundle = ade_fixture("device-ca-bundle.pem");
        format!(
            "{}\n[ade]\ndevice_ca = {:?}\nminimum_os = {{ iOS = \"17.0\", macOS = \"14.0\" }}\n{ade}\n[serve]\nsignin_failures_per_address = 4\n",
            demo.replace("\"demo-challenge-not-secret\"", "\"per-profile\"")
                .replace("CN=Contoso MDM Identity", "CN={serial}/OU={profile_uuid}"),
            bundle.display().to_string()
        )
    }
}

pub async fn post(s: &Server, body: Vec<u8>) -> reqwest::Response {
    client()
        .post(format!("{}/ade/enroll", s.url))
        .header("content-type", "application/pkcs7-signature")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// The signed profile of a 200 answer: Apple's MIME type, verified by
/// openssl, read by plistlib.
pub async fn profile(s: &Server, res: reqwest::Response, name: &str) -> serde_json::Value {
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/x-apple-aspen-config"
    );
    let path = s.ws.path(name);
    std::fs::write(&path, res.bytes().await.unwrap()).unwrap();
    plistlib_json(&openssl_verify(&path, &cert("ca.pem")).expect("openssl cms -verify"))
}

pub fn payload<'a>(profile: &'a serde_json::Value, payload_type: &str) -> &'a serde_json::Value {
    profile["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["PayloadType"] == payload_type)
        .unwrap_or_else(|| panic!("no {payload_type} in {profile:#}"))
}

/// `aspen issued --json` with `args` (`--serial S`, `--user U`).
pub fn issued(s: &Server, args: &[&str]) -> Vec<serde_json::Value> {
    let settings = s.ws.settings();
    let mut all = vec!["issued", "-c", settings.to_str().unwrap(), "--json"];
    all.extend_from_slice(args);
    serde_json::from_slice(&ok(aspen(&all))).unwrap()
}

fn have() -> bool {
    have_tools(&[("openssl", "openssl"), ("python3", "python3")])
}

#[tokio::test]
async fn a_signed_machine_info_gets_a_corporate_profile_for_that_device() {
    if !have() {
        return;
    }
    let s = Server::start_edited(&ade_settings(""));
    let body = device_signed(
        s.ws.dir.path(),
        &machine_info(SERIAL, "iPhone15,2", Some("17.5.1"), true),
    );
    let p = profile(&s, post(&s, body).await, "ade.mobileconfig").await;
    // Corporate: [mdm] access_rights, no enrollment mode, no Apple ID.
    let mdm = payload(&p, "com.apple.mdm");
    assert_eq!(mdm["AccessRights"], 8191);
    assert!(mdm.get("EnrollmentMode").is_none() && mdm.get("AssignedManagedAppleID").is_none());
    // This device's identity: a fresh challenge, the subject names it.
    let scep = &payload(&p, "com.apple.security.scep")["PayloadContent"];
    let challenge = scep["Challenge"].as_str().unwrap().to_owned();
    assert_eq!(challenge.len(), 32);
    assert_eq!(scep["Subject"][0], serde_json::json!([["O", "Contoso"]]));
    assert_eq!(scep["Subject"][1], serde_json::json!([["CN", SERIAL]]));
    assert_eq!(
        scep["Subject"][2],
        serde_json::json!([["OU", p["PayloadUUID"].as_str().unwrap()]])
    );
    // The row: channel ade, corporate, the device named.
    let rows = issued(&s, &["--serial", &SERIAL.to_lowercase()]);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let row = &rows[0];
    assert_eq!(
        (
            &row["event"],
            &row["channel"],
            &row["kind"],
            &row["ownership"]
        ),
        (
            &"issued".into(),
            &"ade".into(),
            &"device-corporate".into(),
            &"corporate".into()
        )
    );
    assert_eq!(
        (
            &row["serial"],
            &row["udid"],
            &row["product"],
            &row["os_version"]
        ),
        (
            &SERIAL.into(),
            &UDID.into(),
            &"iPhone15,2".into(),
            &"17.5.1".into()
        )
    );
    assert_eq!(row["user"], serde_json::Value::Null);
    assert_eq!(row["payload_uuid"], p["PayloadUUID"]);

    // scep-verify accepts its challenge once, and its row names the device.
    let csr = crate::step_ca::csr(&s.ws, "ade.csr", SERIAL, &challenge);
    let settings = s.ws.settings();
    let verify = || {
        aspen(&[
            "scep-verify",
            "-c",
            settings.to_str().unwrap(),
            csr.to_str().unwrap(),
        ])
    };
    assert_eq!(verify().status.code(), Some(0));
    let again = verify();
    assert_eq!(again.status.code(), Some(1));
    assert!(common::stderr(&again).contains("already used"));
    let rows = issued(&s, &["--serial", SERIAL]);
    let events: Vec<&str> = rows.iter().map(|r| r["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["issued", "secret-accepted", "secret-refused"]);
    assert_eq!(rows[1]["udid"], UDID);
    assert_eq!(rows[1]["subject"], format!("CN={SERIAL}"));
}

#[tokio::test]
async fn unsigned_foreign_and_truncated_bodies_are_refused_and_recorded() {
    if !have() {
        return;
    }
    let s = Server::start_edited(&ade_settings(""));
    let dir = s.ws.dir.path();
    let plist = machine_info(SERIAL, "iPhone15,2", Some("17.5.1"), true);
    let good = device_signed(dir, &plist);
    let (other, other_key) = (cert("device.pem"), cert("device.key"));
    let (sibling, sibling_key) = (ade_fixture("sibling.pem"), ade_fixture("sibling.key"));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("unsigned", plist.clone(), "is not signed"),
        (
            "another CA",
            signed_with(
                dir,
                &plist,
                other.to_str().unwrap(),
                other_key.to_str().unwrap(),
                None,
            ),
            "chain does not verify",
        ),
        (
            "the device CA's root, not the device CA",
            signed_with(
                dir,
                &plist,
                sibling.to_str().unwrap(),
                sibling_key.to_str().unwrap(),
                None,
            ),
            "not by the device CA itself",
        ),
        ("truncated", good[..good.len() - 40].to_vec(), "MachineInfo"),
    ];
    // Posted back to back (the address's budget is four failures), then
    // a good body: throttled like sign-ins.
    let mut answers = Vec::new();
    for (_, body, _) in &cases {
        let res = post(&s, body.clone()).await;
        let status = res.status();
        let kind = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        answers.push((status, kind, res.text().await.unwrap()));
    }
    let throttled = post(&s, good).await;
    assert_eq!(throttled.status(), 429);
    assert!(throttled.headers().contains_key("retry-after"));
    let rows = issued(&s, &[]);
    assert_eq!(rows.len(), cases.len(), "{rows:#?}");
    for (((what, _, reason), (status, kind, text)), row) in cases.iter().zip(&answers).zip(&rows) {
        assert_eq!(*status, 403, "{what}");
        assert_ne!(
            kind.as_deref(),
            Some("application/x-apple-aspen-config"),
            "{what}"
        );
        assert!(!text.contains("PayloadContent"), "{what}: {text}");
        assert_eq!(
            (&row["event"], &row["channel"]),
            (&"refused".into(), &"ade".into()),
            "{what}"
        );
        assert!(
            row["reason"].as_str().unwrap().contains(reason),
            "{what}: {row:#}"
        );
        assert_eq!(row["client"], "127.0.0.1");
    }
    assert!(
        s.log_with("automated device enrollment refused")
            .contains("automated device enrollment refused")
    );
}

#[tokio::test]
async fn a_device_below_minimum_os_is_told_to_update() {
    if !have() {
        return;
    }
    let s = Server::start_edited(&ade_settings(""));
    let dir = s.ws.dir.path();
    let old = device_signed(
        dir,
        &machine_info(SERIAL, "iPhone14,2", Some("16.7.10"), true),
    );
    let res = post(&s, old).await;
    assert_eq!(res.status(), 403);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "com.apple.softwareupdate.required");
    assert_eq!(body["details"]["OSVersion"], "17.0");
    assert!(
        body["description"].as_str().unwrap().contains("minimum_os"),
        "{body:#}"
    );
    // A Mac that cannot be asked to update (no MDM_CAN_REQUEST_SOFTWARE_UPDATE).
    let mac = device_signed(
        dir,
        &machine_info("C02MAC0000X1", "Mac14,2", Some("13.6"), false),
    );
    let res = post(&s, mac).await;
    assert_eq!(res.status(), 403);
    let text = res.text().await.unwrap();
    assert!(text.contains("needs macOS 14.0 or later"), "{text}");
    let rows = issued(&s, &[]);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert!(rows.iter().all(|r| r["event"] == "refused"));
    assert!(
        rows[0]["reason"]
            .as_str()
            .unwrap()
            .contains("iOS 16.7.10; [ade] minimum_os needs 17.0"),
        "{:#}",
        rows[0]
    );
    assert_eq!(rows[1]["serial"], "C02MAC0000X1");
    // At the minimum: a profile.
    let ok17 = device_signed(dir, &machine_info(SERIAL, "iPhone15,2", Some("17.0"), true));
    assert_eq!(post(&s, ok17).await.status(), 200);
    // The same limits as every endpoint: a body past 64 KiB is refused
    // before the handler (no row), and every answer has its access line.
    let res = post(&s, vec![0x30; 65 * 1024]).await;
    assert_eq!(res.status(), 413);
    assert_eq!(issued(&s, &[]).len(), 3);
    let log = s.log();
    for status in [403, 200, 413] {
        assert!(
            log.contains(&format!("path=/ade/enroll status={status}")),
            "{log}"
        );
    }
}

#[tokio::test]
async fn the_web_sign_in_binds_the_device_to_who_signs_in() {
    if !have() {
        return;
    }
    let s = Server::start_edited(&ade_settings("configuration_web_url = true"));
    let dir = s.ws.dir.path();
    let info = device_signed(dir, &machine_info(SERIAL, "iPad13,4", Some("18.1"), true));
    let header = openssl::base64::encode_block(&info);
    let web = format!("{}/ade/web", s.url);
    // Without the device's header: refused, recorded.
    let res = client().get(&web).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let res = client()
        .get(&web)
        .header("x-apple-aspen-deviceinfo", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = set_cookie(&res, "aspen_csrf").unwrap();
    let html = res.text().await.unwrap();
    let code = s.invite("bob@contoso.com");
    let form = |code: &str| {
        [
            ("csrf", field(&html, "csrf")),
            ("device", field(&html, "device")),
            ("code", code.to_owned()),
        ]
    };
    let res = client()
        .post(&web)
        .header("cookie", &cookie)
        .form(&form("AAAAA-AAAAA"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "a wrong code");
    let res = client()
        .post(&web)
        .header("cookie", &cookie)
        .form(&form(&code))
        .send()
        .await
        .unwrap();
    let p = profile(&s, res, "web.mobileconfig").await;
    assert_eq!(payload(&p, "com.apple.mdm")["AccessRights"], 8191);
    let rows = issued(&s, &["--serial", SERIAL]);
    let issued_row = rows.iter().find(|r| r["event"] == "issued").unwrap();
    assert_eq!(issued_row["user"], "bob@contoso.com");
    assert_eq!(issued_row["product"], "iPad13,4");
    assert_eq!(issued_row["kind"], "device-corporate");
    // A changed device token is not taken.
    let mut forged = form(&code);
    forged[1].1.insert(0, 'x');
    let res = client()
        .post(&web)
        .header("cookie", &cookie)
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[test]
fn ade_profile_prints_apples_define_profile_fields() {
    let ws = Workspace::new(&format!(
        "{}\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nsecret_file = \"portal.secret\"\n\n[ade]\nprofile_name = \"Contoso corporate\"\nis_mdm_removable = false\nawait_device_configured = true\nskip_setup_items = [\"Siri\", \"Diagnostics\"]\ndepartment = \"IT\"\nsupport_phone_number = \"+1 555 0100\"\nsupport_email_address = \"it@contoso.com\"\nlanguage = \"en\"\nregion = \"US\"\norg_magic = \"contoso-ade\"\nconfiguration_web_url = true\n",
        common::demo_settings()
    ));
    let settings = ws.settings();
    let json: serde_json::Value = serde_json::from_slice(&ok(aspen(&[
        "ade",
        "profile",
        "-c",
        settings.to_str().unwrap(),
    ])))
    .unwrap();
    // Apple: Device Assignment, "Define a Profile" — the Profile object's
    // fields (NanoDEP's godep/schema.go, transcribed from Apple's).
    const APPLE: &[&str] = &[
        "profile_name",
        "url",
        "allow_pairing",
        "is_supervised",
        "is_multi_user",
        "is_mandatory",
        "await_device_configured",
        "is_mdm_removable",
        "auto_advance_setup",
        "support_phone_number",
        "support_email_address",
        "org_magic",
        "anchor_certs",
        "supervising_host_certs",
        "skip_setup_items",
        "department",
        "devices",
        "language",
        "region",
        "configuration_web_url",
        "do_not_use_profile_from_backup",
        "is_return_to_service",
    ];
    let object = json.as_object().unwrap();
    for key in object.keys() {
        assert!(
            APPLE.contains(&key.as_str()),
            "{key} is not one of Apple's fields"
        );
    }
    let expected = serde_json::json!({
        "profile_name": "Contoso corporate",
        "url": "https://enroll.contoso.com/ade/enroll",
        "is_supervised": true,
        "is_mandatory": true,
        "is_mdm_removable": false,
        "await_device_configured": true,
        "support_phone_number": "+1 555 0100",
        "support_email_address": "it@contoso.com",
        "org_magic": "contoso-ade",
        "anchor_certs": object["anchor_certs"].clone(),
        "skip_setup_items": ["Siri", "Diagnostics"],
        "department": "IT",
        "language": "en",
        "region": "US",
        "configuration_web_url": "https://enroll.contoso.com/ade/web",
    });
    assert_eq!(json, expected);
    // anchor_certs: the [[anchor]] certificate, base64 DER, as openssl has it.
    let der = std::process::Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(cert("ca.pem"))
        .output()
        .unwrap()
        .stdout;
    assert_eq!(
        json["anchor_certs"],
        serde_json::json!([openssl::base64::encode_block(&der)])
    );
    // -o writes the same body.
    let out = ws.path("profile.json");
    ok(aspen(&[
        "ade",
        "profile",
        "-c",
        settings.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]));
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(written, json);
    // resolve says what a user-choice user's ADE devices get: corporate.
    let json: serde_json::Value = serde_json::from_slice(&ok(aspen(&[
        "resolve",
        "-c",
        settings.to_str().unwrap(),
        "--user",
        "alice@contoso.com",
        "--json",
    ])))
    .unwrap();
    assert_eq!(json["outcome"], "needs-choice");
    assert!(
        json["automated_device_enrollment"]
            .as_str()
            .unwrap()
            .starts_with("device-corporate: a device that comes through Automated Device Enrollment belongs to the organisation"),
        "{json:#}"
    );
    // Without [ade]: exit 2, naming it.
    let ws = Workspace::new(&common::demo_settings());
    let err = fails(aspen(&[
        "ade",
        "profile",
        "-c",
        ws.settings().to_str().unwrap(),
    ]));
    assert!(err.contains("has no [ade] section"), "{err}");
}
