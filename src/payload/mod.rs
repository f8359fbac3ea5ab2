//! One module per Apple payload type aspen writes. Each holds the payload's
//! plist shape (serde) and the rules Apple sets for its keys, so settings
//! validation and `lint` share one copy of every rule.

pub mod acme;
pub mod cert;
pub mod mdm;
pub mod scep;

use serde::{Serialize, Serializer, ser::SerializeSeq};

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

/// An X.500 name as Apple's SCEP and ACME payloads want it (`Subject`): an
/// array of RDNs, each an array of `[OID, value]` pairs, e.g.
/// `/C=US/O=Apple Inc./CN=foo` → `[[["C","US"]],[["O","Apple Inc."]],[["CN","foo"]]]`.
/// OIDs are dotted numbers or one of Apple's shortcuts C, L, ST, O, OU, CN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject(Vec<(String, String)>);

impl Subject {
    /// Reads Apple's plist form (array of RDNs, each an array of `[OID,
    /// value]` pairs) with the same rules as [`Subject::parse`].
    pub fn from_plist(value: &plist::Value) -> Result<Subject, String> {
        let rdns = value
            .as_array()
            .ok_or("must be an array of RDNs (arrays of [OID, value] pairs)")?;
        let mut parts = Vec::new();
        for (i, rdn) in rdns.iter().enumerate() {
            let pairs = rdn
                .as_array()
                .ok_or_else(|| format!("item {i} must be an array of [OID, value] pairs"))?;
            for pair in pairs {
                match pair.as_array().map(Vec::as_slice) {
                    Some([oid, value]) => match (oid.as_string(), value.as_string()) {
                        (Some(oid), Some(value)) => {
                            check_rdn(oid, value)?;
                            parts.push((oid.to_owned(), value.to_owned()));
                        }
                        _ => return Err(format!("item {i}: OID and value must be strings")),
                    },
                    _ => return Err(format!("item {i}: each pair must be [OID, value]")),
                }
            }
        }
        if parts.is_empty() {
            return Err("is empty".into());
        }
        Ok(Subject(parts))
    }

    /// Reads `O=Org/CN=Name` (most significant first, `/` between parts),
    /// or a subject as `openssl x509 -subject` prints it: `O = Org, CN =
    /// Name` (OpenSSL's default `oneline` form: the same order, `, `
    /// between parts, ` = ` in each, `\` escaping). A comma-separated
    /// name without the spaces may be RFC 2253's, which lists the parts
    /// backwards: it is refused, never read as one value.
    pub fn parse(s: &str) -> Result<Subject, String> {
        if let Some(parts) = openssl_oneline(s)? {
            return Ok(Subject(parts));
        }
        let body = s.strip_prefix('/').unwrap_or(s);
        if body.trim().is_empty() {
            return Err("is empty; write it as \"O=Org/CN=Name\"".into());
        }
        let mut parts = Vec::new();
        for rdn in body.split('/') {
            let Some((oid, value)) = rdn.split_once('=') else {
                return Err(format!("part {rdn:?} is not of the form KEY=value"));
            };
            let oid = oid.trim();
            check_rdn(oid, value)?;
            parts.push((oid.to_owned(), value.to_owned()));
        }
        Ok(Subject(parts))
    }

    pub fn parts(&self) -> &[(String, String)] {
        &self.0
    }

    /// The value of its (first) `CN`, if it has one.
    pub fn common_name(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(oid, _)| oid == "CN" || oid == "2.5.4.3")
            .map(|(_, v)| v.as_str())
    }

    /// The placeholders its values use, each once, in order; a `{` that
    /// starts none of them is an error naming what it found.
    pub fn placeholders(&self) -> Result<Vec<SubjectPlaceholder>, String> {
        let mut found = Vec::new();
        for (_, value) in &self.0 {
            let mut rest = value.as_str();
            while let Some(at) = rest.find('{') {
                rest = &rest[at..];
                let Some(p) = SubjectPlaceholder::ALL
                    .into_iter()
                    .find(|p| rest.starts_with(p.as_str()))
                else {
                    let shown: String = rest.chars().take(24).collect();
                    return Err(format!(
                        "{shown:?} is not a placeholder; a subject may use {}",
                        SubjectPlaceholder::ALL
                            .map(SubjectPlaceholder::as_str)
                            .join(", ")
                    ));
                };
                if !found.contains(&p) {
                    found.push(p);
                }
                rest = &rest[p.as_str().len()..];
            }
        }
        Ok(found)
    }

    /// The subject with its placeholders replaced by `values`; the first
    /// placeholder this issue has no value for is the error.
    pub fn fill(&self, values: &SubjectValues) -> Result<Subject, SubjectPlaceholder> {
        let mut parts = Vec::with_capacity(self.0.len());
        for (oid, value) in &self.0 {
            let mut out = value.clone();
            for p in SubjectPlaceholder::ALL {
                if !out.contains(p.as_str()) {
                    continue;
                }
                let with = values.of(p).ok_or(p)?;
                // What replaces a placeholder is checked like a written
                // value: never control characters in a subject.
                if with.is_empty() || with.chars().any(char::is_control) {
                    return Err(p);
                }
                out = out.replace(p.as_str(), with);
            }
            parts.push((oid.clone(), out));
        }
        Ok(Subject(parts))
    }
}

