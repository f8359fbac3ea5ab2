//! `com.apple.mdm`: the MDM payload (Apple: mdm/profiles/com.apple.mdm.yaml).

use super::{Common, KeySpec, ValueType as T};
use crate::model::{Enrollment, EnrollmentKind, EnrollmentMode, Ownership};
use serde::Serialize;

pub const PAYLOAD_TYPE: &str = "com.apple.mdm";

/// Apple: com.apple.mdm payload keys, their types and presence.
pub const KEYS: &[KeySpec] = &[
    KeySpec::required("IdentityCertificateUUID", T::String),
    KeySpec::required("Topic", T::String),
    KeySpec::required("ServerURL", T::String),
    KeySpec::optional("CheckInURL", T::String),
    KeySpec::optional("SignMessage", T::Boolean),
    KeySpec::optional("AccessRights", T::Integer),
    KeySpec::optional("UseDevelopmentAPNS", T::Boolean),
    KeySpec::optional("ManagedAppleID", T::String),
    KeySpec::optional("AssignedManagedAppleID", T::String),
    KeySpec::optional("EnrollmentMode", T::String),
    KeySpec::optional("ServerURLPinningCertificateUUIDs", T::Array),
    KeySpec::optional("CheckInURLPinningCertificateUUIDs", T::Array),
    KeySpec::optional("PinningRevocationCheckRequired", T::Boolean),
    KeySpec::optional("ServerCapabilities", T::Array),
    KeySpec::optional("CheckOutWhenRemoved", T::Boolean),
    KeySpec::optional("RequiredAppIDForMDM", T::Integer),
    KeySpec::optional(
        "PromptUserToAllowBootstrapTokenForAuthentication",
        T::Boolean,
    ),
];

/// Apple: `IdentityCertificateUUID` is "the UUID of the certificate payload
/// for the device's identity. It may also point to a SCEP payload": a payload
/// that carries a private key.
pub const IDENTITY_TYPES: [&str; 3] = [
    super::scep::PAYLOAD_TYPE,
    super::acme::PAYLOAD_TYPE,
    super::cert::PKCS12,
];

/// Apple: `ServerURLPinningCertificateUUIDs` and
/// `CheckInURLPinningCertificateUUIDs` name certificate payloads.
pub const PINNABLE_TYPES: [&str; 3] = [super::cert::ROOT, super::cert::PEM, super::cert::PKCS1];

/// Apple: `EnrollmentMode`, rangelist.
pub const ENROLLMENT_MODES: [&str; 2] = ["BYOD", "ADDE"];

/// The enrollment an MDM payload describes, read back from its keys (the
/// reverse of [`MdmPayload::new`]; ownership cannot be read from a profile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Detected {
    /// No `EnrollmentMode`, no `ManagedAppleID`: device enrollment.
    Device,
    /// `EnrollmentMode` `ADDE`: account-driven Device Enrollment.
    Adde,
    /// `EnrollmentMode` `BYOD`: account-driven User Enrollment.
    UserByod,
    /// `ManagedAppleID`: profile-based User Enrollment (iOS 13.1–17).
    UserLegacy,
}

impl Detected {
    /// Reads the kind from an MDM payload dictionary.
    pub fn of(mdm: &plist::Dictionary) -> Detected {
        let mode = mdm.get("EnrollmentMode").and_then(plist::Value::as_string);
        match mode.and_then(EnrollmentMode::parse) {
            Some(EnrollmentMode::Byod) => Detected::UserByod,
            Some(EnrollmentMode::Adde) => Detected::Adde,
            _ if mdm.contains_key("ManagedAppleID") => Detected::UserLegacy,
            _ => Detected::Device,
        }
    }

    pub fn is_user_enrollment(self) -> bool {
        matches!(self, Detected::UserByod | Detected::UserLegacy)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Detected::Device => "device enrollment",
            Detected::Adde => "account-driven device enrollment (ADDE)",
            Detected::UserByod => "account-driven User Enrollment (BYOD)",
            Detected::UserLegacy => {
                "profile-based User Enrollment (legacy; refused by iOS 18 and macOS 15)"
            }
        }
    }
}

/// Apple: `Topic` "must begin with the 'com.apple.mgmt.' prefix".
pub const TOPIC_PREFIX: &str = "com.apple.mgmt.";

