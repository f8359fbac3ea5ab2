//! `[ade]`: Automated Device Enrollment. The CA a device's signed
//! `MachineInfo` must chain to (`device_ca`, by default Apple's, shipped in
//! `assets/apple-device-ca/`), the OS versions a device must run
//! (`minimum_os`), and the ADE profile `aspen ade profile` prints: those keys
//! are the field names of Apple's "define profile" call (Apple: Device
//! Assignment, `Profile`), so what an admin writes is what Apple reads.

use super::fields::{fail, https, optional_text, os_versions, relative_path, text};
use crate::error::FieldError;
use crate::model::device::{OsVersion, Platform};
use openssl::x509::X509;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Apple's public device CA certificates (see assets/apple-device-ca/SOURCE.md).
const APPLE_DEVICE_CA: &[u8] = include_bytes!("../../assets/apple-device-ca/apple-device-ca.pem");

/// `[ade]`, checked.
#[derive(Debug, Clone)]
pub struct Ade {
    /// Certificates a `MachineInfo` signature must chain to; the lowest
    /// of them must have issued the device's certificate.
    pub device_ca: Vec<X509>,
    /// Where `device_ca` came from, for messages.
    pub device_ca_source: String,
    /// The OS version each platform must run at least.
    pub minimum_os: Vec<(Platform, OsVersion)>,
    pub profile: AdeProfile,
}

/// The ADE profile's fields, as Apple names them (Apple: Device Assignment,
/// "Define a Profile", `Profile`). `None`: not written, Apple's default.
#[derive(Debug, Clone)]
pub struct AdeProfile {
    pub profile_name: String,
    /// Where the device posts its `MachineInfo`; `None`: `<public_url>/ade/enroll`.
    pub url: Option<String>,
    pub is_supervised: bool,
    pub is_mandatory: bool,
    pub is_mdm_removable: bool,
    pub await_device_configured: Option<bool>,
    pub skip_setup_items: Vec<String>,
    pub department: Option<String>,
    pub support_phone_number: Option<String>,
    pub support_email_address: Option<String>,
    pub language: Option<String>,
    pub region: Option<String>,
    pub org_magic: Option<String>,
    /// The web sign-in during Setup Assistant, when on.
    pub configuration_web_url: Option<WebUrl>,
}

/// `configuration_web_url`: `true` for aspen's own page, or a URL (a
/// proxy's path to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebUrl {
    /// `<public_url>/ade/web`.
    Here,
    At(String),
}

impl Ade {
    /// Whether the web sign-in (`configuration_web_url`) is on.
    pub fn web(&self) -> bool {
        self.profile.configuration_web_url.is_some()
    }

    /// The version `platform` must run at least, if `minimum_os` names it.
    pub fn minimum(&self, platform: Platform) -> Option<OsVersion> {
        self.minimum_os
            .iter()
            .find(|(p, _)| *p == platform)
            .map(|(_, v)| *v)
    }
}

/// `[ade]` as written (the key names are a contract: aspen's own and
/// Apple's).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAde {
    device_ca: Option<String>,
    minimum_os: Option<BTreeMap<String, String>>,
    profile_name: Option<String>,
    url: Option<String>,
    is_supervised: Option<bool>,
    is_mandatory: Option<bool>,
    is_mdm_removable: Option<bool>,
    await_device_configured: Option<bool>,
    skip_setup_items: Option<Vec<String>>,
    department: Option<String>,
    support_phone_number: Option<String>,
    support_email_address: Option<String>,
    language: Option<String>,
    region: Option<String>,
    org_magic: Option<String>,
    configuration_web_url: Option<RawWebUrl>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawWebUrl {
    On(bool),
    Url(String),
}

