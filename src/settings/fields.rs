//! Small checks the sections share: text that goes into the plist, https
//! URLs, paths relative to the settings file. Each error names the field
//! and its value.

use crate::error::FieldError;
use crate::model::device::{OsVersion, Platform};
use crate::payload::{check_https_url, check_plist_text};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The error for `field = value`.
pub(super) fn fail<T>(
    field: &str,
    value: &str,
    reason: impl Into<String>,
) -> Result<T, FieldError> {
    Err(FieldError::new(field, Some(value), reason))
}

/// Text that ends up in the plist: not empty, no characters a plist cannot hold.
pub(super) fn text(field: &str, value: String) -> Result<String, FieldError> {
    if value.trim().is_empty() {
        return fail(field, &value, "must not be empty");
    }
    check_plist_text(&value).map_err(|why| FieldError::new(field, Some(&value), why))?;
    Ok(value)
}

/// Text, when it is given.
pub(super) fn optional_text(
    field: &str,
    value: Option<String>,
) -> Result<Option<String>, FieldError> {
    value.map(|v| text(field, v)).transpose()
}

/// An https URL (the MDM server, a SCEP or ACME server).
pub(super) fn https(field: &str, url: String) -> Result<String, FieldError> {
    check_https_url(&url).map_err(|why| FieldError::new(field, Some(&url), why))?;
    Ok(url)
}

/// A path, relative to the settings file's folder `base`.
pub(super) fn relative_path(base: &Path, field: &str, value: &str) -> Result<PathBuf, FieldError> {
    if value.is_empty() {
        return fail(field, value, "must not be empty");
    }
    Ok(base.join(value))
}

/// The platforms settings may name (`[ade] minimum_os`, a restriction's
/// `platforms`, `minimum_os` and `maximum_os`), by their OS's name.
pub(super) const PLATFORMS: [Platform; 5] = [
    Platform::Ios,
    Platform::IpadOs,
    Platform::MacOs,
    Platform::TvOs,
    Platform::VisionOs,
];

/// A platform by its OS's name, exactly as Apple writes it ("iOS");
/// `value` is what the error shows as the field's value.
pub(super) fn platform(field: &str, name: &str, value: &str) -> Result<Platform, FieldError> {
    PLATFORMS
        .into_iter()
        .find(|p| p.os_name() == name)
        .ok_or_else(|| {
            FieldError::new(
                field,
                Some(value),
                format!(
                    "{name:?} is not an OS aspen knows; name one of {}",
                    PLATFORMS.map(Platform::os_name).join(", ")
                ),
            )
        })
}

/// An OS version as `major[.minor[.patch]]`, digits only.
pub(super) fn os_version(field: &str, text: &str) -> Result<OsVersion, FieldError> {
    let parts: Vec<&str> = text.split('.').collect();
    let digits = |p: &&str| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit());
    if (1..=3).contains(&parts.len())
        && parts.iter().all(digits)
        && let Some(v) = OsVersion::parse(text)
    {
        return Ok(v);
    }
    Err(FieldError::new(
        field,
        Some(text),
        "must be a version such as \"17.0\" (major[.minor[.patch]])",
    ))
}

/// A table of OS versions by platform (`{ iOS = "17.0", macOS = "14.4" }`),
/// each key and value checked; errors name `prefix.PLATFORM`.
pub(super) fn os_versions(
    prefix: &str,
    table: BTreeMap<String, String>,
) -> Result<Vec<(Platform, OsVersion)>, FieldError> {
    let mut out = Vec::with_capacity(table.len());
    for (name, version) in table {
        let field = format!("{prefix}.{name}");
        let platform = platform(&field, &name, &version)?;
        out.push((platform, os_version(&field, &version)?));
    }
    Ok(out)
}
