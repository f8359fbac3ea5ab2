//! The settings file (TOML): its model, and every rule checked once at load.
//! Errors name the file, the line, the field and (unless secret) the value.

use crate::error::{Error, FieldError, Result};
use crate::model::policy::{Policy, PolicyType};
use crate::payload::acme::{self, AcmeConfig};
use crate::payload::cert::AnchorCert;
use crate::payload::mdm::MdmConfig;
use crate::payload::scep::{self, ScepConfig};
use crate::payload::{Subject, check_https_url, check_plist_text};
use crate::secret::SecretKind;
use crate::secret::{DEFAULT_TTL_SECONDS, IdentitySecret, PER_PROFILE, Secret};
use crate::sign::{KeySource, Passphrase};
use crate::store::Location;
use serde::Deserialize;
use std::path::{Path, PathBuf};

mod anchors;
mod directory;
mod fields;
mod locate;
mod mdm;
mod organization;
mod policies;
mod portal;
mod serve;
mod signing;
mod store;

pub use organization::Organization;
pub use portal::{Portal, PortalAuth, check_public_url};
pub use serve::ServeSettings;
pub use store::StoreSetting;

use fields::{fail, https, optional_text, relative_path, text};

/// Settings files are small; anything bigger is a mistake (or an attack).
const MAX_SETTINGS_BYTES: u64 = 1 << 20;

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file they were read from.
    pub file: PathBuf,
    pub organization: Organization,
    pub mdm: MdmConfig,
    pub identity: Identity,
    /// `[identity.fallback]`: a SCEP identity for devices that cannot use
    /// the ACME `[identity]` (account-driven enrollment only, where the
    /// device says what it runs).
    pub fallback: Option<Identity>,
    pub anchors: Vec<AnchorCert>,
    pub signing: Option<KeySource>,
    /// Enrollment type policies, highest priority (lowest number) first.
    pub policies: Vec<Policy>,
    /// `[directory] users`, resolved against the settings file's folder.
    pub directory_users: Option<PathBuf>,
    /// `[portal]`: how `aspen serve` is reached and authenticates users.
    pub portal: Option<Portal>,
    /// `[store]`: where state is kept, when not in `portal.state_dir`.
    pub store: Option<StoreSetting>,
    /// Values `aspen init` writes for the admin to replace, still there
    /// (see [`Settings::refuse_placeholders`]).
    pub placeholders: Vec<Placeholder>,
    /// `[serve]`: how `aspen serve` listens and what it allows (defaults
    /// when the table is absent).
    pub serve: ServeSettings,
}

/// A value `aspen init` writes as a stand-in, still in the settings: the
/// all-zero push topic, the challenge `change-me`, an `example.com` host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// The key, as written (`mdm.topic`, `identity.challenge`, …).
    pub field: String,
    pub line: Option<usize>,
    /// What it is, for the message (never a secret's value).
    pub what: &'static str,
}

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
}