/// Apple: `ServerCapabilities` `com.apple.mdm.per-user-connections` "must
/// be present when managing Shared iPad or macOS devices", and "must not be
/// added or removed" when the payload is updated: a profile installed
/// without it can never get it.
pub const PER_USER_CONNECTIONS: &str = "com.apple.mdm.per-user-connections";

/// Apple: `ServerCapabilities` items, rangelist.
pub const SERVER_CAPABILITIES: [&str; 3] = [
    PER_USER_CONNECTIONS,
    "com.apple.mdm.bootstraptoken",
    "com.apple.mdm.token",
];

pub fn check_topic(topic: &str) -> Result<(), String> {
    match topic.strip_prefix(TOPIC_PREFIX) {
        Some(rest)
            if !rest.is_empty() && !rest.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(())
        }
        Some(_) => Err("needs a non-empty topic without spaces after \"com.apple.mgmt.\"".into()),
        None => Err(format!("must start with {TOPIC_PREFIX:?}")),
    }
}

/// The push topic of an APNs MDM push certificate: Apple writes it as the
/// subject's UID (0.9.2342.19200300.100.1.1, e.g.
/// `com.apple.mgmt.External.…`), and the payload's `Topic` must equal it
/// (Apple: com.apple.mdm `Topic`, "the topic that MDM listens to for push
/// notifications"). MicroMDM reads it the same way. A certificate without
/// such a UID, or outside its validity period, is refused: the MDM server
/// could not push with it. The error completes "FILE …".
pub fn topic_from_certificate(cert: &openssl::x509::X509Ref) -> Result<String, String> {
    let uid = cert
        .subject_name()
        .entries_by_nid(openssl::nid::Nid::USERID)
        .next()
        .and_then(|e| e.data().to_string().ok());
    let subject = crate::x509::name_to_string(cert.subject_name());
    let Some(uid) = uid else {
        return Err(format!(
            "is not an APNs MDM push certificate: its subject ({subject}) has no UID \
             (0.9.2342.19200300.100.1.1), where Apple writes the push topic"
        ));
    };
    check_topic(&uid).map_err(|why| {
        format!("is not an MDM push certificate: its UID {uid:?} is no MDM topic ({why})")
    })?;
    let now = openssl::asn1::Asn1Time::days_from_now(0).map_err(|e| e.to_string())?;
    let shown = |t: &openssl::asn1::Asn1TimeRef| {
        crate::time::of_asn1(t).map_or_else(|| t.to_string(), crate::time::rfc3339)
    };
    if cert.not_after() < now {
        return Err(format!(
            "the push certificate for {uid} expired on {}: renew it in Apple's Push \
             Certificates Portal (renewing keeps the topic)",
            shown(cert.not_after())
        ));
    }
    if cert.not_before() > now {
        return Err(format!(
            "the push certificate for {uid} is not valid before {}",
            shown(cert.not_before())
        ));
    }
    Ok(uid)
}

/// [`topic_from_certificate`] of the first certificate in the file (PEM,
/// possibly with its key, or DER), read capped.
pub fn topic_from_file(path: &std::path::Path) -> Result<String, String> {
    let bytes = crate::fs::read_capped(path, crate::x509::MAX_FILE_BYTES).map_err(|e| {
        // The read error already names the file; keep only the reason.
        let text = e.to_string();
        let prefix = format!("{}: ", path.display());
        format!(
            "cannot be read: {}",
            text.strip_prefix(&prefix).unwrap_or(&text)
        )
    })?;
    let certs = crate::x509::load_certificates(&bytes)?;
    topic_from_certificate(&certs[0])
}

/// Apple: `ServerCapabilities` is "a unique array" of known strings.
pub fn check_server_capabilities<S: AsRef<str>>(caps: &[S]) -> Result<(), String> {
    for (i, c) in caps.iter().enumerate() {
        let c = c.as_ref();
        if !SERVER_CAPABILITIES.contains(&c) {
            return Err(format!(
                "{c:?} is not one of {}",
                SERVER_CAPABILITIES.join(", ")
            ));
        }
        if caps[..i].iter().any(|d| d.as_ref() == c) {
            return Err(format!("{c:?} is listed twice"));
        }
    }
    Ok(())
}

