use crate::error::{Error, Result};
use crate::lint::{self, Enrollment, Finding, Options, Report, Severity, rules, schema::Schema};
use crate::read;
use serde::Serialize;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Profiles to check (signed or unsigned, XML or binary plist).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Apply (user) or skip (device) the User Enrollment rules; detected
    /// from the profile's MDM payload when absent.
    #[arg(long, value_enum)]
    enrollment: Option<Enrollment>,
    /// A checkout of Apple's device-management repository: check every key
    /// its mdm/profiles/*.yaml describe.
    #[arg(long, value_name = "DIR")]
    schema: Option<PathBuf>,
    /// Print the findings as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct FileReport {
    file: String,
    #[serde(flatten)]
    report: Report,
}

#[derive(Serialize)]
struct Output {
    files: Vec<FileReport>,
    errors: usize,
    warnings: usize,
}

pub fn run(args: Args) -> Result<()> {
    let schema = args.schema.as_deref().map(Schema::load).transpose()?;
    let options = Options {
        enrollment: args.enrollment,
        schema: schema.as_ref(),
    };
    let mut files = Vec::new();
    for path in &args.files {
        let report = match read::read_file(path) {
            Ok(doc) => lint::lint(&doc, &options),
            // An unreadable file is a finding, so the other files still get checked.
            Err(e) => Report {
                findings: vec![Finding {
                    code: rules::UNREADABLE.code,
                    severity: Severity::Error,
                    path: String::new(),
                    payload_type: None,
                    payload_identifier: None,
                    message: e.to_string(),
                }],
                detected: None,
                user_enrollment_rules: false,
                encrypted: false,
            },
        };
        files.push(FileReport {
            file: path.display().to_string(),
            report,
        });
    }
    let errors = files.iter().map(|f| f.report.errors()).sum();
    let warnings = files.iter().map(|f| f.report.warnings()).sum();
    let out = Output {
        files,
        errors,
        warnings,
    };
    let text = if args.json {
        let mut t = serde_json::to_string_pretty(&out)
            .map_err(|e| Error::invalid(format!("writing JSON: {e}")))?;
        t.push('\n');
        t
    } else {
        render(&out)
    };
    super::print(&text)?;
    if errors > 0 {
        return Err(Error::invalid(format!(
            "{errors} error(s) in {} file(s)",
            out.files.iter().filter(|f| f.report.errors() > 0).count()
        )));
    }
    Ok(())
}

fn render(out: &Output) -> String {
    let mut text = String::new();
    for f in &out.files {
        let mode = match (&f.report.detected, f.report.user_enrollment_rules) {
            _ if f.report.encrypted => "payloads encrypted".to_owned(),
            (Some(d), true) => format!("{}; User Enrollment rules applied", d.describe()),
            (Some(d), false) => d.describe().to_owned(),
            (None, true) => "no MDM payload; User Enrollment rules applied".into(),
            (None, false) => "no MDM payload".into(),
        };
        if f.report.findings.is_empty() {
            text.push_str(&format!("{}: ok ({mode})\n", f.file));
            continue;
        }
        text.push_str(&format!("{}: ({mode})\n", f.file));
        for x in &f.report.findings {
            let payload = x
                .payload_type
                .as_deref()
                .map(|t| format!(" [{t}]"))
                .unwrap_or_default();
            let path = if x.path.is_empty() { "(file)" } else { &x.path };
            text.push_str(&format!(
                "  {:<7} {} {path}{payload}: {}\n",
                x.severity.as_str(),
                x.code,
                x.message
            ));
        }
    }
    text.push_str(&format!(
        "{} file(s): {} error(s), {} warning(s)\n",
        out.files.len(),
        out.errors,
        out.warnings
    ));
    text
}
