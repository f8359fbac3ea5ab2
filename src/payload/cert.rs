//! Certificate payloads: trust anchors for the MDM server's TLS chain
//! (Apple: `com.apple.security.root` with DER content for a self-signed root,
//! `com.apple.security.pem` with PEM content otherwise). Their UUIDs can be
//! pinned in the MDM payload's `ServerURLPinningCertificateUUIDs` and
//! `CheckInURLPinningCertificateUUIDs`.

use super::{Common, KeySpec, ValueType as T};
use crate::error::{Error, Result};
use openssl::x509::X509;
use serde::Serialize;
use std::path::Path;

pub const ROOT: &str = "com.apple.security.root";
pub const PEM: &str = "com.apple.security.pem";
pub const PKCS1: &str = "com.apple.security.pkcs1";
pub const PKCS12: &str = "com.apple.security.pkcs12";

/// Apple: keys of the root, pem and pkcs1 certificate payloads.
pub const KEYS: &[KeySpec] = &[
    KeySpec::optional("PayloadCertificateFileName", T::String),
    KeySpec::required("PayloadContent", T::Data),
];

/// Apple: keys of the pkcs12 identity payload.
pub const PKCS12_KEYS: &[KeySpec] = &[
    KeySpec::optional("PayloadCertificateFileName", T::String),
    KeySpec::required("PayloadContent", T::Data),
    KeySpec::optional("Password", T::String),
    KeySpec::optional("AllowAllAppsAccess", T::Boolean),
    KeySpec::optional("KeyIsExtractable", T::Boolean),
];

/// A PKCS#12 payload's content holds a private key; `Password` opens it.
pub const PKCS12_SECRET_KEYS: &[&str] = &["PayloadContent", "Password"];

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
    let bytes = crate::read::read_capped(path, MAX_FILE_BYTES)?;
    load_certificates(&bytes).map_err(|why| Error::invalid(format!("{}: {why}", path.display())))
}

/// A certificate loaded from the settings, ready to embed.
#[derive(Debug, Clone)]
pub struct AnchorCert {
    pub file_name: String,
    pub der: Vec<u8>,
    pub pem: Vec<u8>,
    pub self_signed: bool,
    pub subject: String,
    /// Pin its UUID in the MDM payload.
    pub pin: bool,
}

impl AnchorCert {
    /// Parses exactly one certificate, PEM or DER.
    pub fn parse(
        file_name: String,
        bytes: &[u8],
        pin: bool,
    ) -> std::result::Result<AnchorCert, String> {
        let mut certs = load_certificates(bytes)?;
        if certs.len() > 1 {
            return Err(format!(
                "holds {} certificates; give one per [[anchor]]",
                certs.len()
            ));
        }
        let cert = certs.remove(0);
        let der = cert.to_der().map_err(|e| e.to_string())?;
        let pem = cert.to_pem().map_err(|e| e.to_string())?;
        let self_signed = cert.issued(&cert) == openssl::x509::X509VerifyResult::OK;
        let subject = crate::sign::name_to_string(cert.subject_name());
        Ok(AnchorCert {
            file_name,
            der,
            pem,
            self_signed,
            subject,
            pin,
        })
    }

    pub fn payload_type(&self) -> &'static str {
        if self.self_signed { ROOT } else { PEM }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CertPayload {
    #[serde(flatten)]
    pub common: Common,
    #[serde(rename = "PayloadCertificateFileName")]
    pub file_name: String,
    #[serde(rename = "PayloadContent")]
    pub content: plist::Data,
}

impl CertPayload {
    pub fn new(common: Common, anchor: &AnchorCert) -> CertPayload {
        let content = if anchor.self_signed {
            &anchor.der
        } else {
            &anchor.pem
        };
        CertPayload {
            common,
            file_name: anchor.file_name.clone(),
            content: plist::Data::new(content.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            .map(|c| crate::sign::name_to_string(c.subject_name()))
            .collect()
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
