//! Lint on arbitrary profiles, built-in rules with and without the User
//! Enrollment lists, and Apple's schema when ASPEN_FUZZ_SCHEMA names it.
#![no_main]
use aspen::lint::{self, Enrollment, Options, schema::Schema};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn schema() -> Option<&'static Schema> {
    static SCHEMA: OnceLock<Option<Schema>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let dir = std::env::var_os("ASPEN_FUZZ_SCHEMA")?;
            Some(Schema::load(std::path::Path::new(&dir)).expect("schema loads"))
        })
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = aspen::read::parse(data) {
        for enrollment in [None, Some(Enrollment::User)] {
            let _ = lint::lint(
                &doc,
                &Options {
                    enrollment,
                    schema: schema(),
                },
            );
        }
    }
});
