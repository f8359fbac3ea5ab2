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
    pub fn parse(s: &str) -> Result<Subject, String> {
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
            parts.push((oid.to_owned(), value.to_owned()));
        }
        Ok(Subject(parts))
    }

    pub fn parts(&self) -> &[(String, String)] {
        &self.0
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
    fn subject_rejects_nonsense() {
        for bad in ["", "/", "CN", "XX=1", "CN=", "1.=x", "O=a\u{1}b"] {
            assert!(Subject::parse(bad).is_err(), "{bad:?}");
        }
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
