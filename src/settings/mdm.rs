//! `[mdm]`: the MDM server the device checks in with, its push topic
//! (written, or read from the APNs push certificate), and the access rights
//! it asks for.

use super::fields::{https, relative_path};
use crate::error::FieldError;
use crate::payload::mdm::{self, AccessRights, MdmConfig};
use serde::Deserialize;
use std::path::Path;

/// `[mdm]` as written (the key names are a contract).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMdm {
    server_url: String,
    check_in_url: Option<String>,
    topic: Option<String>,
    /// The APNs push certificate whose UID is the topic (instead of `topic`).
    topic_certificate: Option<String>,
    #[serde(default)]
    sign_message: bool,
    #[serde(default)]
    check_out_when_removed: bool,
    #[serde(default)]
    server_capabilities: Vec<String>,
    access_rights: Option<i64>,
    personal_access_rights: Option<i64>,
}

/// `topic`, or the UID of `topic_certificate` (the APNs push certificate).
fn topic(raw: &RawMdm, base: &Path) -> Result<String, FieldError> {
    match (&raw.topic, &raw.topic_certificate) {
        (Some(topic), None) => {
            mdm::check_topic(topic)
                .map_err(|why| FieldError::new("mdm.topic", Some(topic), why))?;
            Ok(topic.clone())
        }
        (None, Some(file)) => {
            let path = relative_path(base, "mdm.topic_certificate", file)?;
            mdm::topic_from_file(&path)
                .map_err(|why| FieldError::new("mdm.topic_certificate", Some(file), why))
        }
        (Some(_), Some(_)) => Err(FieldError::new(
            "mdm.topic_certificate",
            None,
            "give either topic or topic_certificate (the push certificate it is read from), not both",
        )),
        (None, None) => Err(FieldError::new(
            "mdm.topic",
            None,
            "is required: the push topic (com.apple.mgmt.…), or topic_certificate = the APNs push certificate it is read from",
        )),
    }
}

/// `[mdm]`, checked. Access rights default to all of them, personal access
/// rights to [`AccessRights::PERSONAL_DEFAULT`].
pub(super) fn validate(raw: RawMdm, base: &Path) -> Result<MdmConfig, FieldError> {
    let rights = |field: &str, value: Option<i64>, default: AccessRights| match value {
        None => Ok(default),
        Some(v) => {
            AccessRights::new(v).map_err(|why| FieldError::new(field, Some(&v.to_string()), why))
        }
    };
    let topic = topic(&raw, base)?;
    mdm::check_server_capabilities(&raw.server_capabilities)
        .map_err(|why| FieldError::new("mdm.server_capabilities", None, why))?;
    Ok(MdmConfig {
        server_url: https("mdm.server_url", raw.server_url)?,
        check_in_url: raw
            .check_in_url
            .map(|u| https("mdm.check_in_url", u))
            .transpose()?,
        topic,
        sign_message: raw.sign_message,
        check_out_when_removed: raw.check_out_when_removed,
        server_capabilities: raw.server_capabilities,
        access_rights: rights("mdm.access_rights", raw.access_rights, AccessRights::ALL)?,
        personal_access_rights: rights(
            "mdm.personal_access_rights",
            raw.personal_access_rights,
            AccessRights::PERSONAL_DEFAULT,
        )?,
    })
}
