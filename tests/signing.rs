//! Signing identities (RSA, P-256, P-384; PEM, encrypted PEM, PKCS#12) and
//! `aspen sign`, all checked with `openssl cms -verify`.

use crate::common;
use common::*;

fn certs_dir() -> String {
    fixture("certs").display().to_string()
}

/// Demo settings whose [signing] section is replaced by `signing`.
fn with_signing(signing: &str) -> String {
    let text = demo_settings();
    let start = text.find("[signing]").unwrap();
    let end = text[start..].find("\n\n").map_or(text.len(), |e| start + e);
    format!(
        "{}{}{}",
        &text[..start],
        signing.replace("CERTS", &certs_dir()),
        &text[end..]
    )
}

fn sign_and_verify(settings: &str, env: &[(&str, &str)]) -> Vec<String> {
    let ws = Workspace::new(settings);
    let out = ws.path("p.mobileconfig");
    ok(aspen_env(
        &[
            "profile",
            "device",
            "-c",
            ws.settings().to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        env,
    ));
    let content = openssl_verify(&out, &cert("ca.pem")).expect("verifies");
    assert!(content.starts_with(b"<?xml"));
    openssl_cms_subjects(&out)
}

#[test]
fn carries_signer_and_intermediate_but_not_the_root() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let subjects = sign_and_verify(&demo_settings(), &[]);
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(subjects.iter().any(|s| s.contains("Profile Signer RSA")));
    assert!(subjects.iter().any(|s| s.contains("Intermediate")));
    assert!(!subjects.iter().any(|s| s.contains("Root CA")));
}

#[test]
fn root_given_in_chain_is_left_out() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let settings = with_signing(
        "[signing]\ncertificate = \"CERTS/signer.pem\"\nkey = \"CERTS/signer.key\"\nchain = [\"CERTS/intermediate.pem\", \"CERTS/ca.pem\"]\n",
    );
    let subjects = sign_and_verify(&settings, &[]);
    assert!(
        !subjects.iter().any(|s| s.contains("Root CA")),
        "{subjects:?}"
    );
}

#[test]
fn ecdsa_p256_and_p384_signers() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    for name in ["signer-ec", "signer-p384"] {
        let settings = with_signing(&format!(
            "[signing]\ncertificate = \"CERTS/{name}.pem\"\nkey = \"CERTS/{name}.key\"\nchain = [\"CERTS/intermediate.pem\"]\n"
        ));
        let subjects = sign_and_verify(&settings, &[]);
        assert!(subjects.iter().any(|s| s.contains("P-")), "{subjects:?}");
    }
}

#[test]
fn encrypted_key_with_passphrase_from_env_or_file() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let env_settings = with_signing(
        "[signing]\ncertificate = \"CERTS/signer.pem\"\nkey = \"CERTS/signer-encrypted.key\"\nchain = [\"CERTS/intermediate.pem\"]\nkey_passphrase_env = \"ASPEN_TEST_PASS\"\n",
    );
    sign_and_verify(
        &env_settings,
        &[("ASPEN_TEST_PASS", "test-only-passphrase")],
    );
    let file_settings = with_signing(
        "[signing]\ncertificate = \"CERTS/signer.pem\"\nkey = \"CERTS/signer-encrypted.key\"\nchain = [\"CERTS/intermediate.pem\"]\nkey_passphrase_file = \"CERTS/passphrase.txt\"\n",
    );
    sign_and_verify(&file_settings, &[]);
}

#[test]
fn pkcs12_with_passphrase_file() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let settings = with_signing(
        "[signing]\npkcs12 = \"CERTS/signer.p12\"\npkcs12_passphrase_file = \"CERTS/passphrase.txt\"\n",
    );
    let subjects = sign_and_verify(&settings, &[]);
    assert!(
        subjects.iter().any(|s| s.contains("Intermediate")),
        "chain from the p12: {subjects:?}"
    );
}

#[test]
fn no_signing_section_gives_unsigned_profile_and_a_note() {
    let text = demo_settings();
    let start = text.find("[signing]").unwrap();
    let end = start + text[start..].find("\n\n").unwrap();
    let ws = Workspace::new(&format!("{}{}", &text[..start], &text[end..]));
    let out = aspen(&["profile", "device", "-c", ws.settings().to_str().unwrap()]);
    let err = stderr(&out);
    let bytes = ok(out);
    assert!(bytes.starts_with(b"<?xml"), "unsigned XML on stdout");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no [signing] section") && err.contains("unsigned"),
        "{err}"
    );
}

