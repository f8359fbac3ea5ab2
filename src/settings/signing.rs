//! `[signing]`: where the key that signs profiles comes from (a PEM
//! certificate and key, or a PKCS#12 file) and where its passphrase is.

use super::fields::{fail, relative_path};
use crate::error::FieldError;
use crate::sign::{KeySource, Passphrase};
use serde::Deserialize;
use std::path::Path;

/// `[signing]` as written (the key names are a contract).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSigning {
    certificate: Option<String>,
    key: Option<String>,
    #[serde(default)]
    chain: Vec<String>,
    key_passphrase_env: Option<String>,
    key_passphrase_file: Option<String>,
    pkcs12: Option<String>,
    pkcs12_passphrase_env: Option<String>,
    pkcs12_passphrase_file: Option<String>,
}

/// A passphrase from an environment variable or a file: one of them, or
/// none.
pub(super) fn passphrase(
    env_field: &str,
    env: Option<String>,
    file_field: &str,
    file: Option<String>,
    base: &Path,
) -> Result<Option<Passphrase>, FieldError> {
    match (env, file) {
        (Some(_), Some(_)) => Err(FieldError::new(
            file_field,
            None,
            format!("give either {env_field} or {file_field}, not both"),
        )),
        (Some(var), None) if var.is_empty() => {
            fail(env_field, &var, "must name an environment variable")
        }
        (Some(var), None) => Ok(Some(Passphrase::Env(var))),
        (None, Some(f)) => Ok(Some(Passphrase::File(relative_path(base, file_field, &f)?))),
        (None, None) => Ok(None),
    }
}

/// `[signing]`, checked: `pkcs12`, or `certificate` + `key` (+ `chain`).
pub(super) fn validate(raw: RawSigning, base: &Path) -> Result<KeySource, FieldError> {
    let path = |field: &str, v: &str| relative_path(base, field, v);
    match (&raw.pkcs12, &raw.certificate, &raw.key) {
        (Some(p12), None, None) => {
            if !raw.chain.is_empty()
                || raw.key_passphrase_env.is_some()
                || raw.key_passphrase_file.is_some()
            {
                return Err(FieldError::new(
                    "signing.pkcs12",
                    Some(p12),
                    "a PKCS#12 file carries its own chain and passphrase: use pkcs12_passphrase_env or pkcs12_passphrase_file, not chain or key_passphrase_*",
                ));
            }
            Ok(KeySource::Pkcs12 {
                path: path("signing.pkcs12", p12)?,
                passphrase: passphrase(
                    "signing.pkcs12_passphrase_env",
                    raw.pkcs12_passphrase_env,
                    "signing.pkcs12_passphrase_file",
                    raw.pkcs12_passphrase_file,
                    base,
                )?,
            })
        }
        (None, Some(cert), Some(key)) => {
            if raw.pkcs12_passphrase_env.is_some() || raw.pkcs12_passphrase_file.is_some() {
                return Err(FieldError::new(
                    "signing.pkcs12_passphrase_env",
                    None,
                    "is only for pkcs12; a PEM key uses key_passphrase_env or key_passphrase_file",
                ));
            }
            Ok(KeySource::Pem {
                certificate: path("signing.certificate", cert)?,
                key: path("signing.key", key)?,
                chain: raw
                    .chain
                    .iter()
                    .enumerate()
                    .map(|(i, c)| path(&format!("signing.chain[{i}]"), c))
                    .collect::<Result<_, _>>()?,
                passphrase: passphrase(
                    "signing.key_passphrase_env",
                    raw.key_passphrase_env,
                    "signing.key_passphrase_file",
                    raw.key_passphrase_file,
                    base,
                )?,
            })
        }
        (Some(_), _, _) => Err(FieldError::new(
            "signing.pkcs12",
            None,
            "give either pkcs12 or certificate + key, not both",
        )),
        (None, None, _) => Err(FieldError::new(
            "signing.certificate",
            None,
            "is required (or give pkcs12)",
        )),
        (None, Some(_), None) => Err(FieldError::new(
            "signing.key",
            None,
            "is required with signing.certificate",
        )),
    }
}
