//! The signed-profile path: bytes that start like DER (0x30), through the
//! CMS reader, OpenSSL verification and inspection.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = Vec::with_capacity(data.len() + 1);
    if data.first() != Some(&0x30) {
        bytes.push(0x30);
    }
    bytes.extend_from_slice(data);
    if let Ok(doc) = aspen::read::parse(&bytes) {
        let _ = aspen::verify::verify(&doc, &aspen::verify::Options::default());
        let _ = aspen::inspect::inspect(&doc, true);
    }
    // The EnvelopedData reader takes the same kind of bytes.
    let _ = aspen::read::cms::envelope(&bytes);
});