/// One MDM access right (Apple: com.apple.mdm `AccessRights`, a logical OR
/// of these bit flags, in the order of Apple's documentation): its name as
/// Apple gives it (for admins: `inspect`, `lint`) and what it lets the
/// organisation do, in a user's words (the portal's privacy page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Right {
    pub bit: u32,
    pub name: &'static str,
    pub words: &'static str,
}

const fn right(bit: u32, name: &'static str, words: &'static str) -> Right {
    Right { bit, name, words }
}

/// Every right Apple defines: the one table of them.
pub const RIGHTS: [Right; 13] = [
    right(
        1,
        "inspect configuration profiles",
        "see which configuration profiles are installed",
    ),
    right(
        2,
        "install and remove configuration profiles",
        "install and remove configuration profiles (Wi-Fi, VPN, e-mail, restrictions)",
    ),
    right(
        4,
        "device lock and passcode removal",
        "lock the device and remove its passcode",
    ),
    right(8, "device erase", "erase the entire device"),
    right(
        16,
        "query device information",
        "see device details: model, serial number, UDID, storage, OS version",
    ),
    right(
        32,
        "query network information",
        "see network details: phone number, carrier, Wi-Fi and Bluetooth addresses",
    ),
    right(
        64,
        "inspect provisioning profiles",
        "see installed provisioning profiles",
    ),
    right(
        128,
        "install and remove provisioning profiles",
        "install and remove provisioning profiles",
    ),
    right(
        256,
        "inspect installed applications",
        "see every app installed on the device",
    ),
    right(
        512,
        "restriction-related queries",
        "see which restrictions are in force",
    ),
    right(
        1024,
        "security-related queries",
        "see security settings such as whether a passcode is set",
    ),
    right(2048, "manipulate settings", "change device settings"),
    right(4096, "app management", "install, configure and remove apps"),
];

/// A checked `AccessRights` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRights(u32);

impl AccessRights {
    /// Every right Apple defines.
    pub const ALL: AccessRights = AccessRights(8191);
    /// Default for a personally owned device under device enrollment: all
    /// rights but device erase (8) and device lock / passcode removal (4).
    pub const PERSONAL_DEFAULT: AccessRights = AccessRights(8191 & !8 & !4);

    /// Apple: "Don't set to '0'. Specify '1' if you specify '2'. Specify '64'
    /// if you specify '128'." Bits above 4096 are not defined.
    pub fn new(bits: i64) -> Result<AccessRights, String> {
        if bits == 0 {
            return Err("must not be 0".into());
        }
        if !(1..=8191).contains(&bits) {
            return Err("must be between 1 and 8191 (the sum of Apple's 13 rights)".into());
        }
        let bits = bits as u32;
        if bits & 2 != 0 && bits & 1 == 0 {
            return Err(
                "has bit 2 (install/remove profiles) without bit 1 (inspect profiles)".into(),
            );
        }
        if bits & 128 != 0 && bits & 64 == 0 {
            return Err(
                "has bit 128 (install/remove provisioning profiles) without bit 64 (inspect provisioning profiles)"
                    .into(),
            );
        }
        Ok(AccessRights(bits))
    }

    pub fn bits(self) -> u32 {
        self.0
    }

    /// The names of the rights set.
    pub fn names(self) -> Vec<&'static str> {
        RIGHTS
            .iter()
            .filter(|r| self.has(r))
            .map(|r| r.name)
            .collect()
    }

    /// Whether `right` is set.
    pub fn has(self, right: &Right) -> bool {
        self.0 & right.bit != 0
    }
}

/// The settings that shape the MDM payload, validated.
#[derive(Debug, Clone)]
pub struct MdmConfig {
    pub server_url: String,
    pub check_in_url: Option<String>,
    pub topic: String,
    pub sign_message: bool,
    pub check_out_when_removed: bool,
    pub server_capabilities: Vec<String>,
    /// Rights for a corporate device.
    pub access_rights: AccessRights,
    /// Rights for a personally owned device under device enrollment.
    pub personal_access_rights: AccessRights,
}

