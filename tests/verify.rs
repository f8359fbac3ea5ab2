//! `aspen verify` against OpenSSL: what openssl signs, aspen verifies; what
//! aspen signs, openssl verifies; tampering, wrong roots, expired signers,
//! unsigned and detached files fail with the reason.

use crate::common;
use common::*;
use std::path::Path;
use std::process::Command;

fn demo_profile(ws: &Workspace, name: &str, extra: &[&str]) -> String {
    let out = ws.path(name).display().to_string();
    let config = ws.settings().display().to_string();
    let mut args = vec!["profile", "device", "-c", &config, "-o", &out];
    args.extend_from_slice(extra);
    ok(aspen(&args));
    out
}

/// Signs `input` with `openssl smime -sign -nodetach -outform der -binary`.
fn openssl_sign(input: &str, output: &Path, signer: &str, extra: &[&str]) {
    let status = Command::new("openssl")
        .args([
            "smime",
            "-sign",
            "-nodetach",
            "-outform",
            "der",
            "-binary",
            "-in",
            input,
        ])
        .arg("-out")
        .arg(output)
        .arg("-signer")
        .arg(cert(&format!("{signer}.pem")))
        .arg("-inkey")
        .arg(cert(&format!("{signer}.key")))
        .arg("-certfile")
        .arg(cert("intermediate.pem"))
        .args(extra)
        .status()
        .expect("openssl");
    assert!(status.success());
}

fn ca() -> String {
    cert("ca.pem").display().to_string()
}

#[test]
fn aspens_signature_verifies_with_openssl_and_aspen() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let ws = Workspace::new(&demo_settings());
    let signed = demo_profile(&ws, "signed.mobileconfig", &[]);
    let content = openssl_verify(Path::new(&signed), &cert("ca.pem")).expect("openssl verifies");
    assert!(content.starts_with(b"<?xml"));
    let text = String::from_utf8(ok(aspen(&["verify", &signed, "--ca", &ca()]))).unwrap();
    for want in [
        "signature:  matches the content",
        "signer:     O=Aspen TEST ONLY, CN=Aspen Test Profile Signer RSA (TEST ONLY)",
        "issuer:     O=Aspen TEST ONLY, CN=Aspen Test Intermediate CA (TEST ONLY)",
        "SHA-256 digest, RSA signature",
        "carries:    2 certificate(s)",
        "chain:      trusted: O=Aspen TEST ONLY, CN=Aspen Test Profile Signer RSA (TEST ONLY) → O=Aspen TEST ONLY, CN=Aspen Test Intermediate CA (TEST ONLY) → O=Aspen TEST ONLY, CN=Aspen Test Root CA (TEST ONLY)",
        "result:     OK",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // JSON, checked field by field.
    let json: serde_json::Value =
        serde_json::from_slice(&ok(aspen(&["verify", "--json", &signed]))).unwrap();
    assert_eq!(json["valid"], true);
    assert_eq!(json["signers"][0]["chain"], serde_json::Value::Null);
    assert_eq!(json["signers"][0]["digest_algorithm"], "SHA-256");
    assert_eq!(json["signers"][0]["validity"], "valid");
    assert_eq!(json["certificates"].as_array().unwrap().len(), 2);
}

#[test]
fn openssl_signed_profiles_verify_rsa_ecdsa_and_ber() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let ws = Workspace::new(&demo_settings());
    let plain = demo_profile(&ws, "plain.mobileconfig", &["--unsigned"]);
    for (signer, extra, digest) in [
        ("signer", &[][..], "SHA-256"),
        ("signer-ec", &[][..], "SHA-256"),
        ("signer-p384", &["-md", "sha384"][..], "SHA-384"),
        // -stream writes indefinite-length BER: aspen's reader must cope.
        ("signer", &["-stream"][..], "SHA-256"),
    ] {
        let out = ws.path(&format!("{signer}-{}.der", extra.len()));
        openssl_sign(&plain, &out, signer, extra);
        let out = out.display().to_string();
        let json: serde_json::Value =
            serde_json::from_slice(&ok(aspen(&["verify", "--json", &out, "--ca", &ca()]))).unwrap();
        assert_eq!(json["valid"], true, "{signer} {extra:?}");
        assert_eq!(
            json["signers"][0]["digest_algorithm"], digest,
            "{signer} {extra:?}"
        );
        assert_eq!(json["signers"][0]["chain"].as_array().unwrap().len(), 3);
        // And the content is the plist we signed.
        let inspected: serde_json::Value =
            serde_json::from_slice(&ok(aspen(&["inspect", "--json", &out]))).unwrap();
        assert_eq!(inspected["enrollment"]["kind"], "device");
    }
}