/// Apple: other/skipkeys.yaml — the Setup Assistant panes
/// `skip_setup_items` may name.
pub const SKIP_KEYS: &[&str] = &[
    "Accessibility",
    "AccessibilityAppearance",
    "ActionButton",
    "Android",
    "Appearance",
    "AppleID",
    "AppStore",
    "Biometric",
    "CameraButton",
    "DeviceFeaturesTour",
    "DeviceToDeviceMigration",
    "Diagnostics",
    "DisplayTone",
    "EnableLockdownMode",
    "FileVault",
    "HomeButtonSensitivity",
    "iCloudDiagnostics",
    "iCloudStorage",
    "iMessageAndFaceTime",
    "Intelligence",
    "Keyboard",
    "LiquidGlass",
    "Location",
    "MessagingActivationUsingPhoneNumber",
    "Multitasking",
    "OnBoarding",
    "OSShowcase",
    "Passcode",
    "Payment",
    "Privacy",
    "Restore",
    "RestoreCompleted",
    "ScreenSaver",
    "Safety",
    "SafetyAndHandling",
    "ScreenTime",
    "SIMSetup",
    "Siri",
    "SoftwareUpdate",
    "SpokenLanguage",
    "TapToSetup",
    "TermsOfAddress",
    "Tips",
    "TOS",
    "TVHomeScreenSync",
    "TVProviderSignIn",
    "TVRoom",
    "UnlockWithWatch",
    "UpdateCompleted",
    "Wallpaper",
    "WatchMigration",
    "WebContentFiltering",
    "Welcome",
    "Zoom",
];

