//! Certificate signing requests (PKCS#10, RFC 2986) from a SCEP server, for
//! `aspen scep-verify`: DER or PEM, parsed and signature-checked by OpenSSL.
//! OpenSSL's safe API does not expose attributes, so the `challengePassword`
//! (PKCS#9, RFC 2985 §5.4.1) is found by a bounded walk over the request's
//! DER with [`super::ber`], which never reads past its slice.

use super::ber::{self, Tlv};
use crate::secret::Secret;
use openssl::x509::X509Req;

/// PKCS#9 `challengePassword`.
pub const CHALLENGE_PASSWORD: &str = "1.2.840.113549.1.9.7";

/// Biggest request `scep-verify` reads: real ones are one or two KiB.
pub const MAX_CSR_BYTES: u64 = 64 << 10;

/// Most characters of a subject kept for messages and the audit log.
const MAX_SUBJECT_CHARS: usize = 256;

/// What a request says that `scep-verify` needs.
pub struct Csr {
    /// `CN=…, O=…`, control characters replaced, at most 256 characters.
    pub subject: String,
    /// The `challengePassword`, when the request has one.
    pub challenge: Option<Secret>,
}

impl std::fmt::Debug for Csr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Csr")
            .field("subject", &self.subject)
            .field("challenge", &self.challenge.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Why a request is not one `scep-verify` can check. The messages never
/// hold the challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Malformed {
    /// Not a PKCS#10 request in DER or PEM.
    NotACsr,
    /// The request's signature does not verify with its own public key.
    BadSignature,
    /// The challengePassword attribute is there but unusable: several
    /// values, or not a string.
    BadChallenge(&'static str),
}

impl Malformed {
    pub fn reason(&self) -> String {
        match self {
            Malformed::NotACsr => "not a CSR (a PKCS#10 certificate request, DER or PEM)".into(),
            Malformed::BadSignature => "the CSR's signature does not verify".into(),
            Malformed::BadChallenge(why) => format!("malformed challengePassword: {why}"),
        }
    }
}

/// Reads a request: DER, or PEM (`-----BEGIN CERTIFICATE REQUEST-----`).
pub fn parse(bytes: &[u8]) -> Result<Csr, Malformed> {
    let trimmed = bytes.trim_ascii_start();
    let req = if trimmed.starts_with(b"-----BEGIN") {
        X509Req::from_pem(trimmed)
    } else {
        X509Req::from_der(bytes)
    }
    .map_err(|_| Malformed::NotACsr)?;
    let key = req.public_key().map_err(|_| Malformed::NotACsr)?;
    if !req.verify(&key).unwrap_or(false) {
        return Err(Malformed::BadSignature);
    }
    // OpenSSL keeps the request's original encoding: the walk reads the
    // very bytes whose signature was checked.
    let der = req.to_der().map_err(|_| Malformed::NotACsr)?;
    let challenge = challenge_password(&der)?;
    let subject: String = crate::x509::name_to_string(req.subject_name())
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(MAX_SUBJECT_CHARS)
        .collect();
    Ok(Csr { subject, challenge })
}

/// The `challengePassword` of a DER `CertificationRequest`:
/// `SEQUENCE { certificationRequestInfo SEQUENCE { version, subject,
/// subjectPKInfo, [0] attributes SET OF Attribute }, … }`, each attribute a
/// `SEQUENCE { type OID, values SET }`.
fn challenge_password(der: &[u8]) -> Result<Option<Secret>, Malformed> {
    let not_a_csr = |_| Malformed::NotACsr;
    let top = ber::parse(der).map_err(not_a_csr)?;
    let request = top.children().map_err(not_a_csr)?;
    let info = request.first().ok_or(Malformed::NotACsr)?;
    let fields = info.children().map_err(not_a_csr)?;
    let Some(attributes) = fields.get(3).filter(|t| t.tag == ber::context(0)) else {
        return Ok(None);
    };
    let mut found = None;
    for attribute in attributes.children().map_err(not_a_csr)? {
        let parts = attribute.children().map_err(not_a_csr)?;
        if parts.first().and_then(|o| o.oid().ok()).as_deref() != Some(CHALLENGE_PASSWORD) {
            continue;
        }
        if found.is_some() {
            return Err(Malformed::BadChallenge("the attribute appears twice"));
        }
        let values = parts
            .get(1)
            .filter(|v| v.tag == ber::SET)
            .ok_or(Malformed::BadChallenge("it has no values"))?
            .children()
            .map_err(not_a_csr)?;
        let [value] = values.as_slice() else {
            return Err(Malformed::BadChallenge("it must have exactly one value"));
        };
        found = Some(directory_string(value)?);
    }
    Ok(found)
}

/// A PKCS#9 `DirectoryString` (or the IA5String some clients send) as text.
fn directory_string(value: &Tlv<'_>) -> Result<Secret, Malformed> {
    const UTF8: u8 = 0x0c;
    const PRINTABLE: u8 = 0x13;
    const T61: u8 = 0x14;
    const IA5: u8 = 0x16;
    const BMP: u8 = 0x1e;
    let text = match value.tag {
        UTF8 | PRINTABLE | IA5 => std::str::from_utf8(value.body)
            .map(str::to_owned)
            .map_err(|_| Malformed::BadChallenge("it is not valid text"))?,
        // Teletex: aspen's challenges are ASCII, so only ASCII is read.
        T61 if value.body.is_ascii() => String::from_utf8_lossy(value.body).into_owned(),
        BMP if value.body.len().is_multiple_of(2) => {
            let units = value
                .body
                .chunks(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .map_err(|_| Malformed::BadChallenge("it is not valid text"))?
        }
        _ => return Err(Malformed::BadChallenge("it is not a string")),
    };
    Ok(Secret::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::{X509NameBuilder, X509ReqBuilder};

    /// A request without attributes, signed with a fresh P-256 key.
    fn plain_request() -> Vec<u8> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_nid(Nid::COMMONNAME, "device\u{7}")
            .unwrap();
        let mut b = X509ReqBuilder::new().unwrap();
        b.set_subject_name(&name.build()).unwrap();
        b.set_pubkey(&key).unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        b.build().to_der().unwrap()
    }

    #[test]
    fn a_request_without_attributes_has_no_challenge() {
        let csr = parse(&plain_request()).unwrap();
        assert!(csr.challenge.is_none());
        assert_eq!(csr.subject, "CN=device\\07");
    }

    #[test]
    fn garbage_and_tampering_are_refused_not_panicking() {
        for bad in [
            &b""[..],
            b"\x30\x80",
            b"\x30\x03\x02\x01\x00",
            b"-----BEGIN CERTIFICATE REQUEST-----\nxx\n",
        ] {
            assert_eq!(parse(bad).unwrap_err(), Malformed::NotACsr, "{bad:?}");
        }
        let mut der = plain_request();
        // Flip a byte of the subject's value: the signature no longer matches.
        let at = der.windows(6).position(|w| w == b"device").unwrap();
        der[at] = b'D';
        assert_eq!(parse(&der).unwrap_err(), Malformed::BadSignature);
    }

    #[test]
    fn directory_strings_of_each_kind_are_read() {
        let tlv = |tag: u8, body: &[u8]| {
            let mut raw = vec![tag, body.len() as u8];
            raw.extend_from_slice(body);
            raw
        };
        for (tag, body) in [
            (0x13u8, &b"ABC123"[..]),
            (0x0c, b"ABC123"),
            (0x16, b"ABC123"),
            (0x14, b"ABC123"),
        ] {
            let raw = tlv(tag, body);
            let value = ber::parse(&raw).unwrap();
            assert_eq!(directory_string(&value).unwrap().expose(), "ABC123");
        }
        let raw = tlv(0x1e, &[0, b'A', 0, b'1']);
        assert_eq!(
            directory_string(&ber::parse(&raw).unwrap())
                .unwrap()
                .expose(),
            "A1"
        );
        let raw = tlv(0x02, &[1]);
        assert!(directory_string(&ber::parse(&raw).unwrap()).is_err());
        let raw = tlv(0x1e, &[0xd8, 0x00]);
        assert!(directory_string(&ber::parse(&raw).unwrap()).is_err());
    }
}
