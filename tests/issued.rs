//! `aspen issued` filters: --since/--until (RFC 3339 or a duration before
//! now), --event, --channel, --profile, --limit, each alone and together;
//! bad values are exit 2 naming the flag and the value; the default table
//! is the narrow one, --wide and --json the full row. The rows are written
//! by python3's sqlite3 module (an independent writer), at times the test
//! chooses.

use crate::common;
use crate::secrets::workspace;

use common::*;

const A: &str = "0A1B2C3D-0000-4000-8000-00000000000A";
const B: &str = "0A1B2C3D-0000-4000-8000-00000000000B";
const C: &str = "0A1B2C3D-0000-4000-8000-00000000000C";

/// A store holding: alice's profile A (January, portal), its challenge
/// refused (February, scep), a device's profile B (March, ade), bob's
/// profile C an hour ago (cli), and the `revoked` row of the command that
/// made the store (now).
fn store() -> Workspace {
    let ws = workspace("challenge = \"per-profile\"");
    let settings = ws.settings();
    ok(aspen(&[
        "revoke",
        "-c",
        settings.to_str().unwrap(),
        "--user",
        "nobody@contoso.com",
    ]));
    let script = r#"
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1])
A, B, C = sys.argv[2:5]
rows = [
    (1767225600, "issued", "portal", "alice@contoso.com", "user-byod", "personal", A, None, None),
    (1769904000, "secret-refused", "scep", "alice@contoso.com", None, None, A, None, "the challenge was already used"),
    (1772323200, "issued", "ade", None, "device-corporate", "corporate", B, "C02XK1ABJG5H", None),
    (int(time.time()) - 3600, "issued", "cli", "bob@contoso.com", "device-corporate", "corporate", C, None, None),
]
# The store's own rows keep their order: these go before them by id.
c.execute("UPDATE events SET id = id + 100")
for i, r in enumerate(rows):
    c.execute("INSERT INTO events (id, time, event, channel, user, kind, ownership, payload_uuid, serial, reason) VALUES (?,?,?,?,?,?,?,?,?,?)", (i + 1,) + r)
c.commit()
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(ws.path("state/aspen.sqlite3"))
        .args([A, B, C])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ws
}

/// `aspen issued --json ARGS`: (event, channel, payload UUID) of each row.
fn rows(ws: &Workspace, args: &[&str]) -> Vec<(String, String, String)> {
    let settings = ws.settings();
    let mut all = vec!["issued", "-c", settings.to_str().unwrap(), "--json"];
    all.extend_from_slice(args);
    let json: Vec<serde_json::Value> = serde_json::from_slice(&ok(aspen(&all))).unwrap();
    json.iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("-").to_owned();
            (s("event"), s("channel"), s("payload_uuid"))
        })
        .collect()
}

fn row(event: &str, channel: &str, uuid: &str) -> (String, String, String) {
    (event.into(), channel.into(), uuid.into())
}

