//! Bad input: every case exits 1 with one clear message naming the file,
//! line, field and value, and leaves no output file behind.

use crate::common;
use common::*;

/// Runs `profile <kind_args>` with `settings` and `-o out.mobileconfig`;
/// asserts failure, that nothing but aspen.toml is in the folder, and returns
/// stderr.
fn fails_cleanly(settings: &str, kind_args: &[&str], env: &[(&str, &str)]) -> String {
    let ws = Workspace::new(settings);
    let out = ws.path("out.mobileconfig");
    let settings_path = ws.settings();
    let mut args = vec!["profile"];
    args.extend_from_slice(kind_args);
    args.extend_from_slice(&[
        "-c",
        settings_path.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = fails(aspen_env(&args, env));
    assert_eq!(
        ws.files(),
        ["aspen.toml"],
        "no output (or temp) file may be left"
    );
    assert_eq!(err.lines().count(), 1, "one clear message: {err}");
    err
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).expect(needle) + 1
}

#[test]
fn topic_without_apple_prefix() {
    let s = demo_settings().replace(
        "topic = \"com.apple.mgmt.External.2f7d0d3c-8f44-4e8a-9f7a-0b6a3f5c2d11\"",
        "topic = \"com.contoso.push\"",
    );
    let err = fails_cleanly(&s, &["device"], &[]);
    let line = line_of(&s, "com.contoso.push");
    assert!(
        err.contains(&format!(
            "aspen.toml:{line}: mdm.topic = \"com.contoso.push\""
        )),
        "{err}"
    );
    assert!(err.contains("com.apple.mgmt."), "{err}");
}

#[test]
fn http_url() {
    let s = demo_settings().replace(
        "https://mdm.contoso.com/checkin",
        "http://mdm.contoso.com/checkin",
    );
    let err = fails_cleanly(&s, &["device"], &[]);
    let line = line_of(&s, "http://mdm.contoso.com/checkin");
    assert!(
        err.contains(&format!(
            "aspen.toml:{line}: mdm.check_in_url = \"http://mdm.contoso.com/checkin\""
        )),
        "{err}"
    );
    assert!(err.contains("https://"), "{err}");
}

#[test]
fn malformed_managed_apple_id() {
    let err = fails_cleanly(
        &demo_settings(),
        &["user", "--managed-apple-id", "alice@@contoso"],
        &[],
    );
    assert!(
        err.contains("--managed-apple-id \"alice@@contoso\""),
        "{err}"
    );
}

#[test]
fn key_that_does_not_match_the_certificate() {
    let s = demo_settings().replace("certs/signer.key", "certs/unrelated.key");
    let err = fails_cleanly(&s, &["device"], &[]);
    assert!(
        err.contains("signer.pem") && err.contains("does not match"),
        "{err}"
    );
}

#[test]
fn expired_signing_certificate_unless_allowed() {
    let s = demo_settings()
        .replace("certs/signer.pem", "certs/expired.pem")
        .replace("certs/signer.key", "certs/expired.key");
    let err = fails_cleanly(&s, &["device"], &[]);
    assert!(
        err.contains("expired.pem")
            && err.contains("expired on")
            && err.contains("--allow-expired"),
        "{err}"
    );

    let ws = Workspace::new(&s);
    let out = ws.path("out.mobileconfig");
    ok(aspen(&[
        "profile",
        "device",
        "--allow-expired",
        "-c",
        ws.settings().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]));
    assert!(out.exists());
}

#[test]
fn unreadable_settings_file() {
    let ws = Workspace::new("");
    let missing = ws.path("nope.toml");
    let err = fails(aspen(&[
        "profile",
        "device",
        "-c",
        missing.to_str().unwrap(),
        "-o",
        ws.path("o").to_str().unwrap(),
    ]));
    assert!(
        err.contains("nope.toml: no such settings file; run `aspen init"),
        "{err}"
    );
    assert_eq!(ws.files(), ["aspen.toml"]);
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let s = demo_settings().replace(
        "sign_message = true",
        "sign_message = true\nsign_messages = true",
    );
    let err = fails_cleanly(&s, &["device"], &[]);
    let line = line_of(&s, "sign_messages");
    assert!(
        err.contains(&format!("aspen.toml:{line}:")) && err.contains("sign_messages"),
        "{err}"
    );
}

#[test]
fn missing_required_key() {
    let s = demo_settings().replace("server_url = \"https://mdm.contoso.com/mdm\"\n", "");
    let err = fails_cleanly(&s, &["device"], &[]);
    assert!(
        err.contains("server_url") && err.contains("aspen.toml:"),
        "{err}"
    );
}

#[test]
fn toml_syntax_error() {
    let s = demo_settings().replace("name = \"Contoso\"", "name = \"Contoso");
    let err = fails_cleanly(&s, &["device"], &[]);
    assert!(
        err.contains(&format!("aspen.toml:{}:", line_of(&s, "name = \"Contoso"))),
        "{err}"
    );
}

#[test]
fn access_rights_rules() {
    for (value, why) in [
        ("0", "must not be 0"),
        ("8190", "bit 2"),
        ("8127", "bit 128"),
        ("9000", "8191"),
    ] {
        let s =
            demo_settings().replace("access_rights = 8191", &format!("access_rights = {value}"));
        let err = fails_cleanly(&s, &["device"], &[]);
        assert!(
            err.contains(&format!("mdm.access_rights = \"{value}\"")) && err.contains(why),
            "{value}: {err}"
        );
    }
    let s = demo_settings().replace(
        "personal_access_rights = 8179",
        "personal_access_rights = 2",
    );
    let err = fails_cleanly(&s, &["device", "--owner", "personal"], &[]);
    assert!(err.contains("mdm.personal_access_rights"), "{err}");
}

fn acme(extra: &str) -> String {
    demo_settings().replace(
        "[identity]\nkind = \"scep\"\nurl = \"https://mdm.contoso.com/scep\"\nchallenge = \"demo-challenge-not-secret\"\nkey_size = 2048\n",
        &format!("[identity]\nkind = \"acme\"\ndirectory_url = \"https://acme.contoso.com/dir\"\nclient_identifier = \"c\"\n{extra}"),
    )
}

#[test]
fn acme_key_rules() {
    for (extra, field) in [
        (
            "key_type = \"RSA\"\nkey_size = 2048\nhardware_bound = true\n",
            "identity.hardware_bound",
        ),
        (
            "key_type = \"RSA\"\nkey_size = 2050\n",
            "identity.key_size = \"2050\"",
        ),
        (
            "key_type = \"ECSECPrimeRandom\"\nkey_size = 521\nhardware_bound = true\n",
            "identity.key_size = \"521\"",
        ),
        (
            // Attestation needs a hardware-bound key (the default for ACME).
            "key_type = \"ECSECPrimeRandom\"\nkey_size = 256\nhardware_bound = false\nattest = true\n",
            "identity.attest",
        ),
        ("key_type = \"DSA\"\n", "identity.key_type = \"DSA\""),
    ] {
        let err = fails_cleanly(&acme(extra), &["device"], &[]);
        assert!(err.contains(field), "{extra}: {err}");
    }
    let err = fails_cleanly(&acme("challenge = \"x\"\n"), &["device"], &[]);
    assert!(
        err.contains("identity.challenge") && err.contains("acme"),
        "{err}"
    );
}

#[test]
fn scep_key_size_outside_apples_values() {
    let s = demo_settings().replace("key_size = 2048", "key_size = 3000");
    let err = fails_cleanly(&s, &["device"], &[]);
    assert!(err.contains("identity.key_size = \"3000\""), "{err}");
}

#[test]
fn control_characters_are_refused_and_challenge_never_echoed() {
    let s = demo_settings().replace("name = \"Contoso\"", "name = \"Con\\u0007toso\"");
    let err = fails_cleanly(&s, &["device"], &[]);
    assert!(
        err.contains("organization.name") && err.contains("U+0007"),
        "{err}"
    );

    let s = demo_settings().replace("demo-challenge-not-secret", "hunter2\\u0001");
    let err = fails_cleanly(&s, &["device"], &[]);
    assert!(
        err.contains("identity.challenge") && !err.contains("hunter2"),
        "{err}"
    );

    // Not even a wrongly typed challenge is echoed (serde would quote it).
    let s = demo_settings().replace("\"demo-challenge-not-secret\"", "98765432");
    let err = fails_cleanly(&s, &["device"], &[]);
    assert!(
        err.contains("quoted string") && !err.contains("98765432"),
        "{err}"
    );
}

#[test]
fn encrypted_key_without_or_with_wrong_passphrase() {
    let s = demo_settings().replace("certs/signer.key", "certs/signer-encrypted.key");
    let err = fails_cleanly(&s, &["device"], &[]);
    assert!(
        err.contains("signer-encrypted.key") && err.contains("encrypted"),
        "{err}"
    );

    let s = s.replace(
        "chain = [",
        "key_passphrase_env = \"ASPEN_TEST_PASS\"\nchain = [",
    );
    let err = fails_cleanly(
        &s,
        &["device"],
        &[("ASPEN_TEST_PASS", "not-the-passphrase")],
    );
    assert!(
        err.contains("wrong passphrase") && !err.contains("not-the-passphrase"),
        "{err}"
    );

    let err = fails_cleanly(&s, &["device"], &[]);
    assert!(
        err.contains("ASPEN_TEST_PASS") && err.contains("not set"),
        "{err}"
    );
}

#[test]
fn missing_anchor_certificate() {
    let s = demo_settings().replace("certs/ca.pem", "certs/missing.pem");
    let err = fails_cleanly(&s, &["device"], &[]);
    assert!(
        err.contains("anchor[0].certificate") && err.contains("missing.pem"),
        "{err}"
    );
}

#[test]
fn signing_failure_never_falls_back_to_unsigned() {
    let s = demo_settings().replace("certs/signer.pem", "certs/gone.pem");
    let err = fails_cleanly(&s, &["device"], &[]);
    assert!(err.contains("gone.pem"), "{err}");
    // Nothing on stdout either.
    let ws = Workspace::new(&s);
    let out = aspen(&["profile", "device", "-c", ws.settings().to_str().unwrap()]);
    assert!(out.stdout.is_empty());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn output_into_a_missing_folder() {
    let ws = Workspace::new(&demo_settings());
    let out = ws.path("no/such/dir/p.mobileconfig");
    let err = fails(aspen(&[
        "profile",
        "device",
        "-c",
        ws.settings().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]));
    assert!(err.contains("no/such/dir/p.mobileconfig"), "{err}");
    assert_eq!(ws.files(), ["aspen.toml"]);
}

#[test]
fn duplicate_policy_priorities() {
    let s = demo_settings().replace("priority = 3", "priority = 2");
    let err = fails_cleanly(&s, &["device"], &[]);
    assert!(
        err.contains("policy[2].priority = \"2\"") && err.contains("unique"),
        "{err}"
    );
}

#[test]
fn sign_refuses_what_is_not_an_unsigned_profile() {
    let ws = Workspace::new(&demo_settings());
    let signed = ws.path("s.mobileconfig");
    ok(aspen(&[
        "profile",
        "device",
        "-c",
        ws.settings().to_str().unwrap(),
        "-o",
        signed.to_str().unwrap(),
    ]));
    let key = cert("signer.key");
    let crt = cert("signer.pem");
    let out = ws.path("twice.mobileconfig");
    let sign = |input: &std::path::Path| {
        fails(aspen(&[
            "sign",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--cert",
            crt.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ]))
    };
    assert!(sign(&signed).contains("already"));
    assert!(sign(&ws.settings()).contains("not a property list"));
    assert!(!out.exists());
}

/// A settings file that is not there says how to make one, for the default
/// name and for one given with -c.
#[test]
fn missing_settings_file_suggests_aspen_init() {
    let ws = Workspace::new("");
    let missing = ws.path("myorg/aspen.toml");
    let err = fails(aspen(&[
        "profile",
        "device",
        "-c",
        missing.to_str().unwrap(),
    ]));
    assert!(
        err.contains(&format!(
            "{}: no such settings file; run `aspen init {}` to write a commented one",
            missing.display(),
            ws.path("myorg").display()
        )),
        "{err}"
    );
    // The default, aspen.toml in the current folder.
    let empty = ws.path("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aspen"))
        .args(["resolve", "--user", "a@b.c"])
        .current_dir(&empty)
        .env_remove("ASPEN_CONFIG")
        .output()
        .unwrap();
    let err = fails(out);
    assert!(
        err.contains("aspen.toml: no such settings file; run `aspen init` to write a commented one, or name another with -c FILE"),
        "{err}"
    );
    // Following the advice works.
    ok(aspen(&["init", ws.path("myorg").to_str().unwrap()]));
    ok(aspen(&[
        "profile",
        "device",
        "--allow-placeholders",
        "-c",
        missing.to_str().unwrap(),
    ]));
}

/// `key_size = "2048"` names the key and the line, not only serde's types.
#[test]
fn settings_type_error_names_key_and_line() {
    let s = demo_settings().replace("key_size = 2048", "key_size = \"2048\"");
    let err = fails_cleanly(&s, &["device"], &[]);
    let line = line_of(&s, "key_size = \"2048\"");
    assert!(
        err.contains(&format!(
            "aspen.toml:{line}: identity.key_size: invalid type: string \"2048\", expected an integer"
        )),
        "{err}"
    );
}
