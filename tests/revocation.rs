//! Revocation by an admin: `aspen invite --list` shows the sign-in codes
//! still usable (never a code), `aspen invite --revoke --user U` ends U's,
//! and `/signin` refuses them; `aspen revoke --profile UUID | --user U`
//! ends the identity secrets not yet used, and `aspen scep-verify` and
//! step-ca's webhook refuse them as revoked. Each revocation is an audit
//! row.

use crate::ade::{SERIAL, ade_settings, device_signed, issued, machine_info, payload, post};
use crate::common;
use crate::secrets::{checks, csr, profile, scep_verify, split_secret, workspace};
use crate::server;
use crate::step_ca;

use common::*;
use server::{Server, Visitor};

/// `aspen invite -c … ARGS` on the server's settings: (exit status, stdout, stderr).
fn invite(s: &Server, args: &[&str]) -> (i32, String, String) {
    let settings = s.ws.settings();
    let mut all = vec!["invite", "-c", settings.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = aspen_env(&all, &s.env());
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr(&out),
    )
}

#[tokio::test]
async fn revoked_codes_are_refused_at_signin_and_the_list_never_shows_a_code() {
    let s = Server::start("");
    let alice = [s.invite("alice@contoso.com"), s.invite("Alice@Contoso.com")];
    let bob = s.invite("bob@contoso.com");

    let (code, list, err) = invite(&s, &["--list"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three codes: {list}");
    assert!(lines[0].starts_with("USER") && lines[0].contains("USES LEFT"));
    assert_eq!(
        lines[1..]
            .iter()
            .map(|l| l.split_whitespace().next().unwrap())
            .collect::<Vec<_>>(),
        ["alice@contoso.com", "alice@contoso.com", "bob@contoso.com"]
    );
    let (code, json, _) = invite(&s, &["--list", "--json"]);
    assert_eq!(code, 0);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert_eq!(r["uses_left"], 1, "{r}");
        assert!(r["expires"].as_str().unwrap().ends_with('Z'), "{r}");
        assert_eq!(r.as_object().unwrap().len(), 3, "user, expiry, uses: {r}");
    }
    for c in alice.iter().chain([&bob]) {
        assert!(!list.contains(c.as_str()) && !json.contains(c.as_str()));
    }
    let (_, only_bob, _) = invite(&s, &["--list", "--user", "BOB@contoso.com"]);
    assert_eq!(only_bob.lines().count(), 2, "{only_bob}");

    let (code, out, err) = invite(&s, &["--revoke", "--user", "alice@contoso.com"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "Revoked 2 sign-in codes of alice@contoso.com\n");
    let (_, list, _) = invite(&s, &["--list"]);
    assert_eq!(list.lines().count(), 2, "only bob's is left: {list}");
    assert!(list.contains("bob@contoso.com") && !list.contains("alice"));
    // Revoking again ends nothing and says so.
    let (code, out, err) = invite(&s, &["--revoke", "--user", "alice@contoso.com"]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(err.contains("no sign-in code still usable"), "{err}");

    for c in &alice {
        assert_eq!(Visitor::default().sign_in(&s, c).await, 401, "revoked");
    }
    assert_eq!(Visitor::default().sign_in(&s, &bob).await, 303);

    let rows = issued(&s, &[]);
    let revoked: Vec<_> = rows.iter().filter(|r| r["event"] == "revoked").collect();
    assert_eq!(revoked.len(), 2, "{rows:?}");
    assert_eq!(revoked[0]["user"], "alice@contoso.com");
    assert_eq!(revoked[0]["channel"], "cli");
    assert_eq!(
        revoked[0]["reason"],
        "2 sign-in codes revoked (aspen invite --revoke)"
    );
    assert_eq!(
        revoked[1]["reason"],
        "0 sign-in codes revoked (aspen invite --revoke)"
    );
    let (_, _, err) = invite(&s, &["--revoke"]);
    assert!(err.contains("--user"), "{err}");
}

/// `aspen revoke -c … ARGS`: (exit status, stdout, stderr).
fn revoke(ws: &Workspace, args: &[&str]) -> (i32, String, String) {
    let settings = ws.settings();
    let mut all = vec!["revoke", "-c", settings.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = aspen(&all);
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr(&out),
    )
}

/// A new profile for `user`: its PayloadUUID and its challenge.
fn issue(ws: &Workspace, args: &[&str], name: &str) -> (String, String) {
    let mut all = vec!["for"];
    all.extend_from_slice(args);
    let plist = profile(ws, &all, name);
    let uuid = plist["PayloadUUID"].as_str().unwrap().to_owned();
    (uuid, split_secret(plist).0)
}

#[test]
fn a_revoked_challenge_is_refused_by_scep_verify() {
    if !have_tool("openssl", "openssl") || !have_tool("python3", "python3") {
        return;
    }
    let ws = workspace("challenge = \"per-profile\"");
    let bob = ["--user", "bob@contoso.com"];
    let alice = ["--user", "alice@contoso.com", "--choice", "device"];
    let (lost, lost_challenge) = issue(&ws, &bob, "lost.mobileconfig");
    // A user's profile keeps its PayloadUUID when issued again: alice's
    // two downloads are one profile with two secrets.
    let (alice_uuid, alice_a) = issue(&ws, &alice, "a1.mobileconfig");
    let (again, alice_b) = issue(&ws, &alice, "a2.mobileconfig");
    assert_eq!(alice_uuid, again);

    let (code, out, err) = revoke(&ws, &["--profile", &lost]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!("Revoked 1 identity secret of profile {lost} (bob@contoso.com)\n")
    );
    let verify = |name: &str, challenge: &str| {
        let req = csr(&ws, name, "a-device", Some(challenge), false, false);
        scep_verify(&ws, &req)
    };
    let (code, err) = verify("lost.der", &lost_challenge);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("refused: the challenge was revoked"), "{err}");
    assert_eq!(verify("a1.der", &alice_a).0, 0, "another profile enrolls");

    let (code, out, err) = revoke(&ws, &["--user", "ALICE@contoso.com"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!("Revoked 1 identity secret of profile {alice_uuid} (alice@contoso.com)\n"),
        "the used one is not counted"
    );
    let (code, err) = verify("a2.der", &alice_b);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("revoked"), "{err}");

    // Revoked first, issued again after: the new profile enrolls.
    let (uuid, fresh) = issue(&ws, &bob, "new.mobileconfig");
    assert_eq!(uuid, lost);
    assert_eq!(verify("new.der", &fresh).0, 0);
    // Nothing left to end: a note, no failure.
    let (code, out, err) = revoke(&ws, &["--profile", &lost]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(err.contains("no identity secret still usable"), "{err}");

    let (rows, _) = checks(&ws);
    let events: Vec<_> = rows.iter().map(|r| r["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        [
            "secret-refused",
            "secret-accepted",
            "secret-refused",
            "secret-accepted"
        ]
    );
    assert_eq!(rows[0]["payload_uuid"].as_str(), Some(lost.as_str()));
    assert_eq!(rows[0]["user"], "bob@contoso.com");
    assert_eq!(
        rows[0]["reason"],
        "the challenge was revoked (aspen revoke)"
    );
    let all: Vec<serde_json::Value> = serde_json::from_slice(&ok(aspen(&[
        "issued",
        "-c",
        ws.settings().to_str().unwrap(),
        "--json",
    ])))
    .unwrap();
    let revoked: Vec<_> = all.iter().filter(|r| r["event"] == "revoked").collect();
    assert_eq!(revoked.len(), 3, "bob's, alice's, and the empty one");
    assert_eq!(revoked[0]["payload_uuid"].as_str(), Some(lost.as_str()));
    assert_eq!(revoked[0]["user"], "bob@contoso.com");
    assert_eq!(revoked[0]["channel"], "cli");
    assert_eq!(
        revoked[0]["reason"],
        "1 identity secret revoked (aspen revoke)"
    );
    assert_eq!(revoked[1]["user"], "alice@contoso.com");
    assert_eq!(
        revoked[2]["reason"],
        "no identity secret was still usable (aspen revoke)"
    );

    // Usage: one of --profile or --user, not both.
    assert_eq!(revoke(&ws, &[]).0, 2);
    assert_eq!(
        revoke(&ws, &["--profile", &lost, "--user", "bob@contoso.com"]).0,
        2
    );
}

#[tokio::test]
async fn step_cas_webhook_refuses_a_revoked_challenge() {
    if !have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let secret = step_ca::webhook_secret();
    let ca = format!(
        "\n[ca]\nscep_webhook_secret_file = {:?}\n",
        secret.path.display().to_string()
    );
    let settings = ade_settings("");
    let s = Server::start_edited(&move |demo| settings(demo) + &ca);
    let info = device_signed(
        s.ws.dir.path(),
        &machine_info(SERIAL, "iPhone15,2", Some("18.5"), true),
    );
    let p = crate::ade::profile(&s, post(&s, info).await, "ade.mobileconfig").await;
    let challenge = payload(&p, "com.apple.security.scep")["PayloadContent"]["Challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    let uuid = p["PayloadUUID"].as_str().unwrap();
    let (code, out, err) = revoke(&s.ws, &["--profile", uuid]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("Revoked 1 identity secret of profile"),
        "{out}"
    );
    let request = step_ca::csr(&s.ws, "device.csr", SERIAL, &challenge);
    let body = step_ca::step_ca_body(&challenge, &request);
    let signature = step_ca::sign(&s.ws, &secret.key_hex, &body);
    assert!(
        !step_ca::allowed(step_ca::call(&s, &body, Some(&signature)).await).await,
        "revoked"
    );
    let rows = issued(&s, &["--serial", SERIAL]);
    let last = rows.last().unwrap();
    assert_eq!(last["event"], "secret-refused");
    assert_eq!(last["reason"], "the challenge was revoked (aspen revoke)");
}
