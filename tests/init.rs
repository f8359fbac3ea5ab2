//! `aspen init`: a commented settings file that works as written.

use crate::common;
use common::*;

#[test]
fn init_writes_settings_that_generate_a_profile() {
    if !have_tool("python3", "python3") {
        return;
    }
    let ws = Workspace::new("");
    let dir = ws.path("org");
    ok(aspen(&["init", dir.to_str().unwrap()]));
    let settings = dir.join("aspen.toml");
    let text = std::fs::read_to_string(&settings).unwrap();
    assert!(text.contains("[organization]") && text.contains("# [signing]"));

    // Its placeholders are refused until replaced, or explicitly allowed.
    let err = fails(aspen(&[
        "profile",
        "device",
        "-c",
        settings.to_str().unwrap(),
    ]));
    assert!(err.contains("still holds placeholders"), "{err}");
    let out = aspen(&[
        "profile",
        "device",
        "--allow-placeholders",
        "-c",
        settings.to_str().unwrap(),
    ]);
    assert!(stderr(&out).contains("unsigned"));
    assert!(stderr(&out).contains("using placeholders"));
    let p = plistlib_json(&ok(out));
    assert_eq!(p["PayloadIdentifier"], "com.example.mdm.enrollment");
    assert_eq!(p["PayloadOrganization"], "Example Org");

    // A second init never overwrites the admin's edits.
    let err = fails(aspen(&["init", dir.to_str().unwrap()]));
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), text);
}

/// The template's commented ACME example, taken in place of its SCEP keys,
/// gives the attested, hardware-bound EC key the ACME CAs NanoMDM users run
/// need, with the device's serial as client identifier.
#[test]
fn init_writes_a_commented_acme_example_that_works_as_uncommented() {
    if !have_tool("python3", "python3") {
        return;
    }
    let ws = Workspace::new("");
    let dir = ws.path("org");
    ok(aspen(&["init", dir.to_str().unwrap()]));
    let settings = dir.join("aspen.toml");
    let text = std::fs::read_to_string(&settings).unwrap();
    assert!(text.contains("subject = \"O=Example Org/CN={profile_uuid}\""));
    let start = text.find("# kind = \"acme\"").expect("the ACME example");
    let example: String = text[start..]
        .lines()
        .take_while(|l| l.starts_with("# ") && !l.starts_with("# Devices"))
        .map(|l| format!("{}\n", &l[2..]))
        .collect();
    assert!(example.contains("hardware_bound = true"), "{example}");
    // The [identity] table's SCEP keys out, the example in.
    let identity = text.find("[identity]").unwrap();
    let end = identity + text[identity..].find("\n\n").unwrap();
    let acme = format!("{}[identity]\n{example}{}", &text[..identity], &text[end..]);
    std::fs::write(&settings, acme).unwrap();
    let s = settings.to_str().unwrap();
    let args = [
        "profile",
        "device",
        "--allow-placeholders",
        "--unsigned",
        "-c",
        s,
    ];
    let err = fails(aspen(&args));
    assert!(
        err.contains("identity.client_identifier = \"serial\""),
        "{err}"
    );
    let mut with_serial = args.to_vec();
    with_serial.extend(["--serial", "F4GXK2ZZQ1"]);
    let out = aspen(&with_serial);
    let p = plistlib_json(&ok(out));
    let acme = p["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["PayloadType"] == "com.apple.security.acme")
        .unwrap();
    assert_eq!(acme["ClientIdentifier"], "F4GXK2ZZQ1");
    assert_eq!(
        acme["Subject"],
        serde_json::json!([[["O", "Example Org"]], [["CN", "F4GXK2ZZQ1"]]])
    );
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
}

/// The topic the test push certificate was made with (make-test-certs.sh).
const PUSH_TOPIC: &str = "com.apple.mgmt.External.5e1b4c9a-7d2f-4a8e-9c31-0f6b2d8a4e17";

/// The MDM payload's Topic in the profile `settings` generate.
fn profile_topic(settings: &std::path::Path) -> String {
    let out = ok(aspen(&[
        "profile",
        "device",
        "--unsigned",
        "--allow-placeholders",
        "-c",
        settings.to_str().unwrap(),
    ]));
    let json = plistlib_json(&out);
    let mdm = json["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["PayloadType"] == "com.apple.mdm")
        .unwrap();
    mdm["Topic"].as_str().unwrap().to_owned()
}

#[test]
fn init_push_cert_fills_the_topic_from_the_certificate_uid() {
    if !have_tools(&[("python3", "python3"), ("openssl", "openssl")]) {
        return;
    }
    // The UID as openssl reads it from the certificate.
    let subject = std::process::Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-nameopt",
            "sep_multiline,sname",
            "-in",
        ])
        .arg(cert("push.pem"))
        .output()
        .unwrap();
    let subject = String::from_utf8(subject.stdout).unwrap();
    let uid = subject
        .lines()
        .find_map(|l| l.trim().strip_prefix("UID="))
        .expect("a UID in the subject");
    assert_eq!(uid, PUSH_TOPIC);

    let ws = Workspace::new("");
    let dir = ws.path("org");
    let out = aspen(&[
        "init",
        dir.to_str().unwrap(),
        "--push-cert",
        cert("push.pem").to_str().unwrap(),
    ]);
    assert!(
        stderr(&out).contains(&format!("[mdm] topic = {PUSH_TOPIC:?}")),
        "{}",
        stderr(&out)
    );
    ok(out);
    let text = std::fs::read_to_string(dir.join("aspen.toml")).unwrap();
    assert!(
        text.contains(&format!("topic = {PUSH_TOPIC:?}   # the UID of push.pem")),
        "{text}"
    );
    assert!(!text.contains("00000000-0000-0000-0000-000000000000"));
    assert_eq!(profile_topic(&dir.join("aspen.toml")), uid);

    // DER, and PEM with the private key first (as some servers keep it), work too.
    let der = std::process::Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(cert("push.pem"))
        .output()
        .unwrap()
        .stdout;
    let der_file = ws.path("push.cer");
    std::fs::write(&der_file, der).unwrap();
    let mut with_key = std::fs::read(cert("signer.key")).unwrap();
    with_key.extend(std::fs::read(cert("push.pem")).unwrap());
    let key_file = ws.path("push-with-key.pem");
    std::fs::write(&key_file, with_key).unwrap();
    for (i, file) in [der_file, key_file].iter().enumerate() {
        let dir = ws.path(&format!("org{i}"));
        ok(aspen(&[
            "init",
            dir.to_str().unwrap(),
            "--push-cert",
            file.to_str().unwrap(),
        ]));
        assert_eq!(profile_topic(&dir.join("aspen.toml")), PUSH_TOPIC);
    }
}

