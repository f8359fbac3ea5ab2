//! Enrollment type policies: `aspen resolve` and `aspen profile for`, row by
//! row of issue 4's table, checked in the profiles themselves with OpenSSL
//! and python3's plistlib.

use crate::common;
use common::*;
use serde_json::Value;

/// Settings with one policy of each type, and a directory of users.
const POLICIES: &str = r#"
[[policy]]
name = "Corporate phones"
type = "device"
priority = 1
groups = ["Corp"]

[[policy]]
name = "BYOD staff"
description = "Personal phones of all staff"
type = "user-choice"
priority = 2
groups = ["Staff"]

[[policy]]
name = "Contractors"
type = "user"
priority = 3
groups = ["Contractors", "Staff"]
"#;

const USERS: &str = "email,managed_apple_id,groups
corp@contoso.com,corp@contoso.com,Corp
staff@contoso.com,staff@contoso.com,Staff
contractor@contoso.com,contractor@contoso.com,Contractors
both@contoso.com,both@contoso.com,Contractors;Corp
noid@contoso.com,,Contractors
noid-staff@contoso.com,,Staff
nogroup@contoso.com,nogroup@contoso.com,
visitor@contoso.com,visitor@contoso.com,Visitors;Guests
";

/// The demo settings with the policies above instead of the demo's, the
/// directory written next to them.
fn workspace() -> Workspace {
    let demo = demo_settings();
    let cut = demo.find("[[policy]]").unwrap();
    let ws = Workspace::new(&format!(
        "{}{POLICIES}\n[directory]\nusers = \"users.csv\"\n",
        &demo[..cut]
    ));
    std::fs::write(ws.path("users.csv"), USERS).unwrap();
    ws
}

fn resolve(ws: &Workspace, user: &str, extra: &[&str]) -> (Option<i32>, Value, String) {
    let settings = ws.settings();
    let mut args = vec![
        "resolve",
        "-c",
        settings.to_str().unwrap(),
        "--user",
        user,
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = aspen(&args);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("resolve --json printed no JSON ({e}): {}", stderr(&out)));
    (out.status.code(), json, stderr(&out))
}