/// Two signers (RSA and ECDSA, `openssl cms -sign` with two `-signer`):
/// each gets its own chain in the report, not the last one's for both.
#[test]
fn every_signer_gets_its_own_chain() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let ws = Workspace::new(&demo_settings());
    let plain = demo_profile(&ws, "plain.mobileconfig", &["--unsigned"]);
    let signed = ws.path("two-signers.der");
    let mut cmd = Command::new("openssl");
    cmd.args(["cms", "-sign", "-nodetach", "-binary", "-outform", "DER"]);
    for signer in ["signer", "signer-ec"] {
        cmd.arg("-signer")
            .arg(cert(&format!("{signer}.pem")))
            .arg("-inkey")
            .arg(cert(&format!("{signer}.key")));
    }
    let status = cmd
        .arg("-certfile")
        .arg(cert("intermediate.pem"))
        .args(["-in", &plain])
        .arg("-out")
        .arg(&signed)
        .status()
        .expect("openssl");
    assert!(status.success());
    let signed = signed.display().to_string();
    let json: serde_json::Value =
        serde_json::from_slice(&ok(aspen(&["verify", "--json", &signed, "--ca", &ca()]))).unwrap();
    assert_eq!(json["valid"], true);
    let signers = json["signers"].as_array().unwrap();
    assert_eq!(signers.len(), 2);
    for signer in signers {
        let subjects: Vec<&str> = signer["chain"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["subject"].as_str().unwrap())
            .collect();
        assert_eq!(subjects.len(), 3, "{subjects:?}");
        assert_eq!(subjects[0], signer["certificate"]["subject"]);
        assert_eq!(
            subjects[2],
            "O=Aspen TEST ONLY, CN=Aspen Test Root CA (TEST ONLY)"
        );
    }
    assert_ne!(
        signers[0]["chain"][0]["subject"],
        signers[1]["chain"][0]["subject"]
    );
    // The text names both chains.
    let text = String::from_utf8(ok(aspen(&["verify", &signed, "--ca", &ca()]))).unwrap();
    for signer in ["RSA", "P-256"] {
        assert!(
            text.contains(&format!(
                "chain:      trusted: O=Aspen TEST ONLY, CN=Aspen Test Profile Signer {signer} (TEST ONLY) → "
            )),
            "{signer}: {text}"
        );
    }
}

/// `--ca` takes PEM bundles or DER (one certificate loader for every
/// reader); a file with no certificate is named in the error.
#[test]
fn trusted_roots_may_be_der_and_must_be_certificates() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let ws = Workspace::new(&demo_settings());
    let signed = demo_profile(&ws, "signed.mobileconfig", &[]);
    let der = ws.path("ca.der");
    let status = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(cert("ca.pem"))
        .arg("-out")
        .arg(&der)
        .status()
        .expect("openssl");
    assert!(status.success());
    let der = der.display().to_string();
    let text = String::from_utf8(ok(aspen(&["verify", &signed, "--ca", &der]))).unwrap();
    assert!(text.contains("chain:      trusted: "), "{text}");
    let key = cert("signer.key").display().to_string();
    let err = fails(aspen(&["verify", &signed, "--ca", &key]));
    assert_eq!(
        err.trim(),
        format!("aspen: error: {key}: holds no certificate")
    );
}

#[test]
fn a_flipped_byte_fails() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let ws = Workspace::new(&demo_settings());
    let signed = demo_profile(&ws, "signed.mobileconfig", &[]);
    let mut bytes = std::fs::read(&signed).unwrap();
    let at = bytes
        .windows(7)
        .position(|w| w == b"Contoso")
        .expect("content is in the DER");
    bytes[at] = b'K';
    let tampered = ws.path("tampered.mobileconfig");
    std::fs::write(&tampered, &bytes).unwrap();
    let tampered = tampered.display().to_string();
    assert!(openssl_verify(Path::new(&tampered), &cert("ca.pem")).is_err());
    let err = found(aspen(&["verify", &tampered, "--ca", &ca()]));
    assert!(
        err.contains(
            "the signature does not match the content: the profile was changed after signing"
        ),
        "{err}"
    );
    // Lint reports it too.
    let out = aspen(&["lint", &tampered]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ASP060"));
}

#[test]
fn wrong_ca_fails() {
    let ws = Workspace::new(&demo_settings());
    let signed = demo_profile(&ws, "signed.mobileconfig", &[]);
    let other = cert("other-ca.pem").display().to_string();
    let err = found(aspen(&["verify", &signed, "--ca", &other]));
    assert!(
        err.contains(
            "the certificate chain does not verify: unable to get local issuer certificate"
        ),
        "{err}"
    );
}

