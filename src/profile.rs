//! Assembling the payloads of one enrollment into a configuration profile,
//! with deterministic UUIDs so a re-issued profile replaces the installed one.
//!
//! Each profile is built for an [`Issue`]: which identity settings it uses
//! and, when they say `per-profile`, the fresh secret made for it alone.
//! With static secrets two issues of one enrollment are byte-identical; with
//! per-profile secrets they differ only in that secret.

use crate::error::{Error, Result};
use crate::model::machine_info::DeviceIds;
use crate::model::{Enrollment, EnrollmentKind};
use crate::payload::acme::AcmeConfig;
use crate::payload::acme::{self, AcmePayload};
use crate::payload::cert::CertPayload;
use crate::payload::mdm::{self, MdmPayload};
use crate::payload::scep::ScepConfig;
use crate::payload::scep::{self, ScepPayload};
use crate::payload::{Common, Payload, Subject, SubjectPlaceholder, SubjectValues};
use crate::secret::{DeviceField, IdentitySecret, Secret};
use crate::secret::{IssuedSecret, SecretKind};
use crate::settings::{Identity, IdentityUse, Settings};
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Apple: TopLevel `PayloadType`, rangelist `Configuration`.
pub const TOP_LEVEL_TYPE: &str = "Configuration";

/// Apple: TopLevel keys, their types and presence. `PayloadContent` is
/// required unless `IsEncrypted` (then `EncryptedPayloadContent` holds it).
pub const TOP_LEVEL_KEYS: &[crate::payload::KeySpec] = {
    use crate::payload::{KeySpec as K, ValueType as T};
    &[
        K::required("PayloadIdentifier", T::String),
        K::required("PayloadUUID", T::String),
        K::required("PayloadType", T::String),
        K::required("PayloadVersion", T::Integer),
        K::required("PayloadContent", T::Array),
        K::optional("IsEncrypted", T::Boolean),
        K::optional("EncryptedPayloadContent", T::Data),
        K::optional("PayloadDescription", T::String),
        K::optional("PayloadDisplayName", T::String),
        K::optional("PayloadOrganization", T::String),
        K::optional("HasRemovalPasscode", T::Boolean),
        K::optional("PayloadRemovalDisallowed", T::Boolean),
        K::optional("PayloadScope", T::String),
        K::optional("RemovalDate", T::Date),
        K::optional("DurationUntilRemoval", T::Real),
        K::optional("PayloadExpirationDate", T::Date),
        K::optional("TargetDeviceType", T::Integer),
        K::optional("ConsentText", T::Dictionary),
    ]
};

/// aspen's UUIDv5 namespace (a fixed random UUID; changing it would change
/// every payload UUID aspen ever issued).
const NAMESPACE: Uuid = Uuid::from_u128(0x6d1c_4a0e_9a57_4f3b_b0c2_5e8f_71a3_d942);

/// A configuration profile (Apple: TopLevel keys).
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    #[serde(rename = "PayloadContent")]
    pub content: Vec<Payload>,
    #[serde(rename = "PayloadDescription")]
    pub description: String,
    #[serde(rename = "PayloadDisplayName")]
    pub display_name: String,
    #[serde(rename = "PayloadIdentifier")]
    pub identifier: String,
    #[serde(rename = "PayloadOrganization")]
    pub organization: String,
    #[serde(rename = "PayloadType")]
    pub payload_type: &'static str,
    #[serde(rename = "PayloadUUID")]
    pub uuid: String,
    #[serde(rename = "PayloadVersion")]
    pub version: u32,
    /// Apple: TopLevel `ConsentText`, a dictionary of language → text; we
    /// write the unlocalised `default`.
    #[serde(rename = "ConsentText", skip_serializing_if = "Option::is_none")]
    pub consent_text: Option<BTreeMap<&'static str, String>>,
}