/// `[ade]`; `org` is the organisation's name (the default `profile_name`).
pub(super) fn validate(raw: RawAde, base: &Path, org: &str) -> Result<Ade, FieldError> {
    let (device_ca, device_ca_source) = match raw.device_ca {
        None => (
            X509::stack_from_pem(APPLE_DEVICE_CA).map_err(|_| {
                FieldError::new("ade.device_ca", None, "internal: the built-in bundle")
            })?,
            "Apple's device CA (built in)".to_owned(),
        ),
        Some(file) => {
            let field = "ade.device_ca";
            let path = relative_path(base, field, &file)?;
            let bytes = crate::fs::read_capped(&path, crate::x509::MAX_FILE_BYTES)
                .map_err(|e| FieldError::new(field, Some(&file), format!("cannot read {e}")))?;
            let certs = crate::x509::load_certificates(&bytes)
                .map_err(|why| FieldError::new(field, Some(&file), format!("the file {why}")))?;
            (certs, path.display().to_string())
        }
    };
    let minimum_os = os_versions("ade.minimum_os", raw.minimum_os.unwrap_or_default())?;
    let is_supervised = raw.is_supervised.unwrap_or(true);
    let is_mdm_removable = raw.is_mdm_removable.unwrap_or(false);
    // Apple: Profile `is_mdm_removable` "can be false only if is_supervised
    // is true".
    if !is_mdm_removable && !is_supervised {
        return fail(
            "ade.is_mdm_removable",
            "false",
            "can be false only when is_supervised is true (Apple's rule)",
        );
    }
    let skip_setup_items = raw.skip_setup_items.unwrap_or_default();
    if let Some(bad) = skip_setup_items
        .iter()
        .find(|k| !SKIP_KEYS.contains(&k.as_str()))
    {
        return fail(
            "ade.skip_setup_items",
            bad,
            "is not one of Apple's Setup Assistant skip keys (other/skipkeys.yaml), e.g. \"Siri\", \"Privacy\", \"Location\"",
        );
    }
    let url = raw.url.map(|u| https("ade.url", u)).transpose()?;
    let configuration_web_url = match raw.configuration_web_url {
        None | Some(RawWebUrl::On(false)) => None,
        Some(RawWebUrl::On(true)) => Some(WebUrl::Here),
        Some(RawWebUrl::Url(u)) => Some(WebUrl::At(https("ade.configuration_web_url", u)?)),
    };
    let letters = |field: &str, v: Option<String>, lens: &[usize], what: &str| match v {
        Some(v) if !(lens.contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphabetic())) => {
            fail(field, &v, what.to_owned())
        }
        v => Ok(v),
    };
    let support_email_address =
        optional_text("ade.support_email_address", raw.support_email_address)?;
    if let Some(e) = &support_email_address {
        crate::model::check_email(e)
            .map_err(|why| FieldError::new("ade.support_email_address", Some(e), why))?;
    }
    Ok(Ade {
        device_ca,
        device_ca_source,
        minimum_os,
        profile: AdeProfile {
            profile_name: text(
                "ade.profile_name",
                raw.profile_name.unwrap_or_else(|| org.to_owned()),
            )?,
            url,
            is_supervised,
            is_mandatory: raw.is_mandatory.unwrap_or(true),
            is_mdm_removable,
            await_device_configured: raw.await_device_configured,
            skip_setup_items,
            department: optional_text("ade.department", raw.department)?,
            support_phone_number: optional_text(
                "ade.support_phone_number",
                raw.support_phone_number,
            )?,
            support_email_address,
            language: letters(
                "ade.language",
                raw.language,
                &[2, 3],
                "must be an ISO 639 language code of 2 or 3 letters (Apple: language)",
            )?,
            region: letters(
                "ade.region",
                raw.region,
                &[2],
                "must be an ISO 3166-1 region code of 2 letters (Apple: region)",
            )?,
            org_magic: optional_text("ade.org_magic", raw.org_magic)?,
            configuration_web_url,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::tests::{MINIMAL, PORTAL, parse};

    #[test]
    fn defaults_are_apples_ca_and_a_supervised_profile() {
        let s = parse(&format!("{MINIMAL}{PORTAL}\n[ade]\n")).unwrap();
        let ade = s.ade.as_ref().unwrap();
        assert_eq!(ade.device_ca.len(), 3);
        assert!(ade.minimum_os.is_empty());
        assert!(ade.profile.is_supervised && !ade.profile.is_mdm_removable);
        assert_eq!(ade.profile.profile_name, "Contoso");
        assert!(!ade.web());
    }

    #[test]
    fn errors_name_the_key_and_value() {
        let with = |body: &str| {
            parse(&format!("{MINIMAL}{PORTAL}\n[ade]\n{body}\n"))
                .unwrap_err()
                .to_string()
        };
        let msg = with("minimum_os = { iOS = \"seventeen\" }");
        assert!(
            msg.contains("ade.minimum_os.iOS = \"seventeen\": must be a version"),
            "{msg}"
        );
        let msg = with("minimum_os = { Android = \"14\" }");
        assert!(msg.contains("\"Android\" is not an OS"), "{msg}");
        let msg = with("skip_setup_items = [\"Siri\", \"Sirri\"]");
        assert!(msg.contains("ade.skip_setup_items = \"Sirri\""), "{msg}");
        let msg = with("is_supervised = false");
        assert!(msg.contains("ade.is_mdm_removable = \"false\""), "{msg}");
        let msg = with("region = \"USA\"");
        assert!(msg.contains("ade.region = \"USA\""), "{msg}");
        let msg = with("url = \"http://mdm.contoso.com/ade\"");
        assert!(msg.contains("ade.url"), "{msg}");
        let msg = with("device_ca = \"missing.pem\"");
        assert!(
            msg.contains("ade.device_ca = \"missing.pem\": cannot read"),
            "{msg}"
        );
        let msg = with("support_email_address = \"help\"");
        assert!(
            msg.contains("ade.support_email_address = \"help\""),
            "{msg}"
        );
    }

    #[test]
    fn minimum_os_and_the_web_flow() {
        let s = parse(&format!(
            "{MINIMAL}{PORTAL}\n[ade]\nminimum_os = {{ iOS = \"17.0\", macOS = \"14.4\" }}\nconfiguration_web_url = true\n"
        ))
        .unwrap();
        let ade = s.ade.as_ref().unwrap();
        assert_eq!(ade.minimum(Platform::Ios), Some(OsVersion::new(17, 0)));
        assert_eq!(ade.minimum(Platform::MacOs), Some(OsVersion::new(14, 4)));
        assert_eq!(ade.minimum(Platform::IpadOs), None);
        assert_eq!(ade.profile.configuration_web_url, Some(WebUrl::Here));
    }
}
