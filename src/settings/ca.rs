//! `[ca]`: how the CA that issues device identities reaches aspen. Today one
//! thing: the secret of step-ca's `SCEPCHALLENGE` webhook
//! (`POST <public_url>/ca/scep-challenge`), with which step-ca signs every
//! call (`X-Smallstep-Signature`: HMAC-SHA256 of the body, in hex). step-ca
//! prints the secret in its own encoding, base64, when the webhook is added
//! (`step ca provisioner webhook add … --kind SCEPCHALLENGE`); aspen takes
//! it as printed, from a private file or an environment variable, never
//! inline, and never shows it.

use super::fields::{fail, relative_path};
use crate::error::FieldError;
use serde::Deserialize;
use std::path::Path;
use zeroize::Zeroizing;

/// `[ca]`, checked.
#[derive(Debug, Clone)]
pub struct Ca {
    /// The webhook's HMAC key (the secret, base64-decoded), when the
    /// webhook is on.
    pub scep_webhook_key: Option<WebhookKey>,
}

/// An HMAC key: never shown.
#[derive(Clone)]
pub struct WebhookKey(Zeroizing<Vec<u8>>);

impl WebhookKey {
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookKey(***)")
    }
}

/// `[ca]` as written (the key names are a contract).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCa {
    scep_webhook_secret_file: Option<String>,
    scep_webhook_secret_env: Option<String>,
}

/// The shortest key aspen takes (step-ca makes 64 random bytes).
const MIN_KEY_BYTES: usize = 16;
/// A secret file holds one line of base64.
const MAX_SECRET_FILE_BYTES: u64 = 4096;

pub(super) fn validate(raw: RawCa, base: &Path) -> Result<Ca, FieldError> {
    const FILE: &str = "ca.scep_webhook_secret_file";
    const ENV: &str = "ca.scep_webhook_secret_env";
    let (field, text) = match (raw.scep_webhook_secret_file, raw.scep_webhook_secret_env) {
        (Some(_), Some(_)) => {
            return Err(FieldError::new(
                ENV,
                None,
                format!("give one of {FILE} or {ENV}, not both"),
            ));
        }
        (None, None) => {
            return Ok(Ca {
                scep_webhook_key: None,
            });
        }
        (Some(file), None) => {
            let path = relative_path(base, FILE, &file)?;
            let bytes = crate::fs::read_capped_secret(&path, MAX_SECRET_FILE_BYTES)
                .map_err(|e| FieldError::new(FILE, Some(&file), format!("cannot read {e}")))?;
            check_private(&path).map_err(|why| FieldError::new(FILE, Some(&file), why))?;
            (FILE, bytes)
        }
        (None, Some(var)) => {
            if var.is_empty() || var.contains(['=', '\0']) {
                return fail(ENV, &var, "must name an environment variable");
            }
            match std::env::var(&var) {
                Ok(v) if !v.trim().is_empty() => (ENV, Zeroizing::new(v.into_bytes())),
                _ => return fail(ENV, &var, "the environment variable is not set"),
            }
        }
    };
    let decoded = std::str::from_utf8(&text)
        .ok()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .and_then(|t| openssl::base64::decode_block(t).ok())
        .map(Zeroizing::new)
        .filter(|k| k.len() >= MIN_KEY_BYTES);
    match decoded {
        Some(key) => Ok(Ca {
            scep_webhook_key: Some(WebhookKey(key)),
        }),
        None => Err(FieldError::new(
            field,
            None,
            format!(
                "must hold the webhook secret as step-ca prints it (base64, at least {MIN_KEY_BYTES} bytes decoded)"
            ),
        )),
    }
}

/// A secret file must be its owner's alone (0600 or 0400).
fn check_private(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| e.to_string())?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "the file is readable by group or others (mode {mode:04o}); anyone who reads it can approve SCEP challenges: chmod 600 it, and replace the webhook's secret if others may have read it"
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::settings::Settings;
    use crate::settings::tests::{MINIMAL, PORTAL};

    #[test]
    fn the_secret_is_base64_from_a_private_file_and_never_shown() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aspen.toml");
        let secret = dir.path().join("webhook.secret");
        let per = MINIMAL.replace("\"s3cret\"", "\"per-profile\"");
        let load = |body: &str| Settings::parse(&format!("{per}{PORTAL}\n[ca]\n{body}\n"), &path);
        // 32 bytes of 0x41, base64.
        let b64 = openssl::base64::encode_block(&[0x41; 32]);
        std::fs::write(&secret, format!("{b64}\n")).unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        let msg = load("scep_webhook_secret_file = \"webhook.secret\"")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("readable by group or others"), "{msg}");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = load("scep_webhook_secret_file = \"webhook.secret\"").unwrap();
        let key = s.ca.unwrap().scep_webhook_key.unwrap();
        assert_eq!(key.bytes(), &[0x41; 32]);
        assert_eq!(format!("{key:?}"), "WebhookKey(***)");
        std::fs::write(&secret, "not base64!\n").unwrap();
        let msg = load("scep_webhook_secret_file = \"webhook.secret\"")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("ca.scep_webhook_secret_file: must hold the webhook secret")
                && !msg.contains("not base64"),
            "{msg}"
        );
        let msg = load("scep_webhook_secret_env = \"ASPEN_TEST_UNSET_WEBHOOK_4714\"")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("the environment variable is not set"), "{msg}");
    }
}