/// An expired push certificate, one without a UID and a file that holds
/// none are clear errors, and init writes nothing.
#[test]
fn init_push_cert_refuses_expired_or_uid_less_certificates() {
    let ws = Workspace::new("");
    let cases = [
        (
            "push-expired.pem",
            format!("push-expired.pem: the push certificate for {PUSH_TOPIC} expired on 2021-01-01T00:00:00Z: renew it"),
        ),
        (
            "push-no-uid.pem",
            "push-no-uid.pem: is not an APNs MDM push certificate: its subject (CN=Aspen Test Client Without UID (TEST ONLY), O=Aspen TEST ONLY) has no UID (0.9.2342.19200300.100.1.1)".to_owned(),
        ),
        ("signer.key", "signer.key: holds no certificate".to_owned()),
    ];
    for (file, want) in cases {
        let dir = ws.path("org");
        let err = fails(aspen(&[
            "init",
            dir.to_str().unwrap(),
            "--push-cert",
            cert(file).to_str().unwrap(),
        ]));
        assert!(err.contains(&want), "{file}: {err}");
        assert!(!dir.exists(), "{file}: init wrote something");
    }
}

/// `topic_certificate` in the settings instead of `topic`: read at every
/// load, relative to the settings file; the same errors, with file and line.
#[test]
fn topic_certificate_replaces_topic() {
    if !have_tool("python3", "python3") {
        return;
    }
    let demo = demo_settings();
    let topic_line = demo
        .lines()
        .find(|l| l.starts_with("topic = "))
        .unwrap()
        .to_owned();
    let with = |value: &str| demo.replace(&topic_line, value);
    let ws = Workspace::new(&with("topic_certificate = \"push.pem\""));
    std::fs::copy(cert("push.pem"), ws.path("push.pem")).unwrap();
    std::fs::copy(cert("push-expired.pem"), ws.path("push-expired.pem")).unwrap();
    assert_eq!(profile_topic(&ws.settings()), PUSH_TOPIC);

    let line = demo.lines().position(|l| l == topic_line).unwrap() + 1;
    let cases = [
        (
            with("topic_certificate = \"push-expired.pem\""),
            format!(
                "aspen.toml:{line}: mdm.topic_certificate = \"push-expired.pem\": the push certificate for {PUSH_TOPIC} expired on 2021-01-01T00:00:00Z"
            ),
        ),
        (
            with("topic_certificate = \"missing.pem\""),
            format!(
                "aspen.toml:{line}: mdm.topic_certificate = \"missing.pem\": cannot be read: No such file"
            ),
        ),
        (
            with(&format!("{topic_line}\ntopic_certificate = \"push.pem\"")),
            format!(
                "aspen.toml:{}: mdm.topic_certificate: give either topic or topic_certificate",
                line + 1
            ),
        ),
        (
            with(""),
            "mdm.topic: is required: the push topic (com.apple.mgmt.…), or topic_certificate"
                .to_owned(),
        ),
    ];
    for (settings, want) in cases {
        std::fs::write(ws.settings(), &settings).unwrap();
        let err = fails(aspen(&[
            "profile",
            "device",
            "--unsigned",
            "-c",
            ws.settings().to_str().unwrap(),
        ]));
        assert!(err.contains(&want), "want {want}\n got {err}");
    }
}

