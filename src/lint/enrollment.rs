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

/// At most this many extra payloads are named in the finding.
const NAMED_EXTRAS: usize = 10;

/// Apple, "Deploying device management enrollment profiles": an enrollment
/// profile carries, at minimum, the TLS root and intermediate certificates,
/// one client identity — an ACME payload (recommended), a SCEP payload or a
/// PKCS#12 — and the MDM payload; everything else is installed with MDM once
/// the device is enrolled. A profile with an MDM payload that carries more
/// gets one warning naming what else it carries ([`rules::ENROLLMENT_EXTRA`]).
///
/// Certificates (`com.apple.security.root`, `.pem`, `.pkcs1`) are
/// enrollment payloads however many there are (a chain). Identities
/// (`com.apple.security.scep`, `.acme`, `.pkcs12`) are too, but only one of
/// them: the one the MDM payload's `IdentityCertificateUUID` names; any other
/// identity is extra. When that reference names no identity (ASP020, ASP021
/// say so), no identity is counted as extra. A second MDM payload is ASP026's.
///
/// With `--min-os` for every target, and every target a version that has
/// ACME (Apple's `supportedOS` of `com.apple.security.acme`: iOS 16.0, macOS
/// 13.1, …, from the facts), a SCEP identity gets a note recommending ACME
/// ([`rules::PREFER_ACME`]).
pub fn extras(
    payloads: &[Payload<'_>],
    schema: &crate::lint::schema::Schema,
    targets: &[crate::lint::target::Target],
    sink: &mut Sink,
) {
    use crate::payload::mdm::{IDENTITY_TYPES, PAYLOAD_TYPE as MDM, PINNABLE_TYPES};
    use crate::payload::{acme, scep};
    let Some(mdm) = mdm_payload(payloads) else {
        return;
    };
    let identity = mdm.str("IdentityCertificateUUID").and_then(|u| {
        payloads.iter().find(|p| {
            p.str("PayloadUUID")
                .is_some_and(|x| x.eq_ignore_ascii_case(u))
                && p.payload_type()
                    .is_some_and(|t| IDENTITY_TYPES.contains(&t))
        })
    });
    let mut extra = Vec::new();
    for p in payloads {
        let ty = p.payload_type().unwrap_or_default();
        let needed = ty == MDM
            || PINNABLE_TYPES.contains(&ty)
            || (IDENTITY_TYPES.contains(&ty) && identity.is_none_or(|i| i.index == p.index));
        if !needed {
            let what = if IDENTITY_TYPES.contains(&ty) {
                format!("PayloadContent[{}] {ty} (a second identity)", p.index)
            } else if ty.is_empty() {
                format!("PayloadContent[{}] (no PayloadType)", p.index)
            } else {
                format!("PayloadContent[{}] {ty}", p.index)
            };
            extra.push(what);
        }
    }
    if !extra.is_empty() {
        let them = if extra.len() == 1 { "it" } else { "them" };
        let more = extra.len().saturating_sub(NAMED_EXTRAS);
        extra.truncate(NAMED_EXTRAS);
        let mut named = extra.join(", ");
        if more > 0 {
            named.push_str(&format!(" and {more} more"));
        }
        sink.top(
            rules::ENROLLMENT_EXTRA,
            "PayloadContent",
            format!(
                "carries {named} besides what enrollment needs (Apple, \"Deploying device management enrollment profiles\": the TLS root and intermediate certificates, one identity — ACME, SCEP or PKCS#12 — and the MDM payload): install {them} with MDM once the device is enrolled"
            ),
        );
    }
    let Some(acme_def) = schema.payload(acme::PAYLOAD_TYPE).and_then(|d| d.first()) else {
        return;
    };
    let scep_identity = identity.filter(|i| i.payload_type() == Some(scep::PAYLOAD_TYPE));
    if let Some(s) = scep_identity
        && crate::lint::target::all_support(targets, &acme_def.supported)
    {
        let facts = crate::lint::target::Effective::default().with(&acme_def.supported);
        let since: Vec<String> = targets
            .iter()
            .filter_map(|t| {
                let i = facts.get(t.platform.os())?.introduced?;
                Some(format!("{} {i}", t.platform.name()))
            })
            .collect();
        sink.at(
            rules::PREFER_ACME,
            s,
            "",
            format!(
                "every target supports ACME ({} introduced in {}): Apple recommends an ACME identity for enrollment, whose key can be bound to the device's hardware and attested",
                acme::PAYLOAD_TYPE,
                since.join(", ")
            ),
        );
    }
}
