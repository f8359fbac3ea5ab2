//! The profile reader on arbitrary bytes: XML, binary plist or anything.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = aspen::read::parse(data) {
        let _ = aspen::inspect::inspect(&doc, false);
    }
});
