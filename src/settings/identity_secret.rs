//! An identity secret (a SCEP challenge, an ACME client identifier) from
//! the one form it is written in: inline, `"per-profile"` (with its
//! `challenge_ttl`), an environment variable (`KEY_env`) or a file
//! (`KEY_file`). Errors name the key, never the value.

use super::fields::{fail, relative_path};
use crate::error::FieldError;
use crate::payload::check_plist_text;
use crate::secret::{DEFAULT_TTL_SECONDS, IdentitySecret, PER_PROFILE, Secret};
use std::path::Path;

/// The ways an identity secret may be written: `KEY = "…"` (or
/// `"per-profile"`), `KEY_env`, `KEY_file`, and `challenge_ttl`.
pub(super) struct SecretForms {
    pub(super) inline: Option<Secret>,
    pub(super) env: Option<String>,
    pub(super) file: Option<String>,
    pub(super) ttl: Option<String>,
}

/// Biggest secret file aspen reads (a challenge is a line of text).
const MAX_SECRET_FILE_BYTES: u64 = 4096;

/// An identity secret from exactly one of its forms (`key` is e.g.
/// `identity.challenge`). A static value from a variable or a file is read
/// now; errors name the key, never the value.
pub(super) fn identity_secret(
    key: &str,
    forms: SecretForms,
    ttl_key: &str,
    base: &Path,
) -> Result<Option<IdentitySecret>, FieldError> {
    let env_key = format!("{key}_env");
    let file_key = format!("{key}_file");
    let given = [
        (key, forms.inline.is_some()),
        (env_key.as_str(), forms.env.is_some()),
        (file_key.as_str(), forms.file.is_some()),
    ];
    let mut set = given.iter().filter(|(_, s)| *s).map(|(k, _)| *k);
    if let (Some(_), Some(second)) = (set.next(), set.next()) {
        return Err(FieldError::new(
            second,
            None,
            format!("give one of {key}, {env_key} or {file_key}, not several"),
        ));
    }
    let secret = match (forms.inline, forms.env, forms.file) {
        (Some(v), None, None) if v.expose() == PER_PROFILE => {
            let ttl = match forms.ttl {
                Some(t) => crate::time::parse_ttl(&t)
                    .map_err(|why| FieldError::new(ttl_key, Some(&t), why))?,
                None => DEFAULT_TTL_SECONDS,
            };
            return Ok(Some(IdentitySecret::PerProfile { ttl }));
        }
        (Some(v), None, None) => secret_text(key, v)?,
        (None, Some(var), None) => {
            if var.is_empty() || var.contains(['=', '\0']) {
                return fail(&env_key, &var, "must name an environment variable");
            }
            match std::env::var(&var) {
                Ok(v) if !v.is_empty() => secret_text(&env_key, Secret::new(v))?,
                _ => return fail(&env_key, &var, "the environment variable is not set"),
            }
        }
        (None, None, Some(file)) => {
            let path = relative_path(base, &file_key, &file)?;
            let bytes = crate::fs::read_capped_secret(&path, MAX_SECRET_FILE_BYTES)
                .map_err(|e| FieldError::new(&file_key, Some(&file), format!("cannot read {e}")))?;
            let text = std::str::from_utf8(&bytes).map_err(|_| {
                FieldError::new(&file_key, Some(&file), "the file is not UTF-8 text")
            })?;
            // One line; its line break is not part of the secret.
            let value = text.strip_suffix('\n').unwrap_or(text);
            let value = value.strip_suffix('\r').unwrap_or(value);
            secret_text(&file_key, Secret::new(value.to_owned()))?
        }
        _ => {
            if forms.ttl.is_some() {
                return Err(FieldError::new(
                    ttl_key,
                    None,
                    format!("is only for {key} = \"per-profile\""),
                ));
            }
            return Ok(None);
        }
    };
    if secret.expose() == PER_PROFILE {
        return Err(FieldError::new(
            key,
            None,
            format!("\"per-profile\" is written inline: {key} = \"per-profile\""),
        ));
    }
    if forms.ttl.is_some() {
        return Err(FieldError::new(
            ttl_key,
            None,
            format!("is only for {key} = \"per-profile\", not a static value"),
        ));
    }
    Ok(Some(IdentitySecret::Static(secret)))
}

