//! Apple's profile encryption: `--encrypt-for`, `aspen decrypt`, and
//! `openssl cms -decrypt` reading aspen's EncryptedPayloadContent.

use crate::common;
use common::*;
use std::process::Command;

fn generate(ws: &Workspace, name: &str, extra: &[&str]) -> String {
    let out = ws.path(name).display().to_string();
    let config = ws.settings().display().to_string();
    let mut args = vec!["profile", "user", "--managed-apple-id", "alice@contoso.com"];
    args.extend_from_slice(&["-c", &config, "-o", &out]);
    args.extend_from_slice(extra);
    ok(aspen(&args));
    out
}

fn device(name: &str) -> String {
    cert(name).display().to_string()
}

#[test]
fn encrypted_payloads_decrypt_with_openssl_and_aspen() {
    if !have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let ws = Workspace::new(&demo_settings());
    let plain = generate(&ws, "plain.mobileconfig", &["--unsigned"]);
    let enc = generate(
        &ws,
        "enc.mobileconfig",
        &["--unsigned", "--encrypt-for", &device("device.pem")],
    );
    let enc_json = plistlib_json(&std::fs::read(&enc).unwrap());
    let plain_json = plistlib_json(&std::fs::read(&plain).unwrap());
    assert_eq!(enc_json["IsEncrypted"], true);
    assert!(enc_json.get("PayloadContent").is_none());
    assert_eq!(
        enc_json["PayloadIdentifier"],
        plain_json["PayloadIdentifier"]
    );

    // openssl cms -decrypt of the EncryptedPayloadContent gives the array.
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(enc_json["EncryptedPayloadContent"].as_str().unwrap())
        .unwrap();
    let der_file = ws.path("content.der");
    std::fs::write(&der_file, &der).unwrap();
    let out = Command::new("openssl")
        .args(["cms", "-decrypt", "-inform", "DER", "-binary", "-in"])
        .arg(&der_file)
        .arg("-recip")
        .arg(cert("device.pem"))
        .arg("-inkey")
        .arg(cert("device.key"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(plistlib_json(&out.stdout), plain_json["PayloadContent"]);
    // It is AES-256-CBC to the device certificate.
    let info = Command::new("openssl")
        .args(["cms", "-cmsout", "-print", "-inform", "DER", "-in"])
        .arg(&der_file)
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.contains("aes-256-cbc") && info.contains("rsaEncryption"),
        "{info}"
    );

    // aspen decrypt restores the profile byte for byte.
    let dec = ws.path("dec.mobileconfig").display().to_string();
    ok(aspen(&[
        "decrypt",
        &enc,
        "--cert",
        &device("device.pem"),
        "--key",
        &device("device.key"),
        "-o",
        &dec,
    ]));
    assert_eq!(std::fs::read(&dec).unwrap(), std::fs::read(&plain).unwrap());

    // inspect and lint say it is encrypted.
    let json: serde_json::Value =
        serde_json::from_slice(&ok(aspen(&["inspect", "--json", &enc]))).unwrap();
    assert_eq!(json["encrypted"]["cipher"], "AES-256-CBC");
    assert!(
        json["encrypted"]["recipients"][0]
            .as_str()
            .unwrap()
            .contains("Aspen Test Intermediate CA")
    );
    let out = aspen(&["lint", "--json", &enc]);
    assert_eq!(out.status.code(), Some(0));
    let lint: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(lint["files"][0]["findings"][0]["code"], "ASP010");
    assert_eq!(lint["files"][0]["encrypted"], true);
}

#[test]
fn signed_encrypted_profile_verifies_and_decrypts() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let ws = Workspace::new(&demo_settings());
    let enc = generate(
        &ws,
        "enc.mobileconfig",
        &["--encrypt-for", &device("device.pem")],
    );
    let content = openssl_verify(std::path::Path::new(&enc), &cert("ca.pem")).unwrap();
    assert!(String::from_utf8_lossy(&content).contains("<key>EncryptedPayloadContent</key>"));
    ok(aspen(&["verify", &enc, "--ca", &device("ca.pem")]));
    let dec = String::from_utf8(ok(aspen(&[
        "decrypt",
        &enc,
        "--cert",
        &device("device.pem"),
        "--key",
        &device("device.key"),
    ])))
    .unwrap();
    assert!(dec.contains("<string>alice@contoso.com</string>") && !dec.contains("IsEncrypted"));
}

#[test]
fn wrong_identity_and_non_rsa_recipients_fail_cleanly() {
    let ws = Workspace::new(&demo_settings());
    let enc = generate(
        &ws,
        "enc.mobileconfig",
        &["--unsigned", "--encrypt-for", &device("device.pem")],
    );
    let err = fails(aspen(&[
        "decrypt",
        &enc,
        "--cert",
        &device("signer.pem"),
        "--key",
        &device("signer.key"),
    ]));
    assert!(
        err.contains("not encrypted for this certificate and key"),
        "{err}"
    );
    let err = fails(aspen(&[
        "decrypt",
        &enc,
        "--cert",
        &device("device.pem"),
        "--key",
        &device("signer.key"),
    ]));
    assert!(err.contains("does not match the certificate"), "{err}");

    let out = ws.path("ec.mobileconfig").display().to_string();
    let config = ws.settings().display().to_string();
    let err = fails(aspen(&[
        "profile",
        "device",
        "-c",
        &config,
        "-o",
        &out,
        "--encrypt-for",
        &device("signer-ec.pem"),
    ]));
    assert!(err.contains("has no RSA key"), "{err}");
    assert!(!ws.path("ec.mobileconfig").exists());
}
