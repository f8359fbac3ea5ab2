//! Lint on arbitrary profiles, built-in rules with and without the User
//! Enrollment lists, and Apple's schema when ASPEN_FUZZ_SCHEMA names it;
//! then the text and JSON reports `aspen lint` prints.
#![no_main]
use aspen::lint::{self, Enrollment, FileReport, Options, Report, Summary, schema::Schema};
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
    let reports: Vec<Report> = match aspen::read::parse(data) {
        Ok(doc) => [None, Some(Enrollment::User)]
            .into_iter()
            .map(|enrollment| {
                lint::lint(
                    &doc,
                    &Options {
                        enrollment,
                        schema: schema(),
                    },
                )
            })
            .collect(),
        Err(why) => vec![Report::unreadable(why, None)],
    };
    let files = reports
        .into_iter()
        .map(|report| FileReport {
            file: "fuzz".into(),
            report,
        })
        .collect();
    let summary = Summary::new(files);
    let _ = lint::render(&summary);
    let _ = serde_json::to_string(&summary);
});
