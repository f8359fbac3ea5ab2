//! `aspen serve --demo`: the demo settings and users of `fixtures/demo/`
//! (compiled in), a fresh portal secret, and an ephemeral signing identity
//! made in memory at start-up (a throw-away root and a signer it issued), all
//! in a temporary folder removed on exit. Nothing from `fixtures/certs/` is
//! used: the demo never signs with a key that exists anywhere else.

use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::tokens;
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509NameBuilder};
use std::path::{Path, PathBuf};

const SETTINGS: &str = include_str!("../../fixtures/demo/aspen.toml");
const USERS: &str = include_str!("../../fixtures/demo/users.csv");

/// The demo's users and what each one shows.
pub const USERS_SHOWN: [(&str, &str); 5] = [
    (
        "alice@contoso.com",
        "user-choice policy: own device or Contoso's, device or work-only",
    ),
    (
        "bob@contoso.com",
        "device policy (Executives): corporate device enrollment",
    ),
    (
        "carol@contoso.com",
        "user policy (Contractors): account-driven User Enrollment",
    ),
    (
        "dave@contoso.com",
        "user policy but no Managed Apple Account: told why not",
    ),
    ("erin@contoso.com", "no policy applies: told why not"),
];

/// A prepared demo: the folder (deleted when dropped) and what is in it.
pub struct Demo {
    pub dir: tempfile::TempDir,
    pub settings: Settings,
    /// The ephemeral root that signed the signer: verify profiles with it.
    pub root_certificate: PathBuf,
}

fn fail(e: impl std::fmt::Display) -> Error {
    Error::crypto("making the demo signing identity", e)
}

fn name(cn: &str) -> Result<openssl::x509::X509Name> {
    let mut b = X509NameBuilder::new().map_err(fail)?;
    b.append_entry_by_nid(Nid::ORGANIZATIONNAME, "aspen demo")
        .and_then(|()| b.append_entry_by_nid(Nid::COMMONNAME, cn))
        .map_err(fail)?;
    Ok(b.build())
}

fn p256() -> Result<PKey<Private>> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(fail)?;
    EcKey::generate(&group)
        .and_then(PKey::from_ec_key)
        .map_err(fail)
}

fn certificate(
    subject: &str,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
) -> Result<X509> {
    let mut b = X509Builder::new().map_err(fail)?;
    let mut serial = BigNum::new().map_err(fail)?;
    serial
        .rand(127, MsbOption::MAYBE_ZERO, false)
        .map_err(fail)?;
    let serial = Asn1Integer::from_bn(&serial).map_err(fail)?;
    let subject_name = name(subject)?;
    b.set_version(2).map_err(fail)?;
    b.set_serial_number(&serial).map_err(fail)?;
    b.set_subject_name(&subject_name).map_err(fail)?;
    match issuer {
        Some((cert, _)) => b.set_issuer_name(cert.subject_name()),
        None => b.set_issuer_name(&subject_name),
    }
    .map_err(fail)?;
    b.set_pubkey(key).map_err(fail)?;
    // Valid from an hour ago (clock skew) for two days: a demo, not a PKI.
    let now = crate::audit::now();
    let not_before = Asn1Time::from_unix(now - 3600).map_err(fail)?;
    let not_after = Asn1Time::days_from_now(2).map_err(fail)?;
    b.set_not_before(&not_before).map_err(fail)?;
    b.set_not_after(&not_after).map_err(fail)?;
    let is_ca = issuer.is_none();
    let constraints = if is_ca {
        BasicConstraints::new().critical().ca().build()
    } else {
        BasicConstraints::new().critical().build()
    }
    .map_err(fail)?;
    b.append_extension(constraints).map_err(fail)?;
    let usage = if is_ca {
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()
    } else {
        KeyUsage::new().critical().digital_signature().build()
    }
    .map_err(fail)?;
    b.append_extension(usage).map_err(fail)?;
    if !is_ca {
        let eku = ExtendedKeyUsage::new()
            .email_protection()
            .code_signing()
            .build()
            .map_err(fail)?;
        b.append_extension(eku).map_err(fail)?;
    }
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(issuer.map(|(c, _)| c.as_ref()), None))
        .map_err(fail)?;
    b.append_extension(ski).map_err(fail)?;
    let signing_key = issuer.map_or(key, |(_, k)| k);
    b.sign(signing_key, MessageDigest::sha256()).map_err(fail)?;
    Ok(b.build())
}

fn write(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    options
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| Error::io(path, e))
}

/// Prepares the demo for a server reached at `public_url`.
pub fn prepare(public_url: &str) -> Result<Demo> {
    let dir = tempfile::Builder::new()
        .prefix("aspen-demo-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let root_key = p256()?;
    let root = certificate(
        "aspen demo root (ephemeral, trusted nowhere)",
        &root_key,
        None,
    )?;
    let signer_key = p256()?;
    let signer = certificate(
        "aspen demo profile signer (ephemeral)",
        &signer_key,
        Some((&root, &root_key)),
    )?;
    let root_certificate = dir.path().join("demo-root.pem");
    write(&root_certificate, &root.to_pem().map_err(fail)?, false)?;
    write(
        &dir.path().join("signer.pem"),
        &signer.to_pem().map_err(fail)?,
        false,
    )?;
    write(
        &dir.path().join("signer.key"),
        &signer_key.private_key_to_pem_pkcs8().map_err(fail)?,
        true,
    )?;
    write(&dir.path().join("users.csv"), USERS.as_bytes(), false)?;
    tokens::write_secret(&dir.path().join("portal.secret"))?;

    let mut table: toml::Table = toml::from_str(SETTINGS)
        .map_err(|e| Error::invalid(format!("the built-in demo settings: {e}")))?;
    // The fixture's anchor and signer are test files that need not exist
    // here; the demo signs with the identity made above.
    table.remove("anchor");
    let mut signing = toml::Table::new();
    signing.insert("certificate".into(), "signer.pem".into());
    signing.insert("key".into(), "signer.key".into());
    table.insert("signing".into(), signing.into());
    if let Some(toml::Value::Table(org)) = table.get_mut("organization") {
        org.insert(
            "consent_text".into(),
            "A demo profile from `aspen serve --demo`, signed with a key made when the demo started. Do not install it on a device you use.".into(),
        );
    }
    let mut portal = toml::Table::new();
    portal.insert("public_url".into(), public_url.into());
    portal.insert("auth".into(), "code".into());
    portal.insert("secret_file".into(), "portal.secret".into());
    portal.insert("state_dir".into(), "state".into());
    table.insert("portal".into(), portal.into());
    let text = toml::to_string(&table)
        .map_err(|e| Error::invalid(format!("the built-in demo settings: {e}")))?;
    let path = dir.path().join("aspen.toml");
    write(&path, text.as_bytes(), false)?;
    let settings = Settings::load(&path)?;
    Ok(Demo {
        dir,
        settings,
        root_certificate,
    })
}
