//! `aspen inspect`: the tree and the JSON, enrollment kinds, masking.

use crate::common;
use common::*;

fn generate(ws: &Workspace, args: &[&str]) -> String {
    let out = ws.path("p.mobileconfig").display().to_string();
    let config = ws.settings().display().to_string();
    let mut all = vec!["profile"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-c", &config, "-o", &out]);
    ok(aspen(&all));
    out
}

fn inspect_json(file: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["inspect", "--json", file];
    args.extend_from_slice(extra);
    serde_json::from_slice(&ok(aspen(&args))).unwrap()
}

#[test]
fn tree_shows_signer_kind_payloads_and_masks_the_challenge() {
    let ws = Workspace::new(&demo_settings());
    let file = generate(&ws, &["device"]);
    let text = String::from_utf8(ok(aspen(&["inspect", &file]))).unwrap();
    for want in [
        "format:       signed (CMS SignedData) XML plist",
        "signer:       O=Aspen TEST ONLY, CN=Aspen Test Profile Signer RSA (TEST ONLY)",
        "enrollment:   device enrollment",
        "rights:       8191 = all rights",
        "[0] com.apple.security.root  com.contoso.mdm.enrollment.anchor1",
        "certificate         O=Aspen TEST ONLY, CN=Aspen Test Root CA (TEST ONLY), self-signed",
        "[1] com.apple.security.scep  com.contoso.mdm.enrollment.identity",
        "Challenge           ********",
        "→ [1] com.apple.security.scep",
        "(secrets masked; --show-secrets shows them)",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(!text.contains("demo-challenge-not-secret"));
    let shown = String::from_utf8(ok(aspen(&["inspect", "--show-secrets", &file]))).unwrap();
    assert!(
        shown.contains("Challenge           demo-challenge-not-secret"),
        "{shown}"
    );
}

/// Profile arguments, expected kind, Managed Apple ID and number of rights.
type Case = (
    &'static [&'static str],
    &'static str,
    Option<&'static str>,
    Option<usize>,
);

#[test]
fn json_is_stable_and_decodes_each_kind() {
    let ws = Workspace::new(&demo_settings());
    let cases: &[Case] = &[
        (&["device"], "device", None, Some(13)),
        (&["device", "--owner", "personal"], "device", None, Some(11)),
        (
            &["device", "--managed-apple-id", "bob@contoso.com"],
            "adde",
            Some("bob@contoso.com"),
            Some(13),
        ),
        (
            &["user", "--managed-apple-id", "bob@contoso.com"],
            "user-byod",
            Some("bob@contoso.com"),
            None,
        ),
        (
            &["user", "--managed-apple-id", "bob@contoso.com", "--legacy"],
            "user-legacy",
            Some("bob@contoso.com"),
            None,
        ),
    ];
    for (args, kind, id, rights) in cases {
        let json = inspect_json(&generate(&ws, args), &[]);
        let e = &json["enrollment"];
        assert_eq!(e["kind"], *kind, "{args:?}");
        assert_eq!(e["managed_apple_id"].as_str(), *id, "{args:?}");
        assert_eq!(
            e["access_rights"]["rights"].as_array().map(Vec::len),
            *rights,
            "{args:?}"
        );
        assert_eq!(json["format"], "xml");
        assert_eq!(json["signature"]["verifies"], true);
        assert_eq!(
            json["payloads"][1]["settings"]["PayloadContent"]["Challenge"],
            "********"
        );
        assert_eq!(json["payloads"][2]["references"][0]["target"], 1);
        assert_eq!(json["profile"]["PayloadType"], "Configuration");
    }
    // Personal device enrollment lacks erase and lock.
    let json = inspect_json(&generate(&ws, &["device", "--owner", "personal"]), &[]);
    let rights = json["enrollment"]["access_rights"]["rights"].to_string();
    assert!(
        !rights.contains("device erase") && rights.contains("app management"),
        "{rights}"
    );
}

#[test]
fn pkcs12_data_and_password_are_masked_and_binary_plists_read() {
    let file = fixture("profiles/ok-pkcs12-identity.mobileconfig")
        .display()
        .to_string();
    let json = inspect_json(&file, &[]);
    let p12 = &json["payloads"][1];
    assert_eq!(p12["payload_type"], "com.apple.security.pkcs12");
    assert_eq!(p12["settings"]["PayloadContent"], "********");
    assert_eq!(p12["settings"]["Password"], "********");
    let shown = inspect_json(&file, &["--show-secrets"]);
    assert_eq!(
        shown["payloads"][1]["settings"]["Password"],
        "fixture-p12-password"
    );
    assert!(
        shown["payloads"][1]["settings"]["PayloadContent"]["bytes"]
            .as_u64()
            .unwrap()
            > 1000
    );
    assert_eq!(json["signature"], serde_json::Value::Null);

    let binary = fixture("profiles/ok-device-binary.mobileconfig")
        .display()
        .to_string();
    let json = inspect_json(&binary, &[]);
    assert_eq!(json["format"], "binary");
    assert_eq!(json["payloads"].as_array().unwrap().len(), 3);
    assert_eq!(json["payloads"][0]["certificate"]["self_signed"], true);
}

/// inspect's JSON carries the signer's and each certificate payload's
/// SHA-256 fingerprint and RFC 3339 validity, and plist dates in the same
/// form; the text shows the fingerprints too.
#[test]
fn json_has_fingerprints_and_rfc3339_times() {
    let ws = Workspace::new(&demo_settings());
    let file = generate(&ws, &["device"]);
    let v = inspect_json(&file, &[]);
    let signer = &v["signature"]["signers"][0]["certificate"];
    let anchor = &v["payloads"][0]["certificate"];
    let text = String::from_utf8(ok(aspen(&["inspect", &file]))).unwrap();
    for c in [signer, anchor] {
        let fp = c["sha256"].as_str().unwrap();
        assert_eq!(fp.len(), 95, "{c:#}");
        assert!(fp.split(':').all(|p| {
            p.len() == 2
                && p.chars()
                    .all(|x| x.is_ascii_hexdigit() && !x.is_ascii_lowercase())
        }));
        assert!(text.contains(fp), "{fp} not in\n{text}");
        for key in ["not_before", "not_after"] {
            let t = c[key].as_str().unwrap();
            assert!(
                t.len() == 20 && t.ends_with('Z') && t.as_bytes()[10] == b'T',
                "{key} = {t}"
            );
        }
    }
    assert_ne!(signer["sha256"], anchor["sha256"]);
    // The root anchor is the fixture ca.pem; its fingerprint is its DER's SHA-256.
    let der = {
        let pem = std::fs::read_to_string(cert("ca.pem")).unwrap();
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    };
    let digest = openssl_sha256(&der);
    assert_eq!(anchor["sha256"], digest);

    // A plist date (TopLevel RemovalDate) comes out in the same form.
    let plain = ws.path("dated.mobileconfig");
    let xml = std::fs::read_to_string(generate_unsigned(&ws))
        .unwrap()
        .replacen(
            "<dict>",
            "<dict><key>RemovalDate</key><date>2026-12-01T22:09:47Z</date>",
            1,
        );
    std::fs::write(&plain, xml).unwrap();
    let v = inspect_json(plain.to_str().unwrap(), &[]);
    assert_eq!(
        v["profile"]["RemovalDate"], "2026-12-01T22:09:47Z",
        "{:#}",
        v["profile"]
    );
}

fn generate_unsigned(ws: &Workspace) -> String {
    let out = ws.path("u.mobileconfig").display().to_string();
    let config = ws.settings().display().to_string();
    ok(aspen(&[
        "profile",
        "device",
        "--unsigned",
        "-c",
        &config,
        "-o",
        &out,
    ]));
    out
}

/// SHA-256 as colon-separated upper-case hex pairs.
fn openssl_sha256(bytes: &[u8]) -> String {
    let digest = openssl::sha::sha256(bytes);
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
