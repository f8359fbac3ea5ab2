//! Verifying a signed profile with OpenSSL: the CMS signature over the
//! content, the signer certificate's validity and, given trusted roots, the
//! chain from the signer to one of them (the certificates the file carries
//! serve as intermediates, as they do on a device).

use crate::read::cms::{self, SignedData};
use crate::read::{Document, Signed};
use crate::x509::name_to_string;
use openssl::asn1::Asn1Time;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::stack::Stack;
use openssl::x509::X509PurposeId;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509, X509StoreContext, X509VerifyResult};
use serde::Serialize;

/// What to trust and how strictly.
#[derive(Debug, Default)]
pub struct Options {
    /// Trusted roots (and any certificates the caller vouches for).
    pub trusted: Vec<X509>,
    /// Accept a signer certificate outside its validity period.
    pub allow_expired: bool,
}

/// A certificate as reports show it.
#[derive(Debug, Clone, Serialize)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    /// Validity, RFC 3339 UTC.
    pub not_before: String,
    pub not_after: String,
    pub self_signed: bool,
    /// SHA-256 of the DER certificate, upper-case hex in colon-separated
    /// pairs, as `openssl x509 -noout -fingerprint -sha256` prints it (and
    /// like `serial`).
    pub sha256: String,
}

impl CertInfo {
    pub fn of(cert: &X509) -> CertInfo {
        CertInfo {
            subject: name_to_string(cert.subject_name()),
            issuer: name_to_string(cert.issuer_name()),
            serial: cert
                .serial_number()
                .to_bn()
                .map(|b| cms::hex(&b.to_vec()))
                .unwrap_or_default(),
            not_before: time(cert.not_before()),
            not_after: time(cert.not_after()),
            self_signed: cert.issued(cert) == X509VerifyResult::OK,
            sha256: fingerprint(cert),
        }
    }
}

/// RFC 3339, or OpenSSL's own text for a time outside what it can compare.
fn time(t: &openssl::asn1::Asn1TimeRef) -> String {
    crate::time::of_asn1(t).map_or_else(|| t.to_string(), crate::time::rfc3339)
}

/// The SHA-256 fingerprint of a certificate (see [`CertInfo::sha256`]).
pub fn fingerprint(cert: &X509) -> String {
    cert.digest(openssl::hash::MessageDigest::sha256())
        .map(|d| cms::hex(&d))
        .unwrap_or_default()
}

/// One signer, as the file describes it.
#[derive(Debug, Clone, Serialize)]
pub struct SignerReport {
    /// The signer's certificate, when the file carries it.
    pub certificate: Option<CertInfo>,
    pub digest_algorithm: String,
    pub signature_algorithm: String,
    /// RFC 3339 UTC.
    pub signing_time: Option<String>,
    /// Now, by this machine's clock; `None` when the certificate is not in
    /// the file.
    pub validity: Option<Validity>,
    /// With trusted roots, once every signer's chain verifies: this signer's
    /// chain to one of them, signer first; `None` when not checked.
    pub chain: Option<Vec<CertInfo>>,
}

/// Where a certificate stands in its validity period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Validity {
    #[serde(rename = "valid")]
    Valid,
    #[serde(rename = "expired")]
    Expired,
    #[serde(rename = "not yet valid")]
    NotYetValid,
}

impl Validity {
    pub fn as_str(self) -> &'static str {
        match self {
            Validity::Valid => "valid",
            Validity::Expired => "expired",
            Validity::NotYetValid => "not yet valid",
        }
    }
}

/// The outcome of verifying one file.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// True only when every check that ran passed.
    pub valid: bool,
    /// Why it is not valid (the first failed check).
    pub error: Option<String>,
    pub signature_matches: bool,
    pub signers: Vec<SignerReport>,
    /// Every certificate the file carries.
    pub certificates: Vec<CertInfo>,
}

