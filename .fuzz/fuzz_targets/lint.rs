//! Lint on arbitrary profiles, with and without the User Enrollment rules
//! (the second run also with platform and version targets), against the
//! built-in facts or Apple's schema when ASPEN_FUZZ_SCHEMA names it; the
//! lines of findings in XML; then the text, JSON and SARIF reports `aspen
//! lint` prints.
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
    let reports: Vec<Report> = match aspen::read::parse_located(data) {
        Ok(doc) => [None, Some(Enrollment::User)]
            .into_iter()
            .map(|enrollment| {
                let targets = match enrollment {
                    None => Vec::new(),
                    Some(_) => {
                        use lint::target::{Platform, Version, targets};
                        let min = |v: &str| Version::parse(v).expect("a version");
                        targets(
                            &[Platform::IpadOs, Platform::TvOs],
                            &[
                                (Platform::MacOs, min("14.0")),
                                (Platform::IpadOs, min("17.0")),
                            ],
                        )
                        .expect("targets")
                    }
                };
                let mut report = lint::lint(
                    &doc,
                    &Options {
                        enrollment,
                        schema: schema(),
                        targets,
                    },
                );
                if doc.format == aspen::read::Format::Xml && doc.signed.is_none() {
                    lint::locate(&mut report, data);
                }
                report
            })
            .collect(),
        Err(e) => vec![Report::unreadable(e.message, e.position)],
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
    let _ = serde_json::to_string(&lint::sarif::log(&summary));
});
