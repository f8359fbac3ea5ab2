//! Apple's profile encryption: the `PayloadContent` array, serialized as a
//! plist, becomes CMS EnvelopedData (AES-256-CBC, RSA key transport) for one
//! device's identity certificate, stored as DER in the top-level
//! `EncryptedPayloadContent` with `IsEncrypted` true (Apple: TopLevel keys
//! `EncryptedPayloadContent`, `IsEncrypted`; "Configuration Profile
//! Encryption"). The outer profile is then signed as usual.

use crate::error::{Error, Result};
use crate::read::cms;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::pkey::{Id, PKey, Private};
use openssl::stack::Stack;
use openssl::symm::Cipher;
use openssl::x509::X509;
use plist::{Dictionary, Value};
use std::path::Path;
use zeroize::Zeroizing;

pub const ENCRYPTED_KEY: &str = "EncryptedPayloadContent";
pub const IS_ENCRYPTED_KEY: &str = "IsEncrypted";
const CONTENT_KEY: &str = "PayloadContent";

/// A device identity certificate to encrypt for (RSA: devices decrypt with
/// the identity's RSA key).
#[derive(Debug, Clone)]
pub struct Recipient(X509);

impl Recipient {
    /// Loads one PEM (or DER) certificate and checks it has an RSA key.
    pub fn load(path: &Path) -> Result<Recipient> {
        let bytes = crate::fs::read_capped(path, crate::x509::MAX_FILE_BYTES)?;
        let fail = |why: &str| Error::invalid(format!("{}: {why}", path.display()));
        let cert = crate::x509::load_certificate(&bytes).map_err(|why| fail(&why))?;
        let key = cert
            .public_key()
            .map_err(|_| fail("has a public key OpenSSL cannot read"))?;
        if key.id() != Id::RSA {
            return Err(fail(
                "has no RSA key: Apple's profile encryption uses RSA key transport to the device identity",
            ));
        }
        Ok(Recipient(cert))
    }
}

/// Encrypts `bytes` for `recipient`: CMS EnvelopedData, DER.
pub fn envelope(bytes: &[u8], recipient: &Recipient) -> Result<Vec<u8>> {
    let mut certs = Stack::new().map_err(|e| Error::crypto("encrypting", e))?;
    certs
        .push(recipient.0.clone())
        .map_err(|e| Error::crypto("encrypting", e))?;
    CmsContentInfo::encrypt(&certs, bytes, Cipher::aes_256_cbc(), CMSOptions::BINARY)
        .and_then(|cms| cms.to_der())
        .map_err(|e| Error::crypto("encrypting the payloads", e))
}

/// Replaces `PayloadContent` in a profile dictionary by its encryption.
pub fn encrypt_profile(profile: &mut Dictionary, recipient: &Recipient) -> Result<()> {
    let content = profile
        .get(CONTENT_KEY)
        .cloned()
        .ok_or_else(|| Error::invalid("the profile has no PayloadContent to encrypt"))?;
    let mut plain = Zeroizing::new(Vec::new());
    content
        .to_writer_xml(&mut *plain)
        .map_err(|e| Error::invalid(format!("writing the payloads: {e}")))?;
    let der = envelope(&plain, recipient)?;
    let mut out = Dictionary::new();
    for (key, value) in std::mem::take(profile) {
        if key == CONTENT_KEY {
            out.insert(ENCRYPTED_KEY.into(), Value::Data(der.clone()));
            out.insert(IS_ENCRYPTED_KEY.into(), Value::Boolean(true));
        } else {
            out.insert(key, value);
        }
    }
    *profile = out;
    Ok(())
}

/// A device identity's certificate and private key, for `decrypt`.
pub struct Identity {
    cert: X509,
    key: PKey<Private>,
}

impl Identity {
    pub fn load(cert: &Path, key: &Path) -> Result<Identity> {
        let Recipient(cert_x509) = Recipient::load(cert)?;
        let bytes = Zeroizing::new(crate::fs::read_capped(key, 1 << 20)?);
        let pkey = PKey::private_key_from_pem_passphrase(&bytes, b"").map_err(|_| {
            Error::invalid(format!(
                "{}: is not an unencrypted PEM private key",
                key.display()
            ))
        })?;
        let public = cert_x509
            .public_key()
            .map_err(|e| Error::crypto("reading the certificate", e))?;
        if !pkey.public_eq(&public) {
            return Err(Error::invalid(format!(
                "{}: does not match the certificate {}",
                key.display(),
                cert.display()
            )));
        }
        Ok(Identity {
            cert: cert_x509,
            key: pkey,
        })
    }
}

/// Decrypts an `EncryptedPayloadContent` value: the plist bytes exactly as
/// they were encrypted.
pub fn open(der: &[u8], identity: &Identity) -> Result<Vec<u8>, String> {
    cms::envelope(der)?;
    let cms = CmsContentInfo::from_der(der)
        .map_err(|_| "OpenSSL cannot read the EnvelopedData".to_owned())?;
    cms.decrypt(&identity.key, &identity.cert).map_err(|_| {
        "cannot decrypt: the content is not encrypted for this certificate and key".to_owned()
    })
}

/// The reverse of [`encrypt_profile`]: `PayloadContent` restored where
/// `EncryptedPayloadContent` was, `IsEncrypted` removed.
pub fn decrypt_profile(profile: &Dictionary, identity: &Identity) -> Result<Dictionary, String> {
    let der = profile
        .get(ENCRYPTED_KEY)
        .and_then(Value::as_data)
        .ok_or("has no EncryptedPayloadContent data: it is not an encrypted profile")?;
    let plain = open(der, identity)?;
    let (content, _, _) = crate::read::parse_plist(&plain)
        .map_err(|e| format!("the decrypted payloads are not a plist: {e}"))?;
    if content.as_array().is_none() {
        return Err("the decrypted payloads are not an array".into());
    }
    let mut out = Dictionary::new();
    for (key, value) in profile {
        match key.as_str() {
            ENCRYPTED_KEY => {
                out.insert(CONTENT_KEY.into(), content.clone());
            }
            IS_ENCRYPTED_KEY => {}
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(out)
}