/// `aspen profile for`, signed; returns the verified content parsed by
/// plistlib.
fn profile_for(ws: &Workspace, user: &str, extra: &[&str]) -> Value {
    let settings = ws.settings();
    let out = ws.path(&format!("{user}.mobileconfig"));
    let mut args = vec![
        "profile",
        "for",
        "-c",
        settings.to_str().unwrap(),
        "--user",
        user,
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ok(aspen(&args));
    let content = openssl_verify(&out, &cert("ca.pem")).expect("openssl cms -verify");
    plistlib_json(&content)
}

fn mdm(profile: &Value) -> &Value {
    profile["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["PayloadType"] == "com.apple.mdm")
        .expect("an MDM payload")
}

/// One row of the table: the user's resolution and the MDM payload of the
/// profile they get.
fn row(user: &str, choice: Option<&str>, kind: &str, ownership: &str) -> Value {
    let ws = workspace();
    let extra: Vec<&str> = choice.map(|c| vec!["--choice", c]).unwrap_or_default();
    let (code, json, err) = resolve(&ws, user, &extra);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(json["outcome"], "enroll");
    assert_eq!(json["kind"], kind);
    assert_eq!(json["ownership"], ownership);
    mdm(&profile_for(&ws, user, &extra)).clone()
}

#[test]
fn table_user_policy_gives_user_enrollment_personal() {
    if !have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let m = row("contractor@contoso.com", None, "user-byod", "personal");
    assert_eq!(m["EnrollmentMode"], "BYOD");
    assert_eq!(m["AssignedManagedAppleID"], "contractor@contoso.com");
    assert!(m.get("AccessRights").is_none(), "{m}");
}

#[test]
fn table_device_policy_gives_device_enrollment_corporate() {
    if !have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let m = row("corp@contoso.com", None, "device-corporate", "corporate");
    assert_eq!(m["AccessRights"], 8191);
    assert!(m.get("EnrollmentMode").is_none(), "{m}");
    assert!(m.get("AssignedManagedAppleID").is_none(), "{m}");
}

#[test]
fn table_user_choice_corporate() {
    if !have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let m = row(
        "staff@contoso.com",
        Some("corporate"),
        "device-corporate",
        "corporate",
    );
    assert_eq!(m["AccessRights"], 8191);
    assert!(m.get("EnrollmentMode").is_none(), "{m}");
}

#[test]
fn table_user_choice_device_gives_personal_rights() {
    if !have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let m = row(
        "staff@contoso.com",
        Some("device"),
        "device-personal",
        "personal",
    );
    // The demo's personal_access_rights: no erase, no lock.
    assert_eq!(m["AccessRights"], 8179);
    assert!(m.get("EnrollmentMode").is_none(), "{m}");
}

#[test]
fn table_user_choice_work_gives_user_enrollment() {
    if !have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let m = row("staff@contoso.com", Some("work"), "user-byod", "personal");
    assert_eq!(m["EnrollmentMode"], "BYOD");
    assert_eq!(m["AssignedManagedAppleID"], "staff@contoso.com");
    assert!(m.get("AccessRights").is_none(), "{m}");
}

#[test]
fn user_choice_without_choice_waits_and_lists_the_answers() {
    let ws = workspace();
    let (code, json, _) = resolve(&ws, "staff@contoso.com", &[]);
    assert_eq!(code, Some(0));
    assert_eq!(json["outcome"], "needs-choice");
    assert_eq!(json["policy"], "BYOD staff");
    assert!(json["kind"].is_null());
    let answers: Vec<(String, String)> = json["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["choice"].as_str().unwrap().to_owned(),
                c["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        answers,
        [
            ("corporate".into(), "device-corporate".into()),
            ("device".into(), "device-personal".into()),
            ("work".into(), "user-byod".into())
        ]
    );
    // No profile without the answer.
    let settings = ws.settings();
    let out = ws.path("p.mobileconfig");
    let err = fails(aspen(&[
        "profile",
        "for",
        "-c",
        settings.to_str().unwrap(),
        "--user",
        "staff@contoso.com",
        "-o",
        out.to_str().unwrap(),
    ]));
    assert!(err.contains("give --choice"), "{err}");
    assert!(!out.exists());
}

#[test]
fn two_groups_with_different_policies_highest_priority_wins() {
    let ws = workspace();
    let (code, json, _) = resolve(&ws, "both@contoso.com", &[]);
    assert_eq!(code, Some(0));
    let matched = json["matched"].as_array().unwrap();
    let summary: Vec<(&str, u64, bool)> = matched
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap(),
                m["priority"].as_u64().unwrap(),
                m["wins"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("Corporate phones", 1, true), ("Contractors", 3, false)]
    );
    assert_eq!(matched[0]["via"][0], "Corp");
    assert_eq!(json["kind"], "device-corporate");
    assert!(
        json["why"].as_str().unwrap().contains("priority 1"),
        "{json}"
    );
    // The text form says the same.
    let settings = ws.settings();
    let text = String::from_utf8(ok(aspen(&[
        "resolve",
        "-c",
        settings.to_str().unwrap(),
        "--user",
        "BOTH@contoso.com",
    ])))
    .unwrap();
    assert!(
        text.contains("priority 1  \"Corporate phones\" (device) via Corp  <- wins"),
        "{text}"
    );
    assert!(
        text.contains("priority 3  \"Contractors\" (user) via Contractors\n"),
        "{text}"
    );
    assert!(
        text.contains("kind              device-corporate"),
        "{text}"
    );
}

#[test]
fn user_in_no_group_cannot_enroll() {
    let ws = workspace();
    for (user, groups) in [
        ("nogroup@contoso.com", "is in no group"),
        ("visitor@contoso.com", "is in Visitors, Guests"),
    ] {
        let (code, json, err) = resolve(&ws, user, &[]);
        assert_eq!(code, Some(1), "{user}");
        assert_eq!(json["outcome"], "no-policy");
        assert_eq!(json["can_enroll"], false);
        assert!(json["matched"].as_array().unwrap().is_empty());
        assert!(err.contains(user) && err.contains(groups), "{err}");
    }
}

#[test]
fn user_enrollment_without_managed_apple_id_is_an_error_naming_the_user() {
    if !have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let ws = workspace();
    let (code, json, err) = resolve(&ws, "noid@contoso.com", &[]);
    assert_eq!(code, Some(1));
    assert_eq!(json["outcome"], "needs-managed-apple-id");
    assert!(
        err.contains("noid@contoso.com") && err.contains("Managed Apple ID"),
        "{err}"
    );
    // Under user-choice only the work answer needs it.
    let (code, json, _) = resolve(&ws, "noid-staff@contoso.com", &["--choice", "work"]);
    assert_eq!(
        (code, json["outcome"].as_str()),
        (Some(1), Some("needs-managed-apple-id"))
    );
    let m = mdm(&profile_for(
        &ws,
        "noid-staff@contoso.com",
        &["--choice", "device"],
    ))
    .clone();
    assert_eq!(m["AccessRights"], 8179);
    let settings = ws.settings();
    let err = fails(aspen(&[
        "profile",
        "for",
        "-c",
        settings.to_str().unwrap(),
        "--user",
        "noid@contoso.com",
        "--unsigned",
    ]));
    assert!(err.contains("noid@contoso.com"), "{err}");
}

#[test]
fn priority_ties_are_rejected_at_load() {
    let ws = workspace();
    let text = std::fs::read_to_string(ws.settings()).unwrap();
    std::fs::write(ws.settings(), text.replace("priority = 3", "priority = 1")).unwrap();
    let line = std::fs::read_to_string(ws.settings())
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("priority = 1"))
        .nth(1)
        .unwrap()
        .0
        + 1;
    let settings = ws.settings();
    let err = fails(aspen(&[
        "resolve",
        "-c",
        settings.to_str().unwrap(),
        "--user",
        "corp@contoso.com",
    ]));
    assert!(
        err.contains(&format!("aspen.toml:{line}: policy[2].priority = \"1\"")),
        "{err}"
    );
    assert!(err.contains("\"Corporate phones\""), "{err}");
}

#[test]
fn users_flag_overrides_the_settings_directory() {
    let ws = workspace();
    std::fs::write(
        ws.path("other.csv"),
        "email,managed_apple_id,groups\ncorp@contoso.com,,Contractors\n",
    )
    .unwrap();
    let other = ws.path("other.csv");
    let (code, json, _) = resolve(
        &ws,
        "corp@contoso.com",
        &["--users", other.to_str().unwrap()],
    );
    assert_eq!(code, Some(1));
    assert_eq!(json["outcome"], "needs-managed-apple-id");
    assert_eq!(json["users_file"], other.to_str().unwrap());
}

#[test]
fn unknown_user_and_missing_directory_are_clear_errors() {
    let ws = workspace();
    let settings = ws.settings();
    let err = fails(aspen(&[
        "resolve",
        "-c",
        settings.to_str().unwrap(),
        "--user",
        "nobody@contoso.com",
    ]));
    assert!(
        err.contains("no user with email \"nobody@contoso.com\""),
        "{err}"
    );
    let text = std::fs::read_to_string(&settings).unwrap();
    let cut = text.find("[directory]").unwrap();
    std::fs::write(&settings, &text[..cut]).unwrap();
    let err = fails(aspen(&[
        "resolve",
        "-c",
        settings.to_str().unwrap(),
        "--user",
        "corp@contoso.com",
    ]));
    assert!(err.contains("give --users"), "{err}");
}

#[test]
fn profile_for_records_the_user_and_policy_in_the_audit_store() {
    if !have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let ws = workspace();
    let text = std::fs::read_to_string(ws.settings()).unwrap();
    std::fs::write(
        ws.settings(),
        format!("{text}\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nsecret_file = \"portal.secret\"\nstate_dir = \"state\"\n"),
    )
    .unwrap();
    profile_for(&ws, "Corp@contoso.com", &[]);
    let settings = ws.settings();
    let rows: Vec<Value> = serde_json::from_slice(&ok(aspen(&[
        "issued",
        "-c",
        settings.to_str().unwrap(),
        "--json",
    ])))
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["user"], "corp@contoso.com");
    assert_eq!(rows[0]["policy"], "Corporate phones");
    assert_eq!(rows[0]["kind"], "device-corporate");
}