/// Summaries of what a signed file says, without judging it.
fn describe(data: &SignedData) -> (Vec<SignerReport>, Vec<CertInfo>) {
    let now = Asn1Time::days_from_now(0).ok();
    let signers = data
        .signers
        .iter()
        .map(|s| {
            let cert = data.certificates.iter().find(|c| s.id.matches(c));
            SignerReport {
                certificate: cert.map(CertInfo::of),
                digest_algorithm: cms::algorithm_name(&s.digest),
                signature_algorithm: cms::algorithm_name(&s.signature),
                signing_time: s.signing_time.clone(),
                validity: match (cert, &now) {
                    (Some(c), Some(now)) if c.not_after() < now => Some(Validity::Expired),
                    (Some(c), Some(now)) if c.not_before() > now => Some(Validity::NotYetValid),
                    (Some(_), Some(_)) => Some(Validity::Valid),
                    _ => None,
                },
                chain: None,
            }
        })
        .collect();
    let certificates = data.certificates.iter().map(CertInfo::of).collect();
    (signers, certificates)
}

/// Verifies a signed document. Never fails: a failure is a [`Report`] with
/// `valid == false` and the reason.
pub fn verify(doc: &Document, options: &Options) -> Report {
    let Some(signed) = &doc.signed else {
        return Report {
            valid: false,
            error: Some("is not signed (a bare plist, no CMS signature)".into()),
            signature_matches: false,
            signers: Vec::new(),
            certificates: Vec::new(),
        };
    };
    let (signers, certificates) = describe(&signed.data);
    let mut report = Report {
        valid: false,
        error: None,
        signature_matches: false,
        signers,
        certificates,
    };
    match check_signature(signed) {
        Ok(()) => report.signature_matches = true,
        Err(why) => {
            report.error = Some(why);
            return report;
        }
    }
    for (signer, s) in report.signers.iter().zip(&signed.data.signers) {
        let Some(cert) = &signer.certificate else {
            report.error = Some(format!(
                "the file does not carry the signer's certificate ({})",
                match &s.id {
                    cms::SignerId::IssuerSerial { serial, .. } =>
                        format!("serial {}", cms::hex(serial)),
                    cms::SignerId::SubjectKeyId(id) => format!("key id {}", cms::hex(id)),
                }
            ));
            return report;
        };
        if signer.validity != Some(Validity::Valid) && !options.allow_expired {
            report.error = Some(format!(
                "the signing certificate {} is {} (valid {} to {}; --allow-expired accepts it)",
                cert.subject,
                signer
                    .validity
                    .map_or("of unknown validity", Validity::as_str),
                cert.not_before,
                cert.not_after
            ));
            return report;
        }
    }
    if !options.trusted.is_empty() {
        match check_chain(&signed.data, options) {
            Ok(chains) => {
                for (signer, chain) in report.signers.iter_mut().zip(chains) {
                    signer.chain = Some(chain);
                }
            }
            Err(why) => {
                report.error = Some(why);
                return report;
            }
        }
    }
    report.valid = true;
    report
}

/// The CMS signature(s) over the content, without judging certificates.
fn check_signature(signed: &Signed) -> Result<(), String> {
    let mut cms = CmsContentInfo::from_der(&signed.der)
        .map_err(|_| "OpenSSL cannot read the CMS structure".to_owned())?;
    let mut out = Vec::new();
    cms.verify(
        None,
        None,
        None,
        Some(&mut out),
        CMSOptions::BINARY | CMSOptions::NO_SIGNER_CERT_VERIFY,
    )
    .map_err(|e| {
        let text = e.to_string();
        if text.contains("digest failure") || text.contains("content verify error") {
            "the signature does not match the content: the profile was changed after signing"
                .to_owned()
        } else if text.contains("signer certificate not found") {
            "the file does not carry the signer's certificate".to_owned()
        } else if text.contains("signature failure") || text.contains("verification failure") {
            "the signature is invalid: the signed attributes were changed or the wrong key signed"
                .to_owned()
        } else {
            format!("the signature does not verify ({})", first_reason(&e))
        }
    })?;
    if out != signed.data.content {
        return Err("OpenSSL and aspen disagree on the signed content".into());
    }
    Ok(())
}

fn first_reason(e: &openssl::error::ErrorStack) -> String {
    e.errors()
        .first()
        .and_then(|e| e.reason())
        .unwrap_or("unknown OpenSSL error")
        .to_owned()
}