/// A secret that ends up in the plist: the same rule as [`super::fields::text`], but the
/// error never shows the value.
fn secret_text(field: &str, value: Secret) -> Result<Secret, FieldError> {
    let v = value.expose();
    if v.trim().is_empty() || check_plist_text(v).is_err() {
        return Err(FieldError::new(
            field,
            None,
            "must be non-empty text without control characters",
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use crate::secret::{IdentitySecret, Secret};
    use crate::settings::tests::{MINIMAL, PORTAL, parse};
    use crate::settings::{Identity, Settings};

    #[test]
    fn challenge_is_never_echoed() {
        let bad = MINIMAL.replace("s3cret", "s3cret\u{1}");
        let bad = bad.replace("\u{1}", "\\u0001");
        let msg = parse(&bad).unwrap_err().to_string();
        assert!(
            msg.contains("identity.challenge") && !msg.contains("s3cret"),
            "{msg}"
        );
    }

    fn scep_challenge(s: &Settings) -> Option<IdentitySecret> {
        match &s.identity {
            Identity::Scep(c) => c.challenge.clone(),
            Identity::Acme(_) => panic!("scep expected"),
        }
    }

    #[test]
    fn per_profile_secrets_need_a_store_and_take_a_ttl() {
        let per = MINIMAL.replace("\"s3cret\"", "\"per-profile\"");
        let msg = parse(&per).unwrap_err().to_string();
        assert!(
            msg.starts_with(
                "dir/aspen.toml:13: identity.challenge = \"per-profile\": needs a store"
            ),
            "{msg}"
        );
        let s = parse(&format!("{per}{PORTAL}")).unwrap();
        assert_eq!(
            scep_challenge(&s),
            Some(IdentitySecret::PerProfile { ttl: 7 * 86_400 })
        );
        assert!(s.identity.is_per_profile());
        let ttl = per.replace("challenge = ", "challenge_ttl = \"36h\"\nchallenge = ");
        let s = parse(&format!("{ttl}{PORTAL}")).unwrap();
        assert_eq!(
            scep_challenge(&s),
            Some(IdentitySecret::PerProfile { ttl: 36 * 3600 })
        );
        let bad = ttl.replace("36h", "forever");
        let msg = parse(&format!("{bad}{PORTAL}")).unwrap_err().to_string();
        assert!(
            msg.contains("identity.challenge_ttl = \"forever\""),
            "{msg}"
        );
        // A ttl is meaningless for a static challenge.
        let stat = MINIMAL.replace("challenge = ", "challenge_ttl = \"1d\"\nchallenge = ");
        let msg = parse(&stat).unwrap_err().to_string();
        assert!(
            msg.contains(
                "identity.challenge_ttl: is only for identity.challenge = \"per-profile\""
            ) && !msg.contains("s3cret"),
            "{msg}"
        );
    }

    #[test]
    fn static_secrets_come_from_one_of_three_forms_and_errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aspen.toml");
        std::fs::write(dir.path().join("challenge.txt"), "from-a-file\n").unwrap();
        let with =
            |line: &str| Settings::parse(&MINIMAL.replace("challenge = \"s3cret\"", line), &path);
        let s = with("challenge_file = \"challenge.txt\"").unwrap();
        assert_eq!(
            scep_challenge(&s),
            Some(IdentitySecret::Static(Secret::new("from-a-file".into())))
        );
        let var = "ASPEN_TEST_CHALLENGE_4712";
        // SAFETY: no other test reads or writes this variable.
        unsafe { std::env::set_var(var, "from-the-env") };
        let s = with(&format!("challenge_env = \"{var}\"")).unwrap();
        assert_eq!(
            scep_challenge(&s),
            Some(IdentitySecret::Static(Secret::new("from-the-env".into())))
        );
        let msg = with("challenge_env = \"ASPEN_TEST_UNSET_4713\"")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains(":13: identity.challenge_env = \"ASPEN_TEST_UNSET_4713\": the environment variable is not set"),
            "{msg}"
        );
        let msg = with("challenge_file = \"missing.txt\"")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("identity.challenge_file = \"missing.txt\": cannot read"),
            "{msg}"
        );
        let msg = with(&format!("challenge = \"x\"\nchallenge_env = \"{var}\""))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("identity.challenge_env: give one of identity.challenge, identity.challenge_env or identity.challenge_file"),
            "{msg}"
        );
        std::fs::write(dir.path().join("bad.txt"), "a\u{7}b\n").unwrap();
        let msg = with("challenge_file = \"bad.txt\"")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("identity.challenge_file: must be non-empty text"),
            "{msg}"
        );
        assert!(!msg.contains("a\u{7}b"), "{msg}");
        let msg = with("client_identifier_env = \"X\"")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("identity.client_identifier_env: is not a key of kind = \"scep\""),
            "{msg}"
        );
    }
}
