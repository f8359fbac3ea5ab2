//! The profile reader on arbitrary bytes: XML, binary plist or anything,
//! through everything `aspen inspect` does with it (tree and JSON).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = aspen::read::parse(data) {
        let view = aspen::inspect::inspect(&doc, false);
        let _ = aspen::inspect::render(&view);
        let _ = serde_json::to_string(&view);
    }
});
