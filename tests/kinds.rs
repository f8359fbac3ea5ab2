//! Every enrollment kind and ownership, signed, checked with OpenSSL and
//! python3's plistlib: the MDM keys each kind must (and must not) carry.

use crate::common;
use common::*;
use serde_json::Value;

/// Generates a profile with `args` (after `profile`) from the demo settings,
/// verifies it with `openssl cms -verify` against the test root (the
/// intermediate comes from the file itself), and returns the plist parsed by
/// plistlib.
fn signed_profile(args: &[&str]) -> (Value, String) {
    let ws = Workspace::new(&demo_settings());
    let out = ws.path("p.mobileconfig");
    let settings = ws.settings();
    let mut full = vec!["profile"];
    full.extend_from_slice(args);
    full.extend_from_slice(&[
        "-c",
        settings.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let result = aspen(&full);
    let err = stderr(&result);
    ok(result);
    let content = openssl_verify(&out, &cert("ca.pem")).expect("openssl cms -verify");
    let profile = plistlib_json(&content);
    let detected = match args {
        ["user", .., "--legacy"] => "user-legacy",
        ["user", ..] => "user-byod",
        _ if args.contains(&"--managed-apple-id") => "adde",
        _ => "device",
    };
    lints_clean(&out, detected);
    (profile, err)
}

fn mdm(profile: &Value) -> &Value {
    profile["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["PayloadType"] == "com.apple.mdm")
        .expect("an MDM payload")
}

fn payload<'a>(profile: &'a Value, payload_type: &str) -> &'a Value {
    profile["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["PayloadType"] == payload_type)
        .unwrap_or_else(|| panic!("no {payload_type} payload"))
}

/// What every profile aspen writes has, whatever the kind.
fn check_common(p: &Value) {
    assert_eq!(p["PayloadType"], "Configuration");
    assert_eq!(p["PayloadVersion"], 1);
    assert_eq!(p["PayloadIdentifier"], "com.contoso.mdm.enrollment");
    assert_eq!(p["PayloadOrganization"], "Contoso");
    assert_eq!(
        p["ConsentText"]["default"],
        "This is a demo profile signed with a test-only key."
    );
    let scep = payload(p, "com.apple.security.scep");
    let root = payload(p, "com.apple.security.root");
    let m = mdm(p);
    // The MDM payload points at the identity payload.
    assert_eq!(m["IdentityCertificateUUID"], scep["PayloadUUID"]);
    assert!(m["Topic"].as_str().unwrap().starts_with("com.apple.mgmt."));
    assert_eq!(m["ServerURL"], "https://mdm.contoso.com/mdm");
    assert_eq!(m["CheckInURL"], "https://mdm.contoso.com/checkin");
    assert_eq!(m["SignMessage"], true);
    assert_eq!(m["CheckOutWhenRemoved"], true);
    // Pinning names the anchor payload.
    assert_eq!(
        m["ServerURLPinningCertificateUUIDs"],
        serde_json::json!([root["PayloadUUID"]])
    );
    assert_eq!(
        m["CheckInURLPinningCertificateUUIDs"],
        serde_json::json!([root["PayloadUUID"]])
    );
    // SCEP keys with spaces, and Apple's subject shape.
    let c = &scep["PayloadContent"];
    assert_eq!(c["Key Type"], "RSA");
    assert_eq!(c["Key Usage"], 5);
    assert_eq!(c["Keysize"], 2048);
    assert_eq!(
        c["Subject"],
        serde_json::json!([[["O", "Contoso"]], [["CN", "Contoso MDM Identity"]]])
    );
    // Every payload: identifier under the organisation's, unique UUIDs.
    let mut uuids = vec![p["PayloadUUID"].as_str().unwrap().to_owned()];
    for item in p["PayloadContent"].as_array().unwrap() {
        assert!(
            item["PayloadIdentifier"]
                .as_str()
                .unwrap()
                .starts_with("com.contoso.mdm.enrollment.")
        );
        assert_eq!(item["PayloadVersion"], 1);
        uuids.push(item["PayloadUUID"].as_str().unwrap().to_owned());
    }
    let n = uuids.len();
    uuids.sort();
    uuids.dedup();
    assert_eq!(uuids.len(), n, "payload UUIDs must be unique");
}

#[test]
fn device_enrollment_corporate() {
    if !have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let (p, _) = signed_profile(&["device"]);
    check_common(&p);
    let m = mdm(&p);
    assert_eq!(m["AccessRights"], 8191);
    for absent in ["EnrollmentMode", "AssignedManagedAppleID", "ManagedAppleID"] {
        assert!(m.get(absent).is_none(), "{absent} must be absent");
    }
}

#[test]
fn device_enrollment_personal_uses_personal_rights() {
    if !have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let (p, _) = signed_profile(&["device", "--owner", "personal"]);
    check_common(&p);
    let m = mdm(&p);
    assert_eq!(m["AccessRights"], 8179);
    let rights = m["AccessRights"].as_u64().unwrap();
    assert_eq!(rights & 8, 0, "no device erase on a personal device");
    assert_eq!(
        rights & 4,
        0,
        "no device lock/passcode removal on a personal device"
    );
    assert!(m.get("EnrollmentMode").is_none());
}

#[test]
fn account_driven_device_enrollment() {
    if !have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let (p, _) = signed_profile(&["device", "--managed-apple-id", "bob@contoso.com"]);
    check_common(&p);
    let m = mdm(&p);
    assert_eq!(m["EnrollmentMode"], "ADDE");
    assert_eq!(m["AssignedManagedAppleID"], "bob@contoso.com");
    assert_eq!(m["AccessRights"], 8191);
    assert!(m.get("ManagedAppleID").is_none());
}

#[test]
fn account_driven_device_enrollment_personal() {
    if !have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let (p, _) = signed_profile(&[
        "device",
        "--owner",
        "personal",
        "--managed-apple-id",
        "bob@contoso.com",
    ]);
    let m = mdm(&p);
    assert_eq!(m["EnrollmentMode"], "ADDE");
    assert_eq!(m["AccessRights"], 8179);
}

#[test]
fn account_driven_user_enrollment_has_no_access_rights() {
    if !have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let (p, err) = signed_profile(&["user", "--managed-apple-id", "alice@contoso.com"]);
    check_common(&p);
    assert!(!err.contains("warning"), "{err}");
    let m = mdm(&p);
    assert_eq!(m["EnrollmentMode"], "BYOD");
    assert_eq!(m["AssignedManagedAppleID"], "alice@contoso.com");
    assert!(
        m.get("AccessRights").is_none(),
        "BYOD must not carry AccessRights"
    );
    assert!(m.get("ManagedAppleID").is_none());
    assert_eq!(p["PayloadDisplayName"], "Contoso User Enrollment");
}

#[test]
fn legacy_user_enrollment_warns_and_uses_managed_apple_id() {
    if !have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let (p, err) = signed_profile(&[
        "user",
        "--managed-apple-id",
        "alice@contoso.com",
        "--legacy",
    ]);
    check_common(&p);
    assert!(
        err.contains("warning") && err.contains("iOS 18") && err.contains("macOS 15"),
        "{err}"
    );
    let m = mdm(&p);
    assert_eq!(m["ManagedAppleID"], "alice@contoso.com");
    for absent in ["EnrollmentMode", "AssignedManagedAppleID", "AccessRights"] {
        assert!(m.get(absent).is_none(), "{absent} must be absent");
    }
}

#[test]
fn acme_identity_follows_apple_shape() {
    if !have_tool("python3", "python3") {
        return;
    }
    let settings = demo_settings().replace(
        "[identity]\nkind = \"scep\"\nurl = \"https://mdm.contoso.com/scep\"\nchallenge = \"demo-challenge-not-secret\"\nkey_size = 2048\n",
        "[identity]\nkind = \"acme\"\ndirectory_url = \"https://acme.contoso.com/directory\"\nclient_identifier = \"device-123\"\nkey_type = \"ECSECPrimeRandom\"\nkey_size = 384\nhardware_bound = true\nattest = true\n",
    );
    assert!(settings.contains("kind = \"acme\""));
    let ws = Workspace::new(&settings);
    let out = ok(aspen(&[
        "profile",
        "device",
        "-c",
        ws.settings().to_str().unwrap(),
        "--unsigned",
    ]));
    let p = plistlib_json(&out);
    let acme = payload(&p, "com.apple.security.acme");
    assert_eq!(acme["DirectoryURL"], "https://acme.contoso.com/directory");
    assert_eq!(acme["KeyType"], "ECSECPrimeRandom");
    assert_eq!(acme["KeySize"], 384);
    assert_eq!(acme["HardwareBound"], true);
    assert_eq!(acme["Attest"], true);
    assert_eq!(mdm(&p)["IdentityCertificateUUID"], acme["PayloadUUID"]);
}

#[test]
fn unsigned_output_is_byte_identical_across_runs_and_parses_everywhere() {
    if !have_tool("plistutil", "libplist-utils") {
        return;
    }
    let ws = Workspace::new(&demo_settings());
    let c = ws.settings();
    let c = c.to_str().unwrap();
    for args in [
        vec!["profile", "device", "-c", c, "--unsigned"],
        vec![
            "profile",
            "user",
            "-c",
            c,
            "--unsigned",
            "--managed-apple-id",
            "alice@contoso.com",
        ],
    ] {
        let a = ok(aspen(&args));
        let b = ok(aspen(&args));
        assert!(!a.is_empty());
        assert_eq!(a, b, "unsigned output must be reproducible");
        let file = ws.path("u.mobileconfig");
        std::fs::write(&file, &a).unwrap();
        let xml = plistutil_xml(&file);
        assert!(xml.contains("<string>com.apple.mdm</string>"));
    }
}

#[test]
fn uuids_are_stable_per_user_and_differ_between_users() {
    if !have_tool("python3", "python3") {
        return;
    }
    let ws = Workspace::new(&demo_settings());
    let c = ws.settings();
    let c = c.to_str().unwrap();
    let alice = plistlib_json(&ok(aspen(&[
        "profile",
        "user",
        "-c",
        c,
        "--unsigned",
        "--managed-apple-id",
        "alice@contoso.com",
    ])));
    let bob = plistlib_json(&ok(aspen(&[
        "profile",
        "user",
        "-c",
        c,
        "--unsigned",
        "--managed-apple-id",
        "bob@contoso.com",
    ])));
    assert_ne!(alice["PayloadUUID"], bob["PayloadUUID"]);
    assert_ne!(mdm(&alice)["PayloadUUID"], mdm(&bob)["PayloadUUID"]);
    // Same identifier, so the device replaces rather than duplicates.
    assert_eq!(alice["PayloadIdentifier"], bob["PayloadIdentifier"]);
}

#[test]
fn signed_content_is_exactly_the_unsigned_plist() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let ws = Workspace::new(&demo_settings());
    let c = ws.settings();
    let c = c.to_str().unwrap();
    let unsigned = ok(aspen(&["profile", "device", "-c", c, "--unsigned"]));
    let out = ws.path("s.mobileconfig");
    ok(aspen(&[
        "profile",
        "device",
        "-c",
        c,
        "-o",
        out.to_str().unwrap(),
    ]));
    assert_eq!(openssl_verify(&out, &cert("ca.pem")).unwrap(), unsigned);
}

#[test]
fn golden_device_profile() {
    // The whole unsigned device profile, so any change to what aspen writes is
    // seen in review. Regenerate with ASPEN_UPDATE_GOLDEN=1.
    let ws = Workspace::new(&demo_settings());
    let got = ok(aspen(&[
        "profile",
        "device",
        "-c",
        ws.settings().to_str().unwrap(),
        "--unsigned",
    ]));
    let golden = fixture("golden/device-corporate.mobileconfig");
    if std::env::var_os("ASPEN_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &got).unwrap();
    }
    let want = std::fs::read(&golden).expect("golden file (ASPEN_UPDATE_GOLDEN=1 writes it)");
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
}
