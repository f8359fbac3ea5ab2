//! `[identity]`: the identity payload the MDM payload's
//! `IdentityCertificateUUID` points at, SCEP or ACME; and
//! `[identity.fallback]`, a SCEP identity for devices that cannot use ACME.
//! Which keys belong to which kind is checked here; the secret each carries
//! is read in [`super::identity_secret`].
//!
//! (A few lines over 600 with its tests: SCEP, ACME and the fallback share
//! one table of which key belongs to which kind.)

use super::Settings;
use super::fields::{fail, https, optional_text};
use super::identity_secret::{SecretForms, identity_secret};
use crate::error::FieldError;
use crate::payload::acme::{self, AcmeConfig};
use crate::payload::scep::{self, ScepConfig};
use crate::payload::{Subject, SubjectPlaceholder};
use crate::secret::{DeviceField, IdentitySecret, Secret, SecretKind};
use serde::Deserialize;
use std::path::Path;

/// The identity payload the MDM payload's `IdentityCertificateUUID` points at.
#[derive(Debug, Clone)]
pub enum Identity {
    Scep(ScepConfig),
    Acme(AcmeConfig),
}

/// Which identity settings a profile carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IdentityUse {
    /// `[identity]`.
    #[default]
    Primary,
    /// `[identity.fallback]`, for a device that cannot use `[identity]`.
    Fallback,
}

impl Identity {
    /// The payload's secret (SCEP `Challenge`, ACME `ClientIdentifier`):
    /// what it is, where it comes from, and the settings key it is under.
    pub fn secret(&self) -> Option<(SecretKind, &IdentitySecret, &'static str)> {
        match self {
            Identity::Scep(c) => c
                .challenge
                .as_ref()
                .map(|s| (SecretKind::ScepChallenge, s, "identity.challenge")),
            Identity::Acme(c) => Some((
                SecretKind::AcmeClientIdentifier,
                &c.client_identifier,
                "identity.client_identifier",
            )),
        }
    }

    /// Whether every issued profile gets its own one-time secret.
    pub fn is_per_profile(&self) -> bool {
        self.secret().is_some_and(|(_, s, _)| s.is_per_profile())
    }

    /// The subject as written, placeholders and all.
    pub fn subject(&self) -> &Subject {
        match self {
            Identity::Scep(c) => &c.subject,
            Identity::Acme(c) => &c.subject,
        }
    }

    /// Whether two issues of one enrollment differ by more than a fresh
    /// secret: the subject names the user or the device, or the client
    /// identifier is the device's. Such profiles are never shared between
    /// users (no cache, no bulk reuse).
    pub fn varies_per_issue(&self) -> bool {
        let per_issue = [
            SubjectPlaceholder::User,
            SubjectPlaceholder::Serial,
            SubjectPlaceholder::Udid,
        ];
        let device_id = matches!(
            self,
            Identity::Acme(AcmeConfig {
                client_identifier: IdentitySecret::Device(_),
                ..
            })
        );
        device_id
            || self
                .subject()
                .placeholders()
                .is_ok_and(|p| p.iter().any(|p| per_issue.contains(p)))
    }
}

/// `[identity]` as written (the key names are a contract).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIdentity {
    kind: String,
    // scep
    url: Option<String>,
    name: Option<String>,
    challenge: Option<Secret>,
    challenge_env: Option<String>,
    challenge_file: Option<String>,
    key_usage: Option<i64>,
    // acme
    directory_url: Option<String>,
    client_identifier: Option<Secret>,
    client_identifier_env: Option<String>,
    client_identifier_file: Option<String>,
    key_type: Option<String>,
    hardware_bound: Option<bool>,
    attest: Option<bool>,
    // both
    key_size: Option<i64>,
    subject: Option<String>,
    /// How long an unused per-profile secret stays valid.
    challenge_ttl: Option<String>,
    /// `[identity.fallback]`: SCEP for devices that cannot use ACME.
    fallback: Option<RawFallback>,
}

/// `[identity.fallback]`: a SCEP identity, the keys of `kind = "scep"`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFallback {
    url: Option<String>,
    name: Option<String>,
    challenge: Option<Secret>,
    challenge_env: Option<String>,
    challenge_file: Option<String>,
    challenge_ttl: Option<String>,
    key_size: Option<i64>,
    key_usage: Option<i64>,
    subject: Option<String>,
}

impl Settings {
    /// The identity settings `which` names (the primary one when there is
    /// no fallback).
    pub fn identity_for(&self, which: IdentityUse) -> &Identity {
        match (which, &self.fallback) {
            (IdentityUse::Fallback, Some(f)) => f,
            _ => &self.identity,
        }
    }

