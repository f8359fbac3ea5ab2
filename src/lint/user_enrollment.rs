//! What Apple forbids or ignores under User Enrollment on iOS: the iOS
//! `userenrollment` modes of Apple's schema (the built-in facts, or
//! `--schema DIR`), for a payload type as a whole and for each key at any
//! depth. A forbidden payload or key makes the device refuse the profile; an
//! ignored key silently does nothing. Notably the device-wide VPN
//! `com.apple.vpn.managed` is forbidden while per-app VPN
//! (`com.apple.vpn.managed.applayer`) is allowed, and most restrictions of
//! `com.apple.applicationaccess` are forbidden.

use super::schema::{Key, Mode, PayloadDef};
use super::{Payload, Sink, rules};

/// Reports a payload whose type is forbidden under User Enrollment; returns
/// whether it was (its keys are then not checked one by one).
pub fn payload_forbidden(p: &Payload<'_>, ty: &str, defs: &[PayloadDef], sink: &mut Sink) -> bool {
    let Some(def) = defs.iter().find(|d| d.ue() == Some(Mode::Forbidden)) else {
        return false;
    };
    sink.at(
        rules::UE_FORBIDDEN_PAYLOAD,
        p,
        "",
        format!(
            "{ty} is forbidden under User Enrollment on iOS ({}: userenrollment forbidden): the device refuses the profile",
            def.file
        ),
    );
    true
}

/// Reports a key forbidden or ignored under User Enrollment (`payload` is
/// `None` for the profile's own keys); returns whether it is forbidden (its
/// value is then not checked further).
pub fn key(payload: Option<&Payload<'_>>, spec: &Key, path: &str, sink: &mut Sink) -> bool {
    match spec.ue() {
        Some(Mode::Forbidden) => {
            sink.nested(
                rules::UE_FORBIDDEN_KEY,
                payload,
                path.to_owned(),
                "is forbidden under User Enrollment on iOS: the device refuses the profile",
            );
            true
        }
        Some(Mode::Ignored) => {
            sink.nested(
                rules::UE_IGNORED_KEY,
                payload,
                path.to_owned(),
                "is ignored under User Enrollment on iOS: it has no effect",
            );
            false
        }
        _ => false,
    }
}