// ---- The file as written (names are a contract) ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    organization: organization::RawOrganization,
    mdm: mdm::RawMdm,
    identity: RawIdentity,
    #[serde(default)]
    anchor: Vec<anchors::RawAnchor>,
    signing: Option<signing::RawSigning>,
    #[serde(default)]
    policy: Vec<policies::RawPolicy>,
    directory: Option<directory::RawDirectory>,
    portal: Option<portal::RawPortal>,
    store: Option<store::RawStore>,
    serve: Option<serve::RawServe>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
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
    /// Reads and validates a settings file.
    pub fn load(path: &Path) -> Result<Settings> {
        let bytes = crate::fs::read_capped(path, MAX_SETTINGS_BYTES)?;
        let text = String::from_utf8(bytes).map_err(|e| Error::Settings {
            file: path.to_owned(),
            line: Some(locate::line_of(
                &String::from_utf8_lossy(e.as_bytes()),
                e.utf8_error().valid_up_to(),
            )),
            message: "is not valid UTF-8".into(),
        })?;
        Settings::parse(&text, path)
    }

    /// Validates settings text; `path` names it in errors and anchors
    /// relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Settings> {
        let raw: RawSettings = toml::from_str(text).map_err(|e| {
            let message = locate::plain_types(e.message().trim());
            Error::Settings {
                file: path.to_owned(),
                line: e.span().map(|s| locate::line_of(text, s.start)),
                // Name the key, as every other settings error does: serde's
                // message alone says only what type it expected.
                message: match e.span().and_then(|s| locate::field_at(text, s.start)) {
                    Some(field) => format!("{field}: {message}"),
                    None => message,
                },
            }
        })?;
        let base = path.parent().unwrap_or(Path::new("")).to_owned();
        let mut settings = validate(raw, path, &base).map_err(|e| Error::Settings {
            file: path.to_owned(),
            line: locate::written_or_parent(text, &e.field).map(|at| locate::line_of(text, at)),
            message: e.to_string(),
        })?;
        settings.placeholders = placeholders(&settings, text);
        Ok(settings)
    }

    /// Refuses settings that still hold a placeholder `aspen init` wrote
    /// (`profile`, `bulk` and `serve` call it unless
    /// `--allow-placeholders`): one message naming each key and its line.
    pub fn refuse_placeholders(&self) -> Result<()> {
        if self.placeholders.is_empty() {
            return Ok(());
        }
        Err(Error::Settings {
            file: self.file.clone(),
            line: None,
            message: format!(
                "still holds placeholders `aspen init` wrote: {}; replace them with your own values (or give --allow-placeholders)",
                self.describe_placeholders()
            ),
        })
    }

    /// `mdm.topic (line 14: the all-zero push topic), …`
    pub fn describe_placeholders(&self) -> String {
        self.placeholders
            .iter()
            .map(|p| match p.line {
                Some(line) => format!("{} (line {line}: {})", p.field, p.what),
                None => format!("{} ({})", p.field, p.what),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

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

fn validate(raw: RawSettings, file: &Path, base: &Path) -> Result<Settings, FieldError> {
    let organization = organization::validate(raw.organization)?;
    let mdm = mdm::validate(raw.mdm, base)?;
    let (identity, fallback) = identity(raw.identity, base)?;
    let anchors = anchors::validate(raw.anchor, base)?;
    let signing = raw.signing.map(|s| signing::validate(s, base)).transpose()?;
    let policies = policies::validate(raw.policy)?;
    let directory_users = directory::users(raw.directory, base)?;
    let portal = raw.portal.map(|p| portal::validate(p, base)).transpose()?;
    let store = raw.store.map(|s| store::validate(s, base)).transpose()?;
    // Per-profile secrets are recorded (a keyed hash of each) for the SCEP
    // server's check: they need the store and the portal's key.
    let tables = [
        Some((&identity, "identity")),
        fallback.as_ref().map(|f| (f, "identity.fallback")),
    ];
    for (id, table) in tables.into_iter().flatten() {
        let Some((_, secret, key)) = id.secret() else {
            continue;
        };
        if !secret.is_per_profile() {
            continue;
        }
        let has_store = store.is_some() || portal.as_ref().is_some_and(|p| p.state_dir.is_some());
        if portal.is_none() || !has_store {
            let leaf = key.rsplit('.').next().unwrap_or(key);
            return Err(FieldError::new(
                format!("{table}.{leaf}"),
                Some(PER_PROFILE),
                "needs a store ([store] url or portal.state_dir), where each issued secret is recorded, and [portal] secret_file, the key of its hash",
            ));
        }
    }
    let serve = raw
        .serve
        .map(|s| serve::validate(s, base))
        .transpose()?
        .unwrap_or_default();
    Ok(Settings {
        file: file.to_owned(),
        organization,
        mdm,
        identity,
        fallback,
        anchors,
        signing,
        policies,
        directory_users,
        portal,
        store,
        placeholders: Vec::new(),
        serve,
    })
}

/// A secret that ends up in the plist: the same rule as [`text`], but the
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

fn subject(field: &str, value: Option<String>, default: &str) -> Result<Subject, FieldError> {
    let value = value.unwrap_or_else(|| default.to_owned());
    Subject::parse(&value).map_err(|why| FieldError::new(field, Some(&value), why))
}

/// `[identity]`, and `[identity.fallback]` when it is there.
fn identity(raw: RawIdentity, base: &Path) -> Result<(Identity, Option<Identity>), FieldError> {
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
            let key_type = raw.key_type.unwrap_or_else(|| "ECSECPrimeRandom".into());
            let hardware_bound = raw.hardware_bound.unwrap_or(false);
            let attest = raw.attest.unwrap_or(false);
            let key_size = raw
                .key_size
                .unwrap_or(if key_type == "RSA" { 2048 } else { 256 });
            if let Err((key, why)) = acme::check_key(&key_type, key_size, hardware_bound, attest) {
                let (field, value) = match key {
                    "KeyType" => ("identity.key_type", key_type.clone()),
                    "KeySize" => ("identity.key_size", key_size.to_string()),
                    "HardwareBound" => ("identity.hardware_bound", hardware_bound.to_string()),
                    _ => ("identity.attest", attest.to_string()),
                };
                return fail(field, &value, why);
            }
            let key_type = acme::KEY_TYPES
                .into_iter()
                .find(|t| *t == key_type)
                .unwrap_or("RSA");
            let acme = Identity::Acme(AcmeConfig {
                directory_url: https(
                    "identity.directory_url",
                    required("identity.directory_url", raw.directory_url)?,
                )?,
                // Apple: ClientIdentifier is required.
                client_identifier: identity_secret(
                    "identity.client_identifier",
                    SecretForms {
                        inline: raw.client_identifier,
                        env: raw.client_identifier_env,
                        file: raw.client_identifier_file,
                        ttl: raw.challenge_ttl,
                    },
                    "identity.challenge_ttl",
                    base,
                )?
                .ok_or_else(|| {
                    FieldError::new(
                        "identity.client_identifier",
                        None,
                        "is required (\"per-profile\", a value, or client_identifier_env / client_identifier_file)",
                    )
                })?,
                key_type,
                key_size: key_size as u32,
                hardware_bound,
                attest,
                subject: subject("identity.subject", raw.subject, "CN=MDM Identity")?,
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

/// The ways an identity secret may be written: `KEY = "…"` (or
/// `"per-profile"`), `KEY_env`, `KEY_file`, and `challenge_ttl`.
struct SecretForms {
    inline: Option<Secret>,
    env: Option<String>,
    file: Option<String>,
    ttl: Option<String>,
}

/// Biggest secret file aspen reads (a challenge is a line of text).
const MAX_SECRET_FILE_BYTES: u64 = 4096;

/// An identity secret from exactly one of its forms (`key` is e.g.
/// `identity.challenge`). A static value from a variable or a file is read
/// now; errors name the key, never the value.
fn identity_secret(
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

// ---- Placeholders `aspen init` writes ----

/// The topic `aspen init` writes without `--push-cert`.
const PLACEHOLDER_TOPIC_UID: &str = "00000000-0000-0000-0000-000000000000";
/// The static challenge older `aspen init`s wrote.
const PLACEHOLDER_SECRET: &str = "change-me";

/// Whether `url`'s host is `example.com` (or .org, .net, RFC 2606) or under
/// it: names that never reach a real server.
fn example_host(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next().unwrap_or("").to_ascii_lowercase();
    ["example.com", "example.org", "example.net"]
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

/// Every placeholder in `settings`, with the line of the key `text` holds.
fn placeholders(settings: &Settings, text: &str) -> Vec<Placeholder> {
    let mut found = Vec::new();
    let mut push = |field: String, what: &'static str| {
        let line = locate::written(text, &field).map(|at| locate::line_of(text, at));
        found.push(Placeholder { field, line, what });
    };
    // A topic read from topic_certificate is the certificate's, never this.
    if settings.mdm.topic.ends_with(PLACEHOLDER_TOPIC_UID) && locate::written(text, "mdm.topic").is_some() {
        push("mdm.topic".into(), "the all-zero push topic");
    }
    let urls = [
        ("mdm.server_url", Some(settings.mdm.server_url.as_str())),
        ("mdm.check_in_url", settings.mdm.check_in_url.as_deref()),
        (
            "portal.public_url",
            settings.portal.as_ref().map(|p| p.public_url.as_str()),
        ),
    ];
    for (field, url) in urls {
        if url.is_some_and(example_host) {
            push(field.into(), "an example.com host");
        }
    }
    let identities = [
        Some((&settings.identity, "identity")),
        settings.fallback.as_ref().map(|f| (f, "identity.fallback")),
    ];
    for (identity, table) in identities.into_iter().flatten() {
        let (url_key, url) = match identity {
            Identity::Scep(c) => ("url", c.url.as_str()),
            Identity::Acme(c) => ("directory_url", c.directory_url.as_str()),
        };
        if example_host(url) {
            push(format!("{table}.{url_key}"), "an example.com host");
        }
        if let Some((_, IdentitySecret::Static(value), key)) = identity.secret()
            && value.expose() == PLACEHOLDER_SECRET
        {
            let leaf = key.rsplit('.').next().unwrap_or(key);
            let key = [
                leaf.to_owned(),
                format!("{leaf}_env"),
                format!("{leaf}_file"),
            ]
            .into_iter()
            .map(|k| format!("{table}.{k}"))
            .find(|k| locate::written(text, k).is_some())
            .unwrap_or_else(|| format!("{table}.{leaf}"));
            push(key, "the placeholder secret");
        }
    }
    found.sort_by_key(|p| p.line);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const MINIMAL: &str = r#"
[organization]
name = "Contoso"
identifier = "com.contoso.mdm"

[mdm]
server_url = "https://mdm.contoso.com/mdm"
topic = "com.apple.mgmt.External.2f7d0d3c"

[identity]
kind = "scep"
url = "https://mdm.contoso.com/scep"
challenge = "s3cret"
subject = "O=Contoso/CN=Contoso MDM Identity"
"#;

    pub(super) fn parse(text: &str) -> Result<Settings> {
        Settings::parse(text, Path::new("dir/aspen.toml"))
    }

    #[test]
    fn minimal_settings_get_defaults() {
        let s = parse(MINIMAL).unwrap();
        assert_eq!(s.mdm.access_rights.bits(), 8191);
        assert_eq!(s.mdm.personal_access_rights.bits(), 8179);
        assert!(s.signing.is_none());
        let Identity::Scep(scep) = &s.identity else {
            panic!("scep expected")
        };
        assert_eq!((scep.key_size, scep.key_usage), (2048, 5));
    }

    #[test]
    fn errors_name_file_line_field_and_value() {
        let bad = MINIMAL.replace("com.apple.mgmt.External.2f7d0d3c", "com.contoso.push");
        let msg = parse(&bad).unwrap_err().to_string();
        assert!(
            msg.starts_with("dir/aspen.toml:8: mdm.topic = \"com.contoso.push\""),
            "{msg}"
        );
    }

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

    /// The [portal] and store per-profile secrets need.
    const PORTAL: &str = "\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nsecret_file = \"portal.secret\"\nstate_dir = \"state\"\n";

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
