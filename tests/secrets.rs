//! Identity secrets in profiles: `per-profile` gives every issued profile
//! its own one-time SCEP challenge (or ACME client identifier), recorded in
//! the store as a keyed hash; static secrets come from the file, an
//! environment variable or a file of their own; files holding a secret are
//! private.

use crate::common;
use crate::server;

use common::*;
use std::os::unix::fs::PermissionsExt;

/// The portal secret these tests write (hex of 32 × 0x5a).
const SECRET_HEX: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

/// The demo settings with `challenge = "…"` replaced by `identity_lines`,
/// plus a `[portal]` (key and store) in a fresh workspace.
pub fn workspace(identity_lines: &str) -> Workspace {
    let settings =
        demo_settings().replace("challenge = \"demo-challenge-not-secret\"", identity_lines);
    let ws = Workspace::new(&format!(
        "{settings}\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nsecret_file = \"portal.secret\"\nstate_dir = \"state\"\n"
    ));
    write_key(&ws);
    ws
}

/// The portal key per-profile secrets are hashed with, private as aspen
/// wants it.
fn write_key(ws: &Workspace) {
    std::fs::write(ws.path("portal.secret"), format!("{SECRET_HEX}\n")).unwrap();
    std::fs::set_permissions(
        ws.path("portal.secret"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
}

/// The ACME identity of tests/kinds.rs, with `client_identifier_line`.
fn acme_workspace(client_identifier_line: &str) -> Workspace {
    let text = demo_settings();
    let start = text.find("[identity]").unwrap();
    let end = text.find("[[anchor]]").unwrap();
    let settings = format!(
        "{}[identity]\nkind = \"acme\"\ndirectory_url = \"https://acme.contoso.com/directory\"\n{client_identifier_line}\nkey_type = \"ECSECPrimeRandom\"\nkey_size = 384\nhardware_bound = true\nattest = true\n\n{}",
        &text[..start],
        &text[end..]
    );
    let ws = Workspace::new(&format!(
        "{settings}\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nsecret_file = \"portal.secret\"\nstate_dir = \"state\"\n"
    ));
    write_key(&ws);
    ws
}

/// `aspen profile ARGS -c aspen.toml --unsigned -o NAME`; the profile's plist as JSON.
pub fn profile(ws: &Workspace, args: &[&str], name: &str) -> serde_json::Value {
    let settings = ws.settings();
    let out = ws.path(name);
    let mut all = vec!["profile"];
    all.extend_from_slice(args);
    all.extend_from_slice(&[
        "-c",
        settings.to_str().unwrap(),
        "--unsigned",
        "-o",
        out.to_str().unwrap(),
    ]);
    ok(aspen(&all));
    plistlib_json(&std::fs::read(&out).unwrap())
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The identity payload's secret, and the profile with it blanked.
pub fn split_secret(mut plist: serde_json::Value) -> (String, serde_json::Value) {
    let identity = &mut plist["PayloadContent"][1];
    let slot = if identity["PayloadType"] == "com.apple.security.scep" {
        &mut identity["PayloadContent"]["Challenge"]
    } else {
        &mut identity["ClientIdentifier"]
    };
    let secret = slot.as_str().expect("a secret in the profile").to_owned();
    *slot = serde_json::Value::Null;
    (secret, plist)
}

/// One row of the store's `secrets` table: hex lookup, kind, user,
/// payload UUID, created, expires.
type SecretRow = (Vec<u8>, String, Option<String>, String, i64, i64);

/// The store's issued secrets, read with python3's sqlite3 module (an
/// independent reader of aspen's file).
fn secret_rows(ws: &Workspace) -> Vec<SecretRow> {
    let db = ws.path("state/aspen.sqlite3");
    let script = r#"
import sys, sqlite3, json
c = sqlite3.connect(sys.argv[1])
rows = c.execute("SELECT hex(lookup), kind, user, payload_uuid, created, expires FROM secrets ORDER BY created, rowid").fetchall()
print(json.dumps(rows))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().as_bytes().to_vec(),
                r[1].as_str().unwrap().to_owned(),
                r[2].as_str().map(str::to_owned),
                r[3].as_str().unwrap().to_owned(),
                r[4].as_i64().unwrap(),
                r[5].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_profile_carries_its_own_challenge_recorded_only_as_a_hash() {
    if !have_tool("python3", "python3") {
        return;
    }
    let ws = workspace("challenge = \"per-profile\"\nchallenge_ttl = \"2d\"");
    let alice = profile(
        &ws,
        &["for", "--user", "alice@contoso.com", "--choice", "device"],
        "alice.mobileconfig",
    );
    let bob = profile(
        &ws,
        &["for", "--user", "bob@contoso.com"],
        "bob.mobileconfig",
    );
    let again = profile(
        &ws,
        &["for", "--user", "bob@contoso.com"],
        "bob2.mobileconfig",
    );
    let (a, _) = split_secret(alice);
    let (b, bob_rest) = split_secret(bob);
    let (b2, again_rest) = split_secret(again);
    assert_ne!(a, b, "two users, two challenges");
    assert_ne!(b, b2, "two issues, two challenges");
    // Printable ASCII with at least 128 bits: 32 base32 characters (160).
    for c in [&a, &b, &b2] {
        assert_eq!(c.len(), 32, "{c}");
        assert!(
            c.bytes()
                .all(|x| x.is_ascii_digit() || x.is_ascii_uppercase()),
            "{c}"
        );
    }
    // With per-profile secrets two issues differ in the secret only.
    assert_eq!(bob_rest, again_rest);
    // Each is recorded with its user, the profile's UUID and its expiry,
    // under a keyed hash: the value itself is nowhere in the store.
    let rows = secret_rows(&ws);
    assert_eq!(rows.len(), 3, "{rows:?}");
    let users: Vec<_> = rows.iter().map(|r| r.2.clone().unwrap()).collect();
    assert_eq!(
        users,
        ["alice@contoso.com", "bob@contoso.com", "bob@contoso.com"]
    );
    for r in &rows {
        assert_eq!(r.1, "scep-challenge");
        assert_eq!(r.5 - r.4, 2 * 86_400, "challenge_ttl = 2d");
        assert_eq!(r.0.len(), 64, "a 32-byte keyed hash");
    }
    assert_eq!(rows[1].3, bob_rest["PayloadUUID"].as_str().unwrap());
    let db = std::fs::read(ws.path("state/aspen.sqlite3")).unwrap();
    let wal = std::fs::read(ws.path("state/aspen.sqlite3-wal")).unwrap_or_default();
    for c in [&a, &b, &b2] {
        for bytes in [&db, &wal] {
            assert!(
                !bytes.windows(c.len()).any(|w| w == c.as_bytes()),
                "the challenge itself is stored"
            );
        }
    }
    // A profile carrying a secret is private to its owner.
    assert_eq!(mode(&ws.path("alice.mobileconfig")), 0o600);
}

#[test]
fn bulk_gives_every_row_its_own_challenge_before_it_writes_the_files() {
    if !have_tool("python3", "python3") {
        return;
    }
    let ws = workspace("challenge = \"per-profile\"");
    let settings = ws.settings();
    let out = ws.path("out");
    let users = ws.path("users.csv");
    std::fs::write(
        &users,
        "email,managed_apple_id,groups\nalice@contoso.com,alice@contoso.com,Staff\nbob@contoso.com,,Leadership\ncarol@contoso.com,carol@contoso.com,Contractors\n",
    )
    .unwrap();
    ok(aspen(&[
        "bulk",
        "-c",
        settings.to_str().unwrap(),
        "--users",
        users.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--choice",
        "device",
        "--unsigned",
        "--jobs",
        "2",
    ]));
    let mut challenges = Vec::new();
    for user in ["alice", "bob", "carol"] {
        let file = out.join(format!("{user}@contoso.com.mobileconfig"));
        assert_eq!(mode(&file), 0o600, "{user}");
        let (c, _) = split_secret(plistlib_json(&std::fs::read(&file).unwrap()));
        challenges.push(c);
    }
    challenges.sort();
    challenges.dedup();
    assert_eq!(challenges.len(), 3, "one challenge per row");
    assert_eq!(
        mode(&out.join("manifest.csv")),
        0o644,
        "the manifest holds no secret"
    );
    let rows = secret_rows(&ws);
    let mut users: Vec<_> = rows.iter().map(|r| r.2.clone().unwrap()).collect();
    users.sort();
    assert_eq!(
        users,
        ["alice@contoso.com", "bob@contoso.com", "carol@contoso.com"]
    );
}

#[test]
fn bulk_files_with_a_static_challenge_are_private_and_reproducible() {
    let ws = workspace("challenge_file = \"challenge.txt\"");
    std::fs::write(ws.path("challenge.txt"), "static-for-all\n").unwrap();
    let users = ws.path("users.csv");
    std::fs::write(
        &users,
        "email,managed_apple_id,groups\nbob@contoso.com,,Leadership\ncarol@contoso.com,carol@contoso.com,Contractors\n",
    )
    .unwrap();
    let run = |out: &str| {
        let out = ws.path(out);
        ok(aspen(&[
            "bulk",
            "-c",
            ws.settings().to_str().unwrap(),
            "--users",
            users.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--unsigned",
        ]));
        out
    };
    let (a, b) = (run("a"), run("b"));
    for user in ["bob", "carol"] {
        let name = format!("{user}@contoso.com.mobileconfig");
        assert_eq!(mode(&a.join(&name)), 0o600, "{user}");
        let bytes = std::fs::read(a.join(&name)).unwrap();
        assert_eq!(
            bytes,
            std::fs::read(b.join(&name)).unwrap(),
            "{user}: reproducible"
        );
        assert!(String::from_utf8(bytes).unwrap().contains("static-for-all"));
    }
    assert_eq!(mode(&a.join("manifest.csv")), 0o644);
}

#[test]
fn acme_per_profile_client_identifiers_are_unique_per_profile() {
    if !have_tool("python3", "python3") {
        return;
    }
    let ws = acme_workspace("client_identifier = \"per-profile\"");
    let mut ids = Vec::new();
    for (i, id) in ["alice@contoso.com", "alice@contoso.com", "bob@contoso.com"]
        .iter()
        .enumerate()
    {
        let plist = profile(
            &ws,
            &["user", "--managed-apple-id", id],
            &format!("{i}.mobileconfig"),
        );
        assert_eq!(
            plist["PayloadContent"][1]["PayloadType"],
            "com.apple.security.acme"
        );
        ids.push(split_secret(plist).0);
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "{ids:?}");
    let rows = secret_rows(&ws);
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.1 == "acme-client-identifier"));
}

#[test]
fn static_secrets_from_a_variable_or_a_file_stay_reproducible_and_private() {
    if !have_tool("python3", "python3") {
        return;
    }
    let var = "ASPEN_TEST_SCEP_CHALLENGE";
    let ws = workspace(&format!("challenge_env = \"{var}\""));
    let settings = ws.settings();
    let run = |name: &str| {
        let out = ws.path(name);
        ok(aspen_env(
            &[
                "profile",
                "device",
                "-c",
                settings.to_str().unwrap(),
                "--unsigned",
                "-o",
                out.to_str().unwrap(),
            ],
            &[(var, "from-the-environment")],
        ));
        std::fs::read(&out).unwrap()
    };
    let first = run("a.mobileconfig");
    assert_eq!(
        first,
        run("b.mobileconfig"),
        "static secrets: byte-identical"
    );
    assert_eq!(
        split_secret(plistlib_json(&first)).0,
        "from-the-environment"
    );
    assert_eq!(mode(&ws.path("a.mobileconfig")), 0o600);
    // Nothing recorded for a static secret.
    assert!(secret_rows(&ws).is_empty());

    let ws = workspace("challenge_file = \"challenge.txt\"");
    std::fs::write(ws.path("challenge.txt"), "from-a-file\n").unwrap();
    let plist = profile(&ws, &["device"], "c.mobileconfig");
    assert_eq!(split_secret(plist).0, "from-a-file");
    assert_eq!(mode(&ws.path("c.mobileconfig")), 0o600);
}

/// Runs `profile device` and asserts exit 1, one message, and no file left.
fn refused(ws: &Workspace, env: &[(&str, &str)]) -> String {
    let settings = ws.settings();
    let out = ws.path("out.mobileconfig");
    let before = ws.files();
    let err = fails(aspen_env(
        &[
            "profile",
            "device",
            "-c",
            settings.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        env,
    ));
    assert_eq!(ws.files(), before, "no output (or temp) file may be left");
    assert_eq!(err.lines().count(), 1, "one clear message: {err}");
    err
}

#[test]
fn secret_errors_name_the_key_never_the_value() {
    let line = |ws: &Workspace, needle: &str| {
        std::fs::read_to_string(ws.settings())
            .unwrap()
            .lines()
            .position(|l| l.contains(needle))
            .unwrap()
            + 1
    };
    let ws = workspace("challenge_env = \"ASPEN_TEST_NOT_SET_ANYWHERE\"");
    let err = refused(&ws, &[]);
    let at = line(&ws, "challenge_env");
    assert!(
        err.contains(&format!(
            "aspen.toml:{at}: identity.challenge_env = \"ASPEN_TEST_NOT_SET_ANYWHERE\": the environment variable is not set"
        )),
        "{err}"
    );
    let ws = workspace("challenge_env = \"ASPEN_TEST_BAD_CHALLENGE\"");
    let err = refused(&ws, &[("ASPEN_TEST_BAD_CHALLENGE", "hunter2\u{7}")]);
    assert!(
        err.contains("identity.challenge_env: must be non-empty text"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    let ws = workspace("challenge_file = \"nowhere.txt\"");
    let err = refused(&ws, &[]);
    assert!(
        err.contains("identity.challenge_file = \"nowhere.txt\": cannot read"),
        "{err}"
    );
    let ws = workspace("challenge = \"hunter2\"\nchallenge_file = \"c.txt\"");
    let err = refused(&ws, &[]);
    assert!(
        err.contains("identity.challenge_file: give one of identity.challenge, identity.challenge_env or identity.challenge_file")
            && !err.contains("hunter2"),
        "{err}"
    );
    let ws = acme_workspace("client_identifier_file = \"id.txt\"");
    std::fs::write(ws.path("id.txt"), "\n").unwrap();
    let err = refused(&ws, &[]);
    assert!(
        err.contains("identity.client_identifier_file: must be non-empty text"),
        "{err}"
    );
    // Per-profile without a store is refused at load.
    let ws = Workspace::new(&demo_settings().replace(
        "challenge = \"demo-challenge-not-secret\"",
        "challenge = \"per-profile\"",
    ));
    let err = refused(&ws, &[]);
    assert!(
        err.contains("identity.challenge = \"per-profile\": needs a store"),
        "{err}"
    );
}

/// Signs `user` in to the portal with a one-time code, as a browser does;
/// returns the cookie header for later requests.
async fn portal_session(s: &server::Server, user: &str) -> String {
    let code = s.invite(user);
    let res = server::client()
        .get(format!("{}/signin", s.url))
        .send()
        .await
        .unwrap();
    let csrf = server::set_cookie(&res, "aspen_csrf").unwrap();
    let html = res.text().await.unwrap();
    let res = server::client()
        .post(format!("{}/signin", s.url))
        .header("cookie", &csrf)
        .form(&[
            ("csrf", server::field(&html, "csrf").as_str()),
            ("code", &code),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let session = server::set_cookie(&res, "aspen_session").unwrap();
    format!("{csrf}; {session}")
}

#[tokio::test]
async fn every_download_from_the_portal_carries_a_fresh_recorded_challenge() {
    if !have_tool("openssl", "openssl") || !have_tool("python3", "python3") {
        return;
    }
    // Every download recorded: no repeat window (within one, the same
    // session gets the same bytes again; tests/hardening.rs).
    let s = server::Server::start_edited(&|text| {
        text.replace(
            "challenge = \"demo-challenge-not-secret\"",
            "challenge = \"per-profile\"",
        ) + "\n[serve]\ndownload_repeat_window = 0\n"
    });
    let cookie = portal_session(&s, "bob@contoso.com").await;
    let mut challenges = Vec::new();
    let mut hashes = Vec::new();
    for i in 0..2 {
        let res = server::client()
            .get(format!("{}/enroll/profile.mobileconfig", s.url))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let bytes = res.bytes().await.unwrap().to_vec();
        let path = s.ws.path(&format!("bob-{i}.mobileconfig"));
        std::fs::write(&path, &bytes).unwrap();
        let xml = openssl_verify(&path, &cert("ca.pem")).expect("openssl cms -verify");
        challenges.push(split_secret(plistlib_json(&xml)).0);
        hashes.push(aspen::audit::sha256_hex(&bytes));
    }
    assert_ne!(challenges[0], challenges[1], "no download is served twice");
    let rows = secret_rows(&s.ws);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.2.as_deref() == Some("bob@contoso.com"))
    );
    let out = ok(aspen(&[
        "issued",
        "-c",
        s.ws.settings().to_str().unwrap(),
        "--user",
        "bob@contoso.com",
        "--json",
    ]));
    let issued: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
    let recorded: Vec<&str> = issued
        .iter()
        .filter(|r| r["event"] == "issued")
        .map(|r| r["sha256"].as_str().unwrap())
        .collect();
    assert_eq!(recorded, hashes);
}

// ---- aspen scep-verify ----

/// The challenge of a new profile for bob in `ws` (written to `name`).
fn issued_challenge(ws: &Workspace, name: &str) -> String {
    let plist = profile(ws, &["for", "--user", "bob@contoso.com"], name);
    split_secret(plist).0
}

/// A CSR made by `openssl req` for subject CN=`cn`, with `challenge` as its
/// challengePassword when given; DER or PEM, written to `name`.
pub fn csr(
    ws: &Workspace,
    name: &str,
    cn: &str,
    challenge: Option<&str>,
    pem: bool,
    printable: bool,
) -> std::path::PathBuf {
    let config = ws.path(&format!("{name}.cnf"));
    let mut text = String::from("[req]\nprompt = no\ndistinguished_name = dn\n");
    if printable {
        text.push_str("string_mask = nombstr\n");
    }
    if challenge.is_some() {
        text.push_str("attributes = attrs\n");
    }
    text.push_str(&format!("[dn]\nCN = {cn}\n"));
    if let Some(c) = challenge {
        text.push_str(&format!("[attrs]\nchallengePassword = {c}\n"));
    }
    std::fs::write(&config, text).unwrap();
    let out = ws.path(name);
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
        ])
        .arg(ws.path(&format!("{name}.key")))
        .arg("-config")
        .arg(&config)
        .args(["-outform", if pem { "PEM" } else { "DER" }, "-out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    out
}

/// `aspen scep-verify -c aspen.toml FILE`: (exit status, stderr).
pub fn scep_verify(ws: &Workspace, file: &std::path::Path) -> (i32, String) {
    let out = aspen(&[
        "scep-verify",
        "-c",
        ws.settings().to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    (out.status.code().unwrap(), stderr(&out))
}

/// The audit rows of scep-verify's checks, as `aspen issued --json` lists them.
pub fn checks(ws: &Workspace) -> (Vec<serde_json::Value>, String) {
    let out = ok(aspen(&[
        "issued",
        "-c",
        ws.settings().to_str().unwrap(),
        "--json",
    ]));
    let text = String::from_utf8(out).unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let checks = rows
        .into_iter()
        .filter(|r| r["channel"] == "scep")
        .collect();
    (checks, text)
}

#[test]
fn scep_verify_accepts_an_issued_challenge_exactly_once() {
    if !have_tool("openssl", "openssl") || !have_tool("python3", "python3") {
        return;
    }
    let ws = workspace("challenge = \"per-profile\"");
    let challenge = issued_challenge(&ws, "bob.mobileconfig");
    let der = csr(&ws, "bob.der", "bob-iphone", Some(&challenge), false, false);
    let (code, err) = scep_verify(&ws, &der);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("accepted") && err.contains("bob@contoso.com"),
        "{err}"
    );
    // The same request again, and another request with the same challenge.
    let (code, err) = scep_verify(&ws, &der);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("refused: the challenge was already used"),
        "{err}"
    );
    let again = csr(
        &ws,
        "again.der",
        "bob-iphone",
        Some(&challenge),
        false,
        true,
    );
    let (code, err2) = scep_verify(&ws, &again);
    assert_eq!(code, 1, "{err2}");
    for e in [&err, &err2] {
        assert!(
            !e.contains(&challenge),
            "the challenge is never printed: {e}"
        );
    }
    let (rows, text) = checks(&ws);
    assert!(
        !text.contains(&challenge),
        "the challenge is never recorded"
    );
    let events: Vec<&str> = rows.iter().map(|r| r["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        ["secret-accepted", "secret-refused", "secret-refused"]
    );
    let uuid =
        plistlib_json(&std::fs::read(ws.path("bob.mobileconfig")).unwrap())["PayloadUUID"].clone();
    for r in &rows {
        // Accepted or reused: the issued secret's user and profile are known.
        assert_eq!(r["user"], "bob@contoso.com", "{r}");
        assert_eq!(r["payload_uuid"], uuid, "{r}");
        assert_eq!(r["subject"], "CN=bob-iphone", "{r}");
    }
    assert_eq!(rows[0]["reason"], serde_json::Value::Null);
    assert_eq!(rows[1]["reason"], "the challenge was already used");
}

#[test]
fn scep_verify_reads_pem_and_standard_input() {
    if !have_tool("openssl", "openssl") || !have_tool("python3", "python3") {
        return;
    }
    let ws = workspace("challenge = \"per-profile\"");
    let settings = ws.settings();
    // PEM from a file.
    let challenge = issued_challenge(&ws, "one.mobileconfig");
    let pem = csr(&ws, "one.pem", "one", Some(&challenge), true, false);
    assert!(
        std::fs::read_to_string(&pem)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE REQUEST-----")
    );
    assert_eq!(scep_verify(&ws, &pem).0, 0);
    // DER on standard input, as micromdm/scep's -csrverifierexec sends it,
    // without and with '-'.
    for (i, dash) in [false, true].into_iter().enumerate() {
        let challenge = issued_challenge(&ws, &format!("stdin{i}.mobileconfig"));
        let der = csr(
            &ws,
            &format!("stdin{i}.der"),
            "stdin",
            Some(&challenge),
            false,
            i == 1,
        );
        let bytes = std::fs::read(&der).unwrap();
        let mut args = vec!["scep-verify", "-c", settings.to_str().unwrap()];
        if dash {
            args.push("-");
        }
        let out = aspen_stdin(&args, &bytes);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let out = aspen_stdin(&args, &bytes);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(!stderr(&out).contains(&challenge));
        // PEM on standard input too.
        let challenge = issued_challenge(&ws, &format!("stdin-pem{i}.mobileconfig"));
        let pem = csr(
            &ws,
            &format!("stdin{i}.pem"),
            "stdin",
            Some(&challenge),
            true,
            false,
        );
        let out = aspen_stdin(&args, &std::fs::read(&pem).unwrap());
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
}

#[test]
fn two_requests_with_one_challenge_at_once_one_wins() {
    if !have_tool("openssl", "openssl") || !have_tool("python3", "python3") {
        return;
    }
    let ws = workspace("challenge = \"per-profile\"");
    let challenge = issued_challenge(&ws, "race.mobileconfig");
    let a = csr(&ws, "a.der", "a", Some(&challenge), false, false);
    let b = csr(&ws, "b.der", "b", Some(&challenge), false, false);
    let settings = ws.settings();
    let spawn = |file: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_aspen"))
            .args(["scep-verify", "-c", settings.to_str().unwrap()])
            .arg(file)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(&a), spawn(&b));
    let mut codes: Vec<i32> = [first, second]
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().status.code().unwrap())
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [0, 1],
        "exactly one of two concurrent checks accepts"
    );
    let (rows, _) = checks(&ws);
    let accepted = rows
        .iter()
        .filter(|r| r["event"] == "secret-accepted")
        .count();
    assert_eq!((accepted, rows.len()), (1, 2));
}

#[test]
fn scep_verify_refuses_unknown_expired_missing_and_garbage_with_status_1() {
    if !have_tool("openssl", "openssl") || !have_tool("python3", "python3") {
        return;
    }
    let ws = workspace("challenge = \"per-profile\"");
    // Unknown: a challenge aspen never issued.
    let unknown = "UNKNOWN0000000000000000000000000";
    let file = csr(&ws, "unknown.der", "u", Some(unknown), false, false);
    let (code, err) = scep_verify(&ws, &file);
    assert_eq!(code, 1);
    assert!(
        err.contains("refused: the challenge is not one aspen issued") && !err.contains(unknown),
        "{err}"
    );
    // Missing: no challengePassword attribute.
    let file = csr(&ws, "none.der", "n", None, false, false);
    let (code, err) = scep_verify(&ws, &file);
    assert_eq!(code, 1);
    assert!(
        err.contains("refused: the CSR has no challengePassword"),
        "{err}"
    );
    // Expired: recorded (by the library, as aspen does) with an expiry in
    // the past.
    let expired = "EXPIRED0000000000000000000000000";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use aspen::store::Secrets as _;
        let store = aspen::store::sqlite::Sqlite::open(&ws.path("state"))
            .await
            .unwrap();
        let keys = aspen::tokens::Keys::from_bytes(&[0x5a; 32]).unwrap();
        let kind = aspen::secret::SecretKind::ScepChallenge;
        let lookup = keys.secret_lookup(kind, &aspen::secret::Secret::new(expired.into()));
        let now = aspen::audit::now();
        store
            .add_secrets(
                vec![aspen::secret::IssuedSecret {
                    lookup: lookup.to_vec(),
                    kind,
                    user: Some("carol@contoso.com".into()),
                    payload_uuid: "EXPIRED-PROFILE".into(),
                    expires: now - 60,
                    serial: None,
                    udid: None,
                }],
                now - 3600,
            )
            .await
            .unwrap();
    });
    let file = csr(&ws, "expired.der", "e", Some(expired), false, false);
    let (code, err) = scep_verify(&ws, &file);
    assert_eq!(code, 1);
    assert!(
        err.contains("refused: the challenge has expired") && !err.contains(expired),
        "{err}"
    );
    // Not a CSR at all, and a truncated one.
    let garbage = ws.path("garbage.der");
    std::fs::write(&garbage, b"\x30\x82\x01\x00 not a request").unwrap();
    let (code, err) = scep_verify(&ws, &garbage);
    assert_eq!(code, 1);
    assert!(err.contains("refused: not a CSR"), "{err}");
    let whole = std::fs::read(csr(&ws, "cut.der", "c", Some(unknown), false, false)).unwrap();
    std::fs::write(&garbage, &whole[..whole.len() / 2]).unwrap();
    assert_eq!(scep_verify(&ws, &garbage).0, 1);
    let (rows, text) = checks(&ws);
    for secret in [unknown, expired] {
        assert!(!text.contains(secret), "never recorded");
    }
    let reasons: Vec<&str> = rows.iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert_eq!(
        reasons,
        [
            "the challenge is not one aspen issued",
            "the CSR has no challengePassword",
            "the challenge has expired",
            "not a CSR (a PKCS#10 certificate request, DER or PEM)",
            "not a CSR (a PKCS#10 certificate request, DER or PEM)",
        ]
    );
    assert_eq!(rows[2]["user"], "carol@contoso.com");
    assert_eq!(rows[2]["payload_uuid"], "EXPIRED-PROFILE");
    assert_eq!(rows[2]["subject"], "CN=e");
    assert_eq!(rows[0]["user"], serde_json::Value::Null);
}

#[test]
fn scep_verify_exits_2_when_aspen_itself_cannot_check() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let ws = workspace("challenge = \"per-profile\"");
    let file = csr(&ws, "r.der", "r", Some("ANY"), false, false);
    let run = |config: &std::path::Path| {
        let out = aspen(&[
            "scep-verify",
            "-c",
            config.to_str().unwrap(),
            file.to_str().unwrap(),
        ]);
        (out.status.code().unwrap(), stderr(&out))
    };
    // No settings file.
    let (code, err) = run(&ws.path("missing.toml"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("missing.toml"), "{err}");
    // A static challenge: nothing per-profile to check.
    let stat = workspace("challenge = \"static-one\"");
    let (code, err) = run(&stat.settings());
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("challenge = \"per-profile\"") && !err.contains("static-one"),
        "{err}"
    );
    // The store cannot be opened (its folder is a file).
    let broken = workspace("challenge = \"per-profile\"");
    std::fs::write(broken.path("state"), "not a folder").unwrap();
    let (code, err) = run(&broken.settings());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("[store]"), "{err}");
    // The portal key is missing.
    let nokey = workspace("challenge = \"per-profile\"");
    std::fs::remove_file(nokey.path("portal.secret")).unwrap();
    let (code, err) = run(&nokey.settings());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("portal.secret"), "{err}");
}
