//! The privacy notice: what the organisation can and cannot see or do on
//! this device, from the enrollment kind and its MDM access rights.

use super::super::csrf::Csrf;
use super::super::pages::{Privacy, chrome, page};
use super::super::service::Service;
use super::{Svc, enrolling};
use crate::model::{Channel, EnrollmentKind, Ownership};
use crate::payload::mdm::RIGHTS;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

pub fn kind_label(kind: EnrollmentKind) -> &'static str {
    match kind {
        EnrollmentKind::Device(Ownership::Corporate)
        | EnrollmentKind::AccountDrivenDevice(Ownership::Corporate) => {
            "device enrollment of an organisation-owned device"
        }
        EnrollmentKind::Device(Ownership::Personal)
        | EnrollmentKind::AccountDrivenDevice(Ownership::Personal) => {
            "device enrollment of your own device"
        }
        EnrollmentKind::AccountDrivenUser | EnrollmentKind::LegacyUser => {
            "User Enrollment (work apps and data only)"
        }
    }
}

/// What the organisation can and cannot see or do under `kind`.
pub fn privacy(svc: &Service, kind: EnrollmentKind) -> (Vec<String>, Vec<String>) {
    let personal_data =
        "read your personal e-mail, messages, photos, files, contacts or browsing history"
            .to_owned();
    if kind.is_user_enrollment() {
        let can = [
            "install, configure and remove the work apps and accounts it provides",
            "see and remove the work data, which lives on a separate managed volume",
            "apply work settings such as VPN for work apps and require a device passcode",
            "see the device model and OS version",
        ];
        let cannot = [
            personal_data.as_str(),
            "see your personal apps or how you use them",
            "see the serial number, UDID, IMEI or phone number",
            "erase your device (removing the enrollment removes only the work volume)",
            "lock your device or remove its passcode",
            "see your location",
        ];
        return (
            can.iter().map(|s| capitalise(s)).collect(),
            cannot.iter().map(|s| capitalise(s)).collect(),
        );
    }
    let rights = svc.settings.mdm.access_rights_for(kind.ownership());
    let mut can = Vec::new();
    let mut cannot = vec![capitalise(&personal_data)];
    for right in &RIGHTS {
        if rights.has(right) {
            can.push(capitalise(right.words));
        } else {
            cannot.push(capitalise(right.words));
        }
    }
    (can, cannot)
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

pub async fn privacy_page(State(svc): Svc, csrf: Csrf, headers: HeaderMap) -> Response {
    let (user, _, management, choice) = match enrolling(&svc, &headers, &csrf, None).await {
        Ok(e) => e,
        Err(res) => return res,
    };
    let kind = management.kind(Channel::Profile);
    let (can, cannot) = privacy(&svc, kind);
    page(
        StatusCode::OK,
        &csrf,
        Privacy {
            chrome: chrome(&svc, Some(&user), &csrf),
            kind: kind_label(kind),
            can,
            cannot,
            choice: choice.is_some(),
        },
    )
}
