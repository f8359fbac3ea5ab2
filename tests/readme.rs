//! Every command README.md shows is run here, as written, in the order the
//! README gives them, in a folder of a reader's own: `sh` blocks are aspen's
//! commands (each must exit 0, or the status its comment names:
//! `# exits 1: …`); `console` blocks are other products'
//! commands (NanoMDM, step-ca, NanoDEP), which need their servers: they are
//! checked for shell syntax and that they name one of those tools; `toml`
//! blocks must parse and use only aspen's sections; `cargo` lines are the
//! set-up commands CI itself runs.
//!
//! The one step a person does by hand — editing `myorg/aspen.toml` after
//! `aspen init` — is done here by writing the demo settings with a portal,
//! a store, per-profile challenges, `[ade]` and `[ca]` into it, with the
//! test-only keys of `fixtures/`.

use crate::common;
use std::path::Path;
use std::process::Command;

/// A fenced block: its info string and its lines.
struct Block {
    info: String,
    lines: Vec<String>,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for line in text.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    info: info.trim().to_owned(),
                    lines: Vec::new(),
                })
            }
            (Some(_), Some(_)) => out.push(open.take().unwrap()),
            (Some(b), None) => b.lines.push(line.to_owned()),
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "README.md ends inside a fenced block");
    out
}

/// `line` without its trailing `# comment` (a `#` outside quotes, after a
/// space), trimmed.
fn command(line: &str) -> String {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return line[..i].trim().into(),
            _ => {}
        }
        prev = c;
    }
    line.trim().into()
}

/// The settings the reader writes into `myorg/aspen.toml`, with the
/// README's `[[restriction]]` block.
fn edited_settings(dir: &Path, restriction: &str) -> String {
    let secret = dir.join("myorg/step-ca-webhook.secret");
    let b64 = openssl::base64::encode_block(&[0x5a; 48]);
    std::fs::write(&secret, format!("{b64}\n")).unwrap();
    private(&secret);
    let portal = dir.join("myorg/portal.secret");
    std::fs::write(&portal, "5a".repeat(32) + "\n").unwrap();
    private(&portal);
    format!(
        "{}\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nsecret_file = \"portal.secret\"\nstate_dir = \"aspen-state\"\n\n[ade]\nminimum_os = {{ iOS = \"17.0\", iPadOS = \"17.0\", macOS = \"14.0\" }}\nprofile_name = \"Contoso devices\"\nis_mdm_removable = false\n\n[ca]\nscep_webhook_secret_file = \"step-ca-webhook.secret\"\n\n{restriction}\n",
        common::demo_settings()
            .replace(
                "challenge = \"demo-challenge-not-secret\"",
                "challenge = \"per-profile\""
            )
            .replace("CN=Contoso MDM Identity", "CN={profile_uuid}")
    )
}

