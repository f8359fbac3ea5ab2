//! `aspen lint`: the corpus in fixtures/profiles (one broken thing per file,
//! made by make-profiles.py), the User Enrollment rules, Apple's schema, and
//! every profile aspen generates linting clean.

use crate::common;
use common::*;
use std::path::PathBuf;

/// Apple's schema beside the repository, when present (CI has it); when
/// absent, a loud skip (a failure under CI=true, see `common::skip_or_fail`).
/// The built-in facts need none of it: only the checks against Apple's
/// files themselves skip.
fn schema_dir() -> Option<PathBuf> {
    let dir = common::schema_dir();
    if dir.is_none() {
        common::skip_or_fail(&format!(
            "{} is absent, so the checks against Apple's YAML did not run",
            root().join("../shared/apple-device-management").display()
        ));
    }
    dir
}

fn profile(name: &str) -> String {
    fixture(&format!("profiles/{name}.mobileconfig"))
        .display()
        .to_string()
}

/// Lints with `args`, returns (exit code, [(code, path)] sorted).
fn lint(args: &[&str]) -> (i32, Vec<(String, String)>) {
    let mut all = vec!["lint", "--json"];
    all.extend_from_slice(args);
    let out = aspen(&all);
    let code = out.status.code().expect("exit code");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("lint {args:?} printed no JSON ({e}): {}", stderr(&out)));
    let mut findings: Vec<(String, String)> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["findings"].as_array().unwrap().clone())
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_owned(),
                f["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    findings.sort();
    (code, findings)
}

/// A fixture, its expected exit status and findings (code, path).
type Case = (&'static str, i32, &'static [(&'static str, &'static str)]);

fn codes(findings: &[(String, String)]) -> Vec<&str> {
    findings.iter().map(|(c, _)| c.as_str()).collect()
}

