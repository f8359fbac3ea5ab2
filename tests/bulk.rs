//! `aspen bulk`: one profile per user, manifest.csv, bad rows, hostile
//! addresses, re-runs. Files are checked with OpenSSL, python3 (hashlib,
//! csv, plistlib) and sha256sum, not with aspen's own code.

use crate::common;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A workspace with the demo settings and `users` as the directory.
fn workspace(users: &str) -> Workspace {
    let ws = Workspace::new(&demo_settings());
    std::fs::write(ws.path("users.csv"), users).unwrap();
    ws
}

fn bulk(ws: &Workspace, out: &Path, extra: &[&str]) -> std::process::Output {
    let settings = ws.settings();
    let users = ws.path("users.csv");
    let mut args = vec![
        "bulk",
        "-c",
        settings.to_str().unwrap(),
        "--users",
        users.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    aspen(&args)
}

/// manifest.csv parsed by python3's csv module: one map per row.
fn manifest(dir: &Path) -> Vec<BTreeMap<String, String>> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import csv, json, sys; print(json.dumps(list(csv.DictReader(open(sys.argv[1], newline='')))))",
        ])
        .arg(dir.join("manifest.csv"))
        .output()
        .expect("python3 is needed by this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every file under `dir`, recursively, relative to it.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn profiles(dir: &Path) -> Vec<String> {
    tree(dir)
        .into_iter()
        .filter(|f| f.ends_with(".mobileconfig"))
        .collect()
}

#[test]
fn signed_bulk_writes_verifiable_profiles_and_a_manifest_sha256sum_agrees_with() {
    if !have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let ws = workspace(
        "email,managed_apple_id,groups
alice@contoso.com,alice@contoso.com,Staff
bob@contoso.com,bob@contoso.com,Staff;Leadership
carol@contoso.com,carol@contoso.com,Contractors
",
    );
    let out = ws.path("out");
    ok(bulk(&ws, &out, &["--choice", "work", "--jobs", "2"]));
    let rows = manifest(&out);
    let summary: Vec<[&str; 5]> = rows
        .iter()
        .map(|r| {
            [
                r["user"].as_str(),
                r["managed_apple_id"].as_str(),
                r["policy"].as_str(),
                r["kind"].as_str(),
                r["ownership"].as_str(),
            ]
        })
        .collect();
    assert_eq!(
        summary,
        [
            [
                "alice@contoso.com",
                "alice@contoso.com",
                "BYOD staff",
                "user-byod",
                "personal"
            ],
            [
                "bob@contoso.com",
                "",
                "Executives",
                "device-corporate",
                "corporate"
            ],
            [
                "carol@contoso.com",
                "carol@contoso.com",
                "Contractors",
                "user-byod",
                "personal"
            ],
        ]
    );
    // sha256sum over the files, independently of aspen.
    let files: Vec<&str> = rows.iter().map(|r| r["file"].as_str()).collect();
    let sums = Command::new("sha256sum")
        .args(&files)
        .current_dir(&out)
        .output()
        .expect("sha256sum");
    let sums = String::from_utf8(sums.stdout).unwrap();
    for (row, line) in rows.iter().zip(sums.lines()) {
        assert_eq!(line, format!("{}  {}", row["sha256"], row["file"]));
    }
    assert_eq!(profiles(&out), {
        let mut f: Vec<String> = files.iter().map(|s| s.to_string()).collect();
        f.sort();
        f
    });
    // Every profile verifies against the test root and holds its user's
    // enrollment.
    for row in &rows {
        let content = openssl_verify(&out.join(&row["file"]), &cert("ca.pem")).unwrap();
        let p = plistlib_json(&content);
        let mdm = p["PayloadContent"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["PayloadType"] == "com.apple.mdm")
            .unwrap();
        match row["kind"].as_str() {
            "user-byod" => {
                assert_eq!(mdm["AssignedManagedAppleID"], row["user"].as_str());
                assert_eq!(mdm["EnrollmentMode"], "BYOD");
            }
            _ => assert_eq!(mdm["AccessRights"], 8191),
        }
    }
}

