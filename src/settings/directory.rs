//! `[directory]`: the users file (CSV: email, Managed Apple ID, groups)
//! that policies and the portal look people up in.

use super::fields::relative_path;
use crate::error::FieldError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `[directory]` as written (the key names are a contract).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDirectory {
    users: Option<String>,
}

/// `[directory] users`, resolved against the settings file's folder.
pub(super) fn users(raw: Option<RawDirectory>, base: &Path) -> Result<Option<PathBuf>, FieldError> {
    match raw.and_then(|d| d.users) {
        Some(users) => Ok(Some(relative_path(base, "directory.users", &users)?)),
        None => Ok(None),
    }
}
