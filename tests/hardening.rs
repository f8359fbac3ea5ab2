//! `aspen serve` on the open internet: each finding of issue 9, reproduced
//! against a real server on a free loopback port (or the real binary) and
//! shown fixed. Finding 4 (bulk and the directory's rule) is in
//! tests/bulk.rs, next to the other bulk tests.

mod common;
mod server;

use server::{Server, client, header};

/// Finding 3: a portal secret that group or others can read is refused by
/// every command that loads or guards it, naming the file and the fix.
#[cfg(unix)]
#[test]
fn a_secret_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let ws = common::Workspace::new(&format!(
        "{}\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nsecret_file = \"portal.secret\"\nstate_dir = \"state\"\n",
        common::demo_settings()
    ));
    let secret = ws.path("portal.secret");
    // As `openssl rand -hex 32 > FILE` makes it under the usual umask.
    std::fs::write(&secret, "5a".repeat(32) + "\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = ws.settings();
    let config = config.to_str().unwrap();
    for args in [
        &["serve", "-c", config, "--listen", "127.0.0.1:0", "--quiet"][..],
        &["invite", "-c", config, "--user", "bob@contoso.com"],
        &["issued", "-c", config],
    ] {
        let err = common::fails(common::aspen(args));
        assert!(
            err.contains(&secret.display().to_string())
                && err.contains("mode 0644")
                && err.contains("chmod 600")
                && err.contains("(umask 077; openssl rand -hex 32 > FILE)"),
            "{args:?}: {err}"
        );
        assert!(!err.contains(&"5a".repeat(32)), "never the secret: {err}");
    }
    // Nothing was written for the refused invite.
    assert!(!ws.path("state").join("aspen.sqlite3").exists());
    // Private again: the same commands work.
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    common::ok(common::aspen(&[
        "invite",
        "-c",
        config,
        "--user",
        "bob@contoso.com",
    ]));
    common::ok(common::aspen(&["issued", "-c", config]));
    // The store the invite made is private (0700 folder, 0600 file).
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&ws.path("state")), 0o700);
    assert_eq!(mode(&ws.path("state").join("aspen.sqlite3")), 0o600);
}

/// Finding 3, second half: an existing state folder and database that the
/// umask left readable are tightened when a command opens them.
#[cfg(unix)]
#[test]
fn an_existing_state_folder_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let ws = common::Workspace::new(&format!(
        "{}\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nsecret_file = \"portal.secret\"\nstate_dir = \"state\"\n",
        common::demo_settings()
    ));
    let secret = ws.path("portal.secret");
    std::fs::write(&secret, "5a".repeat(32) + "\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = ws.settings();
    let config = config.to_str().unwrap();
    common::ok(common::aspen(&[
        "invite",
        "-c",
        config,
        "--user",
        "bob@contoso.com",
    ]));
    let (dir, db) = (ws.path("state"), ws.path("state").join("aspen.sqlite3"));
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    common::ok(common::aspen(&["issued", "-c", config]));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&dir), mode(&db)), (0o700, 0o600));
}

/// Finding 7: behind an authenticating proxy, a request with the trusted
/// header twice (a proxy that appends instead of replacing) is a 400, on
/// every route, and signs nobody in.
#[tokio::test]
async fn a_doubled_trusted_header_is_refused() {
    let s = Server::start("auth = \"header\"\ntrusted_header = \"X-Remote-User\"\n");
    for path in [
        "/access",
        "/account-driven/login?user-identifier=bob@contoso.com",
    ] {
        let res = client()
            .get(format!("{}{path}", s.url))
            .header("x-remote-user", "bob@contoso.com")
            .header("x-remote-user", "alice@contoso.com")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{path}");
        assert!(res.headers().get("location").is_none(), "{path}");
        let body = res.text().await.unwrap();
        assert!(!body.contains("@contoso.com"), "{path}: {body}");
    }
    // One value is still how a user signs in (so the 400 was about the
    // second value).
    let res = client()
        .get(format!(
            "{}/account-driven/login?user-identifier=bob@contoso.com",
            s.url
        ))
        .header("x-remote-user", "bob@contoso.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    assert!(header(&res, "location").starts_with("apple-remotemanagement-user-login://"));
}
