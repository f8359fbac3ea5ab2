//! The TLS pair `aspen serve` listens with: a key that does not match the
//! certificate, or that is encrypted without a passphrase, is one clear
//! error (never an OpenSSL prompt on the terminal); an encrypted key opens
//! with `[serve] tls_key_passphrase_env` or `tls_key_passphrase_file`
//! (0600: a file others may read is refused), and is served.

use crate::common;
use crate::server;

use common::*;
use server::{Server, tls_pair};
use std::os::unix::fs::PermissionsExt;

const PASS: &str = "correct horse battery staple";

/// `key`, encrypted with [`PASS`] by openssl.
fn encrypt(key: &std::path::Path, out: &std::path::Path) {
    let status = std::process::Command::new("openssl")
        .args([
            "pkey",
            "-aes256",
            "-passout",
            &format!("pass:{PASS}"),
            "-in",
        ])
        .arg(key)
        .arg("-out")
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(std::fs::read_to_string(out).unwrap().contains("ENCRYPTED"));
}

/// `aspen check`'s `tls` line for the demo settings with `serve` as their
/// `[serve]` table, run with `env` and no terminal to prompt on.
fn tls_line(serve: &str, env: &[(&str, &str)]) -> String {
    let ws = Workspace::new(&format!("{}\n[serve]\n{serve}\n", demo_settings()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aspen"))
        .args(["check", "-c"])
        .arg(ws.settings())
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    assert!(
        !text.contains(PASS),
        "the passphrase is never printed: {text}"
    );
    text.lines()
        .find(|l| l.contains("tls"))
        .unwrap_or_else(|| panic!("no tls line: {text}"))
        .to_owned()
}

#[test]
fn a_mismatched_or_locked_tls_key_is_one_clear_error() {
    if !have_tool("openssl", "openssl") {
        return;
    }
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (crt, key) = tls_pair(a.path());
    let (_, other_key) = tls_pair(b.path());
    let locked = a.path().join("locked.key");
    encrypt(&key, &locked);
    let pair = |k: &std::path::Path| {
        format!(
            "tls_cert = {:?}\ntls_key = {:?}\n",
            crt.display().to_string(),
            k.display().to_string()
        )
    };

    let line = tls_line(&pair(&other_key), &[]);
    assert!(
        line.contains(&format!(
            "{}: the TLS key does not match the certificate {}",
            other_key.display(),
            crt.display()
        )),
        "{line}"
    );
    let line = tls_line(&pair(&locked), &[]);
    assert!(
        line.contains("the TLS key is encrypted; give its passphrase with [serve] tls_key_passphrase_env or tls_key_passphrase_file"),
        "{line}"
    );
    let with_env = format!("{}tls_key_passphrase_env = \"TLS_PASS\"\n", pair(&locked));
    let line = tls_line(&with_env, &[("TLS_PASS", "wrong")]);
    assert!(
        line.contains("cannot decrypt the TLS key: wrong passphrase?"),
        "{line}"
    );
    let line = tls_line(&with_env, &[("TLS_PASS", PASS)]);
    assert!(line.contains("key matches"), "{line}");

    let file = a.path().join("tls.pass");
    std::fs::write(&file, format!("{PASS}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let with_file = format!(
        "{}tls_key_passphrase_file = {:?}\n",
        pair(&locked),
        file.display().to_string()
    );
    let line = tls_line(&with_file, &[]);
    assert!(
        line.contains("readable by group or others (mode 0644)")
            && line.contains(&format!("chmod 600 {}", file.display())),
        "{line}"
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(tls_line(&with_file, &[]).contains("key matches"));
}

#[test]
fn an_encrypted_tls_key_is_served_with_its_passphrase_file() {
    if !have_tools(&[("openssl", "openssl"), ("curl", "curl")]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (crt, key) = tls_pair(dir.path());
    let locked = dir.path().join("locked.key");
    encrypt(&key, &locked);
    let file = dir.path().join("tls.pass");
    std::fs::write(&file, PASS).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let s = Server::start_with(
        &format!(
            "\n[serve]\ntls_key_passphrase_file = {:?}\n",
            file.display().to_string()
        ),
        &[
            "--tls-cert",
            crt.to_str().unwrap(),
            "--tls-key",
            locked.to_str().unwrap(),
        ],
    );
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(&crt)
        .arg(format!("{}/signin", s.url))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
}
