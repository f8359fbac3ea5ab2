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
mod identity;
mod identity_secret;
mod locate;
mod mdm;
mod organization;
mod policies;
mod portal;
mod serve;
mod signing;
mod store;

pub use identity::{Identity, IdentityUse};
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

// ---- The file as written (names are a contract) ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    organization: organization::RawOrganization,
    mdm: mdm::RawMdm,
    identity: identity::RawIdentity,
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
}

fn validate(raw: RawSettings, file: &Path, base: &Path) -> Result<Settings, FieldError> {
    let organization = organization::validate(raw.organization)?;
    let mdm = mdm::validate(raw.mdm, base)?;
    let (identity, fallback) = identity::validate(raw.identity, base)?;
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

    /// The [portal] and store per-profile secrets need.
    pub(super) const PORTAL: &str = "\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nsecret_file = \"portal.secret\"\nstate_dir = \"state\"\n";

}
