//! Who a device is, once its signed `MachineInfo` was checked (Automated
//! Device Enrollment) or an admin named it (`aspen profile device --serial`):
//! its serial number and UDID, what it is and what it runs. These name the
//! device in its identity (an ACME `ClientIdentifier`, a subject), in the
//! record of its per-profile secret and in the audit log, so every value is
//! checked to be short, plain ASCII before anything uses it.

use super::device::Device;

/// Apple: other/machineinfo.yaml — what a device sends during Automated
/// Device Enrollment (`UDID`, `SERIAL`, `PRODUCT`, `VERSION` required;
/// `OS_VERSION` from iOS 17 and macOS 14; `LANGUAGE` and
/// `MDM_CAN_REQUEST_SOFTWARE_UPDATE` optional).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineInfo {
    pub udid: String,
    pub serial: String,
    /// e.g. `iPhone15,2`, `Mac14,2`.
    pub product: String,
    /// The build, e.g. `21F90`.
    pub version: String,
    /// e.g. `17.5.1`; absent before iOS 17 and macOS 14.
    pub os_version: Option<String>,
    pub language: Option<String>,
    /// Apple: `MDM_CAN_REQUEST_SOFTWARE_UPDATE` — only then may the server
    /// answer `com.apple.softwareupdate.required`.
    pub can_request_software_update: bool,
}

/// The longest value aspen takes for any of these keys (real ones are 8 to
/// 40 characters).
const MAX_LEN: usize = 64;

/// The device a profile is issued to, as far as the flow knows it: the
/// values subject placeholders (`{serial}`, `{udid}`), a device-bound ACME
/// client identifier and the audit columns are filled from.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceIds {
    pub serial: Option<String>,
    pub udid: Option<String>,
    pub product: Option<String>,
    pub os_version: Option<String>,
}

impl MachineInfo {
    /// From the `MachineInfo` dictionary (whose signature the caller has
    /// checked). A required key missing, or a value that is not short plain
    /// text, is refused naming the key, never echoing the value.
    pub fn from_dictionary(info: &plist::Dictionary) -> Result<MachineInfo, String> {
        let text = |key: &str| -> Result<Option<String>, String> {
            match info.get(key) {
                None => Ok(None),
                Some(v) => v
                    .as_string()
                    .filter(|s| plain(s, |c| c.is_ascii_graphic() || c == ' '))
                    .map(|s| Some(s.to_owned()))
                    .ok_or_else(|| format!("MachineInfo {key} is not short plain text")),
            }
        };
        let required = |key: &str| -> Result<String, String> {
            text(key)?.ok_or_else(|| format!("MachineInfo has no {key}"))
        };
        let udid = required("UDID")?;
        check_udid(&udid).map_err(|why| format!("MachineInfo UDID {why}"))?;
        let serial = required("SERIAL")?;
        check_serial(&serial).map_err(|why| format!("MachineInfo SERIAL {why}"))?;
        Ok(MachineInfo {
            udid,
            serial,
            product: required("PRODUCT")?,
            version: required("VERSION")?,
            os_version: text("OS_VERSION")?,
            language: text("LANGUAGE")?,
            can_request_software_update: info
                .get("MDM_CAN_REQUEST_SOFTWARE_UPDATE")
                .and_then(plist::Value::as_boolean)
                .unwrap_or(false),
        })
    }

    /// Its platform and OS version (see [`Device`]).
    pub fn device(&self) -> Device {
        Device::from_parts(
            Some(&self.product),
            self.os_version.as_deref(),
            Some(&self.version),
        )
    }

    /// The values a profile issued to it carries and records.
    pub fn ids(&self) -> DeviceIds {
        DeviceIds {
            serial: Some(self.serial.clone()),
            udid: Some(self.udid.clone()),
            product: Some(self.product.clone()),
            os_version: self.os_version.clone(),
        }
    }
}

fn plain(s: &str, allowed: impl Fn(char) -> bool) -> bool {
    !s.is_empty() && s.len() <= MAX_LEN && s.chars().all(allowed)
}

/// A serial number: letters and digits (Apple's are 10 to 12 upper-case
/// characters; older ones 11).
pub fn check_serial(s: &str) -> Result<(), String> {
    if plain(s, |c| c.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(format!(
            "must be 1 to {MAX_LEN} letters and digits (a device serial number)"
        ))
    }
}

/// A UDID: hexadecimal digits and dashes (40 hex digits on older devices,
/// `00008030-001A…` on newer ones).
pub fn check_udid(s: &str) -> Result<(), String> {
    if plain(s, |c| c.is_ascii_hexdigit() || c == '-') {
        Ok(())
    } else {
        Err(format!(
            "must be 1 to {MAX_LEN} hexadecimal digits and dashes (a device UDID)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::device::{OsVersion, Platform};
    use plist::Value;

    fn info(pairs: &[(&str, Value)]) -> plist::Dictionary {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn s(v: &str) -> Value {
        Value::String(v.to_owned())
    }

    #[test]
    fn required_keys_and_plain_values() {
        let full = info(&[
            ("UDID", s("00008030-001A2B3C4D5E802E")),
            ("SERIAL", s("C02XK1ABJG5H")),
            ("PRODUCT", s("iPhone15,2")),
            ("VERSION", s("21F90")),
            ("OS_VERSION", s("17.5.1")),
            ("LANGUAGE", s("en")),
            ("MDM_CAN_REQUEST_SOFTWARE_UPDATE", Value::Boolean(true)),
        ]);
        let m = MachineInfo::from_dictionary(&full).unwrap();
        assert_eq!(m.serial, "C02XK1ABJG5H");
        assert!(m.can_request_software_update);
        let d = m.device();
        assert_eq!(d.platform, Some(Platform::Ios));
        assert_eq!(d.at_least(OsVersion::new(17, 5)), Some(true));
        assert_eq!(m.ids().serial.as_deref(), Some("C02XK1ABJG5H"));
        for key in ["UDID", "SERIAL", "PRODUCT", "VERSION"] {
            let mut missing = full.clone();
            missing.remove(key);
            assert_eq!(
                MachineInfo::from_dictionary(&missing).unwrap_err(),
                format!("MachineInfo has no {key}")
            );
        }
        let mut bad = full.clone();
        bad.insert("SERIAL".into(), s("C02/../x"));
        let err = MachineInfo::from_dictionary(&bad).unwrap_err();
        assert!(err.starts_with("MachineInfo SERIAL must be"), "{err}");
        assert!(!err.contains("C02/"), "{err}");
        bad.insert("SERIAL".into(), Value::Integer(7.into()));
        assert!(MachineInfo::from_dictionary(&bad).is_err());
        let mut bad = full.clone();
        bad.insert("UDID".into(), s("not-a-udid"));
        assert!(MachineInfo::from_dictionary(&bad).is_err());
        let mut bad = full;
        bad.insert("PRODUCT".into(), s(&"x".repeat(65)));
        assert!(MachineInfo::from_dictionary(&bad).is_err());
        assert!(check_serial("").is_err());
    }
}
