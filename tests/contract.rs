//! The command contract, the same for every command: exit 0 when all is
//! well, 1 when a check found something, 2 when aspen could not do its job;
//! and a reader that closes the pipe ends the command quietly — no message,
//! no panic — and a command that stores something stores it only once its
//! output was written.

use crate::common;
use crate::server;

use common::*;
use std::os::fd::FromRawFd;
use std::process::{Command, Output, Stdio};

/// Runs `aspen ARGS` with stdout a pipe whose reading end is already
/// closed: its first write fails with a broken pipe, every time.
fn into_closed_pipe(args: &[&str]) -> Output {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills both descriptors; each is owned exactly once
    // below (the read end closed now, the write end by the child's Stdio).
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    unsafe { libc::close(fds[0]) };
    let write_end = unsafe { std::fs::File::from_raw_fd(fds[1]) };
    Command::new(env!("CARGO_BIN_EXE_aspen"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(write_end))
        .output()
        .expect("run aspen")
}

fn status(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

/// A settings folder with the demo settings, a portal and a store.
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

#[test]
fn exit_statuses_follow_the_contract() {
    let ws = served();
    let config = ws.settings().display().to_string();
    let profile = ws.path("p.mobileconfig").display().to_string();
    // profile: 0 written; 2 when the settings are broken.
    let out = aspen(&["profile", "device", "-c", &config, "-o", &profile]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let broken = Workspace::new("[organization]\nname = 3\n");
    let out = aspen(&[
        "profile",
        "device",
        "-c",
        broken.settings().to_str().unwrap(),
    ]);
    assert_eq!(status(&out), 2, "{}", stderr(&out));
    // verify: 0 good; 1 a bad signature (found); 2 no such file.
    let ca = cert("ca.pem").display().to_string();
    assert_eq!(status(&aspen(&["verify", &profile, "--ca", &ca])), 0);
    let mut bytes = std::fs::read(&profile).unwrap();
    let at = bytes
        .windows(7)
        .position(|w| w == b"Contoso")
        .expect("the org name in the signed content");
    bytes[at] = b'K';
    let tampered = ws.path("tampered.mobileconfig");
    std::fs::write(&tampered, &bytes).unwrap();
    let out = aspen(&["verify", tampered.to_str().unwrap()]);
    assert_eq!(status(&out), 1, "{}", stderr(&out));
    assert_eq!(status(&aspen(&["verify", "/nonexistent/x"])), 2);
    // lint: 0 clean; 1 an error found; 2 no such schema folder.
    assert_eq!(status(&aspen(&["lint", &profile])), 0);
    let bad = fixture("profiles/byod-restrictions.mobileconfig");
    assert_eq!(status(&aspen(&["lint", bad.to_str().unwrap()])), 1);
    let out = aspen(&["lint", "--schema", "/nonexistent", &profile]);
    assert_eq!(status(&out), 2, "{}", stderr(&out));
    // inspect: 0 read; 2 not a profile.
    assert_eq!(status(&aspen(&["inspect", &profile])), 0);
    assert_eq!(status(&aspen(&["inspect", &config])), 2);
    // invite and issued: 0; 2 for a user not in the directory.
    assert_eq!(
        status(&aspen(&[
            "invite",
            "-c",
            &config,
            "--user",
            "bob@contoso.com"
        ])),
        0
    );
    let out = aspen(&["invite", "-c", &config, "--user", "nobody@contoso.com"]);
    assert_eq!(status(&out), 2, "{}", stderr(&out));
    assert_eq!(status(&aspen(&["issued", "-c", &config])), 0);
    // resolve: 0 for a user a policy enrolls; 1 for one no policy applies
    // to (a finding, not a failure); 2 for one not in the directory.
    let resolve = |user: &str| status(&aspen(&["resolve", "-c", &config, "--user", user]));
    assert_eq!(resolve("bob@contoso.com"), 0);
    assert_eq!(resolve("erin@contoso.com"), 1);
    assert_eq!(resolve("nobody@contoso.com"), 2);
    // Bad usage is clap's 2.
    assert_eq!(status(&aspen(&["lint", "--no-such-flag"])), 2);
    // --help and the man page say so.
    let help = String::from_utf8(ok(aspen(&["--help"]))).unwrap();
    let man = String::from_utf8(ok(aspen(&["man"]))).unwrap();
    for text in [help, man] {
        assert!(text.contains("Exit status: 0 when all is well; 1 when a check found something"));
        assert!(text.contains("2 when aspen could not do its job"));
    }
}

/// `aspen … | head -0`: every command that prints ends quietly at the
/// closed pipe, exit 0, nothing on stderr, no panic.
#[test]
fn a_closed_pipe_ends_quietly() {
    let ws = served();
    let config = ws.settings().display().to_string();
    let profile = ws.path("p.mobileconfig").display().to_string();
    ok(aspen(&["profile", "device", "-c", &config, "-o", &profile]));
    ok(aspen(&[
        "invite",
        "-c",
        &config,
        "--user",
        "bob@contoso.com",
    ]));
    let ca = cert("ca.pem").display().to_string();
    for args in [
        vec!["lint", profile.as_str()],
        vec!["verify", profile.as_str(), "--ca", ca.as_str()],
        vec!["inspect", profile.as_str()],
        vec!["inspect", "--json", profile.as_str()],
        vec!["issued", "-c", config.as_str()],
        vec!["issued", "-c", config.as_str(), "--json"],
        vec!["profile", "device", "-c", config.as_str(), "--unsigned"],
        vec!["invite", "-c", config.as_str(), "--user", "bob@contoso.com"],
    ] {
        let out = into_closed_pipe(&args);
        assert_eq!(status(&out), 0, "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
    }
}

/// A code nobody saw is never stored: `aspen invite … | head -0` leaves the
/// store as it was, and the user has exactly the codes printed before.
#[test]
fn invite_stores_its_code_only_after_printing_it() {
    let ws = served();
    let config = ws.settings().display().to_string();
    let printed = server::invite(&ws, "bob@contoso.com", "7d");
    let out = into_closed_pipe(&["invite", "-c", &config, "--user", "bob@contoso.com"]);
    assert_eq!(status(&out), 0);
    // Only the printed code exists: the store's count of bob's codes.
    let db = ws.path("state/aspen.sqlite3");
    if let Some(n) = count(&db, "SELECT count(*) FROM invites") {
        assert_eq!(n, 1, "one code stored: the one printed ({printed})");
    }
}

/// Rows counted by python3's sqlite3 (an independent reader); `None` when
/// python3 is missing (skipped loudly; a failure under CI=true).
fn count(db: &std::path::Path, sql: &str) -> Option<i64> {
    if !have_tool("python3", "python3") {
        return None;
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])",
            db.to_str().unwrap(),
            sql,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap(),
    )
}

/// Issue 20's consistency: `-c FOLDER` reads FOLDER/aspen.toml; `-o/--out`
/// means the output everywhere (`--output` still works); `profile` and
/// `sign` print a JSON summary with `--json` whose SHA-256 is the file's.
#[test]
fn folders_outputs_and_json_summaries() {
    let ws = served();
    let folder = ws.dir.path().display().to_string();
    let out = ws.path("device.mobileconfig");
    let printed = ok(aspen(&[
        "profile",
        "device",
        "-c",
        &folder,
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]));
    let summary: serde_json::Value = serde_json::from_slice(&printed).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    let sha = crate::common::sha256_hex(&bytes);
    assert_eq!(summary["sha256"], sha.as_str());
    assert_eq!(summary["file"], out.to_str().unwrap());
    assert_eq!(summary["kind"], "device-corporate");
    assert_eq!(summary["ownership"], "corporate");
    assert_eq!(summary["signed"], true);
    let uuid = summary["payload_uuid"].as_str().unwrap();
    assert_eq!(uuid.len(), 36, "{uuid}");
    // The same profile's PayloadUUID, as `inspect` reads it.
    let inspected: serde_json::Value =
        serde_json::from_slice(&ok(aspen(&["inspect", "--json", out.to_str().unwrap()]))).unwrap();
    assert!(inspected.to_string().contains(uuid), "{inspected}");
    // --json needs a file for the profile: stdout carries the JSON.
    let err = stderr(&aspen(&["profile", "device", "-c", &folder, "--json"]));
    assert!(err.contains("--out"), "{err}");
    // sign: the old spelling --output still works, and --json summarises.
    let unsigned = ws.path("unsigned.mobileconfig");
    ok(aspen(&[
        "profile",
        "device",
        "-c",
        &folder,
        "--unsigned",
        "--output",
        unsigned.to_str().unwrap(),
    ]));
    let signed = ws.path("signed.mobileconfig");
    let printed = ok(aspen(&[
        "sign",
        unsigned.to_str().unwrap(),
        "--cert",
        cert("signer.pem").to_str().unwrap(),
        "--key",
        cert("signer.key").to_str().unwrap(),
        "-o",
        signed.to_str().unwrap(),
        "--json",
    ]));
    let summary: serde_json::Value = serde_json::from_slice(&printed).unwrap();
    assert_eq!(
        summary["sha256"],
        crate::common::sha256_hex(&std::fs::read(&signed).unwrap()).as_str()
    );
    assert_eq!(summary["payload_uuid"], uuid);
    assert!(
        summary["signer"].as_str().unwrap().contains("CN="),
        "{summary}"
    );
}
