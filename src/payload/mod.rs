//! One module per Apple payload type aspen writes. Each holds the payload's
//! plist shape (serde) and the rules Apple sets for its keys, so settings
//! validation and `lint` share one copy of every rule.

pub mod acme;
pub mod cert;
pub mod mdm;
pub mod scep;
mod subject;

pub use subject::{Subject, SubjectPlaceholder, SubjectValues};

use serde::{Serialize, Serializer};

/// The keys every payload carries (Apple: CommonPayloadKeys).
#[derive(Debug, Clone, Serialize)]
pub struct Common {
    #[serde(rename = "PayloadType")]
    pub payload_type: &'static str,
    /// Apple: CommonPayloadKeys `PayloadVersion`, rangelist `1`.
    #[serde(rename = "PayloadVersion")]
    pub version: u32,
    #[serde(rename = "PayloadIdentifier")]
    pub identifier: String,
    #[serde(rename = "PayloadUUID")]
    pub uuid: String,
    #[serde(rename = "PayloadDisplayName")]
    pub display_name: String,
    #[serde(
        rename = "PayloadDescription",
        skip_serializing_if = "Option::is_none",
        serialize_with = "some"
    )]
    pub description: Option<String>,
    #[serde(rename = "PayloadOrganization")]
    pub organization: String,
}

/// A plist value type, named as Apple's schema names them (`<string>`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    String,
    Integer,
    Real,
    Boolean,
    Date,
    Data,
    Array,
    Dictionary,
    Any,
}

impl ValueType {
    /// Apple's schema notation, e.g. `<string>`.
    pub fn parse(s: &str) -> Option<ValueType> {
        Some(match s {
            "<string>" => ValueType::String,
            "<integer>" => ValueType::Integer,
            "<real>" => ValueType::Real,
            "<boolean>" => ValueType::Boolean,
            "<date>" => ValueType::Date,
            "<data>" => ValueType::Data,
            "<array>" => ValueType::Array,
            "<dictionary>" => ValueType::Dictionary,
            "<any>" => ValueType::Any,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Integer => "integer",
            ValueType::Real => "real",
            ValueType::Boolean => "boolean",
            ValueType::Date => "date",
            ValueType::Data => "data",
            ValueType::Array => "array",
            ValueType::Dictionary => "dictionary",
            ValueType::Any => "any",
        }
    }

    /// The type of a plist value (`None` for a keyed-archive UID, which no
    /// profile key takes).
    pub fn of(value: &plist::Value) -> Option<ValueType> {
        use plist::Value as V;
        Some(match value {
            V::String(_) => ValueType::String,
            V::Integer(_) => ValueType::Integer,
            V::Real(_) => ValueType::Real,
            V::Boolean(_) => ValueType::Boolean,
            V::Date(_) => ValueType::Date,
            V::Data(_) => ValueType::Data,
            V::Array(_) => ValueType::Array,
            V::Dictionary(_) => ValueType::Dictionary,
            _ => return None,
        })
    }

    /// Whether `value` has this type. A `<real>` key also takes an integer
    /// (a plist writes `1.0` as `<real>` but tools often write `<integer>`).
    pub fn accepts(self, value: &plist::Value) -> bool {
        match (self, ValueType::of(value)) {
            (ValueType::Any, _) => true,
            (ValueType::Real, Some(ValueType::Integer)) => true,
            (want, Some(got)) => want == got,
            (_, None) => false,
        }
    }
}

/// One key of a payload dictionary: Apple's name, type and presence.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub name: &'static str,
    pub ty: ValueType,
    pub required: bool,
}

impl KeySpec {
    pub const fn required(name: &'static str, ty: ValueType) -> KeySpec {
        KeySpec {
            name,
            ty,
            required: true,
        }
    }

    pub const fn optional(name: &'static str, ty: ValueType) -> KeySpec {
        KeySpec {
            name,
            ty,
            required: false,
        }
    }
}

/// Apple: CommonPayloadKeys — every payload dictionary has these.
pub const COMMON_KEYS: &[KeySpec] = &[
    KeySpec::required("PayloadType", ValueType::String),
    KeySpec::required("PayloadVersion", ValueType::Integer),
    KeySpec::required("PayloadIdentifier", ValueType::String),
    KeySpec::required("PayloadUUID", ValueType::String),
    KeySpec::optional("PayloadDisplayName", ValueType::String),
    KeySpec::optional("PayloadDescription", ValueType::String),
    KeySpec::optional("PayloadOrganization", ValueType::String),
];

