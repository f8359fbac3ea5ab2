//! A certificate subject as settings write it and Apple's SCEP and ACME
//! payloads carry it (`Subject`: an array of `[OID, value]` pairs), with
//! the placeholders filled in when a profile is issued and the forms an
//! admin may write: `O=Contoso/CN=Name`, or as `openssl x509 -subject`
//! prints it.

use serde::{Serialize, Serializer, ser::SerializeSeq};

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
