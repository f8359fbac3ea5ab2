//! `aspen lint`: the corpus in fixtures/profiles (one broken thing per file,
//! made by make-profiles.py), the User Enrollment rules, Apple's schema, and
//! every profile aspen generates linting clean.

mod common;
use common::*;
use std::path::PathBuf;

/// Apple's schema beside the repository, when present (CI has it); when
/// absent, says so straight to stderr, past the test harness's capture, so
/// the skip shows in every `cargo test` run.
fn schema_dir() -> Option<PathBuf> {
    let dir = common::schema_dir();
    if dir.is_none() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipped: {} is absent, so the --schema checks did not run",
            root().join("../shared/apple-device-management").display()
        );
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
        ("ok-byod-per-app-vpn", 0, &[]),
        ("garbage", 1, &[("ASP000", "")]),
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
        ("profile-uuid-not-a-uuid", 0, &[("ASP009", "PayloadUUID")]),
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
        ("byod-device-vpn", 1, &[("ASP050", "PayloadContent[3]")]),
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
            &[("ASP051", "PayloadContent[3].allowCamera")],
        ),
        (
            "byod-passcode-ignored",
            0,
            &[("ASP052", "PayloadContent[3].minLength")],
        ),
        // No MDM payload: device rules unless --enrollment user (below).
        ("restrictions-camera", 0, &[]),
        ("global-http-proxy", 0, &[]),
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
    assert_eq!((exit, codes(&f)), (0, vec![]));
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

#[test]
fn schema_checks_what_the_built_in_rules_do_not_know() {
    let Some(dir) = schema_dir() else { return };
    let dir = dir.display().to_string();
    let cases: &[Case] = &[
        (
            "schema-target-device-type",
            1,
            &[("ASP004", "TargetDeviceType")],
        ),
        (
            "schema-airprint-port",
            1,
            &[("ASP011", "PayloadContent[3].AirPrint[0].Port")],
        ),
        (
            "schema-airplay-device-id",
            1,
            &[("ASP005", "PayloadContent[3].AllowList[0].DeviceID")],
        ),
        (
            "schema-wifi-ssid-integer",
            1,
            &[("ASP003", "PayloadContent[3].SSID_STR")],
        ),
        (
            "schema-unknown-payload-type",
            0,
            &[("ASP015", "PayloadContent[3]")],
        ),
        (
            "byod-device-vpn-duplicate-nested-key",
            1,
            &[
                ("ASP012", "PayloadContent[1].PayloadContent"),
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
            &[("ASP051", "PayloadContent[3].allowCamera")],
        ),
        ("ok-device", 0, &[]),
        ("ok-byod", 0, &[]),
        ("ok-acme", 0, &[]),
        ("ok-pkcs12-identity", 0, &[]),
        ("ok-byod-per-app-vpn", 0, &[]),
    ];
    for (name, want_exit, want) in cases {
        let (exit, got) = lint(&["--schema", &dir, &profile(name)]);
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(c, p)| ((*c).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!((exit, &got), (*want_exit, &want), "{name}");
    }
    // The schema-only fixtures pass the built-in rules.
    for name in [
        "schema-target-device-type",
        "schema-airprint-port",
        "schema-wifi-ssid-integer",
    ] {
        assert_eq!(lint(&[&profile(name)]), (0, vec![]), "{name}");
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

/// The built-in User Enrollment lists say exactly what Apple's schema says
/// for iOS.
#[test]
fn built_in_user_enrollment_lists_match_apples_schema() {
    let Some(dir) = schema_dir() else { return };
    let schema = aspen::lint::schema::Schema::load(&dir).unwrap();
    assert!(schema.payload_types() > 100);
    assert_eq!(
        aspen::lint::user_enrollment::facts(),
        schema.user_enrollment_facts()
    );
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
                files.push((out, kind.contains(&"--legacy")));
            }
        }
        workspaces.push(ws);
    }
    let schema = schema_dir().map(|d| d.display().to_string());
    for (f, legacy) in &files {
        let mut runs = vec![lint(&[f])];
        if let Some(dir) = &schema {
            runs.push(lint(&["--schema", dir, f]));
        }
        for (exit, findings) in runs {
            // The legacy kind carries the one intended warning: iOS 18 refuses it.
            let want: Vec<&str> = if *legacy { vec!["ASP032"] } else { vec![] };
            assert_eq!((exit, codes(&findings)), (0, want), "{f}");
        }
    }
    assert_eq!(files.len(), 24);
}

#[test]
fn every_rule_code_is_unique_and_documented_in_the_readme() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut seen = std::collections::HashSet::new();
    for rule in aspen::lint::rules::ALL {
        assert!(seen.insert(rule.code), "{} twice", rule.code);
        assert!(
            readme.contains(rule.code),
            "README.md does not list {}",
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
                "ASP008".to_owned(),
                "PayloadContent[0].whiteList[0].subApps[0].subApps[0].bogus".to_owned()
            )]
        )
    );
}
