//! Untrusted input: every reader (verify, inspect, lint, decrypt, sign, the
//! settings loader) turns hostile files into one clear error, exit 1, no
//! panic, hang or memory blow-up. Cases found by fuzzing live in
//! fixtures/fuzz/ and run here too.

use crate::common;
use common::*;

/// Runs every profile reader on `path`; each must fail cleanly with `want`
/// in its message.
fn all_readers_refuse(path: &std::path::Path, want: &str) {
    let p = path.display().to_string();
    let device = cert("device.pem").display().to_string();
    let key = cert("device.key").display().to_string();
    for args in [
        vec!["inspect", &p],
        vec!["verify", &p],
        vec!["decrypt", &p, "--cert", &device, "--key", &key],
    ] {
        let err = fails(aspen(&args));
        assert!(
            err.starts_with("aspen: error: ") && err.contains(want),
            "{args:?}: {err}"
        );
    }
    let out = aspen(&["lint", "--json", &p]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let finding = &json["files"][0]["findings"][0];
    assert_eq!(finding["code"], "ASP000");
    assert!(
        finding["message"].as_str().unwrap().contains(want),
        "{finding}"
    );
}

fn write(ws: &Workspace, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = ws.path(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn deep_nesting_bad_utf8_and_empty_files() {
    let ws = Workspace::new("");
    let deep = format!(
        "<?xml version=\"1.0\"?><plist version=\"1.0\">{}{}</plist>",
        "<array>".repeat(100_000),
        "</array>".repeat(100_000)
    );
    all_readers_refuse(
        &write(&ws, "deep.plist", deep.as_bytes()),
        "nests deeper than 64 levels",
    );
    let mut bad = b"<?xml version=\"1.0\"?><plist><string>".to_vec();
    bad.extend_from_slice(b"\xc3\x28</string></plist>");
    all_readers_refuse(
        &write(&ws, "utf8.plist", &bad),
        "is not UTF-8 text (invalid byte at line 1, column 37)",
    );
    all_readers_refuse(&write(&ws, "empty.plist", b""), "is empty");
}

#[test]
fn size_is_capped_even_for_endless_files() {
    let ws = Workspace::new("");
    let big = ws.path("big.mobileconfig");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((16 << 20) + 1)
        .unwrap();
    all_readers_refuse(&big, "is larger than 16 MiB");
    // /dev/zero claims size 0 and never ends.
    #[cfg(target_os = "linux")]
    all_readers_refuse(std::path::Path::new("/dev/zero"), "is larger than 16 MiB");
}

/// bplist00 with 1-byte offsets and references.
fn bplist(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"bplist00".to_vec();
    let mut offsets = Vec::new();
    for o in objects {
        offsets.push(out.len() as u8);
        out.extend_from_slice(o);
    }
    let table = out.len() as u64;
    out.extend_from_slice(&offsets);
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 1]);
    out.extend_from_slice(&(objects.len() as u64).to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(&table.to_be_bytes());
    out
}

#[test]
fn binary_plist_cycles_and_reference_bombs() {
    let ws = Workspace::new("");
    // A dictionary whose value is the dictionary itself.
    let cycle = bplist(&[vec![0xD1, 0x01, 0x00], vec![0x51, b'k']]);
    all_readers_refuse(&write(&ws, "cycle.plist", &cycle), "is not a valid plist");
    // 40 arrays, each holding the next twice: 2^40 values once expanded.
    let mut objects: Vec<Vec<u8>> = (0..40u8).map(|i| vec![0xA2, i + 1, i + 1]).collect();
    objects.push(vec![0x51, b'x']);
    all_readers_refuse(
        &write(&ws, "bomb.plist", &bplist(&objects)),
        "holds more than 1000000 values",
    );
}

#[test]
fn pem_armoured_and_enveloped_cms_are_named() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let ws = Workspace::new("");
    all_readers_refuse(
        &write(
            &ws,
            "pem.mobileconfig",
            b"-----BEGIN PKCS7-----\nMIIB\n-----END PKCS7-----\n",
        ),
        "is PEM text; a signed profile is DER",
    );
    // CMS EnvelopedData where a signed profile should be.
    let enc = ws.path("enc.der");
    let status = std::process::Command::new("openssl")
        .args([
            "cms", "-encrypt", "-aes256", "-binary", "-outform", "DER", "-in",
        ])
        .arg(cert("ca.pem"))
        .arg("-out")
        .arg(&enc)
        .arg(cert("device.pem"))
        .status()
        .unwrap();
    assert!(status.success());
    all_readers_refuse(
        &enc,
        "is CMS EnvelopedData (encrypted), not a signed profile",
    );
}

#[test]
fn sign_and_settings_read_through_the_caps() {
    let ws = Workspace::new(
        &demo_settings().replace(&cert("ca.pem").display().to_string(), "/dev/zero"),
    );
    let config = ws.settings().display().to_string();
    let err = fails(aspen(&["profile", "device", "-c", &config]));
    assert!(
        err.contains("anchor[0].certificate") && err.contains("larger than 1 MiB"),
        "{err}"
    );
    let signer = cert("signer.pem").display().to_string();
    let key = cert("signer.key").display().to_string();
    let err = fails(aspen(&[
        "sign",
        "/dev/zero",
        "--cert",
        &signer,
        "--key",
        &key,
    ]));
    assert!(err.contains("is larger than 16 MiB"), "{err}");
    // Keys, PKCS#12 files and passphrase files: capped too.
    let profile = fixture("profiles/ok-device.mobileconfig")
        .display()
        .to_string();
    for args in [
        vec!["--cert", &signer, "--key", "/dev/zero"],
        vec!["--pkcs12", "/dev/zero"],
        vec![
            "--cert",
            &signer,
            "--key",
            &key,
            "--passphrase-file",
            "/dev/zero",
        ],
        vec!["--cert", "/dev/zero", "--key", &key],
    ] {
        let mut all = vec!["sign", profile.as_str()];
        all.extend_from_slice(&args);
        let err = fails(aspen(&all));
        assert!(
            err.contains("aspen: error: /dev/zero: is larger than 1 MiB"),
            "{args:?}: {err}"
        );
    }
    // A settings file past 1 MiB, on disk or endless.
    let big = ws.path("big.toml");
    std::fs::write(&big, "#".repeat((1 << 20) + 1)).unwrap();
    for path in [big.display().to_string(), "/dev/zero".to_owned()] {
        let err = fails(aspen(&["profile", "device", "-c", &path]));
        assert!(
            err.contains(&format!("{path}: is larger than 1 MiB")),
            "{err}"
        );
    }
    // The portal's secret file.
    let Err(err) = aspen::tokens::Keys::load(std::path::Path::new("/dev/zero")) else {
        panic!("/dev/zero is not a secret");
    };
    assert_eq!(
        err.to_string(),
        "/dev/zero: is larger than 64 KiB, the most aspen reads from such a file"
    );
}

/// What `aspen CMD FILE` must print for an input from fixtures/fuzz:
/// (command, exit status, stdout, stderr), with `FILE` standing for the path.
type Expected = (&'static str, i32, &'static str, &'static str);

/// Inputs the fuzzers found or that exercise what they found (see
/// fixtures/fuzz/README.md): each reader's exact status and output.
#[test]
fn fuzz_regressions_give_their_exact_output() {
    let cases: &[(&str, &[Expected])] = &[(
        // The reference's target is looked up by PayloadContent index past
        // two items that are not dictionaries; the pin names no payload.
        "reference-after-non-dictionary.plist",
        &[
            (
                "inspect",
                0,
                "format:       unsigned XML plist
enrollment:   device enrollment
profile:
  PayloadIdentifier   x
  PayloadType         Configuration
  PayloadUUID         CCCCCCCC-AAAA-4AAA-8AAA-AAAAAAAAAAAA
  PayloadVersion      1
payloads:     2
  [2] com.apple.security.scep  a
      PayloadUUID         AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA
      PayloadContent:
        URL                 https://x.example
  [3] com.apple.mdm  b
      PayloadUUID         BBBBBBBB-AAAA-4AAA-8AAA-AAAAAAAAAAAA
      IdentityCertificateUUID AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA → [2] com.apple.security.scep
      ServerURLPinningCertificateUUIDs[0] DDDDDDDD-AAAA-4AAA-8AAA-AAAAAAAAAAAA → NO SUCH PAYLOAD
      ServerURL           https://x.example
      Topic               com.apple.mgmt.x
",
                "",
            ),
            (
                "lint",
                1,
                "FILE: (device enrollment)
  7:3   error   ASP003 PayloadContent[0]: is an integer; each payload must be a dictionary
  8:3   error   ASP003 PayloadContent[1]: is a string; each payload must be a dictionary
  39:5  error   ASP020 PayloadContent[3].ServerURLPinningCertificateUUIDs[0] [com.apple.mdm]: DDDDDDDD-AAAA-4AAA-8AAA-AAAAAAAAAAAA is the PayloadUUID of no payload in this profile
  24:3  warning ASP062 PayloadContent[3].ServerCapabilities [com.apple.mdm]: lacks \"com.apple.mdm.per-user-connections\": Apple requires it to manage macOS and Shared iPad, and it cannot be added to an installed enrollment later
1 file(s): 3 error(s), 1 warning(s), 0 note(s)
",
                "aspen: error: 3 error(s) in 1 file(s)\n",
            ),
            (
                "verify",
                1,
                "signature:  FAILED
carries:    0 certificate(s)
chain:      not checked (give --ca ROOT.pem)
result:     FAILED
",
                "aspen: error: FILE: is not signed (a bare plist, no CMS signature)\n",
            ),
        ],
    )];
    let dir = fixture("fuzz");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            name == "README.md" || cases.iter().any(|(n, _)| *n == name),
            "fixtures/fuzz/{name} has no expected output here"
        );
    }
    for (name, expected) in cases {
        let path = dir.join(name).display().to_string();
        for (cmd, code, stdout, stderr) in *expected {
            let out = aspen(&[cmd, &path]);
            let got = (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).replace(&path, "FILE"),
                String::from_utf8_lossy(&out.stderr).replace(&path, "FILE"),
            );
            assert_eq!(
                got,
                (Some(*code), (*stdout).to_owned(), (*stderr).to_owned()),
                "aspen {cmd} {name}"
            );
        }
    }
}