/// Builds the chain from each signer to a trusted root, using the file's
/// certificates as untrusted intermediates: one chain per signer, in signer
/// order. Any purpose: profile signers are often TLS or code-signing
/// certificates, and devices accept them.
fn check_chain(data: &SignedData, options: &Options) -> Result<Vec<Vec<CertInfo>>, String> {
    let fail = |e: openssl::error::ErrorStack| format!("checking the chain: {}", first_reason(&e));
    let mut store = X509StoreBuilder::new().map_err(fail)?;
    for ca in &options.trusted {
        store.add_cert(ca.clone()).map_err(fail)?;
    }
    store.set_purpose(X509PurposeId::ANY).map_err(fail)?;
    if options.allow_expired {
        store
            .set_flags(X509VerifyFlags::NO_CHECK_TIME)
            .map_err(fail)?;
    }
    let store = store.build();
    let mut untrusted = Stack::new().map_err(fail)?;
    for c in &data.certificates {
        untrusted.push(c.clone()).map_err(fail)?;
    }
    let mut chains = Vec::with_capacity(data.signers.len());
    for s in &data.signers {
        let Some(cert) = data.certificates.iter().find(|c| s.id.matches(c)) else {
            return Err("the file does not carry the signer's certificate".into());
        };
        let mut ctx = X509StoreContext::new().map_err(fail)?;
        let found = ctx
            .init(&store, cert, &untrusted, |c| {
                let ok = c.verify_cert()?;
                let chain: Vec<CertInfo> = c
                    .chain()
                    .map(|s| s.iter().map(|x| CertInfo::of(&x.to_owned())).collect())
                    .unwrap_or_default();
                Ok((ok, c.error(), c.error_depth(), chain))
            })
            .map_err(fail)?;
        let (ok, error, depth, found_chain) = found;
        if !ok {
            return Err(format!(
                "the certificate chain does not verify: {} (at depth {depth}, 0 = signer)",
                error.error_string()
            ));
        }
        chains.push(found_chain);
    }
    Ok(chains)
}

fn cert_line(c: &CertInfo) -> String {
    format!(
        "{}  (issuer {}; valid {} to {}; SHA-256 {})",
        c.subject, c.issuer, c.not_before, c.not_after, c.sha256
    )
}

/// The report as `aspen verify` prints it; `chain_checked` says whether
/// trusted roots were given (so a missing chain means "not trusted").
pub fn render(r: &Report, chain_checked: bool) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: &str| out.push_str(&format!("{k:<12}{v}\n"));
    line(
        "signature:",
        if r.signature_matches {
            "matches the content"
        } else {
            "FAILED"
        },
    );
    for s in &r.signers {
        match &s.certificate {
            Some(c) => {
                line("signer:", &c.subject);
                line("issuer:", &c.issuer);
                line("sha-256:", &c.sha256);
                line(
                    "validity:",
                    &format!(
                        "{} to {} ({})",
                        c.not_before,
                        c.not_after,
                        s.validity.map_or("unknown", Validity::as_str)
                    ),
                );
            }
            None => line("signer:", "(certificate not in the file)"),
        }
        line(
            "algorithms:",
            &format!(
                "{} digest, {} signature",
                s.digest_algorithm, s.signature_algorithm
            ),
        );
        if let Some(t) = &s.signing_time {
            line("signed at:", t);
        }
    }
    line(
        "carries:",
        &format!("{} certificate(s)", r.certificates.len()),
    );
    for c in &r.certificates {
        line("", &format!("- {}", cert_line(c)));
    }
    let chains: Vec<&Vec<CertInfo>> = r.signers.iter().filter_map(|s| s.chain.as_ref()).collect();
    if !chains.is_empty() {
        for chain in chains {
            let names: Vec<&str> = chain.iter().map(|c| c.subject.as_str()).collect();
            line("chain:", &format!("trusted: {}", names.join(" → ")));
        }
    } else if chain_checked {
        line("chain:", "not trusted");
    } else {
        line("chain:", "not checked (give --ca ROOT.pem)");
    }
    line(
        "result:",
        match &r.error {
            None => "OK",
            Some(_) => "FAILED",
        },
    );
    out
}
