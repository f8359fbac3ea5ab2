//! Loading the signing identity and signing profiles: CMS SignedData, DER,
//! content attached, SHA-256, binary mode, signer certificate plus
//! intermediates (never the root).

mod cms;

use crate::error::{Error, Result};
use crate::fs::read_capped_secret;
use crate::x509::{name_to_string, read_certificates};
use openssl::asn1::Asn1Time;
use openssl::md::Md;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{Id, PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::x509::{X509, X509KeyUsage, X509VerifyResult};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Key, PKCS#12 and passphrase files bigger than this are not ones (they may
/// also be pipes or `/dev/zero`).
const MAX_SECRET_FILE_BYTES: u64 = 1 << 20;

/// Where a passphrase comes from. Never from argv: it would show in `ps`
/// and shell history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Passphrase {
    /// The name of an environment variable holding it.
    Env(String),
    /// A file holding it (one trailing newline is ignored).
    File(PathBuf),
}

impl Passphrase {
    /// [`Passphrase::read`], refusing a file its group or others may read
    /// (0600 or 0400 only), as aspen's other secret files are.
    pub fn read_private(&self) -> Result<Zeroizing<Vec<u8>>> {
        #[cfg(unix)]
        if let Passphrase::File(path) = self {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|e| Error::io(path, e))?
                .permissions()
                .mode()
                & 0o777;
            if mode & 0o077 != 0 {
                return Err(Error::invalid(format!(
                    "{}: the passphrase file is readable by group or others (mode {mode:04o}); fix: chmod 600 {}",
                    path.display(),
                    path.display()
                )));
            }
        }
        self.read()
    }

    fn read(&self) -> Result<Zeroizing<Vec<u8>>> {
        match self {
            Passphrase::Env(var) => match std::env::var_os(var) {
                Some(v) if !v.is_empty() => Ok(Zeroizing::new(v.into_encoded_bytes())),
                _ => Err(Error::invalid(format!(
                    "the passphrase environment variable {var} is not set"
                ))),
            },
            Passphrase::File(path) => {
                let mut bytes = read_capped_secret(path, MAX_SECRET_FILE_BYTES)?;
                while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    bytes.pop();
                }
                Ok(bytes)
            }
        }
    }
}

/// Where the signing certificate and key come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Pem {
        certificate: PathBuf,
        key: PathBuf,
        /// Intermediate certificates to include in signatures.
        chain: Vec<PathBuf>,
        passphrase: Option<Passphrase>,
    },
    Pkcs12 {
        path: PathBuf,
        passphrase: Option<Passphrase>,
    },
}

/// A loaded, checked signing identity. Load once, sign many times; it is
/// `Send + Sync` so parallel workers can share it.
pub struct Signer {
    cert: X509,
    key: PKey<Private>,
    /// What is allowed but worth saying (a CA certificate, an expired one
    /// under `--allow-expired`); the CLI prints them.
    warnings: Vec<String>,
    /// What every signature shares, encoded once (certificates, signer
    /// identifier, algorithms).
    template: cms::Template,
}

impl std::fmt::Debug for Signer {
    // Never print the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("subject", &name_to_string(self.cert.subject_name()))
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// The signing certificate's subject, as reports name it.
    pub fn subject(&self) -> String {
        name_to_string(self.cert.subject_name())
    }

    /// The signing certificate.
    pub fn certificate(&self) -> &openssl::x509::X509Ref {
        &self.cert
    }

    /// Loads and checks the identity: the key must match the certificate, be
    /// RSA or ECDSA (P-256/P-384/P-521), and the certificate must be valid now
    /// (unless `allow_expired`).
    pub fn load(source: &KeySource, allow_expired: bool) -> Result<Signer> {
        match source {
            KeySource::Pem {
                certificate,
                key,
                chain,
                passphrase,
            } => {
                let mut certs = read_certificates(certificate)?;
                let cert = certs.remove(0);
                // Further certificates in the signer's file count as chain.
                let mut intermediates = certs;
                for c in chain {
                    intermediates.extend(read_certificates(c)?);
                }
                let key_bytes = read_capped_secret(key, MAX_SECRET_FILE_BYTES)?;
                let encrypted = contains(&key_bytes, b"ENCRYPTED");
                let pass = match passphrase {
                    Some(p) => p.read()?,
                    None if encrypted => {
                        return Err(Error::invalid(format!(
                            "{}: the key is encrypted; give its passphrase in an environment variable or a file",
                            key.display()
                        )));
                    }
                    None => Zeroizing::new(Vec::new()),
                };
                // Always pass a passphrase (possibly empty) so OpenSSL never
                // prompts on the terminal.
                let pkey =
                    PKey::private_key_from_pem_passphrase(&key_bytes, &pass).map_err(|_| {
                        Error::invalid(if encrypted {
                            format!(
                                "{}: cannot decrypt the key: wrong passphrase?",
                                key.display()
                            )
                        } else {
                            format!("{}: is not a PEM private key", key.display())
                        })
                    })?;
                Signer::new(cert, pkey, intermediates, allow_expired, certificate)
            }
            KeySource::Pkcs12 { path, passphrase } => {
                let der = read_capped_secret(path, MAX_SECRET_FILE_BYTES)?;
                let pass = match passphrase {
                    Some(p) => p.read()?,
                    None => Zeroizing::new(Vec::new()),
                };
                let pass = std::str::from_utf8(&pass).map_err(|_| {
                    Error::invalid(format!("{}: the passphrase is not UTF-8", path.display()))
                })?;
                let parsed = open_pkcs12(path, &der, pass)?;
                let (Some(cert), Some(pkey)) = (parsed.cert, parsed.pkey) else {
                    return Err(Error::invalid(format!(
                        "{}: the PKCS#12 file holds no certificate with its private key",
                        path.display()
                    )));
                };
                let chain = parsed
                    .ca
                    .map(|s| s.into_iter().collect())
                    .unwrap_or_default();
                Signer::new(cert, pkey, chain, allow_expired, path)
            }
        }
    }

