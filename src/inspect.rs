//! `aspen inspect`: what a profile is and holds, as one serializable
//! structure (printed as a tree, or as JSON for scripts). Secrets are masked
//! unless asked for.

mod text;

pub use text::render;

use crate::encrypt::ENCRYPTED_KEY;
use crate::lint::{mdm_payload, payloads};
use crate::payload::mdm::{self, AccessRights, Detected};
use crate::payload::{MASK, cert, is_secret};
use crate::read::{Document, Format, cms};
use crate::verify::{self, CertInfo, SignerReport};
use plist::Value;
use serde::Serialize;
use serde_json::{Map, Value as Json, json};
use std::collections::HashMap;

#[derive(Debug, Serialize)]
pub struct Inspection {
    pub format: Format,
    pub signature: Option<Signature>,
    /// Present when the payloads are encrypted (`EncryptedPayloadContent`).
    pub encrypted: Option<cms::Envelope>,
    pub enrollment: Option<Enrollment>,
    /// Top-level keys other than the payloads.
    pub profile: Map<String, Json>,
    pub payloads: Vec<PayloadView>,
    /// Whether secrets were masked.
    pub secrets_masked: bool,
}

#[derive(Debug, Serialize)]
pub struct Signature {
    /// Whether the signature matches the content (the chain is `verify`'s job).
    pub verifies: bool,
    pub problem: Option<String>,
    pub signers: Vec<SignerReport>,
    pub certificates: Vec<CertInfo>,
}

#[derive(Debug, Serialize)]
pub struct Enrollment {
    pub kind: Detected,
    pub description: &'static str,
    pub managed_apple_id: Option<String>,
    pub access_rights: Option<Rights>,
}

