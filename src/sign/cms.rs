//! CMS SignedData (RFC 5652) encoded by hand, for speed.
//!
//! OpenSSL's `CMS_sign` rebuilds the whole structure for every profile:
//! it copies and re-encodes the certificates, the signer identifier and the
//! algorithm identifiers, and allocates dozens of ASN.1 objects. For an ECDSA
//! key that costs more than the signature itself (≈ 50–70 µs against ≈ 25 µs).
//! Everything but the content, the signed attributes and the signature is the
//! same for every profile a signer signs, so [`Template`] encodes it once and
//! [`Template::assemble`] only splices DER. The result is the structure
//! `CMS_sign(…, CMS_BINARY | CMS_NOSMIMECAP)` produces, byte for byte (the
//! tests compare the two): SignedData v1, one SHA-256 digest algorithm, the
//! content attached as `id-data`, the certificates, and one SignerInfo v1
//! identified by issuer and serial number whose signed attributes are
//! content-type, signing-time and message-digest.

use crate::error::{Error, Result};
use openssl::pkey::{Id, PKeyRef, Private};
use openssl::x509::X509;
use std::time::{SystemTime, UNIX_EPOCH};

/// DER of the object identifiers and algorithm identifiers we write.
mod oid {
    /// 1.2.840.113549.1.7.2 signedData
    pub const SIGNED_DATA: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
    ];
    /// 1.2.840.113549.1.7.1 data
    pub const DATA: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
    ];
    /// 1.2.840.113549.1.9.3 contentType
    pub const CONTENT_TYPE: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03,
    ];
    /// 1.2.840.113549.1.9.4 messageDigest
    pub const MESSAGE_DIGEST: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04,
    ];
    /// 1.2.840.113549.1.9.5 signingTime
    pub const SIGNING_TIME: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05,
    ];
    /// AlgorithmIdentifier sha256 (2.16.840.1.101.3.4.2.1), parameters absent
    /// as OpenSSL writes them in CMS.
    pub const SHA256: &[u8] = &[
        0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
    ];
    /// AlgorithmIdentifier rsaEncryption (1.2.840.113549.1.1.1) with NULL
    /// parameters: what CMS uses for PKCS#1 v1.5 signatures.
    pub const RSA: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    /// AlgorithmIdentifier ecdsa-with-SHA256 (1.2.840.10045.4.3.2), no
    /// parameters (RFC 5758).
    pub const ECDSA_SHA256: &[u8] = &[
        0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
    ];
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OCTET_STRING: u8 = 0x04;
const INTEGER: u8 = 0x02;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0]` constructed: EXPLICIT content, IMPLICIT certificates and signed
/// attributes.
const CONTEXT_0: u8 = 0xa0;

/// The parts of a SignedData that do not change between signatures.
#[derive(Debug, Clone)]
pub(super) struct Template {
    /// `certificates [0] IMPLICIT CertificateSet`, complete with its header.
    certificates: Vec<u8>,
    /// SignerInfo from its version up to (without) the signed attributes:
    /// version 1, IssuerAndSerialNumber, digestAlgorithm.
    signer_head: Vec<u8>,
    /// signatureAlgorithm.
    signature_algorithm: &'static [u8],
}

impl Template {
    /// `chain` holds the certificates to send besides the signer's.
    pub(super) fn new(cert: &X509, chain: &[X509], key: &PKeyRef<Private>) -> Result<Template> {
        let fail = |why: &str| Error::invalid(format!("preparing CMS signatures: {why}"));
        let cert_der = cert.to_der().map_err(|e| fail(&e.to_string()))?;
        // A SET OF is sorted by its elements' encodings in DER (X.690 11.6),
        // as OpenSSL does: the signer certificate is not necessarily first.
        let mut certs = vec![cert_der.clone()];
        for c in chain {
            certs.push(c.to_der().map_err(|e| fail(&e.to_string()))?);
        }
        certs.sort_by(|a, b| der_set_order(a, b));
        let mut certificates = Vec::new();
        header(
            &mut certificates,
            CONTEXT_0,
            certs.iter().map(Vec::len).sum(),
        );
        certs.iter().for_each(|c| certificates.extend_from_slice(c));

        let (issuer, serial) =
            issuer_and_serial(&cert_der).ok_or_else(|| fail("cannot read the certificate"))?;
        let mut sid = Vec::new();
        header(&mut sid, SEQUENCE, issuer.len() + serial.len());
        sid.extend_from_slice(issuer);
        sid.extend_from_slice(serial);
        let mut signer_head = vec![INTEGER, 1, 1];
        signer_head.extend_from_slice(&sid);
        signer_head.extend_from_slice(oid::SHA256);

        let signature_algorithm = match key.id() {
            Id::RSA => oid::RSA,
            Id::EC => oid::ECDSA_SHA256,
            _ => return Err(fail("the key is neither RSA nor ECDSA")),
        };
        Ok(Template {
            certificates,
            signer_head,
            signature_algorithm,
        })
    }

    /// The signed attributes for content with SHA-256 `digest`, signed at
    /// `time`, DER-encoded as the SET OF the signature covers (RFC 5652
    /// 5.4: the `[0]` IMPLICIT tag is replaced by the SET tag). In DER the
    /// SET is sorted by encoding, which puts the three attributes in this
    /// fixed order (their encodings start `30 18`, `30 1c`/`30 1e`, `30 2f`).
    pub(super) fn signed_attributes(digest: &[u8; 32], time: SystemTime) -> Vec<u8> {
        let time = encode_time(time);
        let mut attrs = Vec::with_capacity(128);
        // contentType: id-data
        let content_type = oid::CONTENT_TYPE.len() + 2 + oid::DATA.len();
        let signing_time = oid::SIGNING_TIME.len() + 2 + time.len();
        let message_digest = oid::MESSAGE_DIGEST.len() + 2 + 2 + digest.len();
        let total: usize = [content_type, signing_time, message_digest]
            .iter()
            .map(|&l| header_len(l) + l)
            .sum();
        header(&mut attrs, SET, total);
        header(&mut attrs, SEQUENCE, content_type);
        attrs.extend_from_slice(oid::CONTENT_TYPE);
        header(&mut attrs, SET, oid::DATA.len());
        attrs.extend_from_slice(oid::DATA);
        header(&mut attrs, SEQUENCE, signing_time);
        attrs.extend_from_slice(oid::SIGNING_TIME);
        header(&mut attrs, SET, time.len());
        attrs.extend_from_slice(&time);
        header(&mut attrs, SEQUENCE, message_digest);
        attrs.extend_from_slice(oid::MESSAGE_DIGEST);
        header(&mut attrs, SET, 2 + digest.len());
        header(&mut attrs, OCTET_STRING, digest.len());
        attrs.extend_from_slice(digest);
        attrs
    }

    /// The finished ContentInfo: `content` attached, `attrs` as returned by
    /// [`Template::signed_attributes`], and their `signature`.
    pub(super) fn assemble(&self, content: &[u8], attrs: &[u8], signature: &[u8]) -> Vec<u8> {
        // Lengths, innermost first.
        let econtent = header_len(content.len()) + content.len();
        let encap = oid::DATA.len() + header_len(econtent) + econtent;
        // The signed attributes go in as `[0]` IMPLICIT: same body, other tag.
        let signer_info = self.signer_head.len()
            + attrs.len()
            + self.signature_algorithm.len()
            + header_len(signature.len())
            + signature.len();
        let signer_infos = header_len(signer_info) + signer_info;
        let digest_algorithms = header_len(oid::SHA256.len()) + oid::SHA256.len();
        let signed_data = 3
            + digest_algorithms
            + header_len(encap)
            + encap
            + self.certificates.len()
            + header_len(signer_infos)
            + signer_infos;
        let explicit = header_len(signed_data) + signed_data;
        let content_info = oid::SIGNED_DATA.len() + header_len(explicit) + explicit;

        let mut out = Vec::with_capacity(header_len(content_info) + content_info);
        header(&mut out, SEQUENCE, content_info);
        out.extend_from_slice(oid::SIGNED_DATA);
        header(&mut out, CONTEXT_0, explicit);
        header(&mut out, SEQUENCE, signed_data);
        out.extend_from_slice(&[INTEGER, 1, 1]);
        header(&mut out, SET, oid::SHA256.len());
        out.extend_from_slice(oid::SHA256);
        header(&mut out, SEQUENCE, encap);
        out.extend_from_slice(oid::DATA);
        header(&mut out, CONTEXT_0, econtent);
        header(&mut out, OCTET_STRING, content.len());
        out.extend_from_slice(content);
        out.extend_from_slice(&self.certificates);
        header(&mut out, SET, signer_infos);
        header(&mut out, SEQUENCE, signer_info);
        out.extend_from_slice(&self.signer_head);
        out.push(CONTEXT_0);
        out.extend_from_slice(&attrs[1..]);
        out.extend_from_slice(self.signature_algorithm);
        header(&mut out, OCTET_STRING, signature.len());
        out.extend_from_slice(signature);
        debug_assert_eq!(out.len(), out.capacity());
        out
    }
}

/// Appends a DER tag and definite length.
fn header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// The size of the tag and length [`header`] writes for `len`.
fn header_len(len: usize) -> usize {
    match len {
        0..0x80 => 2,
        0x80..0x100 => 3,
        0x100..0x1_0000 => 4,
        0x1_0000..0x100_0000 => 5,
        _ => 6,
    }
}

/// DER's order of SET OF elements: by encoding, the shorter one padded with
/// zero octets (X.690 11.6).
fn der_set_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let n = a.len().max(b.len());
    let pad = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    (0..n)
        .map(|i| pad(a, i).cmp(&pad(b, i)))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// One DER element split off the front of a byte string.
struct Element<'a> {
    tag: u8,
    /// Tag, length and contents.
    whole: &'a [u8],
    contents: &'a [u8],
    /// What follows the element.
    rest: &'a [u8],
}

/// Splits one DER element off the front of `der` (definite lengths only, as
/// DER requires).
fn element(der: &[u8]) -> Option<Element<'_>> {
    let tag = *der.first()?;
    let first = *der.get(1)? as usize;
    let (len, head) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = der.get(2..2 + n)?;
        (
            bytes.iter().fold(0usize, |l, &b| (l << 8) | b as usize),
            2 + n,
        )
    };
    let end = head.checked_add(len)?;
    let whole = der.get(..end)?;
    Some(Element {
        tag,
        whole,
        contents: &whole[head..],
        rest: &der[end..],
    })
}

/// The issuer Name and serialNumber INTEGER of a certificate, as encoded in
/// it (RFC 5280: Certificate → tbsCertificate → [0] version?, serialNumber,
/// signature, issuer).
fn issuer_and_serial(cert: &[u8]) -> Option<(&[u8], &[u8])> {
    let certificate = element(cert)?.contents;
    let tbs = element(certificate)?.contents;
    let mut serial = element(tbs)?;
    if serial.tag == CONTEXT_0 {
        serial = element(serial.rest)?;
    }
    let signature_algorithm = element(serial.rest)?;
    let issuer = element(signature_algorithm.rest)?;
    Some((issuer.whole, serial.whole))
}

/// RFC 5652 11.3: signing-time is UTCTime for 1950–2049, GeneralizedTime
/// otherwise; both in UTC with seconds and a `Z`.
fn encode_time(time: SystemTime) -> Vec<u8> {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = crate::time::civil_from_days(days);
    let (h, m, s) = (day_secs / 3600, day_secs / 60 % 60, day_secs % 60);
    let text = if (1950..2050).contains(&year) {
        format!(
            "{:02}{month:02}{day:02}{h:02}{m:02}{s:02}Z",
            year.rem_euclid(100)
        )
    } else {
        format!("{year:04}{month:02}{day:02}{h:02}{m:02}{s:02}Z")
    };
    let tag = if text.len() == 13 {
        UTC_TIME
    } else {
        GENERALIZED_TIME
    };
    let mut out = Vec::with_capacity(2 + text.len());
    header(&mut out, tag, text.len());
    out.extend_from_slice(text.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> String {
        let der = encode_time(UNIX_EPOCH + Duration::from_secs(secs));
        format!("{:02x} {}", der[0], std::str::from_utf8(&der[2..]).unwrap())
    }

    #[test]
    fn signing_time_switches_to_generalized_time_in_2050() {
        assert_eq!(at(0), "17 700101000000Z");
        // 2000-02-29 12:34:56 (a leap day in a century year)
        assert_eq!(at(951_827_696), "17 000229123456Z");
        // 2049-12-31 23:59:59, then 2050-01-01 00:00:00
        assert_eq!(at(2_524_607_999), "17 491231235959Z");
        assert_eq!(at(2_524_608_000), "18 20500101000000Z");
    }

    #[test]
    fn lengths_match_what_header_writes() {
        for len in [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000, 0x100_0000] {
            let mut out = Vec::new();
            header(&mut out, SEQUENCE, len);
            assert_eq!(out.len(), header_len(len), "{len}");
            let mut body = out.clone();
            body.resize(out.len() + len, 0);
            let e = element(&body).unwrap();
            assert_eq!(
                (e.whole.len(), e.contents.len(), e.rest.len()),
                (body.len(), len, 0)
            );
        }
    }

    #[test]
    fn set_order_pads_with_zeros() {
        use std::cmp::Ordering::*;
        assert_eq!(der_set_order(&[0x30, 0x18], &[0x30, 0x1c, 0]), Less);
        assert_eq!(der_set_order(&[1], &[1, 0]), Equal);
        assert_eq!(der_set_order(&[2], &[1, 9]), Greater);
    }

    #[test]
    fn truncated_der_is_rejected_not_panicking() {
        assert!(element(&[0x30]).is_none());
        assert!(element(&[0x30, 0x05, 1]).is_none());
        assert!(element(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
        assert!(issuer_and_serial(&[0x30, 0x03, 0x30, 0x01, 0x02]).is_none());
    }
}