#[test]
fn expired_signer_fails_unless_allowed() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let ws = Workspace::new(&demo_settings());
    let plain = demo_profile(&ws, "plain.mobileconfig", &["--unsigned"]);
    let out = ws.path("expired.der");
    openssl_sign(&plain, &out, "expired", &[]);
    let out = out.display().to_string();
    let err = found(aspen(&["verify", &out]));
    assert!(
        err.contains("the signing certificate O=Aspen TEST ONLY, CN=Aspen Test Expired Signer (TEST ONLY) is expired"),
        "{err}"
    );
    let err = found(aspen(&["verify", &out, "--ca", &ca()]));
    assert!(err.contains("is expired"), "{err}");
    ok(aspen(&["verify", &out, "--allow-expired"]));
    let text = String::from_utf8(ok(aspen(&[
        "verify",
        &out,
        "--allow-expired",
        "--ca",
        &ca(),
    ])))
    .unwrap();
    assert!(
        text.contains("(expired)") && text.contains("chain:      trusted"),
        "{text}"
    );
    // Lint warns about it.
    let out = aspen(&["lint", "--json", &out]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["files"][0]["findings"][0]["code"], "ASP061");
}

#[test]
fn unsigned_detached_and_truncated_files_fail() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let ws = Workspace::new(&demo_settings());
    let plain = demo_profile(&ws, "plain.mobileconfig", &["--unsigned"]);
    let err = found(aspen(&["verify", &plain]));
    assert!(err.contains("is not signed"), "{err}");

    // A detached signature: valid CMS, but no profile inside.
    let detached = ws.path("detached.der");
    let status = Command::new("openssl")
        .args([
            "smime", "-sign", "-outform", "der", "-binary", "-in", &plain,
        ])
        .arg("-out")
        .arg(&detached)
        .arg("-signer")
        .arg(cert("signer.pem"))
        .arg("-inkey")
        .arg(cert("signer.key"))
        .status()
        .unwrap();
    assert!(status.success());
    let err = fails(aspen(&["verify", &detached.display().to_string()]));
    assert!(
        err.contains("carries no content (a detached signature)"),
        "{err}"
    );

    let signed = demo_profile(&ws, "signed.mobileconfig", &[]);
    let bytes = std::fs::read(&signed).unwrap();
    for cut in [1, 2, 100, bytes.len() / 2, bytes.len() - 1] {
        let t = ws.path("truncated.der");
        std::fs::write(&t, &bytes[..cut]).unwrap();
        let err = fails(aspen(&["verify", &t.display().to_string()]));
        assert!(
            err.contains("is not a readable signed profile"),
            "cut {cut}: {err}"
        );
    }
}

/// `2026-12-01T22:09:47Z`: the one form of every time in JSON.
fn is_rfc3339_utc(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// Every certificate time and the signing time are RFC 3339 UTC and agree
/// with what openssl prints; every certificate's SHA-256 fingerprint is the
/// one `openssl x509 -fingerprint -sha256` gives, in JSON and in the text.
#[test]
fn json_times_are_rfc3339_and_fingerprints_match_openssl() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let ws = Workspace::new(&demo_settings());
    let file = demo_profile(&ws, "p.mobileconfig", &[]);
    let ca = ca();
    let report: serde_json::Value =
        serde_json::from_slice(&ok(aspen(&["verify", &file, "--ca", &ca, "--json"]))).unwrap();
    let text = String::from_utf8(ok(aspen(&["verify", &file, "--ca", &ca]))).unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let certs = report["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 2);
    for (c, pem) in certs.iter().zip(["intermediate.pem", "signer.pem"]) {
        let pem = cert(pem).display().to_string();
        let fp = openssl(&["x509", "-in", &pem, "-noout", "-fingerprint", "-sha256"]);
        let fp = fp.trim().split_once('=').unwrap().1;
        assert_eq!(c["sha256"], fp, "{c:#}");
        assert!(text.contains(fp), "{fp} not in\n{text}");
        let dates = openssl(&[
            "x509", "-in", &pem, "-noout", "-dates", "-dateopt", "iso_8601",
        ]);
        for (key, line) in ["not_before", "not_after"].iter().zip(dates.lines()) {
            let iso = line.split_once('=').unwrap().1.replace(' ', "T");
            assert_eq!(c[key], iso.as_str(), "{key}");
            assert!(is_rfc3339_utc(c[key].as_str().unwrap()));
        }
    }
    let signer = &report["signers"][0];
    assert_eq!(signer["certificate"]["sha256"], certs[1]["sha256"]);
    let chain = signer["chain"].as_array().unwrap();
    assert_eq!(chain.len(), 3);
    assert!(
        chain
            .iter()
            .all(|c| c["sha256"].as_str().unwrap().len() == 95)
    );
    // signingTime as openssl prints it: "UTCTIME:Dec  1 22:48:57 2026 GMT".
    let signing = signer["signing_time"].as_str().unwrap();
    assert!(is_rfc3339_utc(signing), "{signing}");
    let printed = openssl(&["cms", "-cmsout", "-print", "-inform", "DER", "-in", &file]);
    let utc = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("UTCTIME:"))
        .unwrap();
    let parts: Vec<&str> = utc.split_whitespace().collect();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[0])
    .unwrap()
        + 1;
    let expected = format!("{}-{month:02}-{:0>2}T{}Z", parts[3], parts[1], parts[2]);
    assert_eq!(signing, expected);
    assert!(text.contains(&format!("signed at:  {signing}")), "{text}");
}