/// Derives a payload UUID from what identifies the payload: the
/// organisation's identifier, the payload's role, the enrollment kind and the
/// Managed Apple ID. Uppercase, as Apple's tools write them.
pub fn derive_uuid(identifier: &str, role: &str, enrollment: &Enrollment) -> String {
    let id = enrollment
        .managed_apple_id()
        .map(|m| m.as_str().to_ascii_lowercase())
        .unwrap_or_default();
    let name = format!("{identifier}\n{role}\n{}\n{id}", enrollment.kind().slug());
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
        .hyphenated()
        .encode_upper(&mut Uuid::encode_buffer())
        .to_owned()
}

/// The profile's own `PayloadUUID` (the top level): what the audit store
/// records to name an issued profile.
pub fn profile_uuid(settings: &Settings, enrollment: &Enrollment) -> String {
    derive_uuid(&settings.organization.identifier, "profile", enrollment)
}

/// One issue of a profile: the identity settings it carries, the value of
/// their secret and their subject with its placeholders filled. Made only
/// by [`Issue::new`], so a per-profile identity always has its fresh value
/// and a subject never keeps a `{placeholder}`.
pub struct Issue<'s> {
    identity: Chosen<'s>,
    /// Set when the secret was made for this issue (per-profile): its kind
    /// and how long it stays valid, in seconds.
    fresh: Option<(SecretKind, i64)>,
    subject: Subject,
    /// The ACME client identifier is the device's own (not a secret).
    device_bound: bool,
}

/// Whom and what one issue is for, as far as its flow knows: what subject
/// placeholders and a device-bound client identifier are filled from, and
/// what the secret's record names.
#[derive(Debug, Clone, Copy, Default)]
pub struct Target<'a> {
    /// The directory user (e-mail) or Managed Apple ID.
    pub user: Option<&'a str>,
    /// The device (Automated Device Enrollment, `--serial`).
    pub device: Option<&'a DeviceIds>,
}

impl Target<'_> {
    fn device_value(&self, field: DeviceField) -> Option<&str> {
        let d = self.device?;
        match field {
            DeviceField::Serial => d.serial.as_deref(),
            DeviceField::Udid => d.udid.as_deref(),
        }
    }
}