#[test]
fn user_choice_users_without_choice_wait_and_get_no_file() {
    if !have_tool("python3", "python3") {
        return;
    }
    let ws = workspace(
        "email,managed_apple_id,groups
alice@contoso.com,alice@contoso.com,Staff
carol@contoso.com,carol@contoso.com,Contractors
",
    );
    let out = ws.path("out");
    // One summary line by default; the list with -v.
    let result = bulk(&ws, &out, &["--unsigned"]);
    let err = stderr(&result);
    ok(result);
    assert!(
        err.contains("1 user under a user-choice policy waits")
            && err.contains("(-v lists them, --json too)")
            && !err.contains("alice@contoso.com"),
        "{err}"
    );
    let result = bulk(&ws, &out, &["--unsigned", "-v"]);
    let err = stderr(&result);
    ok(result);
    assert!(
        err.contains("1 user under a user-choice policy waits")
            && err.contains("line 2: alice@contoso.com (policy \"BYOD staff\")"),
        "{err}"
    );
    assert_eq!(profiles(&out), ["carol@contoso.com.mobileconfig"]);
    assert_eq!(manifest(&out).len(), 1);
}

#[test]
fn a_bad_row_in_the_middle_is_reported_by_line_and_the_others_are_written() {
    if !have_tool("python3", "python3") {
        return;
    }
    let ws = workspace(
        "email,managed_apple_id,groups
alice@contoso.com,alice@contoso.com,Contractors
,nobody@contoso.com,Contractors
carol@contoso.com,not-an-id,Contractors

dave@contoso.com,,Contractors
erin@contoso.com,erin@contoso.com,Visitors
frank@contoso.com,frank@appleid.contoso.com,Contractors;Unknown group
Alice@Contoso.com,alice@contoso.com,Contractors
mallory@contoso.com,FRANK@contoso.com,Contractors
grace@contoso.com,grace@contoso.com,Contractors
",
    );
    let out = ws.path("out");
    let users = ws.path("users.csv");
    let err = found(bulk(&ws, &out, &["--unsigned"]));
    let at = |line: u32| format!("{}:{line}: ", users.display());
    // Line 3: missing email; 4: malformed Managed Apple ID; 6: User
    // Enrollment without one; 7: no policy; 2 and 9: the same e-mail twice
    // (neither is used); 10: someone else's e-mail as Managed Apple ID.
    for (line, what) in [
        (2, "also listed on line 9: none of its rows is used"),
        (3, "email is missing"),
        (4, "not-an-id"),
        (6, "dave@contoso.com cannot enroll"),
        (7, "no enrollment policy"),
        (9, "also listed on line 2: none of its rows is used"),
        (10, "is the email of the user on line 8"),
    ] {
        let reported = err
            .lines()
            .find(|l| l.contains(&at(line)))
            .unwrap_or_else(|| panic!("line {line} not reported: {err}"));
        assert!(reported.contains(what), "{reported}");
    }
    assert!(err.contains("7 rows of"), "{err}");
    // An unknown group next to a known one is fine.
    assert_eq!(
        profiles(&out),
        [
            "frank@contoso.com.mobileconfig",
            "grace@contoso.com.mobileconfig"
        ]
    );
    let users: Vec<String> = manifest(&out).iter().map(|r| r["user"].clone()).collect();
    assert_eq!(users, ["frank@contoso.com", "grace@contoso.com"]);
}