    /// The SCEP identity whose challenges `aspen scep-verify` checks:
    /// `[identity]` when it is SCEP, else `[identity.fallback]`.
    pub fn scep_identity(&self) -> Option<&ScepConfig> {
        [Some(&self.identity), self.fallback.as_ref()]
            .into_iter()
            .flatten()
            .find_map(|i| match i {
                Identity::Scep(c) => Some(c),
                Identity::Acme(_) => None,
            })
    }

    /// Whether any profile aspen issues can carry a per-profile secret.
    pub fn any_per_profile(&self) -> bool {
        self.identity.is_per_profile()
            || self.fallback.as_ref().is_some_and(Identity::is_per_profile)
    }
}

/// A subject, with placeholders (`{user}`, `{serial}`, `{udid}`,
/// `{profile_uuid}`) only of the known kinds; whether an issue can fill them
/// is checked when it is made (`profile::Issue`).
fn subject(field: &str, value: Option<String>, default: &str) -> Result<Subject, FieldError> {
    let value = value.unwrap_or_else(|| default.to_owned());
    let subject =
        Subject::parse(&value).map_err(|why| FieldError::new(field, Some(&value), why))?;
    subject
        .placeholders()
        .map_err(|why| FieldError::new(field, Some(&value), why))?;
    Ok(subject)
}

/// `client_identifier = "serial"` or `"udid"`: the device's own identifier,
/// written inline only, with no `challenge_ttl` (nothing is recorded).
fn device_client_identifier(raw: &RawIdentity) -> Result<Option<DeviceField>, FieldError> {
    let Some(field) = raw
        .client_identifier
        .as_ref()
        .and_then(|c| DeviceField::parse(c.expose()))
    else {
        return Ok(None);
    };
    let value = field.as_str();
    if raw.client_identifier_env.is_some() || raw.client_identifier_file.is_some() {
        return Err(FieldError::new(
            "identity.client_identifier",
            Some(value),
            "give one of identity.client_identifier, identity.client_identifier_env or identity.client_identifier_file, not several",
        ));
    }
    if raw.challenge_ttl.is_some() {
        return Err(FieldError::new(
            "identity.challenge_ttl",
            None,
            format!("is only for identity.client_identifier = \"per-profile\", not \"{value}\""),
        ));
    }
    Ok(Some(field))
}

/// step-ca's `device-attest-01` refuses a certificate request whose Subject
/// CN is set and differs from the order's permanent identifier (the
/// `ClientIdentifier`): with `client_identifier = "serial"` the CN must be
/// `{serial}` or absent.
fn check_device_cn(subject: &Subject, field: DeviceField, raw: &str) -> Result<(), FieldError> {
    let want = format!("{{{}}}", field.as_str());
    match subject.common_name() {
        None => Ok(()),
        Some(cn) if cn == want => Ok(()),
        Some(_) => Err(FieldError::new(
            "identity.subject",
            Some(raw),
            format!(
                "with identity.client_identifier = \"{}\" the CN must be {want} or absent: step-ca's device-attest-01 refuses a certificate request whose CN differs from the device's {}",
                field.as_str(),
                if field == DeviceField::Serial {
                    "serial number"
                } else {
                    "UDID"
                }
            ),
        )),
    }
}