#[test]
fn sign_command_signs_an_existing_profile_unchanged() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let ws = Workspace::new(&demo_settings());
    let unsigned = ws.path("u.mobileconfig");
    let signed = ws.path("s.mobileconfig");
    ok(aspen(&[
        "profile",
        "device",
        "-c",
        ws.settings().to_str().unwrap(),
        "--unsigned",
        "-o",
        unsigned.to_str().unwrap(),
    ]));
    ok(aspen(&[
        "sign",
        unsigned.to_str().unwrap(),
        "-o",
        signed.to_str().unwrap(),
        "--cert",
        cert("signer-ec.pem").to_str().unwrap(),
        "--key",
        cert("signer-ec.key").to_str().unwrap(),
        "--chain",
        cert("intermediate.pem").to_str().unwrap(),
    ]));
    assert_eq!(
        openssl_verify(&signed, &cert("ca.pem")).unwrap(),
        std::fs::read(&unsigned).unwrap()
    );

    // PKCS#12 with the passphrase from the environment.
    let p12 = ws.path("p12.mobileconfig");
    ok(aspen_env(
        &[
            "sign",
            unsigned.to_str().unwrap(),
            "-o",
            p12.to_str().unwrap(),
            "--pkcs12",
            cert("signer.p12").to_str().unwrap(),
            "--passphrase-env",
            "P12_PASS",
        ],
        &[("P12_PASS", "test-only-passphrase")],
    ));
    assert_eq!(
        openssl_verify(&p12, &cert("ca.pem")).unwrap(),
        std::fs::read(&unsigned).unwrap()
    );
}

#[test]
fn signed_output_is_not_verified_by_the_wrong_ca() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let ws = Workspace::new(&demo_settings());
    let out = ws.path("p.mobileconfig");
    ok(aspen(&[
        "profile",
        "device",
        "-c",
        ws.settings().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]));
    let err = openssl_verify(&out, &cert("other-ca.pem")).unwrap_err();
    assert!(
        err.contains("certificate verify error") || err.contains("unable to get"),
        "{err}"
    );
}

/// PKCS#12 as macOS Keychain and older tools export it (RC2-40
/// certificates, 3DES key, SHA-1 MAC): OpenSSL 3 reads it only with its
/// legacy provider, which aspen loads. The right passphrase signs; a wrong
/// one still says "wrong passphrase"; without the provider the message
/// names the legacy cipher and the conversion, never the passphrase.
#[test]
fn legacy_pkcs12_from_keychain_and_older_tools() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    // The fixture really is the legacy format: OpenSSL 3 without -legacy refuses it.
    let plain = std::process::Command::new("openssl")
        .args([
            "pkcs12",
            "-info",
            "-noout",
            "-passin",
            "pass:test-only-passphrase",
            "-in",
        ])
        .arg(cert("signer-legacy.p12"))
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&plain.stderr);
    assert!(info.contains("pbeWithSHA1And40BitRC2-CBC"), "{info}");

    let settings = with_signing(
        "[signing]\npkcs12 = \"CERTS/signer-legacy.p12\"\npkcs12_passphrase_file = \"CERTS/passphrase.txt\"\n",
    );
    let subjects = sign_and_verify(&settings, &[]);
    assert!(
        subjects.iter().any(|s| s.contains("Intermediate")),
        "{subjects:?}"
    );

    let ws = Workspace::new(&demo_settings());
    let unsigned = ws.path("u.mobileconfig");
    ok(aspen(&[
        "profile",
        "device",
        "--unsigned",
        "-c",
        ws.settings().to_str().unwrap(),
        "-o",
        unsigned.to_str().unwrap(),
    ]));
    let wrong = ws.path("wrong.txt");
    std::fs::write(&wrong, "not-the-passphrase\n").unwrap();
    let out_file = ws.path("s.mobileconfig");
    let sign = |pass: &std::path::Path, env: &[(&str, &str)]| {
        aspen_env(
            &[
                "sign",
                unsigned.to_str().unwrap(),
                "--pkcs12",
                cert("signer-legacy.p12").to_str().unwrap(),
                "--passphrase-file",
                pass.to_str().unwrap(),
                "-o",
                out_file.to_str().unwrap(),
            ],
            env,
        )
    };
    let err = fails(sign(&wrong, &[]));
    assert!(
        err.contains("signer-legacy.p12: cannot open the PKCS#12 file: wrong passphrase"),
        "{err}"
    );
    assert!(!out_file.exists());
    // OpenSSL finds no legacy provider: the cipher is named, with the way out.
    let err = fails(sign(
        &cert("passphrase.txt"),
        &[("OPENSSL_MODULES", "/nonexistent")],
    ));
    assert!(
        err.contains("uses a legacy cipher (RC2-40 or 3DES")
            && err.contains(
                "openssl pkcs12 -legacy -in OLD.p12 -nodes | openssl pkcs12 -export -out NEW.p12"
            )
            && !err.contains("passphrase"),
        "{err}"
    );
    assert!(!out_file.exists());
    // With the provider, the right passphrase signs, and openssl verifies it.
    ok(sign(&cert("passphrase.txt"), &[]));
    let content = openssl_verify(&out_file, &cert("ca.pem")).unwrap();
    assert_eq!(content, std::fs::read(&unsigned).unwrap());
    // The modern file's wrong passphrase is named the same way.
    let err = fails(aspen(&[
        "sign",
        unsigned.to_str().unwrap(),
        "--pkcs12",
        cert("signer.p12").to_str().unwrap(),
        "--passphrase-file",
        wrong.to_str().unwrap(),
    ]));
    assert!(
        err.contains("signer.p12: cannot open the PKCS#12 file: wrong passphrase"),
        "{err}"
    );
}

