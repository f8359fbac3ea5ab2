//! Certificate payloads: trust anchors for the MDM server's TLS chain
//! (Apple: `com.apple.security.root` with DER content for a self-signed root,
//! `com.apple.security.pem` with PEM content otherwise). Their UUIDs can be
//! pinned in the MDM payload's `ServerURLPinningCertificateUUIDs` and
//! `CheckInURLPinningCertificateUUIDs`.

use super::{Common, KeySpec, ValueType as T};
use crate::x509::load_certificates;
use serde::Serialize;

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
        let subject = crate::x509::name_to_string(cert.subject_name());
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