/// `[identity]`, and `[identity.fallback]` when it is there.
pub(super) fn validate(
    raw: RawIdentity,
    base: &Path,
) -> Result<(Identity, Option<Identity>), FieldError> {
    // Keys that belong to the other kind are a mistake worth naming.
    let scep_only = [
        ("url", raw.url.is_some()),
        ("name", raw.name.is_some()),
        ("challenge", raw.challenge.is_some()),
        ("challenge_env", raw.challenge_env.is_some()),
        ("challenge_file", raw.challenge_file.is_some()),
        ("key_usage", raw.key_usage.is_some()),
    ];
    let acme_only = [
        ("directory_url", raw.directory_url.is_some()),
        ("client_identifier", raw.client_identifier.is_some()),
        ("client_identifier_env", raw.client_identifier_env.is_some()),
        (
            "client_identifier_file",
            raw.client_identifier_file.is_some(),
        ),
        ("key_type", raw.key_type.is_some()),
        ("hardware_bound", raw.hardware_bound.is_some()),
        ("attest", raw.attest.is_some()),
    ];
    let misplaced = |keys: &[(&str, bool)], kind: &str| -> Result<(), FieldError> {
        match keys.iter().find(|(_, set)| *set) {
            Some((key, _)) => Err(FieldError::new(
                format!("identity.{key}"),
                None,
                format!("is not a key of kind = \"{kind}\""),
            )),
            None => Ok(()),
        }
    };
    let required = |field: &str, v: Option<String>| {
        v.ok_or_else(|| FieldError::new(field, None, "is required"))
    };
    match raw.kind.as_str() {
        "scep" => {
            misplaced(&acme_only, "scep")?;
            if raw.fallback.is_some() {
                return Err(FieldError::new(
                    "identity.fallback",
                    None,
                    "is only for kind = \"acme\" (SCEP for devices that cannot use ACME)",
                ));
            }
            let scep = scep_identity(
                "identity",
                RawFallback {
                    url: raw.url,
                    name: raw.name,
                    challenge: raw.challenge,
                    challenge_env: raw.challenge_env,
                    challenge_file: raw.challenge_file,
                    challenge_ttl: raw.challenge_ttl,
                    key_size: raw.key_size,
                    key_usage: raw.key_usage,
                    subject: raw.subject,
                },
                base,
            )?;
            Ok((Identity::Scep(scep), None))
        }
        "acme" => {
            misplaced(&scep_only, "acme")?;
            let device_id = device_client_identifier(&raw)?;
            let key_type = match &raw.key_type {
                None => acme::KeyType::EcSecPrimeRandom,
                Some(name) => match acme::KeyType::parse(name) {
                    Ok(t) => t,
                    Err(why) => return fail("identity.key_type", name, why),
                },
            };
            let key_size = raw.key_size.unwrap_or(match key_type {
                acme::KeyType::Rsa => 2048,
                acme::KeyType::EcSecPrimeRandom => 256,
            });
            // Apple recommends, and the ACME CAs NanoMDM users run
            // (step-ca's device-attest-01, nanoca) need, an attested key in
            // the Secure Enclave: the default wherever the key can be one
            // (Apple: HardwareBound keys are ECSECPrimeRandom 256 or 384;
            // Attest needs HardwareBound). Macs without Apple silicon or a
            // T2, and macOS before 14, take [identity.fallback] or an
            // explicit hardware_bound = false.
            let can_bind =
                key_type == acme::KeyType::EcSecPrimeRandom && [256, 384].contains(&key_size);
            let hardware_bound = raw.hardware_bound.unwrap_or(can_bind);
            let attest = raw.attest.unwrap_or(hardware_bound);
            if let Err((key, why)) = acme::check_key(key_type, key_size, hardware_bound, attest) {
                let (field, value) = match key {
                    "KeyType" => ("identity.key_type", key_type.as_str().to_owned()),
                    "KeySize" => ("identity.key_size", key_size.to_string()),
                    "HardwareBound" => ("identity.hardware_bound", hardware_bound.to_string()),
                    _ => ("identity.attest", attest.to_string()),
                };
                return fail(field, &value, why);
            }
            let default_subject = match device_id {
                Some(f) => format!("CN={{{}}}", f.as_str()),
                None => "CN=MDM Identity".to_owned(),
            };
            let written_subject = raw
                .subject
                .clone()
                .unwrap_or_else(|| default_subject.clone());
            let subject = subject("identity.subject", raw.subject, &default_subject)?;
            if let Some(f) = device_id {
                check_device_cn(&subject, f, &written_subject)?;
            }
            let client_identifier = match device_id {
                Some(f) => IdentitySecret::Device(f),
                None => client_identifier(
                    raw.client_identifier,
                    raw.client_identifier_env,
                    raw.client_identifier_file,
                    raw.challenge_ttl,
                    base,
                )?,
            };
            let acme = Identity::Acme(AcmeConfig {
                directory_url: https(
                    "identity.directory_url",
                    required("identity.directory_url", raw.directory_url)?,
                )?,
                client_identifier,
                key_type,
                key_size: key_size as u32,
                hardware_bound,
                attest,
                subject,
            });
            let fallback = raw
                .fallback
                .map(|f| scep_identity("identity.fallback", f, base).map(Identity::Scep))
                .transpose()?;
            Ok((acme, fallback))
        }
        other => fail("identity.kind", other, "must be \"scep\" or \"acme\""),
    }
}

