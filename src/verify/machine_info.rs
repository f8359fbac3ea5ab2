//! A device's signed `MachineInfo`, checked (Automated Device Enrollment:
//! the body of the POST to the ADE profile's `url`, and the
//! `x-apple-aspen-deviceinfo` header of the web sign-in). Apple:
//! other/machineinfo.yaml — "CMS-signed with the device identity
//! certificate. The system includes the device's certificate and all
//! necessary intermediate certificates. The certificate chain should
//! validate against the Apple Root CA."
//!
//! The signature must verify, the signer's certificate must chain to the
//! `[ade] device_ca` bundle, and it must be issued directly by the bundle's
//! lowest CA ("Apple iPhone Device CA" in Apple's): a certificate Apple
//! issues under its root for something else (a developer's) chains to the
//! same root and must not pass. Times are not checked: Apple's intermediates
//! expired years ago and devices still sign with identities under them (its
//! over-the-air enrollment guide says to ignore those validity dates).
//! Only then is the content read as a `MachineInfo`.

use super::{Options, fingerprint, verify};
use crate::model::machine_info::MachineInfo;
use crate::read::{Limits, parse_signed_within};
use openssl::x509::{X509, X509VerifyResult};

/// The trusted bundle, and which of its certificates may issue devices'.
#[derive(Debug, Clone)]
pub struct DeviceCa {
    trusted: Vec<X509>,
    /// SHA-256 fingerprints of the lowest CAs: those that issued no other
    /// certificate of the bundle.
    issuing: Vec<String>,
}

impl DeviceCa {
    pub fn new(certs: &[X509]) -> DeviceCa {
        let issuing = certs
            .iter()
            .filter(|ca| {
                !certs.iter().any(|other| {
                    fingerprint(other) != fingerprint(ca)
                        && ca.issued(other) == X509VerifyResult::OK
                })
            })
            .map(fingerprint)
            .collect();
        DeviceCa {
            trusted: certs.to_vec(),
            issuing,
        }
    }
}

/// The device's `MachineInfo` from a signed body, or why it is refused (for
/// the audit row and the log; never shown to the device).
pub fn check(body: &[u8], ca: &DeviceCa) -> Result<MachineInfo, String> {
    let doc = parse_signed_within(body, &Limits::MACHINE_INFO)?;
    let signers = doc.signed.as_ref().map_or(0, |s| s.data.signers.len());
    if signers != 1 {
        return Err(format!("has {signers} signers; a device signs with one"));
    }
    let report = verify(
        &doc,
        &Options {
            trusted: ca.trusted.clone(),
            allow_expired: true,
        },
    );
    if !report.valid {
        return Err(report
            .error
            .unwrap_or_else(|| "the signature does not verify".into()));
    }
    let chain = report.signers[0].chain.as_deref().unwrap_or_default();
    let issuer = chain.get(1).map(|c| c.sha256.as_str());
    if !issuer.is_some_and(|f| ca.issuing.iter().any(|i| i == f)) {
        let by = chain.get(1).map_or("nobody", |c| c.subject.as_str());
        return Err(format!(
            "the signing certificate chains to the device CA but was issued by {by}, not by the device CA itself"
        ));
    }
    let info = doc
        .value
        .as_dictionary()
        .ok_or("the signed content is not a MachineInfo dictionary")?;
    MachineInfo::from_dictionary(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in bundle (assets/apple-device-ca/): Apple's three
    /// certificates, by fingerprint; the lowest is the Device CA, and the
    /// chain holds without time checks (and only without them).
    #[test]
    fn the_shipped_apple_bundle_is_what_its_source_note_says() {
        let pem = include_bytes!("../../assets/apple-device-ca/apple-device-ca.pem");
        let certs = X509::stack_from_pem(pem).unwrap();
        let prints: Vec<String> = certs.iter().map(fingerprint).collect();
        assert_eq!(
            prints,
            [
                "76:F2:7D:00:E1:33:3B:C8:8D:E0:E2:91:6C:38:C9:A7:F2:B7:57:74:C2:5A:79:4C:09:2A:80:E3:C4:C6:6C:CE",
                "E4:E2:93:6D:3C:07:6E:C4:AE:A8:AC:37:27:75:24:95:0C:A0:05:89:4B:39:BB:A2:D3:47:FA:33:15:5A:E5:FA",
                "B0:B1:73:0E:CB:C7:FF:45:05:14:2C:49:F1:29:5E:6E:DA:6B:CA:ED:7E:2C:68:C5:BE:91:B5:A1:10:01:F0:24",
            ]
        );
        let ca = DeviceCa::new(&certs);
        assert_eq!(ca.issuing, [prints[0].clone()]);
        let verifies = |no_time: bool| {
            use openssl::stack::Stack;
            use openssl::x509::store::X509StoreBuilder;
            use openssl::x509::verify::X509VerifyFlags;
            let mut store = X509StoreBuilder::new().unwrap();
            store.add_cert(certs[2].clone()).unwrap();
            if no_time {
                store.set_flags(X509VerifyFlags::NO_CHECK_TIME).unwrap();
            }
            let store = store.build();
            let mut untrusted = Stack::new().unwrap();
            untrusted.push(certs[1].clone()).unwrap();
            let mut ctx = openssl::x509::X509StoreContext::new().unwrap();
            ctx.init(&store, &certs[0], &untrusted, |c| c.verify_cert())
                .unwrap()
        };
        assert!(verifies(true));
        assert!(!verifies(false), "the intermediates have expired");
    }

    #[test]
    fn unsigned_and_garbage_bodies_are_refused_before_any_check() {
        let ca = DeviceCa::new(&[]);
        let plist = b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict/></plist>";
        assert_eq!(
            check(plist, &ca).unwrap_err(),
            "is not signed (no CMS SignedData)"
        );
        assert!(check(b"", &ca).unwrap_err().contains("empty"));
        let err = check(&[0x30, 0x03, 0x02, 0x01], &ca).unwrap_err();
        assert!(err.starts_with("is not readable signed data"), "{err}");
    }
}
