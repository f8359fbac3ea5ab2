//! The settings file (TOML): its model, and every rule checked once at load.
//! Errors name the file, the line, the field and (unless secret) the value.
//!
//! One file per section (`[mdm]` in `mdm.rs`, `[[policy]]` in
//! `policies.rs`, …): the section as written (a `Raw…` struct, whose key
//! names are a contract), what it means once checked, the `validate` between
//! them, and its tests. This file reads the text and runs the sections'
//! checks in order, then the rules that span sections; `locate.rs` finds the
//! line a field is on, `fields.rs` holds the small checks the sections
//! share, `placeholders.rs` finds the stand-ins `aspen init` wrote. A new
//! section is a new file, plus its field in `RawSettings` and `Settings` and
//! its line in `validate`.

use crate::error::{Error, FieldError, Result};
use crate::model::policy::Policy;
use crate::model::restriction::Restriction;
use crate::payload::cert::AnchorCert;
use crate::payload::mdm::MdmConfig;
use crate::secret::PER_PROFILE;
use crate::sign::KeySource;
use serde::Deserialize;
use std::path::{Path, PathBuf};

mod ade;
mod anchors;
mod ca;
mod directory;
mod fields;
pub mod files;
mod identity;
mod identity_secret;
mod locate;
mod mdm;
mod oidc;
mod organization;
mod placeholders;
mod policies;
mod portal;
mod restriction;
mod serve;
mod signing;
mod store;

pub use ade::{Ade, AdeProfile, SKIP_KEYS, WebUrl};
pub use ca::{Ca, WebhookKey};
pub use identity::{Identity, IdentityUse};
pub use oidc::{ClientSecret, DeviceMethod, Oidc, check_issuer};
pub use organization::Organization;
pub use placeholders::Placeholder;
pub use portal::{Portal, PortalAuth, check_public_url};
pub use serve::ServeSettings;
pub use store::StoreSetting;

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
    /// Enrollment restrictions, highest priority first.
    pub restrictions: Vec<Restriction>,
    /// What is allowed but worth saying whenever the settings are loaded
    /// (a device limit aspen can only approximate).
    pub warnings: Vec<String>,
    /// `[directory] users`, resolved against the settings file's folder.
    pub directory_users: Option<PathBuf>,
    /// `[portal]`: how `aspen serve` is reached and authenticates users.
    pub portal: Option<Portal>,
    /// `[oidc]`: the identity provider people sign in with
    /// (`[portal] auth = "oidc"`).
    pub oidc: Option<Oidc>,
    /// `[store]`: where state is kept, when not in `portal.state_dir`.
    pub store: Option<StoreSetting>,
    /// Values `aspen init` writes for the admin to replace, still there
    /// (see [`Settings::refuse_placeholders`]).
    pub placeholders: Vec<Placeholder>,
    /// `[serve]`: how `aspen serve` listens and what it allows (defaults
    /// when the table is absent).
    pub serve: ServeSettings,
    /// `[ade]`: Automated Device Enrollment (`/ade/enroll`, `aspen ade
    /// profile`), when on.
    pub ade: Option<Ade>,
    /// `[ca]`: the CA's webhook (`/ca/scep-challenge`), when on.
    pub ca: Option<Ca>,
    /// The files named here that commands read later, with the key and
    /// line of each (see [`files`]).
    pub files: Vec<files::NamedFile>,
}

/// The file as written: one table (or array of tables) per section.
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
    #[serde(default)]
    restriction: Vec<restriction::RawRestriction>,
    directory: Option<directory::RawDirectory>,
    portal: Option<portal::RawPortal>,
    oidc: Option<oidc::RawOidc>,
    store: Option<store::RawStore>,
    serve: Option<serve::RawServe>,
    ade: Option<ade::RawAde>,
    ca: Option<ca::RawCa>,
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
        settings.placeholders = placeholders::find(&settings, text);
        settings.files = files::named(&settings, text);
        Ok(settings)
    }
}

