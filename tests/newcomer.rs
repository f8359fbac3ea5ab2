//! Mistakes a newcomer makes, each reported where it can be fixed: a
//! certificate, key or users file that is not there names its settings key
//! and line; a subject pasted as `openssl x509 -subject` prints it is read
//! part by part (or refused with the form to use), never taken as one CN;
//! `-o` into a folder that is not there names the folder.

use crate::common;

use common::*;

/// The 1-based line of `settings` holding `needle`.
fn line_of(settings: &str, needle: &str) -> usize {
    settings.lines().position(|l| l.contains(needle)).unwrap() + 1
}

fn profile_args(ws: &Workspace, out: &str) -> Vec<String> {
    [
        "profile",
        "for",
        "--user",
        "alice@contoso.com",
        "--choice",
        "device",
        "-c",
        ws.settings().to_str().unwrap(),
        "-o",
        ws.path(out).to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

fn run(args: &[String]) -> std::process::Output {
    aspen(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn a_missing_certificate_key_or_users_file_names_its_key_and_line() {
    let demo = demo_settings();
    let certs = fixture("certs").display().to_string();
    for (from, to, key) in [
        (
            format!("certificate = \"{certs}/signer.pem\""),
            "certificate = \"certs/signing.pem\"".to_owned(),
            "signing.certificate",
        ),
        (
            format!("key = \"{certs}/signer.key\""),
            "key = \"certs/signing.key\"".to_owned(),
            "signing.key",
        ),
    ]
    .into_iter()
    .chain([(
        demo.lines()
            .find(|l| l.starts_with("users = "))
            .unwrap()
            .to_owned(),
        "users = \"people.csv\"".to_owned(),
        "directory.users",
    )]) {
        assert!(demo.contains(&from), "{from}");
        let text = demo.replace(&from, &to);
        let ws = Workspace::new(&text);
        let err = fails(run(&profile_args(&ws, "p.mobileconfig")));
        let file = to.split('"').nth(1).unwrap();
        let want = format!(
            "{}:{}: {key}: {}: no such file",
            ws.settings().display(),
            line_of(&text, &to),
            ws.path(file).display()
        );
        assert!(err.contains(&want), "want {want}\n got {err}");
        assert!(!ws.path("p.mobileconfig").exists(), "no partial output");
    }
}

#[test]
fn a_subject_as_openssl_prints_it_is_read_part_by_part() {
    if !have_tool("python3", "python3") {
        return;
    }
    let demo = demo_settings();
    let slash = "subject = \"O=Contoso/CN=Contoso MDM Identity\"";
    assert!(demo.contains(slash));
    let ws = Workspace::new(&demo.replace(
        slash,
        "subject = \"O = Contoso, CN = Contoso MDM Identity\"",
    ));
    let mut args = profile_args(&ws, "p.mobileconfig");
    args.push("--unsigned".into());
    ok(run(&args));
    let plist = plistlib_json(&std::fs::read(ws.path("p.mobileconfig")).unwrap());
    let scep = plist["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["PayloadType"] == "com.apple.security.scep")
        .unwrap();
    assert_eq!(
        scep["PayloadContent"]["Subject"],
        serde_json::json!([[["O", "Contoso"]], [["CN", "Contoso MDM Identity"]]])
    );

    // RFC 2253's comma form lists the parts backwards: refused, with the
    // key, its line and the forms to use.
    let written = "subject = \"CN=Contoso MDM Identity,O=Contoso\"";
    let text = demo.replace(slash, written);
    let ws = Workspace::new(&text);
    let err = fails(run(&profile_args(&ws, "p.mobileconfig")));
    assert!(
        err.contains(&format!(
            "{}:{}: identity.subject",
            ws.settings().display(),
            line_of(&text, written)
        )) && err.contains("\"O=Contoso/CN=Name\"")
            && err.contains("\"O = Contoso, CN = Name\""),
        "{err}"
    );
}

#[test]
fn output_into_a_missing_folder_names_the_folder() {
    let ws = Workspace::new(&demo_settings());
    let mut args = profile_args(&ws, "nowhere/p.mobileconfig");
    args.push("--unsigned".into());
    let err = fails(run(&args));
    let folder = ws.path("nowhere");
    assert!(
        err.contains(&format!("{}: no such folder", folder.display())),
        "{err}"
    );
    let rest = err.replace(ws.dir.path().to_str().unwrap(), "WORKSPACE");
    assert!(
        !rest.contains(".tmp"),
        "never a temporary file's name: {err}"
    );
}