#[test]
fn each_filter_narrows_the_rows_in_the_store() {
    if !have_tool("python3", "python3") {
        return;
    }
    let ws = store();
    let alice_issued = row("issued", "portal", A);
    let alice_refused = row("secret-refused", "scep", A);
    let device = row("issued", "ade", B);
    let bob = row("issued", "cli", C);
    let revoked = row("revoked", "cli", "-");
    assert_eq!(
        rows(&ws, &[]),
        [
            alice_issued.clone(),
            alice_refused.clone(),
            device.clone(),
            bob.clone(),
            revoked.clone()
        ]
    );
    assert_eq!(
        rows(
            &ws,
            &[
                "--since",
                "2026-01-15T00:00:00Z",
                "--until",
                "2026-03-01T01:00:00+01:00"
            ]
        ),
        [alice_refused.clone(), device.clone()],
        "both ends included; an offset counts"
    );
    assert_eq!(
        rows(&ws, &["--since", "2h"]),
        [bob.clone(), revoked.clone()]
    );
    assert_eq!(
        rows(&ws, &["--until", "30m"]),
        [
            alice_issued.clone(),
            alice_refused.clone(),
            device.clone(),
            bob.clone()
        ]
    );
    assert_eq!(
        rows(&ws, &["--event", "issued"]),
        [alice_issued.clone(), device.clone(), bob.clone()]
    );
    assert_eq!(rows(&ws, &["--channel", "ade"]), vec![device.clone()]);
    assert_eq!(
        rows(&ws, &["--profile", &A.to_ascii_lowercase()]),
        [alice_issued.clone(), alice_refused.clone()],
        "any case"
    );
    assert_eq!(
        rows(&ws, &["--limit", "2"]),
        [bob.clone(), revoked.clone()],
        "the newest two, oldest first"
    );
    assert_eq!(
        rows(
            &ws,
            &[
                "--event",
                "issued",
                "--user",
                "ALICE@contoso.com",
                "--limit",
                "5"
            ]
        ),
        vec![alice_issued.clone()]
    );
    assert_eq!(
        rows(&ws, &["--profile", B, "--serial", "c02xk1abjg5h"]),
        vec![device.clone()]
    );
    assert!(rows(&ws, &["--channel", "portal", "--event", "secret-refused"]).is_empty());
}

#[test]
fn the_default_table_is_narrow_and_wide_has_every_column() {
    if !have_tool("python3", "python3") {
        return;
    }
    let ws = store();
    let settings = ws.settings();
    let table = |extra: &[&str]| {
        let mut all = vec!["issued", "-c", settings.to_str().unwrap()];
        all.extend_from_slice(extra);
        String::from_utf8(ok(aspen(&all))).unwrap()
    };
    let narrow = table(&["--channel", "ade"]);
    let lines: Vec<&str> = narrow.lines().collect();
    assert_eq!(lines.len(), 2, "{narrow}");
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "2026-03-01T00:00:00Z",
            "issued",
            "ade",
            "-",
            "device-corporate",
            "corporate",
            B,
            "C02XK1ABJG5H",
            "-"
        ]
    );
    let wide = table(&["--channel", "ade", "--wide"]);
    let header = wide.lines().next().unwrap();
    for column in ["POLICY", "SHA-256", "CLIENT", "UDID", "GROUPS FROM"] {
        assert!(header.contains(column), "{header}");
        assert!(!narrow.contains(column), "{narrow}");
    }
    // The reason, last, is shown whole.
    let refused = table(&["--event", "secret-refused"]);
    assert!(
        refused
            .lines()
            .nth(1)
            .unwrap()
            .ends_with("  the challenge was already used"),
        "{refused}"
    );
    let out = aspen(&[
        "issued",
        "-c",
        settings.to_str().unwrap(),
        "--wide",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(2), "--wide is for the table");
}

#[test]
fn bad_filter_values_name_the_flag_and_the_value() {
    let ws = workspace("challenge = \"per-profile\"");
    let settings = ws.settings();
    for (flag, value, says) in [
        ("--since", "yesterday", "RFC 3339"),
        ("--since", "2026-02-30T00:00:00Z", "RFC 3339"),
        ("--until", "7y", "duration"),
        ("--until", "2026-05-01", "RFC 3339"),
        ("--event", "issue", "secret-refused"),
        ("--channel", "web", "account-driven"),
        ("--profile", "not-a-uuid", "PayloadUUID"),
        ("--limit", "0", "at least 1"),
        ("--limit", "ten", "whole number"),
    ] {
        let err = fails(aspen(&[
            "issued",
            "-c",
            settings.to_str().unwrap(),
            flag,
            value,
        ]));
        assert!(
            err.contains(flag) && err.contains(value) && err.contains(says),
            "{flag} {value}: {err}"
        );
    }
    let err = fails(aspen(&[
        "issued",
        "-c",
        settings.to_str().unwrap(),
        "--since",
        "2026-05-02T00:00:00Z",
        "--until",
        "2026-05-01T00:00:00Z",
    ]));
    assert!(
        err.contains("--since 2026-05-02T00:00:00Z is after --until 2026-05-01T00:00:00Z"),
        "{err}"
    );
}