    /// Checks and assembles an identity; `origin` names it in errors.
    pub fn new(
        cert: X509,
        key: PKey<Private>,
        intermediates: Vec<X509>,
        allow_expired: bool,
        origin: &Path,
    ) -> Result<Signer> {
        let fail = |why: String| Error::invalid(format!("{}: {why}", origin.display()));
        let cert_key = cert.public_key().map_err(|e| fail(e.to_string()))?;
        if !key.public_eq(&cert_key) {
            return Err(fail(format!(
                "the private key does not match the certificate {}",
                name_to_string(cert.subject_name())
            )));
        }
        match key.id() {
            Id::RSA => {}
            Id::EC => {
                let curve = key.ec_key().ok().and_then(|k| k.group().curve_name());
                if !matches!(
                    curve,
                    Some(Nid::X9_62_PRIME256V1 | Nid::SECP384R1 | Nid::SECP521R1)
                ) {
                    return Err(fail(
                        "only P-256, P-384 and P-521 EC keys can sign profiles".into(),
                    ));
                }
            }
            _ => return Err(fail("the signing key must be RSA or ECDSA".into())),
        }
        let now = Asn1Time::days_from_now(0).map_err(|e| fail(e.to_string()))?;
        let subject = name_to_string(cert.subject_name());
        let mut warnings = Vec::new();
        if cert.not_after() < now && allow_expired {
            warnings.push(format!(
                "{}: signing with {subject}, which expired on {} (--allow-expired): devices show the profile as not verified",
                origin.display(),
                shown(cert.not_after())
            ));
        }
        if cert.not_before() > now && allow_expired {
            warnings.push(format!(
                "{}: signing with {subject}, which is not valid before {} (--allow-expired)",
                origin.display(),
                shown(cert.not_before())
            ));
        }
        // RFC 5280 4.2.1.3: a key for signing data asserts digitalSignature;
        // keyCertSign alone is a CA's key, for certificates only.
        if let Some(usage) = cert.key_usage()
            && usage.contains(X509KeyUsage::KEY_CERT_SIGN)
            && !usage.contains(X509KeyUsage::DIGITAL_SIGNATURE)
        {
            warnings.push(format!(
                "{}: {subject} is a CA certificate (key usage keyCertSign without digitalSignature): \
                 devices may refuse what it signs; sign with a certificate issued for signing",
                origin.display()
            ));
        }
        if cert.not_after() < now && !allow_expired {
            return Err(fail(format!(
                "the signing certificate {} expired on {} (use --allow-expired to sign anyway)",
                name_to_string(cert.subject_name()),
                shown(cert.not_after())
            )));
        }
        if cert.not_before() > now && !allow_expired {
            return Err(fail(format!(
                "the signing certificate {} is not valid before {}",
                name_to_string(cert.subject_name()),
                shown(cert.not_before())
            )));
        }
        let mut chain = Vec::new();
        for c in intermediates {
            // Devices have the root; sending it only adds bytes.
            let self_signed = c.issued(&c) == X509VerifyResult::OK;
            if !self_signed && c.to_der().ok() != cert.to_der().ok() {
                chain.push(c);
            }
        }
        let template = cms::Template::new(&cert, &chain, &key)?;
        Ok(Signer {
            cert,
            key,
            warnings,
            template,
        })
    }