/// The ACME client identifier from one of its forms (Apple:
/// ClientIdentifier is required).
fn client_identifier(
    inline: Option<Secret>,
    env: Option<String>,
    file: Option<String>,
    ttl: Option<String>,
    base: &Path,
) -> Result<IdentitySecret, FieldError> {
    identity_secret(
        "identity.client_identifier",
        SecretForms {
            inline,
            env,
            file,
            ttl,
        },
        "identity.challenge_ttl",
        base,
    )?
    .ok_or_else(|| {
        FieldError::new(
            "identity.client_identifier",
            None,
            "is required (\"per-profile\", \"serial\", \"udid\", a value, or client_identifier_env / client_identifier_file)",
        )
    })
}

/// A SCEP identity from its keys under `table` (`identity` or
/// `identity.fallback`).
fn scep_identity(table: &str, raw: RawFallback, base: &Path) -> Result<ScepConfig, FieldError> {
    let field = |key: &str| format!("{table}.{key}");
    let key_size = raw.key_size.unwrap_or(2048);
    let key_usage = raw.key_usage.unwrap_or(5);
    let url = raw
        .url
        .ok_or_else(|| FieldError::new(field("url"), None, "is required"))?;
    let url = https(&field("url"), url)?;
    scep::check_url(&url).map_err(|why| FieldError::new(field("url"), Some(&url), why))?;
    Ok(ScepConfig {
        url,
        name: optional_text(&field("name"), raw.name)?,
        // The challenge is a secret: errors never echo it.
        challenge: identity_secret(
            &field("challenge"),
            SecretForms {
                inline: raw.challenge,
                env: raw.challenge_env,
                file: raw.challenge_file,
                ttl: raw.challenge_ttl,
            },
            &field("challenge_ttl"),
            base,
        )?,
        key_size: scep::check_key_size(key_size)
            .map_err(|why| FieldError::new(field("key_size"), Some(&key_size.to_string()), why))?,
        key_usage: scep::check_key_usage(key_usage).map_err(|why| {
            FieldError::new(field("key_usage"), Some(&key_usage.to_string()), why)
        })?,
        subject: subject(&field("subject"), raw.subject, "CN=MDM Identity")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::tests::{MINIMAL, PORTAL, parse};

    #[test]
    fn a_scep_fallback_is_only_for_acme_and_checked_like_scep() {
        let acme = MINIMAL.replace(
            "url = \"https://mdm.contoso.com/scep\"\nchallenge = \"s3cret\"\n",
            "directory_url = \"https://acme.contoso.com/dir\"\nclient_identifier = \"per-profile\"\n",
        )
        .replace("kind = \"scep\"", "kind = \"acme\"");
        let fallback = "\n[identity.fallback]\nurl = \"https://mdm.contoso.com/scep\"\nchallenge = \"per-profile\"\nchallenge_ttl = \"1d\"\n";
        let s = parse(&format!("{acme}{fallback}{PORTAL}")).unwrap();
        assert!(matches!(s.identity, Identity::Acme(_)));
        let Some(Identity::Scep(f)) = &s.fallback else {
            panic!("a SCEP fallback")
        };
        assert_eq!(
            f.challenge,
            Some(IdentitySecret::PerProfile { ttl: 86_400 })
        );
        assert!(std::ptr::eq(
            s.identity_for(IdentityUse::Fallback),
            s.fallback.as_ref().unwrap()
        ));
        assert!(std::ptr::eq(s.scep_identity().unwrap(), f));
        // Its keys are named under identity.fallback.
        let bad = fallback.replace("/scep\"", "/scep?x=1\"");
        let msg = parse(&format!("{acme}{bad}{PORTAL}"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("identity.fallback.url = \"https://mdm.contoso.com/scep?x=1\""),
            "{msg}"
        );
        let msg = parse(&format!("{acme}{fallback}")).unwrap_err().to_string();
        assert!(
            msg.contains("identity.client_identifier = \"per-profile\": needs a store"),
            "{msg}"
        );
        let stat = acme.replace("\"per-profile\"", "\"static-id\"");
        let msg = parse(&format!("{stat}{fallback}")).unwrap_err().to_string();
        assert!(
            msg.contains("identity.fallback.challenge = \"per-profile\": needs a store"),
            "{msg}"
        );
        let msg = parse(&format!(
            "{stat}\n[identity.fallback]\nkey_type = \"RSA\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(msg.contains("key_type"), "{msg}");
        // A SCEP identity has no fallback.
        let msg = parse(&format!("{MINIMAL}{fallback}"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("identity.fallback: is only for kind = \"acme\""),
            "{msg}"
        );
    }

    fn acme(extra: &str) -> String {
        MINIMAL
            .replace(
                "url = \"https://mdm.contoso.com/scep\"\nchallenge = \"s3cret\"\n",
                &format!("directory_url = \"https://acme.contoso.com/dir\"\n{extra}"),
            )
            .replace("kind = \"scep\"", "kind = \"acme\"")
            .replace("subject = \"O=Contoso/CN=Contoso MDM Identity\"\n", "")
    }

    #[test]
    fn acme_defaults_to_an_attested_hardware_bound_ec_key() {
        let s = parse(&acme("client_identifier = \"static-id\"\n")).unwrap();
        let Identity::Acme(a) = &s.identity else {
            panic!("acme")
        };
        assert_eq!(
            (a.key_type, a.key_size, a.hardware_bound, a.attest),
            (acme::KeyType::EcSecPrimeRandom, 256, true, true)
        );
        // RSA, or an EC size no Secure Enclave holds: not bound, no attest.
        for (keys, size) in [("key_type = \"RSA\"\n", 2048), ("key_size = 521\n", 521)] {
            let s = parse(&acme(&format!("client_identifier = \"x\"\n{keys}"))).unwrap();
            let Identity::Acme(a) = &s.identity else {
                panic!("acme")
            };
            assert_eq!(
                (a.key_size, a.hardware_bound, a.attest),
                (size, false, false)
            );
        }
        // An explicit hardware_bound = false (older Macs) takes attest with it.
        let s = parse(&acme("client_identifier = \"x\"\nhardware_bound = false\n")).unwrap();
        let Identity::Acme(a) = &s.identity else {
            panic!("acme")
        };
        assert_eq!((a.hardware_bound, a.attest), (false, false));
    }

    #[test]
    fn a_device_client_identifier_and_its_subject() {
        let s = parse(&acme("client_identifier = \"serial\"\n")).unwrap();
        let Identity::Acme(a) = &s.identity else {
            panic!("acme")
        };
        assert_eq!(
            a.client_identifier,
            IdentitySecret::Device(DeviceField::Serial)
        );
        assert_eq!(a.subject.to_string(), "CN={serial}", "the default subject");
        assert!(s.identity.varies_per_issue() && !s.identity.is_per_profile());
        for ok in ["O=Contoso", "O=Contoso/CN={serial}"] {
            let text = acme(&format!(
                "client_identifier = \"serial\"\nsubject = \"{ok}\"\n"
            ));
            assert!(parse(&text).is_ok(), "{ok}");
        }
        // step-ca refuses a CN other than the permanent identifier.
        for bad in ["CN=MDM Identity", "O=Contoso/CN={udid}", "CN={serial} x"] {
            let text = acme(&format!(
                "client_identifier = \"serial\"\nsubject = \"{bad}\"\n"
            ));
            let msg = parse(&text).unwrap_err().to_string();
            assert!(
                msg.contains(&format!("identity.subject = \"{bad}\": with identity.client_identifier = \"serial\" the CN must be {{serial}} or absent")),
                "{msg}"
            );
        }
        let s = parse(&acme(
            "client_identifier = \"udid\"\nsubject = \"O=Contoso/CN={udid}\"\n",
        ))
        .unwrap();
        assert!(matches!(
            &s.identity,
            Identity::Acme(a) if a.client_identifier == IdentitySecret::Device(DeviceField::Udid)
        ));
        let msg = parse(&acme(
            "client_identifier = \"serial\"\nchallenge_ttl = \"1d\"\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(msg.contains("identity.challenge_ttl: is only for"), "{msg}");
    }

    #[test]
    fn subject_placeholders_are_known_ones_only() {
        let text = MINIMAL.replace("CN=Contoso MDM Identity", "CN={profile_uuid}/OU={user}");
        let s = parse(&text).unwrap();
        assert!(s.identity.varies_per_issue(), "{{user}} differs per user");
        let text = MINIMAL.replace("CN=Contoso MDM Identity", "CN={profile_uuid}");
        assert!(!parse(&text).unwrap().identity.varies_per_issue());
        let text = MINIMAL.replace("CN=Contoso MDM Identity", "CN={serial_number}");
        let msg = parse(&text).unwrap_err().to_string();
        assert!(
            msg.contains("identity.subject = \"O=Contoso/CN={serial_number}\": \"{serial_number}\" is not a placeholder"),
            "{msg}"
        );
    }

    #[test]
    fn a_scep_url_with_a_query_is_refused() {
        let bad = MINIMAL.replace("/scep\"", "/scep?profile=mdm\"");
        let msg = parse(&bad).unwrap_err().to_string();
        assert!(
            msg.starts_with("dir/aspen.toml:12: identity.url = \"https://mdm.contoso.com/scep?profile=mdm\": must not carry a query string"),
            "{msg}"
        );
    }
}