/// Line of the first line of `text` that starts with `prefix`.
fn line_starting(text: &str, prefix: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(prefix))
        .expect(prefix)
        + 1
}

/// What `aspen init` writes as stand-ins (all-zero topic, example.com hosts,
/// a `change-me` challenge) makes `profile`, `bulk` and `serve` refuse, with
/// one message naming each key and line, and no file written.
#[test]
fn init_placeholders_are_refused_by_profile_bulk_and_serve() {
    let ws = Workspace::new("");
    let dir = ws.path("org");
    ok(aspen(&["init", dir.to_str().unwrap()]));
    let settings = dir.join("aspen.toml");
    let text = std::fs::read_to_string(&settings)
        .unwrap()
        .replace("challenge = \"per-profile\"", "challenge = \"change-me\"");
    std::fs::write(&settings, &text).unwrap();
    let config = settings.to_str().unwrap();
    let expected = [
        format!(
            "mdm.server_url (line {}: an example.com host)",
            line_starting(&text, "server_url")
        ),
        format!(
            "mdm.topic (line {}: the all-zero push topic)",
            line_starting(&text, "topic =")
        ),
        format!(
            "identity.url (line {}: an example.com host)",
            line_starting(&text, "url = \"https://mdm.example.com/scep")
        ),
        format!(
            "identity.challenge (line {}: the placeholder secret)",
            line_starting(&text, "challenge =")
        ),
        format!(
            "portal.public_url (line {}: an example.com host)",
            line_starting(&text, "public_url")
        ),
    ];
    let out_file = ws.path("out.mobileconfig");
    let out_dir = ws.path("bulk");
    let users = ws.path("users.csv");
    std::fs::write(
        &users,
        "email,managed_apple_id,groups\nalice@example.com,,Staff\n",
    )
    .unwrap();
    for args in [
        vec![
            "profile",
            "device",
            "-c",
            config,
            "-o",
            out_file.to_str().unwrap(),
        ],
        vec![
            "profile",
            "user",
            "--managed-apple-id",
            "alice@example.com",
            "-c",
            config,
        ],
        vec![
            "bulk",
            "-c",
            config,
            "--users",
            users.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ],
        vec!["serve", "-c", config, "--listen", "127.0.0.1:0", "--quiet"],
    ] {
        let err = fails(aspen(&args));
        assert_eq!(err.lines().count(), 1, "one message: {err}");
        assert!(
            err.contains(&format!(
                "{config}: still holds placeholders `aspen init` wrote: "
            )),
            "{args:?}: {err}"
        );
        for want in &expected {
            assert!(
                err.contains(want.as_str()),
                "{args:?}: want {want} in {err}"
            );
        }
        assert!(err.contains("--allow-placeholders"), "{err}");
        assert!(
            !err.contains("change-me"),
            "a secret's value is never shown: {err}"
        );
    }
    assert!(!out_file.exists() && !out_dir.exists(), "nothing written");
    assert!(!dir.join("aspen-state").exists(), "nothing recorded");
    // A topic from the push certificate is no placeholder; hosts still are.
    let with_cert = text.replace(
        "topic = \"com.apple.mgmt.External.00000000-0000-0000-0000-000000000000\"",
        "topic_certificate = \"push.pem\"",
    );
    std::fs::write(&settings, with_cert).unwrap();
    std::fs::copy(cert("push.pem"), dir.join("push.pem")).unwrap();
    let err = fails(aspen(&["profile", "device", "-c", config]));
    assert!(!err.contains("mdm.topic"), "{err}");
    assert!(err.contains("mdm.server_url"), "{err}");
}

/// `text` with the commented `[oidc]` example of `aspen init` switched on
/// (the lines from `# [oidc]` up to the next blank line, without those
/// `keep` rejects), and `[portal] auth = "oidc"`.
fn oidc_on(text: &str, keep: &dyn Fn(&str) -> bool) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line == "# [oidc]" {
            inside = true;
        } else if line.trim().is_empty() {
            inside = false;
        }
        if inside {
            let uncommented = line.strip_prefix("# ").unwrap();
            if keep(uncommented) {
                out.push_str(uncommented);
                out.push('\n');
            }
        } else {
            out.push_str(&line.replace("auth = \"code\"", "auth = \"oidc\""));
            out.push('\n');
        }
    }
    out
}