/// Every broken profile: the exact findings (code at path) and exit status
/// of the built-in rules.
#[test]
fn corpus_gives_exact_codes_and_exit_status() {
    let cases: &[Case] = &[
        ("ok-device", 0, &[]),
        ("ok-device-binary", 0, &[]),
        ("ok-byod", 0, &[]),
        ("ok-acme", 0, &[]),
        ("ok-pkcs12-identity", 0, &[]),
        // Per-app VPN is allowed under User Enrollment; in an enrollment
        // profile it is still more than enrollment needs.
        ("ok-byod-per-app-vpn", 0, &[("ASP037", "PayloadContent")]),
        ("garbage", 1, &[("ASP000", "")]),
        ("key-where-a-value-belongs", 1, &[("ASP000", "")]),
        ("string-where-a-key-belongs", 1, &[("ASP000", "")]),
        ("key-without-value", 1, &[("ASP000", "")]),
        ("not-a-dictionary", 1, &[("ASP001", "")]),
        ("missing-profile-uuid", 1, &[("ASP002", "PayloadUUID")]),
        ("version-is-a-string", 1, &[("ASP003", "PayloadVersion")]),
        ("wrong-top-level-type", 1, &[("ASP004", "PayloadType")]),
        (
            "payload-version-2",
            1,
            &[("ASP004", "PayloadContent[2].PayloadVersion")],
        ),
        (
            "identity-uuid-not-a-uuid",
            1,
            &[("ASP005", "PayloadContent[2].IdentityCertificateUUID")],
        ),
        (
            "duplicate-payload-uuid",
            1,
            &[("ASP006", "PayloadContent[2].PayloadUUID")],
        ),
        (
            "duplicate-payload-identifier",
            1,
            &[("ASP007", "PayloadContent[2].PayloadIdentifier")],
        ),
        (
            "misspelled-key",
            1,
            &[
                ("ASP002", "PayloadContent[2].ServerURL"),
                ("ASP008", "PayloadContent[2].ServerUrl"),
            ],
        ),
        // Apple asks only for a unique PayloadUUID: any non-empty string,
        // `<reverse-DNS>.<UUID>` (Jamf's mSCP, Kandji) included; an empty one
        // is a warning, and a repeated one still an error.
        ("profile-uuid-not-a-uuid", 0, &[]),
        ("payload-uuid-reverse-dns", 0, &[]),
        ("profile-uuid-empty", 0, &[("ASP009", "PayloadUUID")]),
        (
            "payload-uuid-reverse-dns-duplicate",
            1,
            &[("ASP006", "PayloadContent[1].PayloadUUID")],
        ),
        (
            "duplicate-key",
            0,
            &[("ASP012", "PayloadContent[2].SignMessage")],
        ),
        (
            "encrypted-garbage",
            1,
            &[("ASP013", "EncryptedPayloadContent")],
        ),
        ("no-payloads", 0, &[("ASP014", "PayloadContent")]),
        (
            "identity-uuid-dangling",
            1,
            &[("ASP020", "PayloadContent[2].IdentityCertificateUUID")],
        ),
        (
            "identity-uuid-points-at-root",
            1,
            &[("ASP021", "PayloadContent[2].IdentityCertificateUUID")],
        ),
        (
            "pinning-points-at-scep",
            1,
            &[(
                "ASP021",
                "PayloadContent[2].ServerURLPinningCertificateUUIDs[0]",
            )],
        ),
        (
            "topic-without-prefix",
            1,
            &[("ASP022", "PayloadContent[2].Topic")],
        ),
        (
            "server-url-http",
            1,
            &[("ASP023", "PayloadContent[2].ServerURL")],
        ),
        (
            "access-rights-2-without-1",
            1,
            &[("ASP024", "PayloadContent[2].AccessRights")],
        ),
        (
            "server-capability-unknown",
            1,
            &[("ASP025", "PayloadContent[2].ServerCapabilities")],
        ),
        ("two-mdm-payloads", 1, &[("ASP026", "PayloadContent[3]")]),
        (
            "mdm-without-per-user-connections",
            0,
            &[("ASP062", "PayloadContent[2].ServerCapabilities")],
        ),
        (
            "scep-url-with-query",
            0,
            &[("ASP063", "PayloadContent[1].PayloadContent.URL")],
        ),
        (
            "byod-without-assigned-id",
            1,
            &[("ASP030", "PayloadContent[2].AssignedManagedAppleID")],
        ),
        (
            "byod-with-access-rights",
            1,
            &[("ASP031", "PayloadContent[2].AccessRights")],
        ),
        (
            "legacy-managed-apple-id",
            0,
            &[("ASP032", "PayloadContent[2].ManagedAppleID")],
        ),
        (
            "adde-without-assigned-id",
            1,
            &[("ASP033", "PayloadContent[2].AssignedManagedAppleID")],
        ),
        (
            "managed-apple-id-malformed",
            1,
            &[("ASP034", "PayloadContent[2].AssignedManagedAppleID")],
        ),
        (
            "assigned-id-without-mode",
            0,
            &[("ASP035", "PayloadContent[2].AssignedManagedAppleID")],
        ),
        (
            "managed-apple-id-with-mode",
            1,
            &[("ASP036", "PayloadContent[2].ManagedAppleID")],
        ),
        (
            "acme-rsa-hardware-bound",
            1,
            &[("ASP040", "PayloadContent[1].HardwareBound")],
        ),
        (
            "scep-keysize-512",
            1,
            &[("ASP041", "PayloadContent[1].PayloadContent.Keysize")],
        ),
        (
            "scep-subject-malformed",
            1,
            &[("ASP042", "PayloadContent[1].PayloadContent.Subject")],
        ),
        (
            "root-not-a-certificate",
            1,
            &[("ASP043", "PayloadContent[0].PayloadContent")],
        ),
        (
            "byod-device-vpn",
            1,
            &[
                ("ASP037", "PayloadContent"),
                ("ASP050", "PayloadContent[3]"),
            ],
        ),
        (
            "byod-removal-disallowed",
            1,
            &[("ASP051", "PayloadRemovalDisallowed")],
        ),
        // A duplicate key (a warning) hides no error elsewhere or at its own path.
        (
            "byod-device-vpn-duplicate-nested-key",
            1,
            &[
                ("ASP012", "PayloadContent[1].PayloadContent"),
                ("ASP037", "PayloadContent"),
                ("ASP050", "PayloadContent[3]"),
            ],
        ),
        (
            "byod-removal-disallowed-twice",
            1,
            &[
                ("ASP012", "PayloadRemovalDisallowed"),
                ("ASP051", "PayloadRemovalDisallowed"),
            ],
        ),
        // allowScreenShot is allowed under User Enrollment; allowCamera is not.
        (
            "byod-restrictions",
            1,
            &[
                ("ASP037", "PayloadContent"),
                ("ASP051", "PayloadContent[3].allowCamera"),
            ],
        ),
        (
            "byod-passcode-ignored",
            0,
            &[
                ("ASP037", "PayloadContent"),
                ("ASP052", "PayloadContent[3].minLength"),
            ],
        ),
        // Keys Apple marks required that Apple's Profile Manager leaves out
        // (Dock tile-data `label`/`file-type`, Screen Saver `moduleName`):
        // a note each, not an error; what it writes stays required.
        (
            "pm-dock-partial-tiles",
            0,
            &[
                ("ASP019", "PayloadContent[0].static-apps[0].tile-data.label"),
                (
                    "ASP019",
                    "PayloadContent[0].static-apps[1].tile-data.file-type",
                ),
                (
                    "ASP019",
                    "PayloadContent[0].static-others[0].tile-data.file-type",
                ),
                (
                    "ASP019",
                    "PayloadContent[0].static-others[0].tile-data.label",
                ),
            ],
        ),
        (
            "pm-screensaver-idle-time",
            0,
            &[("ASP019", "PayloadContent[0].moduleName")],
        ),
        (
            "dock-tile-without-type",
            1,
            &[("ASP002", "PayloadContent[0].static-apps[0].tile-type")],
        ),
        // No MDM payload: device rules unless --enrollment user (below).
        ("restrictions-camera", 0, &[]),
        ("global-http-proxy", 0, &[]),
        // Without --platform/--min-os, no platform or version rules (the
        // payload type removed on every OS is the usual note).
        ("targets-macos", 0, &[("ASP018", "PayloadContent[0]")]),
        // Enrollment payloads: certificates however many; one identity.
        ("enrollment-with-intermediate", 0, &[]),
        (
            "enrollment-second-identity",
            0,
            &[("ASP037", "PayloadContent")],
        ),
        ("custom-payload-type", 0, &[("ASP017", "PayloadContent[0]")]),
    ];
    let mut failures = Vec::new();
    for (name, want_exit, want) in cases {
        let (exit, got) = lint(&[&profile(name)]);
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(c, p)| ((*c).to_owned(), (*p).to_owned()))
            .collect();
        if exit != *want_exit || got != want {
            failures.push(format!(
                "{name}: exit {exit}, {got:?}; want exit {want_exit}, {want:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    // Every fixture file is covered by a case (or by the schema cases).
    for entry in std::fs::read_dir(fixture("profiles")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".mobileconfig") {
            assert!(
                cases.iter().any(|(n, _, _)| *n == stem) || stem.starts_with("schema-"),
                "fixture {name} has no expected result"
            );
        }
    }
}

#[test]
fn enrollment_flag_forces_or_skips_the_user_enrollment_rules() {
    let (exit, f) = lint(&["--enrollment", "user", &profile("restrictions-camera")]);
    assert_eq!((exit, codes(&f)), (1, vec!["ASP051"]));
    let (exit, f) = lint(&["--enrollment", "user", &profile("global-http-proxy")]);
    assert_eq!((exit, codes(&f)), (1, vec!["ASP050"]));
    let (exit, f) = lint(&["--enrollment", "device", &profile("byod-restrictions")]);
    assert_eq!((exit, codes(&f)), (0, vec!["ASP037"]));
}

#[test]
fn text_output_names_code_severity_path_and_payload() {
    let out = aspen(&[
        "lint",
        &profile("byod-with-access-rights"),
        &profile("ok-device"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        text.contains(
            "error   ASP031 PayloadContent[2].AccessRights [com.apple.mdm]: must be absent"
        ),
        "{text}"
    );
    assert!(
        text.contains("ok-device.mobileconfig: ok (device enrollment)"),
        "{text}"
    );
    assert!(
        text.contains("2 file(s): 1 error(s), 0 warning(s)"),
        "{text}"
    );
    assert!(stderr(&out).contains("aspen: error: 1 error(s) in 1 file(s)"));
    // A duplicate key inside a payload names that payload.
    let out = aspen(&["lint", &profile("byod-device-vpn-duplicate-nested-key")]);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        text.contains(
            "warning ASP012 PayloadContent[1].PayloadContent [com.apple.security.scep]: this key appears twice in its dictionary"
        ),
        "{text}"
    );
}

/// Text output starts each finding with `line:column` of its key, as the
/// JSON and SARIF give them, in a column as wide as the widest; a binary
/// plist has no lines, so no such column.
#[test]
fn text_output_shows_line_and_column() {
    let name = "byod-with-access-rights";
    let xml = std::fs::read_to_string(profile(name)).unwrap();
    let (n, text_line) = xml
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("<key>AccessRights</key>"))
        .unwrap();
    let column = text_line.find('<').unwrap() + 1;
    let out = aspen(&["lint", &profile(name)]);
    let text = String::from_utf8(out.stdout).unwrap();
    let want = format!(
        "\n  {}:{column}  error   ASP031 PayloadContent[2].AccessRights [com.apple.mdm]: ",
        n + 1
    );
    assert!(text.contains(&want), "{want:?} not in\n{text}");
    // The JSON says the same.
    let out = aspen(&["lint", "--json", &profile(name)]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &json["files"][0]["findings"][0];
    assert_eq!(
        (f["line"].as_u64(), f["column"].as_u64()),
        (Some(n as u64 + 1), Some(column as u64))
    );
    // Findings on different lines line up: the widest place sets the column.
    let out = aspen(&["lint", &profile("pm-dock-partial-tiles")]);
    let text = String::from_utf8(out.stdout).unwrap();
    let starts: Vec<usize> = text
        .lines()
        .filter(|l| l.contains(" ASP019 "))
        .map(|l| l.find("note").unwrap())
        .collect();
    assert_eq!(starts.len(), 4, "{text}");
    assert!(starts.iter().all(|&s| s == starts[0] && s > 4), "{text}");
    // A binary plist: no positions, the lines as before.
    let ws = Workspace::new("");
    let binary = ws.path("binary.mobileconfig");
    let value = plist::Value::from_file(profile("profile-uuid-empty")).unwrap();
    value.to_file_binary(&binary).unwrap();
    let out = aspen(&["lint", &binary.display().to_string()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("\n  warning ASP009 PayloadUUID: is empty"),
        "{text}"
    );
}

/// Findings as (code, path) or (code, message).
type Pairs = Vec<(String, String)>;

/// (code, path) of `aspen lint --json ARGS`, and the messages by code.
fn lint_messages(args: &[&str]) -> (i32, Pairs, Pairs) {
    let mut all = vec!["lint", "--json"];
    all.extend_from_slice(args);
    let out = aspen(&all);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("lint {args:?} printed no JSON ({e}): {}", stderr(&out)));
    let findings: Vec<&serde_json::Value> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["findings"].as_array().unwrap())
        .collect();
    let s = |f: &serde_json::Value, k: &str| f[k].as_str().unwrap().to_owned();
    let mut found: Vec<(String, String)> = findings
        .iter()
        .map(|f| (s(f, "code"), s(f, "path")))
        .collect();
    found.sort();
    let messages = findings
        .iter()
        .map(|f| (s(f, "code"), s(f, "message")))
        .collect();
    (out.status.code().unwrap(), found, messages)
}

/// `--platform` and `--min-os` against Apple's `supportedOS`
/// (fixtures/profiles/targets-macos: com.apple.SoftwareUpdate, macOS only,
/// deprecated 26.0, removed 27.0; com.apple.dock, macOS only, its
/// `windowtabbing` introduced 10.15; `allowAssistant` introduced macOS 14.0,
/// deprecated 26.4 with a replacement in its description), with the
/// built-in facts and with Apple's YAML.
#[test]
fn platform_and_version_rules() {
    let file = profile("targets-macos");
    const REMOVED_NOTE: (&str, &str) = ("ASP018", "PayloadContent[0]");
    // (flags, exit status, findings as (code, path))
    type FlagCase = (
        &'static [&'static str],
        i32,
        &'static [(&'static str, &'static str)],
    );
    let cases: &[FlagCase] = &[
        // Before anything changed for these payloads: what lint says without
        // the flags, nothing more.
        (&["--min-os", "macOS=15.0"], 0, &[REMOVED_NOTE]),
        (&["--platform", "macOS"], 0, &[REMOVED_NOTE]),
        // Removed by the target: an error (instead of the note); deprecated
        // by it: a warning.
        (
            &["--min-os", "macOS=27.0"],
            1,
            &[
                ("ASP071", "PayloadContent[0]"),
                ("ASP072", "PayloadContent[2].allowAssistant"),
            ],
        ),
        (
            &["--min-os", "macOS=26.0"],
            0,
            &[REMOVED_NOTE, ("ASP072", "PayloadContent[0]")],
        ),
        // Introduced after the target: the keys that came later, not the
        // payloads they inherit from.
        (
            &["--min-os", "macOS=10.14"],
            0,
            &[
                REMOVED_NOTE,
                ("ASP073", "PayloadContent[0].AutomaticCheckEnabled"),
                ("ASP073", "PayloadContent[1].windowtabbing"),
                ("ASP073", "PayloadContent[2].allowAssistant"),
            ],
        ),
        // Not on a platform: the payload types, not each of their keys.
        // iPadOS is judged by Apple's iOS entries; --min-os names a target.
        (
            &["--platform", "iOS"],
            0,
            &[
                REMOVED_NOTE,
                ("ASP070", "PayloadContent[0]"),
                ("ASP070", "PayloadContent[1]"),
            ],
        ),
        (
            &["--platform", "iPadOS"],
            0,
            &[
                REMOVED_NOTE,
                ("ASP070", "PayloadContent[0]"),
                ("ASP070", "PayloadContent[1]"),
            ],
        ),
        (
            &["--min-os", "iOS=17.0"],
            0,
            &[
                REMOVED_NOTE,
                ("ASP070", "PayloadContent[0]"),
                ("ASP070", "PayloadContent[1]"),
            ],
        ),
    ];
    let schema = schema_dir().map(|d| d.display().to_string());
    for (flags, want_exit, want) in cases {
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(c, p)| ((*c).to_owned(), (*p).to_owned()))
            .collect();
        let mut args = flags.to_vec();
        args.push(&file);
        let (exit, got, _) = lint_messages(&args);
        assert_eq!((exit, &got), (*want_exit, &want), "{flags:?}");
        if let Some(dir) = &schema {
            let mut args = vec!["--schema", dir.as_str()];
            args.extend_from_slice(flags);
            args.push(&file);
            let (exit, got, _) = lint_messages(&args);
            assert_eq!((exit, &got), (*want_exit, &want), "--schema {flags:?}");
        }
    }
    // The messages say when, for which target, and Apple's replacement.
    let (_, _, messages) = lint_messages(&["--min-os", "macOS=27.0", &file]);
    let said = |code: &str| {
        messages
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, m)| m.clone())
            .unwrap()
    };
    assert_eq!(
        said("ASP071"),
        "this payload type was removed in macOS 27.0 (--min-os macOS=27.0): those devices no longer support it; Apple says to use the declarative configuration com.apple.configuration.softwareupdate.settings instead"
    );
    assert_eq!(
        said("ASP072"),
        "is deprecated since macOS 26.4 (--min-os macOS=27.0); Apple says to use the declarative configuration com.apple.configuration.siri.settings instead"
    );
    let (_, _, messages) = lint_messages(&["--platform", "ipados", "--platform", "tvOS", &file]);
    assert!(
        messages.iter().any(|(c, m)| c == "ASP070"
            && m == "this payload type is not available on iPadOS, tvOS (Apple's schema: introduced n/a)"),
        "{messages:?}"
    );
    // With warnings as errors, a platform warning fails the run.
    let (exit, _, _) = lint_messages(&["--warnings-as-errors", "--platform", "iOS", &file]);
    assert_eq!(exit, 1);
}