/// Thousands of payloads and references: every check stays linear (an
/// O(n²) duplicate or reference lookup would take minutes here).
#[test]
fn many_payloads_and_references() {
    let ws = Workspace::new("");
    let n = 20_000;
    let mut payloads = String::new();
    let mut pins = String::new();
    for i in 0..n {
        let uuid = format!("00000000-0000-4000-8000-{i:012}");
        payloads.push_str(&format!(
            "<dict><key>PayloadType</key><string>com.apple.security.root</string><key>PayloadVersion</key><integer>1</integer><key>PayloadIdentifier</key><string>same</string><key>PayloadUUID</key><string>{uuid}</string></dict>"
        ));
        pins.push_str(&format!("<string>{uuid}</string>"));
    }
    let mdm = format!(
        "<dict><key>PayloadType</key><string>com.apple.mdm</string><key>PayloadVersion</key><integer>1</integer><key>PayloadIdentifier</key><string>mdm</string><key>PayloadUUID</key><string>11111111-0000-4000-8000-000000000000</string><key>IdentityCertificateUUID</key><string>00000000-0000-4000-8000-000000000000</string><key>Topic</key><string>com.apple.mgmt.x</string><key>ServerURL</key><string>https://mdm.example.com</string><key>ServerURLPinningCertificateUUIDs</key><array>{pins}</array></dict>"
    );
    let xml = format!(
        "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>PayloadType</key><string>Configuration</string><key>PayloadVersion</key><integer>1</integer><key>PayloadIdentifier</key><string>p</string><key>PayloadUUID</key><string>22222222-0000-4000-8000-000000000000</string><key>PayloadContent</key><array>{payloads}{mdm}</array></dict></plist>"
    );
    let path = write(&ws, "many.mobileconfig", xml.as_bytes());
    let out = aspen(&["lint", "--json", &path.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = json["files"][0]["findings"].as_array().unwrap();
    let count = |code: &str| findings.iter().filter(|f| f["code"] == code).count();
    // Every root payload after the first repeats the identifier "same"; each
    // lacks its certificate; the identity reference names a root payload.
    assert_eq!(count("ASP007"), n - 1);
    assert_eq!(count("ASP002"), n);
    assert_eq!(count("ASP021"), 1);
    assert_eq!(count("ASP020"), 0);
    let inspected: serde_json::Value = serde_json::from_slice(&ok(aspen(&[
        "inspect",
        "--json",
        &path.display().to_string(),
    ])))
    .unwrap();
    assert_eq!(
        inspected["payloads"][n]["references"]
            .as_array()
            .unwrap()
            .len(),
        n + 1
    );
}
