//! `[organization]`: who the profiles are from, and the reverse-DNS root
//! of every payload identifier.

use super::fields::{fail, optional_text, text};
use crate::error::FieldError;
use serde::Deserialize;

/// `[organization]`, validated.
#[derive(Debug, Clone)]
pub struct Organization {
    pub name: String,
    /// Reverse-DNS root of every `PayloadIdentifier`.
    pub identifier: String,
    pub description: Option<String>,
    pub consent_text: Option<String>,
}

/// `[organization]` as written (the key names are a contract).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOrganization {
    name: String,
    identifier: String,
    description: Option<String>,
    consent_text: Option<String>,
}

/// A reverse-DNS identifier such as `com.contoso.mdm`.
fn check_reverse_dns(field: &str, value: &str) -> Result<(), FieldError> {
    let labels: Vec<&str> = value.split('.').collect();
    let ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if ok {
        Ok(())
    } else {
        fail(
            field,
            value,
            "must be a reverse-DNS identifier such as \"com.contoso.mdm\"",
        )
    }
}

/// `[organization]`, checked.
pub(super) fn validate(raw: RawOrganization) -> Result<Organization, FieldError> {
    check_reverse_dns("organization.identifier", &raw.identifier)?;
    Ok(Organization {
        name: text("organization.name", raw.name)?,
        identifier: raw.identifier,
        description: optional_text("organization.description", raw.description)?,
        consent_text: optional_text("organization.consent_text", raw.consent_text)?,
    })
}