/// The identity settings and the secret their payload carries.
enum Chosen<'s> {
    Scep(&'s ScepConfig, Option<Secret>),
    Acme(&'s AcmeConfig, Secret),
}

impl<'s> Issue<'s> {
    /// An issue of `enrollment`'s profile with the identity settings `which`
    /// names, for `target`: the static secret, a fresh one when it is
    /// `per-profile`, or the device's serial number or UDID; the subject
    /// filled. What the flow does not know (a `{serial}` or
    /// `client_identifier = "serial"` without a device, a `{user}` without
    /// a user) is an error naming the settings key, never a made-up value.
    pub fn new(
        settings: &'s Settings,
        which: IdentityUse,
        enrollment: &Enrollment,
        target: Target,
    ) -> Result<Issue<'s>> {
        let identity = settings.identity_for(which);
        let table = match (which, &settings.fallback) {
            (IdentityUse::Fallback, Some(_)) => "identity.fallback",
            _ => "identity",
        };
        let unknown = |message: String| Error::Settings {
            file: settings.file.clone(),
            line: None,
            message,
        };
        let mut fresh = None;
        let mut value = |secret: &IdentitySecret, kind: SecretKind| -> Result<Secret> {
            match secret {
                IdentitySecret::Static(s) => Ok(s.clone()),
                IdentitySecret::PerProfile { ttl } => {
                    fresh = Some((kind, *ttl));
                    crate::secret::fresh()
                }
                IdentitySecret::Device(field) => target
                    .device_value(*field)
                    .map(|v| Secret::new(v.to_owned()))
                    .ok_or_else(|| {
                        unknown(format!(
                            "{table}.client_identifier = \"{}\": the ACME ClientIdentifier is the device's own {}, and this profile is issued without one (a portal download, account-driven enrollment, `aspen profile` without --{}): only Automated Device Enrollment (/ade/enroll) and `aspen profile device --serial S --udid U` know it",
                            field.as_str(),
                            if *field == DeviceField::Serial { "serial number" } else { "UDID" },
                            field.as_str()
                        ))
                    }),
            }
        };
        let chosen = match identity {
            Identity::Scep(cfg) => Chosen::Scep(
                cfg,
                cfg.challenge
                    .as_ref()
                    .map(|c| value(c, SecretKind::ScepChallenge))
                    .transpose()?,
            ),
            Identity::Acme(cfg) => Chosen::Acme(
                cfg,
                value(&cfg.client_identifier, SecretKind::AcmeClientIdentifier)?,
            ),
        };
        let written = identity.subject();
        let profile_uuid = profile_uuid(settings, enrollment);
        let device = target.device;
        let subject = written
            .fill(&SubjectValues {
                user: target.user,
                serial: device.and_then(|d| d.serial.as_deref()),
                udid: device.and_then(|d| d.udid.as_deref()),
                profile_uuid: &profile_uuid,
            })
            .map_err(|missing| {
                let without = match missing {
                    SubjectPlaceholder::User => {
                        "it is issued for no user (`aspen profile` without a user, Automated Device Enrollment without its web sign-in)"
                    }
                    SubjectPlaceholder::Serial | SubjectPlaceholder::Udid => {
                        "it is issued for no device (only Automated Device Enrollment and `aspen profile device --serial S --udid U` know a device's)"
                    }
                    SubjectPlaceholder::ProfileUuid => "internal",
                };
                unknown(format!(
                    "{table}.subject = \"{written}\": this profile cannot fill {}: {without}",
                    missing.as_str()
                ))
            })?;
        let device_bound = matches!(
            identity,
            Identity::Acme(AcmeConfig {
                client_identifier: IdentitySecret::Device(_),
                ..
            })
        );
        Ok(Issue {
            identity: chosen,
            fresh,
            subject,
            device_bound,
        })
    }

    /// Whether the profile carries a secret (static or fresh): its file is
    /// then private to its owner.
    pub fn carries_secret(&self) -> bool {
        !matches!(self.identity, Chosen::Scep(_, None)) && !self.device_bound
    }

    /// Whether the secret was made for this issue (and must be recorded
    /// before the profile leaves).
    pub fn is_per_profile(&self) -> bool {
        self.fresh.is_some()
    }

    /// The store's record of this issue's fresh secret (keyed by `keys`,
    /// never the value), issued at `now` in profile `payload_uuid` to
    /// `target`'s user and device; `None` for a static secret.
    pub fn record(
        &self,
        keys: &crate::tokens::Keys,
        target: Target,
        payload_uuid: &str,
        now: i64,
    ) -> Result<Option<IssuedSecret>> {
        let Some((kind, ttl)) = self.fresh else {
            return Ok(None);
        };
        let value = match &self.identity {
            Chosen::Scep(_, Some(v)) | Chosen::Acme(_, v) => v,
            Chosen::Scep(_, None) => return Ok(None),
        };
        Ok(Some(IssuedSecret {
            lookup: keys.secret_lookup(kind, value).to_vec(),
            kind,
            user: target.user.map(str::to_ascii_lowercase),
            payload_uuid: payload_uuid.to_owned(),
            expires: now + ttl,
            serial: target.device.and_then(|d| d.serial.clone()),
            udid: target.device.and_then(|d| d.udid.clone()),
        }))
    }
}

fn default_description(org: &str, kind: EnrollmentKind) -> String {
    if kind.is_user_enrollment() {
        format!(
            "Enrolls this device in {org}'s management for work apps and data only. Work data lives on a separate volume; {org} cannot see your personal data or erase your device."
        )
    } else {
        format!("Enrolls this device in {org}'s device management.")
    }
}