/// Finding 4: bulk follows the directory's rule for who a user is, as
/// resolve, invite and serve do, whatever the order of the rows.
#[test]
fn bulk_refuses_takeover_rows_and_lets_no_duplicate_win() {
    if !have_tool("python3", "python3") {
        return;
    }
    let ws = workspace(
        "email,managed_apple_id,groups
mallory@contoso.com,alice@contoso.com,Contractors
alice@contoso.com,alice@appleid.contoso.com,Contractors
bob@contoso.com,,Leadership
BOB@contoso.com,,Leadership
",
    );
    let out = ws.path("out");
    let err = found(bulk(&ws, &out, &["--unsigned"]));
    assert!(
        err.contains(
            "users.csv:2: managed_apple_id \"alice@contoso.com\" is the email of the user on line 3"
        ),
        "{err}"
    );
    assert!(
        err.contains("users.csv:4: email \"bob@contoso.com\" is also listed on line 5"),
        "{err}"
    );
    assert!(
        err.contains("users.csv:5: email \"BOB@contoso.com\" is also listed on line 4"),
        "{err}"
    );
    assert!(err.contains("3 rows of"), "{err}");
    // The takeover row wrote nothing, neither did either Bob; Alice's own
    // profile carries her own Managed Apple ID, nobody else has it.
    assert_eq!(profiles(&out), ["alice@contoso.com.mobileconfig"]);
    let rows = manifest(&out);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["managed_apple_id"], "alice@appleid.contoso.com");
    // resolve says the same about the same rows.
    let msg = fails(aspen(&[
        "resolve",
        "-c",
        ws.settings().to_str().unwrap(),
        "--users",
        ws.path("users.csv").to_str().unwrap(),
        "--user",
        "mallory@contoso.com",
    ]));
    assert!(msg.contains("line 2") && msg.contains("line 3"), "{msg}");
}

#[test]
fn hostile_addresses_never_write_outside_the_folder() {
    if !have_tool("python3", "python3") {
        return;
    }
    let ws = workspace(
        "email,managed_apple_id,groups
../../x@evil,,Leadership
../../x@evil.com,,Leadership
x/../../y@evil.com,,Leadership
a/b@evil.com,,Leadership
a*b@evil.com,,Leadership
con.x@evil.com,,Leadership
ok@contoso.com,,Leadership
",
    );
    // The output folder sits two levels down, so `../../x` would land in the
    // workspace.
    let out = ws.path("deep/er/out");
    let err = found(bulk(&ws, &out, &["--unsigned"]));
    assert!(err.contains("3 rows of"), "{err}");
    for line in [2, 3, 4] {
        assert!(err.contains(&format!("users.csv:{line}: email")), "{err}");
    }
    // Nothing anywhere in the workspace but the settings, the directory and
    // the output folder's own files.
    let outside: Vec<String> = tree(ws.dir.path())
        .into_iter()
        .filter(|f| !f.starts_with("deep/er/out/"))
        .collect();
    assert_eq!(outside, ["aspen.toml", "users.csv"]);
    let names = profiles(&out);
    assert_eq!(names.len(), 4, "{names:?}");
    for n in &names {
        assert!(
            !n.contains('/') && !n.contains('\\') && !n.starts_with('.'),
            "{n}"
        );
        assert!(!n.to_lowercase().starts_with("con."), "{n}");
    }
    // a/b and a*b both sanitise to a_b: two files all the same.
    let a_b: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("a_b@evil.com~"))
        .collect();
    assert_eq!(a_b.len(), 2, "{names:?}");
    let rows = manifest(&out);
    let by_user: BTreeMap<&str, &str> = rows
        .iter()
        .map(|r| (r["user"].as_str(), r["file"].as_str()))
        .collect();
    assert_ne!(by_user["a/b@evil.com"], by_user["a*b@evil.com"]);
    assert_eq!(by_user["ok@contoso.com"], "ok@contoso.com.mobileconfig");
}

