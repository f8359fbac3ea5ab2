//! The settings loader on arbitrary text. Relative paths resolve under a
//! folder that does not exist, so no real file is read by accident.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = aspen::settings::Settings::parse(
            text,
            std::path::Path::new("/nonexistent-aspen-fuzz/aspen.toml"),
        );
    }
});