/// The payload-specific keys of the payload types aspen writes (and
/// therefore knows completely), or `None` for any other type.
pub fn keys_of(payload_type: &str) -> Option<&'static [KeySpec]> {
    Some(match payload_type {
        mdm::PAYLOAD_TYPE => mdm::KEYS,
        scep::PAYLOAD_TYPE => scep::KEYS,
        acme::PAYLOAD_TYPE => acme::KEYS,
        cert::ROOT | cert::PEM | cert::PKCS1 => cert::KEYS,
        cert::PKCS12 => cert::PKCS12_KEYS,
        _ => return None,
    })
}

/// Shown instead of a secret ([`is_secret`]) by `inspect` and `lint`.
pub const MASK: &str = "********";

/// Whether a key holds a secret that reports must not show by default: the
/// payloads' own lists, and for payload types aspen does not know, any key
/// whose name says password, secret or passphrase.
pub fn is_secret(payload_type: &str, key: &str) -> bool {
    let listed: &[&str] = match payload_type {
        scep::PAYLOAD_TYPE => scep::SECRET_KEYS,
        acme::PAYLOAD_TYPE => acme::SECRET_KEYS,
        cert::PKCS12 => cert::PKCS12_SECRET_KEYS,
        _ => &[],
    };
    let lower = key.to_ascii_lowercase();
    listed.contains(&key)
        || ["password", "secret", "passphrase", "sharedkey"]
            .iter()
            .any(|w| lower.contains(w))
}

/// Writes the value inside a `Some`. Used with `skip_serializing_if =
/// "Option::is_none"` on optional keys: under `#[serde(flatten)]` the `plist`
/// serializer would otherwise write `Some(x)` as a `{"Some": x}` dictionary.
pub(crate) fn some<T: Serialize, S: Serializer>(
    value: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => v.serialize(s),
        None => s.serialize_unit(),
    }
}

/// Any payload of an enrollment profile, in `PayloadContent` order.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Payload {
    Cert(cert::CertPayload),
    Scep(scep::ScepPayload),
    Acme(acme::AcmePayload),
    Mdm(mdm::MdmPayload),
}

impl Payload {
    pub fn common(&self) -> &Common {
        match self {
            Payload::Cert(p) => &p.common,
            Payload::Scep(p) => &p.common,
            Payload::Acme(p) => &p.common,
            Payload::Mdm(p) => &p.common,
        }
    }
}

/// Apple requires `https://` for the MDM `ServerURL`/`CheckInURL` (format
/// `^https://.*$`) and the ACME `DirectoryURL` ("must use the https scheme").
/// We also insist on a host, no whitespace or control characters.
pub fn check_https_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("https://") else {
        return Err("must be an https:// URL".into());
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters".into());
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err("has no host name".into());
    }
    Ok(())
}

