//! Small checks the sections share: text that goes into the plist, https
//! URLs, paths relative to the settings file. Each error names the field
//! and its value.

use crate::error::FieldError;
use crate::payload::{check_https_url, check_plist_text};
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