impl MdmConfig {
    pub fn access_rights_for(&self, ownership: Ownership) -> AccessRights {
        match ownership {
            Ownership::Corporate => self.access_rights,
            Ownership::Personal => self.personal_access_rights,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MdmPayload {
    #[serde(flatten)]
    pub common: Common,
    #[serde(rename = "IdentityCertificateUUID")]
    pub identity_certificate_uuid: String,
    #[serde(rename = "Topic")]
    pub topic: String,
    #[serde(rename = "ServerURL")]
    pub server_url: String,
    #[serde(
        rename = "CheckInURL",
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::some"
    )]
    pub check_in_url: Option<String>,
    #[serde(rename = "SignMessage")]
    pub sign_message: bool,
    #[serde(rename = "CheckOutWhenRemoved")]
    pub check_out_when_removed: bool,
    #[serde(rename = "ServerCapabilities", skip_serializing_if = "Vec::is_empty")]
    pub server_capabilities: Vec<String>,
    #[serde(
        rename = "AccessRights",
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::some"
    )]
    pub access_rights: Option<u32>,
    #[serde(
        rename = "EnrollmentMode",
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::some"
    )]
    pub enrollment_mode: Option<EnrollmentMode>,
    #[serde(
        rename = "AssignedManagedAppleID",
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::some"
    )]
    pub assigned_managed_apple_id: Option<String>,
    #[serde(
        rename = "ManagedAppleID",
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::some"
    )]
    pub managed_apple_id: Option<String>,
    #[serde(
        rename = "ServerURLPinningCertificateUUIDs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub server_url_pinning_certificate_uuids: Vec<String>,
    #[serde(
        rename = "CheckInURLPinningCertificateUUIDs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub check_in_url_pinning_certificate_uuids: Vec<String>,
}

impl MdmPayload {
    /// The MDM payload for `enrollment`: the kind alone decides which of
    /// `AccessRights`, `EnrollmentMode`, `AssignedManagedAppleID` and
    /// `ManagedAppleID` are present.
    pub fn new(
        common: Common,
        config: &MdmConfig,
        enrollment: &Enrollment,
        identity_uuid: String,
        pinned: Vec<String>,
    ) -> MdmPayload {
        let kind = enrollment.kind();
        let id = enrollment
            .managed_apple_id()
            .map(|id| id.as_str().to_owned());
        let (assigned, legacy) = match kind {
            EnrollmentKind::LegacyUser => (None, id),
            _ => (id, None),
        };
        MdmPayload {
            common,
            identity_certificate_uuid: identity_uuid,
            topic: config.topic.clone(),
            server_url: config.server_url.clone(),
            check_in_url: config.check_in_url.clone(),
            sign_message: config.sign_message,
            check_out_when_removed: config.check_out_when_removed,
            server_capabilities: config.server_capabilities.clone(),
            access_rights: kind
                .has_access_rights()
                .then(|| config.access_rights_for(kind.ownership()).bits()),
            enrollment_mode: kind.enrollment_mode(),
            assigned_managed_apple_id: assigned,
            managed_apple_id: legacy,
            server_url_pinning_certificate_uuids: pinned.clone(),
            check_in_url_pinning_certificate_uuids: pinned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_rights_rules() {
        assert!(AccessRights::new(0).is_err());
        assert!(AccessRights::new(2).is_err());
        assert!(AccessRights::new(3).is_ok());
        assert!(AccessRights::new(128).is_err());
        assert!(AccessRights::new(192).is_ok());
        assert!(AccessRights::new(8192).is_err());
        assert!(AccessRights::new(-1).is_err());
        assert_eq!(AccessRights::PERSONAL_DEFAULT.bits(), 8179);
        assert!(
            !AccessRights::PERSONAL_DEFAULT
                .names()
                .contains(&"device erase")
        );
        assert_eq!(AccessRights::ALL.names().len(), 13);
    }

    #[test]
    fn topic_rule() {
        assert!(check_topic("com.apple.mgmt.External.2f7d0d3c").is_ok());
        assert!(check_topic("com.apple.mgmt.").is_err());
        assert!(check_topic("com.contoso.mdm").is_err());
    }

    #[test]
    fn capabilities_rule() {
        assert!(check_server_capabilities(&["com.apple.mdm.token"]).is_ok());
        assert!(
            check_server_capabilities(&["com.apple.mdm.token", "com.apple.mdm.token"]).is_err()
        );
        assert!(check_server_capabilities(&["com.apple.mdm.nope"]).is_err());
    }
}