#[test]
fn init_writes_a_commented_oidc_example_that_works_when_switched_on() {
    let ws = Workspace::new("");
    let dir = ws.path("org");
    ok(aspen(&["init", dir.to_str().unwrap()]));
    let settings = dir.join("aspen.toml");
    let text = std::fs::read_to_string(&settings).unwrap();
    for key in [
        "# [oidc]",
        "# issuer = ",
        "# client_id = ",
        "# client_secret_file = ",
        "# scopes = ",
        "# user_claim = ",
        "# managed_apple_id_claim = ",
        "# groups_claim = ",
        "# device_method = ",
        "# device_audience = ",
        "<public_url>/oidc/callback",
    ] {
        assert!(text.contains(key), "no {key:?} in:\n{text}");
    }
    let check = |text: String| {
        std::fs::write(&settings, text).unwrap();
        aspen(&[
            "profile",
            "device",
            "--unsigned",
            "--allow-placeholders",
            "-c",
            settings.to_str().unwrap(),
        ])
    };
    // As the example stands (apple-as-web): the device_* lines are for
    // apple-oauth2 only, and are refused with a message saying so.
    let all = check(oidc_on(&text, &|_| true));
    assert!(
        fails(all).contains("oidc.device_client_id: is only for device_method = \"apple-oauth2\""),
    );
    ok(check(oidc_on(&text, &|l| !l.starts_with("device_"))));
    // And with apple-oauth2, every line of it.
    let oauth2 = oidc_on(&text, &|_| true).replace(
        "device_method = \"apple-as-web\"",
        "device_method = \"apple-oauth2\"",
    );
    ok(check(oauth2));
    // Switched off again (as init wrote it) it still works.
    ok(check(text));
}

/// The template's commented `[[restriction]]` example, switched on, is
/// read as written (`aspen resolve` shows it), and its device limit is
/// warned about with the template's static challenge.
#[test]
fn init_writes_a_commented_restriction_example_that_works_when_switched_on() {
    let ws = Workspace::new("");
    let dir = ws.path("org");
    ok(aspen(&["init", dir.to_str().unwrap()]));
    let settings = dir.join("aspen.toml");
    let text = std::fs::read_to_string(&settings).unwrap();
    let start = text
        .find("# [[restriction]]\n")
        .expect("the restriction example");
    let example: String = text[start..]
        .lines()
        .take_while(|l| l.starts_with("# "))
        .map(|l| format!("{}\n", &l[2..]))
        .collect();
    for key in [
        "name = ",
        "priority = ",
        "groups = ",
        "platforms = ",
        "personal = \"block\"",
        "minimum_os = ",
        "maximum_os = ",
        "device_limit = ",
    ] {
        assert!(example.contains(key), "no {key:?} in:\n{example}");
    }
    std::fs::write(&settings, format!("{text}\n{example}")).unwrap();
    std::fs::write(
        dir.join("users.csv"),
        "email,managed_apple_id,groups\nc@example.com,,Contractors\n",
    )
    .unwrap();
    let with_users = std::fs::read_to_string(&settings)
        .unwrap()
        .replace("# [directory]\n# users = ", "[directory]\nusers = ");
    std::fs::write(&settings, with_users).unwrap();
    let out = aspen(&[
        "resolve",
        "-c",
        settings.to_str().unwrap(),
        "--user",
        "c@example.com",
        "--platform",
        "iOS",
        "--os",
        "17.4",
    ]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}{err}");
    assert!(
        stdout.contains(
            "\"Contractors: company devices only, current OS\" via Contractors  <- applies"
        ),
        "{stdout}"
    );
    assert!(
        err.contains("minimum_os: iOS 17.4 is below the minimum iOS 18.0"),
        "{err}"
    );
    // The template's per-profile challenge: accepted challenges count.
    assert!(!err.contains("device_limit"), "{err}");
    // A static one: issued profiles count, and aspen says so.
    let text = std::fs::read_to_string(&settings).unwrap();
    let static_secret = text.replacen(
        "challenge = \"per-profile\"",
        "challenge = \"s3cret-static\"",
        1,
    );
    std::fs::write(&settings, static_secret).unwrap();
    let out = aspen(&[
        "resolve",
        "-c",
        settings.to_str().unwrap(),
        "--user",
        "c@example.com",
    ]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains("has a device_limit, but without [identity] kind = \"scep\" and challenge = \"per-profile\" aspen cannot tell when a device really enrolled"),
        "{err}"
    );
    assert!(!err.contains("s3cret-static"), "{err}");
}
