//! Taking a CMS `ContentInfo` apart (RFC 5652) without trusting it: the
//! signed content, the certificates carried and what each signer says about
//! itself (digest, signature algorithm, signing time). Whether any of it is
//! true is for [`crate::verify`] to decide with OpenSSL.

use super::ber::{self, Tlv};
use openssl::x509::X509;

pub const SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
pub const ENVELOPED_DATA: &str = "1.2.840.113549.1.7.3";
const DATA: &str = "1.2.840.113549.1.7.1";
const SIGNING_TIME: &str = "1.2.840.113549.1.9.5";

/// Names for the algorithm identifiers profile signers and encryptors use.
const NAMES: [(&str, &str); 22] = [
    ("1.3.14.3.2.26", "SHA-1"),
    ("2.16.840.1.101.3.4.2.4", "SHA-224"),
    ("2.16.840.1.101.3.4.2.1", "SHA-256"),
    ("2.16.840.1.101.3.4.2.2", "SHA-384"),
    ("2.16.840.1.101.3.4.2.3", "SHA-512"),
    ("1.2.840.113549.2.5", "MD5"),
    ("1.2.840.113549.1.1.1", "RSA"),
    ("1.2.840.113549.1.1.5", "RSA with SHA-1"),
    ("1.2.840.113549.1.1.11", "RSA with SHA-256"),
    ("1.2.840.113549.1.1.12", "RSA with SHA-384"),
    ("1.2.840.113549.1.1.13", "RSA with SHA-512"),
    ("1.2.840.113549.1.1.10", "RSASSA-PSS"),
    ("1.2.840.113549.1.1.7", "RSAES-OAEP"),
    ("1.2.840.10045.2.1", "ECDSA"),
    ("1.2.840.10045.4.1", "ECDSA with SHA-1"),
    ("1.2.840.10045.4.3.2", "ECDSA with SHA-256"),
    ("1.2.840.10045.4.3.3", "ECDSA with SHA-384"),
    ("1.2.840.10045.4.3.4", "ECDSA with SHA-512"),
    ("2.16.840.1.101.3.4.1.2", "AES-128-CBC"),
    ("2.16.840.1.101.3.4.1.22", "AES-192-CBC"),
    ("2.16.840.1.101.3.4.1.42", "AES-256-CBC"),
    ("1.2.840.113549.3.7", "DES-EDE3-CBC"),
];

/// A readable name for an algorithm OID (the dotted OID when unknown).
pub fn algorithm_name(oid: &str) -> String {
    NAMES
        .iter()
        .find(|(o, _)| *o == oid)
        .map(|(_, n)| (*n).to_owned())
        .unwrap_or_else(|| oid.to_owned())
}

/// What a SignedData says, unverified.
#[derive(Debug)]
pub struct SignedData {
    /// The encapsulated content: the profile's plist bytes.
    pub content: Vec<u8>,
    pub certificates: Vec<X509>,
    pub signers: Vec<SignerInfo>,
}

/// One `SignerInfo`.
#[derive(Debug, Clone)]
pub struct SignerInfo {
    /// Dotted OID of the digest algorithm.
    pub digest: String,
    /// Dotted OID of the signature algorithm.
    pub signature: String,
    /// The `signingTime` signed attribute (UTCTime/GeneralizedTime) in RFC
    /// 3339; `None` when absent or not a DER time.
    pub signing_time: Option<String>,
    pub id: SignerId,
}

/// How a signer names its certificate.
#[derive(Debug, Clone)]
pub enum SignerId {
    /// `issuerAndSerialNumber`: the issuer's DER Name and the serial's bytes.
    IssuerSerial {
        issuer: Vec<u8>,
        serial: Vec<u8>,
    },
    SubjectKeyId(Vec<u8>),
}

impl SignerId {
    /// Whether `cert` is the certificate this id names.
    pub fn matches(&self, cert: &X509) -> bool {
        match self {
            SignerId::IssuerSerial { issuer, serial } => {
                let ours = cert
                    .serial_number()
                    .to_bn()
                    .map(|b| b.to_vec())
                    .unwrap_or_default();
                let theirs: Vec<u8> = serial.iter().copied().skip_while(|&b| b == 0).collect();
                ours == theirs && cert.issuer_name().to_der().ok().as_deref() == Some(issuer)
            }
            SignerId::SubjectKeyId(id) => cert
                .subject_key_id()
                .is_some_and(|k| k.as_slice() == id.as_slice()),
        }
    }
}

