//! What scripts read: `invite --json`, the `bulk --json` summary and the
//! `issued` table's ownership column; every JSON time is RFC 3339 UTC.

use crate::common;
use common::*;
use std::path::Path;

/// `2026-12-01T22:09:47Z`.
fn is_rfc3339_utc(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// Demo settings with a portal, an audit store and its secret (0600).
fn with_portal() -> Workspace {
    let ws = Workspace::new(&format!(
        "{}\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nsecret_file = \"portal.secret\"\nstate_dir = \"state\"\n",
        demo_settings()
    ));
    let secret = ws.path("portal.secret");
    std::fs::write(&secret, "5a".repeat(32) + "\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    ws
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Unix seconds of an RFC 3339 UTC time (days from civil, independent of
/// aspen's own calendar code).
fn unix(t: &str) -> i64 {
    let n = |a: usize, b: usize| t[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let (y, m) = if m <= 2 { (y - 1, m + 12) } else { (y, m) };
    let days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * (m - 3) + 2) / 5 + d - 719_469;
    days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)
}

#[test]
fn invite_json_gives_link_code_user_policy_and_expiry() {
    let ws = with_portal();
    let config = ws.settings();
    let before = now();
    let out = ok(aspen(&[
        "invite",
        "-c",
        config.to_str().unwrap(),
        "--user",
        "bob@contoso.com",
        "--ttl",
        "12h",
        "--json",
    ]));
    let after = now();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["link"], "https://enroll.contoso.com/signin");
    assert_eq!(v["user"], "bob@contoso.com");
    assert_eq!(v["policy"]["type"], "device", "{v:#}");
    assert!(v["policy"]["name"].as_str().is_some_and(|n| !n.is_empty()));
    assert_eq!(v["uses"], 1);
    let code = v["code"].as_str().unwrap();
    assert!(code.len() >= 8, "{code}");
    let expires = v["expires"].as_str().unwrap();
    assert!(is_rfc3339_utc(expires), "{expires}");
    let at = unix(expires);
    assert!(
        (before + 12 * 3600..=after + 12 * 3600).contains(&at),
        "{expires}"
    );
    // The text form names the same link.
    let text = String::from_utf8(ok(aspen(&[
        "invite",
        "-c",
        config.to_str().unwrap(),
        "--user",
        "bob@contoso.com",
    ])))
    .unwrap();
    assert!(text.contains("Sign-in link: https://enroll.contoso.com/signin"));
}

#[test]
fn bulk_json_summarises_the_run() {
    let ws = with_portal();
    std::fs::write(
        ws.path("users.csv"),
        "email,managed_apple_id,groups\n\
         bob@contoso.com,bob@contoso.com,Leadership\n\
         alice@contoso.com,alice@contoso.com,Staff\n\
         ,nobody@contoso.com,Contractors\n\
         carol@contoso.com,carol@contoso.com,Contractors\n",
    )
    .unwrap();
    let out_dir = ws.path("out");
    let run = aspen(&[
        "bulk",
        "-c",
        ws.settings().to_str().unwrap(),
        "--users",
        ws.path("users.csv").to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--unsigned",
        "--json",
    ]);
    // A failed row still exits 1, after the summary.
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(v["written"], 2, "{v:#}");
    assert_eq!(v["signed"], false);
    assert_eq!(v["out_dir"], out_dir.display().to_string());
    assert_eq!(
        v["manifest"],
        out_dir.join("manifest.csv").display().to_string()
    );
    assert!(Path::new(v["manifest"].as_str().unwrap()).is_file());
    assert_eq!(v["waiting"].as_array().unwrap().len(), 1);
    assert_eq!(v["waiting"][0]["line"], 3);
    assert_eq!(v["waiting"][0]["user"], "alice@contoso.com");
    assert_eq!(v["failed"].as_array().unwrap().len(), 1);
    assert_eq!(v["failed"][0]["line"], 4);
    assert!(
        v["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("email is missing")
    );
    for key in ["started", "finished"] {
        let t = v[key].as_str().unwrap();
        assert!(is_rfc3339_utc(t), "{key} = {t}");
    }
    assert!(unix(v["started"].as_str().unwrap()) <= unix(v["finished"].as_str().unwrap()));

    // issued lists both, with their ownership, in a column of its own:
    // every column with --wide, the ones to scan by default.
    let narrow = String::from_utf8(ok(aspen(&[
        "issued",
        "-c",
        ws.settings().to_str().unwrap(),
    ])))
    .unwrap();
    let narrow_columns: Vec<&str> = narrow
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        narrow_columns,
        [
            "TIME",
            "EVENT",
            "CHANNEL",
            "USER",
            "KIND",
            "OWNERSHIP",
            "PROFILE",
            "SERIAL",
            "REASON"
        ]
    );
    let at = narrow.lines().next().unwrap().find("OWNERSHIP").unwrap();
    assert_eq!(narrow.lines().count(), 3, "{narrow}");
    let table = String::from_utf8(ok(aspen(&[
        "issued",
        "-c",
        ws.settings().to_str().unwrap(),
        "--wide",
    ])))
    .unwrap();
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    let columns: Vec<&str> = header
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        columns,
        [
            "TIME",
            "EVENT",
            "CHANNEL",
            "USER",
            "POLICY",
            "CHOICE",
            "KIND",
            "OWNERSHIP",
            "PAYLOAD UUID",
            "SHA-256",
            "CLIENT",
            "SUBJECT",
            "REASON",
            "SERIAL",
            "UDID",
            "PRODUCT",
            "OS",
            "GROUPS",
            "GROUPS FROM"
        ]
    );
    let wide_at = header.find("OWNERSHIP").unwrap();
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{table}");
    let json: Vec<serde_json::Value> = serde_json::from_slice(&ok(aspen(&[
        "issued",
        "-c",
        ws.settings().to_str().unwrap(),
        "--json",
    ])))
    .unwrap();
    for ((row, short), entry) in rows.iter().zip(narrow.lines().skip(1)).zip(&json) {
        let ownership = entry["ownership"].as_str().unwrap();
        assert!(["corporate", "personal"].contains(&ownership), "{entry:#}");
        assert!(row[wide_at..].starts_with(ownership), "{row}");
        assert!(short[at..].starts_with(ownership), "{short}");
        assert!(is_rfc3339_utc(entry["time"].as_str().unwrap()));
    }
    // bob (Leadership → device policy) is corporate; carol (User Enrollment) personal.
    let of = |user: &str| {
        json.iter()
            .find(|e| e["user"] == user)
            .map(|e| e["ownership"].as_str().unwrap().to_owned())
    };
    assert_eq!(of("bob@contoso.com").as_deref(), Some("corporate"));
    assert_eq!(of("carol@contoso.com").as_deref(), Some("personal"));
}