fn private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The exit status a README line's comment promises (`# exits 1: …`), else 0.
fn promised_status(line: &str) -> i32 {
    line.split_once("# exits ")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Runs one `aspen …` line in `dir` through the shell, as a reader would;
/// it must exit `status`.
fn run_aspen(dir: &Path, line: &str, status: i32) {
    if line.starts_with("aspen serve ") {
        return serve(dir, line);
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_aspen")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new("bash")
        .args(["-c", line])
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("ASPEN_CONFIG")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(status),
        "README command `{line}` exited {:?}:\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `aspen serve …` as written, on a free port instead of the README's 8080:
/// it must come up serving, then it is stopped.
fn serve(dir: &Path, line: &str) {
    let args: Vec<String> = line
        .split_whitespace()
        .skip(1)
        .map(|a| match a {
            "127.0.0.1:8080" => "127.0.0.1:0".to_owned(),
            a if !a.starts_with('-') && dir.join(a).exists() => dir.join(a).display().to_string(),
            a => a.to_owned(),
        })
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (mut child, _log) = crate::server::spawn(&args, "serving");
    let _ = child.kill();
    let _ = child.wait();
}

/// What the `console` blocks may name: the other servers of the recipes.
const OTHER_TOOLS: &[&str] = &["nanomdm", "step", "curl"];

/// Top-level settings sections aspen reads.
const SECTIONS: &[&str] = &[
    "organization",
    "mdm",
    "identity",
    "anchor",
    "signing",
    "policy",
    "restriction",
    "directory",
    "portal",
    "store",
    "serve",
    "oidc",
    "ade",
    "ca",
];

#[test]
fn every_readme_command_runs_as_written() {
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for f in ["push.pem", "ca.pem"] {
        std::fs::copy(common::cert(f), dir.path().join(f)).unwrap();
    }
    let restriction = blocks(&readme)
        .into_iter()
        .find(|b| b.info == "toml" && b.lines[0] == "[[restriction]]")
        .expect("README shows a [[restriction]]")
        .lines
        .join("\n");
    let mut ran = Vec::new();
    let mut cargo = Vec::new();
    for block in blocks(&readme) {
        match block.info.as_str() {
            "sh" => {
                for raw in &block.lines {
                    let line = command(raw);
                    if line.is_empty() {
                        continue;
                    }
                    if line.starts_with("cargo ") {
                        cargo.push(line);
                        continue;
                    }
                    assert!(line.starts_with("aspen "), "a sh block runs aspen: {line}");
                    run_aspen(dir.path(), &line, promised_status(raw));
                    if line.starts_with("aspen init myorg") {
                        let settings = edited_settings(dir.path(), &restriction);
                        std::fs::write(dir.path().join("myorg/aspen.toml"), settings).unwrap();
                    }
                    ran.push(line);
                }
            }
            "console" => {
                for line in block.lines.iter().map(|l| command(l)) {
                    if line.is_empty() {
                        continue;
                    }
                    let tool = line.split_whitespace().next().unwrap();
                    assert!(
                        OTHER_TOOLS.contains(&tool),
                        "unknown tool in README: {line}"
                    );
                    let ok = Command::new("bash")
                        .args(["-n", "-c", &line])
                        .status()
                        .unwrap()
                        .success();
                    assert!(ok, "not valid shell: {line}");
                }
            }
            "toml" => {
                let text = block.lines.join("\n");
                let value: toml::Table = toml::from_str(&text)
                    .unwrap_or_else(|e| panic!("README toml block: {e}\n{text}"));
                for key in value.keys() {
                    assert!(SECTIONS.contains(&key.as_str()), "not a section: [{key}]");
                }
            }
            _ => {}
        }
    }
    // The set-up commands: the two at the top (the second is what CI runs)
    // and the install line.
    assert_eq!(
        cargo,
        [
            "cargo run --release -- serve --demo",
            "cargo test --release",
            "cargo install --locked --path ."
        ]
    );
    // The recipes were all there: each kind of command ran.
    for needed in [
        "aspen init ",
        "aspen check ",
        "aspen profile device ",
        "aspen verify ",
        "aspen serve ",
        "aspen invite ",
        "aspen ade profile ",
        "aspen issued ",
        "aspen resolve ",
        "aspen lint ",
        "aspen inspect ",
    ] {
        assert!(
            ran.iter().any(|l| l.starts_with(needed)),
            "no `{needed}…` ran"
        );
    }
    // What the commands wrote is what the README says they write.
    let corp = std::fs::read(dir.path().join("corp.mobileconfig")).unwrap();
    assert!(corp.starts_with(&[0x30]), "a signed (DER CMS) profile");
    let ade: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("profile.json")).unwrap()).unwrap();
    assert_eq!(ade["url"], "https://enroll.contoso.com/ade/enroll");
    assert_eq!(ade["profile_name"], "Contoso devices");
}

#[test]
fn comments_and_quotes_are_told_apart() {
    assert_eq!(command("aspen x -o a  # note"), "aspen x -o a");
    assert_eq!(command("curl -H 'a # b' x # c"), "curl -H 'a # b' x");
    assert_eq!(command("aspen x#y"), "aspen x#y");
    assert_eq!(promised_status("aspen x   # exits 1: why"), 1);
    assert_eq!(promised_status("aspen x   # writes y"), 0);
}