fn validate(raw: RawSettings, file: &Path, base: &Path) -> Result<Settings, FieldError> {
    let organization = organization::validate(raw.organization)?;
    let mdm = mdm::validate(raw.mdm, base)?;
    let (identity, fallback) = identity::validate(raw.identity, base)?;
    let anchors = anchors::validate(raw.anchor, base)?;
    let signing = raw
        .signing
        .map(|s| signing::validate(s, base))
        .transpose()?;
    let policies = policies::validate(raw.policy)?;
    let restrictions = restriction::validate(raw.restriction)?;
    let directory_users = directory::users(raw.directory, base)?;
    let portal = raw.portal.map(|p| portal::validate(p, base)).transpose()?;
    let oidc = raw.oidc.map(|o| oidc::validate(o, base)).transpose()?;
    match (portal.as_ref().map(|p| &p.auth), &oidc) {
        (Some(PortalAuth::Oidc), None) => {
            return Err(FieldError::new(
                "portal.auth",
                Some("oidc"),
                "needs an [oidc] section (issuer, client_id, client_secret_file)",
            ));
        }
        (Some(PortalAuth::Oidc), Some(_)) | (_, None) => {}
        (_, Some(_)) => {
            return Err(FieldError::new(
                "oidc",
                None,
                "is used only with portal.auth = \"oidc\" in [portal]",
            ));
        }
    }
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
    let ade = raw
        .ade
        .map(|a| ade::validate(a, base, &organization.name))
        .transpose()?;
    // /ade/enroll and /ade/web are served under the public URL: the ADE
    // profile names them there unless it is given other URLs.
    if let Some(a) = &ade
        && portal.is_none()
    {
        let field = match (&a.profile.url, &a.profile.configuration_web_url) {
            (None, _) => Some("ade.url"),
            (Some(_), Some(ade::WebUrl::Here)) => Some("ade.configuration_web_url"),
            _ => None,
        };
        if let Some(field) = field {
            return Err(FieldError::new(
                field,
                None,
                "needs [portal] public_url, under which aspen serves it (or write the URL)",
            ));
        }
    }
    let ca = raw.ca.map(|c| ca::validate(c, base)).transpose()?;
    let mut warnings = Vec::new();
    if let Some(r) = restrictions.iter().find(|r| r.device_limit.is_some())
        && !counts_accepted_secrets(&identity)
    {
        warnings.push(format!(
            "{}: restriction {:?} has a device_limit, but without [identity] kind = \"scep\" and challenge = \"per-profile\" aspen cannot tell when a device really enrolled: issued profiles count instead (abandoned attempts use the limit up)",
            file.display(),
            r.name
        ));
    }
    // The webhook checks per-profile SCEP challenges, as scep-verify does.
    if ca.as_ref().is_some_and(|c| c.scep_webhook_key.is_some()) {
        let scep_per_profile = [Some(&identity), fallback.as_ref()]
            .into_iter()
            .flatten()
            .any(|i| matches!(i, Identity::Scep(c) if matches!(c.challenge, Some(crate::secret::IdentitySecret::PerProfile { .. }))));
        if !scep_per_profile {
            return Err(FieldError::new(
                "ca",
                None,
                "the SCEP challenge webhook checks per-profile challenges: it needs [identity] kind = \"scep\" (or [identity.fallback]) with challenge = \"per-profile\"",
            ));
        }
    }
    Ok(Settings {
        file: file.to_owned(),
        organization,
        mdm,
        identity,
        fallback,
        anchors,
        signing,
        policies,
        restrictions,
        warnings,
        directory_users,
        portal,
        oidc,
        store,
        placeholders: Vec::new(),
        files: Vec::new(),
        serve,
        ade,
        ca,
    })
}

/// Whether a device's enrollment shows as its per-profile SCEP challenge
/// being accepted (`aspen scep-verify`, the CA's webhook): then the device
/// limit counts those; otherwise issued profiles.
pub fn counts_accepted_secrets(identity: &Identity) -> bool {
    matches!(identity, Identity::Scep(c) if matches!(c.challenge, Some(crate::secret::IdentitySecret::PerProfile { .. })))
}

impl Settings {
    /// See [`counts_accepted_secrets`].
    pub fn counts_accepted_secrets(&self) -> bool {
        counts_accepted_secrets(&self.identity)
    }
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

    /// The [portal] and store per-profile secrets need.
    pub(super) const PORTAL: &str = "\n[portal]\npublic_url = \"https://enroll.contoso.com\"\nsecret_file = \"portal.secret\"\nstate_dir = \"state\"\n";

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
}