/// Apple's UUID format for `PayloadUUID` references such as the MDM
/// `IdentityCertificateUUID` (`^[0-9A-Za-z]{8}-[0-9A-Za-z]{4}-…{12}$`).
pub fn is_uuid_syntax(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Strings that become plist text must not hold characters XML 1.0 cannot
/// carry (the `plist` writer would emit them raw and break the document).
pub fn check_plist_text(s: &str) -> Result<(), String> {
    match s.chars().find(|&c| {
        (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}'
    }) {
        Some(c) => Err(format!(
            "contains the character U+{:04X}, which a plist cannot hold",
            c as u32
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_parses_apple_example() {
        let s = Subject::parse("/C=US/O=Apple Inc./CN=foo/1.2.5.3=bar").unwrap();
        assert_eq!(s.parts().len(), 4);
        assert_eq!(s.parts()[1], ("O".into(), "Apple Inc.".into()));
        let v = plist::to_value(&s).unwrap();
        let outer = v.as_array().unwrap();
        let first = outer[0].as_array().unwrap()[0].as_array().unwrap();
        assert_eq!(first[0].as_string(), Some("C"));
        assert_eq!(first[1].as_string(), Some("US"));
    }

    #[test]
    fn subject_as_openssl_prints_it_is_read_part_by_part() {
        let want = Subject::parse("C=US/O=Apple Inc./CN=foo").unwrap();
        for text in [
            "C = US, O = Apple Inc., CN = foo",
            "subject=C = US, O = Apple Inc., CN = foo",
            "  C = US,O = Apple Inc.,  CN = foo ",
        ] {
            assert_eq!(Subject::parse(text), Ok(want.clone()), "{text}");
        }
        let escaped = Subject::parse("O = Contoso\\, Inc., CN = a\\+b").unwrap();
        assert_eq!(
            escaped.parts(),
            [
                ("O".into(), "Contoso, Inc.".into()),
                ("CN".into(), "a+b".into())
            ]
        );
        assert_eq!(
            Subject::parse("CN = x").unwrap().parts(),
            [("CN".into(), "x".into())]
        );
        // A comma inside a slash-form value stays a value.
        let slash = Subject::parse("O=Contoso, Inc./CN=x").unwrap();
        assert_eq!(slash.parts()[0].1, "Contoso, Inc.");
        for (bad, says) in [
            ("CN=foo,O=Apple,C=US", "RFC 2253"),
            ("CN=x, O=y", "RFC 2253"),
            ("O = y, CN = x/OU=z", "mixes two forms"),
            ("O = y, junk", "not of the form KEY = value"),
            ("O = y, XX = z", "neither C"),
            ("CN = x\\", "lone"),
        ] {
            let err = Subject::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        assert!(
            Subject::parse("CN=x, O=y")
                .unwrap_err()
                .contains("O = Contoso, CN = Name")
        );
    }

    #[test]
    fn subject_rejects_nonsense() {
        for bad in ["", "/", "CN", "XX=1", "CN=", "1.=x", "O=a\u{1}b"] {
            assert!(Subject::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn subject_placeholders_are_found_and_filled() {
        let s = Subject::parse("O=Contoso/OU={user}/CN={serial} {profile_uuid}").unwrap();
        assert_eq!(
            s.placeholders().unwrap(),
            [
                SubjectPlaceholder::User,
                SubjectPlaceholder::Serial,
                SubjectPlaceholder::ProfileUuid
            ]
        );
        assert_eq!(s.common_name(), Some("{serial} {profile_uuid}"));
        let mut values = SubjectValues {
            user: Some("bob@contoso.com"),
            serial: Some("C02XK1ABJG5H"),
            udid: None,
            profile_uuid: "0F9A6B4C-1D2E-5F60-8A7B-9C0D1E2F3A4B",
        };
        let filled = s.fill(&values).unwrap();
        assert_eq!(
            filled.parts(),
            [
                ("O".into(), "Contoso".into()),
                ("OU".into(), "bob@contoso.com".into()),
                (
                    "CN".into(),
                    "C02XK1ABJG5H 0F9A6B4C-1D2E-5F60-8A7B-9C0D1E2F3A4B".into()
                ),
            ]
        );
        values.serial = None;
        assert_eq!(s.fill(&values).unwrap_err(), SubjectPlaceholder::Serial);
        let bad = Subject::parse("CN={serail}").unwrap();
        let err = bad.placeholders().unwrap_err();
        assert!(
            err.starts_with("\"{serail}\" is not a placeholder"),
            "{err}"
        );
        assert!(
            Subject::parse("CN=plain")
                .unwrap()
                .placeholders()
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn https_rule() {
        assert!(check_https_url("https://mdm.contoso.com:8443/mdm").is_ok());
        for bad in [
            "http://mdm.contoso.com",
            "https://",
            "https:///x",
            "https://a b",
            "mdm.contoso.com",
        ] {
            assert!(check_https_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uuid_syntax() {
        assert!(is_uuid_syntax("0F9A6B4C-1D2E-5F60-8A7B-9C0D1E2F3A4B"));
        assert!(!is_uuid_syntax("0F9A6B4C1D2E5F608A7B9C0D1E2F3A4B"));
        assert!(!is_uuid_syntax("0F9A6B4C-1D2E-5F60-8A7B-9C0D1E2F3A4"));
    }

    #[test]
    fn plist_text_rule() {
        assert!(check_plist_text("tab\tand newline\n ok").is_ok());
        assert!(check_plist_text("bell\u{7}").is_err());
        assert!(check_plist_text("\u{FFFE}").is_err());
    }
}
