//! The signed-profile path: bytes that start like DER (0x30), through the
//! CMS reader, OpenSSL verification (with and without a trusted root, so the
//! chain is built too), inspection, and the text and JSON reports of both.
#![no_main]
use aspen::verify::{self, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = Vec::with_capacity(data.len() + 1);
    if data.first() != Some(&0x30) {
        bytes.push(0x30);
    }
    bytes.extend_from_slice(data);
    if let Ok(doc) = aspen::read::parse(&bytes) {
        let report = verify::verify(&doc, &Options::default());
        let _ = verify::render(&report, false);
        let _ = serde_json::to_string(&report);
        let trusted = Options {
            trusted: vec![root()],
            allow_expired: true,
        };
        let report = verify::verify(&doc, &trusted);
        let _ = verify::render(&report, true);
        let view = aspen::inspect::inspect(&doc, true);
        let _ = aspen::inspect::render(&view);
        let _ = serde_json::to_string(&view);
    }
    // The EnvelopedData reader takes the same kind of bytes.
    let _ = aspen::read::cms::envelope(&bytes);
});

/// The test CA that signed the seed corpus' profiles.
fn root() -> openssl::x509::X509 {
    static CA: std::sync::OnceLock<openssl::x509::X509> = std::sync::OnceLock::new();
    CA.get_or_init(|| {
        let pem = include_bytes!("../../fixtures/certs/ca.pem");
        aspen::payload::crate::x509::load_certificate(pem).expect("the test CA loads")
    })
    .clone()
}
