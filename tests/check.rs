//! `aspen check`: one line per item of what `serve` and `profile` would use,
//! without issuing or recording anything.

use crate::common;
use common::*;

/// Demo settings with a portal, a store and its key (0600).
fn served() -> Workspace {
    let ws = Workspace::new(&format!(
        "{}\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nsecret_file = \"portal.secret\"\nstate_dir = \"state\"\n",
        demo_settings()
    ));
    std::fs::write(ws.path("portal.secret"), "5a".repeat(32) + "\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        ws.path("portal.secret"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    ws
}

/// Row counts of every table of the store, read by python3's sqlite3.
fn rows(db: &std::path::Path) -> Option<String> {
    if !have_tool("python3", "python3") {
        return None;
    }
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nfor (t,) in c.execute(\"select name from sqlite_master where type='table' order by name\"):\n  print(t, c.execute('select count(*) from '+t).fetchone()[0])",
            db.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn a_good_setup_checks_clean_and_nothing_is_recorded() {
    let ws = served();
    let config = ws.settings().display().to_string();
    // Per-profile challenges: a `profile` would record a secret; check must not.
    let settings = std::fs::read_to_string(ws.settings()).unwrap().replace(
        "challenge = \"demo-challenge-not-secret\"",
        "challenge = \"per-profile\"",
    );
    std::fs::write(ws.settings(), settings).unwrap();
    ok(aspen(&[
        "invite",
        "-c",
        &config,
        "--user",
        "bob@contoso.com",
    ]));
    let db = ws.path("state/aspen.sqlite3");
    let before = rows(&db);
    let out = aspen(&["check", "-c", &config]);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    for line in [
        "ok    settings",
        "ok    placeholders none",
        "ok    signing",
        "ok    push topic   com.apple.mgmt.",
        "ok    identity     SCEP https://",
        "ok    directory",
        "ok    portal",
        "ok    store",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
    assert!(
        text.contains("schema version") && text.contains("(current)"),
        "{text}"
    );
    assert!(text.contains("per-profile challenge"), "{text}");
    assert!(text.contains("5 user(s)"), "{text}");
    assert_eq!(rows(&db), before, "check wrote to the store");
    // --json: the same items for scripts.
    let json: serde_json::Value =
        serde_json::from_slice(&ok(aspen(&["check", "-c", &config, "--json"]))).unwrap();
    let items = json.as_array().unwrap();
    assert!(items.iter().all(|i| i["status"] != "fail"), "{json:#}");
    assert!(items.iter().any(|i| i["item"] == "store"));
    assert_eq!(rows(&db), before);
    // A folder that has no store yet: reachable, and still not made.
    let fresh = served();
    let out = ok(aspen(&["check", "-c", fresh.settings().to_str().unwrap()]));
    assert!(String::from_utf8(out).unwrap().contains("no store yet"));
    assert!(!fresh.path("state/aspen.sqlite3").exists());
}

#[test]
fn a_broken_setup_fails_the_items_at_fault() {
    let ws = served();
    let config = ws.settings().display().to_string();
    // A comma-separated group row, and a signing key that is gone.
    std::fs::write(
        ws.path("users.csv"),
        "email,managed_apple_id,groups\nbob@contoso.com,bob@contoso.com,Staff,Leadership\n",
    )
    .unwrap();
    let settings = std::fs::read_to_string(ws.settings())
        .unwrap()
        .replace(
            &format!(
                "users = {:?}",
                fixture("demo/users.csv").display().to_string()
            ),
            "users = \"users.csv\"",
        )
        .replace("signer.key", "gone.key");
    std::fs::write(ws.settings(), settings).unwrap();
    let out = aspen(&["check", "-c", &config]);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(
        text.contains("FAIL  signing") && text.contains("gone.key"),
        "{text}"
    );
    assert!(
        text.contains("FAIL  directory") && text.contains("line 2: has 4 fields"),
        "{text}"
    );
    assert!(text.contains("ok    settings"), "{text}");
    // Settings that do not load: one failed item, exit 1.
    std::fs::write(ws.settings(), "[organization]\nname = 3\n").unwrap();
    let out = aspen(&["check", "-c", &config]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .starts_with("FAIL  settings")
    );
    // No settings at all: nothing to check, exit 2.
    let out = aspen(&["check", "-c", ws.path("nowhere.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    // The placeholders `aspen init` writes are failures.
    let init = tempfile::tempdir().unwrap();
    ok(aspen(&["init", init.path().to_str().unwrap()]));
    let out = aspen(&["check", "-c", init.path().to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL  placeholders"), "{text}");
}

/// `served()` with `[portal] auth = "oidc"` and `[oidc]` for `idp`.
fn with_oidc(idp: &crate::idp::Idp) -> Workspace {
    let ws = served();
    let text = std::fs::read_to_string(ws.settings()).unwrap().replace(
        "secret_file = \"portal.secret\"\n",
        "secret_file = \"portal.secret\"\nauth = \"oidc\"\n",
    );
    // The secret beside the settings: it outlives the IdP's folder.
    let secret = crate::idp::write_secret(&ws.path(""));
    let oidc = idp
        .settings("groups_claim = \"groups\"")
        .replace(&idp.secret_file(), &secret);
    std::fs::write(ws.settings(), text + &oidc).unwrap();
    ws
}

#[test]
fn with_oidc_check_says_whether_the_identity_provider_answers() {
    if !crate::idp::available() {
        return;
    }
    let idp = crate::idp::Idp::start(0);
    let ws = with_oidc(&idp);
    let config = ws.settings().display().to_string();
    let out = aspen(&["check", "-c", &config]);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    let line = text.lines().find(|l| l.contains(" oidc ")).unwrap_or("");
    assert!(
        line.starts_with("ok  ")
            && line.contains(&format!(
                "{}: the identity provider answers, 1 signing key(s)",
                idp.issuer
            ))
            && line.contains("redirect URI to register: https://enroll.contoso.com/oidc/callback"),
        "{text}"
    );
    assert!(!text.contains(crate::idp::CLIENT_SECRET));

    // The IdP is gone: a FAIL line that says so, and exit 1.
    let issuer = idp.issuer.clone();
    drop(idp);
    let out = aspen(&["check", "-c", &config, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let items: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let item = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"] == "oidc")
        .expect("an oidc item");
    assert_eq!(item["status"], "fail");
    let detail = item["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!("{issuer}: the identity provider cannot be used"))
            && detail.contains(&format!("{issuer}/.well-known/openid-configuration")),
        "{detail}"
    );
}

#[test]
fn with_oidc_check_refuses_a_client_secret_others_can_read() {
    // No IdP is asked: the secret is checked first.
    let dir = tempfile::tempdir().unwrap();
    let idp_settings = format!(
        "\n[oidc]\nissuer = \"http://127.0.0.1:9\"\nclient_id = \"aspen-enroll\"\nclient_secret_file = {:?}\n",
        crate::idp::write_secret(dir.path())
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.path().join("oidc.secret"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let ws = served();
    let text = std::fs::read_to_string(ws.settings()).unwrap().replace(
        "secret_file = \"portal.secret\"\n",
        "secret_file = \"portal.secret\"\nauth = \"oidc\"\n",
    );
    std::fs::write(ws.settings(), text + &idp_settings).unwrap();
    let out = aspen(&["check", "-c", ws.settings().to_str().unwrap()]);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = text.lines().find(|l| l.contains(" oidc ")).unwrap_or("");
    assert!(
        line.starts_with("FAIL")
            && line.contains("oidc.client_secret_file")
            && line.contains("readable by group or others"),
        "{text}"
    );
    assert!(!text.contains(crate::idp::CLIENT_SECRET));
}