/// A value a subject leaves to the moment a profile is issued
/// (`O=Contoso/CN={serial}`), so each device can get a subject of its own:
/// a SCEP server that keeps one certificate per subject (micromdm/scep's
/// depot) otherwise refuses every device after the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectPlaceholder {
    /// The directory user (their e-mail) or the Managed Apple ID the
    /// profile is issued to.
    User,
    /// The device's serial number (Automated Device Enrollment, `aspen
    /// profile device --serial`).
    Serial,
    /// The device's UDID (as for `{serial}`, with `--udid`).
    Udid,
    /// The profile's own `PayloadUUID`, as `aspen issued` lists it.
    ProfileUuid,
}

impl SubjectPlaceholder {
    pub const ALL: [SubjectPlaceholder; 4] = [
        SubjectPlaceholder::User,
        SubjectPlaceholder::Serial,
        SubjectPlaceholder::Udid,
        SubjectPlaceholder::ProfileUuid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SubjectPlaceholder::User => "{user}",
            SubjectPlaceholder::Serial => "{serial}",
            SubjectPlaceholder::Udid => "{udid}",
            SubjectPlaceholder::ProfileUuid => "{profile_uuid}",
        }
    }
}

/// What one issue of a profile knows to fill a subject with.
#[derive(Debug, Clone, Copy)]
pub struct SubjectValues<'a> {
    pub user: Option<&'a str>,
    pub serial: Option<&'a str>,
    pub udid: Option<&'a str>,
    pub profile_uuid: &'a str,
}

impl SubjectValues<'_> {
    fn of(&self, p: SubjectPlaceholder) -> Option<&str> {
        match p {
            SubjectPlaceholder::User => self.user,
            SubjectPlaceholder::Serial => self.serial,
            SubjectPlaceholder::Udid => self.udid,
            SubjectPlaceholder::ProfileUuid => Some(self.profile_uuid),
        }
    }
}

/// What to write instead of a subject aspen cannot read unambiguously.
const SUBJECT_FORMS: &str = "write it as \"O=Contoso/CN=Name\" (most significant first), or as `openssl x509 -subject` prints it: \"O = Contoso, CN = Name\"";

/// Whether `part` starts like `KEY=` with a key a subject may use.
fn starts_with_key(part: &str) -> bool {
    part.split_once('=')
        .is_some_and(|(oid, _)| check_rdn(oid.trim(), "x").is_ok())
}

/// `O = Org, CN = Name` (see [`Subject::parse`]): its parts, `None` when
/// `s` is not written so.
fn openssl_oneline(s: &str) -> Result<Option<Vec<(String, String)>>, String> {
    let body = s.strip_prefix("subject=").unwrap_or(s).trim();
    let oneline = body.contains(" = ");
    let commas = body.split(',').skip(1).any(starts_with_key);
    if !oneline && !commas {
        return Ok(None);
    }
    if !oneline {
        return Err(format!(
            "{body:?} looks like a comma-separated name, which RFC 2253 writes backwards; {SUBJECT_FORMS}"
        ));
    }
    if body.split('/').skip(1).any(starts_with_key) {
        return Err(format!("{body:?} mixes two forms; {SUBJECT_FORMS}"));
    }
    // Parts end at an unescaped `,` (or `+`, between the values of one
    // multi-valued part); `\x` is a literal x.
    let mut raw = vec![String::new()];
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next) => raw.last_mut().unwrap_or(&mut String::new()).push(next),
                None => return Err(format!("{body:?} ends with a lone \\; {SUBJECT_FORMS}")),
            },
            ',' | '+' => raw.push(String::new()),
            _ => raw.last_mut().unwrap_or(&mut String::new()).push(c),
        }
    }
    let mut parts = Vec::new();
    for part in &raw {
        let Some((oid, value)) = part.split_once('=') else {
            return Err(format!(
                "part {:?} is not of the form KEY = value; {SUBJECT_FORMS}",
                part.trim()
            ));
        };
        let (oid, value) = (oid.trim(), value.trim());
        check_rdn(oid, value)?;
        parts.push((oid.to_owned(), value.to_owned()));
    }
    Ok(Some(parts))
}

/// One `OID=value` part of a subject: OIDs are dotted numbers or one of
/// Apple's shortcuts C, L, ST, O, OU, CN; values are non-empty text.
fn check_rdn(oid: &str, value: &str) -> Result<(), String> {
    let known = ["C", "L", "ST", "O", "OU", "CN"].contains(&oid);
    let dotted = !oid.is_empty()
        && oid.split('.').count() >= 2
        && oid
            .split('.')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if !known && !dotted {
        return Err(format!(
            "{oid:?} is neither C, L, ST, O, OU, CN nor a dotted OID"
        ));
    }
    if value.is_empty() {
        return Err(format!("{oid} has an empty value"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{oid} contains control characters"));
    }
    Ok(())
}

/// As written in the settings: `O=Contoso/CN=Name`.
impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (oid, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            write!(f, "{oid}={value}")?;
        }
        Ok(())
    }
}

impl Serialize for Subject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut rdns = s.serialize_seq(Some(self.0.len()))?;
        for (oid, value) in &self.0 {
            rdns.serialize_element(&[[oid, value]])?;
        }
        rdns.end()
    }
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