/// A platform or version lint does not know is bad usage: exit 2, naming
/// the flag and the value, and nothing is linted.
#[test]
fn bad_platform_and_version_values_are_usage_errors() {
    let file = profile("ok-device");
    for (args, said) in [
        (
            &["--platform", "Android"][..],
            "invalid value 'Android' for '--platform <OS>': \"Android\" is not a platform; use one of iOS, iPadOS, macOS, tvOS, visionOS, watchOS",
        ),
        (
            &["--min-os", "iOS=seventeen"],
            "invalid value 'iOS=seventeen' for '--min-os <OS=VERSION>': \"seventeen\" is not a version for iOS",
        ),
        (
            &["--min-os", "macOS=14.0,Android=1.0"],
            "invalid value 'Android=1.0' for '--min-os <OS=VERSION>': \"Android\" is not a platform",
        ),
        (
            &["--min-os", "iOS"],
            "invalid value 'iOS' for '--min-os <OS=VERSION>': \"iOS\" is not OS=VERSION",
        ),
        (
            &["--min-os", "iOS=17.0", "--min-os", "iOS=16.0"],
            "--min-os names iOS twice (17.0 and 16.0)",
        ),
    ] {
        let mut all = vec!["lint"];
        all.extend_from_slice(args);
        all.push(&file);
        let out = aspen(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(said), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// Apple, "Deploying device management enrollment profiles": certificates,
/// one identity, the MDM payload. The warning names what else is there.
#[test]
fn enrollment_profiles_carry_only_what_enrollment_needs() {
    let (exit, found, messages) = lint_messages(&[&profile("enrollment-second-identity")]);
    assert_eq!(
        (exit, found),
        (0, vec![("ASP037".to_owned(), "PayloadContent".to_owned())])
    );
    let m = &messages[0].1;
    assert!(
        m.starts_with("carries PayloadContent[3] com.apple.security.acme (a second identity), PayloadContent[4] com.apple.wifi.managed besides what enrollment needs")
            && m.ends_with("install them with MDM once the device is enrolled"),
        "{m}"
    );
    // A warning: fails the run only with --warnings-as-errors.
    let (exit, _, _) = lint_messages(&[
        "--warnings-as-errors",
        &profile("enrollment-second-identity"),
    ]);
    assert_eq!(exit, 1);
    // Root and intermediate certificates, and the identity the MDM payload
    // names (SCEP, ACME or PKCS#12), are what enrollment needs.
    for name in [
        "enrollment-with-intermediate",
        "ok-device",
        "ok-acme",
        "ok-pkcs12-identity",
    ] {
        let (exit, found, _) = lint_messages(&["--warnings-as-errors", &profile(name)]);
        assert_eq!((exit, found), (0, vec![]), "{name}");
    }
    // No MDM payload: not an enrollment profile, not judged.
    let (_, found, _) = lint_messages(&[&profile("restrictions-camera")]);
    assert!(found.is_empty(), "{found:?}");
    // Many extras: ten are named, the rest counted.
    let mut value = plist::Value::from_file(profile("ok-device")).unwrap();
    let items = value
        .as_dictionary_mut()
        .unwrap()
        .get_mut("PayloadContent")
        .unwrap()
        .as_array_mut()
        .unwrap();
    for i in 0..15 {
        let mut d = plist::Dictionary::new();
        d.insert("PayloadType".into(), "com.apple.webClip.managed".into());
        d.insert("PayloadVersion".into(), 1.into());
        d.insert("PayloadIdentifier".into(), format!("clip{i}").into());
        d.insert("PayloadUUID".into(), format!("clip-{i}").into());
        d.insert("URL".into(), "https://example.com".into());
        d.insert("Label".into(), "Example".into());
        items.push(d.into());
    }
    let ws = Workspace::new("");
    let many = ws.path("many.mobileconfig");
    value.to_file_xml(&many).unwrap();
    let (_, found, messages) = lint_messages(&[&many.display().to_string()]);
    assert_eq!(found.len(), 1, "{found:?}");
    let m = &messages[0].1;
    assert!(
        m.contains("PayloadContent[12] com.apple.webClip.managed and 5 more besides"),
        "{m}"
    );
    assert!(!m.contains("PayloadContent[13]"), "{m}");
}

/// A SCEP identity gets a note recommending ACME only when every target has
/// a version with ACME (Apple: com.apple.security.acme introduced iOS 16.0,
/// macOS 13.1).
#[test]
fn scep_identity_gets_an_acme_note_when_every_target_supports_acme() {
    let note = vec![("ASP038".to_owned(), "PayloadContent[1]".to_owned())];
    let cases: &[(&str, &[&str], bool)] = &[
        ("ok-device", &["--min-os", "iOS=16.0,macOS=13.1"], true),
        ("ok-device", &["--min-os", "iPadOS=17.0"], true),
        ("ok-device", &["--min-os", "iOS=18.0,macOS=13.0"], false),
        ("ok-device", &["--min-os", "iOS=15.4"], false),
        // A platform without a version may be older than ACME.
        (
            "ok-device",
            &["--min-os", "iOS=18.0", "--platform", "macOS"],
            false,
        ),
        ("ok-device", &["--platform", "iOS"], false),
        ("ok-device", &[], false),
        ("ok-acme", &["--min-os", "iOS=18.0,macOS=15.0"], false),
        (
            "ok-pkcs12-identity",
            &["--min-os", "iOS=18.0,macOS=15.0"],
            false,
        ),
    ];
    for (name, flags, noted) in cases {
        let mut args = flags.to_vec();
        let file = profile(name);
        args.push(&file);
        let (exit, found, messages) = lint_messages(&args);
        let want = if *noted { note.clone() } else { vec![] };
        assert_eq!((exit, found), (0, want), "{name} {flags:?}");
        if *noted {
            assert!(
                messages[0].1.starts_with(
                    "every target supports ACME (com.apple.security.acme introduced in "
                ),
                "{messages:?}"
            );
        }
    }
    let (_, _, messages) =
        lint_messages(&["--min-os", "iOS=16.0,macOS=13.1", &profile("ok-device")]);
    assert!(
        messages[0]
            .1
            .contains("introduced in iOS 16.0, macOS 13.1)"),
        "{messages:?}"
    );
}

/// Every check of Apple's schema runs without `--schema` (from the built-in
/// facts) and gives the same findings with it.
#[test]
fn built_in_facts_check_what_the_schema_checks() {
    let cases: &[Case] = &[
        (
            "schema-target-device-type",
            1,
            &[("ASP004", "TargetDeviceType")],
        ),
        // These add a payload to an enrollment profile: ASP037 as well.
        (
            "schema-airprint-port",
            1,
            &[
                ("ASP011", "PayloadContent[3].AirPrint[0].Port"),
                ("ASP037", "PayloadContent"),
            ],
        ),
        (
            "schema-airplay-device-id",
            1,
            &[
                ("ASP005", "PayloadContent[3].AllowList[0].DeviceID"),
                ("ASP037", "PayloadContent"),
            ],
        ),
        (
            "schema-wifi-ssid-integer",
            1,
            &[
                ("ASP003", "PayloadContent[3].SSID_STR"),
                ("ASP037", "PayloadContent"),
            ],
        ),
        (
            "schema-unknown-payload-type",
            0,
            &[
                ("ASP017", "PayloadContent[3]"),
                ("ASP037", "PayloadContent"),
            ],
        ),
        (
            "byod-device-vpn-duplicate-nested-key",
            1,
            &[
                ("ASP012", "PayloadContent[1].PayloadContent"),
                ("ASP037", "PayloadContent"),
                ("ASP050", "PayloadContent[3]"),
            ],
        ),
        (
            "byod-removal-disallowed-twice",
            1,
            &[
                ("ASP012", "PayloadRemovalDisallowed"),
                ("ASP051", "PayloadRemovalDisallowed"),
            ],
        ),
        // The built-in finding stands; the schema does not repeat it.
        (
            "byod-restrictions",
            1,
            &[
                ("ASP037", "PayloadContent"),
                ("ASP051", "PayloadContent[3].allowCamera"),
            ],
        ),
        ("ok-device", 0, &[]),
        ("ok-byod", 0, &[]),
        ("ok-acme", 0, &[]),
        ("ok-pkcs12-identity", 0, &[]),
        ("ok-byod-per-app-vpn", 0, &[("ASP037", "PayloadContent")]),
        (
            "pm-screensaver-idle-time",
            0,
            &[("ASP019", "PayloadContent[0].moduleName")],
        ),
        (
            "dock-tile-without-type",
            1,
            &[("ASP002", "PayloadContent[0].static-apps[0].tile-type")],
        ),
    ];
    let schema = schema_dir().map(|d| d.display().to_string());
    for (name, want_exit, want) in cases {
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(c, p)| ((*c).to_owned(), (*p).to_owned()))
            .collect();
        let (exit, got) = lint(&[&profile(name)]);
        assert_eq!((exit, &got), (*want_exit, &want), "{name}");
        if let Some(dir) = &schema {
            let (exit, got) = lint(&["--schema", dir, &profile(name)]);
            assert_eq!((exit, &got), (*want_exit, &want), "{name} --schema");
        }
    }
}

#[test]
fn schema_directory_errors_are_clear() {
    let out = aspen(&["lint", "--schema", "/nonexistent", &profile("ok-device")]);
    let err = fails(out);
    assert!(
        err.contains("/nonexistent: holds neither mdm/profiles/TopLevel.yaml"),
        "{err}"
    );
}

/// The built-in User Enrollment rules say exactly what Apple's schema says
/// for iOS: both come from the same facts, and these are derived from
/// Apple's files (see `built_in_facts_are_derived_from_apples_schema`).
#[test]
fn built_in_user_enrollment_lists_match_apples_schema() {
    let Some(dir) = schema_dir() else { return };
    let schema = aspen::lint::schema::Schema::load(&dir).unwrap();
    assert!(schema.payload_types().len() > 100);
    let built_in = aspen::lint::facts::built_in();
    let facts = built_in.user_enrollment_facts();
    assert_eq!(facts, schema.user_enrollment_facts());
    // The 26.4 restrictions are in: allowSafariPrivateBrowsing is forbidden.
    assert!(facts.forbidden_keys.contains(&(
        "com.apple.applicationaccess".into(),
        "allowSafariPrivateBrowsing".into()
    )));
    // And 27.0's: a cellular private network is forbidden on iOS.
    assert!(
        facts
            .forbidden_payloads
            .iter()
            .any(|t| t == "com.apple.cellularprivatenetwork.managed")
    );
}

/// `src/lint/facts/apple.tsv` is exactly what the generator derives from
/// `../shared/apple-device-management` today.
#[test]
fn built_in_facts_are_derived_from_apples_schema() {
    let Some(dir) = schema_dir() else { return };
    let derived = aspen::lint::facts::derive(&dir).unwrap();
    let checked_in = std::fs::read_to_string(root().join("src/lint/facts/apple.tsv")).unwrap();
    // Which release of Apple's data this run compared against.
    let release = aspen::lint::facts::parse(&derived)
        .unwrap()
        .main_release()
        .unwrap_or("an unknown release")
        .to_owned();
    eprintln!(
        "comparing the built-in facts with {} ({release})",
        dir.display()
    );
    assert!(
        derived == checked_in,
        "src/lint/facts/apple.tsv is stale against {} ({release}): run `cargo run --example lint-facts -- {}`",
        dir.display(),
        dir.display()
    );
    assert_eq!(aspen::lint::facts::TEXT, checked_in);
    // It names both parts of the data and carries Apple's licence beside it.
    for commit in [
        "b6202ca2fbd31286a52eb160b67a4db7b4fe1f1f",
        "420bab125ce5835ef6bc6e60e72c7555d38be966",
    ] {
        assert!(checked_in.contains(commit), "{commit}");
    }
    let licence = std::fs::read_to_string(root().join("src/lint/facts/LICENSE-apple.txt")).unwrap();
    let apple = std::fs::read_to_string(dir.join("LICENSE.txt")).unwrap();
    assert_eq!(licence, apple);
    // No descriptions: no field holds prose (four words in a row).
    let prose = regex::Regex::new(r"[A-Za-z]+ [a-z]+ [a-z]+ [a-z]+").unwrap();
    for line in checked_in.lines().filter(|l| !l.starts_with('#')) {
        assert!(!prose.is_match(line), "prose in the facts: {line}");
    }
    // Parsing the derived text gives the schema read from the YAML.
    let mut from_yaml = aspen::lint::schema::Schema::load(&dir).unwrap();
    let parsed = aspen::lint::facts::parse(&derived).unwrap();
    from_yaml.origin = parsed.origin.clone();
    for defs in from_yaml.payloads.values_mut() {
        for d in defs {
            d.release = None;
        }
    }
    let mut parsed = parsed;
    for defs in parsed.payloads.values_mut() {
        for d in defs {
            d.release = None;
        }
    }
    assert!(
        from_yaml == parsed,
        "the facts lose something of Apple's schema"
    );
}

/// An independent cross-check: the effective iOS User Enrollment mode of
/// every payload and key path (inherited from the payload and the parent
/// keys) agrees with `derived/userenrollment-support.tsv`, flat tables made
/// from the same YAML by other means.
#[test]
fn user_enrollment_modes_agree_with_the_independent_table() {
    let Some(dir) = schema_dir() else { return };
    let Ok(table) = std::fs::read_to_string(dir.join("derived/userenrollment-support.tsv")) else {
        common::skip_or_fail("derived/userenrollment-support.tsv is absent");
        return;
    };
    let ours: std::collections::HashMap<(String, String), String> = aspen::lint::facts::built_in()
        .effective_ios_modes()
        .into_iter()
        .map(|(t, k, m)| ((t, k), m.map_or("n/a", |m| m.as_str()).to_owned()))
        .collect();
    let mut compared = 0;
    let mut differ = Vec::new();
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (ty, key, mode) = (f[0], f[1], f[2]);
        let file = f[f.len() - 1].trim_start_matches("mdm/profiles/");
        let Some(got) = ours.get(&(file.to_owned(), key.to_owned())) else {
            differ.push(format!("{ty} {key}: not in our facts"));
            continue;
        };
        compared += 1;
        if got != mode {
            differ.push(format!("{ty} {key}: ours {got}, table {mode}"));
        }
    }
    assert!(compared > 2000, "{compared}");
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// All six enrollment kinds, with SCEP and with an ACME identity, signed
/// and unsigned: clean under the built-in rules and Apple's schema.
#[test]
fn every_generated_profile_lints_clean() {
    let acme = demo_settings().replace(
        "[identity]\nkind = \"scep\"\nurl = \"https://mdm.contoso.com/scep\"\nchallenge = \"demo-challenge-not-secret\"\nkey_size = 2048\n",
        "[identity]\nkind = \"acme\"\ndirectory_url = \"https://acme.contoso.com/directory\"\nclient_identifier = \"demo-client\"\nkey_type = \"ECSECPrimeRandom\"\nkey_size = 384\nhardware_bound = true\nattest = true\n",
    );
    assert!(
        acme.contains("kind = \"acme\""),
        "the demo settings changed: update this test"
    );
    let kinds: &[&[&str]] = &[
        &["device"],
        &["device", "--owner", "personal"],
        &["device", "--managed-apple-id", "alice@contoso.com"],
        &[
            "device",
            "--owner",
            "personal",
            "--managed-apple-id",
            "alice@contoso.com",
        ],
        &["user", "--managed-apple-id", "alice@contoso.com"],
        &[
            "user",
            "--managed-apple-id",
            "alice@contoso.com",
            "--legacy",
        ],
    ];
    let mut files = Vec::new();
    let mut workspaces = Vec::new();
    for (s, settings) in [demo_settings(), acme].iter().enumerate() {
        let ws = Workspace::new(settings);
        let config = ws.settings().display().to_string();
        for (k, kind) in kinds.iter().enumerate() {
            for signed in [true, false] {
                let out = ws
                    .path(&format!("{s}-{k}-{signed}.mobileconfig"))
                    .display()
                    .to_string();
                let mut args = vec!["profile"];
                args.extend_from_slice(kind);
                args.extend_from_slice(&["-c", &config, "-o", &out]);
                if !signed {
                    args.push("--unsigned");
                }
                ok(aspen(&args));
                // (file, legacy User Enrollment, ACME identity)
                files.push((out, kind.contains(&"--legacy"), s == 1));
            }
        }
        workspaces.push(ws);
    }
    let schema = schema_dir().map(|d| d.display().to_string());
    for (f, legacy, acme) in &files {
        let mut runs = vec![lint(&[f])];
        if let Some(dir) = &schema {
            runs.push(lint(&["--schema", dir, f]));
        }
        for (exit, findings) in runs {
            // The legacy kind carries the one intended warning: iOS 18 refuses it.
            let want: Vec<&str> = if *legacy { vec!["ASP032"] } else { vec![] };
            assert_eq!((exit, codes(&findings)), (0, want), "{f}");
        }
        // For iOS 17 and macOS 14 devices: nothing more, but the note that
        // ACME, which both have, is Apple's recommended identity. (Legacy
        // User Enrollment's ManagedAppleID is deprecated by then, but ASP032
        // already says more at that key, and a later, more general rule does
        // not repeat it.)
        let (exit, findings) = lint(&["--min-os", "iOS=17.0,macOS=14.0", f]);
        let mut want: Vec<&str> = Vec::new();
        if *legacy {
            want.push("ASP032");
        }
        if !*acme {
            want.push("ASP038");
        }
        want.sort();
        assert_eq!((exit, codes(&findings)), (0, want), "{f} --min-os");
    }
    assert_eq!(files.len(), 24);
}

#[test]
fn every_rule_code_is_unique_and_documented() {
    let readme = std::fs::read_to_string(root().join("docs/reading-profiles.md")).unwrap();
    let mut seen = std::collections::HashSet::new();
    for rule in aspen::lint::rules::ALL {
        assert!(seen.insert(rule.code), "{} twice", rule.code);
        assert!(
            readme.contains(rule.code),
            "docs/reading-profiles.md does not list {}",
            rule.code
        );
    }
}

/// Apple's YAML defines an app item's `subApps` as app items (an alias
/// inside its own anchor): the schema follows it to any depth.
#[test]
fn schema_follows_recursive_definitions() {
    let Some(dir) = schema_dir() else { return };
    let item = |inner: &str| {
        format!(
            "<dict><key>bundleID</key><string>com.example.app</string><key>appID</key><data>AAAA</data>{inner}</dict>"
        )
    };
    let deepest = item("<key>bogus</key><integer>1</integer>");
    let nested = item(&format!(
        "<key>subApps</key><array>{}</array>",
        item(&format!("<key>subApps</key><array>{deepest}</array>"))
    ));
    let xml = format!(
        "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>PayloadType</key><string>Configuration</string><key>PayloadVersion</key><integer>1</integer><key>PayloadIdentifier</key><string>p</string><key>PayloadUUID</key><string>22222222-0000-4000-8000-000000000000</string><key>PayloadContent</key><array><dict><key>PayloadType</key><string>com.apple.applicationaccess.new</string><key>PayloadVersion</key><integer>1</integer><key>PayloadIdentifier</key><string>a</string><key>PayloadUUID</key><string>33333333-0000-4000-8000-000000000000</string><key>familyControlsEnabled</key><true/><key>whiteList</key><array>{nested}</array></dict></array></dict></plist>"
    );
    let ws = Workspace::new("");
    let path = ws.path("apps.mobileconfig");
    std::fs::write(&path, xml).unwrap();
    let (exit, findings) = lint(&[
        "--schema",
        &dir.display().to_string(),
        &path.display().to_string(),
    ]);
    assert_eq!(
        (exit, findings),
        (
            0,
            vec![(
                "ASP016".to_owned(),
                "PayloadContent[0].whiteList[0].subApps[0].subApps[0].bogus".to_owned()
            )]
        )
    );
}

/// Runs `aspen ARGS` with `input` on standard input.
fn aspen_stdin(args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aspen"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// A folder means every *.mobileconfig under it (sorted, recursively,
/// hidden folders skipped); - reads standard input.
#[test]
fn folders_and_standard_input() {
    let ws = Workspace::new("");
    let dir = ws.path("repo");
    for sub in ["a/b", ".git", "c"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let copy = |name: &str, to: &str| std::fs::copy(profile(name), dir.join(to)).unwrap();
    copy("ok-device", "a/b/one.mobileconfig");
    copy("byod-restrictions", "c/two.MobileConfig");
    copy("byod-restrictions", ".git/hidden.mobileconfig");
    copy("byod-restrictions", "a/notes.txt");
    let out = aspen(&["lint", "--json", &dir.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files: Vec<&str> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    let d = dir.display().to_string();
    assert_eq!(
        files,
        [
            format!("{d}/a/b/one.mobileconfig"),
            format!("{d}/c/two.MobileConfig")
        ]
    );
    // A folder without profiles is an error, not a silent pass.
    std::fs::create_dir_all(dir.join("empty/deeper")).unwrap();
    std::fs::write(dir.join("empty/deeper/readme.txt"), "not a profile").unwrap();
    let err = fails(aspen(&["lint", &dir.join("empty").display().to_string()]));
    assert!(err.contains("holds no *.mobileconfig file"), "{err}");
    // Standard input, named <stdin>.
    let bytes = std::fs::read(profile("byod-restrictions")).unwrap();
    let out = aspen_stdin(&["lint", "-"], &bytes);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("<stdin>: (account-driven User Enrollment (BYOD)")
            && text.contains("ASP051 PayloadContent[3].allowCamera"),
        "{text}"
    );
    let out = aspen_stdin(&["lint", "-", &profile("ok-device")], b"");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("<stdin>: ") && text.contains("is empty"),
        "{text}"
    );
    let err = fails(aspen_stdin(&["lint", "-", "-"], b""));
    assert!(err.contains("given twice"), "{err}");
}

/// Warnings fail the run only with --warnings-as-errors; notes never.
#[test]
fn warnings_as_errors() {
    let (exit, f) = lint(&[&profile("profile-uuid-empty")]);
    assert_eq!((exit, codes(&f)), (0, vec!["ASP009"]));
    let (exit, _) = lint(&["--warnings-as-errors", &profile("profile-uuid-empty")]);
    assert_eq!(exit, 1);
    let err = found(aspen(&[
        "lint",
        "--warnings-as-errors",
        &profile("profile-uuid-empty"),
    ]));
    assert!(
        err.contains("1 warning(s) in 1 file(s), and --warnings-as-errors"),
        "{err}"
    );
    // Only a note (custom preferences): exit 0 even so, and not "ok".
    let (exit, f) = lint(&["--warnings-as-errors", &profile("custom-payload-type")]);
    assert_eq!((exit, codes(&f)), (0, vec!["ASP017"]));
    let out = aspen(&["lint", &profile("custom-payload-type")]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains(": ok"), "{text}");
    assert!(
        text.contains("note    ASP017 PayloadContent[0] [com.example.unheard-of]: com.example.unheard-of is not a payload type in Apple's schema (as of iOS/macOS 27.0): custom preferences (or a newer type), not checked"),
        "{text}"
    );
}

/// `--json` is `--format json`; the two cannot be combined.
#[test]
fn json_is_format_json() {
    let a = aspen(&["lint", "--json", &profile("byod-restrictions")]);
    let b = aspen(&["lint", "--format", "json", &profile("byod-restrictions")]);
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(a.status.code(), b.status.code());
    let out = aspen(&["lint", "--json", "--format", "text", &profile("ok-device")]);
    assert_eq!(out.status.code(), Some(2));
}

/// Broken XML names a line and column (where the refused element starts),
/// in text and JSON, never a byte offset.
#[test]
fn broken_xml_reports_line_and_column() {
    let ws = Workspace::new("");
    let path = ws.path("broken.mobileconfig");
    std::fs::write(
        &path,
        "<?xml version=\"1.0\"?>\n<plist version=\"1.0\">\n<dict>\n  <key>PayloadType</key>\n  <strin>Configuration</string>\n</dict></plist>\n",
    )
    .unwrap();
    let p = path.display().to_string();
    let out = aspen(&["lint", &p]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("ASP000 (file): ")
            && text.contains("unknown XML element at line 5, column 3"),
        "{text}"
    );
    assert!(!text.contains("offset"), "{text}");
    let out = aspen(&["lint", "--json", &p]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &json["files"][0]["findings"][0];
    assert_eq!(
        (f["line"].as_u64(), f["column"].as_u64()),
        (Some(5), Some(3)),
        "{f}"
    );
    // A line in a multi-byte line counts characters.
    std::fs::write(
        &path,
        "<?xml version=\"1.0\"?>\n<plist version=\"1.0\">\n<dict><key>é€</key><bogus/></dict></plist>\n",
    )
    .unwrap();
    let out = aspen(&["lint", "--json", &p]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &json["files"][0]["findings"][0];
    assert_eq!(
        (f["line"].as_u64(), f["column"].as_u64()),
        (Some(3), Some(20)),
        "{f}"
    );
}

/// A `<key>` where a value belongs, a `<string>` where a key belongs and a
/// key without a value: plists that python's plistlib (like Apple's parser
/// and devices) refuses, so lint refuses them too — one ASP000 error naming
/// the line and column, the same line plistlib names.
#[test]
fn misplaced_keys_and_values_are_refused_with_line_and_column() {
    let cases = [
        (
            "key-where-a-value-belongs",
            (21, 5),
            "a <key> where the value of the key \"RepeatingPowerOff\" belongs at line 21, column 5",
        ),
        (
            "string-where-a-key-belongs",
            (16, 4),
            "a <string> where a <key> belongs at line 16, column 4",
        ),
        (
            "key-without-value",
            (133, 1),
            "the key \"PayloadVersion\" has no value before </dict> at line 133, column 1",
        ),
    ];
    let python = common::have_tool("python3", "python3");
    for (name, (line, column), what) in cases {
        let path = profile(name);
        let out = aspen(&["lint", "--json", &path]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let findings = json["files"][0]["findings"].as_array().unwrap();
        assert_eq!(findings.len(), 1, "{name}: {findings:?}");
        let f = &findings[0];
        assert_eq!(
            (f["code"].as_str(), f["severity"].as_str()),
            (Some("ASP000"), Some("error"))
        );
        assert_eq!(
            (f["line"].as_u64(), f["column"].as_u64()),
            (Some(line), Some(column)),
            "{name}: {f}"
        );
        let message = f["message"].as_str().unwrap();
        assert!(message.ends_with(what), "{name}: {message}");
        // The other readers refuse it too, with the same line.
        for cmd in [&["inspect"][..], &["verify"]] {
            let mut args = cmd.to_vec();
            args.push(&path);
            let err = fails(aspen(&args));
            assert!(err.contains(what), "{cmd:?} {name}: {err}");
        }
        if python {
            let out = std::process::Command::new("python3")
                .args([
                    "-c",
                    "import plistlib, sys\ntry:\n    plistlib.load(open(sys.argv[1], 'rb'))\nexcept ValueError as e:\n    print(e)\n    sys.exit(3)",
                    &path,
                ])
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(3), "{name}: plistlib read it");
            assert!(
                said.trim_end().ends_with(&format!("line {line}")),
                "{name}: {said}"
            );
        }
    }
}

/// SARIF 2.1.0 with what code scanning needs: version, $schema, the tool's
/// rules, and per result ruleId, level, message and the file (with the
/// line of the key when the profile is XML).
#[test]
fn sarif_has_the_shape_code_scanning_needs() {
    let out = aspen(&[
        "lint",
        "--format",
        "sarif",
        &profile("schema-airprint-port"),
        &profile("profile-uuid-empty"),
        &profile("ok-device"),
        &profile("schema-unknown-payload-type"),
        &profile("garbage"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    assert!(
        log["$schema"]
            .as_str()
            .unwrap()
            .contains("sarif-schema-2.1.0")
    );
    let runs = log["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "aspen");
    let rules = driver["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    for rule in aspen::lint::rules::ALL {
        assert!(ids.contains(&rule.code), "{}", rule.code);
    }
    for r in rules {
        assert!(r["shortDescription"]["text"].is_string());
        assert!(
            ["error", "warning", "note"]
                .contains(&r["defaultConfiguration"]["level"].as_str().unwrap())
        );
    }
    let results = runs[0]["results"].as_array().unwrap();
    let mut seen = Vec::new();
    for r in results {
        let id = r["ruleId"].as_str().unwrap();
        assert!(ids.contains(&id));
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], id);
        let level = r["level"].as_str().unwrap();
        assert!(["error", "warning", "note"].contains(&level));
        assert!(!r["message"]["text"].as_str().unwrap().is_empty());
        let locations = r["locations"].as_array().unwrap();
        assert!(!locations.is_empty());
        let physical = &locations[0]["physicalLocation"];
        let uri = physical["artifactLocation"]["uri"].as_str().unwrap();
        assert!(
            uri.ends_with(".mobileconfig") && !uri.contains(' '),
            "{uri}"
        );
        if let Some(region) = physical.get("region") {
            assert!(region["startLine"].as_u64().unwrap() >= 1);
        }
        seen.push((
            id.to_owned(),
            level.to_owned(),
            physical["region"]["startLine"].as_u64(),
        ));
    }
    seen.sort();
    let line_of = |name: &str, pattern: &str, last: bool| {
        let text = std::fs::read_to_string(profile(name)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let at = if last {
            lines.iter().rposition(|l| l.contains(pattern))
        } else {
            lines.iter().position(|l| l.contains(pattern))
        };
        at.unwrap() as u64 + 1
    };
    let got: Vec<(&str, &str)> = seen
        .iter()
        .map(|(i, l, _)| (i.as_str(), l.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("ASP000", "error"),
            ("ASP009", "warning"),
            ("ASP011", "error"),
            ("ASP017", "note"),
            ("ASP037", "warning"),
            ("ASP037", "warning")
        ]
    );
    // The enrollment-extra warning points at PayloadContent.
    for (_, _, line) in &seen[4..] {
        assert_eq!(
            *line,
            Some(line_of(
                "schema-airprint-port",
                "<key>PayloadContent</key>",
                false
            ))
        );
    }
    // garbage is not UTF-8: its first bad byte. The others point at their key.
    assert_eq!(seen[0].2, Some(1));
    assert_eq!(
        seen[1].2,
        Some(line_of(
            "profile-uuid-empty",
            "<key>PayloadUUID</key>",
            true
        ))
    );
    assert_eq!(
        seen[2].2,
        Some(line_of("schema-airprint-port", "<key>Port</key>", false))
    );
    assert!(seen[3].2.is_some());
}

/// The pre-commit hook runs `aspen lint` on staged *.mobileconfig files.
#[test]
fn pre_commit_hook_is_declared() {
    let text = std::fs::read_to_string(root().join(".pre-commit-hooks.yaml")).unwrap();
    for line in [
        "- id: aspen-lint",
        "  entry: aspen lint",
        "  language: rust",
        "  files: \\.mobileconfig$",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?}");
    }
    // pre-commit appends the staged file names to the entry.
    let (exit, _) = lint(&[&profile("ok-device"), &profile("ok-byod")]);
    assert_eq!(exit, 0);
}

/// The held-out check: for every payload type of the built-in facts, a
/// profile with a wrong value in each of the payload's own keys — the wrong
/// type in one payload, a value outside the rangelist or range in another —
/// is reported by `lint` without `--schema`, at that key, with exit 1.
#[test]
fn a_wrong_value_in_any_apple_payload_type_is_reported_without_schema() {
    use aspen::payload::ValueType as T;
    use plist::Value;
    let facts = aspen::lint::facts::built_in();
    let ws = Workspace::new("");
    let dir = ws.path("held-out");
    std::fs::create_dir(&dir).unwrap();
    let frame = [
        "PayloadType",
        "PayloadVersion",
        "PayloadIdentifier",
        "PayloadUUID",
    ];
    let mut expected: Vec<(String, Vec<(String, &str)>)> = Vec::new();
    for (n, ty) in facts.payload_types().into_iter().enumerate() {
        let defs = facts.payload(ty).unwrap();
        // Keys by name, once (a type may have several files).
        let mut keys: Vec<&aspen::lint::schema::Key> = Vec::new();
        for d in defs {
            for k in &facts.lists[d.keys] {
                if k.name != "ANY"
                    && !frame.contains(&k.name.as_str())
                    && !keys.iter().any(|x| x.name == k.name)
                    && defs.iter().all(|d| {
                        facts.lists[d.keys]
                            .iter()
                            .filter(|x| x.name == k.name)
                            .all(|x| x.ty == k.ty)
                    })
                {
                    keys.push(k);
                }
            }
        }
        let payload = |i: usize| {
            let mut d = plist::Dictionary::new();
            d.insert("PayloadType".into(), ty.into());
            d.insert("PayloadVersion".into(), 1.into());
            d.insert(
                "PayloadIdentifier".into(),
                format!("held.out.{n}.{i}").into(),
            );
            d.insert(
                "PayloadUUID".into(),
                format!("{n:08X}-0000-4000-8000-{i:012X}").into(),
            );
            d
        };
        let (mut wrong_type, mut wrong_value) = (payload(0), payload(1));
        let mut want = Vec::new();
        for k in &keys {
            let bad: Value = match k.ty {
                Some(T::String) => 7.into(),
                Some(T::Boolean | T::Integer | T::Real | T::Date | T::Data) => "wrong".into(),
                Some(T::Array | T::Dictionary) => "wrong".into(),
                Some(T::Any) | None => continue,
            };
            wrong_type.insert(k.name.clone(), bad);
            want.push((format!("PayloadContent[0].{}", k.name), "ASP003"));
            let numbers: Vec<f64> = k
                .rangelist
                .iter()
                .filter_map(|v| v.parse().ok())
                .chain(k.max)
                .chain(k.min)
                .collect();
            let outside = numbers.iter().cloned().fold(0.0, f64::max) + 1000.0;
            // A value any of Apple's definitions allows is right: only a
            // key all of them constrain alike can get a wrong value.
            let alike = defs.iter().all(|d| {
                facts.lists[d.keys]
                    .iter()
                    .filter(|x| x.name == k.name)
                    .all(|x| x.rangelist == k.rangelist && (x.min, x.max) == (k.min, k.max))
            });
            if !alike {
                continue;
            }
            let value: Option<(Value, &str)> = match k.ty {
                Some(T::String) if !k.rangelist.is_empty() => {
                    Some(("not-one-of-apples".into(), "ASP004"))
                }
                Some(T::Integer) if !k.rangelist.is_empty() => {
                    Some(((outside as i64).into(), "ASP004"))
                }
                Some(T::Real) if !k.rangelist.is_empty() => Some((outside.into(), "ASP004")),
                Some(T::Integer) if k.max.is_some() || k.min.is_some() => {
                    let v = k.max.map_or_else(|| k.min.unwrap() - 1.0, |m| m + 1.0);
                    Some(((v as i64).into(), "ASP011"))
                }
                Some(T::Real) if k.max.is_some() || k.min.is_some() => {
                    let v = k.max.map_or_else(|| k.min.unwrap() - 1.0, |m| m + 1.0);
                    Some((v.into(), "ASP011"))
                }
                _ => None,
            };
            if let Some((v, code)) = value {
                wrong_value.insert(k.name.clone(), v);
                want.push((format!("PayloadContent[1].{}", k.name), code));
            }
        }
        if want.is_empty() {
            // No typed key of its own: a wrong common key.
            wrong_type.insert("PayloadDisplayName".into(), 7.into());
            want.push(("PayloadContent[0].PayloadDisplayName".into(), "ASP003"));
        }
        let mut root = plist::Dictionary::new();
        root.insert("PayloadType".into(), "Configuration".into());
        root.insert("PayloadVersion".into(), 1.into());
        root.insert("PayloadIdentifier".into(), format!("held.out.{n}").into());
        root.insert(
            "PayloadUUID".into(),
            format!("{n:08X}-1111-4111-8111-111111111111").into(),
        );
        root.insert(
            "PayloadContent".into(),
            Value::Array(vec![wrong_type.into(), wrong_value.into()]),
        );
        let file = dir.join(format!("{n:03}.mobileconfig"));
        plist::to_file_xml(&file, &Value::Dictionary(root)).unwrap();
        expected.push((file.display().to_string(), want));
    }
    assert!(expected.len() > 100, "{}", expected.len());
    let out = aspen(&["lint", "--json", &dir.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), expected.len());
    let mut missed = Vec::new();
    let mut checked = 0;
    for ((file, want), got) in expected.iter().zip(files) {
        assert_eq!(got["file"], file.as_str());
        let findings: Vec<(&str, &str)> = got["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["code"].as_str().unwrap(), f["path"].as_str().unwrap()))
            .collect();
        let ty = got["findings"][0]["payload_type"].as_str().unwrap_or("?");
        for (path, code) in want {
            checked += 1;
            if !findings.contains(&(code, path.as_str())) {
                missed.push(format!("{ty} {path}: no {code} in {findings:?}"));
            }
        }
    }
    assert!(checked > 1000, "{checked}");
    assert!(
        missed.is_empty(),
        "{} missed:\n{}",
        missed.len(),
        missed.join("\n")
    );
}

/// A file name and its findings: (code, severity, path).
type FileFindings = (String, Vec<(String, String, String)>);

/// Findings of `aspen lint --json ARGS` per file name, and the exit status.
fn findings_by_file(args: &[&str]) -> (i32, Vec<FileFindings>) {
    let mut all = vec!["lint", "--json"];
    all.extend_from_slice(args);
    let out = aspen(&all);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", stderr(&out)));
    let files = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let name = f["file"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned();
            let findings = f["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| {
                    let s = |k: &str| x[k].as_str().unwrap().to_owned();
                    (s("code"), s("severity"), s("path"))
                })
                .collect();
            (name, findings)
        })
        .collect();
    (out.status.code().unwrap(), files)
}

/// No noise on real profiles: ~70 profiles in the shapes Apple Configurator,
/// Profile Manager, iMazing Profile Editor, ProfileCreator and admins by
/// hand write them (fixtures/real-world/make-corpus.py: PayloadEnabled,
/// PayloadScope, ConsentText, custom preferences, iOS/macOS 26 keys, Wi-Fi,
/// VPN, restrictions, passcode, certificates, SCEP, web clips,
/// notifications, PPPC, system extensions, login items, FileVault, SSO, …)
/// give no error and no warning (the budget is 5; we hold 0), with the
/// built-in facts and with Apple's schema. What was not checked is said in
/// notes: custom preference domains and keys newer than the snapshot.
#[test]
fn real_world_profiles_lint_without_noise() {
    let dir = fixture("real-world/clean").display().to_string();
    let mut runs = vec![findings_by_file(&[&dir])];
    if let Some(schema) = schema_dir() {
        runs.push(findings_by_file(&[
            "--schema",
            &schema.display().to_string(),
            &dir,
        ]));
    }
    for (exit, files) in runs {
        assert!(files.len() >= 60, "{}", files.len());
        let noise: Vec<String> = files
            .iter()
            .flat_map(|(f, xs)| {
                xs.iter()
                    .filter(|x| x.1 != "note")
                    .map(move |x| format!("{f}: {} {} {}", x.1, x.0, x.2))
            })
            .collect();
        assert!(noise.is_empty(), "false findings:\n{}", noise.join("\n"));
        assert_eq!(exit, 0);
        let notes: std::collections::BTreeSet<&str> = files
            .iter()
            .flat_map(|(_, xs)| xs.iter().map(|x| x.0.as_str()))
            .collect();
        assert_eq!(
            notes.into_iter().collect::<Vec<_>>(),
            ["ASP016", "ASP017", "ASP018"]
        );
        // Custom preferences are noted, whichever way they are delivered.
        let noted = |file: &str, code: &str| {
            files
                .iter()
                .any(|(f, xs)| f == file && xs.iter().any(|x| x.0 == code))
        };
        assert!(noted("pc-outlook.mobileconfig", "ASP017"));
        assert!(noted("hand-managed-prefs.mobileconfig", "ASP017"));
        assert!(noted("imazing-apple-intelligence.mobileconfig", "ASP016"));
        // The firewall's logging keys, removed in macOS 15, are gone from
        // Apple's 27.0 schema: not checked, and said so.
        assert!(noted("pm-firewall.mobileconfig", "ASP016"));
        // A payload type Apple removed (com.apple.SoftwareUpdate, macOS
        // 27.0) is one note for the payload, not one for each of its keys.
        let update: Vec<&(String, String, String)> = files
            .iter()
            .filter(|(f, _)| f == "pm-software-update.mobileconfig")
            .flat_map(|(_, xs)| xs.iter())
            .collect();
        assert_eq!(update.len(), 1, "{update:?}");
        assert_eq!(
            (
                update[0].0.as_str(),
                update[0].1.as_str(),
                update[0].2.as_str()
            ),
            ("ASP018", "note", "PayloadContent[0]")
        );
    }
    // With warnings as errors, too: a CI gate on these profiles stays green.
    let out = aspen(&["lint", "--warnings-as-errors", &dir]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Every real mistake seeded into the same kind of profiles
/// (fixtures/real-world/mistakes/expected.tsv: wrong types, out-of-range
/// values, wrong enum values, misspelled keys and payload types, a key
/// User Enrollment forbids, a missing required key) is reported, without
/// `--schema`; each file with an error exits 1.
#[test]
fn real_world_mistakes_are_all_reported() {
    let dir = fixture("real-world/mistakes");
    let expected = std::fs::read_to_string(dir.join("expected.tsv")).unwrap();
    let (exit, files) = findings_by_file(&[&dir.display().to_string()]);
    assert_eq!(exit, 1);
    let mut missed = Vec::new();
    let mut seen_files = std::collections::BTreeSet::new();
    for line in expected.lines().filter(|l| !l.starts_with('#')) {
        let [file, code, path]: [&str; 3] =
            line.split('\t').collect::<Vec<_>>().try_into().unwrap();
        seen_files.insert(file);
        let findings = &files.iter().find(|(f, _)| f == file).unwrap().1;
        if !findings.iter().any(|x| x.0 == code && x.2 == path) {
            missed.push(format!("{file}: no {code} at {path}: {findings:?}"));
        }
        // Nothing else is an error or warning beyond what the mistake causes.
        for x in findings.iter().filter(|x| x.1 != "note") {
            let same_key = x.2 == path
                || x.2
                    .starts_with(&format!("{}.", path.rsplit_once('.').map_or(path, |p| p.0)));
            // An enrollment profile carrying settings is warned about
            // whatever its mistake (ASP037, at PayloadContent).
            assert!(
                same_key || x.2.is_empty() || x.0 == "ASP002" || x.0 == "ASP037",
                "{file}: unexpected {x:?}"
            );
        }
    }
    assert!(missed.is_empty(), "{}", missed.join("\n"));
    assert_eq!(
        seen_files.len(),
        files.len(),
        "every mistake file has an expectation"
    );
    assert!(files.len() >= 20);
    for file in seen_files {
        let f = dir.join(file).display().to_string();
        let (exit, got) = lint(&[&f]);
        let warning_only = got
            .iter()
            .all(|(c, _)| ["ASP008", "ASP015"].contains(&c.as_str()));
        assert_eq!(exit, if warning_only { 0 } else { 1 }, "{file}");
        if warning_only {
            assert_eq!(lint(&["--warnings-as-errors", &f]).0, 1, "{file}");
        }
    }
}