/// Builds the profile for `enrollment` from `settings`, as `issue` says.
pub fn build(settings: &Settings, enrollment: &Enrollment, issue: &Issue) -> Profile {
    let org = &settings.organization;
    let root = format!("{}.enrollment", org.identifier);
    let common = |payload_type: &'static str, role: &str, display_name: String| Common {
        payload_type,
        version: 1,
        identifier: format!("{root}.{role}"),
        uuid: derive_uuid(&org.identifier, role, enrollment),
        display_name,
        description: None,
        organization: org.name.clone(),
    };

    let mut content = Vec::with_capacity(settings.anchors.len() + 2);
    let mut pinned = Vec::new();
    for (i, anchor) in settings.anchors.iter().enumerate() {
        let role = format!("anchor{}", i + 1);
        let c = common(
            anchor.payload_type(),
            &role,
            format!("Trust: {}", anchor.subject),
        );
        if anchor.pin {
            pinned.push(c.uuid.clone());
        }
        content.push(Payload::Cert(CertPayload::new(c, anchor)));
    }
    let identity = match &issue.identity {
        Chosen::Scep(cfg, challenge) => Payload::Scep(ScepPayload::new(
            common(scep::PAYLOAD_TYPE, "identity", "MDM Identity (SCEP)".into()),
            cfg,
            challenge.clone(),
            issue.subject.clone(),
        )),
        Chosen::Acme(cfg, client_identifier) => Payload::Acme(AcmePayload::new(
            common(acme::PAYLOAD_TYPE, "identity", "MDM Identity (ACME)".into()),
            cfg,
            client_identifier.clone(),
            issue.subject.clone(),
        )),
    };
    let identity_uuid = identity.common().uuid.clone();
    content.push(identity);
    content.push(Payload::Mdm(MdmPayload::new(
        common(mdm::PAYLOAD_TYPE, "mdm", "Mobile Device Management".into()),
        &settings.mdm,
        enrollment,
        identity_uuid,
        pinned,
    )));

    let kind = enrollment.kind();
    Profile {
        content,
        description: org
            .description
            .clone()
            .unwrap_or_else(|| default_description(&org.name, kind)),
        display_name: if kind.is_user_enrollment() {
            format!("{} User Enrollment", org.name)
        } else {
            format!("{} Device Management", org.name)
        },
        identifier: root,
        organization: org.name.clone(),
        payload_type: TOP_LEVEL_TYPE,
        uuid: profile_uuid(settings, enrollment),
        version: 1,
        consent_text: org
            .consent_text
            .as_ref()
            .map(|t| BTreeMap::from([("default", t.clone())])),
    }
}

impl Profile {
    /// The profile as an XML plist, byte-identical for identical input.
    pub fn to_xml(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(4096);
        plist::to_writer_xml(&mut out, self)
            .map_err(|e| Error::invalid(format!("writing the plist: {e}")))?;
        out.push(b'\n');
        Ok(out)
    }
}

impl Profile {
    /// The profile as an XML plist with its payloads encrypted for one
    /// device ([`crate::encrypt`]); the rest of the profile stays readable.
    pub fn to_xml_encrypted(&self, recipient: &crate::encrypt::Recipient) -> Result<Vec<u8>> {
        let value =
            plist::to_value(self).map_err(|e| Error::invalid(format!("writing the plist: {e}")))?;
        let mut dict = value
            .into_dictionary()
            .ok_or_else(|| Error::invalid("the profile is not a dictionary"))?;
        crate::encrypt::encrypt_profile(&mut dict, recipient)?;
        let mut out = Vec::with_capacity(4096);
        plist::Value::Dictionary(dict)
            .to_writer_xml(&mut out)
            .map_err(|e| Error::invalid(format!("writing the plist: {e}")))?;
        out.push(b'\n');
        Ok(out)
    }
}
