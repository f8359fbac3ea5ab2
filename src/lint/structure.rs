//! The profile's frame: top-level keys (Apple: TopLevel), the keys every
//! payload has (Apple: CommonPayloadKeys), identifiers and UUIDs, and the
//! key types of the payloads aspen writes. Keys the frame does not know are
//! left to [`super::check`], which knows every payload type.

use super::{Payload, Sink, a, rules, type_name};
use crate::encrypt::{ENCRYPTED_KEY, IS_ENCRYPTED_KEY};
use crate::payload::{self, COMMON_KEYS, KeySpec, scep};
use crate::profile::{TOP_LEVEL_KEYS, TOP_LEVEL_TYPE};
use crate::read::{Document, cms};
use plist::{Dictionary, Value};
use std::collections::HashMap;

/// Checks the frame; returns whether the payloads are encrypted.
pub fn check(doc: &Document, root: &Dictionary, payloads: &[Payload<'_>], sink: &mut Sink) -> bool {
    for path in &doc.duplicate_keys {
        // `PayloadContent[i]…`: the payload with index i (sorted by index).
        let payload = path
            .strip_prefix("PayloadContent[")
            .and_then(|rest| rest.split_once(']'))
            .and_then(|(i, _)| i.parse::<usize>().ok())
            .and_then(|i| payloads.binary_search_by_key(&i, |p| p.index).ok())
            .map(|at| &payloads[at]);
        sink.nested(
            rules::DUPLICATE_KEY,
            payload,
            path.clone(),
            "this key appears twice in its dictionary; devices may read either value",
        );
    }
    let encrypted = encryption(root, sink);
    // Apple: TopLevel keys and types.
    keys(root, TOP_LEVEL_KEYS, None, "", sink, |k| {
        k == "PayloadContent" && encrypted
    });
    // Apple: TopLevel `PayloadType` rangelist `Configuration`, `PayloadVersion` rangelist 1.
    if let Some(t) = root.get("PayloadType").and_then(Value::as_string)
        && t != TOP_LEVEL_TYPE
    {
        sink.top(
            rules::NOT_ALLOWED,
            "PayloadType",
            format!("is {t:?}; a configuration profile's PayloadType is \"Configuration\""),
        );
    }
    version(root.get("PayloadVersion"), "PayloadVersion", None, sink);
    if let Some(items) = root.get("PayloadContent").and_then(Value::as_array) {
        if items.is_empty() && !encrypted {
            sink.top(
                rules::NO_PAYLOADS,
                "PayloadContent",
                "is empty: the profile installs nothing",
            );
        }
        for (i, item) in items.iter().enumerate() {
            if item.as_dictionary().is_none() {
                sink.top(
                    rules::WRONG_TYPE,
                    format!("PayloadContent[{i}]"),
                    format!(
                        "is {}; each payload must be a dictionary",
                        a(type_name(item))
                    ),
                );
            }
        }
    }
    for p in payloads {
        common(p, sink);
    }
    uniqueness(root, payloads, sink);
    encrypted
}

/// Apple: TopLevel `IsEncrypted`, `EncryptedPayloadContent` ("Enabled if
/// 'IsEncrypted' is 'true'"); `PayloadContent` "isn't needed" then.
fn encryption(root: &Dictionary, sink: &mut Sink) -> bool {
    let flag = root.get(IS_ENCRYPTED_KEY).and_then(Value::as_boolean) == Some(true);
    let Some(data) = root.get(ENCRYPTED_KEY) else {
        if flag {
            sink.top(
                rules::MISSING_KEY,
                ENCRYPTED_KEY,
                "IsEncrypted is true but there is no EncryptedPayloadContent",
            );
        }
        return false;
    };
    if !flag {
        sink.top(
            rules::BAD_ENCRYPTION,
            IS_ENCRYPTED_KEY,
            "EncryptedPayloadContent is present, so IsEncrypted must be true",
        );
    }
    if root.contains_key("PayloadContent") {
        sink.top(
            rules::BAD_ENCRYPTION,
            "PayloadContent",
            "is present next to EncryptedPayloadContent; an encrypted profile carries its payloads only encrypted",
        );
    }
    if let Some(der) = data.as_data() {
        match cms::envelope(der) {
            Ok(env) => sink.top(
                rules::ENCRYPTED,
                ENCRYPTED_KEY,
                format!(
                    "the payloads are encrypted ({}, for {}); they were not checked (aspen decrypt, then lint the result)",
                    env.cipher,
                    env.recipients.join("; ")
                ),
            ),
            Err(e) => sink.top(
                rules::BAD_ENCRYPTION,
                ENCRYPTED_KEY,
                format!("is not CMS EnvelopedData: {e}"),
            ),
        }
    }
    true
}

/// Required keys and types of a dictionary. `skip_required` exempts keys
/// whose presence another rule decides.
pub fn keys(
    dict: &Dictionary,
    specs: &[KeySpec],
    payload: Option<&Payload<'_>>,
    prefix: &str,
    sink: &mut Sink,
    skip_required: impl Fn(&str) -> bool,
) {
    let path = |k: &str| match (payload, prefix) {
        (Some(p), "") => p.path(k),
        (Some(p), pre) => p.path(&format!("{pre}.{k}")),
        (None, _) => k.to_owned(),
    };
    for spec in specs {
        if spec.required && !dict.contains_key(spec.name) && !skip_required(spec.name) {
            sink.nested(
                rules::MISSING_KEY,
                payload,
                path(spec.name),
                format!("is required ({})", spec.ty.name()),
            );
        }
    }
    for (key, value) in dict {
        if let Some(spec) = specs.iter().find(|s| s.name == key)
            && !spec.ty.accepts(value)
        {
            sink.nested(
                rules::WRONG_TYPE,
                payload,
                path(key),
                format!("must be {}, not {}", a(spec.ty.name()), a(type_name(value))),
            );
        }
    }
}

/// Apple: CommonPayloadKeys, plus the key types of the payloads aspen knows.
fn common(p: &Payload<'_>, sink: &mut Sink) {
    let specific = p.payload_type().and_then(payload::keys_of);
    let mut specs: Vec<KeySpec> = COMMON_KEYS.to_vec();
    specs.extend(specific.unwrap_or_default());
    keys(p.dict, &specs, Some(p), "", sink, |_| false);
    version(
        p.dict.get("PayloadVersion"),
        "PayloadVersion",
        Some(p),
        sink,
    );
    if p.payload_type() == Some(scep::PAYLOAD_TYPE)
        && let Some(content) = p.dict.get("PayloadContent").and_then(Value::as_dictionary)
    {
        keys(
            content,
            scep::CONTENT_KEYS,
            Some(p),
            "PayloadContent",
            sink,
            |_| false,
        );
    }
}

/// Apple: `PayloadVersion` rangelist 1 (TopLevel and CommonPayloadKeys).
fn version(value: Option<&Value>, key: &str, p: Option<&Payload<'_>>, sink: &mut Sink) {
    if let Some(v) = value.and_then(Value::as_signed_integer)
        && v != 1
    {
        let path = p.map_or_else(|| key.to_owned(), |p| p.path(key));
        sink.nested(
            rules::NOT_ALLOWED,
            p,
            path,
            format!("is {v}; Apple allows only 1"),
        );
    }
}

/// Apple: CommonPayloadKeys `PayloadIdentifier` "must be unique within the
/// profile"; `PayloadUUID` "must be globally unique".
fn uniqueness(root: &Dictionary, payloads: &[Payload<'_>], sink: &mut Sink) {
    // UUIDs compare case-insensitively; keyed upper-case so thousands of
    // payloads stay linear.
    let mut uuids: HashMap<String, String> = HashMap::new();
    if let Some(u) = root.get("PayloadUUID").and_then(Value::as_string) {
        blank_uuid(u, "PayloadUUID".into(), None, sink);
        uuids.insert(u.to_ascii_uppercase(), "the profile itself".into());
    }
    let mut identifiers: HashMap<&str, usize> = HashMap::new();
    for p in payloads {
        if let Some(u) = p.str("PayloadUUID") {
            blank_uuid(u, p.path("PayloadUUID"), Some(p), sink);
            match uuids.get(&u.to_ascii_uppercase()) {
                Some(first) => sink.at(
                    rules::DUPLICATE_UUID,
                    p,
                    "PayloadUUID",
                    format!("{u} is also the PayloadUUID of {first}"),
                ),
                None => {
                    uuids.insert(
                        u.to_ascii_uppercase(),
                        format!("PayloadContent[{}]", p.index),
                    );
                }
            }
        }
        if let Some(id) = p.str("PayloadIdentifier") {
            match identifiers.get(id) {
                Some(first) => sink.at(
                    rules::DUPLICATE_IDENTIFIER,
                    p,
                    "PayloadIdentifier",
                    format!("{id:?} is also the PayloadIdentifier of PayloadContent[{first}]"),
                ),
                None => {
                    identifiers.insert(id, p.index);
                }
            }
        }
    }
}

/// Apple: CommonPayloadKeys and TopLevel `PayloadUUID` — "The actual
/// content is unimportant, but must be globally unique". Any non-empty
/// string is accepted (Jamf's mSCP and Kandji write `<reverse-DNS>.<UUID>`);
/// uniqueness is [`uniqueness`]'s, and a UUID reference to a payload
/// (`IdentityCertificateUUID`, pinning) checks its own format. An empty (or
/// blank) one identifies nothing.
fn blank_uuid(u: &str, path: String, p: Option<&Payload<'_>>, sink: &mut Sink) {
    if u.trim().is_empty() {
        sink.nested(
            rules::EMPTY_UUID,
            p,
            path,
            "is empty; Apple asks for a globally unique string (uuidgen writes one)",
        );
    }
}