/// Issue 20: groups written with commas (`…,Contractors,Corp`) once landed
/// the user on the lower-priority policy without a word. Now the row is an
/// error naming its line and the fix, for resolve and bulk alike, and no
/// profile of the wrong kind is written.
#[test]
fn groups_written_with_commas_are_an_error_not_the_wrong_policy() {
    let ws = workspace();
    std::fs::write(
        ws.path("users.csv"),
        "email,managed_apple_id,groups\ncorp@contoso.com,corp@contoso.com,Corp\ndave@contoso.com,dave@contoso.com,Contractors,Corp\n",
    )
    .unwrap();
    let settings = ws.settings();
    let config = settings.to_str().unwrap();
    let err = fails(aspen(&[
        "resolve",
        "-c",
        config,
        "--user",
        "dave@contoso.com",
    ]));
    assert!(
        err.contains("users.csv: line 3: has 4 fields but the header has 3"),
        "{err}"
    );
    assert!(err.contains("\"Contractors;Executives\""), "{err}");
    let out = ws.path("out");
    let err = found(aspen(&[
        "bulk",
        "-c",
        config,
        "--unsigned",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(err.contains("users.csv:3: has 4 fields"), "{err}");
    assert!(out.join("corp@contoso.com.mobileconfig").exists());
    assert!(!out.join("dave@contoso.com.mobileconfig").exists());
}

/// `aspen resolve --groups`: what a user with these identity-provider
/// groups would get, without an IdP — names or object IDs, the directory's
/// groups replaced, a user only the IdP knows included.
#[test]
fn resolve_with_groups_explains_what_the_idps_groups_would_give() {
    let id = "6f1c2a9e-5b0d-4c3e-9a8f-7e6d5c4b3a21";
    let ws = Workspace::new(&demo_settings().replace(
        "groups = [\"Leadership\"]",
        &format!("groups = [\"Leadership\", \"{id}\"]"),
    ));
    // dana is in no users.csv; her group is an Entra-style object ID.
    let (code, json, err) = resolve(&ws, "dana@contoso.com", &["--groups", id]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        (&json["policy"], &json["kind"], &json["groups_claim"]),
        (
            &Value::from("Executives"),
            &Value::from("device-corporate"),
            &Value::from("groups")
        )
    );
    assert_eq!(json["matched"][0]["via"], serde_json::json!([id]));
    // bob is in Leadership in users.csv; the IdP's groups win.
    let (code, json, err) = resolve(&ws, "bob@contoso.com", &["--groups", "Staff"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(json["policy"], "BYOD staff");
    assert_eq!(
        json["managed_apple_id"], "bob@contoso.com",
        "still from users.csv"
    );
    let (code, json, _) = resolve(&ws, "bob@contoso.com", &[]);
    assert_eq!(
        (code, &json["policy"]),
        (Some(0), &Value::from("Executives"))
    );
    // No groups at all: no policy, exit 1, and the text says why.
    let out = aspen(&[
        "resolve",
        "-c",
        ws.settings().to_str().unwrap(),
        "--user",
        "bob@contoso.com",
        "--groups",
        "",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("(as the identity provider's \"groups\" claim)")
            && text.contains("(none assigned to these groups)"),
        "{text}"
    );
}
