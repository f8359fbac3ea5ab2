//! Shared helpers for the integration tests: run the `aspen` binary, locate
//! fixtures, and check results with independent tools (openssl, python3's
//! plistlib, plistutil).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures").join(rel)
}

pub fn cert(name: &str) -> PathBuf {
    fixture("certs").join(name)
}

/// The demo settings, with certificate paths made absolute so the text can be
/// written (and edited) anywhere.
pub fn demo_settings() -> String {
    let text = std::fs::read_to_string(fixture("demo/aspen.toml")).unwrap();
    text.replace("../certs/", &format!("{}/", fixture("certs").display()))
        .replace(
            "users = \"users.csv\"",
            &format!(
                "users = {:?}",
                fixture("demo/users.csv").display().to_string()
            ),
        )
}

/// A temporary folder holding `aspen.toml` with `text`.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new(settings: &str) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("aspen.toml"), settings).unwrap();
        Workspace { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn settings(&self) -> PathBuf {
        self.path("aspen.toml")
    }

    /// Every file name in the folder, sorted (to prove nothing partial was left).
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// Runs `aspen` with `args`.
pub fn aspen(args: &[&str]) -> Output {
    aspen_env(args, &[])
}

pub fn aspen_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aspen"));
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run aspen")
}

/// Runs `aspen` with `args` and `input` on its standard input (written from
/// another thread, so a large input cannot deadlock against a full pipe; a
/// write aspen refused by closing its end is not an error here).
pub fn aspen_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aspen"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run aspen");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for aspen");
    writer.join().unwrap();
    out
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub fn ok(out: Output) -> Vec<u8> {
    assert!(out.status.success(), "aspen failed: {}", stderr(&out));
    out.stdout
}

/// Asserts exit status 2 (aspen could not do its job: bad input, a missing
/// file, bad settings) and returns stderr.
pub fn fails(out: Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(2),
        "expected exit 2; stderr: {}",
        stderr(&out)
    );
    stderr(&out)
}

/// Asserts exit status 1 (a check found something: lint findings, a bad
/// signature, a refusal) and returns stderr.
pub fn found(out: Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit 1; stderr: {}",
        stderr(&out)
    );
    stderr(&out)
}

/// Whether CI runs this test (`CI=true`): there a missing tool is a
/// failure, never a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether `name` is on the PATH.
pub fn on_path(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The one rule for a test whose tool may be missing: true when `name` is
/// there. When it is not, the test should return early: this prints one loud
/// line past the harness's capture, except under `CI=true`, where it fails.
pub fn have_tool(name: &str, package: &str) -> bool {
    if on_path(name) {
        return true;
    }
    skip_or_fail(&format!(
        "{name} is missing: install {package} (bash .ci/run does)"
    ));
    false
}

/// [`have_tool`] for a test that needs several tools (name, Debian
/// package): one line names every missing one.
pub fn have_tools(tools: &[(&str, &str)]) -> bool {
    let missing: Vec<String> = tools
        .iter()
        .filter(|(name, _)| !on_path(name))
        .map(|(name, package)| format!("{name} (install {package})"))
        .collect();
    if missing.is_empty() {
        return true;
    }
    skip_or_fail(&format!(
        "missing {} (bash .ci/run installs them)",
        missing.join(", ")
    ));
    false
}

/// Prints `why` as a skip notice straight to stderr (so it shows in every
/// `cargo test` run), or panics with it under `CI=true`.
pub fn skip_or_fail(why: &str) {
    assert!(!in_ci(), "CI=true and {why}");
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {}: {why}",
        std::thread::current().name().unwrap_or("a test")
    );
}

fn tool(name: &str, package: &str) -> Command {
    assert!(
        on_path(name),
        "{name} is needed by this test: install {package} (bash .ci/run does)"
    );
    Command::new(name)
}

/// `openssl cms -verify` of a DER file against `ca` (intermediates must come
/// from the file itself); returns the signed content, or Err(stderr).
pub fn openssl_verify(signed: &Path, ca: &Path) -> Result<Vec<u8>, String> {
    let out = tool("openssl", "openssl")
        .args(["cms", "-verify", "-inform", "DER", "-binary", "-in"])
        .arg(signed)
        .arg("-CAfile")
        .arg(ca)
        .arg("-purpose")
        .arg("any")
        .output()
        .unwrap();
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The certificates a CMS file carries, as `openssl` prints their subjects.
pub fn openssl_cms_subjects(signed: &Path) -> Vec<String> {
    let out = tool("openssl", "openssl")
        .args(["pkcs7", "-inform", "DER", "-print_certs", "-noout", "-in"])
        .arg(signed)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("subject=").map(str::to_owned))
        .collect()
}

/// Parses a plist with python3's plistlib and returns it as JSON (bytes
/// become base64 strings, dates ISO strings).
pub fn plistlib_json(plist: &[u8]) -> serde_json::Value {
    let script = r#"
import sys, plistlib, json, base64, datetime
def conv(v):
    if isinstance(v, dict): return {k: conv(x) for k, x in v.items()}
    if isinstance(v, list): return [conv(x) for x in v]
    if isinstance(v, bytes): return base64.b64encode(v).decode()
    if isinstance(v, datetime.datetime): return v.isoformat()
    return v
print(json.dumps(conv(plistlib.loads(sys.stdin.buffer.read()))))
"#;
    let mut child = tool("python3", "python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(plist).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "plistlib rejected the plist: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Converts a plist file with `plistutil` (to XML) and returns the output;
/// plistutil exits 0 even on failure, so the output itself is checked.
pub fn plistutil_xml(path: &Path) -> String {
    let out = tool("plistutil", "libplist-utils")
        .args(["-f", "xml", "-i"])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("<plist") && text.contains("</plist>"),
        "plistutil could not parse {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Apple's schema beside the repository (`../shared/apple-device-management`),
/// when present; CI has it.
pub fn schema_dir() -> Option<PathBuf> {
    let dir = root().join("../shared/apple-device-management");
    dir.join("mdm/profiles/TopLevel.yaml")
        .is_file()
        .then_some(dir)
}

/// Asserts that `aspen lint` finds nothing in `file` (built-in rules, and
/// Apple's schema when present) and that it detects `kind` (e.g. "user-byod").
/// The one expected finding: legacy User Enrollment's ASP032 warning that
/// iOS 18 and macOS 15 refuse it.
pub fn lints_clean(file: &Path, kind: &str) {
    let mut runs = vec![vec!["lint".to_owned(), "--json".to_owned()]];
    match schema_dir() {
        Some(dir) => runs.push(vec![
            "lint".into(),
            "--json".into(),
            "--schema".into(),
            dir.display().to_string(),
        ]),
        None => skip_or_fail(
            "../shared/apple-device-management is absent: the profile was linted without Apple's schema",
        ),
    }
    for mut args in runs {
        args.push(file.display().to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = aspen(&args);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("lint printed no JSON ({e}): {}", stderr(&out)));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {json:#}");
        let f = &json["files"][0];
        let codes: Vec<&str> = f["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["code"].as_str().unwrap())
            .collect();
        let expected: &[&str] = if kind == "user-legacy" {
            &["ASP032"]
        } else {
            &[]
        };
        assert_eq!(codes, expected, "{args:?}: {json:#}");
        assert_eq!(f["detected"], kind, "{args:?}");
    }
}

/// Lower-case hex SHA-256 of `bytes` (OpenSSL's, not aspen's code).
pub fn sha256_hex(bytes: &[u8]) -> String {
    openssl::sha::sha256(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
