//! `com.apple.security.acme`: the device identity obtained over ACME
//! (Apple: mdm/profiles/com.apple.security.acme.yaml; iOS 16+, macOS 13.1+).

use super::{Common, KeySpec, Subject, ValueType as T};
use crate::secret::{IdentitySecret, Secret};
use serde::Serialize;

pub const PAYLOAD_TYPE: &str = "com.apple.security.acme";

/// Apple: com.apple.security.acme payload keys.
pub const KEYS: &[KeySpec] = &[
    KeySpec::required("DirectoryURL", T::String),
    KeySpec::required("ClientIdentifier", T::String),
    KeySpec::required("KeySize", T::Integer),
    KeySpec::required("KeyType", T::String),
    KeySpec::required("HardwareBound", T::Boolean),
    KeySpec::required("Subject", T::Array),
    KeySpec::optional("SubjectAltName", T::Dictionary),
    KeySpec::optional("UsageFlags", T::Integer),
    KeySpec::optional("ExtendedKeyUsage", T::Array),
    KeySpec::optional("Attest", T::Boolean),
    KeySpec::optional("KeyIsExtractable", T::Boolean),
    KeySpec::optional("AllowAllAppsAccess", T::Boolean),
];

/// Apple: `ClientIdentifier` proves the device may get a certificate ("an
/// anti-replay code"); whoever reads it can request one.
pub const SECRET_KEYS: &[&str] = &["ClientIdentifier"];

/// The first OS version of `platform` that installs this payload. Apple:
/// com.apple.security.acme is iOS/iPadOS 16, macOS 13.1, tvOS 16,
/// visionOS 1.0, watchOS 9; `HardwareBound` or `Attest` true "is supported
/// as of macOS 14" (and only on Apple silicon or a T2 chip, which nothing a
/// device sends before enrollment tells).
pub fn minimum(
    platform: crate::model::device::Platform,
    hardware_bound_or_attest: bool,
) -> crate::model::device::OsVersion {
    use crate::model::device::{OsVersion, Platform};
    match platform {
        Platform::Ios | Platform::IpadOs | Platform::TvOs => OsVersion::new(16, 0),
        Platform::MacOs if hardware_bound_or_attest => OsVersion::new(14, 0),
        Platform::MacOs => OsVersion::new(13, 1),
        Platform::VisionOs => OsVersion::new(1, 0),
        Platform::WatchOs => OsVersion::new(9, 0),
    }
}

/// Apple: ACME `KeyType`, rangelist `RSA`, `ECSECPrimeRandom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    EcSecPrimeRandom,
}

impl KeyType {
    pub const ALL: [KeyType; 2] = [KeyType::Rsa, KeyType::EcSecPrimeRandom];

    /// As Apple names it in the payload.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::EcSecPrimeRandom => "ECSECPrimeRandom",
        }
    }

    /// The key type Apple names `name` (exactly, as the payload must);
    /// the error says which there are.
    pub fn parse(name: &str) -> Result<KeyType, String> {
        KeyType::ALL
            .into_iter()
            .find(|t| t.as_str() == name)
            .ok_or_else(|| {
                let all: Vec<_> = KeyType::ALL.iter().map(|t| t.as_str()).collect();
                format!("{name:?} is not one of {}", all.join(", "))
            })
    }
}