/// Signing is allowed but warned about with a CA's certificate (keyCertSign
/// without digitalSignature) and, under --allow-expired, with an expired
/// one; a proper signer signs silently.
#[test]
fn ca_and_expired_signers_are_warned_about() {
    let ws = Workspace::new(&demo_settings());
    let unsigned = ws.path("u.mobileconfig");
    ok(aspen(&[
        "profile",
        "device",
        "--unsigned",
        "-c",
        ws.settings().to_str().unwrap(),
        "-o",
        unsigned.to_str().unwrap(),
    ]));
    let sign = |name: &str, extra: &[&str]| {
        let out = ws.path(&format!("{name}.mobileconfig"));
        let (pem, key) = (cert(&format!("{name}.pem")), cert(&format!("{name}.key")));
        let mut args = vec![
            "sign",
            unsigned.to_str().unwrap(),
            "--cert",
            pem.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let result = aspen(&args);
        let err = stderr(&result);
        ok(result);
        assert!(out.exists(), "{name}");
        err
    };
    let err = sign("intermediate", &[]);
    assert!(
        err.contains("aspen: warning: ")
            && err.contains("intermediate.pem: O=Aspen TEST ONLY, CN=Aspen Test Intermediate CA (TEST ONLY) is a CA certificate (key usage keyCertSign without digitalSignature)"),
        "{err}"
    );
    let err = sign("expired", &["--allow-expired"]);
    assert!(
        err.contains("aspen: warning: ")
            && err.contains("which expired on 2021-01-01T00:00:00Z (--allow-expired)"),
        "{err}"
    );
    assert_eq!(sign("signer", &[]), "");
    assert_eq!(sign("signer", &["--allow-expired"]), "");

    // The same from the settings, for profile (and bulk and serve alike).
    let settings = with_signing(
        "[signing]\ncertificate = \"CERTS/expired.pem\"\nkey = \"CERTS/expired.key\"\nchain = [\"CERTS/intermediate.pem\"]\n",
    );
    std::fs::write(ws.settings(), settings).unwrap();
    let out = aspen(&[
        "profile",
        "device",
        "--allow-expired",
        "-c",
        ws.settings().to_str().unwrap(),
        "-o",
        ws.path("p.mobileconfig").to_str().unwrap(),
    ]);
    let err = stderr(&out);
    ok(out);
    assert!(
        err.contains("which expired on 2021-01-01T00:00:00Z"),
        "{err}"
    );
}