/// The content type of a CMS `ContentInfo` and its `[0]` content.
fn content_info(der: &[u8]) -> Result<(String, Tlv<'_>), String> {
    let top = ber::parse(der)?;
    let parts = expect(&top, ber::SEQUENCE, "ContentInfo")?.children()?;
    let content_type = parts
        .first()
        .ok_or("ContentInfo is empty")?
        .oid()
        .map_err(|e| format!("ContentInfo: {e}"))?;
    let explicit = parts
        .get(1)
        .filter(|t| t.tag == ber::context(0))
        .ok_or("ContentInfo has no content")?;
    let inner = explicit.children()?;
    let content = *inner.first().ok_or("ContentInfo has no content")?;
    Ok((content_type, content))
}

fn expect<'a, 'b>(tlv: &'b Tlv<'a>, tag: u8, what: &str) -> Result<&'b Tlv<'a>, String> {
    if tlv.tag == tag {
        Ok(tlv)
    } else {
        Err(format!("{what}: unexpected element 0x{:02x}", tlv.tag))
    }
}

/// The signed content of a SignedData, and nothing else: not its signers,
/// not its certificates. For bodies whose signature nobody checks (a
/// device's `MachineInfo`): decoding certificates is most of what reading
/// a small SignedData costs with OpenSSL 3.
pub fn signed_content(der: &[u8]) -> Result<Vec<u8>, String> {
    signed_fields(der).map(|(_, content)| content)
}

/// The fields of a SignedData (`version`, `digestAlgorithms`,
/// `encapContentInfo`, then `[0] certificates`, `[1] crls`, `signerInfos`;
/// at least three) and its signed content.
fn signed_fields(der: &[u8]) -> Result<(Vec<Tlv<'_>>, Vec<u8>), String> {
    let (content_type, body) = content_info(der)?;
    if content_type != SIGNED_DATA {
        return Err(match content_type.as_str() {
            ENVELOPED_DATA => "is CMS EnvelopedData (encrypted), not a signed profile".to_owned(),
            other => format!("is CMS of type {other}, not SignedData"),
        });
    }
    let fields = expect(&body, ber::SEQUENCE, "SignedData")?.children()?;
    // version, digestAlgorithms, encapContentInfo, [0] certificates,
    // [1] crls, signerInfos
    let encap = fields
        .get(2)
        .ok_or("SignedData is truncated (no encapContentInfo)")?;
    let encap = expect(encap, ber::SEQUENCE, "encapContentInfo")?.children()?;
    let inner_type = encap.first().ok_or("encapContentInfo is empty")?.oid()?;
    if inner_type != DATA {
        return Err(format!("signs content of type {inner_type}, not data"));
    }
    let content = match encap.get(1) {
        Some(explicit) if explicit.tag == ber::context(0) => {
            let inner = explicit.children()?;
            inner
                .first()
                .ok_or("encapContentInfo has no content")?
                .octets()?
        }
        _ => {
            return Err(
                "carries no content (a detached signature); a signed profile must include the profile"
                    .into(),
            );
        }
    };
    Ok((fields, content))
}

/// Reads a SignedData. Fails when the structure is malformed or carries no
/// content (a detached signature is not a profile).
pub fn signed_data(der: &[u8]) -> Result<SignedData, String> {
    let (fields, content) = signed_fields(der)?;
    let mut certificates = Vec::new();
    let mut signer_set = None;
    for field in &fields[3..] {
        match field.tag {
            t if t == ber::context(0) => {
                for c in field.children()? {
                    // Only X.509 certificates (a SEQUENCE); attribute and
                    // other certificate formats are not used by profiles.
                    if c.tag == ber::SEQUENCE {
                        let cert = X509::from_der(c.raw)
                            .map_err(|_| "carries a certificate OpenSSL cannot read".to_owned())?;
                        certificates.push(cert);
                    }
                }
            }
            t if t == ber::context(1) => {}
            ber::SET => signer_set = Some(*field),
            other => return Err(format!("SignedData: unexpected element 0x{other:02x}")),
        }
    }
    let signer_set = signer_set.ok_or("SignedData has no signerInfos")?;
    let signers = signer_set
        .children()?
        .iter()
        .map(signer_info)
        .collect::<Result<Vec<_>, _>>()?;
    if signers.is_empty() {
        return Err("has no signer".into());
    }
    Ok(SignedData {
        content,
        certificates,
        signers,
    })
}

fn algorithm(tlv: Option<&Tlv<'_>>, what: &str) -> Result<String, String> {
    let alg = tlv.ok_or_else(|| format!("SignerInfo has no {what}"))?;
    expect(alg, ber::SEQUENCE, what)?
        .children()?
        .first()
        .ok_or_else(|| format!("empty {what}"))?
        .oid()
}