impl Serialize for KeyType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Apple's rules tying `KeyType`, `KeySize`, `HardwareBound` and `Attest`:
/// - RSA: `KeySize` a multiple of 8 in 1024–4096, and `HardwareBound` false;
/// - ECSECPrimeRandom: `KeySize` 192, 256, 384 or 521; hardware-bound keys
///   only 256 or 384;
/// - `Attest` true needs `HardwareBound` true.
///
/// Errors name the key they are about, as `(key, reason)`.
pub fn check_key(
    key_type: KeyType,
    key_size: i64,
    hardware_bound: bool,
    attest: bool,
) -> Result<(), (&'static str, String)> {
    match key_type {
        KeyType::Rsa => {
            if !(1024..=4096).contains(&key_size) || key_size % 8 != 0 {
                return Err((
                    "KeySize",
                    "an RSA key size must be a multiple of 8 from 1024 to 4096".into(),
                ));
            }
            if hardware_bound {
                return Err((
                    "HardwareBound",
                    "an RSA key cannot be hardware-bound (use ECSECPrimeRandom 256 or 384)".into(),
                ));
            }
        }
        KeyType::EcSecPrimeRandom => {
            if ![192, 256, 384, 521].contains(&key_size) {
                return Err((
                    "KeySize",
                    "an ECSECPrimeRandom key size must be 192, 256, 384 or 521".into(),
                ));
            }
            if hardware_bound && ![256, 384].contains(&key_size) {
                return Err((
                    "KeySize",
                    "a hardware-bound key must be 256 or 384 bits".into(),
                ));
            }
        }
    }
    if attest && !hardware_bound {
        return Err((
            "Attest",
            "attestation needs a hardware-bound key (HardwareBound true)".into(),
        ));
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct AcmeConfig {
    pub directory_url: String,
    /// Apple: "a unique string identifying a specific device"; the ACME
    /// server may refuse a second issuance for one, so `per-profile` gives
    /// each profile its own.
    pub client_identifier: IdentitySecret,
    pub key_type: KeyType,
    pub key_size: u32,
    pub hardware_bound: bool,
    pub attest: bool,
    pub subject: Subject,
}

#[derive(Debug, Clone, Serialize)]
pub struct AcmePayload {
    #[serde(flatten)]
    pub common: Common,
    #[serde(rename = "DirectoryURL")]
    pub directory_url: String,
    #[serde(rename = "ClientIdentifier")]
    pub client_identifier: Secret,
    #[serde(rename = "KeySize")]
    pub key_size: u32,
    #[serde(rename = "KeyType")]
    pub key_type: KeyType,
    #[serde(rename = "HardwareBound")]
    pub hardware_bound: bool,
    #[serde(rename = "Subject")]
    pub subject: Subject,
    #[serde(rename = "Attest")]
    pub attest: bool,
}

impl AcmePayload {
    /// The payload for `config`, carrying `client_identifier`: the static
    /// one, or the one made for this profile.
    /// `subject` is `config.subject` with its placeholders filled.
    pub fn new(
        common: Common,
        config: &AcmeConfig,
        client_identifier: Secret,
        subject: Subject,
    ) -> AcmePayload {
        AcmePayload {
            common,
            directory_url: config.directory_url.clone(),
            client_identifier,
            key_size: config.key_size,
            key_type: config.key_type,
            hardware_bound: config.hardware_bound,
            subject,
            attest: config.attest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{KeyType, check_key};

    /// The rules by Apple's names, as a payload or the settings write them.
    fn check(
        key_type: &str,
        size: i64,
        bound: bool,
        attest: bool,
    ) -> Result<(), (&'static str, String)> {
        let key_type = KeyType::parse(key_type).map_err(|why| ("KeyType", why))?;
        check_key(key_type, size, bound, attest)
    }

    #[test]
    fn apple_key_rules() {
        assert!(check("RSA", 2048, false, false).is_ok());
        assert!(check("RSA", 3072, false, false).is_ok());
        assert_eq!(check("RSA", 2049, false, false).unwrap_err().0, "KeySize");
        assert_eq!(check("RSA", 512, false, false).unwrap_err().0, "KeySize");
        assert_eq!(
            check("RSA", 2048, true, false).unwrap_err().0,
            "HardwareBound"
        );
        assert!(check("ECSECPrimeRandom", 384, true, true).is_ok());
        assert!(check("ECSECPrimeRandom", 521, false, false).is_ok());
        assert_eq!(
            check("ECSECPrimeRandom", 521, true, false).unwrap_err().0,
            "KeySize"
        );
        assert_eq!(
            check("ECSECPrimeRandom", 256, false, true).unwrap_err().0,
            "Attest"
        );
        assert_eq!(
            check("DSA", 2048, false, false).unwrap_err(),
            (
                "KeyType",
                "\"DSA\" is not one of RSA, ECSECPrimeRandom".into()
            )
        );
        for t in KeyType::ALL {
            assert_eq!(KeyType::parse(t.as_str()), Ok(t));
        }
        assert!(KeyType::parse("rsa").is_err(), "Apple's names, exactly");
    }
}
