//! The enrollment modes of the MDM payload (Apple: com.apple.mdm keys
//! `EnrollmentMode`, `AssignedManagedAppleID`, `ManagedAppleID`,
//! `AccessRights`), read the way [`crate::model::EnrollmentKind`] writes them.

use super::{Payload, Sink, mdm_payload, rules};
use crate::model::ManagedAppleId;
use crate::payload::mdm::Detected;

pub fn check(payloads: &[Payload<'_>], sink: &mut Sink) {
    let Some(p) = mdm_payload(payloads) else {
        return;
    };
    let has = |k: &str| p.dict.contains_key(k);
    match Detected::of(p.dict) {
        // Account-driven User Enrollment: "Required for account-driven
        // enrollment" (EnrollmentMode) with the user's AssignedManagedAppleID;
        // AccessRights must be absent (the device cancels the enrollment).
        Detected::UserByod => {
            if !has("AssignedManagedAppleID") {
                sink.at(
                    rules::BYOD_WITHOUT_ID,
                    &p,
                    "AssignedManagedAppleID",
                    "EnrollmentMode BYOD needs the user's AssignedManagedAppleID",
                );
            }
            if has("AccessRights") {
                sink.at(
                    rules::BYOD_ACCESS_RIGHTS,
                    &p,
                    "AccessRights",
                    "must be absent for account-driven User Enrollment (BYOD): the device cancels the enrollment",
                );
            }
        }
        Detected::Adde => {
            if !has("AssignedManagedAppleID") {
                sink.at(
                    rules::ADDE_WITHOUT_ID,
                    &p,
                    "AssignedManagedAppleID",
                    "EnrollmentMode ADDE needs the user's AssignedManagedAppleID",
                );
            }
        }
        Detected::UserLegacy => sink.at(
            rules::LEGACY_USER,
            &p,
            "ManagedAppleID",
            "profile-based User Enrollment was removed in iOS 18 and macOS 15: those devices refuse this profile; use account-driven User Enrollment (EnrollmentMode BYOD)",
        ),
        Detected::Device => {
            // Apple: AssignedManagedAppleID "The system only uses this value
            // with account-driven enrollment".
            if has("AssignedManagedAppleID") {
                sink.at(
                    rules::ID_WITHOUT_MODE,
                    &p,
                    "AssignedManagedAppleID",
                    "is only used with account-driven enrollment; without EnrollmentMode the device ignores it",
                );
            }
        }
    }
    if has("ManagedAppleID") && has("EnrollmentMode") {
        sink.at(
            rules::MIXED_MODES,
            &p,
            "ManagedAppleID",
            "belongs to profile-based User Enrollment and cannot be combined with EnrollmentMode (account-driven); use AssignedManagedAppleID",
        );
    }
    for key in ["AssignedManagedAppleID", "ManagedAppleID"] {
        if let Some(id) = p.str(key)
            && let Err(why) = ManagedAppleId::parse(id)
        {
            sink.at(
                rules::BAD_MANAGED_APPLE_ID,
                &p,
                key,
                format!("{id:?} {why}"),
            );
        }
    }
}
