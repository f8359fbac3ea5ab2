//! Rules for the payload types aspen writes (mdm, scep, acme, certificates).
//! Each calls the rule function that lives with its payload in
//! `crate::payload`, so settings validation and lint agree.

use super::{Payload, Sink, rules};
use crate::payload::mdm::{self, AccessRights, IDENTITY_TYPES, PINNABLE_TYPES};
use crate::payload::{Subject, acme, cert, check_https_url, is_uuid_syntax, scep};
use plist::Value;
use std::collections::HashMap;

/// Payloads by upper-case `PayloadUUID` (the first, when one repeats).
type ByUuid<'a> = HashMap<String, Payload<'a>>;

pub fn check(payloads: &[Payload<'_>], sink: &mut Sink) {
    let mut by_uuid = ByUuid::new();
    for p in payloads {
        if let Some(u) = p.str("PayloadUUID") {
            by_uuid.entry(u.to_ascii_uppercase()).or_insert(*p);
        }
    }
    let mut seen_mdm = false;
    for p in payloads {
        match p.payload_type() {
            Some(mdm::PAYLOAD_TYPE) => {
                if seen_mdm {
                    // Apple: com.apple.mdm `multiple: false`.
                    sink.at(
                        rules::SECOND_MDM,
                        p,
                        "",
                        "a profile may hold only one MDM payload",
                    );
                }
                seen_mdm = true;
                mdm_rules(p, &by_uuid, sink);
            }
            Some(scep::PAYLOAD_TYPE) => scep_rules(p, sink),
            Some(acme::PAYLOAD_TYPE) => acme_rules(p, sink),
            Some(cert::ROOT | cert::PEM | cert::PKCS1 | cert::PKCS12) => certificate(p, sink),
            _ => {}
        }
    }
}

fn https(p: &Payload<'_>, key: &str, sink: &mut Sink) {
    if let Some(url) = p.str(key)
        && let Err(why) = check_https_url(url)
    {
        sink.at(rules::HTTPS, p, key, format!("{url:?} {why}"));
    }
}

/// Apple: com.apple.mdm.
fn mdm_rules(p: &Payload<'_>, payloads: &ByUuid<'_>, sink: &mut Sink) {
    // `IdentityCertificateUUID`: format of a UUID, naming an identity payload.
    if let Some(u) = p.str("IdentityCertificateUUID") {
        reference(
            p,
            "IdentityCertificateUUID".into(),
            u,
            &IDENTITY_TYPES,
            payloads,
            sink,
        );
    }
    // `ServerURLPinningCertificateUUIDs`, `CheckInURLPinningCertificateUUIDs`:
    // UUIDs of certificate payloads.
    for key in [
        "ServerURLPinningCertificateUUIDs",
        "CheckInURLPinningCertificateUUIDs",
    ] {
        let Some(items) = p.dict.get(key).and_then(Value::as_array) else {
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            let path = format!("{key}[{i}]");
            match item.as_string() {
                Some(u) => reference(p, path, u, &PINNABLE_TYPES, payloads, sink),
                None => sink.at(
                    rules::WRONG_TYPE,
                    p,
                    &path,
                    "must be a string (a payload UUID)",
                ),
            }
        }
    }
    // `Topic`: "must begin with the 'com.apple.mgmt.' prefix".
    if let Some(t) = p.str("Topic")
        && let Err(why) = mdm::check_topic(t)
    {
        sink.at(rules::TOPIC, p, "Topic", format!("{t:?} {why}"));
    }
    // `ServerURL`, `CheckInURL`: format `^https://.*$`.
    https(p, "ServerURL", sink);
    https(p, "CheckInURL", sink);
    // `AccessRights`: "Don't set to '0'. Specify '1' if you specify '2'…".
    if let Some(bits) = p
        .dict
        .get("AccessRights")
        .and_then(Value::as_signed_integer)
        && let Err(why) = AccessRights::new(bits)
    {
        sink.at(
            rules::ACCESS_RIGHTS,
            p,
            "AccessRights",
            format!("{bits} {why}"),
        );
    }
    // `ServerCapabilities`: a unique array of known strings.
    if let Some(items) = p.dict.get("ServerCapabilities").and_then(Value::as_array) {
        let strings: Option<Vec<&str>> = items.iter().map(Value::as_string).collect();
        let result = match strings {
            Some(caps) => mdm::check_server_capabilities(&caps),
            None => Err("must hold only strings".into()),
        };
        if let Err(why) = result {
            sink.at(rules::SERVER_CAPABILITIES, p, "ServerCapabilities", why);
        } else {
            no_per_user_connections(p, sink);
        }
    } else {
        no_per_user_connections(p, sink);
    }
    // `EnrollmentMode`: rangelist BYOD, ADDE.
    if let Some(mode) = p.str("EnrollmentMode")
        && !mdm::ENROLLMENT_MODES.contains(&mode)
    {
        sink.at(
            rules::NOT_ALLOWED,
            p,
            "EnrollmentMode",
            format!("is {mode:?}; Apple allows \"BYOD\" or \"ADDE\""),
        );
    }
}

/// A UUID naming another payload of the profile, which must be one of `types`.
fn reference(
    p: &Payload<'_>,
    key_path: String,
    uuid: &str,
    types: &[&str],
    payloads: &ByUuid<'_>,
    sink: &mut Sink,
) {
    if !is_uuid_syntax(uuid) {
        sink.at(
            rules::BAD_FORMAT,
            p,
            &key_path,
            format!("{uuid:?} is not a UUID (8-4-4-4-12 letters and digits)"),
        );
        return;
    }
    let target = payloads.get(&uuid.to_ascii_uppercase());
    match target {
        None => sink.at(
            rules::DANGLING_REFERENCE,
            p,
            &key_path,
            format!("{uuid} is the PayloadUUID of no payload in this profile"),
        ),
        Some(t) if !t.payload_type().is_some_and(|ty| types.contains(&ty)) => sink.at(
            rules::WRONG_REFERENCE,
            p,
            &key_path,
            format!(
                "{uuid} is PayloadContent[{}], a {}; it must be one of {}",
                t.index,
                t.payload_type().unwrap_or("payload without PayloadType"),
                types.join(", ")
            ),
        ),
        Some(_) => {}
    }
}

fn subject(p: &Payload<'_>, value: Option<&Value>, key: &str, sink: &mut Sink) {
    if let Some(v) = value
        && let Err(why) = Subject::from_plist(v)
    {
        sink.at(rules::SUBJECT, p, key, why);
    }
}

/// Apple: com.apple.security.scep `PayloadContent` keys.
/// Apple: com.apple.mdm `ServerCapabilities` — per-user-connections "must be
/// present when managing Shared iPad or macOS devices" and cannot be added
/// to an installed profile later. Only for a well-formed (or absent) array:
/// a malformed one is reported once, as an error.
fn no_per_user_connections(p: &Payload<'_>, sink: &mut Sink) {
    let present = p
        .dict
        .get("ServerCapabilities")
        .and_then(Value::as_array)
        .is_some_and(|items| {
            items
                .iter()
                .any(|v| v.as_string() == Some(mdm::PER_USER_CONNECTIONS))
        });
    if !present {
        sink.at(
            rules::NO_PER_USER_CONNECTIONS,
            p,
            "ServerCapabilities",
            format!(
                "lacks {:?}: Apple requires it to manage macOS and Shared iPad, and it cannot be added to an installed enrollment later",
                mdm::PER_USER_CONNECTIONS
            ),
        );
    }
}

/// Apple: com.apple.security.scep `URL` — the device appends its own
/// `?operation=…` query.
fn scep_url_query(p: &Payload<'_>, content: &plist::Dictionary, sink: &mut Sink) {
    if let Some(url) = content.get("URL").and_then(Value::as_string)
        && let Err(why) = scep::check_url(url)
    {
        sink.at(
            rules::SCEP_URL_QUERY,
            p,
            "PayloadContent.URL",
            format!("{url:?} {why}"),
        );
    }
}

fn scep_rules(p: &Payload<'_>, sink: &mut Sink) {
    let Some(content) = p.dict.get("PayloadContent").and_then(Value::as_dictionary) else {
        return;
    };
    scep_url_query(p, content, sink);
    if let Some(bits) = content.get("Keysize").and_then(Value::as_signed_integer)
        && let Err(why) = scep::check_key_size(bits)
    {
        sink.at(
            rules::SCEP_KEY,
            p,
            "PayloadContent.Keysize",
            format!("{bits} {why}"),
        );
    }
    if let Some(bits) = content.get("Key Usage").and_then(Value::as_signed_integer)
        && let Err(why) = scep::check_key_usage(bits)
    {
        sink.at(
            rules::SCEP_KEY,
            p,
            "PayloadContent.Key Usage",
            format!("{bits} {why}"),
        );
    }
    // `Key Type`: "Always 'RSA'".
    if let Some(t) = content.get("Key Type").and_then(Value::as_string)
        && t != "RSA"
    {
        sink.at(
            rules::SCEP_KEY,
            p,
            "PayloadContent.Key Type",
            format!("is {t:?}; SCEP keys are always \"RSA\""),
        );
    }
    subject(p, content.get("Subject"), "PayloadContent.Subject", sink);
}

/// Apple: com.apple.security.acme.
fn acme_rules(p: &Payload<'_>, sink: &mut Sink) {
    https(p, "DirectoryURL", sink);
    let d = p.dict;
    if let (Some(key_type), Some(size), Some(bound)) = (
        d.get("KeyType").and_then(Value::as_string),
        d.get("KeySize").and_then(Value::as_signed_integer),
        d.get("HardwareBound").and_then(Value::as_boolean),
    ) {
        let attest = d.get("Attest").and_then(Value::as_boolean).unwrap_or(false);
        let checked = acme::KeyType::parse(key_type)
            .map_err(|why| ("KeyType", why))
            .and_then(|t| acme::check_key(t, size, bound, attest));
        if let Err((key, why)) = checked {
            sink.at(rules::ACME_KEY, p, key, why);
        }
    }
    subject(p, d.get("Subject"), "Subject", sink);
}

/// Apple: root and pkcs1 payloads hold a DER certificate, pem a PEM one,
/// pkcs12 a PKCS#12 identity.
fn certificate(p: &Payload<'_>, sink: &mut Sink) {
    let Some(bytes) = p.dict.get("PayloadContent").and_then(Value::as_data) else {
        return;
    };
    let result = if p.payload_type() == Some(cert::PKCS12) {
        openssl::pkcs12::Pkcs12::from_der(bytes)
            .map(|_| ())
            .map_err(|_| "is not PKCS#12 data".to_owned())
    } else {
        crate::x509::load_certificate(bytes).map(|_| ())
    };
    if let Err(why) = result {
        sink.at(rules::CERTIFICATE, p, "PayloadContent", why);
    }
}