#[derive(Debug, Serialize)]
pub struct Rights {
    pub value: i64,
    /// The rights the bits grant, by name.
    pub rights: Vec<&'static str>,
    /// Why the value breaks Apple's rules, if it does.
    pub problem: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PayloadView {
    pub index: usize,
    pub payload_type: Option<String>,
    pub identifier: Option<String>,
    pub uuid: Option<String>,
    pub display_name: Option<String>,
    /// Every other key of the payload.
    pub settings: Map<String, Json>,
    /// The certificate a certificate payload holds.
    pub certificate: Option<CertInfo>,
    /// UUID keys of this payload and the payload each names.
    pub references: Vec<Reference>,
}

#[derive(Debug, Serialize)]
pub struct Reference {
    pub key: String,
    pub uuid: String,
    /// Index of the payload it names; `None` when it names none.
    pub target: Option<usize>,
}

const COMMON: [&str; 5] = [
    "PayloadType",
    "PayloadIdentifier",
    "PayloadUUID",
    "PayloadDisplayName",
    "PayloadVersion",
];

pub fn inspect(doc: &Document, show_secrets: bool) -> Inspection {
    // The signature only (no trusted roots, any validity period): the
    // report also describes the signers and certificates.
    let signature = doc.signed.as_ref().map(|_| {
        let report = verify::verify(
            doc,
            &verify::Options {
                trusted: Vec::new(),
                allow_expired: true,
            },
        );
        Signature {
            verifies: report.signature_matches,
            problem: report.error,
            signers: report.signers,
            certificates: report.certificates,
        }
    });
    let Some(root) = doc.dictionary() else {
        return Inspection {
            format: doc.format,
            signature,
            encrypted: None,
            enrollment: None,
            profile: Map::new(),
            payloads: Vec::new(),
            secrets_masked: !show_secrets,
        };
    };
    let encrypted = root
        .get(ENCRYPTED_KEY)
        .and_then(Value::as_data)
        .and_then(|d| cms::envelope(d).ok());
    let mut profile = Map::new();
    for (k, v) in root {
        if k != "PayloadContent" && k != ENCRYPTED_KEY {
            profile.insert(k.clone(), to_json(v, "", k, show_secrets));
        }
    }
    if let Some(d) = root.get(ENCRYPTED_KEY).and_then(Value::as_data) {
        profile.insert(ENCRYPTED_KEY.into(), json!({ "bytes": d.len() }));
    }
    let items = payloads(root);
    let enrollment = mdm_payload(&items).map(|p| {
        let kind = Detected::of(p.dict);
        Enrollment {
            kind,
            description: kind.describe(),
            managed_apple_id: p
                .str("AssignedManagedAppleID")
                .or(p.str("ManagedAppleID"))
                .map(str::to_owned),
            access_rights: p
                .dict
                .get("AccessRights")
                .and_then(Value::as_signed_integer)
                .map(rights),
        }
    });
    // First payload of each upper-case UUID, so references resolve in O(1).
    let mut uuid_index: HashMap<String, usize> = HashMap::new();
    for p in &items {
        if let Some(u) = p.str("PayloadUUID") {
            uuid_index.entry(u.to_ascii_uppercase()).or_insert(p.index);
        }
    }
    let payloads = items
        .iter()
        .map(|p| {
            let ty = p.payload_type().unwrap_or("");
            let mut settings = Map::new();
            for (k, v) in p.dict {
                if !COMMON.contains(&k.as_str()) {
                    settings.insert(k.clone(), to_json(v, ty, k, show_secrets));
                }
            }
            let certificate = match ty {
                cert::ROOT | cert::PEM | cert::PKCS1 => p
                    .dict
                    .get("PayloadContent")
                    .and_then(Value::as_data)
                    .and_then(|bytes| crate::x509::load_certificate(bytes).ok())
                    .map(|c| CertInfo::of(&c)),
                _ => None,
            };
            let mut references = Vec::new();
            let mut refer = |key: String, uuid: &str| {
                let target = uuid_index.get(&uuid.to_ascii_uppercase()).copied();
                references.push(Reference {
                    key,
                    uuid: uuid.to_owned(),
                    target,
                });
            };
            if ty == mdm::PAYLOAD_TYPE {
                if let Some(u) = p.str("IdentityCertificateUUID") {
                    refer("IdentityCertificateUUID".into(), u);
                }
                for key in [
                    "ServerURLPinningCertificateUUIDs",
                    "CheckInURLPinningCertificateUUIDs",
                ] {
                    for (i, u) in p
                        .dict
                        .get(key)
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .enumerate()
                    {
                        if let Some(u) = u.as_string() {
                            refer(format!("{key}[{i}]"), u);
                        }
                    }
                }
            }
            PayloadView {
                index: p.index,
                payload_type: p.payload_type().map(str::to_owned),
                identifier: p.str("PayloadIdentifier").map(str::to_owned),
                uuid: p.str("PayloadUUID").map(str::to_owned),
                display_name: p.str("PayloadDisplayName").map(str::to_owned),
                settings,
                certificate,
                references,
            }
        })
        .collect();
    Inspection {
        format: doc.format,
        signature,
        encrypted,
        enrollment,
        profile,
        payloads,
        secrets_masked: !show_secrets,
    }
}

fn rights(bits: i64) -> Rights {
    match AccessRights::new(bits) {
        Ok(r) => Rights {
            value: bits,
            rights: r.names(),
            problem: None,
        },
        Err(why) => Rights {
            value: bits,
            rights: mdm::RIGHTS
                .iter()
                .filter(|r| bits & i64::from(r.bit) != 0)
                .map(|r| r.name)
                .collect(),
            problem: Some(why),
        },
    }
}

/// A plist value as JSON; `key` (under `payload_type`) decides masking,
/// which also covers everything nested under a secret key.
fn to_json(v: &Value, payload_type: &str, key: &str, show_secrets: bool) -> Json {
    if !show_secrets && is_secret(payload_type, key) {
        return Json::String(MASK.into());
    }
    match v {
        Value::String(s) => Json::String(s.clone()),
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => i
            .as_signed()
            .map(Json::from)
            .or(i.as_unsigned().map(Json::from))
            .unwrap_or(Json::Null),
        Value::Real(r) => serde_json::Number::from_f64(*r).map_or(Json::Null, Json::Number),
        Value::Date(d) => Json::String(crate::time::rfc3339(crate::time::unix_seconds(
            std::time::SystemTime::from(*d),
        ))),
        Value::Data(d) => json!({ "bytes": d.len() }),
        Value::Array(items) => Json::Array(
            items
                .iter()
                .map(|x| to_json(x, payload_type, "", show_secrets))
                .collect(),
        ),
        Value::Dictionary(d) => Json::Object(
            d.iter()
                .map(|(k, x)| (k.clone(), to_json(x, payload_type, k, show_secrets)))
                .collect(),
        ),
        Value::Uid(u) => json!({ "uid": u.get() }),
        _ => Json::Null,
    }
}
