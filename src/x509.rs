//! X.509 helpers used by several layers (payloads, signing, reading and
//! verifying profiles): loading certificates from PEM or DER, and naming
//! them in messages. A leaf: it imports only `fs` and the error type.

use crate::error::{Error, Result};
use openssl::x509::{X509, X509NameRef};
use std::path::Path;

/// Certificate files bigger than this hold no certificate anyone uses.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Every certificate in `bytes`: PEM (one or more `CERTIFICATE` blocks,
/// text around them allowed, as `openssl x509 -text` writes it) or a single
/// DER certificate. The error completes "FILE …".
pub fn load_certificates(bytes: &[u8]) -> std::result::Result<Vec<X509>, String> {
    if bytes.windows(10).any(|w| w == b"-----BEGIN") {
        let certs =
            X509::stack_from_pem(bytes).map_err(|_| "is not a PEM certificate".to_owned())?;
        if certs.is_empty() {
            return Err("holds no certificate".into());
        }
        Ok(certs)
    } else {
        X509::from_der(bytes)
            .map(|c| vec![c])
            .map_err(|_| "is neither a PEM nor a DER certificate".to_owned())
    }
}

/// Exactly one certificate, PEM or DER (see [`load_certificates`]).
pub fn load_certificate(bytes: &[u8]) -> std::result::Result<X509, String> {
    let mut certs = load_certificates(bytes)?;
    match certs.len() {
        1 => Ok(certs.remove(0)),
        n => Err(format!("holds {n} certificates, not one")),
    }
}

/// Reads the certificates in the file at `path` (at most
/// [`MAX_FILE_BYTES`]; it may be a pipe); errors name the file.
pub fn read_certificates(path: &Path) -> Result<Vec<X509>> {
    let bytes = crate::fs::read_capped(path, MAX_FILE_BYTES)?;
    load_certificates(&bytes).map_err(|why| Error::invalid(format!("{}: {why}", path.display())))
}

/// `O=Contoso, CN=Name` for messages and reports, each value escaped as RFC
/// 4514 (section 2.4) says, so a value cannot pass for more of the name: a
/// CN of `x, O=Contoso` prints as `CN=x\, O=Contoso`, one RDN. Hidden
/// characters ([`crate::escape::is_hidden`]: controls, bidirectional
/// overrides) are written as the `\XX` hex pairs of their UTF-8 bytes.
pub fn name_to_string(name: &X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?").to_owned();
            let value = e.data().to_string().unwrap_or_else(|_| "?".into());
            format!("{key}={}", rdn_value(&value))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// An attribute value escaped as RFC 4514 section 2.4 says (and hidden
/// characters as hex pairs).
fn rdn_value(value: &str) -> String {
    let last = value.chars().count().saturating_sub(1);
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' ' | '#' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == last => out.push_str("\\ "),
            c if c == '\0' || crate::escape::is_hidden(c) => {
                let mut bytes = [0u8; 4];
                for b in c.encode_utf8(&mut bytes).bytes() {
                    out.push_str(&format!("\\{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/certs")
                .join(name),
        )
        .unwrap()
    }

    fn subjects(certs: &[X509]) -> Vec<String> {
        certs
            .iter()
            .map(|c| name_to_string(c.subject_name()))
            .collect()
    }

    #[test]
    fn rdn_values_are_escaped_as_rfc_4514_says() {
        assert_eq!(rdn_value("Contoso MDM"), "Contoso MDM");
        assert_eq!(rdn_value("x, O=Contoso"), "x\\, O=Contoso");
        assert_eq!(rdn_value("a+b;c\"<d>\\"), "a\\+b\\;c\\\"\\<d\\>\\\\");
        assert_eq!(rdn_value("#1 "), "\\#1\\ ");
        assert_eq!(rdn_value(" x"), "\\ x");
        assert_eq!(rdn_value("a\u{202E}b\nc"), "a\\E2\\80\\AEb\\0Ac");
        // The name as a whole: one RDN, however its value is spelt.
        let mut b = openssl::x509::X509NameBuilder::new().unwrap();
        b.append_entry_by_text("CN", "x, O=Contoso").unwrap();
        assert_eq!(name_to_string(&b.build()), "CN=x\\, O=Contoso");
    }

    #[test]
    fn loads_pem_bundles_text_before_pem_and_der() {
        let ca = fixture("ca.pem");
        let mut bundle = fixture("intermediate.pem");
        bundle.extend_from_slice(&ca);
        let two = load_certificates(&bundle).unwrap();
        assert_eq!(
            subjects(&two),
            [
                "O=Aspen TEST ONLY, CN=Aspen Test Intermediate CA (TEST ONLY)",
                "O=Aspen TEST ONLY, CN=Aspen Test Root CA (TEST ONLY)"
            ]
        );
        let root = load_certificate(&ca).unwrap();
        let mut texted = b"Certificate:\n    Data: ...\n".to_vec();
        texted.extend_from_slice(&ca);
        let der = root.to_der().unwrap();
        for bytes in [&texted, &der] {
            assert_eq!(load_certificate(bytes).unwrap().to_der().unwrap(), der);
        }
    }

    #[test]
    fn refuses_what_is_not_exactly_the_certificates_asked_for() {
        let mut bundle = fixture("intermediate.pem");
        bundle.extend_from_slice(&fixture("ca.pem"));
        assert_eq!(
            load_certificate(&bundle).unwrap_err(),
            "holds 2 certificates, not one"
        );
        assert_eq!(
            load_certificates(&fixture("signer.key")).unwrap_err(),
            "holds no certificate"
        );
        assert_eq!(
            load_certificates(b"\x30\x03\x02\x01").unwrap_err(),
            "is neither a PEM nor a DER certificate"
        );
        assert_eq!(
            load_certificates(
                b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"
            )
            .unwrap_err(),
            "is not a PEM certificate"
        );
    }
}
