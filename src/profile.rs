//! Assembling the payloads of one enrollment into a configuration profile,
//! with deterministic UUIDs so a re-issued profile replaces the installed one.

use crate::error::{Error, Result};
use crate::model::{Enrollment, EnrollmentKind};
use crate::payload::acme::{self, AcmePayload};
use crate::payload::cert::CertPayload;
use crate::payload::mdm::{self, MdmPayload};
use crate::payload::scep::{self, ScepPayload};
use crate::payload::{Common, Payload};
use crate::settings::{Identity, Settings};
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

fn default_description(org: &str, kind: EnrollmentKind) -> String {
    if kind.is_user_enrollment() {
        format!(
            "Enrolls this device in {org}'s management for work apps and data only. Work data lives on a separate volume; {org} cannot see your personal data or erase your device."
        )
    } else {
        format!("Enrolls this device in {org}'s device management.")
    }
}

/// Builds the profile for `enrollment` from `settings`.
pub fn build(settings: &Settings, enrollment: &Enrollment) -> Profile {
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
    let identity = match &settings.identity {
        Identity::Scep(cfg) => Payload::Scep(ScepPayload::new(
            common(scep::PAYLOAD_TYPE, "identity", "MDM Identity (SCEP)".into()),
            cfg,
        )),
        Identity::Acme(cfg) => Payload::Acme(AcmePayload::new(
            common(acme::PAYLOAD_TYPE, "identity", "MDM Identity (ACME)".into()),
            cfg,
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

/// The finished bytes for `enrollment`: the XML plist, signed when a signer
/// is given.
pub fn render(
    settings: &Settings,
    enrollment: &Enrollment,
    signer: Option<&crate::sign::Signer>,
) -> Result<Vec<u8>> {
    let xml = build(settings, enrollment).to_xml()?;
    match signer {
        Some(s) => s.sign(&xml),
        None => Ok(xml),
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

/// Like [`render`], with `PayloadContent` encrypted for `recipient` before
/// the outer profile is signed.
pub fn render_encrypted(
    settings: &Settings,
    enrollment: &Enrollment,
    signer: Option<&crate::sign::Signer>,
    recipient: &crate::encrypt::Recipient,
) -> Result<Vec<u8>> {
    let xml = build(settings, enrollment).to_xml_encrypted(recipient)?;
    match signer {
        Some(s) => s.sign(&xml),
        None => Ok(xml),
    }
}