fn signer_info(tlv: &Tlv<'_>) -> Result<SignerInfo, String> {
    // version, sid, digestAlgorithm, [0] signedAttrs, signatureAlgorithm,
    // signature, [1] unsignedAttrs
    let f = expect(tlv, ber::SEQUENCE, "SignerInfo")?.children()?;
    let sid = f.get(1).ok_or("SignerInfo is truncated")?;
    let id = match sid.tag {
        ber::SEQUENCE => {
            let parts = sid.children()?;
            match (parts.first(), parts.get(1)) {
                (Some(issuer), Some(serial)) if serial.tag == ber::INTEGER => {
                    SignerId::IssuerSerial {
                        issuer: issuer.raw.to_vec(),
                        serial: serial.body.to_vec(),
                    }
                }
                _ => return Err("SignerInfo: malformed issuerAndSerialNumber".into()),
            }
        }
        // [0] IMPLICIT SubjectKeyIdentifier (primitive)
        0x80 => SignerId::SubjectKeyId(sid.body.to_vec()),
        other => return Err(format!("SignerInfo: unexpected signer id 0x{other:02x}")),
    };
    let digest = algorithm(f.get(2), "digestAlgorithm")?;
    let (attrs, next) = match f.get(3) {
        Some(a) if a.tag == ber::context(0) => (Some(a), 4),
        _ => (None, 3),
    };
    let signature = algorithm(f.get(next), "signatureAlgorithm")?;
    let mut signing_time = None;
    if let Some(attrs) = attrs {
        for attr in attrs.children()? {
            let parts = attr.children()?;
            if parts.first().and_then(|o| o.oid().ok()).as_deref() == Some(SIGNING_TIME) {
                signing_time = parts
                    .get(1)
                    .and_then(|set| set.children().ok())
                    .and_then(|values| values.first().copied())
                    .filter(|t| matches!(t.tag, ber::UTC_TIME | ber::GENERALIZED_TIME))
                    .and_then(|t| std::str::from_utf8(t.body).ok())
                    .and_then(crate::time::parse_asn1)
                    .map(crate::time::rfc3339);
            }
        }
    }
    Ok(SignerInfo {
        digest,
        signature,
        signing_time,
        id,
    })
}

/// Who an EnvelopedData is encrypted for, and with what.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Envelope {
    /// Content encryption algorithm (e.g. `AES-256-CBC`).
    pub cipher: String,
    /// Each recipient's certificate as `serial … (issuer …)`.
    pub recipients: Vec<String>,
}

/// Reads an EnvelopedData's recipients and cipher.
pub fn envelope(der: &[u8]) -> Result<Envelope, String> {
    let (content_type, body) = content_info(der)?;
    if content_type != ENVELOPED_DATA {
        return Err(format!(
            "is CMS of type {}, not EnvelopedData",
            algorithm_name(&content_type)
        ));
    }
    // version, [0] originatorInfo, recipientInfos, encryptedContentInfo, …
    let fields = expect(&body, ber::SEQUENCE, "EnvelopedData")?.children()?;
    let rest: Vec<&Tlv<'_>> = fields
        .iter()
        .skip(1)
        .filter(|t| t.tag != ber::context(0))
        .collect();
    let infos = rest.first().ok_or("EnvelopedData has no recipients")?;
    let mut recipients = Vec::new();
    for info in expect(infos, ber::SET, "recipientInfos")?.children()? {
        // KeyTransRecipientInfo: version, rid (issuerAndSerialNumber), …
        if info.tag != ber::SEQUENCE {
            recipients.push("a non key-transport recipient".to_owned());
            continue;
        }
        let parts = info.children()?;
        let described = parts
            .get(1)
            .filter(|rid| rid.tag == ber::SEQUENCE)
            .and_then(|rid| rid.children().ok())
            .and_then(|ias| {
                let issuer = openssl::x509::X509Name::from_der(ias.first()?.raw).ok()?;
                let serial = ias.get(1)?;
                Some(format!(
                    "serial {} (issuer {})",
                    hex(serial.body),
                    crate::x509::name_to_string(&issuer)
                ))
            })
            .unwrap_or_else(|| "a recipient named by key identifier".to_owned());
        recipients.push(described);
    }
    let enc = rest
        .get(1)
        .ok_or("EnvelopedData has no encryptedContentInfo")?;
    let enc = expect(enc, ber::SEQUENCE, "encryptedContentInfo")?.children()?;
    let cipher = algorithm_name(&algorithm(enc.get(1), "contentEncryptionAlgorithm")?);
    Ok(Envelope { cipher, recipients })
}

/// Upper-case hex with `:` between bytes, as `openssl x509 -serial` writes it.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
