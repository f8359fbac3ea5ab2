//! `-` as the input file of `sign`, `inspect`, `verify` and `decrypt`:
//! standard input, read through the same size cap as a file, and named
//! `<stdin>` in errors.

use crate::common;
use common::*;

/// An unsigned profile from the demo settings.
fn unsigned(ws: &Workspace) -> Vec<u8> {
    ok(aspen(&[
        "profile",
        "device",
        "-c",
        ws.settings().to_str().unwrap(),
        "--unsigned",
    ]))
}

fn signed_with(input: &[u8], file: Option<&str>) -> Vec<u8> {
    let (signer, key, chain) = (
        cert("signer.pem"),
        cert("signer.key"),
        cert("intermediate.pem"),
    );
    let mut args = vec!["sign", file.unwrap_or("-")];
    args.extend([
        "--cert",
        signer.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    args.extend(["--chain", chain.to_str().unwrap(), "-o", "-"]);
    ok(aspen_stdin(&args, input))
}

#[test]
fn sign_reads_the_profile_from_stdin() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let ws = Workspace::new(&demo_settings());
    let plist = unsigned(&ws);
    let der = signed_with(&plist, None);
    let path = ws.path("signed.mobileconfig");
    std::fs::write(&path, &der).unwrap();
    // The signed content is exactly what came in on stdin.
    assert_eq!(openssl_verify(&path, &cert("ca.pem")).unwrap(), plist);
    let inner = aspen_stdin(&["inspect", "-", "--json"], &der);
    let view: serde_json::Value = serde_json::from_slice(&ok(inner)).unwrap();
    assert_eq!(view["signature"]["verifies"], true);
    assert_eq!(view["profile"]["PayloadType"], "Configuration");
}

#[test]
fn verify_and_inspect_read_stdin_like_a_file() {
    let ws = Workspace::new(&demo_settings());
    let path = ws.path("p.mobileconfig");
    ok(aspen(&[
        "profile",
        "device",
        "-c",
        ws.settings().to_str().unwrap(),
        "-o",
        path.to_str().unwrap(),
    ]));
    let der = std::fs::read(&path).unwrap();
    let ca = cert("ca.pem");
    for cmd in [
        vec!["verify", "--ca", ca.to_str().unwrap(), "--json"],
        vec!["inspect", "--json"],
    ] {
        let from_file = {
            let mut args = cmd.clone();
            args.insert(1, path.to_str().unwrap());
            ok(aspen(&args))
        };
        let mut args = cmd.clone();
        args.insert(1, "-");
        let from_stdin = ok(aspen_stdin(&args, &der));
        assert_eq!(
            String::from_utf8_lossy(&from_stdin),
            String::from_utf8_lossy(&from_file),
            "{cmd:?}"
        );
    }
}

#[test]
fn decrypt_reads_stdin() {
    if !have_tool("python3", "python3") {
        return;
    }
    let ws = Workspace::new(&demo_settings());
    let device = cert("device.pem");
    let enc = ok(aspen(&[
        "profile",
        "device",
        "-c",
        ws.settings().to_str().unwrap(),
        "--unsigned",
        "--encrypt-for",
        device.to_str().unwrap(),
    ]));
    let key = cert("device.key");
    let out = ok(aspen_stdin(
        &[
            "decrypt",
            "-",
            "--cert",
            device.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        &enc,
    ));
    let plain = plistlib_json(&out);
    assert!(
        plain["PayloadContent"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    assert!(plain.get("EncryptedPayloadContent").is_none());
}

#[test]
fn stdin_errors_name_stdin_and_keep_the_cap() {
    // Not a profile.
    let err = fails(aspen_stdin(&["inspect", "-"], b"hello"));
    assert!(err.starts_with("aspen: error: <stdin>: "), "{err}");
    let err = fails(aspen_stdin(&["verify", "-"], b""));
    assert!(err.contains("<stdin>: is empty"), "{err}");
    // An unsigned profile given to verify.
    let ws = Workspace::new(&demo_settings());
    let err = found(aspen_stdin(&["verify", "-"], &unsigned(&ws)));
    assert!(err.contains("<stdin>: is not signed"), "{err}");
    // sign refuses what is already signed, naming stdin.
    let der = signed_with(&unsigned(&ws), None);
    let signer = cert("signer.pem");
    let key = cert("signer.key");
    let err = fails(aspen_stdin(
        &[
            "sign",
            "-",
            "--cert",
            signer.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        &der,
    ));
    assert!(
        err.contains("<stdin>: looks like a signed (DER) profile"),
        "{err}"
    );
    // More than 16 MiB on stdin is refused, like a file that large, and
    // nothing is written.
    let big = vec![b' '; (16 << 20) + 1];
    let out_file = ws.path("out.mobileconfig");
    let err = fails(aspen_stdin(
        &[
            "sign",
            "-",
            "--cert",
            signer.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "-o",
            out_file.to_str().unwrap(),
        ],
        &big,
    ));
    assert!(err.contains("<stdin>: is larger than 16 MiB"), "{err}");
    assert!(!out_file.exists());
}