#[test]
fn a_rerun_gives_the_same_unsigned_bytes_and_signed_content_is_that_plist() {
    if !have_tools(&[("openssl", "openssl"), ("python3", "python3")]) {
        return;
    }
    let mut csv = String::from("email,managed_apple_id,groups\n");
    for i in 0..300 {
        let group = ["Staff", "Leadership", "Contractors"][i % 3];
        csv += &format!("u{i}@contoso.com,u{i}@contoso.com,{group}\n");
    }
    let ws = workspace(&csv);
    let read_all = |dir: &PathBuf| -> BTreeMap<String, Vec<u8>> {
        tree(dir)
            .into_iter()
            .map(|f| {
                let bytes = std::fs::read(dir.join(&f)).unwrap();
                (f, bytes)
            })
            .collect()
    };
    let out = ws.path("out");
    ok(bulk(
        &ws,
        &out,
        &["--unsigned", "--choice", "device", "--jobs", "3"],
    ));
    let first = read_all(&out);
    assert_eq!(first.len(), 301);
    // Again into the same folder, with another worker count: same bytes,
    // manifest included, and no temporary files left.
    ok(bulk(
        &ws,
        &out,
        &["--unsigned", "--choice", "device", "--jobs", "1"],
    ));
    assert!(read_all(&out) == first, "a re-run changed the output");
    // Signed: what OpenSSL verifies is exactly the unsigned profile.
    let signed = ws.path("signed");
    ok(bulk(&ws, &signed, &["--choice", "device"]));
    for name in ["u0@contoso.com.mobileconfig", "u1@contoso.com.mobileconfig"] {
        let content = openssl_verify(&signed.join(name), &cert("ca.pem")).unwrap();
        assert!(content == first[name], "{name}: signed content differs");
    }
    let p = plistlib_json(&first["u0@contoso.com.mobileconfig"]);
    assert_eq!(p["PayloadType"], "Configuration");
}

#[test]
fn progress_goes_nowhere_when_stderr_is_not_a_terminal() {
    let ws = workspace("email,managed_apple_id,groups\nbob@contoso.com,,Leadership\n");
    let out = ws.path("out");
    let result = bulk(&ws, &out, &["--unsigned"]);
    let err = stderr(&result);
    ok(result);
    // Only the summary: no bar, no terminal control sequences.
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("aspen: note: wrote 1 unsigned profile and manifest.csv"),
        "{err}"
    );
    assert!(!err.contains('\u{1b}'), "{err:?}");
}

#[test]
fn with_an_audit_store_every_profile_written_is_recorded() {
    if !have_tool("python3", "python3") {
        return;
    }
    let ws = Workspace::new(&format!(
        "{}\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nsecret_file = \"portal.secret\"\nstate_dir = \"state\"\n",
        demo_settings()
    ));
    std::fs::write(
        ws.path("users.csv"),
        "email,managed_apple_id,groups\nalice@contoso.com,alice@contoso.com,Staff\nbob@contoso.com,,Leadership\n",
    )
    .unwrap();
    let out = ws.path("out");
    ok(bulk(&ws, &out, &["--unsigned", "--choice", "work"]));
    let settings = ws.settings();
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&ok(aspen(&[
        "issued",
        "-c",
        settings.to_str().unwrap(),
        "--json",
    ])))
    .unwrap();
    let mut got: Vec<(String, String, String, String)> = rows
        .iter()
        .map(|r| {
            assert_eq!(r["channel"], "cli");
            (
                r["user"].as_str().unwrap().to_owned(),
                r["policy"].as_str().unwrap().to_owned(),
                r["kind"].as_str().unwrap().to_owned(),
                r["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String, String, String)> = manifest(&out)
        .iter()
        .map(|r| {
            (
                r["user"].clone(),
                r["policy"].clone(),
                r["kind"].clone(),
                r["sha256"].clone(),
            )
        })
        .collect();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(got.len(), 2);
    // Each record names its profile by the profile's own PayloadUUID.
    for r in manifest(&out) {
        let plist = plistlib_json(&std::fs::read(out.join(&r["file"])).unwrap());
        let row = rows.iter().find(|row| row["user"] == r["user"]).unwrap();
        assert_eq!(row["payload_uuid"], plist["PayloadUUID"], "{}", r["user"]);
    }
}