    /// What is allowed but worth a warning: the certificate is a CA's, or
    /// outside its validity period under `--allow-expired`.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Signs `content` (the profile's plist bytes, unchanged): CMS
    /// SignedData as OpenSSL's `CMS_sign` with `CMS_BINARY | CMS_NOSMIMECAP`
    /// writes it — binary, so no line-ending canonicalisation, and no S/MIME
    /// capabilities attribute, which means nothing to a device. To sign many
    /// profiles, use one [`Session`] per thread.
    pub fn sign(&self, content: &[u8]) -> Result<Vec<u8>> {
        self.session()?.sign(content)
    }

    /// A signing context for one thread: reusing it saves setting up
    /// OpenSSL's key context for every profile.
    pub fn session(&self) -> Result<Session<'_>> {
        let fail = |e| Error::crypto("preparing to sign", e);
        let mut ctx = PkeyCtx::new(&self.key).map_err(fail)?;
        ctx.sign_init().map_err(fail)?;
        ctx.set_signature_md(Md::sha256()).map_err(fail)?;
        Ok(Session {
            signer: self,
            ctx,
            signature: Vec::with_capacity(512),
        })
    }
}

/// Opens a PKCS#12 file, telling a wrong passphrase from a cipher this
/// OpenSSL does not enable by default. macOS Keychain and older tools
/// encrypt the certificates with RC2-40 and the key with 3DES (SHA-1 MAC);
/// OpenSSL 3 keeps RC2 in its `legacy` provider, loaded here on first need.
fn open_pkcs12(path: &Path, der: &[u8], pass: &str) -> Result<openssl::pkcs12::ParsedPkcs12_2> {
    let fail = |why: String| Error::invalid(format!("{}: {why}", path.display()));
    let p12 = Pkcs12::from_der(der).map_err(|_| fail("is not a PKCS#12 file".into()))?;
    let mut result = p12.parse2(pass);
    if result.as_ref().is_err_and(unsupported_cipher) && legacy_provider() {
        result = p12.parse2(pass);
    }
    result.map_err(|e| {
        fail(if mac_failed(&e) {
            "cannot open the PKCS#12 file: wrong passphrase".into()
        } else if unsupported_cipher(&e) {
            "the PKCS#12 file uses a legacy cipher (RC2-40 or 3DES, as macOS Keychain and \
             older tools export it) and OpenSSL's legacy provider could not be loaded \
             (is ossl-modules/legacy.so installed, or OPENSSL_MODULES wrong?); convert the \
             file with `openssl pkcs12 -legacy -in OLD.p12 -nodes | openssl pkcs12 -export -out NEW.p12`"
                .into()
        } else {
            format!("cannot open the PKCS#12 file ({})", reasons(&e))
        })
    })
}

/// OpenSSL 3's `legacy` provider (RC2, DES, …), loaded once beside the
/// default one and kept for the life of the process; false when it cannot
/// be loaded.
fn legacy_provider() -> bool {
    static LEGACY: std::sync::OnceLock<Option<openssl::provider::Provider>> =
        std::sync::OnceLock::new();
    LEGACY
        .get_or_init(|| openssl::provider::Provider::try_load(None, "legacy", true).ok())
        .is_some()
}

/// The PKCS#12 MAC did not verify: the passphrase is wrong (or the file
/// was changed).
fn mac_failed(e: &openssl::error::ErrorStack) -> bool {
    e.errors()
        .iter()
        .any(|e| e.reason().is_some_and(|r| r.contains("mac verify failure")))
}

/// An algorithm no loaded provider implements.
fn unsupported_cipher(e: &openssl::error::ErrorStack) -> bool {
    e.errors()
        .iter()
        .any(|e| e.reason().is_some_and(|r| r.contains("unsupported")))
}

fn reasons(e: &openssl::error::ErrorStack) -> String {
    let all: Vec<&str> = e.errors().iter().filter_map(|e| e.reason()).collect();
    if all.is_empty() {
        "unknown OpenSSL error".into()
    } else {
        all.join("; ")
    }
}

/// Signs profiles with one [`Signer`] on one thread (see [`Signer::session`]).
pub struct Session<'a> {
    signer: &'a Signer,
    ctx: PkeyCtx<Private>,
    signature: Vec<u8>,
}

impl Session<'_> {
    /// Signs `content`; see [`Signer::sign`].
    pub fn sign(&mut self, content: &[u8]) -> Result<Vec<u8>> {
        let digest = openssl::sha::sha256(content);
        let attrs = cms::Template::signed_attributes(&digest, std::time::SystemTime::now());
        self.signature.clear();
        self.ctx
            .sign_to_vec(&openssl::sha::sha256(&attrs), &mut self.signature)
            .map_err(|e| Error::crypto("signing the profile", e))?;
        Ok(self
            .signer
            .template
            .assemble(content, &attrs, &self.signature))
    }
}

/// A certificate time as every report shows it (RFC 3339 UTC).
fn shown(t: &openssl::asn1::Asn1TimeRef) -> String {
    crate::time::of_asn1(t).map_or_else(|| t.to_string(), crate::time::rfc3339)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
