//! The error a device shows instead of a profile: Apple's error
//! dictionaries for MDM servers' `403` answers (Apple:
//! mdm/errors/well-known.failed.yaml, softwareupdate.required.yaml), and
//! aspen's own codes in the same shape. Every channel that answers a
//! device (account-driven enrollment, ADE) builds them here.

use super::service::{Needs, Service};
use crate::model::device::Device;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Apple's `ErrorWellKnownFailed` (mdm/errors/well-known.failed.yaml).
pub const WELL_KNOWN_FAILED: &str = "com.apple.well-known.failed";

/// The body of a refusal the device shows: Apple's error dictionaries
/// (mdm/errors/well-known.failed.yaml, softwareupdate.required.yaml:
/// `code`, `description` for the admin, `message` for the user, and
/// `details` where the code has them), and aspen's own code in the same
/// shape.
#[derive(serde::Serialize)]
pub struct Refusal {
    pub code: &'static str,
    pub description: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<UpdateDetails>,
}

/// `details` of `com.apple.softwareupdate.required`: the OS version to
/// update to (Apple: `OSVersion`; `BuildVersion` and `RequireBetaProgram`
/// are not used).
#[derive(serde::Serialize)]
pub struct UpdateDetails {
    #[serde(rename = "OSVersion")]
    pub os_version: String,
}

impl Refusal {
    pub fn answer(self, status: StatusCode) -> Response {
        (status, axum::Json(self)).into_response()
    }
}

/// Apple's `ErrorCodeSoftwareUpdateRequired` (a 403 with a JSON body): the
/// device must update to `details.OSVersion` first. Answered instead of a
/// profile the device would install only to cancel.
pub fn software_update_required(svc: &Service, device: &Device, needs: &Needs) -> Response {
    let os = needs.platform.os_name();
    Refusal {
        code: "com.apple.softwareupdate.required",
        description: format!(
            "{} needs {os} {} or later; the device runs {}",
            needs.what,
            needs.minimum,
            device.describe_os()
        ),
        message: format!(
            "Enrolling with {} needs {os} {} or later{}. Update this device in Software Update, then enroll again.",
            svc.org(),
            needs.minimum,
            needs
                .restriction
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        details: Some(UpdateDetails {
            os_version: needs.minimum.to_string(),
        }),
    }
    .answer(StatusCode::FORBIDDEN)
}
